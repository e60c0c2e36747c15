/**
 * Starting and stopping the local hub's two processes (Azurite blob service and the emulator) on
 * free ports, waiting until they answer. Used by the vitest global setup, the test helpers
 * (restart), `npm run local` and the benchmark.
 */
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as path from "path";

export const AZURITE_ACCOUNT = "devstoreaccount1";
// Azurite's fixed, publicly documented development account key (not a secret).
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
export const ADMIN_KEY_HEADER = "x-emulator-admin-key";

export function azuriteConnectionString(port: number): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(what: string, probe: () => Promise<boolean>, child: ChildProcess | undefined, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8").slice(-2000) : "";
      throw new Error(`${what} exited with code ${child.exitCode} before answering. Log ${logFile}:\n${log}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(150);
  }
  throw new Error(`${what} did not answer within ${timeoutMs / 1000}s (log: ${logFile})`);
}

function findPackageFile(...segments: string[]): string {
  return require.resolve(path.join(...segments));
}

// ---------------------------------------------------------------- Azurite

export interface AzuriteHandle {
  pid: number;
  port: number;
  location: string;
  connectionString: string;
}

/**
 * A free port is picked before the child binds it; another process can take it in between (many
 * test runs share this machine). When the port was not chosen by the caller, try again on a new one.
 */
async function withPortRetry<T>(explicitPort: number | undefined, start: (port: number) => Promise<T>): Promise<T> {
  if (explicitPort !== undefined) return start(explicitPort);
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|exited with code/.test((err as Error).message)) throw err;
    }
  }
}

export function startAzurite(opts: { location: string; port?: number; detached?: boolean }): Promise<AzuriteHandle> {
  return withPortRetry(opts.port, (port) => startAzuriteOn(port, opts));
}

async function startAzuriteOn(port: number, opts: { location: string; detached?: boolean }): Promise<AzuriteHandle> {
  fs.mkdirSync(opts.location, { recursive: true });
  const logFile = path.join(opts.location, "azurite.log");
  const out = fs.openSync(logFile, "a");
  const azuriteArgs = ["--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", opts.location, "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"];
  // Attached runs go through a wrapper that exits with this process; `npm run local` runs Azurite as is.
  const command = opts.detached
    ? [findPackageFile("azurite", "dist", "src", "blob", "main.js"), ...azuriteArgs]
    : ["-r", findPackageFile("tsx", "cjs"), path.join(__dirname, "azurite-main.ts"), "--parent-pid", String(process.pid), ...azuriteArgs];
  const child = spawn(process.execPath, command, { stdio: ["ignore", out, out], detached: opts.detached === true });
  fs.closeSync(out);
  if (opts.detached) child.unref();
  await waitUntil(
    "Azurite",
    () =>
      new Promise<boolean>((resolve) => {
        const req = http.get({ host: "127.0.0.1", port, path: `/${AZURITE_ACCOUNT}?comp=list`, timeout: 2000 }, (res) => {
          res.resume();
          resolve(true);
        });
        req.on("error", () => resolve(false));
        req.on("timeout", () => {
          req.destroy();
          resolve(false);
        });
      }),
    child,
    logFile,
  );
  return { pid: child.pid!, port, location: opts.location, connectionString: azuriteConnectionString(port) };
}

// ---------------------------------------------------------------- emulator

export interface EmulatorHandle {
  pid: number;
  port: number;
  stateDir: string;
  caFile: string;
  adminKey: string;
  logFile: string;
}

/**
 * V8 old-space cap for the emulator. A 1,000,000-device hub keeps ~650 MB live; with a loose cap V8
 * defers collection and the process grows towards 2 GB, so the cap keeps it collecting. Raise it
 * (IOTHUB_EMULATOR_MAX_OLD_SPACE_MB) when one emulator holds several hubs of a million devices.
 */
export const DEFAULT_MAX_OLD_SPACE_MB = 1536;

export function emulatorPidFile(stateDir: string): string {
  return path.join(stateDir, "emulator.pid");
}

/**
 * Spawns `test/emulator/main.ts` with Node + tsx's CommonJS hook (one process, so a kill -9 really
 * kills the emulator). Detached processes outlive their parent (npm run local, restarts from a test worker).
 */
export interface EmulatorStartOptions {
  stateDir: string;
  port?: number;
  storageConnectionString?: string;
  detached?: boolean;
  /** V8 old-space cap in MB (default: IOTHUB_EMULATOR_MAX_OLD_SPACE_MB or DEFAULT_MAX_OLD_SPACE_MB). */
  maxOldSpaceMb?: number;
  /** The emulator exits when this process is gone (default: this process unless detached). */
  parentPid?: number;
}

export function startEmulator(opts: EmulatorStartOptions): Promise<EmulatorHandle> {
  return withPortRetry(opts.port, (port) => startEmulatorOn(port, opts));
}

async function startEmulatorOn(port: number, opts: EmulatorStartOptions): Promise<EmulatorHandle> {
  fs.mkdirSync(opts.stateDir, { recursive: true });
  const logFile = path.join(opts.stateDir, "emulator.log");
  const out = fs.openSync(logFile, "a");
  const args = ["-r", findPackageFile("tsx", "cjs"), path.join(__dirname, "main.ts"), "--state", opts.stateDir, "--port", String(port)];
  if (opts.storageConnectionString) args.push("--storage", opts.storageConnectionString);
  const parent = opts.parentPid ?? (opts.detached ? undefined : process.pid);
  if (parent) args.push("--parent-pid", String(parent));
  const heapMb = Number(process.env.IOTHUB_EMULATOR_MAX_OLD_SPACE_MB ?? opts.maxOldSpaceMb ?? DEFAULT_MAX_OLD_SPACE_MB);
  const child = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, ...args], { stdio: ["ignore", out, out], detached: opts.detached === true });
  fs.closeSync(out);
  if (opts.detached) child.unref();
  fs.writeFileSync(emulatorPidFile(opts.stateDir), String(child.pid));
  const caFile = path.join(opts.stateDir, "tls", "ca.pem");
  await waitUntil(
    "IoT Hub emulator",
    async () => {
      if (!fs.existsSync(caFile)) return false;
      const res = await adminCall({ port, caFile, adminKey: "" }, "GET", "/$admin/ping");
      return res.status === 200;
    },
    child,
    logFile,
    // Replaying a large state log (a 1M-device hub) takes a while before the port opens.
    300_000,
  );
  const adminKey = fs.readFileSync(path.join(opts.stateDir, "admin-key"), "utf8").trim();
  return { pid: child.pid!, port, stateDir: opts.stateDir, caFile, adminKey, logFile };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a process we started and waits for it to exit; `hard` = SIGKILL (the restart test's crash). */
export async function stopProcess(pid: number, hard = false, timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, hard ? "SIGKILL" : "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    while (isAlive(pid)) await sleep(50);
  }
}

// ---------------------------------------------------------------- admin API

export interface AdminTarget {
  port: number;
  caFile: string;
  adminKey: string;
}

export function adminCall(target: AdminTarget, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        servername: "localhost",
        port: target.port,
        method,
        path: urlPath,
        ca: fs.readFileSync(target.caFile),
        agent: false,
        timeout: 15_000,
        headers: {
          [ADMIN_KEY_HEADER]: target.adminKey,
          ...(text ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) } : {}),
        },
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (data += c));
        res.on("end", () => {
          let parsed: unknown = data;
          try {
            parsed = data ? JSON.parse(data) : undefined;
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("admin call timed out")));
    req.on("error", reject);
    if (text) req.write(text);
    req.end();
  });
}

export interface AdminHub {
  name: string;
  hostName: string;
  connectionString: string;
  connectionStrings: Record<string, string>;
}

export async function adminCreateHub(target: AdminTarget, name: string, options: object = {}): Promise<AdminHub> {
  const res = await adminCall(target, "POST", "/$admin/hubs", { name, options });
  if (res.status !== 201) throw new Error(`creating hub ${name} failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as AdminHub;
}

export async function adminConfigureHub(target: AdminTarget, name: string, options: object): Promise<AdminHub> {
  const res = await adminCall(target, "PATCH", `/$admin/hubs/${encodeURIComponent(name)}`, options);
  if (res.status !== 200) throw new Error(`configuring hub ${name} failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as AdminHub;
}

/** Simulates a device (or module) reporting properties: the emulator has no device endpoint. */
export async function adminReportProperties(target: AdminTarget, hub: string, deviceId: string, patch: object, moduleId?: string): Promise<unknown> {
  const modulePart = moduleId ? `/modules/${encodeURIComponent(moduleId)}` : "";
  const res = await adminCall(target, "PATCH", `/$admin/hubs/${encodeURIComponent(hub)}/devices/${encodeURIComponent(deviceId)}${modulePart}/reported`, patch);
  if (res.status !== 200) throw new Error(`reporting properties for ${deviceId} failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
