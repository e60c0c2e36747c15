/**
 * cutover, rollback, verify and decommission against the local hub (emulator + Azurite), through
 * the real azure-iothub SDK and the migration engine. The clone is made by the engine's own copy,
 * as in a real migration.
 */
import { randomBytes } from "crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { Registry } from "azure-iothub";
import { copyDevices, type StagingOptions } from "../../components/devices";
import { ALL_DEVICES, guardedCutover, runCutover, waveStatus } from "../../components/operations/cutover";
import { restoreRunId, runDecommission, runRestore } from "../../components/operations/decommission";
import { countQuery, hubTarget, type HubTarget } from "../../components/operations/hubs";
import { verifyDeviceSets } from "../../components/operations/verify";
import { blobServiceClient, configureHub, createTestHub, localEndpoints, registryFor, reportProperties, stagingConnectionString, type TestHub } from "../support/local-hub";

const poll = { min: 20, max: 100 };
const key = () => randomBytes(32).toString("base64");

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

async function seed(hub: TestHub, count: number): Promise<void> {
  const r = registryFor(hub);
  for (let i = 0; i < count; i++) {
    const id = `dev-${i}`;
    await p((cb) => r.create({ deviceId: id, status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: key(), secondaryKey: key() } } } as never, cb as never));
    // waves 1 and 2; a desired property unrelated to the cutover
    await p((cb) => r.updateTwin(id, { tags: { wave: i < count / 2 ? 1 : 2, site: "berlin" }, properties: { desired: { telemetryInterval: 30 } } }, "*", cb as never));
  }
}

interface Pair {
  original: TestHub;
  clone: TestHub;
  o: HubTarget;
  c: HubTarget;
  staging: StagingOptions;
}

async function clonedPair(prefix: string, count: number): Promise<Pair> {
  const original = await createTestHub(`${prefix}-orig`);
  const clone = await createTestHub(`${prefix}-clone`);
  await seed(original, count);
  const staging: StagingOptions = { connectionString: stagingConnectionString(), containerName: `ops-${randomBytes(5).toString("hex")}` };
  const copy = await copyDevices({
    source: { connectionString: original.connectionString },
    clone: { connectionString: clone.connectionString },
    staging,
    runId: `ops-${randomBytes(4).toString("hex")}`,
    local: localEndpoints(),
    pollIntervalMs: poll,
  });
  expect(copy.failed).toBe(0);
  return { original, clone, o: hubTarget(original.connectionString, "o"), c: hubTarget(clone.connectionString, "c"), staging };
}

async function desiredHost(r: Registry, id: string): Promise<unknown> {
  const t = await r.getTwin(id);
  return (t.responseBody as unknown as { properties: { desired: Record<string, unknown> } }).properties.desired.iotHubHostName;
}

async function deviceIds(hub: TestHub): Promise<string[]> {
  const list = await p<Array<{ deviceId: string }>>((cb) => registryFor(hub).list(cb as never));
  return list.map((d) => d.deviceId).sort();
}

