/**
 * The device engine on the Azure-strict local hub (profile "azure", S1, 100× time scale): the full
 * copy of every device kind and all three configuration kinds, the delta sync (cleared tags and
 * desired properties, a device disabled with a reason, deleted and new devices), and verification.
 * Same expectations as on the forgiving profile (engine.test.ts): the engine must cope with
 * synchronous storage checks, required status, PascalCase configuration lines, CRLF blobs, the
 * consistency lag, key regeneration and the rest (docs/local-hub.md, fidelity table).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { copyDevices, syncDevices, verifyDevices, type CopyResult } from "../../components/devices";
import { createStrictHub, registryFor, STRICT_TEST_TIME_SCALE, type TestHub } from "../support/local-hub";
import { CONSISTENCY_WINDOW_MS } from "../../components/devices/consistency";
import { copiedView, copyOptions, seedEveryKind, uniqueContainer } from "./engine-fixtures";

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

/** Reads of the clone wait out the strict hub's consistency lag (10 s real = 100 ms here), as a user's check would. */
const settle = () => new Promise((r) => setTimeout(r, 400));

describe("strict profile: copyDevices, every kind", () => {
  let source: TestHub;
  let clone: TestHub;
  let result: CopyResult;
  const container = uniqueContainer("strict");

  beforeAll(async () => {
    source = await createStrictHub("s-eng-src");
    clone = await createStrictHub("s-eng-cln");
    await seedEveryKind(source);
    // The third content kind: a module configuration (moduleContent, module twin paths).
    await registryFor(source).addConfiguration({
      id: "module-adm",
      content: { moduleContent: { "properties.desired.interval": 10 } },
      targetCondition: "FROM devices.modules WHERE moduleId = 'telemetry'",
      priority: 4,
    } as never);
    result = await copyDevices(copyOptions(source, clone, container, "strict-full-1"));
  });

  it("copies every kind and all three configuration kinds with no failure and no mismatch", async () => {
    expect.soft(result.failures).toEqual([]);
    expect.soft(result.mismatches).toEqual([]);
    expect.soft(result).toMatchObject({ exported: 10, exportedModules: 3, failed: 0, mismatchCount: 0 });
    expect.soft(result.configurations).toEqual({ exported: 4, imported: 4, failed: 0 });
    await settle();
    expect(await copiedView(clone)).toEqual(await copiedView(source));
  });

  it("verifyDevices agrees", async () => {
    const v = await verifyDevices({ source: { connectionString: source.connectionString }, clone: { connectionString: clone.connectionString }, staging: copyOptions(source, clone, container, "x").staging, local: copyOptions(source, clone, container, "x").local });
    expect({ missing: v.missing, extra: v.extra, different: v.different }).toEqual({ missing: [], extra: [], different: [] });
  });
});

