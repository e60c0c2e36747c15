/**
 * A delta sync carries changes that REMOVE data (issue 11's known defect): tags and desired
 * properties cleared at the original, a status reason removed, a parent removed, a module twin's
 * desired properties cleared; plus a device disabled with a reason, a deleted device and a new one.
 * The local hub keeps a twin section an import line leaves out (the harsher reading of
 * service-behaviours.md §10), so this fails if the import line leaves cleared sections out.
 */
import { describe, expect, it } from "vitest";
import { blobServiceClient, configureHub, createStrictHub, createTestHub, registryFor, type TestHub } from "../support/local-hub";
import { copyDevices, syncDevices } from "../../components/devices";
import { copiedView, copyOptions, uniqueContainer } from "./engine-fixtures";

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

/** The scenario, on hubs made by `hub` (the default profile, or the Azure-strict one). */
export async function clearingScenario(hub: (prefix: string) => Promise<TestHub>): Promise<void> {
    const source = await hub("clr-src");
    const clone = await hub("clr-cln");
    const r = registryFor(source);
    const create = (d: Record<string, unknown>) => p<{ deviceScope?: string; etag?: string }>((cb) => r.create(d as never, cb as never));
    const gw = await create({ deviceId: "gw", status: "enabled", capabilities: { iotEdge: true } });
    await create({ deviceId: "leaf", status: "enabled", deviceScope: gw.deviceScope, parentScopes: [gw.deviceScope] });
    for (const id of ["tagged", "desired", "both", "reasoned", "to-disable", "to-delete"]) await create({ deviceId: id, status: id === "reasoned" ? "disabled" : "enabled", ...(id === "reasoned" ? { statusReason: "stolen" } : {}) });
    for (const id of ["tagged", "both", "leaf"]) await p((cb) => r.updateTwin(id, { tags: { site: "berlin", floor: 2 } }, "*", cb as never));
    for (const id of ["desired", "both"]) await p((cb) => r.updateTwin(id, { properties: { desired: { fw: { version: "1.2" }, rate: 5 } } }, "*", cb as never));
    await p((cb) => r.addModule({ deviceId: "gw", moduleId: "filter" } as never, cb as never));
    await p((cb) => r.updateModuleTwin("gw", "filter", { properties: { desired: { interval: 5 } } }, "*", cb as never));

    const container = uniqueContainer();
    const first = await copyDevices(copyOptions(source, clone, container, "clr", { includeConfigurations: false }));
    expect(first).toMatchObject({ failed: 0, mismatchCount: 0 });
    expect(await copiedView(clone)).toEqual(await copiedView(source));

    // Removals at the original (merge patches with null remove a twin key; the last key gone leaves {}).
    await p((cb) => r.updateTwin("tagged", { tags: { site: null, floor: null } }, "*", cb as never));
    await p((cb) => r.updateTwin("desired", { properties: { desired: { fw: null, rate: null } } }, "*", cb as never));
    await p((cb) => r.updateTwin("both", { tags: { site: null, floor: null }, properties: { desired: { fw: null, rate: null } } }, "*", cb as never));
    await p((cb) => r.updateModuleTwin("gw", "filter", { properties: { desired: { interval: null } } }, "*", cb as never));
    const reasoned = await p<Record<string, unknown>>((cb) => r.get("reasoned", cb as never));
    await p((cb) => r.update({ ...reasoned, status: "enabled", statusReason: "" } as never, cb as never));
    const toDisable = await p<Record<string, unknown>>((cb) => r.get("to-disable", cb as never));
    await p((cb) => r.update({ ...toDisable, status: "disabled", statusReason: "returned to vendor" } as never, cb as never));
    // The leaf leaves its parent (the Azure CLI's way: deviceScope "").
    const leaf = await p<Record<string, unknown>>((cb) => r.get("leaf", cb as never));
    await p((cb) => r.update({ ...leaf, deviceScope: "", parentScopes: [] } as never, cb as never));
    await p((cb) => r.delete("to-delete", cb as never));
    await create({ deviceId: "new-1", status: "enabled" });
    const want = await copiedView(source);
    expect(want.tagged).toMatchObject({ tags: {} });
    expect(want.leaf).toMatchObject({ parent: null });

    const sync = await syncDevices(copyOptions(source, clone, container, "clr", { includeConfigurations: false, generation: 1, deleteMissing: true }));
    expect(sync).toMatchObject({ failed: 0, deleted: 1, mismatchCount: 0 });
    // Only what changed went out: tagged, desired, both, gw/filter, reasoned, to-disable, leaf, new-1.
    expect(sync.sync).toMatchObject({ generation: 2, changed: 8, deletedAtSource: 1 });
    const got = await copiedView(clone);
    expect(got).toEqual(want);
    expect(got.both).toMatchObject({ tags: {}, desired: {} });
    expect(got.reasoned).toMatchObject({ status: "enabled", statusReason: "" });
    expect(got["to-disable"]).toMatchObject({ status: "disabled", statusReason: "returned to vendor" });
    expect((got.gw as { modules: Array<{ desired: unknown }> }).modules[0].desired).toEqual({});

    // Nothing left to carry: the next sync finds every line unchanged.
    const again = await syncDevices(copyOptions(source, clone, container, "clr", { includeConfigurations: false, generation: 2, deleteMissing: true }));
    expect(again).toMatchObject({ imported: 0, mismatchCount: 0 });
}

