/**
 * The copy/sync run: a small state machine whose every step is recorded in a checkpoint blob
 * (`runs/<runId>/checkpoint.json` in the staging container) before and after it acts, so a run
 * killed at any point resumes where it stopped: a job already started is attached to (found by
 * its id, or by its blob name when the id was never recorded), a stream step is redone from its
 * input blob (its output is overwritten whole), and nothing is imported twice under a different
 * mode. The original hub only ever sees export jobs and reads.
 *
 * Steps (generation g = 1 for the first copy, +1 per delta sync), blobs under runs/<runId>/g<g>/:
 *   export-source  export job on the original (keys + configurations) → source/devices.txt
 *   transform      stream it → import/devices.txt, reparent.tsv, manifest.tsv, import/configurations.txt
 *   import         import job on the clone → importErrors.log → failures
 *   export-clone   (edge children only) export the clone to learn its edge scopes
 *   reparent       children re-parented onto the clone's scopes (second import job, mode update)
 *   verify         export the clone again, compare device by device (verify.ts)
 *   cleanup        delete every blob of the generation except the manifest (they hold every key)
 */
import { randomUUID } from "crypto";
import { UserError } from "../errors";
import { redact } from "../secrets";
import { HubClient, JobProperties } from "./hub-client";
import { CONSISTENCY_WINDOW_MS, RECHECK_LIMIT, recheckDifferences } from "./consistency";
import { classifyHubError, deviceQuotaMessage, kindOfCode } from "./hub-errors";
import { errorStatus, sleep } from "./retry";
import { failureMessage, readImportErrors, removeErrorLogs, stagingRejected, startJob, waitJob, JobContext, JobSpec } from "./jobs";
import { ManifestIndex, manifestLine, parseManifestLine } from "./manifest";
import { acquireRunLock, BlobLineWriter, blobExists, openBlobStream, readBlobLineBatches, blobSize, deleteBlob, deletePrefix, openStaging, readBlobLines, readJsonBlob, Staging, writeJsonBlob } from "./staging";
import { compileFilter, CompiledFilter, edgeIdFromScope, type ExportLine, keylessAuth, lineKey, TEXT_LINE, mayBeEdgeDevice, parseLine, parseReparentEntry, reparentEntry, reparentLine, transformConfigurationLine, transformLine } from "./transform";
import { DROPPED, HAS_PARENT, KEYLESS, MALFORMED, MODULE } from "./transform-batch";
import { TransformPool } from "./transform-pool";
import type { CopyOptions, CopyResult, DeviceDifference, ImportFailure, ImportMode, Phase, Progress } from "./types";
import { compareConfigurationStreams, compareExportBlobs } from "./verify";
import { countDevices, guardDirection } from "./direction-guard";

const ORDER: Phase[] = ["export-source", "transform", "import", "export-clone", "reparent", "verify", "cleanup", "done"];
const MAX_JOB_ATTEMPTS = 3;

export interface Checkpoint {
  version: 1;
  runId: string;
  generation: number;
  /** Caller's generation for this run (CopyOptions.generation), to answer repeated calls. */
  requestedGeneration?: number;
  kind: "copy" | "sync";
  phase: Phase;
  startedAt: string;
  updatedAt: string;
  /** Option fingerprint: a rerun with different options is refused while a run is unfinished. */
  fingerprint: string;
  jobs: Record<string, string>;
  failedJobs: string[];
  attempts: Record<string, number>;
  counts: {
    exported: number;
    exportedModules: number;
    imported: number;
    malformed: number;
    changed: number;
    unchanged: number;
    deletedAtSource: number;
    deleteLines: number;
    reparentPending: number;
    reparented: number;
    configurationsExported: number;
    configurationsImported: number;
    configurationsFailed: number;
    importFailed: number;
    alreadyPresent: number;
    deleteFailed: number;
  };
  failures: ImportFailure[];
  mismatches: DeviceDifference[];
  mismatchCount: number;
  verified: number;
  durationsMs: Record<string, number>;
  /** Manifest blob of the last completed generation (absent before the first completes). */
  manifest?: string;
  /** Keys the last completed generation failed to copy (or verify): this generation sends them again. */
  unsyncedIn?: string;
  /** This generation's failed/mismatched keys (promoted to unsyncedIn when it completes). */
  unsyncedOut?: string;
  /** The last generation's unsynced list overflowed: this one ignores the manifest (full copy). */
  fullSync?: boolean;
  fullSyncOut?: boolean;
  /** An import job of this generation was started once: under importMode create, "already exists" is then ours. */
  importStarted?: boolean;
  /** Per job step: when it first tried to create its job (epoch ms), until the id is recorded. */
  creating?: Record<string, number>;
  result?: CopyResult;
}

/** Thrown by a test hook: behaves like a kill (no cleanup, checkpoint left as it is). */
class SimulatedCrash extends Error {
  constructor(readonly original: unknown) {
    super("simulated crash");
  }
}

async function hook<A extends unknown[]>(fn: ((...a: A) => void | Promise<void>) | undefined, ...args: A): Promise<void> {
  if (!fn) return;
  try {
    await fn(...args);
  } catch (err) {
    throw new SimulatedCrash(err);
  }
}

/** One re-parent list entry, with the child's id; a line this version did not write is an error naming the fix. */
function readReparentEntry(text: string, blobName: string): { parentId: string; importLine: string; id: string } {
  const r = parseReparentEntry(text);
  let id: unknown;
  try {
    id = r && (JSON.parse(r.importLine) as { id?: unknown }).id;
  } catch {
    // reported below
  }
  if (!r || typeof id !== "string") throw new UserError(`${blobName} holds an unreadable line; delete that blob and rerun: the copy goes back to its transform step, which rewrites it`, "staging");
  return { ...r, id };
}

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

function emptyCounts(): Checkpoint["counts"] {
  return { exported: 0, exportedModules: 0, imported: 0, malformed: 0, changed: 0, unchanged: 0, deletedAtSource: 0, deleteLines: 0, reparentPending: 0, reparented: 0, configurationsExported: 0, configurationsImported: 0, configurationsFailed: 0, importFailed: 0, alreadyPresent: 0, deleteFailed: 0 };
}

export function validateCopyOptions(o: CopyOptions): void {
  if (!o || typeof o !== "object") throw new UserError("options are required", "options");
  if (typeof o.runId !== "string" || !/^[A-Za-z0-9_-]{1,80}$/.test(o.runId)) throw new UserError("must be 1-80 letters, digits, '-' or '_' and stay the same across reruns", "runId");
  if (o.fromBackup !== undefined) {
    if (!o.fromBackup || typeof o.fromBackup.devicesBlob !== "string" || !/^[^\s]{1,1024}$/.test(o.fromBackup.devicesBlob)) throw new UserError("must name the backup's devices blob in the staging container (decommission prints it)", "fromBackup.devicesBlob");
    if (o.fromBackup.configurationsBlob !== undefined && (typeof o.fromBackup.configurationsBlob !== "string" || !/^[^\s]{1,1024}$/.test(o.fromBackup.configurationsBlob))) throw new UserError("must be a blob name without spaces", "fromBackup.configurationsBlob");
  } else if (!o.source || (!o.source.connectionString && !o.source.hostName)) throw new UserError("give the original hub's connectionString (secret) or hostName (Entra ID)", "source");
  if (!o.clone || (!o.clone.connectionString && !o.clone.hostName)) throw new UserError(`give the ${o.fromBackup ? "target" : "clone"} hub's connectionString (secret) or hostName (Entra ID)`, o.fromBackup ? "target" : "clone");
  if (!o.staging) throw new UserError("give the staging container (containerName plus connectionString or accountUrl)", "staging");
  if (o.importMode !== undefined && o.importMode !== "createOrUpdate" && o.importMode !== "create") throw new UserError(`'${String(o.importMode)}' is not supported; use createOrUpdate or create`, "importMode");
  for (const k of ["deadlineMs", "jobDeadlineMs"] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isFinite(v) || v <= 0)) throw new UserError("must be a positive number of milliseconds", k);
  }
  if (o.maxFailuresReported !== undefined && (!Number.isInteger(o.maxFailuresReported) || o.maxFailuresReported < 0)) throw new UserError("must be a whole number ≥ 0", "maxFailuresReported");
  if (o.filter?.deviceIds && (!Array.isArray(o.filter.deviceIds) || o.filter.deviceIds.some((d) => typeof d !== "string" || !d))) throw new UserError("must be a list of non-empty device ids", "filter.deviceIds");
  compileFilter(o.filter);
}

