/**
 * `npm run local -- up | down | status | hub create | hub configure`: runs the local IoT Hub
 * (Azurite + the data-plane emulator) in the background like a service, with state in `.local/`,
 * and keeps `.local/endpoints.json` (the file `--local` commands and the engine read) current.
 * Output is redacted; the endpoints file holds the real connection strings.
 */
import * as fs from "fs";
import * as path from "path";
import { Command } from "commander";
import { UserError } from "../components/errors";
import { defaultEndpointsFile, type LocalEndpoints } from "../components/devices/local-hub";
import { emit, runCommand, type GlobalOptions } from "./cli";
import {
  adminCall,
  adminConfigureHub,
  adminCreateHub,
  azuriteConnectionString,
  emulatorPidFile,
  isAlive,
  startAzurite,
  startEmulator,
  stopProcess,
  type AdminHub,
  type AdminTarget,
} from "../test/emulator/launcher";
import type { HubOptions } from "../test/emulator/hub";

const SERVICE_MAX_OLD_SPACE_MB = 4096;
const root = path.resolve(process.cwd(), ".local");
const emulatorDir = path.join(root, "emulator");
const azuriteDir = path.join(root, "azurite");
const azuritePidFile = path.join(azuriteDir, "azurite.pid");
const azuritePortFile = path.join(azuriteDir, "azurite.port");
const emulatorPortFile = path.join(emulatorDir, "emulator.port");

function readNumber(file: string): number | undefined {
  if (!fs.existsSync(file)) return undefined;
  const n = Number(fs.readFileSync(file, "utf8").trim());
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function running(pidFile: string): number | undefined {
  const pid = readNumber(pidFile);
  return pid && isAlive(pid) ? pid : undefined;
}

function adminTarget(): AdminTarget {
  const port = readNumber(emulatorPortFile);
  if (!running(emulatorPidFile(emulatorDir)) || !port) throw new UserError('the local hub is not running: start it with "npm run local -- up"');
  return { port, caFile: path.join(emulatorDir, "tls", "ca.pem"), adminKey: fs.readFileSync(path.join(emulatorDir, "admin-key"), "utf8").trim() };
}

async function listHubs(target: AdminTarget): Promise<AdminHub[]> {
  const res = await adminCall(target, "GET", "/$admin/hubs");
  if (res.status !== 200) throw new Error(`listing hubs failed: HTTP ${res.status}`);
  return res.body as AdminHub[];
}

async function writeEndpoints(target: AdminTarget): Promise<LocalEndpoints> {
  const azuritePort = readNumber(azuritePortFile);
  if (!azuritePort) throw new UserError('Azurite is not running: start the local hub with "npm run local -- up"');
  const hubs = await listHubs(target);
  const endpoints: LocalEndpoints = {
    storage: { connectionString: azuriteConnectionString(azuritePort) },
    iothub: {
      port: target.port,
      caFile: target.caFile,
      hubs: Object.fromEntries(hubs.map((h) => [h.name, { hostName: h.hostName, connectionString: h.connectionString }])),
    },
  };
  fs.writeFileSync(defaultEndpointsFile(), JSON.stringify(endpoints, null, 2) + "\n", { mode: 0o600 });
  return endpoints;
}

function describe(e: LocalEndpoints): string {
  const hubs = Object.entries(e.iothub.hubs).map(([name, h]) => `  ${name}: ${h.hostName} (${h.connectionString})`);
  return [
    `local IoT Hub on port ${e.iothub.port} (CA ${e.iothub.caFile})`,
    `storage (Azurite): ${e.storage.connectionString}`,
    hubs.length ? `hubs:\n${hubs.join("\n")}` : "hubs: none (add one with: npm run local -- hub create NAME)",
    `endpoints written to ${defaultEndpointsFile()}`,
  ].join("\n");
}

function hubNames(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function checkHubName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{1,48}[A-Za-z0-9]$/.test(name)) {
    throw new UserError(`hub name '${name}' must be 3-50 letters, digits or hyphens, not starting or ending with a hyphen`, "NAME");
  }
}