describe("operations against the local hub", () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await clonedPair("cut", 6);
  });

  it("verify: a fresh clone verifies (every device compared)", async () => {
    const d = await verifyDeviceSets({ source: pair.o, clone: pair.c, staging: pair.staging, local: localEndpoints(), pollIntervalMs: poll });
    expect(d).toMatchObject({ source: 6, clone: 6, matched: 6, missingCount: 0, extraCount: 0, differentCount: 0, ok: true });
  });

  it("cutover wave 1, then wave 2 (not blocked by wave 1's property), then rollback of wave 1", async () => {
    const local = localEndpoints();
    const wave1 = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 1", pollIntervalMs: poll });
    expect(wave1.gate.kind).toBe("verified");
    expect(wave1.result).toMatchObject({
      direction: "cutover",
      jobHub: pair.original.name,
      status: "completed",
      targeted: 3,
      updated: 3,
      failed: 0,
      pending: 0,
      property: "iotHubHostName",
      value: pair.clone.hostName,
      condition: "tags.wave = 1",
    });
    // no device has reconnected yet
    expect(wave1.result.reportingNewHub).toBe(0);
    // two devices of the wave reconnect to the clone and report it (a device of another wave too)
    for (const id of ["dev-0", "dev-1", "dev-3"]) await reportProperties(pair.clone, id, { iotHubHostName: pair.clone.hostName });
    expect(await waveStatus({ original: pair.o, clone: pair.c, local, query: "tags.wave = 1" })).toMatchObject({ inWave: 3, pointed: 3, reporting: 2 });
    const orig = registryFor(pair.original);
    const cl = registryFor(pair.clone);
    expect(wave1.result.pin).toMatchObject({ jobHub: pair.clone.name, status: "completed", targeted: 3, updated: 3, failed: 0 });
    for (const id of ["dev-0", "dev-1", "dev-2"]) expect(await desiredHost(orig, id)).toBe(pair.clone.hostName);
    for (const id of ["dev-3", "dev-4", "dev-5"]) expect(await desiredHost(orig, id)).toBeUndefined();
    // pinned on the clone: a device arriving there reads "stay"; other waves untouched
    for (const id of ["dev-0", "dev-1", "dev-2"]) expect(await desiredHost(cl, id)).toBe(pair.clone.hostName);
    for (const id of ["dev-3", "dev-4", "dev-5"]) expect(await desiredHost(cl, id)).toBeUndefined();
    // the unrelated desired property is intact
    expect((await orig.getTwin("dev-0")).responseBody.properties.desired.telemetryInterval).toBe(30);

    // wave 2: the pinned twins match, so the clone still verifies; and a moved device changed on
    // the clone since (its backends own it now) is not a difference that blocks the next wave
    await cl.updateTwin("dev-0", { properties: { desired: { telemetryInterval: 10 } } }, "*");
    const wave2 = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 2", pollIntervalMs: poll });
    expect(wave2.gate.kind === "verified" && wave2.gate.devices.ok).toBe(true);
    expect(wave2.gate.kind === "verified" && wave2.gate.devices.source).toBe(3); // wave 1 moved: not compared
    await cl.updateTwin("dev-0", { properties: { desired: { telemetryInterval: 30 } } }, "*");
    expect(wave2.result).toMatchObject({ status: "completed", targeted: 3, updated: 3 });
    for (const id of ["dev-3", "dev-4", "dev-5"]) expect(await desiredHost(orig, id)).toBe(pair.clone.hostName);

    // rollback of wave 1: the job runs on the clone, pointing its twins back at the original
    const back = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 1", rollback: true, pollIntervalMs: poll });
    // dev-0's clone-side change was undone above: nothing of the wave changed on the clone
    expect(back.gate).toEqual({ kind: "rollback", cloneChanges: { kind: "unchanged", moved: 3 } });
    expect(back.result).toMatchObject({ direction: "rollback", jobHub: pair.clone.name, status: "completed", targeted: 3, updated: 3, value: pair.original.hostName });
    expect(back.result.pin).toMatchObject({ jobHub: pair.original.name, updated: 3 });
    for (const id of ["dev-0", "dev-1", "dev-2"]) expect(await desiredHost(cl, id)).toBe(pair.original.hostName);
    // devices of wave 1 that had not moved yet are told to stay on the original
    for (const id of ["dev-0", "dev-1", "dev-2"]) expect(await desiredHost(orig, id)).toBe(pair.original.hostName);
    for (const id of ["dev-3", "dev-4", "dev-5"]) expect(await desiredHost(cl, id)).toBe(pair.clone.hostName);

    // the rolled-back devices report the original again once they are back
    await reportProperties(pair.original, "dev-0", { iotHubHostName: pair.original.hostName });
    expect(await waveStatus({ original: pair.o, clone: pair.c, local, query: "tags.wave = 1", rollback: true })).toMatchObject({ inWave: 3, pointed: 3, reporting: 1 });

    // cutover of wave 1 again after the rollback: no bounce, both hubs name the clone
    const again = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 1", pollIntervalMs: poll });
    expect(again.result).toMatchObject({ status: "completed", updated: 3, reportingNewHub: 2 });
    for (const id of ["dev-0", "dev-1", "dev-2"]) {
      expect(await desiredHost(orig, id)).toBe(pair.clone.hostName);
      expect(await desiredHost(cl, id)).toBe(pair.clone.hostName);
    }
    await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 1", rollback: true, pollIntervalMs: poll });

    // watching: counts only, nothing written
    expect(await waveStatus({ original: pair.o, clone: pair.c, local, query: "tags.wave = 2" })).toEqual({
      direction: "cutover",
      condition: "tags.wave = 2",
      property: "iotHubHostName",
      value: pair.clone.hostName,
      inWave: 3,
      pointed: 3,
      reporting: 1, // dev-3 reported the clone earlier
    });
    expect(await waveStatus({ original: pair.o, clone: pair.c, local, query: "tags.wave = 1", rollback: true })).toMatchObject({ inWave: 3, pointed: 3, reporting: 1, value: pair.original.hostName });
    expect(await waveStatus({ original: pair.o, clone: pair.c, local, query: "tags.wave = 2", rollback: true })).toMatchObject({ inWave: 3, pointed: 0 });
  });

  it("verify counts a difference in the cutover property unless told to ignore it (then rechecks twin by twin)", async () => {
    // as if a move job reached dev-4 on the original but its pin on the clone failed
    await registryFor(pair.original).updateTwin("dev-4", { properties: { desired: { iotHubHostName: "elsewhere.azure-devices.net" } } }, "*");
    const base = { source: pair.o, clone: pair.c, staging: pair.staging, local: localEndpoints(), pollIntervalMs: poll };
    expect(await verifyDeviceSets(base)).toMatchObject({ ok: false, differentCount: 1, different: [{ id: "dev-4", fields: ["desired"] }] });
    expect(await verifyDeviceSets({ ...base, ignoreDesiredProperty: "iotHubHostName" })).toMatchObject({ ok: true, differentCount: 0, cutoverOnly: 1 });
    // a real desired difference on the same device is still caught
    await registryFor(pair.original).updateTwin("dev-4", { properties: { desired: { telemetryInterval: 5 } } }, "*");
    expect(await verifyDeviceSets({ ...base, ignoreDesiredProperty: "iotHubHostName" })).toMatchObject({ ok: false, differentCount: 1, cutoverOnly: 0 });
    await registryFor(pair.original).updateTwin("dev-4", { properties: { desired: { telemetryInterval: 30, iotHubHostName: pair.clone.hostName } } }, "*");
  });

  it("counting a wave is one COUNT() query, not a page per 1,000 twins (S1 allows 20 queries a minute)", async () => {
    const r = registryFor(pair.original);
    expect(await countQuery(r, "SELECT * FROM devices")).toBe(6);
    expect(await countQuery(r, "SELECT * FROM devices WHERE tags.wave = 2")).toBe(3);
    expect(await countQuery(r, "SELECT * FROM devices WHERE tags.wave = 7")).toBe(0);
    // 2,001 devices (three pages of 1,000) on a hub allowing 3 queries a minute: three counts fit only at one query each
    const big = await createTestHub("count", { throttleOverrides: { query: 3 } });
    const br = registryFor(big);
    for (let i = 0; i < 2001; i += 100)
      await br.addDevices(Array.from({ length: Math.min(100, 2001 - i) }, (_, j) => ({ deviceId: `c-${i + j}`, status: i + j < 1500 ? "enabled" : "disabled" }) as never));
    expect(await countQuery(br, "SELECT * FROM devices")).toBe(2001);
    expect(await countQuery(br, "SELECT * FROM devices WHERE status = 'enabled'")).toBe(1500);
    expect(await countQuery(br, "SELECT * FROM devices.modules")).toBe(0);
  });

  it("--no-wait returns after scheduling, without following the job", async () => {
    const progress: string[] = [];
    const r = await runCutover({ original: pair.o, clone: pair.c, local: localEndpoints(), query: "deviceId = 'dev-0'", wait: false, onProgress: (l) => progress.push(l) });
    expect(r.jobId).toMatch(/^hubclone-cutover-/);
    expect(r.reportingNewHub).toBeUndefined();
    // What tells the two paths apart: the status is the one the scheduling call answered (never a
    // finished job's), and nothing polled the jobs (per job only the wave's pace line and the
    // "scheduled" line, no progress line).
    expect(["queued", "scheduled"]).toContain(r.status);
    expect(["queued", "scheduled"]).toContain(r.pin?.status);
    expect(progress).toEqual([
      expect.stringMatching(/^cutover \(pin on .*\): 1 device\(s\) on .*; job lifetime 3600 s$/),
      expect.stringMatching(/^cutover \(pin on .*\): job hubclone-cutover-pin-\S+ scheduled on /),
      expect.stringMatching(/^cutover: 1 device\(s\) on .*; job lifetime 3600 s$/),
      expect.stringMatching(/^cutover: job hubclone-cutover-\S+ scheduled on /),
    ]);
  });

  it("a throttled count (429) waits the Retry-After and succeeds; a hub that keeps throttling is one line", async () => {
    const hub = await createTestHub("count-429", { throttleOverrides: { query: 60 } }); // one query a second
    const r = registryFor(hub);
    await r.create({ deviceId: "t-1" } as never);
    // spend the minute's allowance
    let throttledOnce = false;
    for (let i = 0; i < 80 && !throttledOnce; i++) {
      const status = await r.createQuery("SELECT COUNT() FROM devices").next().then(() => 200, (e: { response?: { statusCode?: number } }) => e.response?.statusCode);
      throttledOnce = status === 429;
    }
    expect(throttledOnce).toBe(true);
    expect(await countQuery(r, "SELECT * FROM devices")).toBe(1);
    // A hub that keeps throttling: every query answers 429 (Retry-After 1 s). Through the real call
    // path (a cutover counts its wave first), the retries run out and the user gets one line naming
    // the original.
    const other = await createTestHub("count-429-clone");
    await configureHub(hub.name, { throttleOverrides: {}, faults: [{ group: "query", status: 429 }] });
    const err = await runCutover({ original: hubTarget(hub.connectionString, "o"), clone: hubTarget(other.connectionString, "c"), local: localEndpoints(), wait: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(err)).toMatch(/^UserError: --source-connection-string: the hub \S+ kept answering 429 \(throttled\) while trying to count the wave: retry in a minute, or give the hub more units$/);
    expect(String(err).split("\n")).toHaveLength(1);
  });

  it("a transient error while following the job (503) is retried, not the end of the cutover", async () => {
    // the original's 1st jobs call is scheduling the move job, the 2nd the first poll of it
    await configureHub(pair.original.name, { faults: [{ group: "jobs", status: 503, nth: 2 }] });
    try {
      const r = await runCutover({ original: pair.o, clone: pair.c, local: localEndpoints(), query: "deviceId = 'dev-5'", pollIntervalMs: poll });
      expect(r).toMatchObject({ status: "completed", targeted: 1, updated: 1 });
    } finally {
      await configureHub(pair.original.name, { faults: [] });
    }
  });

  it("the whole fleet when no query is given", async () => {
    const r = await runCutover({ original: pair.o, clone: pair.c, local: localEndpoints(), pollIntervalMs: poll });
    expect(r).toMatchObject({ condition: ALL_DEVICES, status: "completed", targeted: 6, updated: 6 });
  });

  it("a bad query is one clear line naming --query", async () => {
    await expect(runCutover({ original: pair.o, clone: pair.c, local: localEndpoints(), query: "SELECT * FROM devices" })).rejects.toThrow(/^--query: takes only the WHERE condition/);
  });

  it("a condition the hub rejects fails as one --query line before the verification runs any job (and --status too)", async () => {
    const local = localEndpoints();
    const jobsOf = async (hub: TestHub) => (await p<unknown[]>((cb) => registryFor(hub).listJobs(cb as never))).length;
    const before = [await jobsOf(pair.original), await jobsOf(pair.clone)];
    const bad = { original: pair.o, clone: pair.c, local, query: "tags.wave = ", pollIntervalMs: poll };
    await expect(guardedCutover({ ...bad, staging: pair.staging })).rejects.toThrow(/^--query: .* rejected the condition \((400004|ArgumentInvalid) Query syntax error[^\n]*$/);
    // no export job for the verification on either hub
    expect([await jobsOf(pair.original), await jobsOf(pair.clone)]).toEqual(before);
    await expect(waveStatus(bad)).rejects.toThrow(/^--query: .* rejected the condition/);
    await expect(waveStatus({ ...bad, rollback: true })).rejects.toThrow(/^--query: .* rejected the condition/);
  });
});

