/**
 * The implementation behind `DeviceMigration`'s serialized provider shim (device-migration.ts).
 * Loaded with `require()` at call time inside the provider host, so ordinary imports are fine
 * here: this file is never serialized (only the shim in device-migration.ts is). Validation is pure and exported for tests.
 *
 * Credentials: connection strings arrive as (unwrapped) secret inputs in check/create/update.
 * `delete` only sees outputs, so when `deleteDevicesOnDestroy` is on, the clone's and the staging
 * account's connection strings are echoed into outputs that DeviceMigration lists in
 * `additionalSecretOutputs` (they are already in state as secret inputs; this adds no exposure)
 * and `pulumi destroy` needs nothing extra. Otherwise no credential is ever an output. Failing
 * those, delete reads them at call time: the local endpoints file, then the environment
 * (HUBCLONE_CLONE_CONNECTION_STRING, HUBCLONE_STAGING_CONNECTION_STRING), then Microsoft Entra ID
 * on the recorded host name / account URL.
 */
import * as crypto from "crypto";
import type * as pulumi from "@pulumi/pulumi";
import { UserError, type Finding } from "../errors";
import { redact } from "../secrets";
import type { DeviceMigrationOutputs, DeviceMigrationSettings } from "./device-migration";
import * as engine from "./index";
import type { LocalEndpoints } from "./local-hub";
import { engineLocal, loadLocalEndpoints, localHubConnectionString, localStagingConnectionString } from "./provider-local";
import { openStaging, readJsonBlob } from "./staging";
import { compileFilter } from "./transform";
import type { CopyOptions, CopyResult, HubConnection, Progress, StagingOptions } from "./types";

/** Pulumi's marker for a value not known during preview. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const isUnknown = (v: unknown) => v === UNKNOWN;

/** Inputs after `check` applied the defaults: the settings plus the (unwrapped secret) credentials. */
export interface DeviceMigrationInputs extends DeviceMigrationSettings {
  sourceConnectionString?: string;
  cloneConnectionString?: string;
  stagingConnectionString?: string;
}

/** Outputs plus the bookkeeping the provider needs to resume (all non-secret). */
export interface DeviceMigrationState extends DeviceMigrationOutputs {
  /** False when the last create/update stopped early: the next update resumes that run. */
  succeeded: boolean;
  /** Delta syncs started so far (passed to the engine as its sync generation). */
  syncSequence: number;
}

export const DEFAULTS = {
  stagingContainerName: "device-migration",
  storageAuthenticationType: "keyBased" as const,
  importMode: "createOrUpdate" as const,
  includeConfigurations: true,
  syncGeneration: 0,
  deleteMissing: false,
  deleteDevicesOnDestroy: false,
  timeoutMinutes: 240, // = devices.timeoutMinutes' default (components/config.ts: a hosted CI job's limit)
};

/** Fields copied from inputs into outputs (diff and delete only see outputs). */
const ECHOED = [
  "sourceHubHostName", "cloneHubHostName", "stagingContainerName", "stagingAccountUrl", "storageAuthenticationType",
  "userAssignedIdentity", "importMode", "filter", "includeConfigurations", "syncGeneration", "deleteMissing",
  "deleteDevicesOnDestroy", "timeoutMinutes", "localEndpointsFile",
] as const;
/** Changing one of these runs a delta sync; other echoed fields are recorded for the next run. */
const SYNC_TRIGGERS = ["syncGeneration", "filter"] as const;
/** Changing one of these replaces the resource (a different pair of hubs is a different migration). */
const REPLACE_TRIGGERS = ["sourceHubHostName", "cloneHubHostName"] as const;

const HOST_RE = /^(?=.{4,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i;
const CONTAINER_RE = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;
const DEVICE_ID_RE = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;

function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i).trim().toLowerCase()] = part.slice(i + 1).trim();
  }
  return out;
}

/** `https://<account>.blob.<suffix>` (or the BlobEndpoint) of a storage connection string: not a secret. */
export function stagingAccountUrlOf(connectionString: string | undefined): string | undefined {
  if (!connectionString) return undefined;
  const p = parseConnectionString(connectionString);
  if (p.blobendpoint) return p.blobendpoint.split("?")[0].replace(/\/+$/, "");
  if (!p.accountname) return undefined;
  return `${p.defaultendpointsprotocol || "https"}://${p.accountname}.blob.${p.endpointsuffix || "core.windows.net"}`;
}

