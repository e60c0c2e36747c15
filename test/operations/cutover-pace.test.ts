/**
 * The cutover sized on the hubs' tiers (pace.ts): the wave's time said before it starts, the job
 * lifetime from the tier, and a busy job slot (429) waited out instead of failing.
 */
import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { runCutover, scheduleWaitingForSlot, jobThrottle } from "../../components/operations/cutover";
import { hubTarget } from "../../components/operations/hubs";
import { configureHub, createStrictHub, createTestHub, jobClientFor, localEndpoints, registryFor } from "../support/local-hub";

// The SDK's own error translation (what JobClient.scheduleTwinUpdate rejects with).
const { RestApiClient } = require("azure-iothub/dist/common-http/rest_api_client") as { RestApiClient: { translateError(body: string, response: unknown): Error } };
const sdkError = (status: number, body: string, headers: Record<string, string> = {}) => RestApiClient.translateError(body, { statusCode: status, headers });
// Both body formats of the service (iothub-data-plane.md): the older names the code, the newer numbers it.
const slotBusyOld = () => sdkError(429, JSON.stringify({ Message: "ErrorCode:ThrottlingMaxActiveJobCountExceeded;Maximum active jobs count exceeded", ExceptionMessage: "Tracking ID:x" }));
const slotBusyNew = () => sdkError(429, JSON.stringify({ Message: JSON.stringify({ errorCode: 429004, message: "Maximum number of active jobs exceeded" }) }));

describe("waiting for a job slot (429 ThrottlingMaxActiveJobCountExceeded)", () => {
  it("reads both body formats as a busy slot, a plain 429 as throttling with its Retry-After, anything else as not a throttle", () => {
    expect(jobThrottle(slotBusyOld())).toEqual({ slot: true });
    expect(jobThrottle(slotBusyNew())).toEqual({ slot: true });
    expect(jobThrottle(sdkError(429, "{}", { "retry-after": "7" }))).toEqual({ slot: false, retryAfterMs: 7000 });
    // No Retry-After: the wait the message asks for (service-behaviours.md §9).
    expect(jobThrottle(sdkError(429, JSON.stringify({ Message: JSON.stringify({ errorCode: 429001, message: "Throttled. Wait 12 seconds and try again." }) })))).toEqual({ slot: false, retryAfterMs: 12_000 });
    expect(jobThrottle(sdkError(400, "{}"))).toBeUndefined();
    expect(jobThrottle(new Error("socket hang up"))).toBeUndefined();
  });

  it("retries until the slot frees, says so once, and returns the job", async () => {
    let now = 0;
    const waits: number[] = [];
    const said: string[] = [];
    let calls = 0;
    const job = await scheduleWaitingForSlot(
      async () => {
        calls++;
        if (calls < 4) throw calls % 2 ? slotBusyOld() : slotBusyNew();
        return { jobStatus: { status: "queued" } };
      },
      { waitUntil: 60_000, pollMs: { min: 1000, max: 4000 }, describe: "cutover: hub-a (S1: 1 scheduled job(s) at a time)", onWait: (l) => said.push(l), now: () => now, sleep: async (ms) => void (waits.push(ms), (now += ms)) },
    );
    expect(job).toEqual({ jobStatus: { status: "queued" } });
    expect(calls).toBe(4);
    expect(waits).toEqual([1000, 2000, 4000]);
    expect(said).toEqual(["cutover: hub-a (S1: 1 scheduled job(s) at a time): waiting for a free job slot (another scheduled job runs there)"]);
  });

  it("gives up with one line when no slot frees before the deadline, and passes other errors through", async () => {
    let now = 0;
    const opts = { waitUntil: 5_000, pollMs: { min: 2000, max: 2000 }, describe: "cutover: hub-a", now: () => now, sleep: async (ms: number) => void (now += ms) };
    await expect(scheduleWaitingForSlot(async () => Promise.reject(slotBusyNew()), opts)).rejects.toThrow(/^cutover: cutover: hub-a: no job slot became free .* raise --max-execution-seconds$/);
    now = 0;
    const bad = sdkError(400, "{}");
    await expect(scheduleWaitingForSlot(async () => Promise.reject(bad), opts)).rejects.toBe(bad);
  });
});