describe("strict profile: syncDevices", () => {
  it("carries new, changed, disabled-with-reason, cleared tags and desired, and deleted devices; the clone then equals the original", async () => {
    const source = await createStrictHub("s-sync-src");
    const clone = await createStrictHub("s-sync-cln");
    const r = registryFor(source);
    const devs = Array.from({ length: 40 }, (_, i) => ({ deviceId: `d-${String(i).padStart(3, "0")}`, status: "enabled" }));
    await p((cb) => r.addDevices(devs as never, cb as never));
    for (const id of ["d-001", "d-002"]) await p((cb) => r.updateTwin(id, { tags: { site: "a" }, properties: { desired: { rate: 5 } } }, "*", cb as never));
    const container = uniqueContainer("strict-sync");
    const first = await copyDevices(copyOptions(source, clone, container, "strict-sync-1", { includeConfigurations: false }));
    expect(first.failures).toEqual([]);
    expect(first).toMatchObject({ exported: 40, imported: 40, failed: 0, mismatchCount: 0 });

    // Changes at the original: clear tags and desired on d-001 (the known defect), a new tag on d-003,
    // d-004 disabled with a reason, one new device, two deleted.
    await p((cb) => r.updateTwin("d-001", { tags: { site: null }, properties: { desired: { rate: null } } }, "*", cb as never));
    await p((cb) => r.updateTwin("d-003", { tags: { moved: true } }, "*", cb as never));
    const d4 = await p<Record<string, unknown>>((cb) => r.get("d-004", cb as never));
    await p((cb) => r.update({ ...d4, status: "disabled", statusReason: "returned to vendor" } as never, cb as never));
    await p((cb) => r.create({ deviceId: "new-1", status: "enabled" } as never, cb as never));
    await p((cb) => r.delete("d-030", cb as never));
    await p((cb) => r.delete("d-031", cb as never));
    await settle();

    const sync = await syncDevices(copyOptions(source, clone, container, "strict-sync-1", { includeConfigurations: false, generation: 1, deleteMissing: true }));
    expect.soft(sync.failures).toEqual([]);
    expect.soft(sync.mismatches).toEqual([]);
    expect.soft(sync).toMatchObject({ failed: 0, deleted: 2, mismatchCount: 0 });
    await settle();
    const got = await copiedView(clone);
    expect(got).toEqual(await copiedView(source));
    expect(got["d-001"]).toMatchObject({ tags: {}, desired: {} });
    expect(got["d-004"]).toMatchObject({ status: "disabled", statusReason: "returned to vendor" });
  });
});

describe("strict profile: consistency lag of seconds", () => {
  it("a copy verifies without a false mismatch while the clone's reads still lag the import (3 s here, 5 min real)", async () => {
    const source = await createStrictHub("s-lag-src");
    const clone = await createStrictHub("s-lag-cln", { consistencyLagMs: 300_000 });
    const r = registryFor(source);
    await p((cb) => r.addDevices(Array.from({ length: 20 }, (_, i) => ({ deviceId: `l-${i}`, status: "enabled" })) as never, cb as never));
    // The engine's recheck window is 10 minutes by default (CONSISTENCY_WINDOW_MS); at this hub's 100x
    // time scale that is 6 s, which must cover the 3 s lag (the fixtures' 2 s would not).
    const result = await copyDevices(copyOptions(source, clone, uniqueContainer("strict-lag"), "strict-lag-1", { includeConfigurations: false, consistencyWindowMs: CONSISTENCY_WINDOW_MS / STRICT_TEST_TIME_SCALE }));
    expect.soft(result.failures).toEqual([]);
    expect(result).toMatchObject({ exported: 20, imported: 20, failed: 0, mismatchCount: 0 });
  });
});

describe("default profile: the three configuration kinds", () => {
  it("copies and verifies deviceContent, moduleContent and modulesContent configurations", async () => {
    const { createTestHub } = await import("../support/local-hub");
    const source = await createTestHub("kinds-src");
    const clone = await createTestHub("kinds-cln");
    const r = registryFor(source);
    await r.addConfiguration({ id: "device-adm", content: { deviceContent: { "properties.desired.fw": "2" } }, targetCondition: "tags.a='b'", priority: 1 } as never);
    await r.addConfiguration({ id: "module-adm", content: { moduleContent: { "properties.desired.interval": 10 } }, targetCondition: "FROM devices.modules WHERE moduleId = 'm'", priority: 2 } as never);
    await r.addConfiguration({ id: "edge", content: { modulesContent: { $edgeAgent: { "properties.desired": { schemaVersion: "1.1" } }, $edgeHub: { "properties.desired": { schemaVersion: "1.1" } } } }, targetCondition: "tags.e='1'", priority: 3 } as never);
    await p((cb) => r.create({ deviceId: "one", status: "enabled" } as never, cb as never));
    const result = await copyDevices(copyOptions(source, clone, uniqueContainer("kinds"), "kinds-1"));
    expect(result.failures).toEqual([]);
    expect(result).toMatchObject({ configurations: { exported: 3, imported: 3, failed: 0 }, mismatchCount: 0 });
    const got = (await copiedView(clone)).$configurations;
    expect(got).toEqual((await copiedView(source)).$configurations);
  });
});
