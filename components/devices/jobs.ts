/**
 * Import/export jobs: start one (waiting out JobQuotaExceeded, adopting our own job when it is
 * already there), poll it with backoff under our own deadline, and read its error log. The SAS
 * URLs are minted here per job, passed to the hub and dropped: never logged, never stored.
 */
import { UserError } from "../errors";
import type { HubClient, JobProperties } from "./hub-client";
import { classifyHubError } from "./hub-errors";
import { errorStatus, isJobQuotaExceeded, sleep } from "./retry";
import { deleteBlob, jobContainerUrl, readBlobLines, Staging } from "./staging";
import type { ImportFailure, Phase } from "./types";

export const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const ACTIVE = new Set(["enqueued", "running", "queued", "scheduled", "unknown"]);

export interface JobSpec {
  type: "import" | "export";
  /** export: the devices blob the job writes; import: the blob it reads. */
  blobName: string;
  excludeKeysInExport?: boolean;
  includeConfigurations?: boolean;
  configurationsBlobName?: string;
}

export interface JobContext {
  deadline: number;
  /** SAS tokens expire this long after the job's deadline (default 15 min). */
  sasGraceMs?: number;
  poll: { min: number; max: number };
  signal?: AbortSignal;
  log: (line: string) => void;
  progress?: (percent: number) => void;
  /** Job ids that failed earlier in this run: never adopt them again. */
  knownFailed?: Set<string>;
  /**
   * Adopt a *completed* job for the same blob (default): right for a resumable run, whose blob
   * names are its own. A one-shot operation says false: a finished job with its blob name is an
   * earlier call's, and its blob is stale or gone.
   */
  adoptCompleted?: boolean;
  /** When this step first tried to create its job (epoch ms): finds it when `GET /jobs` blanks blob names. */
  createdAfter?: number;
  /** How long a storage refusal is retried with identity-based staging (default STORAGE_PROPAGATION_MS). */
  storagePropagationMs?: number;
}

function sameJob(j: JobProperties, spec: JobSpec): boolean {
  if (j.type?.toLowerCase() !== spec.type) return false;
  const name = spec.type === "export" ? j.outputBlobName : j.inputBlobName;
  return name === spec.blobName;
}

/** Clock skew allowed between this machine and the hub when matching a job by its start time. */
const SKEW_MS = 5 * 60_000;

/**
 * Our own job already on the hub (started by a run that died before recording its id): found by
 * its blob name. `GET /jobs` may blank the blob names (a CLI fixture of a listed export job has
 * `"outputBlobContainerUri": ""`; service-behaviours.md §5): then, when the step recorded when it
 * first tried to create its job (`createdAfter`), a job of the same type started since is ours.
 * Never a second job for the step: an unidentifiable candidate is waited for, not ignored.
 */
export async function findOwnJob(hub: HubClient, spec: JobSpec, knownFailed?: Set<string>, adoptCompleted = true, createdAfter?: number): Promise<JobProperties | undefined> {
  const jobs = await hub.listJobs();
  const live = (Array.isArray(jobs) ? jobs : []).filter((j) => j.type?.toLowerCase() === spec.type && !knownFailed?.has(j.jobId) && j.status !== "failed" && j.status !== "cancelled");
  const pick = (mine: JobProperties[]) => mine.find((j) => ACTIVE.has(j.status)) ?? (adoptCompleted ? mine.find((j) => j.status === "completed") : undefined);
  const byName = pick(live.filter((j) => sameJob(j, spec)));
  if (byName || createdAfter === undefined) return byName;
  return pick(live.filter((j) => namelessSince(j, spec, createdAfter)));
}

/** A job of the spec's type whose blob name the list left out, started since `createdAfter` (our create attempt). */
function namelessSince(j: JobProperties, spec: JobSpec, createdAfter: number | undefined): boolean {
  if (createdAfter === undefined || j.type?.toLowerCase() !== spec.type) return false;
  if (spec.type === "export" ? j.outputBlobName : j.inputBlobName) return false;
  // Only a job still running: a finished nameless job may be an earlier generation's (seconds old),
  // and starting this step's job again after it is harmless, adopting the wrong one is not.
  if (!ACTIVE.has(j.status)) return false;
  const t = Date.parse(String(j.startTimeUtc ?? j.createdTimeUtc ?? ""));
  return Number.isFinite(t) ? t >= createdAfter - SKEW_MS : true;
}

