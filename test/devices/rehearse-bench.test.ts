/**
 * `npm run bench` keeps producing its figures (shape and counting only — performance numbers are
 * reported from real runs, never asserted): a tiny fleet in a scratch directory with its own
 * local hub, the documented keys, a job count independent of the fleet, and a delta sync that
 * imports only the changed devices' lines.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { expectedCounts, generatedIdentities } from "../../components/devices/generate";
import { deltaSyncSeconds, fullCopySeconds, largestFit } from "../../components/devices/pace";
import { changedStep, parseChangedPercent } from "../../scripts/bench";
import { containsSecret } from "../../components/secrets";
import { scriptArgs } from "../../scripts/cli";
import { generatedFleet } from "../support/generated-fleet";
import { leakedLiterals } from "../support/leaks";

const projectDir = path.resolve(__dirname, "..", "..");
const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "bench-test-"));
afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

describe("npm run bench", () => {
  it("--devices 150 --json reports every figure, 4 job creations and a ~1% delta", { timeout: 300_000 }, () => {
    const r = spawnSync(process.execPath, scriptArgs(path.join(projectDir, "scripts", "bench.ts"), ["--devices", "150", "--json"]), {
      cwd,
      encoding: "utf8",
      timeout: 280_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const b = JSON.parse(r.stdout);
    for (const k of ["devices", "clientPeakRssMb", "clientCpuMs", "wallMs", "devicesPerSec", "transformMBps", "rawCopyMBps"]) expect(typeof b[k], k).toBe("number");
    expect(b.devices).toBe(150);
    // Counted from the generated lines, not from the generator's expectedCounts().
    const fleet = generatedFleet({ count: 150 });
    expect(b.importedLines).toBe(150 + fleet.modules);
    expect(b.clientPeakRssMb).toBeGreaterThan(0);
    // Devices 0 and 97 change: an edge device (+ its module with desired properties) and an X.509 CA device.
    expect(b.delta).toMatchObject({ changedDevices: 2, importedLines: 3 });
    expect(b.hubCalls.jobCreates).toBe(4);
    expect(containsSecret(r.stdout + r.stderr)).toBe(false);
    expect(leakedLiterals(r.stdout + r.stderr, fleet.keys)).toEqual([]);
    expect(fs.existsSync(path.join(cwd, ".local", "endpoints.json"))).toBe(false);
  });

  it("--sku S3 --changed 10% projects the service time of the lines it moved, from the pace model", { timeout: 300_000 }, () => {
    const r = spawnSync(process.execPath, scriptArgs(path.join(projectDir, "scripts", "bench.ts"), ["--devices", "60", "--sku", "S3", "--changed", "10%", "--json"]), {
      cwd,
      encoding: "utf8",
      timeout: 280_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const b = JSON.parse(r.stdout);
    const lines = 60 + expectedCounts(60).modules;
    // Every 7th device (the largest prime ≤ 10 other than 5): 0, 7, …, 56 → 9 devices and their modules.
    expect(b.delta.changedDevices).toBe(9);
    expect(b.projection).toMatchObject({
      sku: "S3",
      lines,
      changedLines: b.delta.changedLines,
      fullCopySeconds: fullCopySeconds({ lines }),
      deltaSyncSeconds: deltaSyncSeconds({ lines, changedLines: b.delta.changedLines }),
    });
    // At 60 devices the jobs' fixed cost dominates: the sync is never longer than the re-copy.
    expect(b.projection.deltaSyncSeconds).toBeLessThanOrEqual(b.projection.fullCopySeconds);
  });

  it("refuses --devices over the hub quota (devices plus modules) before starting anything, naming the largest that fits", () => {
    const r = spawnSync(process.execPath, scriptArgs(path.join(projectDir, "scripts", "bench.ts"), ["--devices", "900000"]), { cwd, encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(1);
    // One line, nothing else: the local hub was never started.
    expect(r.stderr.trim()).toBe(
      `error: --devices: 900,000 devices plus their ${(generatedIdentities(900_000) - 900_000).toLocaleString("en-US")} modules (an edge device counts 3 with $edgeAgent and $edgeHub) exceed the hub quota of 1,000,000 devices plus modules: the largest count that fits is ${largestFit(generatedIdentities)}`,
    );
    expect(r.stdout).toBe("");
    const bad = spawnSync(process.execPath, scriptArgs(path.join(projectDir, "scripts", "bench.ts"), ["--devices", "10", "--changed", "0%"]), { cwd, encoding: "utf8", timeout: 60_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^error: --changed: '0%' is not a share of the devices/);
  });

  it("picks changed devices that cycle through every kind: a prime step other than 2 and 5", () => {
    expect(parseChangedPercent("1%")).toBe(1);
    expect(parseChangedPercent("2.5")).toBe(2.5);
    expect(changedStep(1)).toBe(97);
    expect(changedStep(10)).toBe(7);
    expect(changedStep(50)).toBe(2);
    expect(changedStep(100)).toBe(1);
    for (const pct of [0.1, 1, 3, 10, 25]) {
      const step = changedStep(pct);
      expect(step).toBeLessThanOrEqual(100 / pct);
      expect(50 % step === 0 && step > 1).toBe(false);
    }
  });
});
