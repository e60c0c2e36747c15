/**
 * Process entry for the local IoT Hub: `node -r tsx/cjs test/emulator/main.ts --state DIR [--port N]
 * [--storage <azurite connection string>] [--hubs A,B]`. Prints one JSON line
 * `{"ready":true,"port":N,"caFile":…}` on stdout once it accepts connections.
 */
import { Emulator } from "./emulator";
import { startServer } from "./server";
import { ensureTls } from "./tls";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const stateDir = arg("state");
  if (!stateDir) {
    process.stderr.write("usage: main.ts --state DIR [--port N] [--storage CONNECTION_STRING] [--hubs A,B] [--parent-pid N]\n");
    process.exit(2);
  }
  const storageConnectionString = arg("storage") ?? process.env.IOTHUB_EMULATOR_STORAGE;
  const tls = ensureTls(stateDir);
  const emulator = await Emulator.open({ stateDir, storageConnectionString });
  for (const name of (arg("hubs") ?? "").split(",").filter(Boolean)) if (!emulator.hub(name)) emulator.createHub(name, {});
  const server = await startServer(emulator, tls, Number(arg("port") ?? 0));
  process.stdout.write(JSON.stringify({ ready: true, port: server.port, caFile: tls.caFile, pid: process.pid }) + "\n");
  const shutdown = () => {
    emulator.close();
    void server.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  // Started for a test run or benchmark: exit with the process that started us, even if it was
  // killed before it could stop us (service mode, `npm run local`, passes no parent).
  const parentPid = Number(arg("parent-pid") ?? 0);
  if (parentPid > 0) {
    setInterval(() => {
      try {
        process.kill(parentPid, 0);
      } catch {
        shutdown();
      }
    }, 2000);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[iothub-emulator] failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