/**
 * Field-level validation of the inputs (pure). Values of secret fields never appear in a
 * message. Unknown values (preview) are skipped.
 */
export function validateDeviceMigrationInputs(news: Record<string, unknown>, olds?: Record<string, unknown>): Finding[] {
  const f: Finding[] = [];
  const known = (k: string) => news[k] !== undefined && news[k] !== null && !isUnknown(news[k]);
  const str = (k: string) => (known(k) ? news[k] : undefined);

  for (const k of ["sourceHubHostName", "cloneHubHostName"]) {
    const v = news[k];
    if (isUnknown(v)) continue;
    if (typeof v !== "string" || v === "") f.push({ field: k, message: "is required: the hub's host name, e.g. myhub.azure-devices.net" });
    else if (!HOST_RE.test(v) || v.includes("://") || v.includes(":")) f.push({ field: k, message: `"${v}" is not a host name; give only <hub>.azure-devices.net (no scheme, port or path)` });
  }
  if (known("sourceHubHostName") && known("cloneHubHostName") && String(news.sourceHubHostName).toLowerCase() === String(news.cloneHubHostName).toLowerCase()) {
    f.push({ field: "cloneHubHostName", message: "must differ from sourceHubHostName: the original hub is read-only to the migration" });
  }

  for (const [k, hostKey] of [["sourceConnectionString", "sourceHubHostName"], ["cloneConnectionString", "cloneHubHostName"]] as const) {
    const v = str(k);
    if (v === undefined) continue;
    if (typeof v !== "string") { f.push({ field: k, message: "must be a string (an IoT hub connection string, secret)" }); continue; }
    const p = parseConnectionString(v);
    if (!p.hostname || !p.sharedaccesskeyname || !p.sharedaccesskey) {
      f.push({ field: k, message: "is not an IoT hub connection string (it needs HostName, SharedAccessKeyName and SharedAccessKey); copy it from the hub's shared access policies" });
    } else if (p.deviceid) {
      f.push({ field: k, message: "is a device connection string; use a hub policy's (iothubowner or registryReadWrite)" });
    } else if (known(hostKey) && p.hostname.toLowerCase() !== String(news[hostKey]).toLowerCase()) {
      f.push({ field: k, message: `names host ${p.hostname} but ${hostKey} is ${String(news[hostKey])}; pass the connection string of that hub` });
    }
  }

  const auth = str("storageAuthenticationType");
  if (auth !== undefined && auth !== "keyBased" && auth !== "identityBased") {
    f.push({ field: "storageAuthenticationType", message: `"${String(auth)}" is not supported; use keyBased or identityBased` });
  }
  const stagingCs = str("stagingConnectionString");
  if (stagingCs !== undefined) {
    if (typeof stagingCs !== "string" || !/AccountName=|BlobEndpoint=/i.test(stagingCs)) {
      f.push({ field: "stagingConnectionString", message: "is not a storage account connection string (it needs AccountName and AccountKey, or BlobEndpoint)" });
    } else if ((auth ?? "keyBased") === "keyBased" && !/AccountKey=/i.test(stagingCs)) {
      f.push({ field: "stagingConnectionString", message: "has no AccountKey, so no job SAS can be minted; use the account's key connection string or storageAuthenticationType identityBased" });
    }
  } else if ((auth ?? "keyBased") === "keyBased" && !isUnknown(news.stagingConnectionString)) {
    f.push({ field: "stagingConnectionString", message: "is required for keyBased staging; pass the staging account's connection string (secret) or set storageAuthenticationType to identityBased with stagingAccountUrl" });
  }
  if (auth === "identityBased" && stagingCs === undefined && !known("stagingAccountUrl") && !isUnknown(news.stagingAccountUrl)) {
    f.push({ field: "stagingAccountUrl", message: "is required for identityBased staging without a connection string: https://<account>.blob.core.windows.net" });
  }
  const url = str("stagingAccountUrl");
  if (url !== undefined && (typeof url !== "string" || !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url))) {
    f.push({ field: "stagingAccountUrl", message: "must be the blob endpoint URL without a SAS, e.g. https://<account>.blob.core.windows.net" });
  }
  const container = str("stagingContainerName");
  if (container !== undefined && (typeof container !== "string" || !CONTAINER_RE.test(container))) {
    f.push({ field: "stagingContainerName", message: "must be 3-63 lowercase letters, digits or single hyphens, starting and ending with a letter or digit" });
  }
  const uai = str("userAssignedIdentity");
  if (uai !== undefined && (typeof uai !== "string" || !/^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.managedidentity\/userassignedidentities\/[^/]+$/i.test(uai))) {
    f.push({ field: "userAssignedIdentity", message: "must be the identity's ARM id (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)" });
  }
  const mode = str("importMode");
  if (mode !== undefined && mode !== "createOrUpdate" && mode !== "create") {
    f.push({ field: "importMode", message: `"${String(mode)}" is not supported; use createOrUpdate (default) or create` });
  }

  const filter = str("filter");
  if (filter !== undefined) {
    if (typeof filter !== "object" || Array.isArray(filter)) {
      f.push({ field: "filter", message: "must be an object: { deviceIds?: string[], query?: string }" });
    } else {
      const fl = filter as Record<string, unknown>;
      for (const key of Object.keys(fl)) {
        if (key !== "deviceIds" && key !== "query") f.push({ field: `filter.${key}`, message: "is not a filter option; use deviceIds or query" });
      }
      if (fl.deviceIds !== undefined && !isUnknown(fl.deviceIds)) {
        if (!Array.isArray(fl.deviceIds) || fl.deviceIds.length === 0) f.push({ field: "filter.deviceIds", message: "must be a non-empty list of device ids (omit it to copy every device)" });
        else fl.deviceIds.forEach((id, i) => {
          if (isUnknown(id)) return;
          if (typeof id !== "string" || !DEVICE_ID_RE.test(id)) f.push({ field: `filter.deviceIds[${i}]`, message: "is not a valid device id (1-128 letters, digits or - . % _ * ? ! ( ) , : = @ $ ')" });
        });
      }
      if (fl.query !== undefined && !isUnknown(fl.query)) {
        if (typeof fl.query !== "string" || fl.query.trim() === "") f.push({ field: "filter.query", message: "must be a non-empty condition, e.g. tags.env = 'prod' AND status = 'enabled'" });
        else {
          const problem = queryProblem(fl.query);
          if (problem) f.push({ field: "filter.query", message: problem });
        }
      }
    }
  }

  for (const k of ["includeConfigurations", "deleteMissing", "deleteDevicesOnDestroy", "forceOverwriteTarget"]) {
    const v = str(k);
    if (v !== undefined && typeof v !== "boolean") f.push({ field: k, message: "must be true or false" });
  }
  const gen = str("syncGeneration");
  if (gen !== undefined) {
    if (typeof gen !== "number" || !Number.isInteger(gen) || gen < 0) f.push({ field: "syncGeneration", message: "must be a whole number ≥ 0; increase it to run a delta sync" });
    else if (olds && typeof olds.syncGeneration === "number" && gen < olds.syncGeneration) {
      f.push({ field: "syncGeneration", message: `went down from ${olds.syncGeneration} to ${gen}; it only increases (set it to ${olds.syncGeneration + 1} to sync again)` });
    }
  }
  const timeout = str("timeoutMinutes");
  if (timeout !== undefined && (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 1 || timeout > 7 * 24 * 60)) {
    f.push({ field: "timeoutMinutes", message: "must be a whole number of minutes between 1 and 10080 (a week)" });
  }
  const local = str("localEndpointsFile");
  if (local !== undefined && (typeof local !== "string" || local === "")) f.push({ field: "localEndpointsFile", message: "must be a path such as .local/endpoints.json" });
  return f;
}

