/**
 * Device/module queries with paging, configurations, twin replace and scheduled twin-update jobs,
 * through the real azure-iothub Registry and JobClient.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { JobClient, Registry } from "azure-iothub";
import { createTestHub, jobClientFor, registryFor, reportProperties, type TestHub } from "../support/local-hub";

async function allPages(registry: Registry, sql: string, pageSize?: number): Promise<{ twins: Array<Record<string, any>>; pages: number[] }> {
  const query = registry.createQuery(sql, pageSize);
  const twins: Array<Record<string, any>> = [];
  const pages: number[] = [];
  while (query.hasMoreResults) {
    const { result } = await query.nextAsTwin();
    pages.push(result.length);
    twins.push(...(result as unknown as Array<Record<string, any>>));
  }
  return { twins, pages };
}

const ids = (twins: Array<Record<string, any>>) => twins.map((t) => String(t.deviceId)).sort();

describe("local IoT Hub: queries", () => {
  let hub: TestHub;
  let registry: Registry;

  beforeAll(async () => {
    hub = await createTestHub("query");
    registry = registryFor(hub);
    await registry.addDevices(
      Array.from({ length: 25 }, (_, i) => ({ deviceId: `q-${String(i).padStart(2, "0")}`, status: (i < 5 ? "disabled" : "enabled") as "enabled" | "disabled" })),
    );
    await registry.create({ deviceId: "edge-q", capabilities: { iotEdge: true } });
    for (let i = 0; i < 10; i++) {
      await registry.updateTwin(`q-${String(i).padStart(2, "0")}`, { tags: { site: i % 2 ? "paris" : "lyon", floor: i }, properties: { desired: { fw: i < 3 ? "1.0" : "2.0" } } }, "*");
    }
    await registry.addModule({ deviceId: "q-01", moduleId: "filter" } as never);
  });

  it("pages SELECT * FROM devices over page boundaries and stops when the continuation header is absent", async () => {
    const { twins, pages } = await allPages(registry, "SELECT * FROM devices", 7);
    expect(pages).toEqual([7, 7, 7, 5]);
    expect(new Set(ids(twins)).size).toBe(26);
    // 25 matches in pages of 5: the last page is full and still carries no continuation.
    const exact = await allPages(registry, "SELECT * FROM devices WHERE deviceId != 'edge-q'", 5);
    expect(exact.pages).toEqual([5, 5, 5, 5, 5]);
  });

  it("answers a continuation token used twice with the same page (a retried page request)", async () => {
    const query = registry.createQuery("SELECT * FROM devices WHERE status = 'enabled'", 6);
    await query.next();
    const token = query.continuationToken as unknown as string;
    const first = (await query.next(token)).result as Array<{ deviceId: string }>;
    const again = (await registry.createQuery("SELECT * FROM devices WHERE status = 'enabled'", 6).next(token)).result as Array<{ deviceId: string }>;
    expect(first).toHaveLength(6);
    expect(again.map((t) => t.deviceId)).toEqual(first.map((t) => t.deviceId));
  });

  it("uses the service's default page size when none is asked", async () => {
    const { pages } = await allPages(registry, "SELECT * FROM devices");
    expect(pages).toEqual([26]);
  });

  it("filters on deviceId, status, capabilities, tags and desired properties with AND/OR/NOT/IN and comparisons", async () => {
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE status = 'disabled'")).twins)).toEqual(["q-00", "q-01", "q-02", "q-03", "q-04"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE capabilities.iotEdge = true")).twins)).toEqual(["edge-q"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE tags.site = 'paris' AND tags.floor >= 5")).twins)).toEqual(["q-05", "q-07", "q-09"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE deviceId IN ['q-01', 'q-20', 'nope']")).twins)).toEqual(["q-01", "q-20"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE properties.desired.fw = '1.0' OR (NOT (tags.site = 'lyon') AND tags.floor < 4)")).twins)).toEqual(["q-00", "q-01", "q-02", "q-03"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE deviceId > 'q-22'")).twins)).toEqual(["q-23", "q-24"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE tags.site NOT IN ['lyon'] AND status = 'enabled'")).twins)).toEqual(["q-05", "q-07", "q-09"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'q-2') AND NOT ENDS_WITH(deviceId, '4')")).twins)).toEqual(["q-20", "q-21", "q-22", "q-23"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE IS_DEFINED(tags.floor) AND tags.floor < 2")).twins)).toEqual(["q-00", "q-01"]);
  });

  it("filters on reported properties that a (simulated) device reported", async () => {
    await reportProperties(hub, "q-11", { firmware: { version: "3.1" }, hubCutover: { done: true } });
    await reportProperties(hub, "q-12", { firmware: { version: "2.9" } });
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE properties.reported.firmware.version >= '3.0'")).twins)).toEqual(["q-11"]);
    expect(ids((await allPages(registry, "SELECT * FROM devices WHERE properties.reported.hubCutover.done = true")).twins)).toEqual(["q-11"]);
    const { responseBody: twin } = await registry.getTwin("q-12");
    expect(twin.properties.reported.firmware).toEqual({ version: "2.9" });
    expect(twin.properties.reported.$version).toBe(2);
  });

  it("queries devices.modules, including the edge system modules", async () => {
    const { twins } = await allPages(registry, "SELECT * FROM devices.modules");
    expect(twins.map((t) => `${t.deviceId}/${t.moduleId}`).sort()).toEqual(["edge-q/$edgeAgent", "edge-q/$edgeHub", "q-01/filter"]);
    const { twins: filtered } = await allPages(registry, "SELECT * FROM devices.modules WHERE moduleId = 'filter'");
    expect(filtered).toHaveLength(1);
  });

  it("answers 400 for query syntax it does not understand", async () => {
    const err = await registry
      .createQuery("SELECT * FROM devices WHERE")
      .nextAsTwin()
      .then(
        () => undefined,
        (e: { response?: { statusCode: number } }) => e,
      );
    expect(err?.response?.statusCode).toBe(400);
  });

  it("replaces a twin's tags and desired properties", async () => {
    await registry.create({ deviceId: "replace-1" });
    const { responseBody: before } = await registry.updateTwin("replace-1", { tags: { a: 1, b: 2 }, properties: { desired: { x: 1 } } }, "*");
    const replaced = await replaceTwin(registry, "replace-1", { tags: { c: 3 }, properties: { desired: { y: 2 } } }, before.etag);
    expect(replaced.tags).toEqual({ c: 3 });
    expect(replaced.properties.desired.y).toBe(2);
    expect(replaced.properties.desired.x).toBeUndefined();
  });
});

/** PUT /twins/{id}: the Node SDK has no replace-twin method, so this one call goes through its REST client. */
function replaceTwin(registry: Registry, id: string, twin: object, etag: string): Promise<Record<string, any>> {
  const rest = (registry as unknown as { _restApiClient: { executeApiCall: (...a: unknown[]) => void } })._restApiClient;
  return new Promise((resolve, reject) =>
    rest.executeApiCall("PUT", `/twins/${encodeURIComponent(id)}?api-version=2021-04-12`, { "Content-Type": "application/json; charset=utf-8", "If-Match": `"${etag}"` }, twin, (err: Error | null, result: Record<string, any>) =>
      err ? reject(err) : resolve(result),
    ),
  );
}

