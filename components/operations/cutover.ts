/**
 * `hubclone cutover`: moves a wave of devices to the clone the way Microsoft's guide suggests —
 * a desired property the device firmware watches (`properties.desired.iotHubHostName` by default)
 * set to the clone's host name, by ONE scheduled twin-update job on the original (not one patch
 * per device), plus one "pin" job on the clone setting the same value there. `--rollback` runs
 * the mirror image: the move job on the clone (devices that moved read the clone's twin) with the
 * original's host name, pinned on the original. These desired-property jobs are the one write to
 * the original hub the operations make besides decommission, and a rollback's --reconcile (which
 * copies the devices changed on the clone back into the original first: rollback.ts).
 */
import { randomBytes } from "crypto";
import type { LocalEndpoints } from "../devices/local-hub";
import { classifyHubError } from "../devices/hub-errors";
import { concurrentScheduledJobs, formatDuration, jobDeviceOperationsPerSecond, scheduledJobSeconds, SLOWEST_JOB_TIER, waveLifetimeSeconds, type HubSku } from "../devices/pace";
import { errorStatus, retryAfterMs } from "../devices/retry";
import { UserError } from "../errors";
import { countQuery, hubUserError, jobClientOf, registryOf, retryTransient, type HubTarget } from "./hubs";
import { checkCloneChanges, type CloneChanges } from "./rollback";
import { differenceSummary, notMovedFilter, verifyDeviceSets, type DevicesSummary } from "./verify";

export interface CutoverOptions {
  original: HubTarget;
  clone: HubTarget;
  /** WHERE condition selecting the wave, e.g. `tags.wave = 1`. Default: every device. */
  query?: string;
  /** Desired property the firmware watches (dotted path below properties.desired). */
  property?: string;
  rollback?: boolean;
  /** Follow the job to completion (default true). */
  wait?: boolean;
  local?: LocalEndpoints;
  /** Job lifetime on the hub (default: sized on the wave and the hub's tier, see waveLifetimeSeconds). */
  maxExecutionTimeInSeconds?: number;
  /** Our own deadline for following the job (default: the job's lifetime + 5 minutes). */
  deadlineMs?: number;
  /**
   * Tiers of the two hubs (`--source-sku`/`--sku`): a job's pace and lifetime follow the tier of
   * the hub it runs on (the move job on the original for a cutover, the pin job on the clone).
   * Unknown: S1's pace, the slowest tier with jobs, so a lifetime is never short.
   */
  originalSku?: HubSku;
  cloneSku?: HubSku;
  /**
   * How long to wait for a free job slot when the hub answers 429 ThrottlingMaxActiveJobCountExceeded
   * (another scheduled job runs there; 1 at a time on Free/S1). Default: the wave's job lifetime.
   */
  slotWaitMs?: number;
  pollIntervalMs?: { min: number; max: number };
  onProgress?: (line: string) => void;
}

export interface CutoverResult {
  direction: "cutover" | "rollback";
  /** Hub the job ran on (the original for a cutover, the clone for a rollback). */
  jobHub: string;
  jobId: string;
  condition: string;
  property: string;
  /** Host name written into the desired property. */
  value: string;
  status: string;
  targeted: number;
  updated: number;
  failed: number;
  pending: number;
  /** The pin job on the hub the devices go to (same property, same value: "stay here"). */
  pin?: { jobHub: string; jobId: string; status: string; targeted: number; updated: number; failed: number };
  /** Devices of the wave that report the new host (`properties.reported.<property>`), counted on the hub they moved to. */
  reportingNewHub?: number;
  failureReason?: string;
}

/** Every device: a condition true for any registered device, in the subset of the query language every hub supports. */
export const ALL_DEVICES = "status = 'enabled' OR status = 'disabled'";

const PROPERTY = /^[A-Za-z_$][\w-]*(\.[A-Za-z_$][\w-]*)*$/;