/** The engine's filter parser when it is there; a field-level message for a query it rejects. */
function queryProblem(query: string): string | undefined {
  try {
    compileFilter({ query }, "filter.query");
    return undefined;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return msg.replace(/^filter\.query:\s*/, "");
  }
}

/** Inputs with defaults applied (unknown values kept as they are). */
export function withDefaults(news: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...news };
  for (const [k, v] of Object.entries(DEFAULTS)) if (out[k] === undefined || out[k] === null) out[k] = v;
  if (out.filter && typeof out.filter === "object" && !isUnknown(out.filter)) {
    const fl = out.filter as Record<string, unknown>;
    if (fl.deviceIds === undefined && fl.query === undefined) delete out.filter;
  }
  return out;
}

export async function check(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.CheckResult> {
  const failures = validateDeviceMigrationInputs(news, olds && Object.keys(olds).length ? olds : undefined);
  return { inputs: withDefaults(news), failures: failures.map((x) => ({ property: x.field, reason: x.message })) };
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v ?? null;
}

export async function diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.DiffResult> {
  const n = withDefaults(news);
  const o = withDefaults(olds);
  const replaces = REPLACE_TRIGGERS.filter((k) => isUnknown(n[k]) || String(n[k] ?? "").toLowerCase() !== String(o[k] ?? "").toLowerCase());
  const changed = ECHOED.filter((k) => isUnknown(n[k]) || !sameValue(n[k], o[k]));
  // A run that stopped early is resumed by the next update even when no input changed.
  const unfinished = olds.succeeded === false;
  return {
    changes: changed.length > 0 || unfinished,
    replaces: [...replaces],
    // With the same clone, the old resource's delete-on-destroy must not remove what the new one copies.
    deleteBeforeReplace: replaces.length > 0,
  };
}

/** Throttles engine progress into `devices: …` lines for `pulumi up` (every 10% or 15 s per phase). */
function progressPrinter(print: (line: string) => void): (p: Progress) => void {
  let phase = "";
  let lastPct = -100;
  let lastAt = 0;
  let lastMessage = "";
  return (p) => {
    const pct = p.percent ?? (p.total ? (100 * p.done) / p.total : undefined);
    const now = Date.now();
    const newPhase = p.phase !== phase;
    if (p.message === lastMessage) return;
    if (newPhase || (pct !== undefined && pct - lastPct >= 10) || now - lastAt >= 15_000 || p.phase === "done") {
      lastMessage = p.message;
      phase = p.phase;
      lastPct = pct ?? lastPct;
      lastAt = now;
      const msg = p.message.startsWith("devices:") ? p.message : `devices: ${p.message}`;
      print(redact(msg));
    }
  };
}

/** The local endpoints (emulator + Azurite) when the inputs ask for the local hub. */
function localEndpointsFor(file: string | undefined): LocalEndpoints | undefined {
  return file ? loadLocalEndpoints(file, "localEndpointsFile") : undefined;
}

function hubConnection(connectionString: string | undefined, hostName: string): HubConnection {
  return connectionString ? { connectionString } : { hostName };
}

function stagingOptions(i: DeviceMigrationInputs): StagingOptions {
  return {
    connectionString: i.stagingConnectionString,
    accountUrl: i.stagingAccountUrl,
    containerName: i.stagingContainerName,
    authentication: i.storageAuthenticationType,
    userAssignedIdentity: i.userAssignedIdentity,
  };
}

function engineOptions(i: DeviceMigrationInputs, runId: string, print: (l: string) => void): CopyOptions {
  const deadlineMs = i.timeoutMinutes * 60_000;
  return {
    source: hubConnection(i.sourceConnectionString, i.sourceHubHostName),
    clone: hubConnection(i.cloneConnectionString, i.cloneHubHostName),
    staging: stagingOptions(i),
    runId,
    importMode: i.importMode,
    filter: i.filter,
    includeConfigurations: i.includeConfigurations,
    deleteMissing: i.deleteMissing,
    forceOverwriteTarget: i.forceOverwriteTarget === true,
    deadlineMs,
    local: engineLocal(localEndpointsFor(i.localEndpointsFile)),
    onProgress: progressPrinter(print),
    log: (line) => print(redact(line.startsWith("devices:") ? line : `devices: ${line}`)),
    verify: true,
    maxFailuresReported: 10,
    // Our own deadline (customTimeouts are not enforced for dynamic providers): abort between steps.
    signal: AbortSignal.timeout(deadlineMs + 60_000),
  };
}

/**
 * Outputs as plain JSON: the provider host turns them into a protobuf Struct, which rejects
 * `undefined` ("Unexpected struct type"), so absent optional fields must be dropped, not undefined.
 */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function echoed(i: DeviceMigrationInputs): Pick<DeviceMigrationOutputs, (typeof ECHOED)[number]> {
  const out: Record<string, unknown> = {};
  for (const k of ECHOED) out[k] = i[k];
  // The account URL is not a secret and lets delete reach the container through Entra ID.
  out.stagingAccountUrl = i.stagingAccountUrl ?? stagingAccountUrlOf(i.stagingConnectionString);
  // Delete only sees outputs: keep what it needs, as secret outputs (see the file comment).
  if (i.deleteDevicesOnDestroy) {
    if (i.cloneConnectionString) out.cloneConnectionString = i.cloneConnectionString;
    if (i.stagingConnectionString) out.stagingConnectionString = i.stagingConnectionString;
  }
  return out as Pick<DeviceMigrationOutputs, (typeof ECHOED)[number]>;
}

function outputsFrom(i: DeviceMigrationInputs, runId: string, op: "copy" | "sync", r: CopyResult, syncSequence: number): DeviceMigrationState {
  return {
    ...echoed(i),
    runId,
    generation: r.sync?.generation ?? 1,
    lastOperation: op,
    exported: r.exported,
    exportedModules: r.exportedModules,
    imported: r.imported,
    failed: r.failed,
    verified: r.verified,
    mismatchCount: r.mismatchCount,
    reparented: r.reparented,
    deleted: r.deleted,
    configurations: r.configurations,
    failures: r.failures.slice(0, 10).map((x) => ({ deviceId: x.deviceId, ...(x.moduleId ? { moduleId: x.moduleId } : {}), errorCode: String(x.errorCode), errorStatus: redact(String(x.errorStatus ?? "")) })),
    mismatches: r.mismatches.slice(0, 10).map((m) => ({ id: m.id, ...(m.moduleId ? { moduleId: m.moduleId } : {}), fields: m.fields })),
    jobIds: r.jobIds,
    durationsMs: r.durationsMs,
    completedAt: new Date().toISOString(),
    succeeded: r.failed === 0 && r.mismatchCount === 0,
    syncSequence,
  };
}

/** Outputs for a run that stopped before the engine returned (so the next update resumes it). */
function unfinishedOutputs(i: DeviceMigrationInputs, runId: string, op: "copy" | "sync", prior: Partial<DeviceMigrationState>, syncSequence: number): DeviceMigrationState {
  return {
    exported: 0, exportedModules: 0, imported: 0, failed: 0, verified: 0, mismatchCount: 0, reparented: 0, deleted: 0,
    configurations: { exported: 0, imported: 0, failed: 0 }, failures: [], mismatches: [], jobIds: {}, durationsMs: {},
    generation: 0, completedAt: "",
    ...prior,
    ...echoed(i),
    runId,
    lastOperation: op,
    succeeded: false,
    syncSequence,
  } as DeviceMigrationState;
}

/**
 * An error Pulumi records as "created but failed to initialize" (the host packs `id` and
 * `properties` into ErrorResourceInitFailed): the state keeps the runId, and the next `pulumi up`
 * calls update, which resumes the run from its checkpoint instead of starting over.
 */
class InitFailure extends Error {
  constructor(message: string, readonly id: string, readonly properties: DeviceMigrationState, readonly reasons: string[]) {
    super(message);
    this.properties = plain(properties);
  }
}

function failureSummary(s: DeviceMigrationState): string {
  const parts: string[] = [];
  if (s.failed > 0) {
    const first = s.failures[0];
    parts.push(`${s.failed} line(s) failed to import${first ? ` (first: ${first.deviceId}${first.moduleId ? "/" + first.moduleId : ""} ${first.errorCode} ${first.errorStatus})` : ""}`);
  }
  if (s.mismatchCount > 0) {
    const m = s.mismatches[0];
    parts.push(`${s.mismatchCount} device(s) differ between original and clone${m ? ` (first: ${m.id} ${m.fields.join(",")})` : ""}`);
  }
  return `devices: ${parts.join("; ")}. Fix the cause and run pulumi up again: the next update resumes with a delta sync.`;
}

function describe(err: unknown): string {
  if (err instanceof UserError) return err.message;
  if (err instanceof Error) return err.name === "TimeoutError" || err.name === "AbortError" ? `the run passed its deadline (timeoutMinutes); run pulumi up again to resume from the checkpoint` : err.message;
  return String(err);
}

async function run(op: "copy" | "sync", i: DeviceMigrationInputs, runId: string, prior: Partial<DeviceMigrationState>, syncSequence: number): Promise<DeviceMigrationState> {
  const print = (line: string) => console.log(line);
  print(`devices: ${op === "copy" ? "full copy" : `delta sync #${syncSequence}`} ${i.sourceHubHostName} → ${i.cloneHubHostName} (run ${runId})`);
  let result: CopyResult;
  try {
    const o = engineOptions(i, runId, print);
    result = op === "copy" ? await engine.copyDevices(o) : await engine.syncDevices({ ...o, generation: syncSequence });
  } catch (err) {
    const state = unfinishedOutputs(i, runId, op, prior, syncSequence);
    const message = redact(`devices: ${op} stopped: ${describe(err)}`);
    throw new InitFailure(message, runId, state, [message]);
  }
  const state = plain(outputsFrom(i, runId, op, result, syncSequence));
  print(
    `devices: ${op} done: exported ${state.exported} (+${state.exportedModules} modules), imported ${state.imported} lines, ` +
      `failed ${state.failed}, verified ${state.verified}, mismatches ${state.mismatchCount}`,
  );
  if (!state.succeeded) throw new InitFailure(failureSummary(state), runId, state, [failureSummary(state)]);
  return state;
}

export function inputsOf(news: Record<string, unknown>): DeviceMigrationInputs {
  const failures = validateDeviceMigrationInputs(news);
  // check already rejected bad inputs; this guards direct callers (tests, other tools).
  if (failures.length) throw new UserError(failures.map((x) => `${x.field}: ${x.message}`).join("; "));
  return withDefaults(news) as unknown as DeviceMigrationInputs;
}

/** A checkpoint key: letters, digits, `-` (stable for the life of the resource). */
export function newRunId(cloneHubHostName: string): string {
  const hub = cloneHubHostName.split(".")[0].toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 40);
  return `dm-${hub}-${crypto.randomBytes(4).toString("hex")}`;
}

/**
 * The run id of a new DeviceMigration. A first `pulumi up` killed from outside (a cancelled
 * pipeline, a lost runner) leaves no resource in the state, so the next `pulumi up` calls create
 * again: with a random id it would copy from the start and leave the killed run's key-holding
 * blobs behind. The id is therefore derived from the two hubs and the staging container, and an
 * UNFINISHED checkpoint under it is resumed. A finished one is never reused (a new resource for the
 * same hubs is a fresh copy): then, or when the checkpoint cannot be read, a random id as before.
 * A replacement cannot collide: it happens only when a hub host name changes (REPLACE_TRIGGERS).
 */
export async function createRunId(i: DeviceMigrationInputs): Promise<string> {
  const hub = i.cloneHubHostName.split(".")[0].toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 40);
  const key = [i.sourceHubHostName, i.cloneHubHostName, i.stagingContainerName].map((x) => String(x ?? "").toLowerCase()).join("|");
  const base = `dm-${hub}-${crypto.createHash("sha256").update(key).digest("hex").slice(0, 8)}`;
  try {
    const staging = await openStaging(stagingOptions(i));
    const ck = await readJsonBlob<{ phase?: string }>(staging, `runs/${base}/checkpoint.json`);
    if (!ck || ck.phase !== "done") return base;
  } catch {
    // Unreadable staging: the run itself reports it; resuming is only an optimisation.
  }
  return newRunId(i.cloneHubHostName);
}

