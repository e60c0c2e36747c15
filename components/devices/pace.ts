/**
 * The pace model: how fast the IoT Hub service moves devices, per tier, in one place. Every time
 * estimate of the project (plan, `pulumi up`'s log, the bench projection, the cutover's wave
 * sizing) is computed here from the figures below, each with its source (docs/devices.md, "How
 * long it will take", lists them). Pure functions of data: no clock, no I/O.
 *
 * Where the sources are silent, the model takes the slower reading, so an estimate errs long and a
 * job lifetime sized on it is never short.
 */
import { UserError } from "../errors";

/** A hub's tier and units, as ARM's `sku` (`{name: "S1", capacity: 2}`). */
export interface HubSku {
  name: string;
  capacity?: number;
}

export const SKU_NAMES = ["F1", "B1", "B2", "B3", "S1", "S2", "S3"] as const;

/** The slowest tier for scheduled jobs (10 device operations/s): what an unknown tier is assumed to be. */
export const SLOWEST_JOB_TIER: HubSku = { name: "S1", capacity: 1 };

/** Parses `--sku` (and `--units`) into a HubSku; one clear error naming the flag otherwise. */
export function parseSku(name: string, units?: string | number, field = "--sku", unitsField = "--units"): HubSku {
  const n = name.trim().toUpperCase();
  if (!(SKU_NAMES as readonly string[]).includes(n)) throw new UserError(`'${name}' is not an IoT Hub tier: use one of ${SKU_NAMES.join(", ")}`, field);
  let capacity = 1;
  if (units !== undefined) {
    capacity = Number(units);
    if (!Number.isInteger(capacity) || capacity < 1) throw new UserError(`'${units}' is not a whole number of units ≥ 1`, unitsField);
    if (n === "F1" && capacity !== 1) throw new UserError("the free tier has exactly 1 unit", unitsField);
  }
  return { name: n, capacity };
}

const units = (sku: HubSku) => Math.max(1, sku.capacity ?? 1);

// ---------------------------------------------------------------------------------------------
// Scheduled jobs (a cutover wave is one scheduled twin-update job per hub).

/**
 * "Jobs device operations" (twin updates and direct methods a scheduled job performs), per second.
 * Source: learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling, the "Jobs device
 * operations" row: Free and S1 10/sec; S2 the higher of 10/sec or 1/sec/unit; S3 50/sec/unit
 * (shared/reference/service-behaviours.md §7). NOT the 50/s direct twin-update throttle, which a
 * job does not get. Basic tiers have no twins and no scheduled jobs: undefined.
 */
export function jobDeviceOperationsPerSecond(sku: HubSku): number | undefined {
  switch (sku.name.toUpperCase()) {
    case "F1":
    case "S1":
      return 10;
    case "S2":
      return Math.max(10, units(sku));
    case "S3":
      return 50 * units(sku);
    default:
      return undefined;
  }
}

/**
 * Scheduled jobs that may run at once on a hub (the next one gets 429 ThrottlingMaxActiveJobCountExceeded).
 * Source: the quotas doc, "Maximum concurrent jobs are 1 (for free and S1), 5 (for S2), and 10 (for S3)".
 */
export function concurrentScheduledJobs(sku: HubSku): number {
  switch (sku.name.toUpperCase()) {
    case "S2":
      return 5;
    case "S3":
      return 10;
    default:
      return 1;
  }
}

/** Seconds one scheduled job needs to reach `devices` devices on `sku` (the service's pace alone). */
export function scheduledJobSeconds(devices: number, sku: HubSku): number {
  const rate = jobDeviceOperationsPerSecond(sku);
  if (!rate) throw new UserError(`${sku.name} is a basic tier: it has no device twins or scheduled jobs, so a cutover wave cannot run on it`, "--sku");
  return Math.ceil(Math.max(0, devices) / rate);
}

/** Job lifetime (`maxExecutionTimeInSeconds`) for a wave: twice the time it needs on its hub's tier, at least the service's default hour. */
export function waveLifetimeSeconds(devices: number, sku: HubSku = SLOWEST_JOB_TIER): number {
  return Math.max(3600, scheduledJobSeconds(devices, sku) * 2);
}

// ---------------------------------------------------------------------------------------------
// Import/export jobs (the device copy and the delta sync).