function fingerprint(o: CopyOptions): string {
  return JSON.stringify({ m: o.importMode ?? "createOrUpdate", f: o.filter ?? null, c: o.includeConfigurations !== false, d: o.deleteMissing === true, ...(o.fromBackup ? { b: o.fromBackup } : {}) });
}

class Run {
  readonly log: (l: string) => void;
  readonly cap: number;
  readonly prefix: string;
  readonly checkpointBlob: string;
  readonly filter: CompiledFilter | undefined;
  readonly deadline: number;
  readonly poll: { min: number; max: number };
  ck!: Checkpoint;
  staging!: Staging;
  /** Undefined when copying from a backup blob. */
  source: HubClient | undefined;
  clone!: HubClient;

  constructor(readonly o: CopyOptions, readonly kind: "copy" | "sync") {
    const sink = o.log;
    this.log = (l) => sink?.(redact(l));
    this.cap = o.maxFailuresReported ?? 100;
    this.prefix = `runs/${o.runId}/`;
    this.checkpointBlob = `${this.prefix}checkpoint.json`;
    this.filter = compileFilter(o.filter);
    this.deadline = Date.now() + (o.deadlineMs ?? 24 * 3600_000);
    this.poll = o.pollIntervalMs ?? { min: 1000, max: 15_000 };
  }

  get gen(): string {
    return `${this.prefix}g${this.ck.generation}/`;
  }
  blob(name: string): string {
    return this.gen + name;
  }
  /** The export the run copies: the source hub's, or the backup's. */
  get sourceDevicesBlob(): string {
    return this.o.fromBackup?.devicesBlob ?? this.blob("source/devices.txt");
  }
  get sourceConfigurationsBlob(): string | undefined {
    return this.o.fromBackup ? this.o.fromBackup.configurationsBlob : this.blob("source/configurations.txt");
  }

  progress(p: Omit<Progress, "message"> & { label: string }): void {
    const { label, ...rest } = p;
    const pct = rest.percent !== undefined ? ` ${Math.round(rest.percent)}%` : "";
    const counts = rest.total !== undefined ? ` (${fmt(rest.done)}/${fmt(rest.total)})` : rest.unit !== "percent" ? ` (${fmt(rest.done)} ${rest.unit})` : "";
    const message = redact(`devices: ${label}${pct}${counts}`);
    this.o.onProgress?.({ ...rest, message });
    this.log(message);
  }

  async save(phase?: Phase, jobId?: string): Promise<void> {
    if (phase) this.ck.phase = phase;
    this.ck.updatedAt = new Date().toISOString();
    await writeJsonBlob(this.staging, this.checkpointBlob, this.ck);
    await hook(this.o.hooks?.afterCheckpoint, this.ck.phase, { jobId });
  }

  checkAbort(): void {
    if (this.o.signal?.aborted) throw this.o.signal.reason instanceof Error ? this.o.signal.reason : new Error("aborted");
  }

  /**
   * A job's own deadline (its SAS expires 15 minutes later): given, or twice the time the service
   * needs at its documented pace (~70 devices/s: 1,000,000 in about 4 hours), at least one hour.
   */
  jobDeadline(expectedLines: number | undefined): number {
    const estimate = Math.max(3600_000, Math.ceil(((expectedLines ?? this.ck.counts.exported + this.ck.counts.exportedModules) / 70) * 2 * 1000));
    return Math.min(this.deadline, Date.now() + (this.o.jobDeadlineMs ?? estimate));
  }

  jobCtx(label: string, total?: number): JobContext {
    const jobDeadline = this.jobDeadline(total);
    return {
      deadline: jobDeadline,
      poll: this.poll,
      signal: this.o.signal,
      log: this.log,
      knownFailed: new Set(this.ck.failedJobs),
      progress: (percent) => this.progress({ phase: this.ck.phase, label, percent, done: total !== undefined ? Math.round((total * percent) / 100) : percent, total, unit: total !== undefined ? "devices" : "percent" }),
    };
  }

  /**
   * Runs one job to completion, resuming the recorded one. A failed job is retried (a job killed
   * half-way is simply run again: its lines are idempotent) up to MAX_JOB_ATTEMPTS.
   */
  async job(step: string, hub: HubClient, spec: JobSpec, label: string, total?: number, beforeCreate?: () => Promise<void>): Promise<JobProperties> {
    for (;;) {
      this.checkAbort();
      const ctx = this.jobCtx(label, total);
      let id = this.ck.jobs[step];
      if (!id || this.ck.failedJobs.includes(id)) {
        this.ck.attempts[step] = (this.ck.attempts[step] ?? 0) + 1;
        // Recorded before the create call: if the run dies before the job id is saved and the hub's
        // job list has no blob names, a job of this type started since is this step's (jobs.ts findOwnJob).
        const creating = (this.ck.creating ??= {});
        if (!id) {
          creating[step] ??= Date.now();
          await this.save();
        } else creating[step] = Date.now(); // a failed job is never adopted: only jobs started from now
        ctx.createdAfter = creating[step];
        // Jobs this run recorded for its other steps are never this step's (two export jobs on the clone).
        for (const [other, otherId] of Object.entries(this.ck.jobs)) if (other !== step) ctx.knownFailed?.add(otherId);
        const started = await startJob(hub, this.staging, spec, ctx, beforeCreate);
        id = started.jobId;
        if (spec.type === "import") this.ck.importStarted = true;
        await hook(this.o.hooks?.afterJobCreated, step, id);
        this.ck.jobs[step] = id;
        this.log(`devices: ${hub.field} hub: ${spec.type} job ${id} started (${step})`);
        await this.save(undefined, id);
      } else {
        this.log(`devices: ${hub.field} hub: resuming ${step} job ${id}`);
      }
      const t0 = Date.now();
      let done: JobProperties;
      try {
        done = await waitJob(hub, id, ctx, `${spec.type} job`);
      } catch (err) {
        if (errorStatus(err) !== 404 && classifyHubError(err).kind !== "notFound") throw err;
        // The hub no longer knows the recorded job (history is kept 30 days): run the step again.
        this.log(`devices: ${hub.field} hub: job ${id} is unknown to the hub; starting ${step} again`);
        this.ck.failedJobs.push(id);
        delete this.ck.jobs[step];
        await this.save();
        continue;
      }
      this.ck.durationsMs[step] = (this.ck.durationsMs[step] ?? 0) + (Date.now() - t0);
      if (done.status === "completed") return done;
      const message = redact(failureMessage(done, spec.type, hub.field));
      this.ck.failedJobs.push(id);
      await this.save();
      const reason = String(done.failureReason ?? "");
      if (/403002|IotHubQuotaExceeded/i.test(reason)) throw new UserError(deviceQuotaMessage(hub.field), hub.field);
      if (/400007|400008|BlobContainerValidation|AuthenticationFailed|AuthorizationFailure|AuthorizationPermissionMismatch|Unable to access blob|expired/i.test(reason)) throw stagingRejected(this.staging, hub.field, spec.type, reason);
      if (done.status === "cancelled") throw new Error(`${message}; someone cancelled it. Rerun with the same runId to start it again`);
      if ((this.ck.attempts[step] ?? 0) >= MAX_JOB_ATTEMPTS) throw new Error(`${message}; gave up after ${MAX_JOB_ATTEMPTS} attempts. Rerun with the same runId to try again`);
      this.log(`devices: ${message}; starting it again (attempt ${(this.ck.attempts[step] ?? 0) + 1}/${MAX_JOB_ATTEMPTS})`);
    }
  }