/** Checks the inputs before anything is written (pure). */
export function validateCutover(o: { property?: string; query?: string; original: HubTarget; clone: HubTarget }): void {
  const property = o.property ?? "iotHubHostName";
  if (!PROPERTY.test(property)) throw new UserError("must be a property path like iotHubHostName or connection.hostName", "--property");
  if (o.query !== undefined) {
    const q = o.query.trim();
    if (!q) throw new UserError("is empty: give a WHERE condition such as \"tags.wave = 1\"", "--query");
    if (/^\s*select\b/i.test(q) || /\bfrom\s+devices\b/i.test(q)) throw new UserError("takes only the WHERE condition, e.g. \"tags.wave = 1\", not a whole SELECT", "--query");
    const bare = unquotedValue(q);
    if (bare) throw new UserError(`compares with ${bare.value}, which is not quoted: quote the value and the whole condition, e.g. --query "${bare.path} ${bare.op} '${bare.value}'"`, "--query");
  }
  if (o.original.hostName.toLowerCase() === o.clone.hostName.toLowerCase())
    throw new UserError("the original and the clone are the same hub: pass the clone's connection string", "--clone-connection-string");
}

/**
 * `tags.building = north`: the query language reads `north` as a property path, so the wave would
 * silently select no device. A bare word (not a number, true/false/null, nor a dotted path) on
 * the right of a comparison is a string the user forgot to quote (pure).
 */
export function unquotedValue(condition: string): { path: string; op: string; value: string } | undefined {
  const unquoted = condition.replace(/'(?:[^']|'')*'|"[^"]*"/g, "''");
  const m = /([A-Za-z_$][\w$.-]*)\s*(=|!=|<>|<=|>=|<|>)\s*([A-Za-z_][\w-]*)(?![\w.(])/.exec(unquoted);
  if (!m || /^(true|false|null|and|or|not)$/i.test(m[3])) return undefined;
  return { path: m[1], op: m[2], value: m[3] };
}

/** The service's own message from an azure-iothub error (any of its body forms: hub-errors.ts), one line. */
export function serviceMessage(err: unknown): string {
  const c = classifyHubError(err);
  if (c.message) return `${c.code ?? c.name ?? ""} ${c.message}`.trim();
  const e = err as { message?: string };
  return (e?.message ?? String(err)).replace(/^Error:\s*/, "").split("\n")[0];
}

/**
 * Asks `hub` for one row of the wave, so a WHERE condition the hub rejects fails as one line
 * naming --query before anything runs: before the verification's export jobs and before any job.
 * Resolves whether any device matches.
 */
export async function checkWaveQuery(hub: HubTarget, condition: string, field: string, local?: LocalEndpoints): Promise<boolean> {
  const page = await retryTransient(() => registryOf(hub, local).createQuery(`SELECT * FROM devices WHERE ${condition}`, 1).next()).catch((e) => {
    throw waveQueryError(e, hub, field, "check the wave's query");
  });
  return Array.isArray(page.result) && page.result.length > 0;
}

/** A 400 on a wave's query is the user's condition (one line naming --query); the rest as hubUserError. */
function waveQueryError(e: unknown, hub: HubTarget, field: string, what: string): unknown {
  if ((e as { response?: { statusCode?: number } }).response?.statusCode === 400)
    return new UserError(`${hub.name} rejected the condition (${serviceMessage(e)}): give a WHERE condition such as "tags.wave = 1"`, "--query");
  return hubUserError(e, hub, field, what);
}

/** The twin patch of the job: the property as a nested object; `etag: "*"` as the service requires for job patches. */
export function cutoverPatch(property: string, value: string): { etag: string; properties: { desired: Record<string, unknown> } } {
  const desired: Record<string, unknown> = {};
  let node = desired;
  const parts = property.split(".");
  parts.forEach((p, i) => {
    if (i === parts.length - 1) node[p] = value;
    else node = (node[p] = {}) as Record<string, unknown>;
  });
  return { etag: "*", properties: { desired } };
}

/** The reporting query: the wave's devices that report the new host. */
export function reportingQuery(condition: string, property: string, host: string): string {
  return `SELECT * FROM devices WHERE (${condition}) AND properties.reported.${property} = '${host}'`;
}

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface JobStatus {
  jobId?: string;
  status?: string;
  failureReason?: string;
  deviceJobStatistics?: { deviceCount?: number; failedCount?: number; succeededCount?: number; runningCount?: number; pendingCount?: number };
}

function summarise(direction: CutoverResult["direction"], jobHub: HubTarget, condition: string, property: string, value: string, s: JobStatus, jobId: string): CutoverResult {
  const st = s.deviceJobStatistics ?? {};
  return {
    direction,
    jobHub: jobHub.name,
    jobId,
    condition,
    property,
    value,
    status: s.status ?? "unknown",
    targeted: st.deviceCount ?? 0,
    updated: st.succeededCount ?? 0,
    failed: st.failedCount ?? 0,
    pending: (st.pendingCount ?? 0) + (st.runningCount ?? 0),
    ...(s.failureReason ? { failureReason: s.failureReason } : {}),
  };
}

