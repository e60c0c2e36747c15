/**
 * `--devices`/`--count` above the hub quota (devices plus modules, 1,000,000) is refused before
 * anything starts, with the largest count that fits (pace.ts): rehearse and devices generate.
 * (bench: rehearse-bench.test.ts; plan: plan-estimates.test.ts.)
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { generatedIdentities } from "../../components/devices/generate";
import { largestFit } from "../../components/devices/pace";
import { scriptArgs } from "../../scripts/cli";

const root = path.resolve(__dirname, "..", "..");
const run = (script: string, args: string[]) => spawnSync(process.execPath, scriptArgs(path.join(root, "scripts", script), args), { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, HUBCLONE_CONNECTION_STRING: "" } });
const fit = largestFit(generatedIdentities);

describe("device counts over the hub quota", () => {
  it("the largest generated fleet that fits is below 1,000,000 devices: edge devices bring modules", () => {
    expect(generatedIdentities(fit)).toBeLessThanOrEqual(1_000_000);
    expect(generatedIdentities(fit + 1)).toBeGreaterThan(1_000_000);
  });

  it("rehearse --devices refuses it up front, one line, exit 1", () => {
    const r = run("rehearse.ts", ["--devices", String(fit + 1)]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^error: --devices: .* exceed the hub quota of 1,000,000 devices plus modules: the largest count that fits is ${fit}$`));
  });

  it("devices generate --count refuses it before reaching any hub", () => {
    const r = run("hubclone.ts", ["devices", "generate", "--count", String(fit + 1), "--connection-string", "HostName=nowhere.azure-devices.net;SharedAccessKeyName=o;SharedAccessKey=a2V5"]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^error: --count: .* the largest count that fits is ${fit}$`));
    const ok = run("hubclone.ts", ["devices", "generate", "--count", "0", "--connection-string", "HostName=nowhere.azure-devices.net;SharedAccessKeyName=o;SharedAccessKey=a2V5"]);
    expect(ok.stderr.trim()).toMatch(/^error: --count: must be a whole number/);
  });
});
