/**
 * Test devices for rehearsals, benchmarks and `devices generate`: a deterministic, streaming
 * generator of ExportImportDevice lines (as another hub's export would hold them), and a loader
 * that puts such lines into a hub the way a migration must — through import jobs, never one REST
 * call per device — re-parenting edge children onto the hub's own edge scopes in a second pass.
 *
 * The loader fills a gap in the engine's public API (it copies hub → hub, but has no
 * "import these lines" entry point); it reuses the engine's transform, staging and hub client.
 */
import { createHash, randomBytes } from "crypto";
import { HubClient, type JobProperties } from "./hub-client";
import { isJobQuotaExceeded, sleep } from "./retry";
import { BlobLineWriter, blobExists, jobContainerUrl, openStaging, readBlobLines, type Staging } from "./staging";
import { EDGE_SYSTEM_MODULES, mayBeEdgeDevice, parseLine, reparentLine, transformLine } from "./transform";
import type { HubConnection, ImportFailure, LocalEndpoints, Progress, StagingOptions } from "./types";

// ---------------------------------------------------------------------------------------------
// The generator.

export type GeneratedKind = "sas" | "selfSigned" | "certificateAuthority" | "disabled" | "edge" | "nestedEdge" | "edgeChild";

interface Slot {
  kind: GeneratedKind;
  /** Slot (within the same block) of the parent edge device. */
  parentSlot?: number;
}

/**
 * One block of 50 devices. The first 8 slots hold every kind (so even 8 devices cover them all,
 * including a two-level edge hierarchy); the rest give a realistic fleet: mostly SAS devices,
 * some X.509, a few disabled, ~4% edge devices with leaf children under both levels.
 */
const BLOCK: Slot[] = (() => {
  const b: Slot[] = [
    { kind: "edge" },
    { kind: "sas" },
    { kind: "selfSigned" },
    { kind: "certificateAuthority" },
    { kind: "disabled" },
    { kind: "edgeChild", parentSlot: 0 },
    { kind: "nestedEdge", parentSlot: 0 },
    { kind: "edgeChild", parentSlot: 6 },
  ];
  for (let s = 8; s < 50; s++) {
    if (s % 10 === 8) b.push({ kind: "edgeChild", parentSlot: s % 20 === 8 ? 0 : 6 });
    else if (s % 10 === 3) b.push({ kind: "selfSigned" });
    else if (s % 14 === 5) b.push({ kind: "certificateAuthority" });
    else if (s === 37) b.push({ kind: "disabled" });
    else b.push({ kind: "sas" });
  }
  return b;
})();

/** Custom modules per edge kind (the hub creates $edgeAgent/$edgeHub itself). */
const MODULES: Record<"edge" | "nestedEdge", string[]> = { edge: ["telemetry", "filter"], nestedEdge: ["opcpublisher"] };

export interface GenerateOptions {
  /** Devices to generate (module lines come on top). */
  count: number;
  /** Device id prefix; default `gen`. */
  prefix?: string;
  /** Same seed → same keys and thumbprints; default `hubclone`. */
  seed?: string;
  /** Only devices whose index passes (e.g. 1% for a delta sync); their modules follow them. */
  select?: (index: number) => boolean;
  /** > 0 marks devices as changed: a desired property and a tag carry the revision. */
  revision?: number;
}

export interface GeneratedDevice {
  index: number;
  kind: GeneratedKind;
  id: string;
  parentId?: string;
  /** The device line followed by its module lines (ExportImportDevice objects). */
  records: Array<Record<string, unknown>>;
}

export function kindOf(index: number): Slot {
  return BLOCK[index % BLOCK.length];
}