/**
 * Lines (devices plus modules) one import or export job moves per second, on every tier.
 *
 * No official figure exists (service-behaviours.md §8). The one measured figure is Microsoft's
 * migration guide (learn.microsoft.com/azure/iot-hub/migrate-hub-arm, formerly iot-hub-how-to-clone):
 * about 2 hours for 500,000 devices and about 4 hours for 1,000,000 (shared/reference/
 * iothub-data-plane.md: "through import/export"). Whether that time covers one job or the export
 * and the import together is not said: read as one job (≈69 lines/s), the slower reading, so a
 * copy estimate errs long (read as both jobs it would be half). The same reading drives the local
 * hub's Azure-strict profile (test/emulator/profile.ts, ~70/s per job). The guide names no tier and
 * the quotas doc sets no import/export rate per tier, so every tier gets this pace. Faster
 * readings exist — a 2018 Microsoft service assumed "~1M devices per hour" for an S3 import
 * (Azure/device-simulation-dotnet#310) — but are not measurements. The SDK sample's "1 minute per
 * 100 devices" (ImportExportDevicesSample.cs) is S1's identity-registry REST throttle
 * (100/min/unit), which bulk jobs are not held to: the guide's measurement is 40 times faster.
 */
export const IMPORT_EXPORT_LINES_PER_SECOND = 500_000 / 7_200;

/**
 * Fixed cost per job: queueing, start, our poll interval at the end. Not published; an assumption
 * of this project (a job on an idle hub is typically picked up within seconds; 30 s keeps small
 * estimates from reading as "instant").
 */
export const JOB_OVERHEAD_SECONDS = 30;

function jobSeconds(lines: number): number {
  return JOB_OVERHEAD_SECONDS + Math.max(0, lines) / IMPORT_EXPORT_LINES_PER_SECOND;
}

/** What a copy or a sync moves. `lines` counts devices plus modules of the original. */
export interface CopyShape {
  lines: number;
  /** The engine's verify step (an export of the clone, compared): on by default in DeviceMigration. */
  verify?: boolean;
  /**
   * The re-parent pass (an export of the clone to learn its edge scopes, then an import of the edge
   * children): runs when the fleet has edge children. Unknown fleets are assumed to have some.
   */
  reparent?: boolean;
  /** Edge children re-imported by the re-parent pass (lines). Default 0 (small next to the copy). */
  reparentLines?: number;
}

/** The steps of a run, each job with its lines, in order (engine.ts's step list). */
export function runJobs(s: CopyShape & { importLines: number }): Array<{ step: string; lines: number }> {
  const jobs = [
    { step: "export-source", lines: s.lines },
    { step: "import", lines: s.importLines },
  ];
  if (s.reparent ?? true) jobs.push({ step: "export-clone", lines: s.lines }, { step: "reparent", lines: s.reparentLines ?? 0 });
  if (s.verify ?? true) jobs.push({ step: "verify", lines: s.lines });
  return jobs;
}

/** Service time of a full copy: every line exported and imported (plus re-parent and verify). */
export function fullCopySeconds(s: CopyShape): number {
  return Math.ceil(runJobs({ ...s, importLines: s.lines }).reduce((t, j) => t + jobSeconds(j.lines), 0));
}

/**
 * Service time of a delta sync: the export of the whole original (a job cannot export only what
 * changed), the import of the changed lines only, then re-parent and verify. This is how long the
 * registry must stay frozen before the cutover.
 */
export function deltaSyncSeconds(s: CopyShape & { changedLines: number }): number {
  return Math.ceil(runJobs({ ...s, importLines: Math.min(s.changedLines, s.lines) }).reduce((t, j) => t + jobSeconds(j.lines), 0));
}

// ---------------------------------------------------------------------------------------------
// The hub quota.

/**
 * Devices plus modules a hub may hold. Source: the quotas doc, "The total number of devices plus
 * modules … is capped at 1,000,000" (service-behaviours.md §8).
 */
export const HUB_IDENTITY_QUOTA = 1_000_000;

/** Modules the hub creates for every edge device ($edgeAgent, $edgeHub): they count against the quota. */
export const EDGE_SYSTEM_MODULES_PER_DEVICE = 2;

/** Identities (devices + modules) of a fleet: an edge device counts 1 + its 2 system modules + its custom modules. */
export function identityCount(f: { devices: number; edgeDevices?: number; customModules?: number }): number {
  return f.devices + EDGE_SYSTEM_MODULES_PER_DEVICE * (f.edgeDevices ?? 0) + (f.customModules ?? 0);
}

