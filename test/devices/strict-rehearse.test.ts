/**
 * `npm run rehearse -- --profile azure`: the rehearsal of every device kind on the Azure-strict local
 * hub (S1 limits at 100× speed), in a scratch directory, as a user runs it before a real migration.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { expectedCounts } from "../../components/devices/generate";
import { scriptArgs } from "../../scripts/cli";

const projectDir = path.resolve(__dirname, "..", "..");
const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});

describe("npm run rehearse -- --profile azure", () => {
  it("--devices 60 on S1 at 100×: every kind copied and verified, exit 0", { timeout: 300_000 }, () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "rehearse-strict-"));
    scratch.push(cwd);
    const r = spawnSync(process.execPath, scriptArgs(path.join(projectDir, "scripts", "rehearse.ts"), ["--devices", "60", "--profile", "azure", "--sku", "S1", "--time-scale", "100", "--json"]), {
      cwd,
      encoding: "utf8",
      timeout: 280_000,
    });
    const report = JSON.parse(r.stdout || "{}");
    expect.soft(report.failed, r.stderr).toEqual([]);
    expect.soft(report.mismatches).toEqual([]);
    const e = expectedCounts(60);
    expect.soft(report.source).toEqual({ devices: 60, modules: e.modules });
    expect.soft(report.clone).toEqual(report.source);
    expect(r.status, r.stderr).toBe(0);
  });

  it("refuses an unknown profile before starting anything", () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "rehearse-strict-"));
    scratch.push(cwd);
    const r = spawnSync(process.execPath, scriptArgs(path.join(projectDir, "scripts", "rehearse.ts"), ["--devices", "5", "--profile", "azur"]), { cwd, encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--profile/);
    expect(fs.existsSync(path.join(cwd, ".local"))).toBe(false);
  });
});
