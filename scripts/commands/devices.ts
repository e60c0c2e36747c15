/**
 * `hubclone devices copy|sync|verify|generate`: the device-migration engine outside Pulumi
 * (thin over components/devices). Progress bars on stderr for people, one JSON document on
 * stdout with `--json`. Connection strings come from flags or, better (no shell history),
 * from HUBCLONE_SOURCE_CONNECTION_STRING / HUBCLONE_CLONE_CONNECTION_STRING /
 * HUBCLONE_STAGING_CONNECTION_STRING / HUBCLONE_CONNECTION_STRING. With `--local` they default to
 * the local hub's (`.local/endpoints.json`), and hubs may be named: `--source-hub A --clone-hub B`.
 */
import type { Command } from "commander";
import { createHash } from "crypto";
import { UserError } from "../../components/errors";
import type { LocalEndpoints } from "../../components/devices/local-hub";
import type { CopyOptions, CopyResult, DeviceFilter, HubConnection, Progress, StagingOptions, VerifyReport } from "../../components/devices/types";
import { emit, runCommand, type GlobalOptions } from "../cli";

interface ConnectionFlags {
  sourceConnectionString?: string;
  cloneConnectionString?: string;
  sourceHub?: string;
  cloneHub?: string;
  stagingConnectionString?: string;
  container: string;
  filterIds?: string;
  filterQuery?: string;
}

interface CopyFlags extends ConnectionFlags {
  runId?: string;
  importMode: string;
  configurations: boolean;
  deleteMissing?: boolean;
  timeoutMinutes: string;
  verify: boolean;
  forceOverwriteTarget?: boolean;
}

/** Loaded lazily so `hubclone --help` does not pay for the Azure SDKs. */
function engine(): typeof import("../../components/devices/index") {
  return require("../../components/devices/index");
}
function local(): typeof import("../../components/devices/provider-local") {
  return require("../../components/devices/provider-local");
}

function hostOf(cs: string): string {
  return /(?:^|;)\s*HostName=([^;]+)/i.exec(cs)?.[1] ?? "";
}

/** A hub from a flag, the environment, or (local mode) a hub name in the endpoints file. */
function hubFrom(
  flag: string,
  cs: string | undefined,
  envName: string,
  hubName: string | undefined,
  hubFlag: string,
  endpoints: LocalEndpoints | undefined,
): HubConnection & { hostName: string } {
  if (hubName) {
    if (!endpoints) throw new UserError(`names a local hub; add --local (or pass ${flag})`, hubFlag);
    const c = local().localHubConnectionString(endpoints, hubName, hubFlag);
    return { connectionString: c, hostName: hostOf(c) };
  }
  const value = cs ?? (process.env[envName] || undefined);
  if (!value) {
    throw new UserError(`is required (or set ${envName}${endpoints ? `, or name a local hub with ${hubFlag} NAME` : ""})`, flag);
  }
  if (!/HostName=/i.test(value) || !/SharedAccessKey=/i.test(value)) {
    throw new UserError("is not an IoT hub connection string (it needs HostName, SharedAccessKeyName and SharedAccessKey)", flag);
  }
  return { connectionString: value, hostName: hostOf(value) };
}

function stagingFrom(o: ConnectionFlags, endpoints: LocalEndpoints | undefined): StagingOptions {
  const cs = o.stagingConnectionString ?? (process.env.HUBCLONE_STAGING_CONNECTION_STRING || undefined) ?? (endpoints ? local().localStagingConnectionString(endpoints) : undefined);
  if (!cs) throw new UserError("is required: the staging storage account's connection string (or set HUBCLONE_STAGING_CONNECTION_STRING)", "--staging-connection-string");
  if (!/AccountKey=/i.test(cs)) throw new UserError("has no AccountKey, so no job SAS can be minted; use the account's key connection string", "--staging-connection-string");
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(o.container)) {
    throw new UserError("must be 3-63 lowercase letters, digits or single hyphens, starting and ending with a letter or digit", "--container");
  }
  return { connectionString: cs, containerName: o.container, authentication: "keyBased" };
}