  /** Parses both hubs' connections (no call yet): a bad one, or the same hub twice, is refused before anything exists. */
  openHubs(): void {
    if (this.clone) return;
    this.clone = HubClient.open(this.o.clone, this.o.fromBackup ? "target" : "clone", this.o.local, this.log, this.o.signal);
    if (!this.o.fromBackup) {
      this.source = HubClient.open(this.o.source, "source", this.o.local, this.log, this.o.signal);
      if (this.source.hostName.toLowerCase() === this.clone.hostName.toLowerCase()) throw new UserError(`is the same hub as source (${this.source.hostName}); the clone must be another hub`, "clone");
    }
  }

  async open(): Promise<"fresh" | "resume" | "complete"> {
    this.openHubs();
    if (this.o.fromBackup) await this.checkBackup();
    // Fail fast on a wrong key or host before any job starts (reads only).
    if (this.source) this.sourceTotal = (await this.source.statistics()).totalDeviceCount;
    const targetStats = await this.clone.statistics();
    const prev = await readJsonBlob<Checkpoint>(this.staging, this.checkpointBlob);
    await guardDirection(this.staging, {
      runId: this.o.runId,
      source: this.source?.hostName,
      target: this.clone.hostName,
      firstGeneration: !prev,
      force: this.o.forceOverwriteTarget === true,
      deliberate: !!this.o.fromBackup || this.o.writeBackToOriginal === true,
      createOnly: this.o.importMode === "create",
      countTarget: () => countDevices(this.clone, targetStats.totalDeviceCount),
      log: this.log,
    });
    const now = new Date().toISOString();
    let abandoned: Checkpoint | undefined;
    if (prev && prev.phase !== "done") {
      this.ck = prev;
      if (prev.fingerprint === fingerprint(this.o)) {
        this.log(`devices: resuming run ${this.o.runId} generation ${prev.generation} at ${prev.phase}`);
        return "resume";
      }
      // Options changed (a new filter, import mode…) while a generation was unfinished: drop that
      // generation and start it again with the new options, unless one of its jobs still runs.
      if (await this.jobMayRun()) throw new UserError(`run ${this.o.runId} is unfinished with other options and one of its jobs is still running; rerun when it has finished, or rerun with the same options to finish it`, "runId");
      const removed = await deletePrefix(this.staging, this.gen);
      this.log(`devices: options changed: abandoning unfinished generation ${prev.generation} of run ${this.o.runId} (${removed} staging blob(s) deleted)`);
      abandoned = prev;
    }
    if (prev && prev.phase === "done") {
      const asked = this.o.generation;
      const same = this.kind === "copy" || (asked !== undefined && prev.requestedGeneration !== undefined && asked <= prev.requestedGeneration);
      if (same && prev.result) {
        this.ck = prev;
        return "complete";
      }
    }
    const generation = abandoned ? abandoned.generation : prev ? prev.generation + 1 : 1;
    this.ck = {
      version: 1,
      runId: this.o.runId,
      generation,
      requestedGeneration: this.o.generation,
      kind: generation > 1 ? "sync" : this.kind,
      phase: "export-source",
      startedAt: now,
      updatedAt: now,
      fingerprint: fingerprint(this.o),
      jobs: {},
      // Jobs of an abandoned generation are never adopted (same blob names, other options).
      failedJobs: abandoned ? [...abandoned.failedJobs, ...Object.values(abandoned.jobs)] : [],
      attempts: {},
      counts: emptyCounts(),
      failures: [],
      mismatches: [],
      mismatchCount: 0,
      verified: 0,
      durationsMs: {},
      manifest: prev?.manifest,
      unsyncedIn: prev?.unsyncedIn,
      fullSync: prev?.fullSync,
    };
    await this.save();
    return "fresh";
  }
  sourceTotal?: number;

  async execute(): Promise<CopyResult> {
    validateCopyOptions(this.o);
    this.openHubs(); // connection strings and "same hub twice" refused before the staging container is created
    this.staging = await openStaging(this.o.staging, this.log);
    const lock = await acquireRunLock(this.staging, `${this.prefix}lock`, { deadline: this.deadline, log: this.log, signal: this.o.signal });
    try {
      return await this.executeLocked();
    } finally {
      await lock.release();
    }
  }

  async executeLocked(): Promise<CopyResult> {
    const t0 = Date.now();
    const state = await this.open();
    if (state === "complete") return { ...this.ck.result!, alreadyComplete: true };
    try {
      while (this.ck.phase !== "done") {
        this.checkAbort();
        if (await this.rewindIfInputsMissing()) continue;
        const phase = this.ck.phase;
        // The transform's worker thread loads while the export job runs (its start-up is then off the pass).
        if (phase === "export-source") this.startTransformPool();
        const s0 = Date.now();
        await this.step(phase);
        if (phase === "transform" || phase === "verify" || phase === "cleanup") this.ck.durationsMs[phase] = (this.ck.durationsMs[phase] ?? 0) + (Date.now() - s0);
        const next = ORDER[ORDER.indexOf(phase) + 1];
        await this.save(next);
      }
    } catch (err) {
      if (err instanceof SimulatedCrash) throw err.original;
      await this.onFailure(err);
      throw err;
    } finally {
      await this.pool?.close();
      this.pool = undefined;
    }
    this.ck.durationsMs.total = (this.ck.durationsMs.total ?? 0) + (Date.now() - t0);
    const result = this.result();
    this.ck.result = result;
    await this.save("done");
    return result;
  }

  /**
   * A failure we can see (not a kill): when no job of ours can still be using them, delete this
   * generation's staging blobs (they hold every key) and move the checkpoint back to the export,
   * so a rerun redoes the generation. While a job may still run (deadline, abort, a status we could
   * not read) everything stays so the rerun attaches to it.
   */
  async onFailure(err: unknown): Promise<void> {
    if (!this.ck || !this.staging) return;
    const phase = this.ck.phase;
    if (this.o.signal?.aborted || (err instanceof UserError && err.field === "deadlineMs") || (await this.jobMayRun())) {
      this.log(`devices: run ${this.o.runId} stopped at ${phase}; staging blobs kept so a rerun with the same runId attaches to the running job (or call cleanupRun)`);
      return;
    }
    try {
      const removed = await deletePrefix(this.staging, this.gen);
      await removeErrorLogs(this.staging);
      for (const k of Object.keys(this.ck.jobs)) if (!this.ck.failedJobs.includes(this.ck.jobs[k])) this.ck.failedJobs.push(this.ck.jobs[k]);
      Object.assign(this.ck, { phase: "export-source", jobs: {}, creating: undefined, attempts: {}, counts: emptyCounts(), failures: [], mismatches: [], mismatchCount: 0, verified: 0, unsyncedOut: undefined, fullSyncOut: undefined });
      await writeJsonBlob(this.staging, this.checkpointBlob, { ...this.ck, updatedAt: new Date().toISOString() });
      this.log(`devices: run ${this.o.runId} failed at ${phase}; deleted ${removed} staging blob(s) holding device keys; a rerun starts this generation again`);
    } catch (cleanupErr) {
      this.log(`devices: could not clean the staging container after a failure: ${(cleanupErr as Error).message}`);
    }
  }