describe("a wave sized on the tiers, against the local hub", () => {
  it("says the wave's time and lifetime per hub before it starts, and waits out a 429 on scheduling", async () => {
    const original = await createTestHub("pace-orig", { sku: "S1" });
    const clone = await createTestHub("pace-clone", { sku: "S3" });
    for (const hub of [original, clone]) {
      for (let i = 0; i < 3; i++) {
        await registryFor(hub).create({ deviceId: `d${i}`, status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: randomBytes(32).toString("base64"), secondaryKey: randomBytes(32).toString("base64") } } } as never);
      }
    }
    // The original's first job call (the move job's scheduling) answers 429 once.
    await configureHub(original.name, { faults: [{ group: "jobs", status: 429, nth: 1 }] });
    const lines: string[] = [];
    const r = await runCutover({
      original: hubTarget(original.connectionString, "--source-connection-string"),
      clone: hubTarget(clone.connectionString, "--clone-connection-string"),
      cloneSku: { name: "S3", capacity: 1 },
      local: localEndpoints(),
      pollIntervalMs: { min: 20, max: 100 },
      onProgress: (l) => lines.push(l),
    });
    expect(r).toMatchObject({ status: "completed", targeted: 3, updated: 3, pin: { status: "completed", updated: 3 } });
    const pinSays = lines.findIndex((l) => /^cutover \(pin on .*\): 3 device\(s\) on .*, about 1 s at S3's 50 job device operations\/s; job lifetime 3600 s$/.test(l));
    const moveSays = lines.findIndex((l) => /^cutover: 3 device\(s\) on .*, about 1 s at S1's 10 job device operations\/s \(tier not given: the slowest assumed; pass --sku\/--source-sku\); job lifetime 3600 s$/.test(l));
    const moveScheduled = lines.findIndex((l) => /^cutover: job hubclone-cutover-.* scheduled/.test(l));
    expect(pinSays).toBeGreaterThanOrEqual(0);
    expect(moveSays).toBeGreaterThan(pinSays);
    expect(moveScheduled).toBeGreaterThan(moveSays);
    expect(lines.some((l) => /^cutover: .*throttled \(429\), retrying$/.test(l))).toBe(true);
    // The job lifetime the hub got is the sized one.
    const job = (await jobClientFor(original).getJob(r.jobId)).jobStatus as unknown as { maxExecutionTimeInSeconds: number };
    expect(job.maxExecutionTimeInSeconds).toBe(3600);
  });
});

describe("a wave behind another job on the Azure-strict local hub (S1: one job at a time, 429004 beyond)", () => {
  const key = () => randomBytes(32).toString("base64");
  async function strictPair(prefix: string) {
    const original = await createStrictHub(`${prefix}-orig`, { sku: "S1", consistencyLagMs: 0 });
    const clone = await createStrictHub(`${prefix}-clone`, { sku: "S1", consistencyLagMs: 0 });
    for (const hub of [original, clone])
      await registryFor(hub).addDevices([0, 1, 2].map((i) => ({ deviceId: `d${i}`, status: "enabled" as const, authentication: { symmetricKey: { primaryKey: key(), secondaryKey: key() } } })) as never);
    // Another scheduled job holds the original's only slot (due in an hour, so it stays active).
    await jobClientFor(original).scheduleTwinUpdate("other-job", "tags.x = 1", { etag: "*", tags: { y: 1 } } as never, new Date(Date.now() + 3600_000), 3600);
    return { original, clone, o: hubTarget(original.connectionString, "--source-connection-string"), c: hubTarget(clone.connectionString, "--clone-connection-string") };
  }

  it("waits for the slot, then moves the wave", async () => {
    const p = await strictPair("slot");
    const lines: string[] = [];
    // The other job ends a little later: the wave must start then, not fail.
    const freed = new Promise<void>((resolve) => setTimeout(() => void jobClientFor(p.original).cancelJob("other-job").then(() => resolve()), 1500));
    const r = await runCutover({ original: p.o, clone: p.c, originalSku: { name: "S1" }, cloneSku: { name: "S1" }, local: localEndpoints(), pollIntervalMs: { min: 100, max: 400 }, onProgress: (l) => lines.push(l) });
    await freed;
    expect(r).toMatchObject({ status: "completed", targeted: 3, updated: 3, pin: { status: "completed", updated: 3 } });
    expect(lines.filter((l) => /waiting for a free job slot/.test(l))).toEqual([
      expect.stringMatching(/^cutover: .* \(S1: 1 scheduled job\(s\) at a time\): waiting for a free job slot \(another scheduled job runs there\)$/),
    ]);
  });

  it("gives up with one line when the slot stays busy past the wait, having moved nothing on that hub", async () => {
    const p = await strictPair("slot-busy");
    const err = await runCutover({ original: p.o, clone: p.c, local: localEndpoints(), slotWaitMs: 1200, pollIntervalMs: { min: 200, max: 400 } }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^cutover: cutover: .*: no job slot became free \(another scheduled job still runs there\) within the wait; run the wave when it is done, or raise --max-execution-seconds$/);
    const jobs = (await jobClientFor(p.original).createQuery("scheduleUpdateTwin").next()).result as unknown as Array<{ jobId: string }>;
    expect(jobs.map((j) => j.jobId)).toEqual(["other-job"]);
  });
});

describe("hubclone cutover: the tiers' flags", () => {
  const root = path.resolve(__dirname, "..", "..");
  const cs = (h: string) => `HostName=${h}.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5`;
  const cutover = (...args: string[]) =>
    spawnSync(process.execPath, ["--require", require.resolve("tsx/cjs"), path.join(root, "scripts", "hubclone.ts"), "cutover", "--source-connection-string", cs("orig"), "--clone-connection-string", cs("clone"), "--force", ...args], {
      cwd: root,
      encoding: "utf8",
      timeout: 60_000,
    });
  it.each([
    [["--sku", "S4"], /^error: --sku: 'S4' is not an IoT Hub tier/],
    [["--sku", "B2"], /^error: --sku: B2 is a basic tier: it has no device twins or scheduled jobs/],
    [["--source-sku", "S3", "--source-units", "x"], /^error: --source-units: 'x' is not a whole number of units/],
    [["--units", "2"], /^error: --units: needs --sku/],
  ])("%j is refused before any hub is called, one line, exit 1", (args, message) => {
    const r = cutover(...(args as string[]));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(message as RegExp);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
