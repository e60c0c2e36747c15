/**
 * Vitest global setup: starts Azurite (blob only) and the local IoT Hub emulator on free ports in a
 * temporary folder, provides their endpoints to every test file (`inject("localHub")`), and stops
 * both at teardown. Nothing needs to be running beforehand (CI starts from a clean clone).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { TestProject } from "vitest/node";
import { emulatorPidFile, startAzurite, startEmulator, stopProcess } from "./emulator/launcher";
import type { ProvidedLocalHub } from "./support/local-hub";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "iothub-local-"));
  const azurite = await startAzurite({ location: path.join(root, "azurite") });
  let emulatorPid: number | undefined;
  const stateDir = path.join(root, "emulator");
  try {
    const emulator = await startEmulator({ stateDir, storageConnectionString: azurite.connectionString });
    emulatorPid = emulator.pid;
    const provided: ProvidedLocalHub = {
      storage: { connectionString: azurite.connectionString },
      iothub: { port: emulator.port, caFile: emulator.caFile, hubs: {} },
      emulator: { stateDir, adminKey: emulator.adminKey, root },
    };
    project.provide("localHub", provided);
  } catch (err) {
    await stopProcess(azurite.pid);
    throw err;
  }
  return async () => {
    // A restart test may have replaced the emulator process: the pid file names the live one.
    const pidFile = emulatorPidFile(stateDir);
    const pids = new Set<number>([emulatorPid ?? 0]);
    if (fs.existsSync(pidFile)) pids.add(Number(fs.readFileSync(pidFile, "utf8")));
    for (const f of fs.existsSync(path.join(root, "private")) ? fs.readdirSync(path.join(root, "private")) : []) {
      const p = emulatorPidFile(path.join(root, "private", f));
      if (fs.existsSync(p)) pids.add(Number(fs.readFileSync(p, "utf8")));
    }
    for (const pid of pids) if (pid > 0) await stopProcess(pid);
    await stopProcess(azurite.pid);
    if (!process.env.KEEP_LOCAL_HUB) fs.rmSync(root, { recursive: true, force: true });
  };
}
