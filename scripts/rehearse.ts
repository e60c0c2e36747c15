/**
 * The rehearsal: a whole device migration on this machine, no Azure.
 *
 *   npm run rehearse -- [--devices N | --devices-file FILE] [--keep] [--json]
 *
 * Starts the local hub (`scripts/local.ts up`) with an original and a clone hub, fills the
 * original (generated devices of every kind, or an ExportImportDevice JSONL file) through import
 * jobs — re-parenting edge children onto the original's own edge scopes, as a migration must —
 * runs the same engine as DeviceMigration (copyDevices), verifies original against clone, and
 * prints a report. Exit 0 only when nothing failed and nothing mismatched. `--keep` leaves the
 * local hub running; otherwise it is stopped (unless it was already running before).
 *
 * `--json` prints exactly {sourceHub, cloneHub, source, clone, imported, failed, mismatches,
 * durationMs, endpoints}, where `endpoints` is `local up --json`'s output (connection strings
 * masked by that command; the real ones stay in .local/endpoints.json).
 */
import { spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as readline from "readline";
import { Command } from "commander";
import { UserError } from "../components/errors";
import { redact } from "../components/secrets";
import { expectedCounts, generateDeviceLines, generatedIdentities, loadDevices } from "../components/devices/generate";
import { checkDeviceQuota } from "../components/devices/pace";
import { copyDevices, verifyDevices } from "../components/devices/index";
import type { LocalEndpoints } from "../components/devices/local-hub";
import { engineLocal, loadLocalEndpoints, localHubConnectionString, localStagingConnectionString } from "../components/devices/provider-local";
import type { ImportFailure } from "../components/devices/types";
import { adminCall } from "../test/emulator/launcher";
import { runCommand, scriptArgs } from "./cli";
import { startedLine } from "./commands/devices";

// ---------------------------------------------------------------------------------------------
// The local hub, driven through its own command (scripts/local.ts has no programmatic API).

const projectDir = path.resolve(__dirname, "..");

/** Runs `scripts/local.ts <args> --json` in `cwd` (whose `.local/` holds the hub's state). */
export function runLocal(args: string[], cwd = process.cwd()): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, scriptArgs(path.join(projectDir, "scripts", "local.ts"), [...args, "--json"]), { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new UserError(`local hub: \`npm run local -- ${args.join(" ")}\` failed (${code}): ${redact(err.trim() || out.trim())}`));
      try {
        resolve(out.trim() ? JSON.parse(out) : {});
      } catch {
        reject(new Error(`local hub: unexpected output from \`local ${args.join(" ")}\`: ${redact(out.slice(0, 200))}`));
      }
    });
  });
}

/** True when the local hub of `cwd` answers (`local status`). */
export async function localHubRunning(cwd = process.cwd()): Promise<boolean> {
  if (!fs.existsSync(path.join(cwd, ".local", "endpoints.json"))) return false;
  return runLocal(["status"], cwd).then(
    () => true,
    () => false,
  );
}

export interface LocalSession {
  /** `local up --json` output (secrets masked by that command). */
  upJson: Record<string, unknown>;
  /** The real endpoints (.local/endpoints.json). */
  endpoints: LocalEndpoints;
  sourceHub: string;
  cloneHub: string;
  /** Whether this session started the local hub (and so stops it unless kept). */
  started: boolean;
  stop(): Promise<void>;
}

/** The local hub's profile for a session: `azure` is the Azure-strict one (docs/local-hub.md). */
export interface SessionProfile {
  profile?: "azure" | "default";
  sku?: string;
  timeScale?: number;
}

/** `local up` flags for a profile. */
export function profileArgs(p: SessionProfile = {}): string[] {
  return [...(p.profile ? ["--profile", p.profile] : []), ...(p.sku ? ["--sku", p.sku] : []), ...(p.timeScale ? ["--time-scale", String(p.timeScale)] : [])];
}

/** Starts (or joins) the local hub with a fresh pair of uniquely named hubs. */
export async function startLocalSession(prefix: string, cwd = process.cwd(), profile: SessionProfile = {}): Promise<LocalSession> {
  const wasRunning = await localHubRunning(cwd);
  const tag = randomBytes(3).toString("hex");
  const sourceHub = `${prefix}-${tag}-source`;
  const cloneHub = `${prefix}-${tag}-clone`;
  const upJson = (await runLocal(["up", "--hubs", `${sourceHub},${cloneHub}`, ...profileArgs(profile)], cwd)) as Record<string, unknown>;
  const endpoints = loadLocalEndpoints(path.join(cwd, ".local", "endpoints.json"));
  return {
    upJson,
    endpoints,
    sourceHub,
    cloneHub,
    started: !wasRunning,
    stop: async () => {
      await deleteLocalHubs(cwd, endpoints, [sourceHub, cloneHub]);
      if (!wasRunning) await runLocal(["down"], cwd);
    },
  };
}

/**
 * Removes the session's hubs (and their devices) from the emulator's state so repeated rehearsals
 * don't pile up in .local/. `local` has no `hub delete` command yet: this uses the emulator's admin
 * API with the key `local up` keeps in .local/emulator/admin-key. Best effort.
 */