export function jobBody(staging: Staging, spec: JobSpec, expiresOn: Date): Record<string, unknown> {
  const body: Record<string, unknown> = { type: spec.type, storageAuthenticationType: staging.mode };
  if (staging.mode === "identityBased" && staging.options.userAssignedIdentity) body.identity = { userAssignedIdentity: staging.options.userAssignedIdentity };
  if (spec.type === "export") {
    body.outputBlobContainerUri = jobContainerUrl(staging, "rwd", expiresOn);
    body.outputBlobName = spec.blobName;
    body.excludeKeysInExport = spec.excludeKeysInExport ?? false;
  } else {
    body.inputBlobContainerUri = jobContainerUrl(staging, "r", expiresOn);
    body.outputBlobContainerUri = jobContainerUrl(staging, "rwd", expiresOn);
    body.inputBlobName = spec.blobName;
  }
  if (spec.includeConfigurations) {
    body.includeConfigurations = true;
    body.configurationsBlobName = spec.configurationsBlobName;
  }
  return body;
}

/**
 * Starts the job, or returns the one already running/completed for the same blob. On
 * JobQuotaExceeded (another job holds the hub's single import/export slot) waits for that job
 * instead of failing, then tries again, until the deadline.
 */
export async function startJob(hub: HubClient, staging: Staging, spec: JobSpec, ctx: JobContext, beforeCreate?: () => Promise<void>): Promise<JobProperties> {
  const own = await findOwnJob(hub, spec, ctx.knownFailed, ctx.adoptCompleted, ctx.createdAfter);
  if (own) {
    ctx.log(`devices: ${hub.field} hub: attaching to ${spec.type} job ${own.jobId} (${own.status}) started by an earlier run`);
    return own;
  }
  let storageWaitUntil: number | undefined;
  let storageDelay = ctx.poll.min;
  for (;;) {
    if (Date.now() > ctx.deadline) throw deadlineError(spec.type, hub.field);
    await beforeCreate?.();
    try {
      const expiresOn = new Date(ctx.deadline + (ctx.sasGraceMs ?? 15 * 60_000));
      return await hub.createJob(jobBody(staging, spec, expiresOn));
    } catch (err) {
      const storage = storageRejection(err);
      if (storage !== undefined) {
        // A role assignment for the hub's identity takes minutes to reach storage (Microsoft's own
        // CLI test waits 60 s more once it is visible: service-behaviours.md §3): with
        // identity-based staging the same refusal is retried for a while, within the deadline. A
        // SAS we minted ourselves does not get better by waiting.
        if (staging.mode === "identityBased") {
          storageWaitUntil ??= Math.min(ctx.deadline, Date.now() + (ctx.storagePropagationMs ?? STORAGE_PROPAGATION_MS));
          if (Date.now() + storageDelay < storageWaitUntil) {
            ctx.log(`devices: ${hub.field} hub refused the staging container (${storage}); the identity's storage role may still be propagating, trying again in ${Math.round(storageDelay / 1000)} s`);
            await sleep(storageDelay, ctx.signal);
            storageDelay = Math.min(60_000, storageDelay * 2);
            continue;
          }
        }
        throw stagingRejected(staging, hub.field, spec.type, storage);
      }
      if (!isJobQuotaExceeded(err)) throw err;
      const jobs = await hub.listJobs();
      const active = (Array.isArray(jobs) ? jobs : []).find((j) => ACTIVE.has(j.status));
      // Ours, created by a POST whose answer was lost and then retried (by name, or by time when the list blanks names).
      if (active && !ctx.knownFailed?.has(active.jobId) && (sameJob(active, spec) || namelessSince(active, spec, ctx.createdAfter))) return active;
      ctx.log(`devices: ${hub.field} hub: another ${active?.type ?? "import/export"} job (${active?.jobId ?? "unknown"}) holds the hub's job slot; waiting for it`);
      if (active) await waitJob(hub, active.jobId, { ...ctx, progress: undefined }, spec.type);
      else await sleep(ctx.poll.min, ctx.signal);
    }
  }
}

