/**
 * `hubclone devices copy|sync|verify|generate` spawned as a user runs them, against the local hub
 * (`--local` reads .local/endpoints.json in the working directory). JSON for machines, one clear
 * line for user errors, and no key, SAS or connection string in anything printed.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedCounts, generateDeviceLines, loadDevices } from "../../components/devices/generate";
import { containsSecret } from "../../components/secrets";
import { keysOf, leakedLiterals } from "../support/leaks";
import { createTestHub, localEndpoints, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";
import { scriptArgs } from "../../scripts/cli";

const projectDir = path.resolve(__dirname, "..", "..");
let cwd: string;
const printed: string[] = [];

function hubclone(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, scriptArgs(path.join(projectDir, "scripts", "hubclone.ts"), args), {
      cwd,
      env: { ...process.env, HUBCLONE_SOURCE_CONNECTION_STRING: "", HUBCLONE_CLONE_CONNECTION_STRING: "", HUBCLONE_STAGING_CONNECTION_STRING: "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    child.on("exit", (code) => {
      printed.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

async function count(hub: TestHub): Promise<number> {
  const q = registryFor(hub).createQuery("SELECT deviceId FROM devices", 1000);
  let n = 0;
  while (q.hasMoreResults) n += ((await q.next()).result as unknown[]).length;
  return n;
}

describe("hubclone devices (CLI) against the local hub", () => {
  let source: TestHub;
  let clone: TestHub;

  beforeAll(async () => {
    source = await createTestHub("cli-src");
    clone = await createTestHub("cli-cln");
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), "devices-cli-"));
    fs.mkdirSync(path.join(cwd, ".local"));
    fs.writeFileSync(path.join(cwd, ".local", "endpoints.json"), JSON.stringify(localEndpoints()));
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it("generate --count fills a hub through import jobs", async () => {
    const r = await hubclone(["--local", "--json", "devices", "generate", "--hub", source.name, "--count", "40"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ hub: source.hostName, requested: 40, devices: 40, modules: expectedCounts(40).modules, failed: 0, reparented: expectedCounts(40).byKind.edgeChild + expectedCounts(40).byKind.nestedEdge });
    expect(out.jobIds).toHaveLength(3);
    expect(await count(source)).toBe(40);
  });

  it("copy --json copies and verifies", async () => {
    const r = await hubclone(["--local", "--json", "devices", "copy", "--source-hub", source.name, "--clone-hub", clone.name]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ exported: 40, imported: 40 + expectedCounts(40).modules, failed: 0, verified: 40, mismatchCount: 0 });
    expect(await count(clone)).toBe(40);
  });

  it("sync imports only what changed, with connection strings given as flags", async () => {
    const changed = await loadDevices({ connectionString: source.connectionString }, { connectionString: stagingConnectionString(), containerName: "unused" },
      generateDeviceLines({ count: 44, select: (i) => i === 3 || i >= 40, revision: 4 }), { local: localEndpoints() as never });
    expect(changed.failed).toBe(0);
    const r = await hubclone([
      "--local", "--json", "devices", "sync",
      "--source-connection-string", source.connectionString,
      "--clone-connection-string", clone.connectionString,
      "--staging-connection-string", stagingConnectionString(),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.sync).toMatchObject({ changed: 5, deletedAtSource: 0 });
    expect(out).toMatchObject({ exported: 44, imported: 5, failed: 0, mismatchCount: 0 });
    expect(await count(clone)).toBe(44);
  });

  it("verify --json says ok; a filtered verify only looks at the chosen ids", async () => {
    const r = await hubclone(["--local", "--json", "devices", "verify", "--source-hub", source.name, "--clone-hub", clone.name]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, source: 44, clone: 44, missingCount: 0, extraCount: 0, differentCount: 0 });
    const f = await hubclone(["--local", "--json", "devices", "verify", "--source-hub", source.name, "--clone-hub", clone.name, "--filter-ids", "gen-0000001,gen-0000002"]);
    expect(JSON.parse(f.stdout)).toMatchObject({ ok: true, source: 2, clone: 2 });
  });

  it("people get progress lines on stderr and a summary on stdout", async () => {
    const r = await hubclone(["--local", "devices", "verify", "--source-hub", source.name, "--clone-hub", clone.name]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^verify OK: source 44 devices/);
    expect(r.stderr).toMatch(/devices: /);
  });

  it("user errors are one line naming the flag, with no stack and no secret", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["devices", "copy", "--clone-connection-string", clone.connectionString], /^error: --source-connection-string: is required/],
      [["--local", "devices", "copy", "--source-hub", "nope", "--clone-hub", clone.name], /^error: --source-hub: no local hub named nope/],
      [["--local", "devices", "copy", "--source-hub", source.name, "--clone-hub", source.name], /^error: --clone-hub: names the same hub/],
      [["--local", "devices", "copy", "--source-hub", source.name, "--clone-hub", clone.name, "--container", "Bad_Name"], /^error: --container: must be 3-63/],
      [["--local", "devices", "generate", "--hub", source.name, "--count", "0"], /^error: --count: must be a whole number/],
      [["--local", "devices", "verify", "--source-connection-string", source.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 5).toString("base64")}`), "--clone-hub", clone.name], /^error: source\.connectionString: .*401/],
    ];
    for (const [args, pattern] of cases) {
      const r = await hubclone(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("nothing printed carries a key, SAS or connection string", () => {
    const all = printed.join("\n");
    expect(containsSecret(all)).toBe(false);
    for (const cs of [source.connectionString, clone.connectionString, stagingConnectionString()]) expect(all).not.toContain(cs);
    // The literal keys too (containsSecret misses a bare key): the hubs', the staging account's.
    expect(leakedLiterals(all, keysOf(source.connectionString, clone.connectionString, stagingConnectionString()))).toEqual([]);
  });
});
