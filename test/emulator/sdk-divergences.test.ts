/**
 * Issue 15: four places where a real client (the azure-iothub SDK, used the way its own service
 * end-to-end tests use it against a live hub) saw the local hub answer differently from Azure.
 * Written here against the emulator; sources for each behaviour are next to the emulator's rule
 * (errors.ts, hub.ts checkConfigurationContent, scheduled-jobs.ts, job-runner.ts EOL).
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { JobClient, Registry } from "azure-iothub";
import * as sdkErrors from "azure-iothub/dist/common-core/errors";
import { parseServiceError } from "../support/service-errors";
import { configureHub, createStagingContainer, createTestHub, jobClientFor, registryFor, type TestHub } from "../support/local-hub";

type SdkError = Error & { response?: { statusCode: number; headers: Record<string, string> }; responseBody?: string };

async function rejection(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (err) {
    return err as SdkError;
  }
  throw new Error("expected the call to fail");
}

/** POST /jobs/create with fields the SDK helpers cannot set, through the SDK's own REST client. */
function createJob(registry: Registry, body: object): Promise<{ jobId: string; status: string }> {
  const rest = (registry as unknown as { _restApiClient: { executeApiCall: (...a: unknown[]) => void } })._restApiClient;
  return new Promise((resolve, reject) =>
    rest.executeApiCall("POST", "/jobs/create?api-version=2021-04-12", { "Content-Type": "application/json; charset=utf-8" }, body, (err: Error | null, result: { jobId: string; status: string }) =>
      err ? reject(err) : resolve(result),
    ),
  );
}

