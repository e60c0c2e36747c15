/**
 * A killed (SIGKILL) and restarted emulator keeps its hubs, registry, twins, configurations and jobs,
 * and an import job that was running continues to completion. Runs on a private emulator so the
 * restarts do not disturb other test files.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Registry } from "azure-iothub";
import { createStagingContainer, createTestHub, isolateEmulator, registryFor, restartEmulator, stopIsolatedEmulator, type TestHub } from "../support/local-hub";

async function waitForJob(registry: Registry, jobId: string): Promise<{ status: string; progress: number }> {
  for (let i = 0; i < 1200; i++) {
    const job = (await registry.getJob(jobId)) as unknown as { status: string; progress: number };
    if (["completed", "failed", "cancelled"].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("job did not finish");
}

describe("local IoT Hub: persistence across kill -9", () => {
  let hub: TestHub;

  beforeAll(async () => {
    await isolateEmulator();
    hub = await createTestHub("persist");
  });

  afterAll(async () => {
    await stopIsolatedEmulator();
  });

  it("keeps hubs, keys, devices, twins, modules, configurations and finished jobs", async () => {
    const registry = registryFor(hub);
    const { responseBody: device } = await registry.create({ deviceId: "keep-1" });
    await registry.create({ deviceId: "edge-1", capabilities: { iotEdge: true } });
    await registry.updateTwin("keep-1", { tags: { site: "oslo" }, properties: { desired: { x: 1 } } }, "*");
    await registry.addModule({ deviceId: "keep-1", moduleId: "m1" } as never);
    await registry.addConfiguration({ id: "cfg-1", content: { deviceContent: { "properties.desired.y": 2 } }, targetCondition: "*", priority: 1 } as never);
    await registry.delete("edge-1");
    const box = await createStagingContainer("persist");
    const exported = (await registry.exportDevicesToBlob(box.sasUri, false)) as unknown as { jobId: string };
    await waitForJob(registry, exported.jobId);

    await restartEmulator();

    const after = registryFor(hub); // the same connection string: the hub's keys survived
    const { responseBody: again } = await after.get("keep-1");
    expect(again.etag).toBe(device.etag);
    expect(again.authentication!.symmetricKey).toEqual(device.authentication!.symmetricKey);
    expect((await after.getTwin("keep-1")).responseBody.tags).toEqual({ site: "oslo" });
    expect((await after.getModule("keep-1", "m1")).responseBody.moduleId).toBe("m1");
    expect((await after.getConfiguration("cfg-1")).responseBody.id).toBe("cfg-1");
    await expect(after.get("edge-1")).rejects.toThrow();
    expect(((await after.getJob(exported.jobId)) as unknown as { status: string }).status).toBe("completed");
    expect((await after.getRegistryStatistics()).responseBody.totalDeviceCount).toBe(1);
  });

  it("continues an import job that was running when the emulator was killed", async () => {
    const slow = await createTestHub("persist-job", { jobDevicesPerSecond: 40 });
    const registry = registryFor(slow);
    const box = await createStagingContainer("persist-job");
    const text = Array.from({ length: 120 }, (_, i) => JSON.stringify({ id: `j-${i}`, status: "enabled" })).join("\n");
    await box.client.getBlockBlobClient("devices.txt").upload(text, Buffer.byteLength(text));
    const created = (await registry.importDevicesFromBlob(box.sasUri, box.sasUri)) as unknown as { jobId: string };
    let before = { status: "", progress: 0 };
    for (let i = 0; i < 200; i++) {
      before = (await registry.getJob(created.jobId)) as unknown as { status: string; progress: number };
      if (before.status === "running" && before.progress > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(before.status).toBe("running");
    expect(before.progress).toBeLessThan(100);
    await restartEmulator();
    const after = registryFor(slow);
    const job = await waitForJob(after, created.jobId);
    expect(job.status).toBe("completed");
    expect((await after.getRegistryStatistics()).responseBody.totalDeviceCount).toBe(120);
    const errors = (await box.client.getBlockBlobClient("importErrors.log").downloadToBuffer()).toString("utf8");
    // Lines applied after the last checkpoint are applied again: createOrUpdate makes that harmless.
    expect(errors).toBe("");
  });
});
