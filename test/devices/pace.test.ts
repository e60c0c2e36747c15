import { describe, expect, it } from "vitest";
import {
  checkDeviceQuota,
  concurrentScheduledJobs,
  deltaSyncSeconds,
  describeEstimates,
  estimate,
  formatDuration,
  fullCopySeconds,
  HUB_IDENTITY_QUOTA,
  identityCount,
  IMPORT_EXPORT_LINES_PER_SECOND,
  JOB_OVERHEAD_SECONDS,
  jobDeviceOperationsPerSecond,
  largestFit,
  parseSku,
  scheduledJobSeconds,
  waveLifetimeSeconds,
} from "../../components/devices/pace";
import { expectedCounts, generatedIdentities } from "../../components/devices/generate";

describe("pace model: scheduled jobs per tier (quotas doc, 'Jobs device operations' row)", () => {
  // [sku, units, device operations/s, concurrent jobs] as the quotas doc states them.
  const table: Array<[string, number, number | undefined, number]> = [
    ["F1", 1, 10, 1],
    ["S1", 1, 10, 1],
    ["S1", 4, 10, 1], // S1 does not scale with units
    ["S2", 1, 10, 5], // higher of 10/s or 1/s/unit
    ["S2", 25, 25, 5],
    ["S3", 1, 50, 10], // 50/s/unit
    ["S3", 3, 150, 10],
    ["B1", 1, undefined, 1], // no scheduled jobs on basic tiers
    ["B3", 2, undefined, 1],
  ];
  it.each(table)("%s x%i: %s device operations/s, %i concurrent jobs", (name, capacity, rate, jobs) => {
    expect(jobDeviceOperationsPerSecond({ name, capacity })).toBe(rate);
    expect(concurrentScheduledJobs({ name, capacity })).toBe(jobs);
  });

  it("a wave's job time follows the tier: 1,000,000 devices take 100,000 s on S1, 20,000 s on S3", () => {
    expect(scheduledJobSeconds(1_000_000, { name: "S1" })).toBe(100_000);
    expect(scheduledJobSeconds(1_000_000, { name: "S3" })).toBe(20_000);
    expect(scheduledJobSeconds(1_000_000, { name: "S3", capacity: 2 })).toBe(10_000);
    expect(() => scheduledJobSeconds(10, { name: "B2" })).toThrow(/basic tier/);
  });

  it("a wave's lifetime is twice its time on its tier, never below the service's default hour", () => {
    expect(waveLifetimeSeconds(0, { name: "S1" })).toBe(3600);
    expect(waveLifetimeSeconds(10_000, { name: "S1" })).toBe(3600); // 1,000 s needed
    expect(waveLifetimeSeconds(100_000, { name: "S1" })).toBe(20_000);
    expect(waveLifetimeSeconds(100_000, { name: "S3" })).toBe(4_000);
    // Unknown tier: the slowest (S1), so the lifetime is never short.
    expect(waveLifetimeSeconds(100_000)).toBe(waveLifetimeSeconds(100_000, { name: "S1" }));
    for (const sku of ["F1", "S1", "S2", "S3"]) expect(waveLifetimeSeconds(50_000, { name: sku })).toBeGreaterThanOrEqual(2 * scheduledJobSeconds(50_000, { name: sku }));
  });

  it("parses --sku/--units, refusing unknown tiers and bad units with the flag named", () => {
    expect(parseSku("s3", "2")).toEqual({ name: "S3", capacity: 2 });
    expect(parseSku("S1")).toEqual({ name: "S1", capacity: 1 });
    expect(() => parseSku("S4")).toThrow(/^--sku: 'S4' is not an IoT Hub tier/);
    expect(() => parseSku("S1", "0")).toThrow(/^--units:/);
    expect(() => parseSku("F1", 2)).toThrow(/^--units: the free tier/);
  });
});