/** The largest n ≤ `quota` with identitiesOf(n) ≤ quota (identitiesOf must not decrease). */
export function largestFit(identitiesOf: (n: number) => number, quota = HUB_IDENTITY_QUOTA): number {
  let lo = 0;
  let hi = quota;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (identitiesOf(mid) <= quota) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Refuses a device count over the hub quota before anything runs, naming the largest count that
 * fits (the service would otherwise fail the import line by line with 403002 IotHubQuotaExceeded).
 */
export function checkDeviceQuota(devices: number, field: string, identitiesOf: (n: number) => number = (n) => n, quota = HUB_IDENTITY_QUOTA): void {
  if (!Number.isInteger(devices) || devices < 1) throw new UserError(`must be a whole number ≥ 1`, field);
  const needed = identitiesOf(devices);
  if (needed <= quota) return;
  const fit = largestFit(identitiesOf, quota);
  const modules = needed - devices;
  throw new UserError(
    `${devices.toLocaleString("en-US")} devices${modules > 0 ? ` plus their ${modules.toLocaleString("en-US")} modules (an edge device counts 3 with $edgeAgent and $edgeHub)` : ""} ` +
      `exceed the hub quota of ${quota.toLocaleString("en-US")} devices plus modules: the largest count that fits is ${fit}`,
    field,
  );
}

// ---------------------------------------------------------------------------------------------
// Estimates (plan, `pulumi up`'s log).

/** Share of devices assumed changed between the copy and the final delta sync, when not told. */
export const DEFAULT_CHANGED_FRACTION = 0.01;

export interface Estimates {
  devices: number;
  /** The clone's tier (import jobs and the pin job run there). */
  sku: string;
  units: number;
  deviceCopySeconds: number;
  deltaSyncSeconds: number;
  /** Percent of devices the delta-sync figure assumes changed. */
  deltaSyncChangedPercent: number;
  /** One wave of 1,000 devices: the pin job on the clone, then the move job on the original. */
  cutoverSecondsPerThousandDevices: number;
  /** The original's tier, when known; else the slowest (S1) was assumed for the move job. */
  originalSku?: string;
}

/**
 * Time estimates for a hub of `devices` devices copied to a clone of `cloneSku`. Modules are not in
 * the registry statistics: the estimate counts devices as lines (add modules to `devices` if known).
 */
export function estimate(o: { devices: number; cloneSku: HubSku; originalSku?: HubSku; changedFraction?: number }): Estimates {
  const changed = o.changedFraction ?? DEFAULT_CHANGED_FRACTION;
  const shape: CopyShape = { lines: o.devices };
  const perWave = (sku: HubSku) => (jobDeviceOperationsPerSecond(sku) ? 1000 / jobDeviceOperationsPerSecond(sku)! : 0);
  const original = o.originalSku && jobDeviceOperationsPerSecond(o.originalSku) ? o.originalSku : SLOWEST_JOB_TIER;
  return {
    devices: o.devices,
    sku: o.cloneSku.name.toUpperCase(),
    units: units(o.cloneSku),
    deviceCopySeconds: fullCopySeconds(shape),
    deltaSyncSeconds: deltaSyncSeconds({ ...shape, changedLines: Math.ceil(o.devices * changed) }),
    deltaSyncChangedPercent: Math.round(changed * 10_000) / 100,
    cutoverSecondsPerThousandDevices: Math.ceil(perWave(o.cloneSku) + perWave(original)),
    ...(o.originalSku ? { originalSku: o.originalSku.name.toUpperCase() } : {}),
  };
}

/** "about 4 h 10 min", "about 12 min", "about 40 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `about ${s} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `about ${min} min`;
  const h = Math.floor(min / 60);
  const m = min % 60;
  return `about ${h} h${m ? ` ${m} min` : ""}`;
}

/** The estimate in one paragraph (plan's table, `pulumi up`'s log). */
export function describeEstimates(e: Estimates): string {
  const basic = !jobDeviceOperationsPerSecond({ name: e.sku });
  return [
    `Time estimates for ${e.devices.toLocaleString("en-US")} devices on a ${e.sku}${e.units > 1 ? `x${e.units}` : ""} clone (pace model: docs/devices.md):`,
    `  device copy ${formatDuration(e.deviceCopySeconds)} (export, import, re-parent, verify)`,
    `  final delta sync ${formatDuration(e.deltaSyncSeconds)} with ${e.deltaSyncChangedPercent}% changed: how long the registry stays frozen before cutover`,
    basic
      ? `  cutover: ${e.sku} has no scheduled jobs; choose a standard tier to cut over in waves`
      : `  cutover ${formatDuration(e.cutoverSecondsPerThousandDevices)} per wave of 1,000 devices (pin on the clone, move on the original${e.originalSku ? ` ${e.originalSku}` : " at S1's pace, its tier unknown"})`,
  ].join("\n");
}
