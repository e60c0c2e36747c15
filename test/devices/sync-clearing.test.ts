/**
 * A delta sync carries changes that REMOVE data (issue 11's known defect): tags and desired
 * properties cleared at the original, a status reason removed, a parent removed, a module twin's
 * desired properties cleared; plus a device disabled with a reason, a deleted device and a new one.
 * The local hub keeps a twin section an import line leaves out (the harsher reading of
 * service-behaviours.md §10), so this fails if the import line leaves cleared sections out.
 */
import { describe, expect, it } from "vitest";
import { createTestHub, registryFor } from "../support/local-hub";
import { copyDevices, syncDevices } from "../../components/devices";
import { copiedView, copyOptions, uniqueContainer } from "./engine-fixtures";

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

describe("syncDevices: changes that remove data", () => {
  it("clears on the clone what was cleared at the original, and verification then finds nothing wrong", async () => {
    const source = await createTestHub("clr-src");
    const clone = await createTestHub("clr-cln");
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
  });
});