  /** Is a recorded job of this generation still active (or unknowable)? */
  async jobMayRun(): Promise<boolean> {
    const steps: Array<[string, HubClient | undefined]> = [["sourceExport", this.source], ["import", this.clone], ["cloneExport", this.clone], ["reparent", this.clone], ["verifyExport", this.clone]];
    for (const [step, hub] of steps) {
      const id = this.ck.jobs[step];
      if (!id || !hub || this.ck.failedJobs.includes(id)) continue;
      try {
        const j = await hub.getJob(id);
        if (!["completed", "failed", "cancelled"].includes(j.status)) return true;
      } catch {
        return true;
      }
    }
    return false;
  }

  /**
   * A resumed step whose input blob is gone (deleted by hand, or a cleanup of an older failure)
   * goes back to the step that writes it instead of failing: every step is safe to redo.
   */
  async rewindIfInputsMissing(): Promise<boolean> {
    const c = this.ck.counts;
    const needs: Partial<Record<Phase, Array<[string, Phase]>>> = {
      transform: [["source/devices.txt", "export-source"]],
      import: c.imported + c.deleteLines > 0 ? [["source/devices.txt", "export-source"], ["import/devices.txt", "transform"], ...(c.deleteLines > 0 ? [["deletes.tsv", "transform"] as [string, Phase]] : [])] : [],
      "export-clone": c.reparentPending > 0 ? [["source/devices.txt", "export-source"], ["reparent.tsv", "transform"]] : [],
      reparent: c.reparentPending > 0 ? [["source/devices.txt", "export-source"], ["reparent.tsv", "transform"], ["clone/devices.txt", "export-clone"]] : [],
      verify: this.o.verify === false ? [] : [["source/devices.txt", "export-source"]],
    };
    for (const [name, back] of needs[this.ck.phase] ?? []) {
      const full = name === "source/devices.txt" ? this.sourceDevicesBlob : this.blob(name);
      if (await blobExists(this.staging, full)) continue;
      this.log(`devices: ${full} is missing; going back to ${back}`);
      const from = ORDER.indexOf(back);
      const stepOf: Record<string, Phase> = { sourceExport: "export-source", import: "import", cloneExport: "export-clone", reparent: "reparent", verifyExport: "verify" };
      for (const [step, id] of Object.entries(this.ck.jobs)) {
        if (ORDER.indexOf(stepOf[step]) >= from) {
          this.ck.failedJobs.push(id); // never adopt it again: its output is gone
          delete this.ck.jobs[step];
          delete this.ck.attempts[step];
        }
      }
      await this.save(back);
      return true;
    }
    return false;
  }

  async step(phase: Phase): Promise<void> {
    switch (phase) {
      case "export-source":
        return this.exportSource();
      case "transform":
        return this.transform();
      case "import":
        return this.importMain();
      case "export-clone":
        return this.exportCloneForScopes();
      case "reparent":
        return this.reparent();
      case "verify":
        return this.verify();
      case "cleanup":
        return this.cleanup();
      default:
        return;
    }
  }

  private get includeConfigurations(): boolean {
    return this.o.includeConfigurations !== false;
  }

  /** The backup's blobs must be there (a missing one is the user's to fix, before any job). */
  async checkBackup(): Promise<void> {
    const b = this.o.fromBackup!;
    if (!(await blobExists(this.staging, b.devicesBlob))) throw new UserError(`blob ${b.devicesBlob} is not in container ${this.staging.container.containerName}; give the backup blob decommission printed, in the container it names`, "fromBackup.devicesBlob");
    if (b.configurationsBlob && !(await blobExists(this.staging, b.configurationsBlob))) throw new UserError(`blob ${b.configurationsBlob} is not in container ${this.staging.container.containerName}`, "fromBackup.configurationsBlob");
  }

  async exportSource(): Promise<void> {
    if (!this.source) {
      // open() has checked the backup's blobs.
      this.log(`devices: copying from the backup ${this.o.fromBackup!.devicesBlob} (no export job)`);
      return;
    }
    await this.job(
      "sourceExport",
      this.source,
      { type: "export", blobName: this.blob("source/devices.txt"), excludeKeysInExport: false, includeConfigurations: this.includeConfigurations, configurationsBlobName: this.blob("source/configurations.txt") },
      "export",
      this.sourceTotal,
    );
  }

  /** A delta transform (against the last sync's manifest)? */
  private get delta(): boolean {
    return this.ck.generation > 1 && Boolean(this.ck.manifest) && !this.ck.fullSync;
  }

  /**
   * Without a filter (the usual full copy or sync) the lines are read and transformed in a worker
   * thread, a few batches ahead: the engine's thread only downloads, writes and classifies
   * against the manifest. With a filter, lines are parsed here (the filter reads them).
   */
  private startTransformPool(): void {
    if (this.pool || this.filter) return;
    this.pool = new TransformPool(this.o.importMode ?? "createOrUpdate", this.delta && Boolean(this.ck.unsyncedIn));
  }
  private pool: TransformPool | undefined;

