/**
 * verify, cutover waves and rollback on the Azure-strict local hub (profile "azure", S1: one
 * scheduled job at a time, 10 device operations per second, job lifetimes enforced, consistency lag,
 * 429s without Retry-After; at 100× time scale). Same flow as local-ops.test.ts on the forgiving
 * profile; the clone is made by the engine's own copy.
 */
import { randomBytes } from "crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { Registry } from "azure-iothub";
import { copyDevices, type StagingOptions } from "../../components/devices";
import { guardedCutover, waveStatus } from "../../components/operations/cutover";
import { hubTarget, type HubTarget } from "../../components/operations/hubs";
import { verifyDeviceSets } from "../../components/operations/verify";
import { createStrictHub, jobClientFor, localEndpoints, registryFor, reportProperties, stagingConnectionString, type TestHub } from "../support/local-hub";

const poll = { min: 20, max: 100 };
const key = () => randomBytes(32).toString("base64");

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

interface Pair {
  original: TestHub;
  clone: TestHub;
  o: HubTarget;
  c: HubTarget;
  staging: StagingOptions;
}

async function strictPair(prefix: string, count: number): Promise<Pair> {
  const original = await createStrictHub(`${prefix}-orig`);
  const clone = await createStrictHub(`${prefix}-clone`);
  const r = registryFor(original);
  for (let i = 0; i < count; i++) {
    const id = `dev-${i}`;
    await p((cb) => r.create({ deviceId: id, status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: key(), secondaryKey: key() } } } as never, cb as never));
    await p((cb) => r.updateTwin(id, { tags: { wave: i < count / 2 ? 1 : 2 }, properties: { desired: { telemetryInterval: 30 } } }, "*", cb as never));
  }
  const staging: StagingOptions = { connectionString: stagingConnectionString(), containerName: `sops-${randomBytes(5).toString("hex")}` };
  const copy = await copyDevices({
    source: { connectionString: original.connectionString },
    clone: { connectionString: clone.connectionString },
    staging,
    runId: `sops-${randomBytes(4).toString("hex")}`,
    local: localEndpoints(),
    pollIntervalMs: poll,
    includeConfigurations: false,
  });
  expect(copy.failures).toEqual([]);
  expect(copy.mismatches).toEqual([]);
  expect(copy.mismatchCount).toBe(0);
  return { original, clone, o: hubTarget(original.connectionString, "o"), c: hubTarget(clone.connectionString, "c"), staging };
}

async function desiredHost(r: Registry, id: string): Promise<unknown> {
  const t = await r.getTwin(id);
  return (t.responseBody as unknown as { properties: { desired: Record<string, unknown> } }).properties.desired.iotHubHostName;
}

describe("strict profile: verify, cutover waves, rollback", () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await strictPair("s-cut", 6);
  });

  it("a fresh clone verifies", async () => {
    const d = await verifyDeviceSets({ source: pair.o, clone: pair.c, staging: pair.staging, local: localEndpoints(), pollIntervalMs: poll });
    expect(d).toMatchObject({ source: 6, clone: 6, matched: 6, missingCount: 0, extraCount: 0, differentCount: 0, ok: true });
  });

  it("cutover wave 1, wave 2, rollback of wave 1 (one job slot on S1 at a time)", async () => {
    const local = localEndpoints();
    const orig = registryFor(pair.original);
    const cl = registryFor(pair.clone);
    const wave1 = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 1", pollIntervalMs: poll });
    expect(wave1.result).toMatchObject({ direction: "cutover", status: "completed", targeted: 3, updated: 3, failed: 0, pending: 0 });
    for (const id of ["dev-0", "dev-1", "dev-2"]) expect(await desiredHost(orig, id)).toBe(pair.clone.hostName);
    for (const id of ["dev-3", "dev-4", "dev-5"]) expect(await desiredHost(orig, id)).toBeUndefined();
    await reportProperties(pair.clone, "dev-0", { iotHubHostName: pair.clone.hostName });

    const wave2 = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 2", pollIntervalMs: poll });
    expect(wave2.result).toMatchObject({ status: "completed", targeted: 3, updated: 3 });

    const back = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 1", rollback: true, pollIntervalMs: poll });
    expect(back.result).toMatchObject({ direction: "rollback", jobHub: pair.clone.name, status: "completed", targeted: 3, updated: 3, value: pair.original.hostName });
    for (const id of ["dev-0", "dev-1", "dev-2"]) expect(await desiredHost(cl, id)).toBe(pair.original.hostName);
    expect(await waveStatus({ original: pair.o, clone: pair.c, local, query: "tags.wave = 1", rollback: true })).toMatchObject({ inWave: 3, pointed: 3 });
  });

  it("a wave started while another job holds S1's only slot waits for it instead of failing", async () => {
    // Someone else's job holds the original's one scheduled-job slot until it starts (1.5 s from now) and finishes:
    // the strict profile answers 429004 ThrottlingMaxActiveJobCountExceeded to any other job until then.
    const jobs = jobClientFor(pair.original);
    const startsSoon = new Date(Date.now() + 1500);
    await jobs.scheduleTwinUpdate(`other-${randomBytes(3).toString("hex")}`, "tags.wave = 2", { etag: "*", tags: { touched: 1 } }, startsSoon, 600);
    const wave = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local: localEndpoints(), query: "tags.wave = 2", pollIntervalMs: poll });
    expect(wave.result).toMatchObject({ status: "completed", targeted: 3 });
  });
});