/** How long a storage refusal is retried with identity-based staging (role assignments propagate in minutes). */
export const STORAGE_PROPAGATION_MS = 10 * 60_000;

/**
 * The service's reason when `POST /jobs/create` refused the job over its storage (400 naming the
 * blob, container, SAS or identity: IH400007 "Unable to access blob", 400008
 * BlobContainerValidationError — azure-iot-cli-extension#93, Azure-Samples/azure-iot-samples-csharp#128);
 * undefined for any other error. The job body's other fields are the engine's own, so a 400 that
 * speaks of storage is about storage.
 */
export function storageRejection(err: unknown): string | undefined {
  if (errorStatus(err) !== 400) return undefined;
  const c = classifyHubError(err);
  const text = `${c.name ?? ""} ${c.message ?? ""} ${(err as { message?: string })?.message ?? ""}`;
  if (c.code === "400007" || c.code === "400008" || /IH400007|BlobContainerValidation|blob|container|storage|\bSAS\b|signature|identity|authori[sz]ation|permission|expired/i.test(text)) {
    return (c.message ?? c.name ?? "400").replace(/https?:\/\/\S+/g, "<url>").slice(0, 200);
  }
  return undefined;
}

/** The engine's one message for a staging container a job could not use, at create time or as the job's failure. */
export function stagingRejected(staging: Staging, hubField: string, type: string, reason: string): UserError {
  const identity = staging.mode === "identityBased";
  return new UserError(
    `the ${hubField} hub's ${type} job could not use the staging container (${reason.replace(/https?:\/\/\S+/g, "<url>").slice(0, 200)}); check that the staging account is reachable from the hub, ${identity ? "the hub's identity has the Storage Blob Data Contributor role on it (a new role assignment can take 10 minutes to apply)" : "its key is current"}, and jobDeadlineMs is long enough`,
    identity ? "staging.authentication" : "staging.connectionString",
  );
}

function deadlineError(what: string, field: string): UserError {
  return new UserError(`the ${what} on the ${field} hub did not finish before the deadline; rerun with the same runId to attach to the running job, or raise deadlineMs`, "deadlineMs");
}

/** Polls until the job is terminal (backoff between min and max), reporting progress. */
export async function waitJob(hub: HubClient, jobId: string, ctx: JobContext, what: string): Promise<JobProperties> {
  let interval = ctx.poll.min;
  let lastPercent = -1;
  for (;;) {
    const job = await hub.getJob(jobId);
    const percent = Math.max(0, Math.min(100, Number(job.progress ?? 0)));
    if (percent !== lastPercent) {
      lastPercent = percent;
      ctx.progress?.(percent);
    }
    if (TERMINAL.has(job.status)) return job;
    if (Date.now() + interval > ctx.deadline) throw deadlineError(what, hub.field);
    await sleep(interval, ctx.signal);
    interval = Math.min(ctx.poll.max, Math.round(interval * 1.5));
  }
}

/** Streams `importErrors.log` (or `importConfigErrors.log`) to `onError`; an absent log means no errors. Returns the line count. */
export async function readImportErrors(staging: Staging, blobName: string, onError: (f: ImportFailure) => void): Promise<number> {
  let count = 0;
  try {
    for await (const line of readBlobLines(staging, blobName)) {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      count++;
      const f: ImportFailure = { deviceId: String(e.deviceId ?? e.configurationId ?? e.id ?? ""), errorCode: String(e.errorCode ?? ""), errorStatus: String(e.errorStatus ?? "") };
      if (e.moduleId) f.moduleId = String(e.moduleId);
      onError(f);
    }
  } catch (err) {
    if (!(err instanceof UserError) || !/is missing/.test(err.message)) throw err;
  }
  return count;
}

export async function removeErrorLogs(staging: Staging): Promise<void> {
  await deleteBlob(staging, "importErrors.log");
  await deleteBlob(staging, "importConfigErrors.log");
}

export function failureMessage(job: JobProperties, what: string, field: string): string {
  const reason = job.failureReason ? String(job.failureReason).slice(0, 300) : "no reason given";
  return `${field} hub: ${what} job ${job.jobId} ${job.status}: ${reason}`;
}

export type { Phase };
