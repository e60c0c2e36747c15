/**
 * Import/export jobs of the local IoT Hub through the real azure-iothub SDK, with blobs in Azurite
 * read and written by @azure/storage-blob.
 */
import { parseServiceError } from "../support/service-errors";
import { beforeAll, describe, expect, it } from "vitest";
import type { Registry } from "azure-iothub";
import { configureHub, createStagingContainer, createTestHub, registryFor, type StagingContainer, type TestHub } from "../support/local-hub";

type Job = { jobId: string; status: string; progress: number; failureReason?: string | null; type: string };

async function waitForJob(registry: Registry, jobId: string): Promise<{ job: Job; seen: string[] }> {
  const seen: string[] = [];
  for (let i = 0; i < 1200; i++) {
    const job = (await registry.getJob(jobId)) as unknown as Job;
    if (seen[seen.length - 1] !== job.status) seen.push(job.status);
    if (["completed", "failed", "cancelled"].includes(job.status)) return { job, seen };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function readLines(container: StagingContainer, blob: string): Promise<Array<Record<string, any>>> {
  const text = (await container.client.getBlockBlobClient(blob).downloadToBuffer()).toString("utf8");
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, any>);
}

async function writeLines(container: StagingContainer, blob: string, lines: object[]): Promise<void> {
  const text = lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
  await container.client.getBlockBlobClient(blob).upload(text, Buffer.byteLength(text));
}

/** POST /jobs/create for options the SDK's helpers cannot set (blob names, includeConfigurations), still through the SDK's REST client. */
function createJob(registry: Registry, body: object): Promise<Job> {
  const rest = (registry as unknown as { _restApiClient: { executeApiCall: (...a: unknown[]) => void } })._restApiClient;
  return new Promise((resolve, reject) =>
    rest.executeApiCall("POST", "/jobs/create?api-version=2021-04-12", { "Content-Type": "application/json; charset=utf-8" }, body, (err: Error | null, result: Job) =>
      err ? reject(err) : resolve(result),
    ),
  );
}

const KEY = (n: number) => Buffer.alloc(32, n).toString("base64");

describe("local IoT Hub: export and import jobs", () => {
  let source: TestHub;
  let sourceRegistry: Registry;

  beforeAll(async () => {
    source = await createTestHub("jobs-source");
    sourceRegistry = registryFor(source);
    const devices = Array.from({ length: 40 }, (_, i) => ({
      deviceId: `dev-${i}`,
      authentication: { symmetricKey: { primaryKey: KEY(i + 1), secondaryKey: KEY(i + 101) } },
      status: (i % 10 === 0 ? "disabled" : "enabled") as "enabled" | "disabled",
    }));
    await sourceRegistry.addDevices(devices);
    await sourceRegistry.updateTwin("dev-1", { tags: { site: "lyon" }, properties: { desired: { interval: 30 } } }, "*");
    await sourceRegistry.addModule({ deviceId: "dev-2", moduleId: "filter", authentication: { symmetricKey: { primaryKey: KEY(201), secondaryKey: KEY(202) } } } as never);
    await sourceRegistry.updateModuleTwin("dev-2", "filter", { properties: { desired: { threshold: 7 } } }, "*");
    await sourceRegistry.create({ deviceId: "gateway", capabilities: { iotEdge: true } });
  });

  it("exports devices.txt with keys, twins and module lines, going enqueued → running → completed", async () => {
    const out = await createStagingContainer("export");
    await configureHub(source.name, { jobDevicesPerSecond: 200 });
    try {
      const created = (await sourceRegistry.exportDevicesToBlob(out.sasUri, false)) as unknown as Job;
      expect(created.status).toBe("enqueued");
      expect(created.type).toBe("export");
      const { job, seen } = await waitForJob(sourceRegistry, created.jobId);
      expect(job).toMatchObject({ status: "completed", progress: 100 });
      expect(seen).toContain("running");
    } finally {
      await configureHub(source.name, { jobDevicesPerSecond: null });
    }
    const lines = await readLines(out, "devices.txt");
    const deviceLines = lines.filter((l) => !l.moduleId);
    expect(deviceLines).toHaveLength(41);
    const dev1 = deviceLines.find((l) => l.id === "dev-1")!;
    expect(dev1.authentication.symmetricKey).toEqual({ primaryKey: KEY(2), secondaryKey: KEY(102) });
    expect(dev1.tags).toEqual({ site: "lyon" });
    expect(dev1.properties.desired.interval).toBe(30);
    expect(deviceLines.find((l) => l.id === "dev-0")!.status).toBe("disabled");
    const moduleLines = lines.filter((l) => l.moduleId);
    expect(moduleLines.map((l) => `${l.id}/${l.moduleId}`).sort()).toEqual(["dev-2/filter", "gateway/$edgeAgent", "gateway/$edgeHub"]);
    const gateway = deviceLines.find((l) => l.id === "gateway")!;
    expect(gateway.deviceScope).toMatch(/^ms-azure-iot-edge:\/\/gateway-\d+$/);
  });

  it("exports without keys when asked, and such a file imports with new keys", async () => {
    const out = await createStagingContainer("export-nokeys");
    const created = (await sourceRegistry.exportDevicesToBlob(out.sasUri, true)) as unknown as Job;
    expect((await waitForJob(sourceRegistry, created.jobId)).job.status).toBe("completed");
    const lines = await readLines(out, "devices.txt");
    expect(lines.every((l) => l.authentication.symmetricKey.primaryKey === null)).toBe(true);

    const target = await createTestHub("jobs-nokeys");
    const targetRegistry = registryFor(target);
    const imported = (await targetRegistry.importDevicesFromBlob(out.sasUri, out.sasUri)) as unknown as Job;
    expect((await waitForJob(targetRegistry, imported.jobId)).job.status).toBe("completed");
    const { responseBody: dev5 } = await targetRegistry.get("dev-5");
    expect(dev5.authentication!.symmetricKey!.primaryKey).toBeTruthy();
    expect(dev5.authentication!.symmetricKey!.primaryKey).not.toBe(KEY(6));
  });

  it("round-trips export → import between two hubs preserving keys, twins and modules", async () => {
    const box = await createStagingContainer("roundtrip");
    const exported = (await sourceRegistry.exportDevicesToBlob(box.sasUri, false)) as unknown as Job;
    expect((await waitForJob(sourceRegistry, exported.jobId)).job.status).toBe("completed");

    const target = await createTestHub("jobs-target");
    const targetRegistry = registryFor(target);
    const imported = (await targetRegistry.importDevicesFromBlob(box.sasUri, box.sasUri)) as unknown as Job;
    const { job } = await waitForJob(targetRegistry, imported.jobId);
    expect(job.status).toBe("completed");

    const { responseBody: dev3 } = await targetRegistry.get("dev-3");
    expect(dev3.authentication!.symmetricKey).toEqual({ primaryKey: KEY(4), secondaryKey: KEY(104) });
    expect((await targetRegistry.get("dev-0")).responseBody.status).toBe("disabled");
    const { responseBody: twin } = await targetRegistry.getTwin("dev-1");
    expect(twin.tags).toEqual({ site: "lyon" });
    expect(twin.properties.desired.interval).toBe(30);
    const { responseBody: module } = await targetRegistry.getModule("dev-2", "filter");
    expect((module as { authentication: { symmetricKey: unknown } }).authentication.symmetricKey).toEqual({ primaryKey: KEY(201), secondaryKey: KEY(202) });
    expect((await targetRegistry.getModuleTwin("dev-2", "filter")).responseBody.properties.desired.threshold).toBe(7);

    // The edge device is recreated with the target hub's own scope; its system modules cannot be imported.
    const gateway = (await targetRegistry.get("gateway")).responseBody as unknown as { deviceScope: string; generationId: string };
    expect(gateway.deviceScope).toBe(`ms-azure-iot-edge://gateway-${gateway.generationId}`);
    const errors = await readLines(box, "importErrors.log");
    expect(errors.map((e) => `${e.deviceId}/${e.moduleId}:${e.errorCode}`).sort()).toEqual(["gateway/$edgeAgent:401100", "gateway/$edgeHub:401100"]);
    expect((await targetRegistry.getRegistryStatistics()).responseBody.totalDeviceCount).toBe(41);
  });

  it("applies every import mode with its semantics and logs failures in importErrors.log", async () => {
    const hub = await createTestHub("jobs-modes");
    const registry = registryFor(hub);
    await registry.addDevices(["upd", "upd-etag", "upd-etag-bad", "cou-etag", "del", "del-etag", "del-etag-bad", "twin", "twin-etag", "twin-etag-bad", "exists"].map((deviceId) => ({ deviceId })));
    const etag = async (id: string) => (await registry.get(id)).responseBody.etag;
    const twinEtag = async (id: string) => (await registry.getTwin(id)).responseBody.etag;
    const box = await createStagingContainer("modes");
    await writeLines(box, "devices.txt", [
      { id: "new-default", status: "enabled" },
      { id: "new-create", importMode: "create", status: "enabled" },
      { id: "exists", importMode: "Create", status: "enabled" },
      { id: "upd", importMode: "update", status: "disabled" },
      { id: "missing-upd", importMode: "UPDATE", status: "enabled" },
      { id: "upd-etag", importMode: "updateIfMatchETag", eTag: await etag("upd-etag"), status: "disabled" },
      { id: "upd-etag-bad", importMode: "updateIfMatchETag", eTag: "bogus", status: "disabled" },
      { id: "cou-etag", importMode: "createOrUpdateIfMatchETag", eTag: await etag("cou-etag"), status: "disabled" },
      { id: "cou-new", importMode: "createOrUpdateIfMatchETag", status: "enabled" },
      { id: "del", importMode: "delete", status: "enabled" },
      { id: "missing-del", importMode: "delete", status: "enabled" },
      { id: "del-etag", importMode: "deleteIfMatchETag", eTag: await etag("del-etag"), status: "enabled" },
      { id: "del-etag-bad", importMode: "DeleteIfMatchETag", eTag: "bogus", status: "enabled" },
      { id: "twin", importMode: "updateTwin", status: "enabled", tags: { t: 1 }, properties: { desired: { d: 1 } } },
      { id: "twin-etag", importMode: "updateTwinIfMatchETag", twinETag: await twinEtag("twin-etag"), status: "enabled", tags: { t: 2 } },
      { id: "twin-etag-bad", importMode: "updateTwinIfMatchETag", twinETag: "bogus", status: "enabled", tags: { t: 3 } },
      { id: "new-default", status: "enabled" },
    ]);
    const out = await createStagingContainer("modes-out");
    const created = (await registry.importDevicesFromBlob(box.sasUri, out.sasUri)) as unknown as Job;
    expect((await waitForJob(registry, created.jobId)).job.status).toBe("completed");

    const exists = async (id: string) => registry.get(id).then(() => true, () => false);
    const status = async (id: string) => (await registry.get(id)).responseBody.status;
    expect(await exists("new-default")).toBe(true);
    expect(await exists("new-create")).toBe(true);
    expect(await status("upd")).toBe("disabled");
    expect(await exists("missing-upd")).toBe(false);
    expect(await status("upd-etag")).toBe("disabled");
    expect(await status("upd-etag-bad")).toBe("enabled");
    expect(await status("cou-etag")).toBe("disabled");
    expect(await exists("cou-new")).toBe(true);
    expect(await exists("del")).toBe(false);
    expect(await exists("del-etag")).toBe(false);
    expect(await exists("del-etag-bad")).toBe(true);
    expect((await registry.getTwin("twin")).responseBody.tags).toEqual({ t: 1 });
    expect((await registry.getTwin("twin")).responseBody.properties.desired.d).toBe(1);
    expect((await registry.getTwin("twin-etag")).responseBody.tags).toEqual({ t: 2 });
    expect((await registry.getTwin("twin-etag-bad")).responseBody.tags).toEqual({});

    const errors = await readLines(out, "importErrors.log");
    const byId = Object.fromEntries(errors.map((e) => [e.deviceId, e.errorCode]));
    expect(byId).toEqual({
      exists: "409001",
      "missing-upd": "404001",
      "upd-etag-bad": "412001",
      "missing-del": "404001",
      "del-etag-bad": "412001",
      "twin-etag-bad": "412001",
      "new-default": "400011",
    });
    expect(errors.every((e) => /^\d{6}$/.test(e.errorCode) && typeof e.errorStatus === "string")).toBe(true);
  });

  it("refuses a second active import/export job with 403 JobQuotaExceeded and cancels a running one", async () => {
    const hub = await createTestHub("jobs-quota", { jobDevicesPerSecond: 5 });
    const registry = registryFor(hub);
    await registry.addDevices(Array.from({ length: 60 }, (_, i) => ({ deviceId: `q-${i}` })));
    const out = await createStagingContainer("quota");
    const first = (await registry.exportDevicesToBlob(out.sasUri, false)) as unknown as Job;
    let refused: { name?: string; response?: { statusCode: number; headers: Record<string, string> }; responseBody?: string } = {};
    await registry.exportDevicesToBlob(out.sasUri, false).catch((e: typeof refused) => (refused = e));
    expect(refused.name).toBe("TooManyDevicesError");
    expect(refused.response?.statusCode).toBe(403);
    expect(refused.response?.headers["iothub-errorcode"]).toBe("JobQuotaExceeded");
    expect(parseServiceError(refused.responseBody)).toMatchObject({ form: "code-name", name: "JobQuotaExceeded" });

    const cancelled = (await registry.cancelJob(first.jobId)) as unknown as Job;
    expect(cancelled.status).toBe("cancelled");
    expect((await waitForJob(registry, first.jobId)).job.status).toBe("cancelled");
    const listed = (await registry.listJobs()).responseBody as Job[];
    expect(listed.map((j) => j.jobId)).toContain(first.jobId);
    // With the first job cancelled a new one is accepted.
    await configureHub(hub.name, { jobDevicesPerSecond: null });
    const second = (await registry.exportDevicesToBlob(out.sasUri, false)) as unknown as Job;
    expect((await waitForJob(registry, second.jobId)).job.status).toBe("completed");
  });

  it("fails an import whose input blob is missing with BlobContainerValidationError", async () => {
    const hub = await createTestHub("jobs-missing");
    const registry = registryFor(hub);
    const empty = await createStagingContainer("missing");
    const created = (await registry.importDevicesFromBlob(empty.sasUri, empty.sasUri)) as unknown as Job;
    const { job } = await waitForJob(registry, created.jobId);
    expect(job.status).toBe("failed");
    expect(job.failureReason).toMatch(/BlobContainerValidationError|400008/);
  });

  it("fails a job at the injected progress", async () => {
    const hub = await createTestHub("jobs-fault", { jobFailAtProgress: 50, jobDevicesPerSecond: 400 });
    const registry = registryFor(hub);
    await registry.addDevices(Array.from({ length: 100 }, (_, i) => ({ deviceId: `f-${i}` })));
    const out = await createStagingContainer("fault");
    const created = (await registry.exportDevicesToBlob(out.sasUri, false)) as unknown as Job;
    const { job } = await waitForJob(registry, created.jobId);
    expect(job.status).toBe("failed");
    expect(job.progress).toBeGreaterThanOrEqual(50);
    expect(job.failureReason).toMatch(/Injected failure/);
  });

  it("exports and imports configurations with includeConfigurations and custom blob names", async () => {
    const hub = await createTestHub("jobs-configs");
    const registry = registryFor(hub);
    await registry.create({ deviceId: "c-1" });
    await registry.addConfiguration({ id: "adm-1", content: { deviceContent: { "properties.desired.x": 1 } }, targetCondition: "tags.site='a'", priority: 3, labels: { team: "ops" } } as never);
    await registry.addConfiguration({
      id: "edge-base",
      content: { modulesContent: { $edgeAgent: { "properties.desired": { schemaVersion: "1.1" } }, $edgeHub: { "properties.desired": { schemaVersion: "1.1" } } } },
      targetCondition: "tags.role='gateway'",
      priority: 1,
    } as never);
    const box = await createStagingContainer("configs");
    const exported = await createJob(registry, { type: "export", outputBlobContainerUri: box.sasUri, excludeKeysInExport: false, includeConfigurations: true, outputBlobName: "snapshot.txt", configurationsBlobName: "configs.txt" });
    expect((await waitForJob(registry, exported.jobId)).job.status).toBe("completed");
    const configs = await readLines(box, "configs.txt");
    expect(configs.map((c) => c.id).sort()).toEqual(["adm-1", "edge-base"]);
    expect((await readLines(box, "snapshot.txt")).map((l) => l.id)).toEqual(["c-1"]);

    const target = await createTestHub("jobs-configs-target");
    const targetRegistry = registryFor(target);
    const imported = await createJob(targetRegistry, { type: "import", inputBlobContainerUri: box.sasUri, outputBlobContainerUri: box.sasUri, inputBlobName: "snapshot.txt", includeConfigurations: true, configurationsBlobName: "configs.txt" });
    expect((await waitForJob(targetRegistry, imported.jobId)).job.status).toBe("completed");
    const { responseBody: adm } = await targetRegistry.getConfiguration("adm-1");
    expect(adm).toMatchObject({ id: "adm-1", targetCondition: "tags.site='a'", priority: 3, labels: { team: "ops" } });
    expect((await targetRegistry.getConfigurations()).responseBody).toHaveLength(2);
    expect((await targetRegistry.get("c-1")).responseBody.deviceId).toBe("c-1");
  });
});