describe("local IoT Hub: configurations", () => {
  it("creates, updates with etags, lists and deletes ADM and layered edge configurations", async () => {
    const registry = registryFor(await createTestHub("configs"));
    const { responseBody: adm } = await registry.addConfiguration({ id: "adm-fw", content: { deviceContent: { "properties.desired.fw": "2.0" } }, targetCondition: "tags.site='paris'", priority: 10 } as never);
    expect(adm).toMatchObject({ id: "adm-fw", priority: 10, schemaVersion: "1.0" });
    await registry.addConfiguration({
      id: "edge-layer",
      content: { modulesContent: { "$edgeAgent": { "properties.desired.modules.sim": { type: "docker" } } } },
      targetCondition: "tags.role='gw'",
      priority: 5,
    } as never);
    const { responseBody: updated } = await registry.updateConfiguration({ ...adm, priority: 11 } as never);
    expect(updated).toMatchObject({ priority: 11 });
    const stale = await registry.updateConfiguration({ ...adm, priority: 12 } as never).then(
      () => undefined,
      (e: { response?: { statusCode: number } }) => e.response?.statusCode,
    );
    expect(stale).toBe(412);
    expect(((await registry.getConfigurations()).responseBody as unknown[]).length).toBe(2);
    await registry.removeConfiguration("edge-layer");
    const missing = await registry.getConfiguration("edge-layer").then(
      () => undefined,
      (e: { response?: { statusCode: number } }) => e.response?.statusCode,
    );
    expect(missing).toBe(404);
  });
});