async function up(opts: GlobalOptions & { hubs?: string; hubOptions?: HubOptions }): Promise<void> {
  const names = hubNames(opts.hubs);
  names.forEach(checkHubName);
  const hubOptions = opts.hubOptions ?? {};
  fs.mkdirSync(root, { recursive: true });
  if (!running(azuritePidFile)) {
    const azurite = await startAzurite({ location: azuriteDir, detached: true });
    fs.writeFileSync(azuritePidFile, String(azurite.pid));
    fs.writeFileSync(azuritePortFile, String(azurite.port));
  }
  if (!running(emulatorPidFile(emulatorDir))) {
    const azuritePort = readNumber(azuritePortFile)!;
    // The service mode holds an original and a clone hub (up to 1,000,000 devices each): give V8 room for both.
    const emulator = await startEmulator({ stateDir: emulatorDir, detached: true, storageConnectionString: azuriteConnectionString(azuritePort), maxOldSpaceMb: SERVICE_MAX_OLD_SPACE_MB });
    fs.writeFileSync(emulatorPortFile, String(emulator.port));
  }
  const target = adminTarget();
  const existing = new Set((await listHubs(target)).map((h) => h.name.toLowerCase()));
  for (const name of names) {
    if (!existing.has(name.toLowerCase())) await adminCreateHub(target, name, hubOptions);
    // An existing hub named again with a profile or tier takes it: the rehearsal must run on what was asked for.
    else if (Object.keys(hubOptions).length) await adminConfigureHub(target, name, hubOptions);
  }
  const endpoints = await writeEndpoints(target);
  emit(opts, endpoints, () => describe(endpoints));
}

async function down(opts: GlobalOptions): Promise<void> {
  const stopped: string[] = [];
  const emulatorPid = running(emulatorPidFile(emulatorDir));
  if (emulatorPid) {
    await stopProcess(emulatorPid);
    stopped.push("emulator");
  }
  const azuritePid = running(azuritePidFile);
  if (azuritePid) {
    await stopProcess(azuritePid);
    stopped.push("azurite");
  }
  // A stale endpoints file would point --local commands at nothing; without it they say to run `up`.
  fs.rmSync(defaultEndpointsFile(), { force: true });
  emit(opts, { stopped }, () => (stopped.length ? `stopped ${stopped.join(" and ")}` : "the local hub was not running"));
}

function parseOptions(o: Record<string, unknown>): HubOptions {
  const options: HubOptions = {};
  if (o.sku !== undefined) {
    const sku = String(o.sku).toUpperCase();
    if (!/^(F1|B1|B2|B3|S1|S2|S3)$/.test(sku)) throw new UserError(`--sku '${String(o.sku)}' must be one of F1, B1, B2, B3, S1, S2, S3`, "--sku");
    options.sku = sku;
  }
  const positive = (name: string, v: unknown): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UserError(`${name} '${String(v)}' must be a positive number`, name);
    return n;
  };
  if (o.units !== undefined) options.units = Math.floor(positive("--units", o.units));
  if (o.jobSpeed !== undefined) options.jobDevicesPerSecond = String(o.jobSpeed) === "unthrottled" ? null : positive("--job-speed", o.jobSpeed);
  if (o.throttling !== undefined) options.throttling = o.throttling === true;
  if (o.quota !== undefined) options.deviceQuota = Math.floor(positive("--quota", o.quota));
  if (o.failAt !== undefined) options.jobFailAtProgress = String(o.failAt) === "off" ? null : positive("--fail-at", o.failAt);
  if (o.profile !== undefined) options.profile = parseProfile(o.profile);
  if (o.timeScale !== undefined) options.timeScale = positive("--time-scale", o.timeScale);
  if (o.lag !== undefined) options.consistencyLagMs = String(o.lag) === "0" ? 0 : positive("--lag", o.lag);
  return options;
}

/** `--profile azure` (Azure-strict, what a user should rehearse on) or `default` (forgiving, fast). */
export function parseProfile(v: unknown): "azure" | "default" {
  const p = String(v).toLowerCase();
  if (p !== "azure" && p !== "default") throw new UserError(`--profile '${String(v)}' must be azure (the Azure-strict rules, docs/local-hub.md) or default`, "--profile");
  return p;
}

/** Options of `up`: the profile and tier its hubs get. */
function upOptions(o: Record<string, unknown>): HubOptions {
  return parseOptions({ sku: o.sku, profile: o.profile, timeScale: o.timeScale, lag: o.lag });
}