function filterFrom(o: ConnectionFlags): DeviceFilter | undefined {
  const ids = o.filterIds?.split(",").map((s) => s.trim()).filter(Boolean);
  if (o.filterIds !== undefined && (!ids || ids.length === 0)) throw new UserError("must list device ids, e.g. --filter-ids dev1,dev2", "--filter-ids");
  if (o.filterQuery !== undefined && o.filterQuery.trim() === "") throw new UserError("must be a condition, e.g. \"tags.env = 'prod'\"", "--filter-query");
  if (!ids && o.filterQuery === undefined) return undefined;
  return { ...(ids ? { deviceIds: ids } : {}), ...(o.filterQuery !== undefined ? { query: o.filterQuery } : {}) };
}

function positiveInt(value: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UserError(`must be a whole number between 1 and ${max}`, flag);
  return n;
}

/** `devices: import 0% (0/13)` → `devices: import started (13 devices)`: what is known, no fake 0% (pure). */
export function startedLine(message: string): string {
  return message.replace(/ 0%(?: \(0\/([\d,]+)\))?/, (_m, total: string | undefined) => ` started${total ? ` (${total} devices)` : ""}`);
}

/**
 * Progress for people: one cli-progress bar per phase on an interactive stderr, throttled lines
 * otherwise; nothing with --json (stdout carries only the result).
 */
