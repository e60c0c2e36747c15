/**
 * Throttles, fault injection and the device quota of the local IoT Hub, as the SDK sees them.
 */
import { parseServiceError } from "../support/service-errors";
import { describe, expect, it } from "vitest";
import type { Registry } from "azure-iothub";
import { configureHub, createStagingContainer, createTestHub, registryFor } from "../support/local-hub";

interface SdkFailure {
  name: string;
  status: number;
  code: string;
  errorCode?: number;
  retryAfter?: string;
}

async function failure(p: Promise<unknown>): Promise<SdkFailure> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; response?: { statusCode: number; headers: Record<string, string> }; responseBody?: string };
    const inner = parseServiceError(e.responseBody);
    return { name: e.name, status: e.response?.statusCode ?? 0, code: e.response?.headers["iothub-errorcode"] ?? "", errorCode: inner.errorCode, retryAfter: e.response?.headers["retry-after"] };
  }
  throw new Error("expected the call to fail");
}

async function waitForJob(registry: Registry, jobId: string): Promise<{ status: string; failureReason?: string }> {
  for (let i = 0; i < 600; i++) {
    const job = (await registry.getJob(jobId)) as unknown as { status: string; failureReason?: string };
    if (["completed", "failed", "cancelled"].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("job did not finish");
}

describe("local IoT Hub: throttling", () => {
  it("spends the S1 identity-registry allowance per device in bulk calls, then answers 429 with Retry-After", async () => {
    const hub = await createTestHub("throttle-s1", { sku: "S1", units: 1, throttling: true });
    const registry = registryFor(hub);
    await registry.addDevices(Array.from({ length: 100 }, (_, i) => ({ deviceId: `t-${i}` })));
    const throttled = await failure(registry.get("t-1"));
    expect(throttled).toMatchObject({ name: "ThrottlingError", status: 429, code: "ThrottlingException", errorCode: 429001 });
    expect(Number(throttled.retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it("scales the allowance with units", async () => {
    const hub = await createTestHub("throttle-units", { sku: "S1", units: 2, throttling: true });
    const registry = registryFor(hub);
    await registry.addDevices(Array.from({ length: 100 }, (_, i) => ({ deviceId: `a-${i}` })));
    await registry.addDevices(Array.from({ length: 99 }, (_, i) => ({ deviceId: `b-${i}` })));
    await expect(registry.get("a-1")).resolves.toBeTruthy();
    expect((await failure(registry.get("a-2"))).status).toBe(429);
  });

  it("applies per-group overrides: queries limited while the registry is not", async () => {
    const hub = await createTestHub("throttle-query", { throttleOverrides: { query: 2 } });
    const registry = registryFor(hub);
    await registry.create({ deviceId: "q" });
    await registry.createQuery("SELECT * FROM devices").nextAsTwin();
    await registry.createQuery("SELECT * FROM devices").nextAsTwin();
    expect((await failure(registry.createQuery("SELECT * FROM devices").nextAsTwin())).status).toBe(429);
    await expect(registry.get("q")).resolves.toBeTruthy();
  });
});

describe("local IoT Hub: fault injection", () => {
  it("fails exactly the Nth call of a group with the chosen status", async () => {
    const hub = await createTestHub("fault-nth");
    const registry = registryFor(hub);
    await registry.create({ deviceId: "f" });
    await configureHub(hub.name, { faults: [{ group: "registry", status: 503, nth: 2 }] });
    await expect(registry.get("f")).resolves.toBeTruthy();
    expect(await failure(registry.get("f"))).toMatchObject({ name: "ServiceUnavailableError", status: 503 });
    await expect(registry.get("f")).resolves.toBeTruthy();
    // Other groups are untouched.
    await expect(registry.getTwin("f")).resolves.toBeTruthy();
  });

  it("fails a fraction of calls a limited number of times, then recovers", async () => {
    const hub = await createTestHub("fault-fraction");
    const registry = registryFor(hub);
    await registry.create({ deviceId: "f" });
    await configureHub(hub.name, { faults: [{ group: "twins", status: 500, fraction: 1, times: 2 }] });
    expect((await failure(registry.getTwin("f"))).name).toBe("InternalServerError");
    expect((await failure(registry.getTwin("f"))).status).toBe(500);
    await expect(registry.getTwin("f")).resolves.toBeTruthy();
  });

  it("slows responses by the configured delay", async () => {
    const hub = await createTestHub("fault-slow", { faults: [{ group: "statistics", delayMs: 300 }] });
    const registry = registryFor(hub);
    const started = Date.now();
    await registry.getRegistryStatistics();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });
});

describe("local IoT Hub: device quota", () => {
  it("counts devices and modules and answers 403 IotHubQuotaExceeded beyond the quota", async () => {
    const hub = await createTestHub("quota", { deviceQuota: 5 });
    const registry = registryFor(hub);
    await registry.create({ deviceId: "gw", capabilities: { iotEdge: true } }); // + $edgeAgent + $edgeHub = 3
    await registry.create({ deviceId: "d1" });
    await registry.addModule({ deviceId: "d1", moduleId: "m" } as never);
    const over = await failure(registry.create({ deviceId: "d2" }));
    expect(over).toMatchObject({ name: "TooManyDevicesError", status: 403, code: "IotHubQuotaExceeded", errorCode: 403002 });
    await registry.delete("d1");
    await expect(registry.create({ deviceId: "d2" })).resolves.toBeTruthy();
  });

  it("fails an import job that would exceed the quota", async () => {
    const hub = await createTestHub("quota-import", { deviceQuota: 10 });
    const registry = registryFor(hub);
    const box = await createStagingContainer("quota-import");
    const text = Array.from({ length: 15 }, (_, i) => JSON.stringify({ id: `i-${i}`, status: "enabled" })).join("\n");
    await box.client.getBlockBlobClient("devices.txt").upload(text, Buffer.byteLength(text));
    const created = (await registry.importDevicesFromBlob(box.sasUri, box.sasUri)) as unknown as { jobId: string };
    const job = await waitForJob(registry, created.jobId);
    expect(job.status).toBe("failed");
    expect(job.failureReason).toMatch(/IotHubQuotaExceeded|403002/);
    expect((await registry.getRegistryStatistics()).responseBody.totalDeviceCount).toBe(10);
  });
});