function newJobId(kind: string): string {
  return `hubclone-${kind}-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}-${randomBytes(3).toString("hex")}`;
}

const TRANSIENT = new Set([429, 500, 503]);
const GET_JOB_ATTEMPTS = 6;

/**
 * Reads the job, retrying what the service calls transient (429 honouring Retry-After, 500, 503):
 * the SDK never retries, and a job followed for an hour must not be abandoned with a stack trace
 * on one throttled poll. Out of attempts, one line says the job still runs and how to watch it.
 */
async function getJobRetrying(jobs: ReturnType<typeof jobClientOf>, hub: HubTarget, field: string, jobId: string, baseMs: number): Promise<JobStatus> {
  for (let attempt = 1; ; attempt++) {
    try {
      return ((await jobs.getJob(jobId)).jobStatus ?? {}) as JobStatus;
    } catch (e) {
      const res = (e as { response?: { statusCode?: number; headers?: Record<string, string | undefined> } }).response;
      const status = res?.statusCode ?? 0;
      if (!TRANSIENT.has(status)) throw hubUserError(e, hub, field, `follow job ${jobId}`);
      if (attempt >= GET_JOB_ATTEMPTS)
        throw new UserError(`lost track of job ${jobId} on ${hub.name} (HTTP ${status} ${attempt} times); it keeps running there: watch the wave with --status`, field);
      const retryAfter = Number(res?.headers?.["retry-after"]);
      await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : Math.min(baseMs * 2 ** attempt, 30_000));
    }
  }
}

/**
 * A 429 from the job API: too many active jobs (429004) or plain throttling; both are waited out.
 * Read with the engine's one error classifier (hub-errors.ts): every body format, the
 * `iothub-errorcode` header, and the wait a 429 without Retry-After states in its message.
 */
export function jobThrottle(e: unknown): { slot: boolean; retryAfterMs?: number } | undefined {
  if (errorStatus(e) !== 429) return undefined;
  const c = classifyHubError(e);
  // Over the tier's concurrent-job limit the service answers 429 ThrottlingMaxActiveJobCountExceeded
  // (429004): azure-iot-sdk-csharp#361, service-behaviours.md §7.
  const slot = c.kind === "jobQuota" || /ThrottlingMaxActiveJobCountExceeded|429004/.test(`${c.code ?? ""} ${c.name ?? ""}`);
  const wait = retryAfterMs(e) ?? c.waitMs;
  return { slot, ...(wait !== undefined && wait > 0 ? { retryAfterMs: wait } : {}) };
}

/**
 * Creates a job, waiting out 429s (a busy job slot, or throttling) until `waitUntil`: a wave queued
 * behind another job starts when the slot frees instead of failing. Other errors are thrown as is.
 */
export async function scheduleWaitingForSlot<T>(
  schedule: () => Promise<T>,
  o: { waitUntil: number; pollMs?: { min: number; max: number }; onWait?: (line: string) => void; describe: string; now?: () => number; sleep?: (ms: number) => Promise<void> },
): Promise<T> {
  const now = o.now ?? Date.now;
  const wait = o.sleep ?? sleep;
  let interval = o.pollMs?.min ?? 5_000;
  let said = false;
  for (;;) {
    try {
      return await schedule();
    } catch (e) {
      const t = jobThrottle(e);
      if (!t) throw e;
      const delay = Math.max(t.retryAfterMs ?? interval, 100);
      if (now() + delay > o.waitUntil)
        throw new UserError(
          `${o.describe}: ${t.slot ? "no job slot became free (another scheduled job still runs there)" : "still throttled (429)"} within the wait; run the wave when it is done, or raise --max-execution-seconds`,
          "cutover",
        );
      if (!said || !t.slot) o.onWait?.(`${o.describe}: ${t.slot ? "waiting for a free job slot (another scheduled job runs there)" : "throttled (429), retrying"}`);
      said = true;
      await wait(delay);
      interval = Math.min(interval * 2, o.pollMs?.max ?? 60_000);
    }
  }
}