describe("local IoT Hub: scheduled twin update jobs", () => {
  let hub: TestHub;
  let registry: Registry;
  let jobs: JobClient;

  beforeAll(async () => {
    hub = await createTestHub("sched");
    registry = registryFor(hub);
    jobs = jobClientFor(hub);
    await registry.addDevices(Array.from({ length: 12 }, (_, i) => ({ deviceId: `s-${i}` })));
    for (let i = 0; i < 12; i++) await registry.updateTwin(`s-${i}`, { tags: { wave: i < 8 ? 1 : 2 } }, "*");
  });

  async function finished(jobId: string): Promise<Record<string, any>> {
    for (let i = 0; i < 600; i++) {
      const { jobStatus } = await jobs.getJob(jobId);
      const job = jobStatus as unknown as Record<string, any>;
      if (["completed", "failed", "cancelled"].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job ${jobId} did not finish`);
  }

  it("applies the desired patch to every device matching the query condition", async () => {
    const { jobStatus: scheduled } = await jobs.scheduleTwinUpdate("cutover-wave-1", "tags.wave = 1", { etag: "*", properties: { desired: { hubCutover: { target: "clone" } } } });
    expect((scheduled as unknown as { type: string }).type).toBe("scheduleUpdateTwin");
    const job = await finished("cutover-wave-1");
    expect(job.status).toBe("completed");
    expect(job.deviceJobStatistics).toMatchObject({ deviceCount: 8, succeededCount: 8, failedCount: 0, pendingCount: 0 });
    expect((await registry.getTwin("s-0")).responseBody.properties.desired.hubCutover).toEqual({ target: "clone" });
    expect((await registry.getTwin("s-9")).responseBody.properties.desired.hubCutover).toBeUndefined();
  });

  it("answers queued for a job that starts later (as the service does), waits for its start time, can be cancelled, and shows up in the job query", async () => {
    const start = new Date(Date.now() + 60 * 60_000);
    const { jobStatus: created } = await jobs.scheduleTwinUpdate("later", "tags.wave = 2", { etag: "*", properties: { desired: { x: 1 } } }, start, 600);
    expect((created as unknown as { status: string }).status).toBe("queued");
    await new Promise((r) => setTimeout(r, 200));
    const { jobStatus: waiting } = await jobs.getJob("later");
    expect((waiting as unknown as { status: string }).status).toBe("queued");
    const { jobStatus: cancelled } = await jobs.cancelJob("later");
    expect((cancelled as unknown as { status: string }).status).toBe("cancelled");
    const { result: listed } = await jobs.createQuery("scheduleUpdateTwin").next();
    expect((listed as unknown as Array<{ jobId: string }>).map((j) => j.jobId)).toContain("later");
    expect((await registry.getTwin("s-9")).responseBody.properties.desired.x).toBeUndefined();
  });

  it("rejects a malformed query condition before scheduling anything", async () => {
    const status = await jobs.scheduleTwinUpdate("bad-condition", "tags.wave = = 1", { etag: "*", tags: { a: 1 } }).then(
      () => 0,
      (e: { response?: { statusCode: number } }) => e.response?.statusCode,
    );
    expect(status).toBe(400);
  });
});