async function waitForJob(registry: Registry, jobId: string): Promise<{ status: string; failureReason?: string }> {
  for (let i = 0; i < 600; i++) {
    const job = (await registry.getJob(jobId)) as unknown as { responseBody?: { status: string }; status?: string };
    const j = (job.responseBody ?? job) as { status: string; failureReason?: string };
    if (["completed", "failed", "cancelled"].includes(j.status)) return j;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not finish`);
}

describe("issue 15 (a): error bodies the SDK maps", () => {
  let hub: TestHub;
  let registry: Registry;
  let jobs: JobClient;

  beforeAll(async () => {
    hub = await createTestHub("sdk-errors");
    registry = registryFor(hub);
    jobs = jobClientFor(hub);
    await registry.create({ deviceId: "present", status: "enabled" });
  });

  it("a missing device gives DeviceNotFoundError, for get, update, delete and twin reads, from the service's ErrorCode:Name; body", async () => {
    await registry.create({ deviceId: "short-lived", status: "enabled" });
    await registry.delete("short-lived");
    for (const call of [
      () => registry.get("short-lived"),
      () => registry.delete("short-lived"),
      () => registry.getTwin("short-lived"),
      () => registry.update({ deviceId: "never-there", status: "enabled" }),
    ]) {
      const err = await rejection(call());
      expect(err).toBeInstanceOf(sdkErrors.DeviceNotFoundError);
      expect(err.response?.statusCode).toBe(404);
      const body = parseServiceError(err.responseBody);
      expect(body).toMatchObject({ form: "code-name", name: "DeviceNotFound", errorCode: 404001 });
      expect(body.exceptionMessage).toMatch(/^Tracking ID:[0-9a-f]{32}-G:0-TimeStamp:\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d$/);
      expect(err.response?.headers["iothub-errorcode"]).toBe("DeviceNotFound");
    }
  });

  it("a missing module, configuration and job answer 404 with their own code names", async () => {
    const moduleErr = await rejection(registry.getModule("present", "nope"));
    expect(moduleErr.response?.statusCode).toBe(404);
    expect(parseServiceError(moduleErr.responseBody)).toMatchObject({ form: "code-name", name: "ModuleNotFound" });
    const onMissingDevice = await rejection(registry.getModule("absent-device", "nope"));
    expect(onMissingDevice).toBeInstanceOf(sdkErrors.DeviceNotFoundError);

    const configErr = await rejection(registry.getConfiguration("no-such-config"));
    expect(configErr.response?.statusCode).toBe(404);
    expect(parseServiceError(configErr.responseBody)).toMatchObject({ form: "code-name", name: "ConfigurationNotFound" });

    const jobErr = await rejection(registry.getJob("00000000-0000-0000-0000-000000000000"));
    expect(parseServiceError(jobErr.responseBody)).toMatchObject({ form: "code-name", name: "JobNotFound" });
    const scheduledErr = await rejection(jobs.getJob("no-such-job"));
    expect(scheduledErr.response?.statusCode).toBe(404);
    expect(parseServiceError(scheduledErr.responseBody)).toMatchObject({ form: "code-name", name: "JobNotFound" });
  });

  it("conflicts, quota and throttling come out as the SDK's typed errors too", async () => {
    const dup = await rejection(registry.create({ deviceId: "present", status: "enabled" }));
    expect(dup).toBeInstanceOf(sdkErrors.DeviceAlreadyExistsError);
    expect(parseServiceError(dup.responseBody)).toMatchObject({ name: "DeviceAlreadyExists", errorCode: 409001 });
    const quota = await createTestHub("sdk-errors-quota", { deviceQuota: 1 });
    const qr = registryFor(quota);
    await qr.create({ deviceId: "one", status: "enabled" });
    const over = await rejection(qr.create({ deviceId: "two", status: "enabled" }));
    expect(over).toBeInstanceOf(sdkErrors.TooManyDevicesError);
    expect(parseServiceError(over.responseBody)).toMatchObject({ name: "IotHubQuotaExceeded", errorCode: 403002 });
  });

  it("a hub switched to the JSON-in-Message form answers that form (for testing clients against both)", async () => {
    const other = await createTestHub("sdk-errors-json");
    await configureHub(other.name, { errorFormat: "json" });
    const err = await rejection(registryFor(other).get("missing"));
    expect(err.response?.statusCode).toBe(404);
    expect(parseServiceError(err.responseBody)).toMatchObject({ form: "json", errorCode: 404001 });
    expect(err).not.toBeInstanceOf(sdkErrors.DeviceNotFoundError); // why the default is the code-name form
  });
});

describe("issue 15 (b): the three configuration content kinds", () => {
  let registry: Registry;

  beforeAll(async () => {
    registry = registryFor(await createTestHub("sdk-configs"));
  });

  it("accepts a module configuration (moduleContent with module twin paths) and does not treat it as an edge deployment", async () => {
    await registry.addConfiguration({
      id: "module-adm",
      content: { moduleContent: { "properties.desired.telemetryInterval": 30 } },
      targetCondition: "FROM devices.modules WHERE moduleId = 'sensor'",
      priority: 2,
      labels: { kind: "module" },
    } as never);
    const { responseBody: stored } = await registry.getConfiguration("module-adm");
    expect(stored.content).toEqual({ moduleContent: { "properties.desired.telemetryInterval": 30 } });
    expect(Object.keys(stored.systemMetrics?.results ?? {}).sort()).toEqual(["appliedCount", "targetedCount"]);
  });

  it("accepts an edge deployment (modulesContent: module id → twin) and a layered one, with the edge metrics", async () => {
    await registry.addConfiguration({
      id: "edge-base",
      content: { modulesContent: { $edgeAgent: { "properties.desired": { schemaVersion: "1.1" } }, $edgeHub: { "properties.desired": { schemaVersion: "1.1" } } } },
      targetCondition: "tags.role='gateway'",
      priority: 1,
    } as never);
    await registry.addConfiguration({
      id: "edge-layer",
      content: { modulesContent: { $edgeAgent: { "properties.desired.modules.sim": { type: "docker" } } } },
      targetCondition: "tags.role='gateway'",
      priority: 5,
    } as never);
    const { responseBody: base } = await registry.getConfiguration("edge-base");
    expect(Object.keys(base.systemMetrics?.results ?? {})).toContain("reportedSuccessfulCount");
  });

  it("refuses what the service refuses: module ids under moduleContent, twin paths under modulesContent, two kinds at once", async () => {
    const moduleIdsInModuleContent = await rejection(
      registry.addConfiguration({ id: "bad-1", content: { moduleContent: { sensor: { "properties.desired": {} } } }, targetCondition: "FROM devices.modules WHERE moduleId='sensor'" } as never),
    );
    expect(moduleIdsInModuleContent.response?.statusCode).toBe(400);
    expect(parseServiceError(moduleIdsInModuleContent.responseBody).message).toMatch(/moduleContent key 'sensor'/);
    const pathsInModulesContent = await rejection(registry.addConfiguration({ id: "bad-2", content: { modulesContent: { "properties.desired.x": 1 } }, targetCondition: "*" } as never));
    expect(pathsInModulesContent.response?.statusCode).toBe(400);
    const twoKinds = await rejection(
      registry.addConfiguration({ id: "bad-3", content: { deviceContent: { "properties.desired.x": 1 }, moduleContent: { "properties.desired.y": 2 } }, targetCondition: "*" } as never),
    );
    expect(parseServiceError(twoKinds.responseBody).message).toMatch(/only one of/);
  });

  it("exports all three kinds verbatim in the configurations blob", async () => {
    await registry.addConfiguration({ id: "device-adm", content: { deviceContent: { "properties.desired.fw": "2.0" } }, targetCondition: "tags.site='a'", priority: 3 } as never);
    const box = await createStagingContainer("sdk-configs");
    const job = await createJob(registry, { type: "export", outputBlobContainerUri: box.sasUri, excludeKeysInExport: false, includeConfigurations: true });
    expect((await waitForJob(registry, job.jobId)).status).toBe("completed");
    const text = (await box.client.getBlockBlobClient("configurations.txt").downloadToBuffer()).toString("utf8");
    const byId = Object.fromEntries(
      text
        .split("\r\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { id: string; content: Record<string, unknown> })
        .map((c) => [c.id, Object.keys(c.content)]),
    );
    expect(byId).toMatchObject({ "module-adm": ["moduleContent"], "edge-base": ["modulesContent"], "edge-layer": ["modulesContent"], "device-adm": ["deviceContent"] });
  });
});

describe("issue 15 (c): a scheduled job is queued when created", () => {
  it("answers queued for twin-update and device-method jobs scheduled for later and keeps them queued until their start", async () => {
    const hub = await createTestHub("sdk-sched");
    const registry = registryFor(hub);
    const jobs = jobClientFor(hub);
    await registry.create({ deviceId: "d1", status: "enabled" });
    const later = new Date(Date.now() + 3600_000);
    const twin = await jobs.scheduleTwinUpdate("twin-later", "deviceId = 'd1'", { etag: "*", properties: { desired: { a: 1 } } }, later, 300);
    expect((twin.jobStatus as unknown as { status: string }).status).toBe("queued");
    const method = await jobs.scheduleDeviceMethod("method-later", "deviceId = 'd1'", { methodName: "reboot", payload: null, responseTimeoutInSeconds: 30 }, later, 300);
    expect((method.jobStatus as unknown as { status: string }).status).toBe("queued");
    await new Promise((r) => setTimeout(r, 200));
    expect(((await jobs.getJob("twin-later")).jobStatus as unknown as { status: string }).status).toBe("queued");
    const now = await jobs.scheduleTwinUpdate("twin-now", "deviceId = 'd1'", { etag: "*", properties: { desired: { b: 2 } } }, new Date(), 300);
    expect((now.jobStatus as unknown as { status: string }).status).toBe("queued");
    await jobs.cancelJob("twin-later");
    await jobs.cancelJob("method-later");
  });
});

describe("issue 15 (d): export blobs use the service's CRLF line endings", () => {
  it("an export splits on \\r\\n into one JSON device per line, as the C# e2e reads it", async () => {
    const hub = await createTestHub("sdk-eol");
    const registry = registryFor(hub);
    await registry.addDevices(Array.from({ length: 5 }, (_, i) => ({ deviceId: `eol-${i}`, status: "enabled" as const })));
    const box = await createStagingContainer("sdk-eol");
    const job = await createJob(registry, { type: "export", outputBlobContainerUri: box.sasUri, excludeKeysInExport: false });
    expect((await waitForJob(registry, job.jobId)).status).toBe("completed");
    const text = (await box.client.getBlockBlobClient("devices.txt").downloadToBuffer()).toString("utf8");
    expect(text.endsWith("\r\n")).toBe(true);
    const lines = text.split("\r\n").filter(Boolean);
    expect(lines.every((l) => !l.includes("\n"))).toBe(true);
    expect(lines.map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual(["eol-0", "eol-1", "eol-2", "eol-3", "eol-4"]);
  });
});