export function generatedDeviceId(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(7, "0")}`;
}

function key(seed: string, id: string, which: string): string {
  return createHash("sha256").update(`${seed}:${id}:${which}`).digest("base64");
}
function thumbprint(seed: string, id: string, which: string): string {
  return createHash("sha1").update(`${seed}:${id}:${which}`).digest("hex").toUpperCase();
}
/** A stand-in generation id, as another hub would have assigned (differs from the target hub's). */
function foreignScope(seed: string, edgeId: string): string {
  const n = BigInt("0x" + createHash("sha256").update(`${seed}:gen:${edgeId}`).digest("hex").slice(0, 15));
  return `ms-azure-iot-edge://${edgeId}-${(637000000000000000n + (n % 1000000000000000n)).toString()}`;
}

const BUILDINGS = ["north", "south", "east", "west", "harbour", "depot"];
const FIRMWARE = ["1.4.2", "1.5.0", "2.0.1", "2.1.0-beta"];
const REASONS = ["decommissioned: battery failure", "stolen 2024-11-02, ticket INC-4471", "suspended pending firmware audit"];

/** One generated device with its modules, deterministic for (seed, prefix, index, revision). */
export function generateDevice(index: number, o: Omit<GenerateOptions, "count" | "select"> = {}): GeneratedDevice {
  const prefix = o.prefix ?? "gen";
  const seed = o.seed ?? "hubclone";
  const slot = kindOf(index);
  const id = generatedDeviceId(prefix, index);
  const blockStart = index - (index % BLOCK.length);
  const parentId = slot.parentSlot === undefined ? undefined : generatedDeviceId(prefix, blockStart + slot.parentSlot);
  const revision = o.revision ?? 0;
  const d: Record<string, unknown> = { id, status: "enabled" };

  switch (slot.kind) {
    case "selfSigned":
      d.authentication = { type: "selfSigned", x509Thumbprint: { primaryThumbprint: thumbprint(seed, id, "p"), secondaryThumbprint: thumbprint(seed, id, "s") } };
      break;
    case "certificateAuthority":
      d.authentication = { type: "certificateAuthority", x509Thumbprint: { primaryThumbprint: null, secondaryThumbprint: null } };
      break;
    default:
      d.authentication = { type: "sas", symmetricKey: { primaryKey: key(seed, id, "p"), secondaryKey: key(seed, id, "s") } };
  }
  if (slot.kind === "disabled") {
    d.status = "disabled";
    d.statusReason = REASONS[index % REASONS.length];
  }
  const isEdge = slot.kind === "edge" || slot.kind === "nestedEdge";
  d.capabilities = { iotEdge: isEdge };
  // Scopes as the original hub's export shows them (foreign generation ids): the loader re-parents.
  if (isEdge) {
    d.deviceScope = foreignScope(seed, id);
    d.parentScopes = parentId ? [foreignScope(seed, parentId)] : [];
  } else if (parentId) {
    d.deviceScope = foreignScope(seed, parentId);
    d.parentScopes = [foreignScope(seed, parentId)];
  }
  // Most devices carry tags; every fifth has none (a real fleet is uneven).
  if (index % 5 !== 4 || revision > 0) {
    const tags: Record<string, unknown> = {
      building: BUILDINGS[index % BUILDINGS.length],
      floor: index % 7,
      fleet: { owner: index % 3 === 0 ? "ops" : "field", batch: `b${Math.floor(index / 1000)}` },
    };
    if (revision > 0) tags.revision = revision;
    d.tags = tags;
  }
  const desired: Record<string, unknown> = { telemetryIntervalSeconds: 30 + (index % 4) * 15 };
  if (index % 2 === 0) desired.firmware = { version: FIRMWARE[index % FIRMWARE.length], channel: index % 4 === 0 ? "stable" : "preview" };
  if (revision > 0) desired.revision = revision;
  d.properties = { desired };

  const records: Array<Record<string, unknown>> = [d];
  if (isEdge) {
    for (const moduleId of MODULES[slot.kind as "edge" | "nestedEdge"]) {
      const m: Record<string, unknown> = {
        id,
        moduleId,
        status: "enabled",
        authentication: { type: "sas", symmetricKey: { primaryKey: key(seed, `${id}/${moduleId}`, "p"), secondaryKey: key(seed, `${id}/${moduleId}`, "s") } },
      };
      if (moduleId !== "filter") m.properties = { desired: { sampling: { intervalMs: 1000 + (index % 5) * 250 }, ...(revision > 0 ? { revision } : {}) } };
      records.push(m);
    }
  }
  return { index, kind: slot.kind, id, parentId, records };
}