export async function create(news: Record<string, unknown>): Promise<pulumi.dynamic.CreateResult> {
  const i = inputsOf(news);
  const runId = await createRunId(i);
  const outs = await run("copy", i, runId, {}, 0);
  return { id: runId, outs };
}

export async function update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.UpdateResult> {
  const i = inputsOf(news);
  const prior = olds as unknown as Partial<DeviceMigrationState>;
  const runId = prior.runId || id;
  const seq = prior.syncSequence ?? 0;
  if (prior.succeeded === false) {
    // Resume what stopped: the engine's checkpoint (same runId / generation) picks it up.
    const outs = prior.lastOperation === "sync" ? await run("sync", i, runId, prior, seq) : await run("copy", i, runId, prior, seq);
    return { outs };
  }
  const o = withDefaults(olds);
  const n = withDefaults(news);
  if (SYNC_TRIGGERS.some((k) => !sameValue(n[k], o[k]))) {
    return { outs: await run("sync", i, runId, prior, seq + 1) };
  }
  // Only settings changed (e.g. deleteDevicesOnDestroy, timeoutMinutes): record them for later runs.
  return { outs: plain({ ...prior, ...echoed(i), lastOperation: "settings" }) };
}

export async function read(id: string, props: Record<string, unknown>): Promise<pulumi.dynamic.ReadResult> {
  // Devices are not re-read on refresh: the recorded counts describe the last run.
  return { id, props };
}

