/**
 * The commands as users run them: `hubclone <command> --local --json` in a child process, with
 * `.local/endpoints.json` pointing at the test's local hub. Checks exit codes, the JSON shape,
 * one-line errors without stack traces, and that no secret reaches stdout or stderr.
 */
import { spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { copyDevices } from "../../components/devices";
import { containsSecret } from "../../components/secrets";
import { keysOf, leakedLiterals } from "../support/leaks";
import { createTestHub, localEndpoints, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";
import { loadInteractions } from "./recorded";

const root = path.join(__dirname, "..", "..");
const tsx = path.join(root, "node_modules", ".bin", "tsx");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let cwd: string;

function hubclone(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [path.join(root, "scripts", "hubclone.ts"), ...args], { cwd, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

let original: TestHub;
let clone: TestHub;
let env: Record<string, string>;

beforeAll(async () => {
  original = await createTestHub("cli-orig");
  clone = await createTestHub("cli-clone");
  const r = registryFor(original);
  for (let i = 0; i < 4; i++) {
    await p((cb) => r.create({ deviceId: `d${i}`, status: "enabled" } as never, cb as never));
    await p((cb) => r.updateTwin(`d${i}`, { tags: { wave: i % 2 ? 2 : 1 } }, "*", cb as never));
  }
  const staging = { connectionString: stagingConnectionString(), containerName: `cli-${randomBytes(4).toString("hex")}` };
  const copy = await copyDevices({ source: { connectionString: original.connectionString }, clone: { connectionString: clone.connectionString }, staging, runId: `cli-${randomBytes(3).toString("hex")}`, local: localEndpoints(), pollIntervalMs: { min: 20, max: 100 } });
  expect(copy.failed).toBe(0);
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), "hubclone-cli-"));
  fs.mkdirSync(path.join(cwd, ".local"));
  fs.writeFileSync(path.join(cwd, ".local", "endpoints.json"), JSON.stringify(localEndpoints()));
  env = { HUBCLONE_SOURCE_CONNECTION_STRING: original.connectionString, HUBCLONE_CLONE_CONNECTION_STRING: clone.connectionString };
});

function noSecrets(r: Run) {
  expect(containsSecret(r.stdout + r.stderr)).toBe(false);
  expect(r.stdout + r.stderr).not.toContain(original.connectionString.split("SharedAccessKey=")[1]);
  expect(leakedLiterals(r.stdout + r.stderr, keysOf(original.connectionString, clone.connectionString, stagingConnectionString()))).toEqual([]);
}

describe("hubclone commands (child process, --local)", () => {
  it("verify --json: the documented shape, exit 0 on a clone that matches", async () => {
    const r = await hubclone(["--local", "--json", "verify"], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, devices: { source: 4, clone: 4, missing: [], extra: [], different: [] } });
    noSecrets(r);
  });

  it("verify exits non-zero on a device difference and on an unexpected settings difference", async () => {
    const snapOriginal = path.join(cwd, "original.json");
    const snapClone = path.join(cwd, "clone.json");
    const hub = loadInteractions("arm-iothub-contoso.json")[0].body as Record<string, any>;
    const snap = (h: unknown, groups: string[]) => ({ snapshotVersion: 1, capturedAt: "2026-01-02T03:04:05.000Z", hub: h, consumerGroups: { events: groups }, certificates: [], missedByExport: [] });
    fs.writeFileSync(snapOriginal, JSON.stringify(snap(hub, ["$Default", "stream-analytics"])));
    fs.writeFileSync(snapClone, JSON.stringify(snap({ ...hub, name: "contoso-hub-neu" }, ["$Default"])));
    await p((cb) => registryFor(clone).delete("d3", cb as never));
    try {
      const r = await hubclone(["--local", "--json", "verify", "--snapshot", snapOriginal, "--clone-snapshot", snapClone], env);
      expect(r.code).toBe(2);
      const out = JSON.parse(r.stdout);
      expect(out.ok).toBe(false);
      expect(out.devices).toMatchObject({ source: 4, clone: 3, missing: ["d3"], missingCount: 1 });
      expect(out.settings.unexpected.map((d: { path: string }) => d.path)).toEqual(["consumerGroups.events"]);
      expect(out.settings.expected.map((d: { path: string }) => d.path)).toEqual(["hub.name"]);
      noSecrets(r);

      // human output says what is wrong
      const human = await hubclone(["--local", "verify"], env);
      expect(human.code).toBe(2);
      expect(human.stdout).toMatch(/missing in the clone: d3/);
      expect(human.stdout).toMatch(/verify: FAILED/);

      // and the cutover refuses, exit 1 with one line, no stack
      const cut = await hubclone(["--local", "cutover", "--query", "tags.wave = 1"], env);
      expect(cut.code).toBe(1);
      expect(cut.stderr.trim().split("\n")).toHaveLength(1);
      expect(cut.stderr).toMatch(/^error: cutover: refused: the clone does not verify \(1 missing/);
    } finally {
      const d = { deviceId: "d3", status: "enabled" };
      // restore d3 in the clone exactly as the original has it, so later tests see a verified clone
      const src = await p<Record<string, unknown>>((cb) => registryFor(original).get("d3", cb as never));
      await p((cb) => registryFor(clone).create({ ...d, authentication: src.authentication } as never, cb as never));
      await p((cb) => registryFor(clone).updateTwin("d3", { tags: { wave: 2 } }, "*", cb as never));
    }
  });

  it("cutover --json moves wave 1 and reports the counts", async () => {
    const r = await hubclone(["--local", "--json", "cutover", "--query", "tags.wave = 1"], env);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ direction: "cutover", status: "completed", targeted: 2, updated: 2, failed: 0, reportingNewHub: 0, verification: { ok: true, devices: 4 } });
    expect(out.pin).toMatchObject({ jobHub: clone.name, status: "completed", updated: 2 });
    noSecrets(r);
  });

  it("decommission without --confirm does nothing and says so (one line, exit 1)", async () => {
    const r = await hubclone(["--local", "decommission"], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`error: --confirm: nothing done: decommission deletes every device of ${original.name}; to proceed pass --confirm ${original.name}\n`);
    const list = await p<unknown[]>((cb) => registryFor(original).list(cb as never));
    expect(list).toHaveLength(4);
    // its way back is guarded the same way
    const restore = await hubclone(["--local", "decommission", "--restore", "backups/x/devices.txt"], env);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toBe(`error: --confirm: nothing done: a restore imports the backup's devices into ${original.name}; to proceed pass --confirm ${original.name}\n`);
  });

  it("--source-hub/--clone-hub name local hubs; verify leaves out the devices waves moved (moved: N), --include-moved compares them", async () => {
    // wave 1 (d0, d2) moved above: left out, counted, and the rest verifies
    const clean = await hubclone(["--local", "--json", "verify", "--source-hub", original.name, "--clone-hub", clone.name]);
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout).devices).toMatchObject({ source: 2, clone: 2, matched: 2, moved: 2, ok: true });
    const human = await hubclone(["--local", "verify", "--source-hub", original.name, "--clone-hub", clone.name]);
    expect(human.stdout).toContain("moved: 2 (devices whose desired.iotHubHostName on the original names the clone: the clone's now; left out, --include-moved compares them)");
    // a moved device changed on the clone since: still OK by default (the clone owns it), seen with --include-moved
    await registryFor(clone).updateTwin("d0", { tags: { site: "changed-on-clone" } }, "*");
    const withMoved = await hubclone(["--local", "--json", "verify", "--source-hub", original.name, "--clone-hub", clone.name, "--include-moved"]);
    expect(withMoved.code).toBe(0);
    expect(JSON.parse(withMoved.stdout).devices).toMatchObject({ moved: 2, ok: true, movedDevices: { source: 2, matched: 1, differentCount: 1, different: [{ id: "d0", fields: ["tags"] }] } });
    expect((await hubclone(["--local", "verify", "--source-hub", original.name, "--clone-hub", clone.name])).code).toBe(0);
    // a device the original points at the clone whose pin on the clone failed: not silently passed
    await registryFor(original).updateTwin("d1", { properties: { desired: { iotHubHostName: clone.hostName } } }, "*");
    const strict = await hubclone(["--local", "--json", "verify", "--source-hub", original.name, "--clone-hub", clone.name]);
    expect(strict.code).toBe(2);
    expect(JSON.parse(strict.stdout).devices).toMatchObject({ moved: 3, extraCount: 1, extra: ["d1"] });
    // devices verify: the same rules, its filters narrow the comparison
    const dv = await hubclone(["--local", "--json", "devices", "verify", "--source-hub", original.name, "--clone-hub", clone.name, "--container", "cli-devices-verify", "--filter-ids", "d0,d2,d3"]);
    expect(dv.code).toBe(0);
    expect(JSON.parse(dv.stdout)).toMatchObject({ ok: true, source: 1, clone: 1, matched: 1, moved: 2 });
    await registryFor(clone).updateTwin("d1", { properties: { desired: { iotHubHostName: clone.hostName } } }, "*");
    await registryFor(clone).updateTwin("d0", { tags: { site: null } }, "*");
    const bad = await hubclone(["--local", "verify", "--source-hub", "nope", "--clone-hub", clone.name]);
    expect(bad.stderr).toMatch(/^error: --source-hub: no local hub named nope \(have: /);
  }, 300_000);

  it("an unquoted --query split by the shell says to quote the condition (exit 1, nothing scheduled)", async () => {
    const r = await hubclone(["--local", "cutover", "--query", "tags.building", "=", "north"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: --query: got "tags.building" followed by "= north": quote the whole condition, e.g. --query "tags.building = 'north'"\n`);
    const inner = await hubclone(["--local", "cutover", "--query", "tags.building = north"], env);
    expect(inner.stderr).toBe(`error: --query: compares with north, which is not quoted: quote the value and the whole condition, e.g. --query "tags.building = 'north'"\n`);
  });

  it("devices verify --help describes its filters as filters of the comparison, not of a copy", async () => {
    const r = await hubclone(["devices", "verify", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--filter-ids <ids>\s+compare only these device ids/);
    expect(r.stdout).toMatch(/--filter-query <query>\s+compare only devices matching/);
    expect(r.stdout).not.toMatch(/copy only/);
    expect(r.stdout).toMatch(/--include-moved/);
    const copy = await hubclone(["devices", "copy", "--help"]);
    expect(copy.stdout).toMatch(/--filter-ids <ids>\s+copy only these device ids/);
    expect(copy.stdout).toMatch(/--force-overwrite-target/);
  });

  it("bad input is one line naming the option", async () => {
    const r = await hubclone(["cutover", "--source-connection-string", "nonsense", "--clone-connection-string", "x"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: --source-connection-string: is not an IoT hub connection string (it needs HostName, SharedAccessKeyName and SharedAccessKey parts)\n");
    const s = await hubclone(["snapshot", "--subscription", "not-a-guid", "--resource-group", "rg", "--name", "hub"]);
    expect(s.stderr).toBe("error: --subscription: must be a subscription id (a GUID)\n");
    const d = await hubclone(["dps", "link", "--subscription", "11111111-2222-3333-4444-555555555555", "--dps-resource-group", "rg", "--dps-name", "dps", "--clone-hub", "h", "--move-enrollments"]);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe("error: --original-hub: --move-enrollments needs the hub devices move away from: add --original-hub <name>\n");
  });

  it("a missing required option or an unknown option is one line too (no usage dump)", async () => {
    const missing = await hubclone(["snapshot", "--resource-group", "rg", "--name", "hub"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("error: required option '--subscription <id>' not specified\n");
    const unknown = await hubclone(["cutover", "--wave", "1"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split("\n")).toEqual(["error: unknown option '--wave'"]);
  });

  it("copy-routed-data --local copies between two Azurite containers and reports it", async () => {
    const { blobServiceClient } = await import("../support/local-hub");
    const id = randomBytes(4).toString("hex");
    const src = blobServiceClient().getContainerClient(`cli-src-${id}`);
    await src.create();
    for (let i = 0; i < 5; i++) await src.getBlockBlobClient(`contoso-hub/0/2026/01/02/03/0${i}.json`).upload(`{"i":${i}}`, 7);
    const r = await hubclone(["--local", "--json", "copy-routed-data", "--source-container", src.containerName, "--target-container", `cli-dst-${id}`]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ listed: 5, copied: 5, skipped: 0, failed: [], bytesCopied: 35 });
    noSecrets(r);
    const again = await hubclone(["--local", "copy-routed-data", "--source-container", src.containerName, "--target-container", `cli-dst-${id}`]);
    expect(again.stdout).toMatch(/^copied 0 of 5 blob\(s\) .*\n  skipped \(already copied\): 5;/);
  });
});