  /**
   * Streams the original's export into the clone's import blob, one line at a time. Also writes
   * the new manifest, the re-parent list and (sync) the delete lines. Redone whole on resume.
   */
  async transform(): Promise<void> {
    const c = this.ck.counts;
    Object.assign(c, { exported: 0, exportedModules: 0, imported: 0, malformed: 0, changed: 0, unchanged: 0, deletedAtSource: 0, deleteLines: 0, reparentPending: 0, configurationsExported: 0 });
    this.ck.failures = this.ck.failures.filter((f) => f.errorCode !== "malformed");
    this.progress({ phase: "transform", label: "transform", done: 0, unit: "lines" });
    const mode = this.o.importMode ?? "createOrUpdate";
    const delta = this.delta;
    const unsynced = new Set<string>();
    // Started during the export (or now, on a resumed run); it loads while the manifest does.
    this.startTransformPool();
    const pool = this.pool;
    this.pool = undefined;
    let manifest: ManifestIndex;
    try {
      manifest = delta ? await ManifestIndex.load(readBlobLines(this.staging, this.ck.manifest!, "manifest")) : ManifestIndex.empty();
      if (delta && this.ck.unsyncedIn) for await (const k of readBlobLines(this.staging, this.ck.unsyncedIn, "unsynced")) unsynced.add(k);
    } catch (err) {
      await pool?.close();
      throw err;
    }
    const out = new BlobLineWriter(this.staging, this.blob("import/devices.txt"));
    // The side lists are a fraction of the import blob's size: smaller blocks, one in flight.
    const reparent = new BlobLineWriter(this.staging, this.blob("reparent.tsv"), { blockSize: 1 << 20, concurrency: 1 });
    const newManifest = new BlobLineWriter(this.staging, this.blob("manifest.tsv"), { blockSize: 1 << 20, concurrency: 1 });
    // The manifest lines of the devices this generation deletes: a delete that fails keeps its line (collectErrors).
    const deletes = new BlobLineWriter(this.staging, this.blob("deletes.tsv"), { blockSize: 1 << 20, concurrency: 1 });
    const writers = [out, reparent, newManifest, deletes];
    // Query filters decide on device lines. Exports list a device's modules right after it, so the
    // last decision answers almost every module line; the set holds only the devices the filter
    // took (the user's selection), and a module met before its device waits (bounded) until the end.
    const included = this.filter && !this.filter.idsOnly ? new Set<string>() : undefined;
    let last: { id: string; ok: boolean } | undefined;
    const pendingModules: string[] = [];
    let atEnd = false;
    const every = 10_000;
    const hookEvery = this.o.hooks?.transformHookEveryLines ?? every;
    let lines = 0;
    // Synchronous per line; a promise only when a writer sent a batch out (back-pressure to honour).
    // Lines without keys: importing them makes the hub generate new keys (refused below unless allowed).
    let keylessCount = 0;
    let firstKeyless: string | undefined;
    const keyless = (key: string | undefined) => {
      keylessCount++;
      firstKeyless ??= key;
    };
    const malformed = (id: string | undefined, reason: string, at = lines): undefined => {
      c.malformed++;
      if (this.ck.failures.length < this.cap) this.ck.failures.push({ deviceId: id ?? "", errorCode: "malformed", errorStatus: `export line ${fmt(at)}: ${reason}` });
      return undefined;
    };
    /** One transformed line to the writers: manifest always, import (and re-parent) when new or changed. */
    const write = (id: string, moduleId: string | undefined, importLine: string, contentHash: string, parentId: string | undefined): Promise<unknown> | undefined => {
      if (moduleId) c.exportedModules++;
      else c.exported++;
      const w1 = newManifest.write(manifestLine(id, moduleId, contentHash));
      const kind = manifest.classify(moduleId ? `${id}/${moduleId}` : id, contentHash);
      if (kind === "unchanged" && !unsynced.has(moduleId ? `${id}/${moduleId}` : id)) {
        c.unchanged++;
        return w1;
      }
      c.changed++;
      const w2 = out.write(importLine);
      c.imported++;
      let w3: Promise<void> | undefined;
      if (parentId) {
        w3 = reparent.write(reparentEntry(parentId, importLine));
        c.reparentPending++;
      }
      return w1 || w2 || w3 ? Promise.all([w1, w2, w3]) : undefined;
    };
    // A line the filter leaves out is still at the source: not a deletion, and its manifest entry
    // (if any) is carried over as it was.
    const leaveOut = (l: { id: string; moduleId?: string }): undefined => {
      manifest.leftOut(lineKey(l));
      return undefined;
    };
    // With a query/id filter: parse here (the filter reads the parsed line; modules may wait for their device).
    const emit = (text: string): Promise<unknown> | undefined => {
      const p = parseLine(text);
      if (!p.ok && lines === 1 && p.reason === TEXT_LINE) {
        this.log("devices: transform: skipped the export's first line: a note from the hub, not a device");
        return;
      }
      if (!p.ok) return malformed(p.id, p.reason);
      const l = p.line;
      if (this.filter) {
        if (!l.moduleId) {
          const ok = this.filter.matches(l);
          last = { id: l.id, ok };
          if (ok) included?.add(l.id);
          if (!ok) return leaveOut(l);
        } else if (this.filter.idsOnly) {
          if (!this.filter.ids!.has(l.id)) return leaveOut(l);
        } else if (last?.id === l.id) {
          if (!last.ok) return leaveOut(l);
        } else if (!included!.has(l.id)) {
          if (atEnd) return leaveOut(l); // its device never passed the filter
          if (pendingModules.length >= 100_000) throw new UserError("the export lists over 100,000 module lines away from their devices; copy without a query filter (use deviceIds)", "filter.query");
          pendingModules.push(text);
          return;
        }
      }
      const t = transformLine(l, mode);
      if (!t) return;
      if (keylessAuth(l.authentication || undefined)) keyless(t.key);
      return write(l.id, l.moduleId, t.importLine, t.contentHash, t.parentId);
    };
    const afterLine = (): Promise<void> | undefined => {
      if (lines % every === 0) {
        this.progress({ phase: "transform", label: "transform", done: lines, unit: "lines" });
        this.checkAbort();
      }
      return lines % hookEvery === 0 ? hook(this.o.hooks?.onTransformLines, lines) : undefined;
    };
    // The configurations (a small blob of their own) are copied alongside the devices.
    const configurations = this.includeConfigurations ? this.transformConfigurations() : undefined;
    configurations?.catch(() => undefined); // awaited below, after the devices
    try {
      if (pool) {
        const body = await openBlobStream(this.staging, this.sourceDevicesBlob, "source export");
        for await (const result of pool.map(body ?? (async function* () {})())) {
          const { kinds, hashes, bytes, ends, errors } = result;
          const n = kinds.length;
          for (const [i, id, reason] of errors) {
            if (lines === 0 && i === 0 && reason === TEXT_LINE) {
              this.log("devices: transform: skipped the export's first line: a note from the hub, not a device");
              continue;
            }
            malformed(id || undefined, reason, lines + i + 1);
          }
          // Runs of consecutive import lines (and their re-parent entries) go out as one byte range.
          let importFrom = 0;
          let reparentFrom = n > 0 ? ends[n - 1] : 0;
          let importRun = 0;
          let reparentRun = 0;
          const waits: Array<Promise<void> | undefined> = [];
          let copied = 0;
          const flushRuns = (i: number) => {
            // Up to (not including) line i.
            const importTo = i > 0 ? ends[i - 1] : 0;
            const reparentTo = ends[n + i - 1];
            if (importRun > 0) waits.push(out.writeBytes(bytes.subarray(importFrom, importTo), importRun));
            if (reparentRun > 0) waits.push(reparent.writeBytes(bytes.subarray(reparentFrom, reparentTo), reparentRun));
            importRun = reparentRun = 0;
          };
          for (let i = 0; i < n; i++) {
            const k = kinds[i];
            if (k === MALFORMED || k === DROPPED) continue;
            if (k & KEYLESS) keyless(result.keys?.[i]);
            copied++;
            if ((k & 3) === MODULE) c.exportedModules++;
            else c.exported++;
            const h = 4 * i;
            const kind = manifest.classifyHashed(hashes[h], hashes[h + 1], hashes[h + 2], hashes[h + 3]);
            if (kind === "unchanged" && !(result.keys && unsynced.has(result.keys[i]))) {
              c.unchanged++;
              // Skip this line: what ran before it goes out, the next run starts after it.
              flushRuns(i);
              importFrom = ends[i];
              reparentFrom = ends[n + i];
              continue;
            }
            c.changed++;
            c.imported++;
            importRun++;
            if (k & HAS_PARENT) {
              reparentRun++;
              c.reparentPending++;
            }
          }
          flushRuns(n);
          // The manifest lists every line.
          if (n > 0) waits.push(newManifest.writeBytes(bytes.subarray(ends[2 * n - 1], ends[3 * n - 1]), copied));
          pool.recycle(result);
          for (const w of waits) if (w) await w;
          for (let i = 0; i < n; i++) {
            lines++;
            const h = afterLine();
            if (h) await h;
          }
        }
        this.log(`devices: transform: ${pool.stats.worker} batch(es) in a worker thread, ${pool.stats.inThread} in this thread`);
      } else {
        for await (const batch of readBlobLineBatches(this.staging, this.sourceDevicesBlob, "source export")) {
          for (const text of batch) {
            lines++;
            const wait = emit(text);
            if (wait) await wait;
            const h = afterLine();
            if (h) await h;
          }
        }
      }
      atEnd = true;
      for (const m of pendingModules) await emit(m);
      await this.nestedEdgeParents(mode, reparent);
      // Deletions: manifest entries the export no longer has (only when asked; counted always).
      if (delta) {
        for await (const ml of readBlobLines(this.staging, this.ck.manifest!, "manifest")) {
          const m = parseManifestLine(ml);
          if (m && manifest.wasLeftOut(m.key)) {
            await newManifest.write(ml);
            continue;
          }
          if (!m || !manifest.wasDeleted(m.key)) continue;
          if (!m.moduleId) c.deletedAtSource++;
          if (!this.o.deleteMissing) {
            // Still in the clone: keep it in the manifest so a later sync with deleteMissing removes it.
            await newManifest.write(ml);
            continue;
          }
          // A deleted device takes its modules with it; a module line is only needed when its device stays.
          if (m.moduleId && manifest.wasDeleted(m.deviceId)) continue;
          // status on every line: the .NET SDK's ExportImportDevice requires it (Required.Always), whatever the mode.
          await out.write(JSON.stringify(m.moduleId ? { id: m.deviceId, moduleId: m.moduleId, importMode: "delete", status: "enabled" } : { id: m.deviceId, importMode: "delete", status: "enabled" }));
          await deletes.write(ml);
          c.deleteLines++;
        }
      }
      await Promise.all(writers.map((w) => w.close()));
      // A generation without deletions leaves no empty delete list behind (the import step reads it only when deleteLines > 0).
      if (c.deleteLines === 0) await deleteBlob(this.staging, this.blob("deletes.tsv"));
    } catch (err) {
      await Promise.all(writers.map((w) => w.discard()));
      throw err;
    } finally {
      await pool?.close();
      await configurations?.catch(() => undefined);
    }
    if (c.malformed > 0) {
      const first = this.ck.failures.find((f) => f.errorCode === "malformed" && f.errorStatus.startsWith("export line"));
      throw new UserError(`${fmt(c.malformed)} malformed device line(s) in the original's export (first: ${first?.errorStatus ?? "?"}${first?.deviceId ? `, device ${first.deviceId}` : ""}); nothing was imported. Fix or remove those devices on the original hub (or exclude them with filter) and rerun`, "source");
    }
    if (keylessCount > 0 && !(this.o.fromBackup && this.o.allowNewKeys === true)) {
      // Never in a copy: the clone would get keys no device has. From a backup only when the user says so.
      throw new UserError(
        `${fmt(keylessCount)} device or module line(s) of ${this.o.fromBackup ? "the backup" : "the original's export"} carry no keys${firstKeyless ? ` (first: ${firstKeyless})` : ""}; importing them makes the hub generate new keys, locking out every device that uses the old ones. ` +
          (this.o.fromBackup ? "Restore from a backup made with keys, or set the option allowNewKeys to accept new keys" : "Export the original with keys (the engine asks for them; check the policy has registry read rights) and rerun"),
        this.o.fromBackup ? "fromBackup.devicesBlob" : "source",
      );
    }
    await configurations;
    this.progress({ phase: "transform", label: "transform done", done: lines, unit: "lines" });
    this.log(`devices: transform: ${fmt(c.exported)} devices, ${fmt(c.exportedModules)} modules; ${fmt(c.changed)} lines to import, ${fmt(c.unchanged)} unchanged, ${fmt(c.deleteLines)} deletions, ${fmt(c.malformed)} malformed, ${fmt(c.reparentPending)} to re-parent`);
  }