/** Schedules one twin-update job on `hub` and, unless told not to wait, follows it to a terminal state. */
async function scheduleAndFollow(
  o: CutoverOptions,
  hub: HubTarget,
  sku: HubSku | undefined,
  field: string,
  label: string,
  jobId: string,
  condition: string,
  patch: ReturnType<typeof cutoverPatch>,
): Promise<JobStatus> {
  const jobs = jobClientOf(hub, o.local);
  const tier = sku ?? SLOWEST_JOB_TIER;
  const devices = await countQuery(registryOf(hub, o.local), `SELECT * FROM devices WHERE ${condition}`).catch((e) => Promise.reject(hubUserError(e, hub, field, "count the wave")));
  const maxExec = o.maxExecutionTimeInSeconds ?? waveLifetimeSeconds(devices, tier);
  // Said before the job starts: how long the wave takes at the hub's pace (pace.ts).
  o.onProgress?.(
    `${label}: ${devices} device(s) on ${hub.name}, ${formatDuration(scheduledJobSeconds(devices, tier))} at ${tier.name}${(tier.capacity ?? 1) > 1 ? `x${tier.capacity}` : ""}'s ` +
      `${jobDeviceOperationsPerSecond(tier)} job device operations/s${sku ? "" : " (tier not given: the slowest assumed; pass --sku/--source-sku)"}; job lifetime ${maxExec} s`,
  );
  const slotWaitMs = o.slotWaitMs ?? maxExec * 1000;
  const started = Date.now();
  let status: JobStatus;
  try {
    const scheduled = await scheduleWaitingForSlot(() => jobs.scheduleTwinUpdate(jobId, condition, patch, new Date(), maxExec), {
      waitUntil: Date.now() + slotWaitMs,
      describe: `${label}: ${hub.name} (${tier.name}: ${concurrentScheduledJobs(tier)} scheduled job(s) at a time)`,
      pollMs: o.pollIntervalMs ? { min: o.pollIntervalMs.min, max: Math.max(o.pollIntervalMs.max, o.pollIntervalMs.min) } : undefined,
      onWait: o.onProgress,
    });
    status = (scheduled.jobStatus ?? {}) as JobStatus;
  } catch (e) {
    if (e instanceof UserError) throw e;
    const err = e as { response?: { statusCode?: number }; message?: string };
    if (err.response?.statusCode === 400) throw new UserError(`${hub.name} rejected the job (${serviceMessage(e)}): check the WHERE condition`, "--query");
    throw hubUserError(e, hub, field, "schedule the twin update job");
  }
  o.onProgress?.(`${label}: job ${jobId} scheduled on ${hub.name} for devices where ${condition}`);
  if (o.wait === false) return status;
  // The command's deadline: the wait for a slot (a 429, or a job the hub keeps queued behind
  // another), then the job's lifetime, which counts from its start, plus 5 minutes.
  const deadline = started + (o.deadlineMs ?? slotWaitMs + (maxExec + 300) * 1000);
  let interval = o.pollIntervalMs?.min ?? 1000;
  while (!TERMINAL.has(status.status ?? "")) {
    if (Date.now() > deadline) throw new UserError(`job ${jobId} on ${hub.name} did not finish in time (status ${status.status}); follow it with --status`, "--max-execution-seconds");
    await sleep(interval);
    interval = Math.min(interval * 2, o.pollIntervalMs?.max ?? 15_000);
    status = await getJobRetrying(jobs, hub, field, jobId, o.pollIntervalMs?.min ?? 1000);
    const st = status.deviceJobStatistics ?? {};
    o.onProgress?.(`${label}: ${status.status} — ${st.succeededCount ?? 0}/${st.deviceCount ?? 0} updated, ${st.failedCount ?? 0} failed`);
  }
  return status;
}

/** Sizing of a wave's jobs on the hubs' tiers (pace.ts); kept here for the callers that import it. */
export { waveLifetimeSeconds };

/**
 * One wave. The move job runs on the hub the devices leave (the original for a cutover, the
 * clone for a rollback) and sets the property to the other hub's host name. Before it, a "pin"
 * job sets the same value on the hub the devices go to, so a device arriving there reads "stay
 * here": without it, a cutover after a rollback would find the clone's twins still naming the
 * original and bounce the devices straight back (and a rollback would leave devices not yet
 * moved told to move). Both jobs write only the one desired property.
 */