describe("verify and the guards catch a broken clone", () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await clonedPair("bad", 5);
    const cl = registryFor(pair.clone);
    await p((cb) => cl.delete("dev-1", cb as never)); // missing
    await p((cb) => cl.create({ deviceId: "stray-1", status: "enabled" } as never, cb as never)); // extra
    const d = await p<Record<string, unknown>>((cb) => cl.get("dev-2", cb as never));
    await p((cb) => cl.update({ ...d, status: "disabled", statusReason: "changed on the clone" } as never, cb as never)); // changed
  });

  it("verify reports the missing, the extra and the changed device, with exact counts", async () => {
    const d = await verifyDeviceSets({ source: pair.o, clone: pair.c, staging: pair.staging, local: localEndpoints(), pollIntervalMs: poll, ignoreDesiredProperty: "iotHubHostName" });
    expect(d).toMatchObject({ source: 5, clone: 5, missingCount: 1, extraCount: 1, differentCount: 1, missing: ["dev-1"], extra: ["stray-1"], ok: false });
    expect(d.different).toEqual([{ id: "dev-2", fields: ["status", "statusReason"] }]);
  });

  it("cutover refuses (and schedules nothing) unless --force; rollback is never blocked", async () => {
    const local = localEndpoints();
    await expect(guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "tags.wave = 1", pollIntervalMs: poll })).rejects.toThrow(
      /^cutover: refused: the clone does not verify \(1 missing, 1 extra, 1 different; e\.g\. dev-1 missing, stray-1 extra, dev-2 status\+statusReason\)/,
    );
    expect(await desiredHost(registryFor(pair.original), "dev-0")).toBeUndefined();
    const forced = await guardedCutover({ original: pair.o, clone: pair.c, local, query: "deviceId = 'dev-0'", force: true, pollIntervalMs: poll });
    expect(forced.gate.kind).toBe("forced");
    expect(forced.result).toMatchObject({ targeted: 1, updated: 1 });
    const back = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, query: "deviceId = 'dev-0'", rollback: true, pollIntervalMs: poll });
    expect(back.result).toMatchObject({ direction: "rollback", updated: 1 });
  });

  it("decommission refuses without the exact name, and refuses an unverified clone; nothing is deleted", async () => {
    const before = await deviceIds(pair.original);
    const base = { original: pair.o, clone: pair.c, staging: pair.staging, local: localEndpoints(), pollIntervalMs: poll };
    await expect(runDecommission({ ...base, confirm: undefined })).rejects.toThrow(`--confirm: nothing done: decommission deletes every device of ${pair.original.name}; to proceed pass --confirm ${pair.original.name}`);
    await expect(runDecommission({ ...base, confirm: pair.original.name.toUpperCase() })).rejects.toThrow(/^--confirm: nothing done: ".*" is not the original hub's name/);
    await expect(runDecommission({ ...base, confirm: pair.clone.name })).rejects.toThrow(/^--confirm: nothing done/);
    await expect(runDecommission({ ...base, confirm: pair.original.name })).rejects.toThrow(/^decommission: nothing deleted: the clone does not verify \(1 missing, 1 extra, 1 different/);
    expect(await deviceIds(pair.original)).toEqual(before);
    // no backup was written either
    const blobs: string[] = [];
    for await (const b of blobServiceClient().getContainerClient(pair.staging.containerName).listBlobsFlat({ prefix: "backups/" })) blobs.push(b.name);
    expect(blobs).toEqual([]);
  });
});