  /**
   * Edge devices under edge devices. The service has not always exported `parentScopes` (an edge
   * device's line then holds only its own scope: service-behaviours.md §6, azure-iot-sdk-csharp
   * PR 2230), so an edge child's parent may be missing from the blob. The original's registry says
   * it (a query, read-only); the children whose export line lacks the field get a re-parent entry
   * from a second, edge-only read of the export. Hubs without nested edge devices skip all of it.
   */
  async nestedEdgeParents(mode: ImportMode, reparent: BlobLineWriter): Promise<void> {
    if (!this.source) return; // a backup: only what the blob says
    const rows = await this.source.query<{ deviceId?: string; parentScopes?: string[] | null }>("SELECT deviceId, parentScopes FROM devices WHERE capabilities.iotEdge = true", "read the edge hierarchy");
    const parents = new Map<string, string>();
    for (const r of rows) {
      const parent = edgeIdFromScope(r.parentScopes?.[0]);
      if (r.deviceId && parent) parents.set(r.deviceId, parent);
    }
    if (parents.size === 0) return;
    let added = 0;
    for await (const text of readBlobLines(this.staging, this.sourceDevicesBlob, "source export")) {
      if (!mayBeEdgeDevice(text)) continue;
      const p = parseLine(text);
      if (!p.ok || p.line.moduleId || p.line.capabilities?.iotEdge !== true) continue;
      if (Array.isArray(p.line.parentScopes)) continue; // the export says it: the main pass took it
      const parentId = parents.get(p.line.id);
      if (!parentId || (this.filter && !this.filter.matches(p.line))) continue;
      const t = transformLine(p.line, mode);
      if (!t) continue;
      await reparent.write(reparentEntry(parentId, t.importLine));
      this.ck.counts.reparentPending++;
      added++;
    }
    if (added > 0) this.log(`devices: transform: ${fmt(added)} edge device(s) under edge devices take their parent from the original's registry (the export has no parentScopes)`);
  }

  async transformConfigurations(): Promise<void> {
    const src = this.sourceConfigurationsBlob;
    const c = this.ck.counts;
    c.configurationsExported = 0;
    const w = new BlobLineWriter(this.staging, this.blob("import/configurations.txt"));
    try {
      if (src && (await blobExists(this.staging, src))) {
        for await (const text of readBlobLines(this.staging, src, "source configurations")) {
          const t = transformConfigurationLine(text);
          if ("error" in t) {
            c.configurationsFailed++;
            if (this.ck.failures.length < this.cap) this.ck.failures.push({ deviceId: t.id ? `configuration:${t.id}` : "", errorCode: "malformed", errorStatus: `configuration line: ${t.error}` });
            continue;
          }
          c.configurationsExported++;
          await w.write(t.line);
        }
      }
      await w.close();
    } catch (err) {
      await w.discard();
      throw err;
    }
  }

  async importMain(): Promise<void> {
    const c = this.ck.counts;
    const withConfigs = this.includeConfigurations && c.configurationsExported > 0;
    if (c.imported + c.deleteLines === 0 && !withConfigs) {
      this.log("devices: nothing to import (no new or changed devices)");
      return;
    }
    const total = c.imported + c.deleteLines;
    await this.job(
      "import",
      this.clone,
      { type: "import", blobName: this.blob("import/devices.txt"), includeConfigurations: withConfigs, configurationsBlobName: this.blob("import/configurations.txt") },
      "import",
      total,
      () => removeErrorLogs(this.staging),
    );
    await this.collectErrors("import", this.ck.importStarted === true && (this.ck.attempts.import ?? 1) > 1);
    if (withConfigs) {
      const cfgFailures: ImportFailure[] = [];
      const n = await readImportErrors(this.staging, "importConfigErrors.log", (f) => {
        if (cfgFailures.length < this.cap) cfgFailures.push(f);
      });
      c.configurationsFailed += n;
      c.configurationsImported = Math.max(0, c.configurationsExported - n);
      for (const f of cfgFailures) if (this.ck.failures.length < this.cap) this.ck.failures.push({ ...f, deviceId: `configuration:${f.deviceId}` });
    }
    await removeErrorLogs(this.staging);
  }

