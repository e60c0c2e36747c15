/**
 * Scheduled device jobs (`/jobs/v2`): twin updates applied to every device matching a query
 * condition (the cutover's flag flip), and direct-method jobs, which fail per device because no
 * device is ever connected to the emulator. Jobs wait for their start time, run at most N at a time
 * per hub (1 on Free/S1, 5 on S2, 10 on S3; the rest stay `queued`), and count per-device outcomes
 * in deviceJobStatistics.
 */
import { hubError } from "./errors";
import type { Emulator } from "./emulator";
import type { Hub } from "./hub";
import { matches, parseCondition, type Condition } from "./query-language";

type Json = Record<string, unknown>;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const TYPES = new Set(["scheduleUpdateTwin", "scheduleDeviceMethod"]);

function concurrentLimit(hub: Hub): number {
  const sku = (hub.meta.options.sku ?? "S1").toUpperCase();
  if (sku === "S3" || sku === "B3") return 10;
  if (sku === "S2" || sku === "B2") return 5;
  return 1;
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
    const job: Json = {
      jobId,
      queryCondition: condition,
      createdTime: new Date().toISOString(),
      startTime: start.toISOString(),
      endTime: null,
      maxExecutionTimeInSeconds: typeof req.maxExecutionTimeInSeconds === "number" ? req.maxExecutionTimeInSeconds : 3600,
      type,
      status: start.getTime() > Date.now() ? "scheduled" : "queued",
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
      for (const twin of hub.deviceTwins()) if (matches(twin, condition)) targets.push(String(twin.deviceId));
      const stats = job.deviceJobStatistics as Record<string, number>;
      stats.deviceCount = targets.length;
      stats.pendingCount = targets.length;
      hub.saveScheduledJob(job);
      this.emulator.store.flush();
      const patch = (job.updateTwin ?? {}) as Json;
      const body = { tags: patch.tags, properties: patch.properties ? { desired: (patch.properties as Json).desired } : undefined };
      for (let i = 0; i < targets.length; i++) {
        if (this.cancelled.has(key)) return;
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