describe("pace model: import/export jobs (Microsoft's migration guide)", () => {
  const twoJobs = (lines: number) => fullCopySeconds({ lines, verify: false, reparent: false });
  it("takes the guide's ~2 h for 500,000 and ~4 h for 1,000,000 devices per job (the slower reading), so export + import is twice that", () => {
    const overhead = 2 * JOB_OVERHEAD_SECONDS;
    expect(twoJobs(500_000)).toBe(2 * 2 * 3600 + overhead);
    expect(twoJobs(1_000_000)).toBe(2 * 4 * 3600 + overhead);
    // Linear in the lines: the guide's two figures agree with each other.
    expect(twoJobs(1_000_000) - overhead).toBe(2 * (twoJobs(500_000) - overhead));
  });

  it("the engine's full run adds the re-parent export and the verify export, each a pass over every line", () => {
    const pass = 1_000_000 / IMPORT_EXPORT_LINES_PER_SECOND;
    expect(fullCopySeconds({ lines: 1_000_000 }) - twoJobs(1_000_000)).toBe(Math.ceil(2 * pass + 3 * JOB_OVERHEAD_SECONDS));
    expect(fullCopySeconds({ lines: 1_000_000, reparent: false })).toBeLessThan(fullCopySeconds({ lines: 1_000_000 }));
  });

  it("a delta sync exports everything but imports only what changed, so it is shorter than a re-copy by the import it skips", () => {
    const full = fullCopySeconds({ lines: 1_000_000 });
    const delta = deltaSyncSeconds({ lines: 1_000_000, changedLines: 10_000 });
    expect(delta).toBeLessThan(full);
    // The difference is the import of the 990,000 unchanged lines (rounding: within a second).
    expect(Math.abs(full - delta - 990_000 / IMPORT_EXPORT_LINES_PER_SECOND)).toBeLessThanOrEqual(1);
    // Everything changed: the sync costs what the copy costs.
    expect(deltaSyncSeconds({ lines: 1000, changedLines: 1000 })).toBe(fullCopySeconds({ lines: 1000 }));
    expect(deltaSyncSeconds({ lines: 1000, changedLines: 5000 })).toBe(fullCopySeconds({ lines: 1000 }));
  });
});

describe("pace model: the hub quota (1,000,000 devices plus modules)", () => {
  it("counts an edge device as 3 identities with $edgeAgent and $edgeHub", () => {
    expect(identityCount({ devices: 10, edgeDevices: 2, customModules: 3 })).toBe(10 + 4 + 3);
  });

  it("refuses a count over the quota with the largest count that fits", () => {
    expect(() => checkDeviceQuota(1_000_000, "--devices")).not.toThrow();
    expect(() => checkDeviceQuota(1_000_001, "--devices")).toThrow(/^--devices: .*largest count that fits is 1000000$/);
    expect(() => checkDeviceQuota(0, "--devices")).toThrow(/^--devices: must be a whole number/);
  });

  it("for generated fleets, the largest count that fits is exact: it fits, one more does not", () => {
    // The closed form agrees with counting the generated fleet device by device.
    for (const n of [1, 7, 8, 50, 51, 999, 12_345]) {
      const c = expectedCounts(n);
      expect(generatedIdentities(n)).toBe(identityCount({ devices: n, edgeDevices: c.byKind.edge + c.byKind.nestedEdge, customModules: c.modules }));
    }
    const ids = generatedIdentities;
    const fit = largestFit(ids);
    expect(ids(fit)).toBeLessThanOrEqual(HUB_IDENTITY_QUOTA);
    expect(ids(fit + 1)).toBeGreaterThan(HUB_IDENTITY_QUOTA);
    expect(fit).toBeLessThan(HUB_IDENTITY_QUOTA);
    let message = "";
    try {
      checkDeviceQuota(1_000_000, "--devices", ids);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(`largest count that fits is ${fit}`);
    expect(message).toContain("an edge device counts 3");
  });
});

describe("pace model: estimates", () => {
  it("carries the plan's fields, the cutover wave on both hubs' tiers", () => {
    const e = estimate({ devices: 1_000_000, cloneSku: { name: "S3", capacity: 1 }, originalSku: { name: "S1", capacity: 1 } });
    expect(e.deviceCopySeconds).toBe(fullCopySeconds({ lines: 1_000_000 }));
    expect(e.deltaSyncSeconds).toBe(deltaSyncSeconds({ lines: 1_000_000, changedLines: 10_000 }));
    // pin on the S3 clone (1,000/50 s) + move on the S1 original (1,000/10 s)
    expect(e.cutoverSecondsPerThousandDevices).toBe(20 + 100);
    // Unknown original: S1's pace assumed (the slowest).
    expect(estimate({ devices: 5, cloneSku: { name: "S3" } }).cutoverSecondsPerThousandDevices).toBe(120);
    expect(estimate({ devices: 5, cloneSku: { name: "S2", capacity: 20 }, originalSku: { name: "S2", capacity: 20 } }).cutoverSecondsPerThousandDevices).toBe(100);
  });

  it("says it in words", () => {
    expect(formatDuration(40)).toBe("about 40 s");
    expect(formatDuration(720)).toBe("about 12 min");
    expect(formatDuration(4 * 3600 + 600)).toBe("about 4 h 10 min");
    const text = describeEstimates(estimate({ devices: 500_000, cloneSku: { name: "S1" } }));
    expect(text).toMatch(/500,000 devices on a S1 clone/);
    expect(text).toMatch(/frozen before cutover/);
    expect(describeEstimates(estimate({ devices: 5, cloneSku: { name: "B1" } }))).toMatch(/B1 has no scheduled jobs/);
  });
});
