/**
 * The engine against the local hub: a full copy of every device kind, the stored result on a
 * rerun, delta sync with deletions, no key left in staging or in any log line.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { blobServiceClient, createTestHub, registryFor, type TestHub } from "../support/local-hub";
import { copyDevices, syncDevices, verifyDevices, exportDevices, deleteDevices, cleanupRun, type CopyResult, type Progress } from "../../components/devices";
import { containsSecret } from "../../components/secrets";
import { copiedView, copyOptions, dumpRegistry, logSink, seedEveryKind, uniqueContainer } from "./engine-fixtures";

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

async function blobNames(container: string): Promise<string[]> {
  const names: string[] = [];
  for await (const b of blobServiceClient().getContainerClient(container).listBlobsFlat()) names.push(b.name);
  return names.sort();
}

async function blobText(container: string, name: string): Promise<string> {
  return (await blobServiceClient().getContainerClient(container).getBlobClient(name).downloadToBuffer()).toString("utf8");
}

describe("copyDevices: every kind, exactly", () => {
  let source: TestHub;
  let clone: TestHub;
  let seeded: { deviceIds: string[]; keys: string[] };
  let before: Record<string, unknown>;
  let result: CopyResult;
  const container = uniqueContainer();
  const sink = logSink();
  const progress: Progress[] = [];

  beforeAll(async () => {
    source = await createTestHub("eng-src");
    clone = await createTestHub("eng-cln");
    seeded = await seedEveryKind(source);
    before = await dumpRegistry(source);
    result = await copyDevices(copyOptions(source, clone, container, "full-1", { log: sink.log, onProgress: (x) => progress.push(x) }));
  });

  it("copies identities, keys, thumbprints, status and reason, tags, desired, custom modules, the 3-level edge hierarchy and configurations", async () => {
    const want = await copiedView(source);
    const got = await copiedView(clone);
    expect(got).toEqual(want);
    // The view's parent column is the proof the hierarchy survived: spot-check it is not vacuous.
    expect((got["leaf-low"] as { parent: string }).parent).toBe("gw-low");
    expect((got["gw-low"] as { parent: string }).parent).toBe("gw-mid");
    expect((got["gw-mid"] as { parent: string }).parent).toBe("gw-top");
    expect((got["disabled-1"] as { statusReason: string }).statusReason).toBe("reported stolen 2026-01-02");
    expect((got.$configurations as unknown[]).length).toBe(3);
  });

  it("reports exact counts, no failures, and a verification that found nothing wrong", () => {
    expect(result).toMatchObject({ exported: 10, exportedModules: 3, imported: 13, failed: 0, verified: 10, mismatchCount: 0, reparented: 4, alreadyComplete: false });
    expect(result.failures).toEqual([]);
    expect(result.mismatches).toEqual([]);
    expect(result.configurations).toEqual({ exported: 3, imported: 3, failed: 0 });
    expect(Object.keys(result.jobIds).sort()).toEqual(["cloneExport", "import", "reparent", "sourceExport", "verifyExport"]);
    expect(result.sync).toMatchObject({ generation: 1, changed: 13, unchanged: 0 });
  });

  it("leaves the original untouched (its registry dumped before and after is identical)", async () => {
    expect(await dumpRegistry(source)).toEqual(before);
  });

  it("leaves no blob holding a key in the staging container: only the checkpoint and the key-free manifest", async () => {
    const names = await blobNames(container);
    expect(names).toEqual(["runs/full-1/checkpoint.json", "runs/full-1/direction.json", "runs/full-1/g1/manifest.tsv", "runs/full-1/lock"]);
    for (const n of names) {
      const text = await blobText(container, n);
      for (const k of seeded.keys) expect(text).not.toContain(k);
    }
  });

  it("prints progress lines in the documented shape and never a key, SAS or connection string", () => {
    expect(progress.some((x) => /^devices: export \d+%/.test(x.message))).toBe(true);
    expect(progress.some((x) => /^devices: import \d+% \(\d[\d,]*\/13\)$/.test(x.message))).toBe(true);
    const all = [...sink.lines, ...progress.map((x) => x.message), JSON.stringify(result)];
    expect(all.length).toBeGreaterThan(5);
    for (const line of all) {
      expect(containsSecret(line), line).toBe(false);
      for (const k of seeded.keys) expect(line).not.toContain(k);
      expect(line).not.toContain(source.connectionString);
      expect(line).not.toMatch(/sig=/i);
    }
  });

  it("a second call with the same runId returns the stored result and starts no job", async () => {
    const jobsBefore = await p<unknown[]>((cb) => registryFor(clone).listJobs(cb as never));
    const again = await copyDevices(copyOptions(source, clone, container, "full-1"));
    expect(again.alreadyComplete).toBe(true);
    expect(again.imported).toBe(13);
    expect(await p<unknown[]>((cb) => registryFor(clone).listJobs(cb as never))).toHaveLength(jobsBefore.length);
  });

  it("verifyDevices agrees, and reports a key rotated on the clone as a difference", async () => {
    const opts = { source: { connectionString: source.connectionString }, clone: { connectionString: clone.connectionString }, staging: { connectionString: copyOptions(source, clone, container, "x").staging.connectionString, containerName: container }, local: copyOptions(source, clone, container, "x").local, pollIntervalMs: { min: 30, max: 200 } };
    const ok = await verifyDevices(opts);
    expect(ok).toMatchObject({ ok: true, source: 10, clone: 10, sourceModules: 3, cloneModules: 3, matched: 10, missingCount: 0, extraCount: 0, differentCount: 0 });
    expect(ok.configurations).toMatchObject({ source: 3, clone: 3, missing: [], different: [] });
    const r = registryFor(clone);
    const dev = await p<Record<string, unknown>>((cb) => r.get("sas-1", cb as never));
    await p((cb) => r.update({ ...dev, authentication: { type: "sas", symmetricKey: { primaryKey: Buffer.alloc(32, 1).toString("base64"), secondaryKey: Buffer.alloc(32, 2).toString("base64") } } } as never, cb as never));
    const bad = await verifyDevices(opts);
    expect(bad.ok).toBe(false);
    expect(bad.different).toEqual([{ id: "sas-1", fields: ["keys"] }]);
    expect((await blobNames(container)).filter((n) => n.startsWith("verify/"))).toEqual([]);
    // Put it back for the tests below.
    await p((cb) => r.update({ ...dev } as never, cb as never));
  });
});

describe("syncDevices: delta", () => {
  it("imports only new and changed devices (1% changed → 1% of lines), deletes devices deleted at the source when asked", async () => {
    const source = await createTestHub("sync-src");
    const clone = await createTestHub("sync-cln");
    const r = registryFor(source);
    const n = 300;
    const devs = Array.from({ length: n }, (_, i) => ({ deviceId: `d-${String(i).padStart(4, "0")}`, status: "enabled" }));
    for (let i = 0; i < n; i += 100) await p((cb) => r.addDevices(devs.slice(i, i + 100) as never, cb as never));
    const container = uniqueContainer();
    const first = await copyDevices(copyOptions(source, clone, container, "sync-1", { includeConfigurations: false }));
    expect(first).toMatchObject({ exported: n, imported: n, failed: 0, mismatchCount: 0, verified: n });

    // 1% changed (3 devices: a tag, a status with reason, a desired property), 1 new, 2 deleted.
    await p((cb) => r.updateTwin("d-0007", { tags: { moved: true } }, "*", cb as never));
    const d8 = await p<Record<string, unknown>>((cb) => r.get("d-0008", cb as never));
    await p((cb) => r.update({ ...d8, status: "disabled", statusReason: "decommissioned" } as never, cb as never));
    await p((cb) => r.updateTwin("d-0009", { properties: { desired: { rate: 10 } } }, "*", cb as never));
    await p((cb) => r.create({ deviceId: "new-1", status: "enabled" } as never, cb as never));
    await p((cb) => r.delete("d-0100", cb as never));
    await p((cb) => r.delete("d-0101", cb as never));

    const noDelete = await syncDevices(copyOptions(source, clone, container, "sync-1", { includeConfigurations: false, generation: 1 }));
    expect(noDelete.sync).toEqual({ generation: 2, sourceLines: n - 1, changed: 4, unchanged: n - 5, deletedAtSource: 2 });
    expect(noDelete.imported).toBe(4);
    expect(noDelete.deleted).toBe(0);
    // Not deleting: the two stay in the clone and verification says so.
    expect(noDelete.mismatchCount).toBe(2);
    expect(noDelete.mismatches.map((m) => m.id).sort()).toEqual(["d-0100", "d-0101"]);

    // Same generation again: stored result, nothing imported.
    expect((await syncDevices(copyOptions(source, clone, container, "sync-1", { includeConfigurations: false, generation: 1 }))).alreadyComplete).toBe(true);

    const withDelete = await syncDevices(copyOptions(source, clone, container, "sync-1", { includeConfigurations: false, generation: 2, deleteMissing: true }));
    expect(withDelete.sync).toMatchObject({ generation: 3, changed: 0, deletedAtSource: 2 });
    expect(withDelete).toMatchObject({ imported: 0, deleted: 2, failed: 0, mismatchCount: 0, verified: n - 1 });
    expect(await copiedView(clone)).toEqual(await copiedView(source));
  });
});

describe("syncDevices: with a filter", () => {
  it("leaves the devices the filter excludes alone: not deleted with deleteMissing, not counted as deleted, and known to the next unfiltered sync", async () => {
    // Between cutover waves: wave 1 lives on the clone now, so syncs copy wave 2 only.
    const source = await createTestHub("fsync-src");
    const clone = await createTestHub("fsync-cln");
    const r = registryFor(source);
    const devs = Array.from({ length: 60 }, (_, i) => ({ deviceId: `d-${String(i).padStart(4, "0")}`, status: "enabled" }));
    await p((cb) => r.addDevices(devs as never, cb as never));
    for (const d of devs) await p((cb) => r.updateTwin(d.deviceId, { tags: { wave: Number(d.deviceId.slice(2)) < 20 ? 1 : 2 } }, "*", cb as never));
    await p((cb) => r.addModule({ deviceId: "d-0001", moduleId: "m" } as never, cb as never));
    await p((cb) => r.addModule({ deviceId: "d-0030", moduleId: "m" } as never, cb as never));
    const container = uniqueContainer();
    const first = await copyDevices(copyOptions(source, clone, container, "fsync", { includeConfigurations: false }));
    expect(first).toMatchObject({ exported: 60, exportedModules: 2, failed: 0, mismatchCount: 0 });

    // Wave 1 told to move (at the original), and changed on the clone since it moved.
    for (let i = 0; i < 20; i++) await p((cb) => r.updateTwin(`d-${String(i).padStart(4, "0")}`, { properties: { desired: { iotHubHostName: "clone.example" } } }, "*", cb as never));
    await p((cb) => registryFor(clone).updateTwin("d-0003", { properties: { desired: { rate: 5 } } }, "*", cb as never));
    // Wave 2 goes on changing at the original.
    await p((cb) => r.updateTwin("d-0050", { tags: { wave: 2, floor: 3 } }, "*", cb as never));
    await p((cb) => r.delete("d-0055", cb as never));

    const wave2 = await syncDevices(copyOptions(source, clone, container, "fsync", { includeConfigurations: false, generation: 2, deleteMissing: true, filter: { query: "tags.wave = 2" } }));
    expect(wave2.sync).toMatchObject({ generation: 2, changed: 1, deletedAtSource: 1 });
    expect(wave2).toMatchObject({ imported: 1, deleted: 1, failed: 0, mismatchCount: 0 });
    const cloneIds = (await p<Array<{ deviceId: string }>>((cb) => registryFor(clone).list(cb as never))).map((d) => d.deviceId);
    expect(cloneIds).toHaveLength(59);
    expect(cloneIds).not.toContain("d-0055");
    const twin = await p<{ properties: { desired: Record<string, unknown> } }>((cb) => registryFor(clone).getTwin("d-0003", cb as never));
    expect(twin.properties.desired.rate).toBe(5); // the clone's own change survives

    // An unfiltered sync later knows what the clone holds for wave 1: 20 devices changed, their module not.
    const all = await syncDevices(copyOptions(source, clone, container, "fsync", { includeConfigurations: false, generation: 3 }));
    expect(all.sync).toMatchObject({ generation: 3, changed: 20, deletedAtSource: 0 });
    expect(all).toMatchObject({ imported: 20, failed: 0 });
  });
});

describe("exportDevices and deleteDevices", () => {
  it("exports one hub read-only (with keys), then deletes exactly the devices a run imported", async () => {
    const source = await createTestHub("exp-src");
    const clone = await createTestHub("exp-cln");
    await seedEveryKind(source);
    const before = await dumpRegistry(source);
    const container = uniqueContainer();
    const staging = copyOptions(source, clone, container, "x").staging;
    const local = copyOptions(source, clone, container, "x").local;
    const ex = await exportDevices({ connectionString: source.connectionString }, staging, { blobName: "backup/src.txt", includeConfigurations: true, local, pollIntervalMs: { min: 30, max: 200 } });
    expect(ex).toMatchObject({ blobName: "backup/src.txt", devices: 10, modules: 3 + 2 * 3, configurations: 3 });
    expect(await dumpRegistry(source)).toEqual(before);

    const r = registryFor(clone);
    await p((cb) => r.create({ deviceId: "pre-existing", status: "enabled" } as never, cb as never));
    // The clone holds a device no run put there: the direction guard needs to be told.
    await copyDevices(copyOptions(source, clone, container, "del-1", { filter: { deviceIds: ["sas-1", "self-1", "ca-1"] }, forceOverwriteTarget: true }));
    const del = await deleteDevices({ connectionString: clone.connectionString }, staging, { importedByRun: "del-1" }, { local, pollIntervalMs: { min: 30, max: 200 } });
    expect(del).toMatchObject({ requested: 3, deleted: 3, alreadyAbsent: 0, failed: 0 });
    const left = (await p<Array<{ deviceId: string }>>((cb) => r.list(cb as never))).map((d) => d.deviceId);
    expect(left).toEqual(["pre-existing"]);
    const again = await deleteDevices({ connectionString: clone.connectionString }, staging, { deviceIds: ["sas-1", "pre-existing"] }, { local, pollIntervalMs: { min: 30, max: 200 } });
    expect(again).toMatchObject({ requested: 2, deleted: 1, alreadyAbsent: 1, failed: 0 });
    expect(await cleanupRun(staging, "del-1")).toBe(4);
    expect(await blobNames(container)).toEqual(["backup/configurations.txt", "backup/src.txt"]);
  });
});

describe("a standalone export", () => {
  it("runs a new job when an earlier export wrote the same blob name, instead of answering from that finished job's (stale) blob", async () => {
    const source = await createTestHub("exp-again");
    const clone = await createTestHub("exp-again-cln");
    const r = registryFor(source);
    await p((cb) => r.create({ deviceId: "first", status: "enabled" } as never, cb as never));
    const o = copyOptions(source, clone, uniqueContainer(), "x");
    const at = { blobName: "exports/same.txt", local: o.local, pollIntervalMs: { min: 30, max: 200 } };
    const one = await exportDevices({ connectionString: source.connectionString }, o.staging, at);
    expect(one.devices).toBe(1);
    await p((cb) => r.create({ deviceId: "second", status: "enabled" } as never, cb as never));
    const two = await exportDevices({ connectionString: source.connectionString }, o.staging, at);
    expect(two.jobId).not.toBe(one.jobId);
    expect(two.devices).toBe(2);
  });
});

describe("staging modes and import modes", () => {
  it("identity-based staging: the hubs' jobs get the bare container URL (no SAS) and identityBased authentication", async () => {
    const source = await createTestHub("id-src");
    const clone = await createTestHub("id-cln");
    await seedEveryKind(source);
    const o = copyOptions(source, clone, uniqueContainer(), "ident", { filter: { deviceIds: ["sas-1", "self-1", "gw-top"] } });
    const r = await copyDevices({ ...o, staging: { ...o.staging, authentication: "identityBased", userAssignedIdentity: "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/hub-id" } });
    expect(r).toMatchObject({ exported: 3, exportedModules: 2, failed: 0, mismatchCount: 0, verified: 3 });
    for (const hub of [source, clone]) {
      const jobs = await p<Array<Record<string, unknown>>>((cb) => registryFor(hub).listJobs(cb as never));
      expect(jobs.length).toBeGreaterThan(0);
      for (const j of jobs) {
        expect(j.storageAuthenticationType).toBe("identityBased");
        expect(j.identity).toEqual({ userAssignedIdentity: "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/hub-id" });
        expect(String(j.outputBlobContainerUri)).not.toContain("?");
      }
    }
  });

  it("key-based staging: each job gets its own container SAS with only the permissions it needs", async () => {
    const source = await createTestHub("sas-src");
    const clone = await createTestHub("sas-cln");
    await seedEveryKind(source);
    const started = Date.now();
    await copyDevices(copyOptions(source, clone, uniqueContainer(), "sas-perm", { filter: { deviceIds: ["sas-1"] }, jobDeadlineMs: 3600_000 }));
    const sas = (uri: unknown) => new URL(String(uri)).searchParams;
    const exp = (await p<Array<Record<string, unknown>>>((cb) => registryFor(source).listJobs(cb as never)))[0];
    expect(sas(exp.outputBlobContainerUri).get("sp")).toBe("rwd");
    expect(sas(exp.outputBlobContainerUri).get("sr")).toBe("c");
    const expiry = Date.parse(sas(exp.outputBlobContainerUri).get("se")!);
    // Expires shortly after the job's own deadline (1 h) plus 15 minutes' grace, not days later.
    expect(expiry).toBeGreaterThan(started + 3600_000);
    expect(expiry).toBeLessThan(Date.now() + 3600_000 + 16 * 60_000);
    const imp = (await p<Array<Record<string, unknown>>>((cb) => registryFor(clone).listJobs(cb as never))).find((j) => j.type === "import")!;
    expect(sas(imp.inputBlobContainerUri).get("sp")).toBe("r");
    expect(sas(imp.outputBlobContainerUri).get("sp")).toBe("rwd");
  });

  it("importMode create reports devices that already exist in the clone (409001) and copies the rest", async () => {
    const source = await createTestHub("crt-src");
    const clone = await createTestHub("crt-cln");
    await seedEveryKind(source);
    const own = { deviceId: "sas-1", status: "enabled" };
    await p((cb) => registryFor(clone).create(own as never, cb as never));
    const r = await copyDevices(copyOptions(source, clone, uniqueContainer(), "create-mode", { importMode: "create", filter: { deviceIds: ["sas-1", "self-1", "ca-1"] } }));
    expect(r.failed).toBe(1);
    expect(r.failures).toEqual([expect.objectContaining({ deviceId: "sas-1", errorCode: "409001" })]);
    // The clone's own sas-1 was not overwritten, and verification says it differs.
    expect(r.mismatches).toEqual([{ id: "sas-1", fields: ["desired", "keys", "tags"] }]);
    expect(r.verified).toBe(2);
  });

  it("a query filter copies just the matching devices, their modules following them, hierarchy included", async () => {
    const source = await createTestHub("flt-src");
    const clone = await createTestHub("flt-cln");
    await seedEveryKind(source);
    const r = await copyDevices(copyOptions(source, clone, uniqueContainer(), "query", { filter: { query: "SELECT * FROM devices WHERE capabilities.iotEdge = true" }, includeConfigurations: false }));
    expect(r).toMatchObject({ exported: 3, exportedModules: 3, imported: 6, failed: 0, reparented: 2, verified: 3, mismatchCount: 0 });
    const want = await copiedView(source);
    const got = await copiedView(clone);
    expect(Object.keys(got).sort()).toEqual(["$configurations", "gw-low", "gw-mid", "gw-top"]);
    for (const id of ["gw-low", "gw-mid", "gw-top"]) expect(got[id]).toEqual(want[id]);
  });
});