/** Credentials for delete, read at call time (never stored): see the file comment. */
export function deleteCredentials(
  s: Partial<DeviceMigrationState>,
  env: NodeJS.ProcessEnv = process.env,
): { clone: HubConnection; staging: StagingOptions; local?: LocalEndpoints } {
  const local = localEndpointsFor(s.localEndpointsFile);
  const cloneHost = String(s.cloneHubHostName);
  let cloneCs: string | undefined = s.cloneConnectionString || undefined;
  let stagingCs: string | undefined = s.stagingConnectionString || undefined;
  if (local) {
    cloneCs ??= localHubConnectionString(local, cloneHost, "cloneHubHostName");
    stagingCs ??= localStagingConnectionString(local);
  }
  const envClone = env.HUBCLONE_CLONE_CONNECTION_STRING;
  if (!cloneCs && envClone && parseConnectionString(envClone).hostname?.toLowerCase() === cloneHost.toLowerCase()) cloneCs = envClone;
  stagingCs ??= env.HUBCLONE_STAGING_CONNECTION_STRING || undefined;
  const auth = s.storageAuthenticationType ?? "keyBased";
  if (auth === "keyBased" && !stagingCs) {
    throw new UserError(
      "deleting the imported devices needs the staging account's key, and the state has none (the resource predates deleteDevicesOnDestroy: run pulumi up once with it set, or set HUBCLONE_STAGING_CONNECTION_STRING for pulumi destroy), or set deleteDevicesOnDestroy to false",
      "deleteDevicesOnDestroy",
    );
  }
  return {
    clone: cloneCs ? { connectionString: cloneCs } : { hostName: cloneHost },
    staging: { connectionString: stagingCs, accountUrl: s.stagingAccountUrl, containerName: String(s.stagingContainerName ?? DEFAULTS.stagingContainerName), authentication: auth, userAssignedIdentity: s.userAssignedIdentity },
    local,
  };
}

