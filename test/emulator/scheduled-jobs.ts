/**
 * Scheduled device jobs (`/jobs/v2`): twin updates applied to every device matching a query
 * condition (the cutover's flag flip), and direct-method jobs, which fail per device because no
 * device is ever connected to the emulator. A job is answered `queued` on create, also when it
 * starts later (the service does; azure-iot-sdk-node e2etests job_client.js expects it). Jobs wait
 * for their start time, run at most N at a time per hub (1 on Free/S1, 5 on S2, 10 on S3; the
 * default profile keeps the rest `queued`, the strict profile refuses them with 429004), and count
 * per-device outcomes in deviceJobStatistics. The strict profile also paces device operations per
 * tier and terminates a job at maxExecutionTimeInSeconds (profile.ts).
 */
import { HubError, hubError } from "./errors";
import { scheduledJobSlots } from "./profile";
import type { Emulator } from "./emulator";
import type { Hub } from "./hub";
import { matches, parseCondition, type Condition } from "./query-language";

type Json = Record<string, unknown>;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const TYPES = new Set(["scheduleUpdateTwin", "scheduleDeviceMethod"]);

function concurrentLimit(hub: Hub): number {
  return scheduledJobSlots(hub.meta.options.sku);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class ScheduledJobs {
  private readonly cancelled = new Set<string>();
  private readonly running = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly emulator: Emulator) {}

  create(hub: Hub, jobId: string, body: unknown): Json {
    if (typeof body !== "object" || body === null) throw hubError("ArgumentInvalid", "The job must be a JSON object");
    const req = body as Json;
    const type = String(req.type ?? "");
    if (!TYPES.has(type)) throw hubError("ArgumentInvalid", `type '${type}' must be scheduleUpdateTwin or scheduleDeviceMethod`);
    if (req.jobId !== undefined && String(req.jobId) !== jobId) throw hubError("ArgumentInvalid", "jobId in the body does not match the URI");
    if (hub.scheduledJobs.has(jobId)) throw hubError("ArgumentInvalid", `A job with id '${jobId}' already exists`);
    const condition = typeof req.queryCondition === "string" ? req.queryCondition : "";
    parseCondition(condition); // 400 on syntax errors, before anything is scheduled
    if (type === "scheduleUpdateTwin" && (typeof req.updateTwin !== "object" || req.updateTwin === null)) {
      throw hubError("ArgumentInvalid", "updateTwin is required for scheduleUpdateTwin");
    }
    const start = req.startTime ? new Date(String(req.startTime)) : new Date();
    if (Number.isNaN(start.getTime())) throw hubError("ArgumentInvalid", "startTime is not a valid date");
    const maxSeconds = req.maxExecutionTimeInSeconds;
    if (maxSeconds !== undefined && (typeof maxSeconds !== "number" || !(maxSeconds > 0))) throw hubError("ArgumentInvalid", "maxExecutionTimeInSeconds must be a positive number");
    if (hub.rules.rejectOverJobSlots) {
      // github.com/Azure/azure-iot-sdk-csharp/issues/361: "ErrorCode:ThrottlingMaxActiveJobCountExceeded;429…".
      const limit = concurrentLimit(hub);
      const active = [...hub.scheduledJobs.values()].filter((j) => !TERMINAL.has(String(j.status))).length;
      if (active >= limit) {
        throw hubError("ThrottlingMaxActiveJobCountExceeded", `Maximum number of active jobs (${limit}) for this IotHub tier (${hub.meta.options.sku ?? "S1"}) reached: wait for a running job to finish`);
      }
    }
    const job: Json = {
      jobId,
      queryCondition: condition,
      createdTime: new Date().toISOString(),
      startTime: start.toISOString(),
      endTime: null,
      // Default 3600 (github.com/Azure/azure-iot-sdk-java/pull/1592).
      maxExecutionTimeInSeconds: typeof maxSeconds === "number" ? maxSeconds : 3600,
      type,
      status: "queued",
      ...(type === "scheduleUpdateTwin" ? { updateTwin: req.updateTwin } : { cloudToDeviceMethod: req.cloudToDeviceMethod ?? null }),
      failureReason: null,
      statusMessage: null,
      deviceJobStatistics: { deviceCount: 0, failedCount: 0, succeededCount: 0, runningCount: 0, pendingCount: 0 },
    };
    hub.saveScheduledJob(job);
    this.kick();
    return job;
  }

  get(hub: Hub, jobId: string): Json {
    const job = hub.scheduledJobs.get(jobId);
    if (!job) throw hubError("JobNotFound", `Job ${jobId} not found in IotHub ${hub.name}`);
    return job;
  }

  cancel(hub: Hub, jobId: string): Json {
    const job = this.get(hub, jobId);
    if (!TERMINAL.has(String(job.status))) {
      this.cancelled.add(`${hub.name}/${jobId}`);
      job.status = "cancelled";
      job.endTime = new Date().toISOString();
      hub.saveScheduledJob(job);
    }
    return job;
  }

  list(hub: Hub, type?: string | null, status?: string | null): Json[] {
    return [...hub.scheduledJobs.values()].filter((j) => (!type || j.type === type) && (!status || j.status === status));
  }

  /** Starts due jobs up to each hub's concurrency limit; re-checks while any job waits. */
  kick(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      let waiting = false;
      for (const hub of this.emulator.hubs.values()) {
        const active = [...hub.scheduledJobs.values()].filter((j) => j.status === "running").length;
        let slots = concurrentLimit(hub) - active;
        const due = [...hub.scheduledJobs.values()]
          .filter((j) => j.status === "queued" || j.status === "scheduled")
          .sort((a, b) => String(a.startTime).localeCompare(String(b.startTime)));
        for (const job of due) {
          waiting = true;
          if (new Date(String(job.startTime)).getTime() > Date.now()) continue;
          if (job.status === "scheduled") {
            // Jobs persisted by an older emulator that answered `scheduled`.
            job.status = "queued";
            hub.saveScheduledJob(job);
          }
          if (slots <= 0) continue;
          slots -= 1;
          void this.run(hub, job);
        }
      }
      this.emulator.store.flush();
      if (waiting) this.kick();
    }, 50);
  }

  /** After a restart a job that was running starts over: twin patches are idempotent. */
  resumeAfterRestart(): void {
    for (const hub of this.emulator.hubs.values()) {
      for (const job of hub.scheduledJobs.values()) {
        if (job.status === "running") {
          job.status = "queued";
          hub.saveScheduledJob(job);
        }
      }
    }
    this.kick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(hub: Hub, job: Json): Promise<void> {
    const key = `${hub.name}/${String(job.jobId)}`;
    if (this.running.has(key)) return;
    this.running.add(key);
    try {
      job.status = "running";
      hub.saveScheduledJob(job);
      const condition: Condition = parseCondition(String(job.queryCondition));
      // The device set is fixed when the job starts, as in the service.
      const targets: string[] = [];
      for (const twin of hub.queryDeviceTwins()) if (matches(twin, condition)) targets.push(String(twin.deviceId));
      const stats = job.deviceJobStatistics as Record<string, number>;
      stats.deviceCount = targets.length;
      stats.pendingCount = targets.length;
      hub.saveScheduledJob(job);
      this.emulator.store.flush();
      const patch = (job.updateTwin ?? {}) as Json;
      const body = { tags: patch.tags, properties: patch.properties ? { desired: (patch.properties as Json).desired } : undefined };
      const rules = hub.rules;
      const startedAt = Date.now();
      const rate = rules.jobDeviceOpsPerSecond;
      const lifetimeMs = rules.enforceMaxExecutionTime ? (Number(job.maxExecutionTimeInSeconds ?? 3600) * 1000) / rules.timeScale : Infinity;
      const expire = (i: number) => {
        // What the service does at expiry is not published: the strict profile fails the job and leaves the rest pending.
        if (Date.now() - startedAt > lifetimeMs) {
          throw new HubError("JobExpired", `The job exceeded maxExecutionTimeInSeconds (${String(job.maxExecutionTimeInSeconds)} s) with ${targets.length - i} device(s) not processed`, 500001, 500);
        }
      };
      for (let i = 0; i < targets.length; i++) {
        if (this.cancelled.has(key)) return;
        expire(i);
        if (rate) {
          // Tier pace (quotas doc, "Jobs device operations"): device i is due i/rate seconds after the start.
          const wait = startedAt + (i / rate) * 1000 - Date.now();
          if (wait > 4) {
            hub.saveScheduledJob(job);
            this.emulator.store.flush();
            await sleep(Math.min(wait, Math.max(1, startedAt + lifetimeMs - Date.now() + 1)));
            if (this.cancelled.has(key)) return;
            expire(i);
          }
        }
        if (job.type === "scheduleUpdateTwin") {
          try {
            hub.updateTwin(targets[i], body, "*", "patch");
            stats.succeededCount += 1;
          } catch {
            stats.failedCount += 1; // device deleted since the job started
          }
        } else {
          stats.failedCount += 1; // no device is connected: direct methods time out (404103 DeviceNotOnline)
        }
        stats.pendingCount -= 1;
        if (i % 500 === 499) {
          hub.saveScheduledJob(job);
          this.emulator.store.flush();
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      if (this.cancelled.has(key)) return;
      job.status = "completed";
      job.endTime = new Date().toISOString();
      hub.saveScheduledJob(job);
      this.emulator.store.flush();
    } catch (err) {
      job.status = "failed";
      job.failureReason = (err as Error).message;
      job.endTime = new Date().toISOString();
      hub.saveScheduledJob(job);
      this.emulator.store.flush();
    } finally {
      this.running.delete(key);
      this.kick();
    }
  }
}
