/**
 * A rollback keeps what changed on the clone (components/operations/rollback.ts), on the local hub:
 * after a wave moved and the clone's backends changed some of its devices, the rollback refuses and
 * lists them; --reconcile copies them into the original first (the original then holds the clone's
 * values, the devices point back, the wave verifies); --discard-clone-changes goes back and says
 * what it leaves behind.
 */
import { randomBytes } from "crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { Registry } from "azure-iothub";
import { copyDevices, type StagingOptions } from "../../components/devices";
import { guardedCutover } from "../../components/operations/cutover";
import { hubTarget, type HubTarget } from "../../components/operations/hubs";
import { cloneChangesRefusal, describeCloneChanges, type CloneChanges } from "../../components/operations/rollback";
import { verifyDeviceSets, type DevicesSummary } from "../../components/operations/verify";
import { createTestHub, localEndpoints, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";

const poll = { min: 20, max: 100 };

describe("cloneChangesRefusal (pure)", () => {
  it("gives exact counts, caps the ids it lists, and names both ways on", () => {
    const d = {
      source: 40,
      clone: 40,
      differentCount: 14,
      different: Array.from({ length: 12 }, (_, i) => ({ id: `d${i}`, fields: ["tags"] })),
      extraCount: 1,
      extra: ["new-1"],
    } as unknown as DevicesSummary;
    const m = cloneChangesRefusal(d);
    expect(m).toMatch(/^refused: 15 of the wave's 40 moved devices changed on the clone since they moved \(14 different, 1 only on the clone\): d0 \(tags\), d1 \(tags\),/);
    expect(m).toContain("d9 (tags), … (5 more);");
    expect(m).not.toContain("d10");
    expect(m).toContain("--reconcile to copy them into the original first (a write to the original hub), or --discard-clone-changes");
  });
});

async function desired(r: Registry, id: string): Promise<Record<string, unknown>> {
  return ((await r.getTwin(id)).responseBody as unknown as { properties: { desired: Record<string, unknown> } }).properties.desired;
}
async function statusOf(r: Registry, id: string): Promise<string> {
  return ((await r.get(id)).responseBody as unknown as { status: string }).status;
}

describe("rollback after clone-side changes, on the local hub", () => {
  let original: TestHub;
  let clone: TestHub;
  let o: HubTarget;
  let c: HubTarget;
  let staging: StagingOptions;
  const local = () => localEndpoints();

  beforeAll(async () => {
    original = await createTestHub("rb-orig");
    clone = await createTestHub("rb-clone");
    const r = registryFor(original);
    for (let i = 0; i < 6; i++) {
      await r.create({ deviceId: `dev-${i}`, status: "enabled" } as never);
      await r.updateTwin(`dev-${i}`, { tags: { wave: i < 3 ? 1 : 2 }, properties: { desired: { telemetryInterval: 30 } } }, "*");
    }
    staging = { connectionString: stagingConnectionString(), containerName: `rb-${randomBytes(5).toString("hex")}` };
    const copy = await copyDevices({ source: { connectionString: original.connectionString }, clone: { connectionString: clone.connectionString }, staging, runId: `rb-${randomBytes(4).toString("hex")}`, local: local(), pollIntervalMs: poll });
    expect(copy).toMatchObject({ failed: 0, mismatchCount: 0 });
    o = hubTarget(original.connectionString, "o");
    c = hubTarget(clone.connectionString, "c");
    const wave = await guardedCutover({ original: o, clone: c, staging, local: local(), query: "tags.wave = 1", pollIntervalMs: poll });
    expect(wave.result).toMatchObject({ status: "completed", updated: 3 });
  });

  it("refuses, listing the devices changed on the clone (and nothing is pointed back); --reconcile keeps them, in the original", async () => {
    const cl = registryFor(clone);
    const orig = registryFor(original);
    // the clone's backends own wave 1 now: a desired property, a disabled device
    await cl.updateTwin("dev-0", { properties: { desired: { telemetryInterval: 10 } } }, "*");
    const d1 = (await cl.get("dev-1")).responseBody as unknown as Record<string, unknown>;
    await cl.update({ ...d1, status: "disabled", statusReason: "stolen" } as never);
    // a device of wave 2 (not moved) changed on the clone: not the rollback's business
    await cl.updateTwin("dev-4", { tags: { site: "elsewhere" } }, "*");

    const base = { original: o, clone: c, staging, local: local(), query: "tags.wave = 1", rollback: true, pollIntervalMs: poll };
    await expect(guardedCutover(base)).rejects.toThrow(
      /^rollback: refused: 2 of the wave's 3 moved devices changed on the clone since they moved \(2 different, 0 only on the clone\): dev-0 \(desired\), dev-1 \(status\+statusReason\); pointing them back/,
    );
    await expect(guardedCutover({ ...base, reconcile: true, discardCloneChanges: true })).rejects.toThrow(/^--discard-clone-changes: and --reconcile contradict each other/);
    // nothing was pointed back, nothing written to the original
    for (const id of ["dev-0", "dev-1", "dev-2"]) expect((await desired(cl, id)).iotHubHostName).toBe(clone.hostName);
    expect((await desired(orig, "dev-0")).telemetryInterval).toBe(30);
    expect(await statusOf(orig, "dev-1")).toBe("enabled");

    const back = await guardedCutover({ ...base, reconcile: true });
    expect(back.gate).toMatchObject({ kind: "rollback", cloneChanges: { kind: "reconciled", moved: 3, changed: 2, ids: ["dev-0", "dev-1"], copy: { exported: 2, imported: 2, failed: 0, verified: 2, mismatchCount: 0 } } });
    expect(back.result).toMatchObject({ direction: "rollback", status: "completed", updated: 3, pin: { updated: 3 } });
    const text = describeCloneChanges((back.gate as { cloneChanges: CloneChanges }).cloneChanges, { original: original.name, clone: clone.name });
    expect(text).toMatch(new RegExp(`^clone-side changes: 2 device\\(s\\) changed on ${clone.name} were copied INTO THE ORIGINAL ${original.name} \\(--reconcile, run reconcile-[0-9a-f]+: 2 imported, 2 verified\\): dev-0, dev-1$`));

    // the original holds the clone's values, and the devices point back at it on both hubs
    expect((await desired(orig, "dev-0")).telemetryInterval).toBe(10);
    expect(await statusOf(orig, "dev-1")).toBe("disabled");
    for (const id of ["dev-0", "dev-1", "dev-2"]) {
      expect((await desired(cl, id)).iotHubHostName).toBe(original.hostName);
      expect((await desired(orig, id)).iotHubHostName).toBe(original.hostName);
    }
    // wave 2 on the original untouched
    expect(((await orig.getTwin("dev-4")).responseBody as unknown as { tags: Record<string, unknown> }).tags).toEqual({ wave: 2 });
    // the wave verifies
    const v = await verifyDeviceSets({ source: o, clone: c, staging, local: local(), filter: { deviceIds: ["dev-0", "dev-1", "dev-2"] }, ignoreDesiredProperty: "iotHubHostName", pollIntervalMs: poll });
    expect(v).toMatchObject({ ok: true, source: 3, clone: 3, matched: 3, differentCount: 0 });
    await cl.updateTwin("dev-4", { tags: { site: null } }, "*"); // so the next cutover verifies
  });

  it("--discard-clone-changes goes back and says what is lost; the original keeps its own values", async () => {
    const wave = await guardedCutover({ original: o, clone: c, staging, local: local(), query: "tags.wave = 1", pollIntervalMs: poll });
    expect(wave.result).toMatchObject({ status: "completed", updated: 3 });
    await registryFor(clone).updateTwin("dev-2", { tags: { note: "changed on the clone" } }, "*");
    const back = await guardedCutover({ original: o, clone: c, staging, local: local(), query: "tags.wave = 1", rollback: true, discardCloneChanges: true, pollIntervalMs: poll });
    expect(back.gate).toEqual({ kind: "rollback", cloneChanges: { kind: "discarded", moved: 3, changed: 1, ids: ["dev-2"] } });
    expect(describeCloneChanges((back.gate as { cloneChanges: CloneChanges }).cloneChanges, { original: original.name, clone: clone.name })).toBe(
      `clone-side changes DISCARDED (--discard-clone-changes): 1 device(s) changed on ${clone.name} go back to ${original.name}'s older values: dev-2; their changes stay on ${clone.name} only until a sync overwrites them`,
    );
    expect(((await registryFor(original).getTwin("dev-2")).responseBody as unknown as { tags: Record<string, unknown> }).tags).toEqual({ wave: 1 });
    expect(back.result).toMatchObject({ direction: "rollback", updated: 3 });
  });

  it("a wave none of whose devices moved needs no comparison", async () => {
    const back = await guardedCutover({ original: o, clone: c, staging, local: local(), query: "tags.wave = 2", rollback: true, pollIntervalMs: poll });
    expect(back.gate).toEqual({ kind: "rollback", cloneChanges: { kind: "none-moved" } });
  });
});