describe("syncDevices: changes that remove data", () => {
  it("clears on the clone what was cleared at the original, and verification then finds nothing wrong", async () => {
    await clearingScenario((prefix) => createTestHub(prefix));
  });

  it("does the same on the Azure-strict local hub (S1 limits, replication lag, no parentScopes in exports, status required)", async () => {
    await clearingScenario((prefix) => createStrictHub(prefix));
  });

  it("counts a delete that fails as a failure, not a deletion, and deletes it again in the next sync; a delete of a device already gone is no failure", async () => {
    const source = await createTestHub("del-src");
    const clone = await createTestHub("del-cln");
    const r = registryFor(source);
    for (let i = 0; i < 5; i++) await p((cb) => r.create({ deviceId: `d-${i}` } as never, cb as never));
    const container = uniqueContainer();
    expect(await copyDevices(copyOptions(source, clone, container, "del", { includeConfigurations: false }))).toMatchObject({ failed: 0, mismatchCount: 0 });
    await p((cb) => r.delete("d-1", cb as never));
    await p((cb) => r.delete("d-2", cb as never));
    // d-1 is gone from the clone too (someone deleted it there): its delete line meets 404.
    await p((cb) => registryFor(clone).delete("d-1", cb as never));

    // The import job runs, the engine dies before recording it; its error log is replaced by one
    // where d-2's delete failed. The rerun adopts the finished job and reads that log.
    let stopped = false;
    const crash = copyOptions(source, clone, container, "del", { includeConfigurations: false, generation: 1, deleteMissing: true, hooks: { afterJobCreated: (step) => { if (step === "import") { stopped = true; throw new Error("killed"); } } } });
    await expect(syncDevices(crash)).rejects.toThrow("killed");
    expect(stopped).toBe(true);
    const c = blobServiceClient().getContainerClient(container);
    const log = c.getBlockBlobClient("importErrors.log");
    for (let i = 0; i < 100 && !(await log.exists()); i++) await new Promise((res) => setTimeout(res, 50));
    const original = (await log.downloadToBuffer()).toString("utf8");
    expect(original).toContain("d-1"); // the 404 of the device already gone
    const failedDelete = JSON.stringify({ deviceId: "d-2", errorCode: "500001", errorStatus: "ServerError: delete refused" });
    const text = `${original.trim()}\n${failedDelete}\n`;
    await log.upload(text, Buffer.byteLength(text));

    const sync = await syncDevices(copyOptions(source, clone, container, "del", { includeConfigurations: false, generation: 1, deleteMissing: true }));
    expect(sync.sync).toMatchObject({ generation: 2, deletedAtSource: 2 });
    expect(sync.deleted).toBe(1); // d-1 (already gone) counts as deleted; d-2 does not
    expect(sync.failed).toBe(1);
    expect(sync.failures).toEqual([expect.objectContaining({ deviceId: "d-2", errorStatus: "delete failed: ServerError: delete refused" })]);

    // d-2 stayed in the manifest: the next sync sends its delete again (the job had in fact deleted it: 404, done).
    const next = await syncDevices(copyOptions(source, clone, container, "del", { includeConfigurations: false, generation: 2, deleteMissing: true }));
    expect(next.sync).toMatchObject({ generation: 3, deletedAtSource: 1 });
    expect(next).toMatchObject({ deleted: 1, failed: 0, mismatchCount: 0 });
    // And the one after has nothing left to delete.
    const last = await syncDevices(copyOptions(source, clone, container, "del", { includeConfigurations: false, generation: 3, deleteMissing: true }));
    expect(last.sync).toMatchObject({ deletedAtSource: 0 });
  });

  it("gives the engine's quota message for 403002, whether the job fails whole or line by line", async () => {
    const source = await createTestHub("quo-src");
    const clone = await createTestHub("quo-cln");
    const r = registryFor(source);
    for (let i = 0; i < 6; i++) await p((cb) => r.create({ deviceId: `q-${i}` } as never, cb as never));
    const quotaMessage = /the clone hub is at its device quota \(403002 IotHubQuotaExceeded; .*add units or a tier, or copy fewer devices with filter/;
    // The local hub's default: the whole job fails with 403002.
    await configureHub(clone.name, { deviceQuota: 4 });
    await expect(copyDevices(copyOptions(source, clone, uniqueContainer(), "quo-job", { includeConfigurations: false }))).rejects.toThrow(quotaMessage);
    // A fresh clone for the second part: the failed run left devices no run recorded, which the direction guard refuses to overwrite.
    const clone2 = await createTestHub("quo-cln2");

    // The documented form (service-behaviours.md §8): the job completes, lines fail with 403002.
    // The engine dies after starting the import; the job's error log is replaced by two such lines.
    const container = uniqueContainer();
    await expect(copyDevices(copyOptions(source, clone2, container, "quo", { includeConfigurations: false, hooks: { afterJobCreated: (step) => { if (step === "import") throw new Error("killed"); } } }))).rejects.toThrow("killed");
    const log = blobServiceClient().getContainerClient(container).getBlockBlobClient("importErrors.log");
    for (let i = 0; i < 100 && !(await log.exists()); i++) await new Promise((res) => setTimeout(res, 50));
    const text = ["q-4", "q-5"].map((id) => JSON.stringify({ deviceId: id, errorCode: 403002, errorStatus: "ErrorCode:IotHubQuotaExceeded;Total number of devices exceeds the quota" })).join("\n");
    await log.upload(text, Buffer.byteLength(text));
    const logs: string[] = [];
    const result = await copyDevices(copyOptions(source, clone2, container, "quo", { includeConfigurations: false, log: (l) => logs.push(l) }));
    expect(result.failed).toBe(2);
    expect(result.failures.map((f) => f.deviceId)).toEqual(["q-4", "q-5"]);
    for (const f of result.failures) expect(f.errorStatus).toMatch(quotaMessage);
    expect(logs.some((l) => /import: 2 line\(s\) failed with 403002: the clone hub is at its device quota/.test(l))).toBe(true);
  });
});