describe("decommission of a verified, cut-over original", () => {
  it("refuses, deleting nothing, when a device appears between verification and backup", async () => {
    const pair = await clonedPair("decomrace", 3);
    const local = localEndpoints();
    let added = false;
    // The moment verification has passed and the backup starts: a device is provisioned late.
    const afterVerified = async () => {
      added = true;
      await registryFor(pair.original).create({ deviceId: "late-1", status: "enabled" });
    };
    await expect(
      runDecommission({ original: pair.o, clone: pair.c, confirm: pair.original.name, staging: pair.staging, local, pollIntervalMs: poll, afterVerified }),
    ).rejects.toThrow(/^decommission: nothing deleted: .* changed during the run \(3 devices verified, 4 in the backup at /);
    expect(added).toBe(true);
    expect(await deviceIds(pair.original)).toEqual(["dev-0", "dev-1", "dev-2", "late-1"]);
  });

  it("refuses, deleting nothing, when a device that moved is missing from the clone", async () => {
    const pair = await clonedPair("decommoved", 3);
    const local = localEndpoints();
    await runCutover({ original: pair.o, clone: pair.c, local, query: "deviceId = 'dev-0'", pollIntervalMs: poll });
    await p((cb) => registryFor(pair.clone).delete("dev-0", cb as never));
    await expect(runDecommission({ original: pair.o, clone: pair.c, confirm: pair.original.name, staging: pair.staging, local, pollIntervalMs: poll })).rejects.toThrow(
      /^decommission: nothing deleted: the clone does not verify \(1 missing, 0 extra, 0 different; e\.g\. dev-0 missing\)/,
    );
    expect(await deviceIds(pair.original)).toEqual(["dev-0", "dev-1", "dev-2"]);
  });

  it("backs up every device WITH keys, prints where, then deletes exactly those from the original", async () => {
    const pair = await clonedPair("decom", 4);
    const local = localEndpoints();
    // a full cutover first, as in the runbook
    await runCutover({ original: pair.o, clone: pair.c, local, pollIntervalMs: poll });
    const keysBefore = await Promise.all(
      ["dev-0", "dev-3"].map(async (id) => (await p<{ authentication: { symmetricKey: { primaryKey: string } } }>((cb) => registryFor(pair.original).get(id, cb as never))).authentication.symmetricKey.primaryKey),
    );
    // the clone's backends have changed a moved device since: it is the clone's now, not a difference
    await registryFor(pair.clone).updateTwin("dev-1", { tags: { site: "munich" }, properties: { desired: { telemetryInterval: 5 } } }, "*");
    const r = await runDecommission({ original: pair.o, clone: pair.c, confirm: pair.original.name, staging: pair.staging, local, pollIntervalMs: poll, now: new Date("2026-01-02T03:04:05Z") });
    expect(r.verification).toEqual({ ok: true, devices: 4, moved: 4, cutoverOnly: 0 });
    expect(r.backup).toMatchObject({ account: "devstoreaccount1", container: pair.staging.containerName, blob: `backups/${pair.original.name}-2026-01-02T03-04-05-000Z/devices.txt`, devices: 4 });
    expect(r.deleted).toMatchObject({ requested: 4, deleted: 4, failed: 0 });

    // the backup blob is there, one line per device, keys included
    const text = (await blobServiceClient().getContainerClient(r.backup.container).getBlobClient(r.backup.blob).downloadToBuffer()).toString("utf8");
    const lines = text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string; authentication?: { symmetricKey?: { primaryKey?: string } } });
    expect(lines.map((l) => l.id).sort()).toEqual(["dev-0", "dev-1", "dev-2", "dev-3"]);
    expect(lines.find((l) => l.id === "dev-0")?.authentication?.symmetricKey?.primaryKey).toBe(keysBefore[0]);
    expect(lines.find((l) => l.id === "dev-3")?.authentication?.symmetricKey?.primaryKey).toBe(keysBefore[1]);

    // the original is empty, the clone untouched
    expect(await deviceIds(pair.original)).toEqual([]);
    expect(await deviceIds(pair.clone)).toEqual(["dev-0", "dev-1", "dev-2", "dev-3"]);

    // a rollback now would send devices to a hub that no longer knows them: refused, nothing scheduled
    await expect(guardedCutover({ original: pair.o, clone: pair.c, local, rollback: true, pollIntervalMs: poll })).rejects.toThrow(
      /^rollback: refused: 4 of the wave's 4 devices are not registered on .*Restore them from the decommission backup first, or pass --force$/,
    );
    expect(await desiredHost(registryFor(pair.clone), "dev-0")).toBe(pair.clone.hostName);

    // the way back: the backup imported into the original again, only with --confirm
    await expect(runRestore({ original: pair.o, confirm: undefined, staging: pair.staging, backupBlob: r.backup.blob, local, pollIntervalMs: poll })).rejects.toThrow(
      `--confirm: nothing done: a restore imports the backup's devices into ${pair.original.name}; to proceed pass --confirm ${pair.original.name}`,
    );
    await expect(runRestore({ original: pair.o, confirm: pair.original.name, staging: pair.staging, backupBlob: "backups/nope/devices.txt", local, pollIntervalMs: poll })).rejects.toThrow(
      /^fromBackup\.devicesBlob: blob backups\/nope\/devices\.txt is not in container /,
    );
    const restored = await runRestore({ original: pair.o, confirm: pair.original.name, staging: pair.staging, backupBlob: r.backup.blob, local, pollIntervalMs: poll });
    expect(restored).toMatchObject({ exported: 4, imported: 4, failed: 0, mismatchCount: 0, verified: 4 });
    expect(await deviceIds(pair.original)).toEqual(["dev-0", "dev-1", "dev-2", "dev-3"]);
    const keysAfter = await Promise.all(
      ["dev-0", "dev-3"].map(async (id) => (await p<{ authentication: { symmetricKey: { primaryKey: string } } }>((cb) => registryFor(pair.original).get(id, cb as never))).authentication.symmetricKey.primaryKey),
    );
    expect(keysAfter).toEqual(keysBefore);
    // the backup stays (it is the user's); of the restore's staging, only the key-free manifest and checkpoint
    const left: string[] = [];
    for await (const b of blobServiceClient().getContainerClient(pair.staging.containerName).listBlobsFlat({ includeUncommitedBlobs: true })) left.push(b.name);
    expect(left).toContain(r.backup.blob);
    const run = `runs/${restoreRunId(pair.o, r.backup.blob)}/`;
    expect(left.filter((n) => n.startsWith(run)).map((n) => n.slice(run.length)).sort()).toEqual(["checkpoint.json", "g1/manifest.tsv", "lock"]);
    // now a rollback finds its devices again; dev-1 changed on the clone after it moved, so the
    // rollback says so and goes back only when told what to do with that change
    await expect(guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, rollback: true, pollIntervalMs: poll })).rejects.toThrow(
      /^rollback: refused: 1 of the wave's 4 moved devices changed on the clone since they moved \(1 different, 0 only on the clone\): dev-1 \(desired\+tags\)/,
    );
    const back = await guardedCutover({ original: pair.o, clone: pair.c, staging: pair.staging, local, rollback: true, discardCloneChanges: true, pollIntervalMs: poll });
    expect(back.gate).toEqual({ kind: "rollback", cloneChanges: { kind: "discarded", moved: 4, changed: 1, ids: ["dev-1"] } });
    expect(back.result).toMatchObject({ direction: "rollback", updated: 4, failed: 0 });
  });
});