async function deleteLocalHubs(cwd: string, e: LocalEndpoints, names: string[]): Promise<void> {
  const keyFile = path.join(cwd, ".local", "emulator", "admin-key");
  if (!fs.existsSync(keyFile)) return;
  const target = { port: e.iothub.port, caFile: e.iothub.caFile, adminKey: fs.readFileSync(keyFile, "utf8").trim() };
  for (const name of names) await adminCall(target, "DELETE", `/$admin/hubs/${encodeURIComponent(name)}`).catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// The rehearsal.

export interface RehearsalOptions {
  devices?: number;
  devicesFile?: string;
  keep?: boolean;
  /** Progress lines for people (stderr); nothing when omitted. */
  print?: (line: string) => void;
  cwd?: string;
  /** `{profile: "azure"}` rehearses on the Azure-strict local hub (what users should do before a real run). */
  profile?: SessionProfile;
}

export interface RehearsalFailure extends ImportFailure {
  /** `load`: filling the original; `copy`: the migration into the clone. */
  stage: "load" | "copy";
}

export interface RehearsalMismatch {
  id: string;
  moduleId?: string;
  fields: string[];
}

export interface RehearsalReport {
  sourceHub: string;
  cloneHub: string;
  source: { devices: number; modules: number };
  clone: { devices: number; modules: number };
  imported: number;
  failed: RehearsalFailure[];
  mismatches: RehearsalMismatch[];
  durationMs: number;
  endpoints: Record<string, unknown>;
}

/** Streams a JSONL file line by line (bounded memory). */
export async function* fileLines(file: string): AsyncGenerator<string> {
  const rl = readline.createInterface({ input: fs.createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  for await (const line of rl) if (line.trim()) yield line;
}

/**
 * The engine logs every progress message it reports, so the rehearsal prints its log only (no
 * second copy through onProgress), with a job's "0%" said as "started": the service reports 0%
 * until a job ends, and a line stuck at 0% tells nothing (startedLine, as the devices commands).
 */
function progressLog(print: ((line: string) => void) | undefined): ((line: string) => void) | undefined {
  return print && ((line) => print(startedLine(line)));
}

export async function rehearse(o: RehearsalOptions): Promise<RehearsalReport> {
  const started = Date.now();
  const print = o.print;
  if (o.devicesFile && !fs.existsSync(o.devicesFile)) throw new UserError(`${o.devicesFile} does not exist; give an ExportImportDevice JSONL file`, "--devices-file");
  const count = o.devices ?? (o.devicesFile ? undefined : 1000);
  print?.("rehearsal: starting the local hub");
  const session = await startLocalSession("rehearsal", o.cwd, o.profile);
  try {
    const e = session.endpoints;
    const local = engineLocal(e);
    const source = { connectionString: localHubConnectionString(e, session.sourceHub) };
    const clone = { connectionString: localHubConnectionString(e, session.cloneHub) };
    const stagingCs = localStagingConnectionString(e);
    const failed: RehearsalFailure[] = [];

    print?.(`rehearsal: filling ${session.sourceHub} with ${o.devicesFile ? path.basename(o.devicesFile) : `${count} generated devices`}`);
    const lines = o.devicesFile ? fileLines(o.devicesFile) : generateDeviceLines({ count: count! });
    const load = await loadDevices(source, { connectionString: stagingCs, containerName: "rehearsal-load" }, lines, {
      local,
      log: progressLog(print),
    });
    for (const f of load.failures) failed.push({ stage: "load", ...f, errorStatus: redact(f.errorStatus) });
    if (load.failed > load.failures.length) print?.(`rehearsal: ${load.failed - load.failures.length} more load failures not listed`);
    if (count !== undefined) {
      const want = expectedCounts(count);
      print?.(`rehearsal: original has ${load.devices} devices, ${load.modules} modules (expected ${want.devices}/${want.modules}), ${load.reparented} edge children re-parented`);
    }

    print?.(`rehearsal: migrating ${session.sourceHub} → ${session.cloneHub} with the DeviceMigration engine`);
    const staging = { connectionString: stagingCs, containerName: "rehearsal-staging", authentication: "keyBased" as const };
    const copy = await copyDevices({
      source,
      clone,
      staging,
      runId: `rehearsal-${session.cloneHub}`,
      local,
      // Verified below, once, with the report's own counts.
      verify: false,
      log: progressLog(print),
    });
    for (const f of copy.failures) failed.push({ stage: "copy", ...f, errorStatus: redact(f.errorStatus) });

    print?.("rehearsal: verifying original against clone, device by device");
    const report = await verifyDevices({ source, clone, staging, local, log: progressLog(print) });
    const mismatches: RehearsalMismatch[] = [
      ...report.missing.map((key) => ({ ...splitKey(key), fields: ["missing"] })),
      ...report.extra.map((key) => ({ ...splitKey(key), fields: ["extra"] })),
      ...report.different.map((d) => ({ id: d.id, ...(d.moduleId ? { moduleId: d.moduleId } : {}), fields: d.fields })),
    ];
    return {
      sourceHub: session.sourceHub,
      cloneHub: session.cloneHub,
      source: { devices: report.source, modules: report.sourceModules },
      clone: { devices: report.clone, modules: report.cloneModules },
      imported: copy.imported,
      failed,
      mismatches,
      durationMs: Date.now() - started,
      endpoints: session.upJson,
    };
  } finally {
    if (o.keep) {
      print?.(`rehearsal: local hub left running with ${session.sourceHub} and ${session.cloneHub}; stop it with npm run local -- down`);
    } else {
      await session.stop();
      print?.(session.started ? "rehearsal: local hub stopped" : "rehearsal: removed the rehearsal hubs; the local hub was already running, so it stays up");
    }
  }
}

/** `--profile`, `--sku`, `--time-scale` of rehearse and bench, checked before anything starts. */
export function sessionProfile(o: { profile?: string; sku?: string; timeScale?: string }): SessionProfile {
  const out: SessionProfile = {};
  if (o.profile !== undefined) {
    const p = o.profile.toLowerCase();
    if (p !== "azure" && p !== "default") throw new UserError(`'${o.profile}' must be azure (Azure-strict) or default`, "--profile");
    out.profile = p;
  }
  if (o.sku !== undefined) {
    const sku = o.sku.toUpperCase();
    if (!/^(F1|B1|B2|B3|S1|S2|S3)$/.test(sku)) throw new UserError(`'${o.sku}' must be one of F1, B1, B2, B3, S1, S2, S3`, "--sku");
    out.sku = sku;
  }
  if (o.timeScale !== undefined) {
    const n = Number(o.timeScale);
    if (!Number.isFinite(n) || n <= 0) throw new UserError(`'${o.timeScale}' must be a positive number`, "--time-scale");
    out.timeScale = n;
  }
  return out;
}

/** `deviceId/moduleId` keys of the verifier → id and moduleId. */
function splitKey(key: string): { id: string; moduleId?: string } {
  const i = key.indexOf("/");
  return i < 0 ? { id: key } : { id: key.slice(0, i), moduleId: key.slice(i + 1) };
}

export function describeReport(r: RehearsalReport): string {
  const ok = r.failed.length === 0 && r.mismatches.length === 0;
  const lines = [
    `rehearsal ${ok ? "PASSED" : "FAILED"} in ${(r.durationMs / 1000).toFixed(1)} s`,
    `  original ${r.sourceHub}: ${r.source.devices} devices, ${r.source.modules} modules`,
    `  clone    ${r.cloneHub}: ${r.clone.devices} devices, ${r.clone.modules} modules`,
    `  imported ${r.imported} lines, failed ${r.failed.length}, mismatches ${r.mismatches.length}`,
  ];
  for (const f of r.failed.slice(0, 20)) lines.push(`  ✗ [${f.stage}] ${f.deviceId}${f.moduleId ? "/" + f.moduleId : ""}: ${f.errorCode} ${f.errorStatus}`);
  for (const m of r.mismatches.slice(0, 20)) lines.push(`  ≠ ${m.id}${m.moduleId ? "/" + m.moduleId : ""}: ${m.fields.join(", ")}`);
  return lines.join("\n");
}

if (require.main === module) {
  const program = new Command("rehearse")
    .description("rehearse a device migration on the local hub: fill an original, copy with the DeviceMigration engine, verify")
    .option("--devices <n>", "generate this many devices of every kind (default 1000)")
    .option("--devices-file <file>", "load this ExportImportDevice JSONL file into the original instead")
    .option("--keep", "leave the local hub running afterwards")
    .option("--profile <profile>", "azure: rehearse on the Azure-strict local hub (recommended before a real run); default: forgiving and fast")
    .option("--sku <sku>", "tier whose limits the local hubs follow (S1, S2, S3)")
    .option("--time-scale <n>", "strict profile: run the tier's paces and lifetimes N times faster than real time (default 1)")
    .option("--json", "print the report as JSON")
    .action((o: { devices?: string; devicesFile?: string; keep?: boolean; json?: boolean; profile?: string; sku?: string; timeScale?: string }) =>
      runCommand(async () => {
        if (o.devices !== undefined && o.devicesFile !== undefined) throw new UserError("give either --devices or --devices-file, not both", "--devices");
        let devices: number | undefined;
        if (o.devices !== undefined) {
          devices = Number(o.devices);
          // The hub quota counts devices plus modules (generated edge devices bring theirs): refused up front.
          checkDeviceQuota(devices, "--devices", generatedIdentities);
        }
        const profile = sessionProfile(o);
        const report = await rehearse({ devices, devicesFile: o.devicesFile, keep: o.keep, profile, print: o.json ? undefined : (l) => process.stderr.write(redact(l) + "\n") });
        // Printed as is: `endpoints` is already masked by `local up --json`, the rest holds ids and counts.
        process.stdout.write((o.json ? JSON.stringify(report) : describeReport(report)) + "\n");
        return report.failed.length === 0 && report.mismatches.length === 0 ? 0 : 1;
      }),
    );
  void program.parseAsync(process.argv);
}