/** Streams generated devices (bounded memory whatever the count). */
export function* generateDevices(o: GenerateOptions): Generator<GeneratedDevice> {
  for (let i = 0; i < o.count; i++) {
    if (o.select && !o.select(i)) continue;
    yield generateDevice(i, o);
  }
}

/** Streams generated ExportImportDevice JSON lines (no trailing newline). */
export function* generateDeviceLines(o: GenerateOptions): Generator<string> {
  for (const d of generateDevices(o)) for (const r of d.records) yield JSON.stringify(r);
}

/** What `count` generated devices hold, without generating them. */
export function expectedCounts(count: number): { devices: number; modules: number; byKind: Record<GeneratedKind, number> } {
  const byKind: Record<GeneratedKind, number> = { sas: 0, selfSigned: 0, certificateAuthority: 0, disabled: 0, edge: 0, nestedEdge: 0, edgeChild: 0 };
  let modules = 0;
  for (let i = 0; i < count; i++) {
    const k = kindOf(i).kind;
    byKind[k]++;
    if (k === "edge" || k === "nestedEdge") modules += MODULES[k].length;
  }
  return { devices: count, modules, byKind };
}

/**
 * Identities (devices plus modules, $edgeAgent/$edgeHub included: the hub creates them for every
 * edge device) that `count` generated devices occupy: what the hub quota counts (pace.ts).
 */
export function generatedIdentities(count: number): number {
  const of = (slot: Slot) => 1 + (slot.kind === "edge" || slot.kind === "nestedEdge" ? 2 + MODULES[slot.kind].length : 0);
  const perBlock = BLOCK.reduce((t, s) => t + of(s), 0);
  let n = Math.floor(count / BLOCK.length) * perBlock;
  for (let i = 0; i < count % BLOCK.length; i++) n += of(BLOCK[i]);
  return n;
}

// ---------------------------------------------------------------------------------------------
// The loader.

export interface LoadOptions {
  local?: LocalEndpoints;
  /** Default createOrUpdate. */
  importMode?: "createOrUpdate" | "create";
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
  /** Whole-load deadline (ms); default 2 hours. */
  deadlineMs?: number;
  pollIntervalMs?: { min: number; max: number };
  /** Cap on the failures listed (the count stays exact); default 100. */
  maxFailuresReported?: number;
}

export interface LoadResult {
  /** Device lines and custom-module lines sent to the import job. */
  devices: number;
  modules: number;
  /** $edgeAgent/$edgeHub lines dropped (the hub recreates them). */
  skippedSystemModules: number;
  /** Lines that failed: malformed input, import errors, children whose parent is not in the hub. */
  failed: number;
  failures: ImportFailure[];
  /** Children (leaf and edge) placed under their parent edge device's scope in this hub. */
  reparented: number;
  jobIds: string[];
  durationMs: number;
}

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/**
 * Loads ExportImportDevice lines into `hub` with import jobs through a private, per-load staging
 * container (deleted afterwards: it holds every key). Pass 1 imports every device and custom module
 * without edge scopes; an export (without keys) then reads the hub's own edge scopes, and pass 2
 * re-imports each child with its parent's scope. Three jobs whatever the number of lines.
 */