  /**
   * importErrors.log → failures. On a job started again after a failed attempt, "already exists"
   * errors under importMode create are our own first attempt's devices: counted, then verified.
   */
  async collectErrors(step: string, retried: boolean): Promise<void> {
    const c = this.ck.counts;
    const failedKeys: string[] = [];
    let overflow = false;
    // Delete lines of this generation, by key, with the manifest line a failed delete keeps.
    const deletes = new Map<string, string>();
    if (step === "import" && c.deleteLines > 0 && (await blobExists(this.staging, this.blob("deletes.tsv")))) {
      for await (const ml of readBlobLines(this.staging, this.blob("deletes.tsv"), "delete list")) {
        const m = parseManifestLine(ml);
        if (m) deletes.set(m.key, ml);
      }
    }
    const keptManifestLines: string[] = [];
    let quota = 0;
    const hubLabel = this.o.fromBackup ? "target" : "clone";
    const n = await readImportErrors(this.staging, "importErrors.log", (f) => {
      const kind = kindOfCode(f.errorCode, undefined, f.errorStatus);
      const key = f.moduleId ? `${f.deviceId}/${f.moduleId}` : f.deviceId;
      const deleted = deletes.get(key);
      if (deleted !== undefined) {
        if (kind === "notFound") return; // already gone from the clone: what the delete wanted
        // A failed delete is a failure, and the device stays in the manifest so the next sync deletes it again.
        if (!f.moduleId) c.deleteFailed++;
        c.importFailed++;
        keptManifestLines.push(deleted);
        if (this.ck.failures.length < this.cap) this.ck.failures.push({ ...f, errorStatus: `delete failed: ${f.errorStatus}` });
        return;
      }
      if (retried && kind === "alreadyExists") {
        c.alreadyPresent++;
        return;
      }
      c.importFailed++;
      if (failedKeys.length < 100_000) failedKeys.push(key);
      else overflow = true;
      // Near the quota the job completes and fails line by line (403002, service-behaviours.md §8): the same message as a failed job.
      if (kind === "deviceQuota") quota++;
      if (this.ck.failures.length < this.cap) this.ck.failures.push(kind === "deviceQuota" ? { ...f, errorStatus: `${deviceQuotaMessage(hubLabel)} (${f.errorStatus})` } : f);
    });
    if (quota > 0) this.log(`devices: ${step}: ${fmt(quota)} line(s) failed with 403002: ${deviceQuotaMessage(hubLabel)}`);
    if (failedKeys.length > 0 || overflow) await this.markUnsynced(failedKeys, overflow);
    if (keptManifestLines.length > 0) await this.keepInManifest(keptManifestLines);
    if (n > 0) this.log(`devices: ${step}: ${fmt(n)} line(s) in importErrors.log`);
  }

  /** Adds lines to this generation's manifest (rewritten whole: only failed deletes, rare, come here). */
  async keepInManifest(lines: string[]): Promise<void> {
    const name = this.blob("manifest.tsv");
    const tmp = this.blob("manifest-rewrite.tsv");
    const copy = async (from: string, to: string, extra: string[]) => {
      const w = new BlobLineWriter(this.staging, to, { blockSize: 1 << 20, concurrency: 1 });
      const add = new Set(extra);
      try {
        for await (const l of readBlobLines(this.staging, from, "manifest")) {
          add.delete(l); // already kept (a resumed step collects the same errors again)
          await w.write(l);
        }
        for (const l of add) await w.write(l);
        await w.close();
      } catch (err) {
        await w.discard();
        throw err;
      }
    };
    await copy(name, tmp, lines);
    await copy(tmp, name, []);
    await deleteBlob(this.staging, tmp);
  }

  /** Keys the next sync must send again whatever the manifest says. */
  async markUnsynced(keys: string[], overflow: boolean): Promise<void> {
    const name = this.blob(`unsynced-${randomUUID().slice(0, 8)}.txt`);
    const w = new BlobLineWriter(this.staging, name);
    const old = this.ck.unsyncedOut;
    if (old) for await (const k of readBlobLines(this.staging, old, "unsynced")) await w.write(k);
    for (const k of keys) await w.write(k);
    await w.close();
    this.ck.unsyncedOut = name;
    if (overflow || w.lines > 100_000) this.ck.fullSyncOut = true;
    await this.save();
    if (old) await deleteBlob(this.staging, old);
  }

  async exportCloneForScopes(): Promise<void> {
    if (this.ck.counts.reparentPending === 0) return;
    await this.job("cloneExport", this.clone, { type: "export", blobName: this.blob("clone/devices.txt"), excludeKeysInExport: true }, "export clone scopes");
  }

  /**
   * Second pass: children get the clone's scopes. Needs only the scopes of edge devices that are
   * parents or edge children (usually few) in memory; the children themselves are streamed.
   */
  async reparent(): Promise<void> {
    const c = this.ck.counts;
    if (c.reparentPending === 0) return;
    const need = new Set<string>();
    for await (const text of readBlobLines(this.staging, this.blob("reparent.tsv"), "reparent list")) {
      const r = readReparentEntry(text, this.blob("reparent.tsv"));
      need.add(r.parentId);
      if (mayBeEdgeDevice(r.importLine)) need.add(r.id);
    }
    const readScopes = async () => {
      const scopes = new Map<string, string>();
      for await (const text of readBlobLines(this.staging, this.blob("clone/devices.txt"), "clone export")) {
        // Only edge devices have scopes to give: the rest of the export is not parsed (less garbage, less CPU).
        if (!mayBeEdgeDevice(text)) continue;
        const p = parseLine(text);
        if (p.ok && !p.line.moduleId && need.has(p.line.id) && p.line.capabilities?.iotEdge && p.line.deviceScope) scopes.set(p.line.id, p.line.deviceScope);
      }
      return scopes;
    };
    let scopes = await readScopes();
    const failed = new Set(this.ck.failures.map((f) => f.deviceId));
    // A parent imported moments ago may not be in the clone's export yet (service-behaviours.md §11):
    // export again after a wait, within the consistency window, before calling it missing. (With a
    // filter a parent may be outside the copy on purpose: no wait.)
    const parents = new Set<string>();
    for await (const text of readBlobLines(this.staging, this.blob("reparent.tsv"), "reparent list")) parents.add(readReparentEntry(text, this.blob("reparent.tsv")).parentId);
    const lag = this.consistency();
    let wait = lag.firstWaitMs;
    for (;;) {
      const absent = [...parents].filter((p) => !scopes.has(p) && !failed.has(p));
      if (absent.length === 0 || this.filter || Date.now() + wait > lag.until) break;
      this.log(`devices: re-parent: ${fmt(absent.length)} parent edge device(s) not yet in the clone's export (first: ${absent[0]}); exporting the clone again in ${Math.round(wait / 1000)} s`);
      await sleep(wait, this.o.signal);
      wait = Math.min(60_000, wait * 2);
      const old = this.ck.jobs.cloneExport;
      if (old) {
        this.ck.failedJobs.push(old); // done with: the next export is a new job
        delete this.ck.jobs.cloneExport;
      }
      await this.exportCloneForScopes();
      scopes = await readScopes();
    }
    const w = new BlobLineWriter(this.staging, this.blob("reparent/devices.txt"));
    let n = 0;
    try {
      for await (const text of readBlobLines(this.staging, this.blob("reparent.tsv"), "reparent list")) {
        const r = readReparentEntry(text, this.blob("reparent.tsv"));
        const id = r.id;
        if (failed.has(id)) continue;
        const parentScope = scopes.get(r.parentId);
        if (!parentScope) {
          c.importFailed++;
          if (this.ck.failures.length < this.cap) this.ck.failures.push({ deviceId: id, errorCode: "parentMissing", errorStatus: `parent edge device ${r.parentId} is not an edge device in the clone (not copied, or filtered out)` });
          continue;
        }
        await w.write(reparentLine(r.importLine, parentScope, scopes.get(id)));
        n++;
      }
      await w.close();
    } catch (err) {
      await w.discard();
      throw err;
    }
    if (n === 0) return;
    await this.job("reparent", this.clone, { type: "import", blobName: this.blob("reparent/devices.txt") }, "re-parent", n, () => removeErrorLogs(this.staging));
    const before = c.importFailed;
    await this.collectErrors("reparent", false);
    c.reparented = n - (c.importFailed - before);
    await removeErrorLogs(this.staging);
  }

