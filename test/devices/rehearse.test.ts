/**
 * `npm run rehearse` end to end, as a user runs it: its own local hub (in a scratch directory, so
 * it never touches the developer's .local/), generated devices or a JSONL file, the engine, the
 * verification, the exact --json shape, the exit code, and no secret in anything printed.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { containsSecret } from "../../components/secrets";
import { scriptArgs } from "../../scripts/cli";
import { generatedFleet } from "../support/generated-fleet";
import { leakedLiterals } from "../support/leaks";

const projectDir = path.resolve(__dirname, "..", "..");
// ../shared beside the project (CI lays it there); HUBCLONE_CORPUS points elsewhere.
const corpusDir = path.join(process.env.HUBCLONE_CORPUS ?? path.resolve(__dirname, "..", "..", "..", "shared", "corpus"), "devices");
const scratch: string[] = [];

function rehearse(args: string[]): { code: number | null; stdout: string; stderr: string; cwd: string } {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "rehearse-test-"));
  scratch.push(cwd);
  const r = spawnSync(process.execPath, scriptArgs(path.join(projectDir, "scripts", "rehearse.ts"), args), { cwd, encoding: "utf8", timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, cwd };
}

/** The emulator and Azurite the rehearsal started must be gone (pid files name them). */
function assertStopped(cwd: string): void {
  for (const pidFile of [path.join(cwd, ".local", "emulator", "emulator.pid"), path.join(cwd, ".local", "azurite", "azurite.pid")]) {
    if (!fs.existsSync(pidFile)) continue;
    const pid = Number(fs.readFileSync(pidFile, "utf8"));
    expect(() => process.kill(pid, 0), `process ${pid} from ${pidFile} still runs`).toThrow();
  }
  expect(fs.existsSync(path.join(cwd, ".local", "endpoints.json"))).toBe(false);
}

afterAll(() => {
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});

describe("npm run rehearse", () => {
  it("--devices 60 --json: exact shape, every device and module copied, exit 0, hub stopped", { timeout: 300_000 }, () => {
    const r = rehearse(["--devices", "60", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report)).toEqual(["sourceHub", "cloneHub", "source", "clone", "imported", "failed", "mismatches", "durationMs", "endpoints"]);
    // Counted from the lines the generator emits (the rehearsal loads exactly these), not from expectedCounts().
    const e = generatedFleet({ count: 60 });
    expect(e.modules).toBeGreaterThan(0);
    expect(report.source).toEqual({ devices: 60, modules: e.modules });
    expect(report.clone).toEqual(report.source);
    expect(report.imported).toBe(60 + e.modules);
    expect(report.failed).toEqual([]);
    expect(report.mismatches).toEqual([]);
    expect(report.durationMs).toBeGreaterThan(0);
    expect(report.endpoints.iothub.hubs[report.sourceHub].hostName).toBe(`${report.sourceHub}.azure-devices.net`);
    // The endpoints block is `local up --json` (masked); nothing else may look like a secret either.
    expect(containsSecret(r.stdout + r.stderr)).toBe(false);
    expect(leakedLiterals(r.stdout + r.stderr, e.keys)).toEqual([]);
    assertStopped(r.cwd);
  });

  it("--devices-file: re-parents foreign edge scopes, drops system modules, reports a malformed line and exits 1", { timeout: 300_000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehearse-file-"));
    scratch.push(dir);
    const key = (n: number) => Buffer.alloc(32, n).toString("base64");
    const scope = (id: string) => `ms-azure-iot-edge://${id}-637812345678901234`;
    const lines = [
      { id: "gw-1", status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: key(1), secondaryKey: key(2) } }, capabilities: { iotEdge: true }, deviceScope: scope("gw-1"), parentScopes: [] },
      { id: "gw-1", moduleId: "$edgeAgent", authentication: { type: "sas", symmetricKey: { primaryKey: key(3), secondaryKey: key(4) } } },
      { id: "gw-1", moduleId: "collector", authentication: { type: "sas", symmetricKey: { primaryKey: key(5), secondaryKey: key(6) } }, properties: { desired: { rate: 5 } } },
      { id: "gw-2", status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: key(7), secondaryKey: key(8) } }, capabilities: { iotEdge: true }, deviceScope: scope("gw-2"), parentScopes: [scope("gw-1")] },
      { id: "sensor-1", status: "disabled", statusReason: "retired", authentication: { type: "selfSigned", x509Thumbprint: { primaryThumbprint: "A".repeat(40), secondaryThumbprint: "B".repeat(40) } }, deviceScope: scope("gw-2"), parentScopes: [scope("gw-2")], tags: { site: "x" } },
    ].map((l) => JSON.stringify(l));
    lines.splice(3, 0, '{"id": "broken", "status": ');
    const file = path.join(dir, "devices.jsonl");
    fs.writeFileSync(file, lines.join("\n") + "\n");
    const r = rehearse(["--devices-file", file, "--json"]);
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.source).toEqual({ devices: 3, modules: 1 });
    expect(report.clone).toEqual(report.source);
    expect(report.mismatches).toEqual([]);
    expect(report.failed).toEqual([{ stage: "load", deviceId: "broken", errorCode: "malformed", errorStatus: "not valid JSON" }]);
    expect(containsSecret(r.stdout + r.stderr)).toBe(false);
    expect(leakedLiterals(r.stdout + r.stderr, [1, 2, 3, 4, 5, 6, 7, 8].map(key))).toEqual([]);
    assertStopped(r.cwd);
  });

  describe.skipIf(!fs.existsSync(corpusDir))("with the corpus device files", () => {
    const files = fs.existsSync(corpusDir) ? fs.readdirSync(corpusDir).filter((f) => f.endsWith(".jsonl")) : [];
    for (const f of files) {
      it(`--devices-file ${f}: the clone matches the original; load failures are listed, not hidden`, { timeout: 300_000 }, () => {
        const lines = fs.readFileSync(path.join(corpusDir, f), "utf8").split("\n").filter((l) => l.trim());
        const r = rehearse(["--devices-file", path.join(corpusDir, f), "--json"]);
        const report = JSON.parse(r.stdout);
        expect(report.mismatches).toEqual([]);
        expect(report.clone).toEqual(report.source);
        // Every corpus line either reached the original or is listed as a load failure.
        const loadFailures = report.failed.filter((x: { stage: string }) => x.stage === "load");
        expect(report.source.devices + report.source.modules + loadFailures.length).toBe(lines.length);
        expect(r.code).toBe(report.failed.length === 0 ? 0 : 1);
        expect(containsSecret(r.stdout)).toBe(false);
        // The corpus lines' own keys (read by pattern: a malformed line still may hold one).
        const keys = lines.flatMap((l) => [...l.matchAll(/"(?:primaryKey|secondaryKey)"\s*:\s*"([^"]+)"/g)].map((m) => m[1]));
        expect(leakedLiterals(r.stdout + r.stderr, keys)).toEqual([]);
      });
    }
  });
});
if (!fs.existsSync(corpusDir)) console.log(`rehearse.test: ${corpusDir} is absent; the corpus rehearsals are skipped`);