export async function loadDevices(hub: HubConnection, staging: StagingOptions, lines: Iterable<string> | AsyncIterable<string>, o: LoadOptions = {}): Promise<LoadResult> {
  const started = Date.now();
  const deadline = started + (o.deadlineMs ?? 2 * 3600_000);
  const cap = o.maxFailuresReported ?? 100;
  const log = o.log ?? (() => undefined);
  const client = HubClient.open(hub, "hub", o.local, log);
  await client.statistics(); // fail fast on a wrong key, before anything is written
  const s = await openStaging({ ...staging, containerName: `load-${randomBytes(5).toString("hex")}` }, log);
  const result: LoadResult = { devices: 0, modules: 0, skippedSystemModules: 0, failed: 0, failures: [], reparented: 0, jobIds: [], durationMs: 0 };
  const fail = (f: ImportFailure) => {
    result.failed++;
    if (result.failures.length < cap) result.failures.push(f);
  };
  const progress = (phase: Progress["phase"], done: number, unit: Progress["unit"], message: string, total?: number) =>
    o.onProgress?.({ phase, done, unit, total, percent: unit === "percent" ? done : undefined, message });
  try {
    const main = new BlobLineWriter(s, "devices.txt");
    const children = new BlobLineWriter(s, "children/devices.txt");
    let parentsWanted = 0;
    for await (const text of lines as AsyncIterable<string>) {
      if (text.trim() === "") continue;
      const parsed = parseLine(text);
      if (!parsed.ok) {
        fail({ deviceId: parsed.id ?? "?", errorCode: "malformed", errorStatus: parsed.reason });
        continue;
      }
      if (parsed.line.moduleId && EDGE_SYSTEM_MODULES.has(parsed.line.moduleId)) {
        result.skippedSystemModules++;
        continue;
      }
      const t = transformLine(parsed.line, o.importMode ?? "createOrUpdate");
      if (!t) continue;
      await main.write(t.importLine);
      if (t.isModule) result.modules++;
      else result.devices++;
      if (t.parentId) {
        await children.write(text);
        parentsWanted++;
      }
      if ((result.devices + result.modules) % 10_000 === 0) progress("transform", result.devices + result.modules, "lines", `devices: staged ${result.devices + result.modules} lines`);
    }
    await main.close();
    await children.close();

    await runImport(client, s, "devices.txt", "pass 1", o, deadline, result, fail);
    if (parentsWanted > 0) {
      const scopes = await edgeScopes(client, s, o, deadline, result);
      const second = new BlobLineWriter(s, "reparent/devices.txt");
      for await (const text of readBlobLines(s, "children/devices.txt")) {
        const parsed = parseLine(text);
        if (!parsed.ok) continue;
        const t = transformLine(parsed.line, "createOrUpdate");
        if (!t?.parentId) continue;
        const parentScope = scopes.get(t.parentId);
        if (!parentScope) {
          fail({ deviceId: t.key, errorCode: "parentNotFound", errorStatus: `parent edge device ${t.parentId} is not in the hub` });
          continue;
        }
        await second.write(reparentLine(t.importLine, parentScope, scopes.get(parsed.line.id)));
        result.reparented++;
      }
      await second.close();
      if (result.reparented > 0) await runImport(client, s, "reparent/devices.txt", "pass 2 (edge children)", o, deadline, result, fail);
    }
  } finally {
    // The staging container holds every device key: remove it whatever happened.
    await s.container.deleteIfExists().catch(() => undefined);
  }
  result.durationMs = Date.now() - started;
  return result;
}

async function waitForJob(client: HubClient, job: JobProperties, what: string, o: LoadOptions, deadline: number): Promise<JobProperties> {
  const min = o.pollIntervalMs?.min ?? 250;
  const max = o.pollIntervalMs?.max ?? 5_000;
  let delay = min;
  let lastPct = -1;
  for (;;) {
    if (TERMINAL.has(String(job.status).toLowerCase())) return job;
    if (Date.now() > deadline) throw new Error(`devices: ${what} job ${job.jobId} still ${job.status} at the load deadline`);
    await sleep(delay);
    delay = Math.min(max, Math.round(delay * 1.5));
    job = await client.getJob(job.jobId);
    const pct = Number(job.progress ?? 0);
    if (pct !== lastPct) {
      lastPct = pct;
      o.onProgress?.({ phase: "import", done: pct, unit: "percent", percent: pct, message: `devices: ${what} ${pct}%` });
    }
  }
}

