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
import { expectedCounts } from "../../components/devices/generate";
import { containsSecret } from "../../components/secrets";
import { scriptArgs } from "../../scripts/cli";

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
    expect(b.importedLines).toBe(150 + expectedCounts(150).modules);
    expect(b.clientPeakRssMb).toBeGreaterThan(0);
    // Devices 0 and 97 change: an edge device (+ its module with desired properties) and an X.509 CA device.
    expect(b.delta).toMatchObject({ changedDevices: 2, importedLines: 3 });
    expect(b.hubCalls.jobCreates).toBe(4);
    expect(containsSecret(r.stdout + r.stderr)).toBe(false);
    expect(fs.existsSync(path.join(cwd, ".local", "endpoints.json"))).toBe(false);
  });
});