const program = new Command("local")
  .description("Run the local IoT Hub (data-plane emulator + Azurite) in the background")
  .option("--json", "machine-readable output (secrets masked; .local/endpoints.json holds them)");

program
  .command("up")
  .description("start Azurite and the emulator (if not running), create hubs, write .local/endpoints.json")
  .option("--hubs <names>", "comma-separated hub names to create, e.g. source,clone")
  .option("--profile <profile>", "azure: the Azure-strict rules (rehearse on this); default: forgiving and fast")
  .option("--sku <sku>", "tier the limits follow: F1, B1-B3, S1-S3")
  .option("--time-scale <n>", "strict profile: run paces, job lifetimes, throttles and lag N times faster than real time")
  .option("--lag <ms>", "consistency lag in real-time ms (strict default 10000; 0 = off)")
  .action((o: Record<string, unknown>, cmd: Command) =>
    runCommand(() => up({ ...(cmd.optsWithGlobals() as GlobalOptions), hubs: o.hubs as string | undefined, hubOptions: upOptions(o) })),
  );

program
  .command("down")
  .description("stop the emulator and Azurite (state stays in .local/)")
  .action((_o: unknown, cmd: Command) => runCommand(() => down(cmd.optsWithGlobals() as GlobalOptions)));

program
  .command("status")
  .description("show the endpoints")
  .action((_o: unknown, cmd: Command) =>
    runCommand(async () => {
      const endpoints = await writeEndpoints(adminTarget());
      emit(cmd.optsWithGlobals() as GlobalOptions, endpoints, () => describe(endpoints));
    }),
  );

const hub = program.command("hub").description("manage hubs on the local emulator");
hub
  .command("create <name>")
  .description("create a hub")
  .option("--sku <sku>", "F1, B1-B3, S1-S3 (throttle table)", "S1")
  .option("--units <n>", "units (scale the throttles)", "1")
  .option("--profile <profile>", "azure (Azure-strict) or default")
  .option("--time-scale <n>", "strict profile: N times faster than real time")
  .action((name: string, o: Record<string, unknown>, cmd: Command) =>
    runCommand(async () => {
      checkHubName(name);
      const options = parseOptions(o);
      const target = adminTarget();
      if ((await listHubs(target)).some((h) => h.name.toLowerCase() === name.toLowerCase())) throw new UserError(`hub '${name}' already exists`, "NAME");
      const created = await adminCreateHub(target, name, options);
      await writeEndpoints(target);
      const out = { name: created.name, hostName: created.hostName, connectionString: created.connectionString };
      emit(cmd.optsWithGlobals() as GlobalOptions, out, () => `created ${created.hostName} (${created.connectionString}); endpoints in ${defaultEndpointsFile()}`);
    }),
  );
hub
  .command("configure <name>")
  .description("change a hub's behaviour")
  .option("--sku <sku>", "F1, B1-B3, S1-S3")
  .option("--units <n>", "units")
  .option("--job-speed <n>", "import/export devices per second (70 ≈ Azure), or 'unthrottled'")
  .option("--throttling", "enforce the SKU throttles")
  .option("--no-throttling", "do not enforce the SKU throttles")
  .option("--quota <n>", "devices + modules the hub accepts")
  .option("--fail-at <percent>", "import/export jobs fail at this progress, or 'off'")
  .option("--profile <profile>", "azure (Azure-strict) or default")
  .option("--time-scale <n>", "strict profile: N times faster than real time")
  .option("--lag <ms>", "consistency lag in real-time ms (0 = off)")
  .action((name: string, o: Record<string, unknown>, cmd: Command) =>
    runCommand(async () => {
      const options = parseOptions(o);
      if (Object.keys(options).length === 0) throw new UserError("nothing to change: give at least one option (see --help)", "options");
      const target = adminTarget();
      if (!(await listHubs(target)).some((h) => h.name.toLowerCase() === name.toLowerCase())) throw new UserError(`hub '${name}' does not exist`, "NAME");
      const updated = await adminConfigureHub(target, name, options);
      emit(cmd.optsWithGlobals() as GlobalOptions, { name: updated.name, options }, () => `configured ${updated.name}: ${JSON.stringify(options)}`);
    }),
  );

void program.parseAsync(process.argv);