export async function deleteResource(_id: string, props: Record<string, unknown>): Promise<void> {
  const s = props as unknown as Partial<DeviceMigrationState>;
  if (!s.deleteDevicesOnDestroy) {
    console.log(`devices: leaving the devices in ${String(s.cloneHubHostName)} (deleteDevicesOnDestroy is off)`);
    return;
  }
  if (!s.runId) return; // nothing was ever imported
  const { clone, staging, local } = deleteCredentials(s);
  console.log(`devices: deleting from ${String(s.cloneHubHostName)} the devices run ${s.runId} imported`);
  try {
    const r = await engine.deleteDevices(clone, staging, { importedByRun: s.runId }, {
      local: engineLocal(local),
      deadlineMs: (s.timeoutMinutes ?? DEFAULTS.timeoutMinutes) * 60_000,
      onProgress: progressPrinter((l) => console.log(l)),
      log: (l) => console.log(redact(l)),
    });
    console.log(`devices: deleted ${r.deleted} (already absent ${r.alreadyAbsent}, failed ${r.failed})`);
    if (r.failed > 0) {
      const first = r.failures[0];
      throw new Error(`devices: ${r.failed} device(s) could not be deleted from the clone${first ? ` (first: ${first.deviceId} ${first.errorCode})` : ""}; run pulumi destroy again`);
    }
    await engine.cleanupRun(staging, s.runId);
  } catch (err) {
    throw new Error(redact(err instanceof Error ? err.message : String(err)));
  }
}

export { deleteResource as delete };
