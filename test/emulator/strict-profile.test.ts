/**
 * The Azure-strict profile (`profile: "azure"`), rule by rule, through the real azure-iothub SDK and
 * Azurite. Each rule's source is next to it in test/emulator/profile.ts; docs/local-hub.md has the
 * fidelity table. No timed assertions: paces and lifetimes are observed through job outcomes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Registry } from "azure-iothub";
import { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from "@azure/storage-blob";
import * as sdkErrors from "azure-iothub/dist/common-core/errors";
import { AZURITE_ACCOUNT, AZURITE_KEY } from "./launcher";
import { parseServiceError } from "../support/service-errors";
import { createStagingContainer, createStrictHub, createTestHub, jobClientFor, registryFor, type StagingContainer } from "../support/local-hub";

type SdkError = Error & { response?: { statusCode: number; headers: Record<string, string> }; responseBody?: string };
type Job = { jobId: string; status: string; failureReason?: string | null; outputBlobContainerUri?: string };

async function rejection(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (err) {
    return err as SdkError;
  }
  throw new Error("expected the call to fail");
}

function rest(registry: Registry, method: string, path: string, body?: object): Promise<unknown> {
  const client = (registry as unknown as { _restApiClient: { executeApiCall: (...a: unknown[]) => void } })._restApiClient;
  return new Promise((resolve, reject) =>
    client.executeApiCall(method, path, { "Content-Type": "application/json; charset=utf-8" }, body, (err: Error | null, result: unknown) => (err ? reject(err) : resolve(result))),
  );
}

const createJob = (registry: Registry, body: object) => rest(registry, "POST", "/jobs/create?api-version=2021-04-12", body) as Promise<Job>;

async function waitForJob(registry: Registry, jobId: string): Promise<Job> {
  for (let i = 0; i < 1200; i++) {
    const job = (await registry.getJob(jobId)) as unknown as Job;
    if (["completed", "failed", "cancelled"].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function upload(box: StagingContainer, blob: string, lines: object[]): Promise<void> {
  const text = lines.map((l) => JSON.stringify(l)).join("\r\n") + "\r\n";
  await box.client.getBlockBlobClient(blob).upload(text, Buffer.byteLength(text));
}

async function download(box: StagingContainer, blob: string): Promise<string> {
  return (await box.client.getBlockBlobClient(blob).downloadToBuffer()).toString("utf8");
}

const jsonLines = (text: string) =>
  text
    .split(/\r?\n/)
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, any>);

function sas(container: string, o: { permissions?: string; expiresOn?: Date; blob?: string }): string {
  const q = generateBlobSASQueryParameters(
    {
      containerName: container,
      ...(o.blob ? { blobName: o.blob } : {}),
      permissions: ContainerSASPermissions.parse(o.permissions ?? "rwdlac"),
      startsOn: new Date(Date.now() - 3600_000),
      expiresOn: o.expiresOn ?? new Date(Date.now() + 3600_000),
    },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).toString();
  return q;
}

const KEY = (n: number) => Buffer.alloc(32, n).toString("base64");

describe("strict profile: import/export job requests", () => {
  let registry: Registry;
  let box: StagingContainer;

  beforeAll(async () => {
    registry = registryFor(await createStrictHub("strict-storage"));
    box = await createStagingContainer("strict-storage");
    await registry.addDevices([{ deviceId: "a", status: "enabled" }]);
  });

  it("refuses at create, with 400, a blob SAS, an expired SAS, a SAS without write, and a missing container", async () => {
    const base = box.client.url;
    const cases: Array<[string, string, RegExp]> = [
      ["blob SAS", `${base}?${sas(box.name, { blob: "devices.txt", permissions: "rw" })}`, /blob SAS, but a container SAS \(sr=c\) is required/],
      ["expired", `${base}?${sas(box.name, { expiresOn: new Date(Date.now() - 60_000) })}`, /expired/],
      ["read-only", `${base}?${sas(box.name, { permissions: "rl" })}`, /lacks the 'w' permission/],
      ["no container", `${base}-missing?${sas(`${box.name}-missing`, {})}`, /does not exist/],
    ];
    for (const [what, uri, reason] of cases) {
      const err = await rejection(createJob(registry, { type: "export", outputBlobContainerUri: uri, excludeKeysInExport: false }));
      expect(err, what).toBeInstanceOf(sdkErrors.ArgumentError);
      expect(err.response?.statusCode, what).toBe(400);
      expect(parseServiceError(err.responseBody).message, what).toMatch(reason);
    }
    expect((await registry.listJobs()).responseBody as unknown[]).toHaveLength(0);
  });

  it("refuses identity-based jobs while the storage role assignment propagates, then accepts them", async () => {
    const hub = await createStrictHub("strict-role", { storageRoleReadyAt: new Date(Date.now() + 1500).toISOString() });
    const r = registryFor(hub);
    const body = { type: "export", outputBlobContainerUri: box.client.url, excludeKeysInExport: false, storageAuthenticationType: "identityBased" };
    const early = await rejection(createJob(r, body));
    expect(early.response?.statusCode).toBe(400);
    expect(parseServiceError(early.responseBody).message).toMatch(/not authorized/);
    let job: Job | undefined;
    for (let i = 0; i < 60 && !job; i++) {
      await new Promise((res) => setTimeout(res, 100));
      job = await createJob(r, body).catch(() => undefined);
    }
    expect((await waitForJob(r, job!.jobId)).status).toBe("completed");
  });

  it("echoes the container URI on create and blanks it on get and list; a second job is refused with 403 JobQuotaExceeded", async () => {
    const created = await createJob(registry, { type: "export", outputBlobContainerUri: box.sasUri, excludeKeysInExport: false });
    expect(created.outputBlobContainerUri).toBe(box.sasUri);
    const second = await rejection(createJob(registry, { type: "export", outputBlobContainerUri: box.sasUri, excludeKeysInExport: false }));
    expect(second.response?.statusCode).toBe(403);
    expect(parseServiceError(second.responseBody)).toMatchObject({ name: "JobQuotaExceeded" });
    const done = await waitForJob(registry, created.jobId);
    expect(done.outputBlobContainerUri).toBe("");
    expect(done).not.toHaveProperty("outputBlobName");
    const listed = (await registry.listJobs()).responseBody as unknown as Job[];
    expect(listed.map((j) => j.outputBlobContainerUri)).toEqual([""]);
  });
});

describe("strict profile: import files", () => {
  it("fails lines without status (delete lines too), one by one, and imports the rest", async () => {
    const registry = registryFor(await createStrictHub("strict-status"));
    await registry.addDevices([{ deviceId: "old", status: "enabled" }]);
    const box = await createStagingContainer("strict-status");
    await upload(box, "devices.txt", [
      { id: "with-status", importMode: "create", status: "enabled" },
      { id: "no-status", importMode: "create" },
      { id: "old", importMode: "delete" },
    ]);
    const job = await createJob(registry, { type: "import", inputBlobContainerUri: box.sasUri, outputBlobContainerUri: box.sasUri });
    expect((await waitForJob(registry, job.jobId)).status).toBe("completed");
    const errors = jsonLines(await download(box, "importErrors.log"));
    expect(errors.map((e) => `${e.deviceId}:${e.errorCode}`).sort()).toEqual(["no-status:400005", "old:400005"]);
    expect(errors[0].errorStatus).toMatch(/status is required/);
  });

  it("near the quota, fails the lines over it with 403002 (an edge device counts 3) and completes the job", async () => {
    const registry = registryFor(await createStrictHub("strict-quota", { deviceQuota: 5 }));
    const box = await createStagingContainer("strict-quota");
    await upload(box, "devices.txt", [
      { id: "d1", status: "enabled" },
      { id: "edge1", status: "enabled", capabilities: { iotEdge: true } },
      { id: "d2", status: "enabled" },
      { id: "edge2", status: "enabled", capabilities: { iotEdge: true } },
      { id: "d3", status: "enabled" },
    ]);
    const job = await createJob(registry, { type: "import", inputBlobContainerUri: box.sasUri, outputBlobContainerUri: box.sasUri });
    expect((await waitForJob(registry, job.jobId)).status).toBe("completed");
    const errors = jsonLines(await download(box, "importErrors.log"));
    expect(errors.map((e) => `${e.deviceId}:${e.errorCode}`)).toEqual(["edge2:403002", "d3:403002"]);
  });

  it("regenerates the keys of an existing device when a createOrUpdate line has none (the default profile keeps them)", async () => {
    for (const strict of [true, false]) {
      const hub = strict ? await createStrictHub("strict-keys") : await createTestHub("default-keys");
      const registry = registryFor(hub);
      await registry.addDevices([{ deviceId: "k", status: "enabled", authentication: { symmetricKey: { primaryKey: KEY(1), secondaryKey: KEY(2) } } }]);
      const box = await createStagingContainer("keys");
      await upload(box, "devices.txt", [{ id: "k", importMode: "createOrUpdate", status: "enabled" }]);
      const job = await createJob(registry, { type: "import", inputBlobContainerUri: box.sasUri, outputBlobContainerUri: box.sasUri });
      expect((await waitForJob(registry, job.jobId)).status).toBe("completed");
      await new Promise((r) => setTimeout(r, 300)); // past the strict hub's (scaled) consistency lag
      const { responseBody: d } = await registry.get("k");
      expect(d.authentication?.symmetricKey?.primaryKey === KEY(1), strict ? "strict" : "default").toBe(!strict);
    }
  });
});

describe("strict profile: exports", () => {
  it("a key-less export starts with a line for people, has authentication null and no parentScopes", async () => {
    const registry = registryFor(await createStrictHub("strict-export"));
    await registry.create({ deviceId: "gw", status: "enabled", capabilities: { iotEdge: true } } as never);
    const { responseBody: gw } = await registry.get("gw");
    await registry.create({ deviceId: "leaf", status: "enabled", deviceScope: (gw as unknown as { deviceScope: string }).deviceScope } as never);
    const box = await createStagingContainer("strict-export");
    const job = await createJob(registry, { type: "export", outputBlobContainerUri: box.sasUri, excludeKeysInExport: true });
    expect((await waitForJob(registry, job.jobId)).status).toBe("completed");
    const lines = (await download(box, "devices.txt")).split("\r\n").filter(Boolean);
    expect(() => JSON.parse(lines[0])).toThrow();
    const devices = lines.slice(1).map((l) => JSON.parse(l) as Record<string, any>);
    const leaf = devices.find((d) => d.id === "leaf" && !d.moduleId)!;
    expect(leaf.authentication).toBeNull();
    expect(leaf.parentScopes).toBeUndefined();
    expect(leaf.deviceScope).toBe((gw as unknown as { deviceScope: string }).deviceScope);
  });

  it("writes configurations PascalCase and imports only createOrUpdateIfMatchETag lines", async () => {
    const registry = registryFor(await createStrictHub("strict-configs"));
    await registry.addConfiguration({ id: "adm", content: { deviceContent: { "properties.desired.x": 1 } }, targetCondition: "tags.a='b'", priority: 1 } as never);
    const box = await createStagingContainer("strict-configs");
    const job = await createJob(registry, { type: "export", outputBlobContainerUri: box.sasUri, excludeKeysInExport: false, includeConfigurations: true });
    expect((await waitForJob(registry, job.jobId)).status).toBe("completed");
    const [config] = jsonLines(await download(box, "configurations.txt"));
    expect(Object.keys(config)).toEqual(expect.arrayContaining(["Id", "Content", "TargetCondition", "Priority"]));

    const target = registryFor(await createStrictHub("strict-configs-in"));
    const inBox = await createStagingContainer("strict-configs-in");
    await upload(inBox, "devices.txt", []);
    await upload(inBox, "configurations.txt", [
      { ...config, Id: "copied", ImportMode: "createOrUpdateIfMatchETag" },
      { ...config, Id: "plain", ImportMode: "createOrUpdate" },
    ]);
    const imp = await createJob(target, { type: "import", inputBlobContainerUri: inBox.sasUri, outputBlobContainerUri: inBox.sasUri, includeConfigurations: true });
    expect((await waitForJob(target, imp.jobId)).status).toBe("completed");
    expect((await target.getConfiguration("copied")).responseBody.content).toEqual({ deviceContent: { "properties.desired.x": 1 } });
    const errors = jsonLines(await download(inBox, "importConfigErrors.log"));
    expect(errors.map((e) => e.configurationId)).toEqual(["plain"]);
  });

  it("a module configuration must target FROM devices.modules", async () => {
    const registry = registryFor(await createStrictHub("strict-module-config"));
    const err = await rejection(registry.addConfiguration({ id: "m", content: { moduleContent: { "properties.desired.x": 1 } }, targetCondition: "tags.a='b'" } as never));
    expect(err.response?.statusCode).toBe(400);
    await registry.addConfiguration({ id: "m", content: { moduleContent: { "properties.desired.x": 1 } }, targetCondition: "FROM devices.modules WHERE moduleId = 'x'" } as never);
  });
});

describe("strict profile: consistency lag", () => {
  it("an imported device is missing from GET and queries for a while; a deleted one is still in queries", async () => {
    // 30 s real lag at 100× = 300 ms.
    const registry = registryFor(await createStrictHub("strict-lag", { consistencyLagMs: 30_000 }));
    await registry.addDevices([{ deviceId: "going", status: "enabled" }]);
    const box = await createStagingContainer("strict-lag");
    await upload(box, "devices.txt", [{ id: "fresh", importMode: "create", status: "enabled" }]);
    const job = await createJob(registry, { type: "import", inputBlobContainerUri: box.sasUri, outputBlobContainerUri: box.sasUri });
    expect((await waitForJob(registry, job.jobId)).status).toBe("completed");
    await registry.delete("going");
    const ids = async () => ((await registry.createQuery("SELECT * FROM devices").nextAsTwin()).result as Array<{ deviceId: string }>).map((t) => t.deviceId).sort();
    const missing = await rejection(registry.get("fresh"));
    const early = await ids();
    expect(missing).toBeInstanceOf(sdkErrors.DeviceNotFoundError);
    expect(early).toEqual(["going"]);
    let late: string[] = [];
    for (let i = 0; i < 100 && late.join() !== "fresh"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      late = await ids();
    }
    expect(late).toEqual(["fresh"]);
    expect((await registry.get("fresh")).responseBody.deviceId).toBe("fresh");
  });
});

describe("strict profile: throttling and scheduled jobs per tier", () => {
  it("holds a request briefly when the allowance returns soon (traffic shaping), else answers 429 without Retry-After, the wait only in the message", async () => {
    // Real time on S1: 100 registry operations per minute per unit, bulk calls count each device.
    const registry = registryFor(await createStrictHub("strict-429", { timeScale: 1, consistencyLagMs: 0 }));
    await registry.addDevices(Array.from({ length: 99 }, (_, i) => ({ deviceId: `t-${i}`, status: "enabled" as const })));
    // 1 left + 1 more due within a second: held, then admitted (no 429).
    await registry.addDevices([{ deviceId: "t-99", status: "enabled" }, { deviceId: "t-100", status: "enabled" }]);
    // 60 more would need ~36 s: beyond the 10 s shaping window, refused at once.
    const err = await rejection(registry.addDevices(Array.from({ length: 60 }, (_, i) => ({ deviceId: `u-${i}`, status: "enabled" as const }))));
    expect(err).toBeInstanceOf(sdkErrors.ThrottlingError);
    expect(err.response?.headers["retry-after"]).toBeUndefined();
    expect(parseServiceError(err.responseBody).message).toMatch(/Wait \d+ seconds and try again/);
  });

  it("S1 runs one scheduled job at a time and refuses another with 429004; S2 takes five", async () => {
    for (const [sku, slots] of [["S1", 1], ["S2", 5]] as const) {
      const hub = await createStrictHub(`strict-slots-${sku}`, { sku });
      const jobs = jobClientFor(hub);
      const later = new Date(Date.now() + 3600_000);
      for (let i = 0; i < slots; i++) await jobs.scheduleTwinUpdate(`j${i}`, "tags.x = 1", { etag: "*", tags: { y: 1 } }, later, 60);
      const over = await rejection(jobs.scheduleTwinUpdate("over", "tags.x = 1", { etag: "*", tags: { y: 1 } }, later, 60));
      expect(over, sku).toBeInstanceOf(sdkErrors.ThrottlingError);
      expect(parseServiceError(over.responseBody), sku).toMatchObject({ name: "ThrottlingMaxActiveJobCountExceeded" });
      await jobs.cancelJob("j0");
      await jobs.scheduleTwinUpdate("after-cancel", "tags.x = 1", { etag: "*", tags: { y: 1 } }, later, 60);
    }
  });

  it("paces device operations by tier and terminates a job at maxExecutionTimeInSeconds", async () => {
    // 10× time scale: S1 does 100 device operations per emulated second; 300 devices need 3 s, the job may live 60 s / 10 = 6 s → completes;
    // with 10 s (1 s here) it cannot finish and fails with devices left pending.
    const hub = await createStrictHub("strict-pace", { timeScale: 10, consistencyLagMs: 0, throttling: false });
    const registry = registryFor(hub);
    for (let i = 0; i < 3; i++) await registry.addDevices(Array.from({ length: 100 }, (_, j) => ({ deviceId: `p-${i * 100 + j}`, status: "enabled" as const })));
    const jobs = jobClientFor(hub);
    const poll = async (id: string) => {
      for (let i = 0; i < 600; i++) {
        const s = (await jobs.getJob(id)).jobStatus as unknown as { status: string; failureReason?: string; deviceJobStatistics: { succeededCount: number; pendingCount: number } };
        if (["completed", "failed", "cancelled"].includes(s.status)) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error("job did not end");
    };
    await jobs.scheduleTwinUpdate("short", "status = 'enabled'", { etag: "*", properties: { desired: { a: 1 } } }, new Date(), 10);
    const short = await poll("short");
    expect(short.status).toBe("failed");
    expect(short.failureReason).toMatch(/maxExecutionTimeInSeconds/);
    expect(short.deviceJobStatistics.pendingCount).toBeGreaterThan(0);
    await jobs.scheduleTwinUpdate("long", "status = 'enabled'", { etag: "*", properties: { desired: { a: 2 } } }, new Date(), 60);
    const long = await poll("long");
    expect(long.status).toBe("completed");
    expect(long.deviceJobStatistics.succeededCount).toBe(300);
  });
});