export async function runCutover(o: CutoverOptions): Promise<CutoverResult> {
  validateCutover(o);
  const property = o.property ?? "iotHubHostName";
  const condition = o.query?.trim() || ALL_DEVICES;
  const direction = o.rollback ? "rollback" : "cutover";
  const fromHub = o.rollback ? o.clone : o.original;
  const toHub = o.rollback ? o.original : o.clone;
  const fromField = o.rollback ? "--clone-connection-string" : "--source-connection-string";
  const toField = o.rollback ? "--source-connection-string" : "--clone-connection-string";
  const patch = cutoverPatch(property, toHub.hostName);

  const pinId = newJobId(`${direction}-pin`);
  const fromSku = o.rollback ? o.cloneSku : o.originalSku;
  const toSku = o.rollback ? o.originalSku : o.cloneSku;
  const pin = await scheduleAndFollow(o, toHub, toSku, toField, `${direction} (pin on ${toHub.name})`, pinId, condition, patch);
  const jobId = newJobId(direction);
  const move = await scheduleAndFollow(o, fromHub, fromSku, fromField, direction, jobId, condition, patch);

  const result = summarise(direction, fromHub, condition, property, toHub.hostName, move, jobId);
  const p = summarise(direction, toHub, condition, property, toHub.hostName, pin, pinId);
  result.pin = { jobHub: p.jobHub, jobId: p.jobId, status: p.status, targeted: p.targeted, updated: p.updated, failed: p.failed };
  if (o.wait !== false) {
    // Devices that moved report on the hub they moved to.
    result.reportingNewHub = await countQuery(registryOf(toHub, o.local), reportingQuery(condition, property, toHub.hostName)).catch((e) => {
      throw hubUserError(e, toHub, toField, "count reporting devices");
    });
  }
  return result;
}

export interface WaveStatus {
  direction: "cutover" | "rollback";
  condition: string;
  property: string;
  value: string;
  /** Devices matching the wave on the hub the job runs on. */
  inWave: number;
  /** Of those, how many have the desired property set to the new host (the job reached them). */
  pointed: number;
  /** Devices of the wave reporting the new host on the hub they moved to. */
  reporting: number;
}

/** Watch a wave without writing anything: three counting queries. */
export async function waveStatus(o: Pick<CutoverOptions, "original" | "clone" | "query" | "property" | "rollback" | "local">): Promise<WaveStatus> {
  validateCutover(o);
  const property = o.property ?? "iotHubHostName";
  const condition = o.query?.trim() || ALL_DEVICES;
  const jobHub = o.rollback ? o.clone : o.original;
  const newHub = o.rollback ? o.original : o.clone;
  const jobRegistry = registryOf(jobHub, o.local);
  const count = (hub: HubTarget, sql: string) =>
    countQuery(hub === jobHub ? jobRegistry : registryOf(hub, o.local), sql).catch((e) => {
      throw waveQueryError(e, hub, hub === o.original ? "--source-connection-string" : "--clone-connection-string", "query the wave");
    });
  const [inWave, pointed, reporting] = await Promise.all([
    count(jobHub, `SELECT * FROM devices WHERE ${condition}`),
    count(jobHub, `SELECT * FROM devices WHERE (${condition}) AND properties.desired.${property} = '${newHub.hostName}'`),
    count(newHub, reportingQuery(condition, property, newHub.hostName)),
  ]);
  return { direction: o.rollback ? "rollback" : "cutover", condition, property, value: newHub.hostName, inWave, pointed, reporting };
}

export function describeWaveStatus(w: WaveStatus): string {
  return [
    `${w.direction} status for devices where ${w.condition}:`,
    `  in the wave: ${w.inWave}`,
    `  told to move (desired.${w.property} = ${w.value}): ${w.pointed}`,
    `  reporting ${w.value} (reported.${w.property}): ${w.reporting}`,
  ].join("\n");
}

/**
 * Exit code of a wave: 1 when the move job or its pin failed, or any device update in either did
 * (a device whose pin was missed can bounce back), else 0 (pure).
 */
export function cutoverExitCode(r: CutoverResult): number {
  const failed = (j: { status: string; failed: number } | undefined) => !!j && (j.status === "failed" || j.status === "cancelled" || j.failed > 0);
  return failed(r) || failed(r.pin) ? 1 : 0;
}

export function describeCutover(r: CutoverResult): string {
  return [
    `${r.direction}: job ${r.jobId} on ${r.jobHub}: ${r.status}`,
    `  set properties.desired.${r.property} = ${r.value} where ${r.condition}`,
    `  devices targeted ${r.targeted}, updated ${r.updated}, failed ${r.failed}${r.pending ? `, still pending ${r.pending}` : ""}`,
    ...(r.pin ? [`  pinned on ${r.pin.jobHub} (job ${r.pin.jobId}: ${r.pin.status}): ${r.pin.updated} of ${r.pin.targeted} twins there name ${r.value} too`] : []),
    ...(r.reportingNewHub !== undefined ? [`  devices of this wave reporting ${r.value}: ${r.reportingNewHub}`] : []),
    ...(r.failureReason ? [`  failure: ${r.failureReason}`] : []),
  ].join("\n");
}

