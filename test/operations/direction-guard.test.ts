/**
 * The direction and target guards (components/devices/direction-guard.ts): the rules on their own,
 * then against the local hub through the engine (the CLI's `devices copy|sync` and DeviceMigration
 * both run it): a swapped copy is refused before any job, and the original is unchanged.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { copyDevices, syncDevices, type CopyOptions, type StagingOptions } from "../../components/devices";
import { judgeDirection, type DirectionRecord } from "../../components/devices/direction-guard";
import * as provider from "../../components/devices/provider-impl";
import { blobServiceClient, createTestHub, localEndpoints, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";

const poll = { min: 20, max: 100 };
const rec = (runId: string, original: string, clone: string): DirectionRecord => ({ version: 1, runId, original, clone, recordedAt: "2026-01-01T00:00:00Z" });

describe("judgeDirection (pure)", () => {
  const base = { runId: "r2", source: "b.azure-devices.net", target: "a.azure-devices.net", container: "c", firstGeneration: true };
  it("refuses a target recorded as an original, naming both hubs and the recorded way", () => {
    const v = judgeDirection({ ...base, records: [rec("r1", "A.azure-devices.net", "b.azure-devices.net")] });
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.rule).toBe("target-is-original");
      expect(v.message).toContain("the target a.azure-devices.net is recorded as an ORIGINAL in staging container c (a.azure-devices.net → b.azure-devices.net (run r1))");
      expect(v.message).toContain("this run would copy b.azure-devices.net → a.azure-devices.net, the other way");
      expect(v.message).toContain("--force-overwrite-target");
    }
    // also on a later generation of the same run id
    expect(judgeDirection({ ...base, firstGeneration: false, records: [rec("r1", "a.azure-devices.net", "b.azure-devices.net")] }).ok).toBe(false);
  });
  it("refuses a first generation into a target holding devices no recorded run put there", () => {
    const v = judgeDirection({ ...base, records: [rec("x", "c.azure-devices.net", "d.azure-devices.net")], targetDevices: 7 });
    expect(v).toMatchObject({ ok: false, rule: "target-not-empty" });
    if (!v.ok) expect(v.message).toMatch(/already holds 7 device\(s\) that no run in staging container c put there \(recorded runs: c\.azure-devices\.net → d\.azure-devices\.net \(run x\)\)/);
    expect(judgeDirection({ ...base, records: [], targetDevices: 1 })).toMatchObject({ ok: false, rule: "target-not-empty" });
  });
  it("lets through: an empty target, a later generation, and a new run in a recorded direction", () => {
    expect(judgeDirection({ ...base, records: [], targetDevices: 0 })).toEqual({ ok: true, record: true });
    expect(judgeDirection({ ...base, firstGeneration: false, records: [], targetDevices: 5 })).toEqual({ ok: true, record: true });
    expect(judgeDirection({ ...base, records: [rec("r1", "b.azure-devices.net", "a.azure-devices.net")], targetDevices: 5 })).toEqual({ ok: true, record: true });
    expect(judgeDirection({ ...base, records: [rec("r2", "b.azure-devices.net", "a.azure-devices.net")], targetDevices: 5 })).toEqual({ ok: true, record: false });
  });
});

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}
const jobsOf = async (hub: TestHub) => (await p<unknown[]>((cb) => registryFor(hub).listJobs(cb as never))).length;
async function blobNames(container: string): Promise<string[]> {
  const names: string[] = [];
  for await (const b of blobServiceClient().getContainerClient(container).listBlobsFlat({ includeUncommitedBlobs: true })) names.push(b.name);
  return names.sort();
}
async function twinOf(hub: TestHub, id: string): Promise<{ tags?: Record<string, unknown>; properties: { desired: Record<string, unknown> } }> {
  return (await registryFor(hub).getTwin(id)).responseBody as never;
}

describe("direction guard against the local hub", () => {
  let original: TestHub;
  let clone: TestHub;
  let staging: StagingOptions;
  const opts = (source: TestHub, target: TestHub, extra: Partial<CopyOptions> = {}): CopyOptions => ({
    source: { connectionString: source.connectionString },
    clone: { connectionString: target.connectionString },
    staging,
    runId: `dg-${randomBytes(4).toString("hex")}`,
    local: localEndpoints(),
    pollIntervalMs: poll,
    ...extra,
  });

  beforeAll(async () => {
    original = await createTestHub("dg-orig");
    clone = await createTestHub("dg-clone");
    const r = registryFor(original);
    for (let i = 0; i < 4; i++) {
      await r.create({ deviceId: `d-${i}`, status: "enabled" } as never);
      await r.updateTwin(`d-${i}`, { tags: { site: "berlin", n: i } }, "*");
    }
    staging = { connectionString: stagingConnectionString(), containerName: `dg-${randomBytes(5).toString("hex")}` };
    const first = await copyDevices(opts(original, clone));
    expect(first).toMatchObject({ failed: 0, mismatchCount: 0, verified: 4 });
  });

  it("a swapped copy (clone → original) is refused before any job; the original is unchanged", async () => {
    // the clone's backends change a device: a swapped copy would carry that into the original
    await registryFor(clone).updateTwin("d-0", { tags: { site: "munich" } }, "*");
    const jobsBefore = [await jobsOf(original), await jobsOf(clone)];
    const blobsBefore = await blobNames(staging.containerName);
    const swapped = opts(clone, original);
    await expect(copyDevices(swapped)).rejects.toThrow(
      new RegExp(
        `^clone: refused before any job: the target ${original.hostName} is recorded as an ORIGINAL in staging container ${staging.containerName} \\(${original.hostName} → ${clone.hostName} \\(run dg-[0-9a-f]+\\)\\); this run would copy ${clone.hostName} → ${original.hostName}, the other way`,
      ),
    );
    // a sync the same way: refused too
    await expect(syncDevices({ ...swapped, runId: `dg-${randomBytes(4).toString("hex")}` })).rejects.toThrow(/refused before any job: the target .* is recorded as an ORIGINAL/);
    expect([await jobsOf(original), await jobsOf(clone)]).toEqual(jobsBefore);
    // nothing in the container but the refused runs' (empty) lock blobs
    const added = (await blobNames(staging.containerName)).filter((n) => !blobsBefore.includes(n));
    expect(added.length).toBe(2);
    for (const n of added) expect(n).toMatch(/^runs\/dg-[0-9a-f]+\/lock$/);
    expect((await twinOf(original, "d-0")).tags).toMatchObject({ site: "berlin", n: 0 });
  });

  it("the forward direction keeps working: a sync of the recorded run, and a new run (new filter) the same way", async () => {
    const sync = await syncDevices(opts(original, clone, { filter: { query: "tags.site = 'berlin'" } }));
    expect(sync).toMatchObject({ failed: 0, exported: 4 });
    // the forward copy put the original's value back on the clone
    expect((await twinOf(clone, "d-0")).tags).toMatchObject({ site: "berlin" });
  });

  it("a first copy into a hub that already holds devices nobody of this container put there is refused; --force-overwrite-target goes ahead", async () => {
    const other = await createTestHub("dg-other");
    await registryFor(other).create({ deviceId: "d-1", status: "disabled" } as never);
    await registryFor(other).create({ deviceId: "theirs", status: "enabled" } as never);
    const fresh: StagingOptions = { connectionString: stagingConnectionString(), containerName: `dg-${randomBytes(5).toString("hex")}` };
    const jobsBefore = await jobsOf(other);
    await expect(copyDevices({ ...opts(original, other), staging: fresh })).rejects.toThrow(
      new RegExp(`^clone: refused before any job: the target ${other.hostName} already holds 2 device\\(s\\) that no run in staging container ${fresh.containerName} put there \\(recorded runs: none\\)`),
    );
    expect(await jobsOf(other)).toBe(jobsBefore);
    expect((await p<{ status: string }>((cb) => registryFor(other).get("d-1", cb as never))).status).toBe("disabled");
    const logs: string[] = [];
    const forced = await copyDevices({ ...opts(original, other), staging: fresh, forceOverwriteTarget: true, log: (l) => logs.push(l) });
    expect(forced).toMatchObject({ failed: 0, exported: 4 });
    expect(logs.some((l) => /--force-overwrite-target: the target .* already holds 2 device\(s\)/.test(l))).toBe(true);
  });

  it("DeviceMigration (pulumi up): a new empty clone works; a clone recorded as an original is refused", async () => {
    const spy = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const endpointsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dg-endpoints-")), "endpoints.json");
    try {
      const empty = await createTestHub("dg-dm");
      fs.writeFileSync(endpointsFile, JSON.stringify(localEndpoints()));
      const inputs = (src: TestHub, dst: TestHub) => ({
        sourceHubHostName: src.hostName,
        sourceConnectionString: src.connectionString,
        cloneHubHostName: dst.hostName,
        cloneConnectionString: dst.connectionString,
        stagingConnectionString: stagingConnectionString(),
        stagingContainerName: staging.containerName,
        localEndpointsFile: endpointsFile,
      });
      const created = await provider.create(inputs(original, empty));
      expect(created.outs).toMatchObject({ succeeded: true, exported: 4, imported: 4 });
      // the stack's hubs swapped: refused, nothing imported into the original
      const jobsBefore = await jobsOf(original);
      await expect(provider.create(inputs(empty, original))).rejects.toThrow(/refused before any job: the target .* is recorded as an ORIGINAL/);
      expect(await jobsOf(original)).toBe(jobsBefore);
    } finally {
      spy.mockRestore();
      fs.rmSync(path.dirname(endpointsFile), { recursive: true, force: true });
    }
  });
});