async function createJob(client: HubClient, body: Record<string, unknown>, deadline: number): Promise<JobProperties> {
  for (;;) {
    try {
      return await client.createJob(body);
    } catch (err) {
      // Another import/export job is running on this hub (one at a time): wait for it.
      if (!isJobQuotaExceeded(err) || Date.now() > deadline) throw err;
      await sleep(2_000);
    }
  }
}

async function runImport(client: HubClient, s: Staging, blobName: string, what: string, o: LoadOptions, deadline: number, result: LoadResult, fail: (f: ImportFailure) => void): Promise<void> {
  const expires = new Date(deadline + 15 * 60_000);
  const body: Record<string, unknown> = {
    type: "import",
    inputBlobContainerUri: jobContainerUrl(s, "r", expires),
    outputBlobContainerUri: jobContainerUrl(s, "rwd", expires),
    inputBlobName: blobName,
    storageAuthenticationType: s.mode,
  };
  if (s.mode === "identityBased" && s.options.userAssignedIdentity) body.identity = { userAssignedIdentity: s.options.userAssignedIdentity };
  let job = await createJob(client, body, deadline);
  result.jobIds.push(job.jobId);
  o.log?.(`devices: ${what}: import job ${job.jobId} started`);
  job = await waitForJob(client, job, what, o, deadline);
  if (String(job.status).toLowerCase() !== "completed") {
    throw new Error(`devices: ${what}: import job ${job.jobId} ${job.status}${job.failureReason ? `: ${String(job.failureReason)}` : ""}`);
  }
  if (await blobExists(s, "importErrors.log")) {
    for await (const line of readBlobLines(s, "importErrors.log")) {
      try {
        const e = JSON.parse(line) as { deviceId?: string; moduleId?: string; errorCode?: unknown; errorStatus?: unknown };
        fail({ deviceId: String(e.deviceId ?? "?"), ...(e.moduleId ? { moduleId: String(e.moduleId) } : {}), errorCode: String(e.errorCode ?? "?"), errorStatus: String(e.errorStatus ?? "") });
      } catch {
        fail({ deviceId: "?", errorCode: "unreadable", errorStatus: "importErrors.log line is not JSON" });
      }
    }
    await s.container.getBlobClient("importErrors.log").deleteIfExists();
  }
}

/** The hub's own edge scopes (edge device id → deviceScope), from one export job without keys. */
async function edgeScopes(client: HubClient, s: Staging, o: LoadOptions, deadline: number, result: LoadResult): Promise<Map<string, string>> {
  const expires = new Date(deadline + 15 * 60_000);
  const body: Record<string, unknown> = {
    type: "export",
    outputBlobContainerUri: jobContainerUrl(s, "rwd", expires),
    outputBlobName: "scopes/devices.txt",
    excludeKeysInExport: true,
    storageAuthenticationType: s.mode,
  };
  if (s.mode === "identityBased" && s.options.userAssignedIdentity) body.identity = { userAssignedIdentity: s.options.userAssignedIdentity };
  let job = await createJob(client, body, deadline);
  result.jobIds.push(job.jobId);
  job = await waitForJob(client, job, "reading edge scopes", o, deadline);
  if (String(job.status).toLowerCase() !== "completed") throw new Error(`devices: export job ${job.jobId} ${job.status}${job.failureReason ? `: ${String(job.failureReason)}` : ""}`);
  const scopes = new Map<string, string>();
  for await (const text of readBlobLines(s, "scopes/devices.txt")) {
    // Only edge devices matter (~4% of a fleet), so the map stays small.
    if (!mayBeEdgeDevice(text)) continue;
    const p = parseLine(text);
    if (p.ok && !p.line.moduleId && p.line.capabilities?.iotEdge && p.line.deviceScope) scopes.set(p.line.id, p.line.deviceScope);
  }
  return scopes;
}
