/**
 * `POST /jobs/create` refused over storage (400: a SAS without rights, an expired SAS, a role still
 * propagating; service-behaviours.md §3): one clear message naming the staging field, the
 * propagation case retried within the deadline with identity-based staging, nothing else retried.
 */
import { describe, expect, it } from "vitest";
import { UserError } from "../../components/errors";
import type { HubClient, JobProperties } from "../../components/devices/hub-client";
import { startJob, type JobContext } from "../../components/devices/jobs";
import { openStaging, type Staging } from "../../components/devices/staging";
import { stagingConnectionString } from "../support/local-hub";
import { uniqueContainer } from "./engine-fixtures";

function http400(body: unknown): Error {
  return Object.assign(new Error("Error: bad request"), { response: { statusCode: 400, headers: {} }, responseBody: JSON.stringify(body) });
}
const refused = http400({ Message: "ErrorCode:BlobContainerValidationError;Unable to access blob https://acct.blob.core.windows.net/stg?sv=2024&sig=SECRET. errorcode: IH400007", ExceptionMessage: "" });

function fakeHub(answers: Array<Error | JobProperties>): { hub: HubClient; calls: () => number } {
  let n = 0;
  const hub = {
    field: "clone",
    listJobs: async () => [],
    createJob: async () => {
      const a = answers[Math.min(n++, answers.length - 1)];
      if (a instanceof Error) throw a;
      return a;
    },
  } as unknown as HubClient;
  return { hub, calls: () => n };
}

describe("startJob: the create call refused over storage", () => {
  let staging: Staging;
  const ctx = (extra: Partial<JobContext> = {}): JobContext & { lines: string[] } => {
    const lines: string[] = [];
    return { deadline: Date.now() + 60_000, poll: { min: 5, max: 20 }, log: (l) => lines.push(l), lines, ...extra };
  };
  const spec = { type: "import" as const, blobName: "runs/x/g1/import/devices.txt" };

  it("key-based staging: one clear error naming staging.connectionString, no retry, no SAS in the text", async () => {
    staging = await openStaging({ connectionString: stagingConnectionString(), containerName: uniqueContainer() });
    const { hub, calls } = fakeHub([refused]);
    const err = await startJob(hub, staging, spec, ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).field).toBe("staging.connectionString");
    expect((err as Error).message).toMatch(/the clone hub's import job could not use the staging container \(Unable to access blob <url> errorcode: IH400007\)/);
    expect((err as Error).message).not.toContain("SECRET");
    expect(calls()).toBe(1);
  });

  it("identity-based staging: the refusal is retried while the role may still propagate, then the job starts", async () => {
    const identity: Staging = { ...staging, mode: "identityBased" };
    const job = { jobId: "j-1", status: "enqueued", type: "import" } as JobProperties;
    const { hub, calls } = fakeHub([refused, refused, job]);
    const c = ctx();
    expect(await startJob(hub, identity, spec, c)).toBe(job);
    expect(calls()).toBe(3);
    expect(c.lines.filter((l) => /may still be propagating/.test(l))).toHaveLength(2);
  });

  it("identity-based staging: past the propagation window the error names staging.authentication and the role", async () => {
    const identity: Staging = { ...staging, mode: "identityBased" };
    const { hub, calls } = fakeHub([refused]);
    const err = await startJob(hub, identity, spec, ctx({ storagePropagationMs: 30 })).catch((e: unknown) => e);
    expect((err as UserError).field).toBe("staging.authentication");
    expect((err as Error).message).toMatch(/Storage Blob Data Contributor/);
    expect(calls()).toBeGreaterThan(1);
  });

  it("a 400 that is not about storage is not retried or renamed", async () => {
    const other = http400({ Message: JSON.stringify({ errorCode: 400004, message: "importMode is not valid" }), ExceptionMessage: "" });
    const { hub, calls } = fakeHub([other]);
    await expect(startJob(hub, { ...staging, mode: "identityBased" }, spec, ctx())).rejects.toBe(other);
    expect(calls()).toBe(1);
  });
});

describe("startJob: adopting our job when GET /jobs blanks blob names", () => {
  const spec = { type: "export" as const, blobName: "runs/x/g1/verify/devices.txt" };
  function hubWith(jobs: JobProperties[]): { hub: HubClient; created: () => number } {
    let created = 0;
    const hub = {
      field: "clone",
      listJobs: async () => jobs,
      createJob: async () => {
        created++;
        return { jobId: "new", type: "export", status: "enqueued" } as JobProperties;
      },
    } as unknown as HubClient;
    return { hub, created: () => created };
  }
  const base = (extra: Partial<JobContext>): JobContext => ({ deadline: Date.now() + 60_000, poll: { min: 5, max: 20 }, log: () => undefined, ...extra });

  it("adopts the nameless job of the same type started since the step's create attempt, and starts none", async () => {
    const attempt = Date.now() - 60_000;
    const jobs = [
      { jobId: "old", type: "export", status: "completed", startTimeUtc: new Date(attempt - 3600_000).toISOString(), outputBlobContainerUri: "" },
      { jobId: "import-1", type: "import", status: "running", startTimeUtc: new Date(attempt + 1000).toISOString() },
      { jobId: "ours", type: "export", status: "running", startTimeUtc: new Date(attempt + 2000).toISOString(), outputBlobContainerUri: "" },
    ] as JobProperties[];
    const { hub, created } = hubWith(jobs);
    expect((await startJob(hub, { mode: "identityBased" } as Staging, spec, base({ createdAfter: attempt }))).jobId).toBe("ours");
    expect(created()).toBe(0);
  });

  it("never adopts a job another step of the run recorded, a finished nameless one (an earlier generation's), nor one that started before the attempt; then it starts its own", async () => {
    const attempt = Date.now() - 60_000;
    const jobs = [
      { jobId: "clone-scopes", type: "export", status: "running", startTimeUtc: new Date(attempt + 500).toISOString() },
      { jobId: "finished", type: "export", status: "completed", startTimeUtc: new Date(attempt + 700).toISOString() },
      { jobId: "earlier", type: "export", status: "completed", startTimeUtc: new Date(attempt - 3600_000).toISOString() },
    ] as JobProperties[];
    const { hub, created } = hubWith(jobs);
    const job = await startJob(hub, { mode: "identityBased", container: { url: "https://acct.blob.core.windows.net/stg" }, options: {} } as unknown as Staging, spec, base({ createdAfter: attempt, knownFailed: new Set(["clone-scopes"]) }));
    expect(job.jobId).toBe("new");
    expect(created()).toBe(1);
  });

  it("still matches by blob name when the list has them, and without a recorded attempt adopts nothing nameless", async () => {
    const named = [{ jobId: "by-name", type: "export", status: "completed", outputBlobName: spec.blobName }] as JobProperties[];
    expect((await startJob(hubWith(named).hub, {} as Staging, spec, base({}))).jobId).toBe("by-name");
    const nameless = [{ jobId: "someone", type: "export", status: "running", startTimeUtc: new Date().toISOString() }] as JobProperties[];
    const h = hubWith(nameless);
    const job = await startJob(h.hub, { mode: "identityBased", container: { url: "https://acct.blob.core.windows.net/stg" }, options: {} } as unknown as Staging, spec, base({}));
    expect(job.jobId).toBe("new");
  });
});