  async verify(): Promise<void> {
    if (this.o.verify === false) return;
    await this.job(
      "verifyExport",
      this.clone,
      { type: "export", blobName: this.blob("verify/devices.txt"), excludeKeysInExport: false, includeConfigurations: this.includeConfigurations, configurationsBlobName: this.blob("verify/configurations.txt") },
      "export clone for verification",
    );
    this.progress({ phase: "verify", label: "verify", percent: 0, done: 0, unit: "percent" });
    const size = await blobSize(this.staging, this.sourceDevicesBlob);
    let r = await compareExportBlobs(this.staging, this.sourceDevicesBlob, this.blob("verify/devices.txt"), { sizeHint: size, filter: this.o.filter, cap: this.cap });
    if (r.missingCount + r.extraCount + r.differentCount > 0) r = await recheckDifferences(this.clone, r, { ...this.consistency(), recheckExtra: this.ck.counts.deleteLines > 0, source: await this.sourceLinesOf([...r.missing, ...r.extra, ...r.different.map((d) => (d.moduleId ? `${d.id}/${d.moduleId}` : d.id))]) });
    // With a filter, devices in the clone outside it were not ours to copy: extras only count in a full copy.
    const mismatches: DeviceDifference[] = [
      ...r.missing.map((id) => ({ id, fields: ["missing"] })),
      ...r.different,
      ...r.extra.map((id) => ({ id, fields: ["extra"] })),
    ].slice(0, this.cap);
    this.ck.mismatches = mismatches;
    this.ck.mismatchCount = r.missingCount + r.differentCount + r.extraCount;
    this.ck.verified = r.matched;
    const sourceConfigurations = this.sourceConfigurationsBlob;
    if (this.includeConfigurations && sourceConfigurations && (await blobExists(this.staging, sourceConfigurations)) && (await blobExists(this.staging, this.blob("verify/configurations.txt")))) {
      const cfg = await compareConfigurationStreams(readBlobLines(this.staging, sourceConfigurations), readBlobLines(this.staging, this.blob("verify/configurations.txt")));
      for (const id of cfg.missing) this.ck.mismatches.length < this.cap && this.ck.mismatches.push({ id: `configuration:${id}`, fields: ["missing"] });
      for (const id of cfg.different) this.ck.mismatches.length < this.cap && this.ck.mismatches.push({ id: `configuration:${id}`, fields: ["content"] });
      // A line the verifier cannot read is a mismatch it reports, never one it skips.
      for (const what of cfg.unreadable) this.ck.mismatches.length < this.cap && this.ck.mismatches.push({ id: `configuration:${what}`, fields: ["unreadable"] });
      this.ck.mismatchCount += cfg.missing.length + cfg.different.length + cfg.unreadable.length;
    }
    if (r.badKeys.length > 0 || r.badKeysOverflow) await this.markUnsynced(r.badKeys, r.badKeysOverflow);
    this.progress({ phase: "verify", label: `verify: ${fmt(r.matched)} identical, ${fmt(r.missingCount)} missing, ${fmt(r.differentCount)} different, ${fmt(r.extraCount)} extra`, percent: 100, done: 100, unit: "percent" });
  }

  /** The replication-lag window from now (bounded by the run's deadline), and the first wait in it. */
  consistency(): { until: number; firstWaitMs: number; signal?: AbortSignal; log: (l: string) => void } {
    const window = this.o.consistencyWindowMs ?? CONSISTENCY_WINDOW_MS;
    return { until: Math.min(this.deadline, Date.now() + window), firstWaitMs: Math.max(100, Math.min(15_000, Math.round(window / 4))), signal: this.o.signal, log: this.log };
  }

  /** The original's export lines of a few keys (a recheck of differences), read from the export blob. */
  async sourceLinesOf(keys: string[]): Promise<Map<string, ExportLine>> {
    const want = new Set(keys.slice(0, RECHECK_LIMIT + 1));
    const out = new Map<string, ExportLine>();
    if (want.size === 0 || keys.length > RECHECK_LIMIT) return out;
    for await (const text of readBlobLines(this.staging, this.sourceDevicesBlob, "source export")) {
      const p = parseLine(text);
      if (p.ok && want.has(lineKey(p.line))) out.set(lineKey(p.line), p.line);
    }
    return out;
  }

  /** Deletes the generation's blobs (every key) except its manifest and unsynced list; then the previous ones. */
  async cleanup(): Promise<void> {
    const manifest = this.blob("manifest.tsv");
    const keep = (n: string) => n === manifest || n === this.ck.unsyncedOut;
    const removed = await deletePrefix(this.staging, this.gen, keep);
    await removeErrorLogs(this.staging);
    const oldManifest = this.ck.manifest;
    const oldUnsynced = this.ck.unsyncedIn;
    Object.assign(this.ck, { manifest, unsyncedIn: this.ck.unsyncedOut, unsyncedOut: undefined, fullSync: this.ck.fullSyncOut === true, fullSyncOut: undefined });
    await this.save();
    if (oldManifest && oldManifest !== manifest) await deleteBlob(this.staging, oldManifest);
    if (oldUnsynced && oldUnsynced !== this.ck.unsyncedIn) await deleteBlob(this.staging, oldUnsynced);
    this.log(`devices: cleanup: deleted ${removed} staging blob(s) holding device keys`);
  }

  result(): CopyResult {
    const c = this.ck.counts;
    return {
      runId: this.o.runId,
      exported: c.exported,
      exportedModules: c.exportedModules,
      imported: c.imported,
      failed: c.importFailed + c.malformed,
      verified: this.ck.verified,
      deleted: this.o.deleteMissing ? Math.max(0, c.deletedAtSource - c.deleteFailed) : 0,
      reparented: c.reparented,
      configurations: { exported: c.configurationsExported, imported: c.configurationsImported, failed: c.configurationsFailed },
      failures: this.ck.failures.slice(0, this.cap),
      mismatches: this.ck.mismatches,
      mismatchCount: this.ck.mismatchCount,
      jobIds: { ...this.ck.jobs },
      durationsMs: { ...this.ck.durationsMs },
      sync: { generation: this.ck.generation, sourceLines: c.exported + c.exportedModules, changed: c.changed, unchanged: c.unchanged, deletedAtSource: c.deletedAtSource },
      alreadyComplete: false,
    };
  }
}

export async function runCopy(o: CopyOptions, kind: "copy" | "sync"): Promise<CopyResult> {
  return new Run(o, kind).execute();
}