export class ProgressView {
  private bar: import("cli-progress").SingleBar | undefined;
  private phase = "";
  private lastLineAt = 0;
  constructor(private readonly quiet: boolean, private readonly tty = Boolean(process.stderr.isTTY)) {}
  /** The engine also logs its progress messages: those are already on the bar (or printed). */
  private lastMessage = "";
  private zeroShown = "";
  update = (p: Progress): void => {
    if (this.quiet) return;
    this.lastMessage = p.message;
    // A job the service reports at 0% until it ends: no bar or line stuck at 0% — one line saying
    // the step started, then real figures when they come.
    if (p.percent === 0) {
      if (this.zeroShown === p.phase) return;
      this.zeroShown = p.phase;
      this.bar?.stop();
      this.bar = undefined;
      this.phase = p.phase;
      this.lastLineAt = Date.now();
      process.stderr.write(startedLine(p.message) + "\n");
      return;
    }
    if (!this.tty) {
      const now = Date.now();
      if (p.phase !== this.phase || now - this.lastLineAt > 5_000 || p.phase === "done") {
        this.phase = p.phase;
        this.lastLineAt = now;
        process.stderr.write(p.message + "\n");
      }
      return;
    }
    const cliProgress = require("cli-progress") as typeof import("cli-progress");
    const total = p.unit === "percent" ? 100 : p.total ?? 0;
    const value = p.unit === "percent" ? p.percent ?? p.done : p.done;
    if (p.phase !== this.phase || !this.bar) {
      this.bar?.stop();
      if (p.phase !== this.phase) this.zeroShown = "";
      this.phase = p.phase;
      this.bar = new cliProgress.SingleBar(
        { format: `{phase} [{bar}] {percentage}% {value}/{total} ${p.unit}`, stream: process.stderr, hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total || Math.max(value, 1), value, { phase: p.phase.padEnd(14) });
    } else {
      if (total && total !== this.bar.getTotal()) this.bar.setTotal(total);
      this.bar.update(value, { phase: p.phase.padEnd(14) });
    }
  };
  log = (line: string): void => {
    if (this.quiet || line === this.lastMessage) return;
    if (this.bar) this.bar.stop(), (this.bar = undefined), (this.phase = "");
    process.stderr.write(line + "\n");
  };
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** `verb`: what the filters select for ("copy" for copy/sync, "compare" for verify). */
function connectionOptions(c: Command, verb: "copy" | "compare" = "copy"): Command {
  return c
    .option("--source-connection-string <cs>", "original hub connection string (secret; default $HUBCLONE_SOURCE_CONNECTION_STRING); read-only use")
    .option("--clone-connection-string <cs>", "clone hub connection string (secret; default $HUBCLONE_CLONE_CONNECTION_STRING)")
    .option("--source-hub <name>", "with --local: the original hub by name")
    .option("--clone-hub <name>", "with --local: the clone hub by name")
    .option("--staging-connection-string <cs>", "staging storage account connection string (secret; default $HUBCLONE_STAGING_CONNECTION_STRING; --local: Azurite)")
    .option("--container <name>", "private staging container", "device-migration")
    .option("--filter-ids <ids>", `${verb} only these device ids (comma-separated)${verb === "compare" ? " on both hubs; nothing is copied" : ""}`)
    .option("--filter-query <query>", `${verb} only devices matching, e.g. \"tags.env = 'prod' AND status = 'enabled'\"${verb === "compare" ? " (on both hubs; nothing is copied)" : ""}`);
}

function copyOptions(c: Command): Command {
  return connectionOptions(c)
    .option("--run-id <id>", "checkpoint key (letters, digits, - and _); default derived from the two hubs and the container, so sync continues copy")
    .option("--import-mode <mode>", "createOrUpdate or create", "createOrUpdate")
    .option("--no-configurations", "do not copy ADM configurations and edge deployments")
    .option("--no-verify", "skip the device-by-device verification")
    .option("--timeout-minutes <n>", "deadline for the whole run", "360")
    .option("--force-overwrite-target", "copy although the clone is a hub a run in this container recorded as an original, or already holds devices no run put there");
}

function resolveCommon(o: ConnectionFlags, g: GlobalOptions) {
  const endpoints = g.local ? local().loadLocalEndpoints() : undefined;
  const source = hubFrom("--source-connection-string", o.sourceConnectionString, "HUBCLONE_SOURCE_CONNECTION_STRING", o.sourceHub, "--source-hub", endpoints);
  const clone = hubFrom("--clone-connection-string", o.cloneConnectionString, "HUBCLONE_CLONE_CONNECTION_STRING", o.cloneHub, "--clone-hub", endpoints);
  if (source.hostName.toLowerCase() === clone.hostName.toLowerCase()) {
    throw new UserError("names the same hub as the source; the original is read-only to the copy", o.cloneHub ? "--clone-hub" : "--clone-connection-string");
  }
  const staging = stagingFrom(o, endpoints);
  const filter = filterFrom(o);
  return { endpoints, source, clone, staging, filter };
}

function copyOpts(o: CopyFlags, g: GlobalOptions, view: ProgressView): CopyOptions {
  const { endpoints, source, clone, staging, filter } = resolveCommon(o, g);
  if (o.importMode !== "createOrUpdate" && o.importMode !== "create") throw new UserError("must be createOrUpdate or create", "--import-mode");
  const minutes = positiveInt(o.timeoutMinutes, "--timeout-minutes", 7 * 24 * 60);
  const runId = o.runId ?? `cli-${createHash("sha256").update([source.hostName, clone.hostName, staging.containerName, JSON.stringify(filter ?? {})].join("|").toLowerCase()).digest("hex").slice(0, 16)}`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(runId)) throw new UserError("must be 1-64 letters, digits, - or _", "--run-id");
  return {
    source: { connectionString: source.connectionString },
    clone: { connectionString: clone.connectionString },
    staging,
    runId,
    importMode: o.importMode,
    filter,
    includeConfigurations: o.configurations,
    deleteMissing: Boolean(o.deleteMissing),
    forceOverwriteTarget: Boolean(o.forceOverwriteTarget),
    deadlineMs: minutes * 60_000,
    local: local().engineLocal(endpoints),
    verify: o.verify,
    onProgress: view.update,
    log: view.log,
  };
}

export function describeCopy(verb: string, r: CopyResult): string {
  const lines = [
    `${verb} ${r.alreadyComplete ? "(already complete, nothing to do)" : "done"} — run ${r.runId}, generation ${r.sync.generation}`,
    `  exported   ${r.exported} devices, ${r.exportedModules} modules`,
    `  imported   ${r.imported} lines (changed ${r.sync.changed}, unchanged ${r.sync.unchanged})`,
    `  reparented ${r.reparented}   deleted ${r.deleted}   configurations ${r.configurations.imported}/${r.configurations.exported}`,
    `  failed     ${r.failed}`,
    `  verified   ${r.verified}   mismatches ${r.mismatchCount}`,
  ];
  for (const f of r.failures.slice(0, 10)) lines.push(`  ✗ ${f.deviceId}${f.moduleId ? "/" + f.moduleId : ""}: ${f.errorCode} ${f.errorStatus}`);
  for (const m of r.mismatches.slice(0, 10)) lines.push(`  ≠ ${m.id}${m.moduleId ? "/" + m.moduleId : ""}: ${m.fields.join(", ")}`);
  return lines.join("\n");
}

function describeVerify(r: VerifyReport): string {
  const lines = [
    `verify ${r.ok ? "OK" : "FAILED"}: source ${r.source} devices (${r.sourceModules} modules), clone ${r.clone} devices (${r.cloneModules} modules)`,
    `  matched ${r.matched}   missing ${r.missingCount}   extra ${r.extraCount}   different ${r.differentCount}`,
  ];
  for (const id of r.missing.slice(0, 10)) lines.push(`  missing ${id}`);
  for (const id of r.extra.slice(0, 10)) lines.push(`  extra   ${id}`);
  for (const d of r.different.slice(0, 10)) lines.push(`  ≠ ${d.id}${d.moduleId ? "/" + d.moduleId : ""}: ${d.fields.join(", ")}`);
  return lines.join("\n");
}

function describeMovedDevices(moved: number, property: string, r: VerifyReport | undefined): string {
  const head = `  moved ${moved} (desired.${property} on the original names the clone: the clone's now`;
  if (!r) return `${head}; left out, --include-moved compares them)`;
  const lines = [`${head}; compared, not counted unless missing): matched ${r.matched}   missing ${r.missingCount}   extra ${r.extraCount}   different ${r.differentCount}`];
  for (const id of r.missing.slice(0, 10)) lines.push(`    missing ${id}`);
  for (const d of r.different.slice(0, 10)) lines.push(`    ≠ ${d.id}${d.moduleId ? "/" + d.moduleId : ""}: ${d.fields.join(", ")}`);
  return lines.join("\n");
}

export function register(program: Command): void {
  const devices = program.command("devices").description("copy, sync and verify devices with the hubs' import/export jobs; generate test devices");

  copyOptions(devices.command("copy").description("full copy of the original's devices (keys, twins, modules, edge hierarchy, configurations) into the clone")).action(
    async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as CopyFlags & GlobalOptions;
        const view = new ProgressView(Boolean(o.json));
        try {
          const r = await engine().copyDevices(copyOpts(o, o, view));
          view.stop();
          emit(o, r, () => describeCopy("copy", r));
          return r.failed === 0 && r.mismatchCount === 0 ? 0 : 2;
        } finally {
          view.stop();
        }
      });
    },
  );

  copyOptions(devices.command("sync").description("delta sync: copy only devices new or changed since the last copy/sync"))
    .option("--delete-missing", "also delete from the clone the devices deleted at the original")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as CopyFlags & GlobalOptions;
        const view = new ProgressView(Boolean(o.json));
        try {
          const r = await engine().syncDevices(copyOpts(o, o, view));
          view.stop();
          emit(o, r, () => describeCopy("sync", r));
          return r.failed === 0 && r.mismatchCount === 0 ? 0 : 2;
        } finally {
          view.stop();
        }
      });
    });

  connectionOptions(devices.command("verify").description("compare original and clone device by device (read-only on both); devices cutover waves moved to the clone are left out unless --include-moved"), "compare")
    .option("--no-configurations", "do not compare configurations")
    .option("--property <path>", "the cutover property: devices whose desired.<path> on the original names the clone have moved (reported as moved: N)", "iotHubHostName")
    .option("--include-moved", "compare the moved devices too (reported apart; the exit code stays on the devices that still belong to the original, unless a moved device is missing)")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as ConnectionFlags & GlobalOptions & { configurations: boolean; property: string; includeMoved?: boolean };
        const view = new ProgressView(Boolean(o.json));
        try {
          const { endpoints, source, clone, staging, filter } = resolveCommon(o, o);
          const ops = require("../../components/operations/verify") as typeof import("../../components/operations/verify");
          const { hubTarget } = require("../../components/operations/hubs") as typeof import("../../components/operations/hubs");
          const property = ops.checkProperty(o.property);
          const base = {
            source: { connectionString: source.connectionString },
            clone: { connectionString: clone.connectionString },
            staging,
            local: local().engineLocal(endpoints),
            includeConfigurations: o.configurations,
            onProgress: view.update,
            log: view.log,
          };
          // The engine's verification first: its checks name the flag at fault before any query.
          const staying = await engine().verifyDevices({ ...base, filter: ops.andFilter(filter, ops.notMovedFilter(property, clone.hostName)) });
          const moved = await ops.countMoved(hubTarget(source.connectionString, "--source-connection-string"), property, clone.hostName, filter, endpoints);
          const movedReport =
            o.includeMoved && moved > 0 ? await engine().verifyDevices({ ...base, includeConfigurations: false, filter: ops.andFilter(filter, ops.movedFilter(property, clone.hostName)) }) : undefined;
          const ok = staying.ok && (movedReport?.missingCount ?? 0) === 0;
          const r = { ...staying, ok, moved, ...(movedReport ? { movedDevices: movedReport } : {}) };
          view.stop();
          emit(o, r, () => [describeVerify(r), describeMovedDevices(moved, property, movedReport)].join("\n"));
          return ok ? 0 : 2;
        } finally {
          view.stop();
        }
      });
    });

  devices
    .command("generate")
    .description("add generated test devices (SAS, X.509 self-signed and CA, disabled, edge with modules, nested edge children, desired properties) through import jobs")
    .option("--connection-string <cs>", "hub to fill (secret; default $HUBCLONE_CONNECTION_STRING)")
    .option("--hub <name>", "with --local: the hub by name")
    .requiredOption("--count <n>", "number of devices (modules come on top)")
    .option("--prefix <prefix>", "device id prefix", "gen")
    .option("--seed <seed>", "same seed, same keys", "hubclone")
    .option("--staging-connection-string <cs>", "storage account for the import blobs (secret; default $HUBCLONE_STAGING_CONNECTION_STRING; --local: Azurite)")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as GlobalOptions & { connectionString?: string; hub?: string; count: string; prefix: string; seed: string; stagingConnectionString?: string };
        const count = positiveInt(o.count, "--count");
        // Devices plus the modules generated edge devices bring: over the hub quota, refused before any job.
        const gen = require("../../components/devices/generate") as typeof import("../../components/devices/generate");
        const { checkDeviceQuota } = require("../../components/devices/pace") as typeof import("../../components/devices/pace");
        checkDeviceQuota(count, "--count", gen.generatedIdentities);
        if (!/^[A-Za-z0-9-]{1,32}$/.test(o.prefix)) throw new UserError("must be 1-32 letters, digits or hyphens", "--prefix");
        const endpoints = o.local ? local().loadLocalEndpoints() : undefined;
        const hub = hubFrom("--connection-string", o.connectionString, "HUBCLONE_CONNECTION_STRING", o.hub, "--hub", endpoints);
        const staging = stagingFrom({ stagingConnectionString: o.stagingConnectionString, container: "device-migration" }, endpoints);
        const view = new ProgressView(Boolean(o.json));
        try {
          const r = await gen.loadDevices({ connectionString: hub.connectionString }, staging, gen.generateDeviceLines({ count, prefix: o.prefix, seed: o.seed }), {
            local: local().engineLocal(endpoints),
            onProgress: view.update,
            log: view.log,
          });
          view.stop();
          const expected = gen.expectedCounts(count);
          const result = { hub: hub.hostName, requested: count, byKind: expected.byKind, ...r };
          emit(o, result, () =>
            [
              `generated into ${hub.hostName}: ${r.devices} devices, ${r.modules} modules (${Object.entries(expected.byKind).map(([k, v]) => `${k} ${v}`).join(", ")})`,
              `  edge children re-parented ${r.reparented}, failed ${r.failed}, jobs ${r.jobIds.join(", ")}, ${r.durationMs} ms`,
              ...r.failures.slice(0, 10).map((f) => `  ✗ ${f.deviceId}${f.moduleId ? "/" + f.moduleId : ""}: ${f.errorCode} ${f.errorStatus}`),
            ].join("\n"),
          );
          return r.failed === 0 ? 0 : 2;
        } finally {
          view.stop();
        }
      });
    });
}