export interface GuardedCutoverOptions extends CutoverOptions {
  /** Staging container for the pre-cutover verification exports (not needed for rollback or --force). */
  staging?: import("../devices").StagingOptions;
  force?: boolean;
  /** Rollback: copy the moved devices' clone-side changes into the original first (rollback.ts). */
  reconcile?: boolean;
  /** Rollback: go back without the moved devices' clone-side changes (they are listed). */
  discardCloneChanges?: boolean;
  /** Schedule a wave that selects no device (otherwise an error, also with force). */
  allowEmpty?: boolean;
}

export type CutoverGate = { kind: "verified"; devices: DevicesSummary } | { kind: "forced" } | { kind: "rollback"; cloneChanges: CloneChanges };

/**
 * Refuses a cutover whose clone does not verify (the cutover property excepted); never blocks a
 * rollback. Devices of earlier waves that moved are left out of the comparison.
 */
export async function cutoverGate(o: GuardedCutoverOptions): Promise<CutoverGate> {
  if (o.rollback) {
    // Never blocked by verification; but sending devices to an original that no longer has them
    // (after decommission) would strand them, so that alone stops a rollback unless forced.
    if (!o.force) await checkRollbackTarget(o);
    // What changed on the clone since the wave moved is kept (--reconcile), given up on purpose
    // (--discard-clone-changes), or stops the rollback, listed.
    const cloneChanges = await checkCloneChanges({ ...o, log: o.onProgress });
    return { kind: "rollback", cloneChanges };
  }
  if (o.force) return { kind: "forced" };
  if (!o.staging) throw new UserError("the pre-cutover verification needs a staging container (or pass --force)", "--staging-connection-string");
  const devices = await verifyDeviceSets({
    source: o.original,
    clone: o.clone,
    staging: o.staging,
    local: o.local,
    maxDifferences: 1000,
    ignoreDesiredProperty: o.property ?? "iotHubHostName",
    filter: notMovedFilter(o.property ?? "iotHubHostName", o.clone.hostName),
    pollIntervalMs: o.pollIntervalMs,
  });
  if (!devices.ok)
    throw new UserError(`refused: the clone does not verify (${differenceSummary(devices)}): run a delta sync and retry, or pass --force`, "cutover");
  return { kind: "verified", devices };
}

/** Refuses a rollback when the wave's devices are not all registered on the original. */
async function checkRollbackTarget(o: GuardedCutoverOptions): Promise<void> {
  const condition = o.query?.trim() || ALL_DEVICES;
  const sql = `SELECT * FROM devices WHERE ${condition}`;
  const [onClone, onOriginal] = await Promise.all([
    countQuery(registryOf(o.clone, o.local), sql).catch((e) => Promise.reject(hubUserError(e, o.clone, "--clone-connection-string", "counting the wave"))),
    countQuery(registryOf(o.original, o.local), sql).catch((e) => Promise.reject(hubUserError(e, o.original, "--source-connection-string", "counting the wave"))),
  ]);
  if (onOriginal < onClone)
    throw new UserError(
      `refused: ${onClone - onOriginal} of the wave's ${onClone} devices are not registered on ${o.original.name} (decommissioned?); ` +
        `devices sent there could not connect. Restore them from the decommission backup first, or pass --force`,
      "rollback",
    );
}

/** Validate, gate, then run: what the command does. */
export async function guardedCutover(o: GuardedCutoverOptions): Promise<{ gate: CutoverGate; result: CutoverResult }> {
  validateCutover(o);
  // A wave of no device is a mistake (a misspelt tag, an unquoted value), also with --force.
  const condition = o.query?.trim() || ALL_DEVICES;
  const jobHub = o.rollback ? o.clone : o.original;
  const any = await checkWaveQuery(jobHub, condition, o.rollback ? "--clone-connection-string" : "--source-connection-string", o.local);
  if (!any && !o.allowEmpty)
    throw new UserError(`no device matches "${condition}" on ${jobHub.name}: check the query (tag names, values, quotes); nothing was scheduled. Pass --allow-empty to schedule the wave anyway`, "--query");
  const gate = await cutoverGate(o);
  const result = await runCutover(o);
  return { gate, result };
}
