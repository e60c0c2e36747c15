/**
 * DeviceMigration's provider methods called directly against the local hub (emulator + Azurite):
 * create = full copy, update = delta sync (only changed lines imported), settings-only update,
 * delete leaving devices alone, delete removing exactly what it imported, and bad credentials
 * giving one clear line. Outputs and printed lines never carry a key.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { copyDevices } from "../../components/devices";
import { generateDeviceLines, loadDevices } from "../../components/devices/generate";
import { copyOptions } from "./engine-fixtures";
import { deviceMigrationSecretOutputNames } from "../../components/devices/device-migration";
import * as provider from "../../components/devices/provider-impl";
import { containsSecret } from "../../components/secrets";
import { generatedFleet } from "../support/generated-fleet";
import { keysOf, leakedLiterals } from "../support/leaks";
import { createTestHub, localEndpoints, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";

async function deviceIds(hub: TestHub): Promise<string[]> {
  const registry = registryFor(hub);
  const ids: string[] = [];
  const query = registry.createQuery("SELECT deviceId FROM devices", 1000);
  while (query.hasMoreResults) {
    const page = await query.next();
    for (const d of page.result as Array<{ deviceId: string }>) ids.push(d.deviceId);
  }
  return ids.sort();
}

describe("DeviceMigration provider against the local hub", () => {
  let source: TestHub;
  let clone: TestHub;
  let endpointsFile: string;
  let inputs: Record<string, unknown>;
  const printed: string[] = [];

  beforeAll(async () => {
    source = await createTestHub("dm-src");
    clone = await createTestHub("dm-cln");
    endpointsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dm-endpoints-")), "endpoints.json");
    fs.writeFileSync(endpointsFile, JSON.stringify(localEndpoints()));
    const load = await loadDevices({ connectionString: source.connectionString }, { connectionString: stagingConnectionString(), containerName: "unused" }, generateDeviceLines({ count: 60 }), {
      local: localEndpoints() as never,
    });
    expect(load.failed, JSON.stringify(load.failures)).toBe(0);
    inputs = {
      sourceHubHostName: source.hostName,
      sourceConnectionString: source.connectionString,
      cloneHubHostName: clone.hostName,
      cloneConnectionString: clone.connectionString,
      stagingConnectionString: stagingConnectionString(),
      stagingContainerName: "dm-provider-test",
      localEndpointsFile: endpointsFile,
    };
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void printed.push(args.join(" ")));
  });
  afterAll(() => {
    vi.restoreAllMocks();
    fs.rmSync(path.dirname(endpointsFile), { recursive: true, force: true });
  });

  let state: Record<string, unknown>;
  let id: string;
  /** The literal keys this test created: hub and staging keys, and every generated device and module key. */
  const literals = () => [
    ...keysOf(source.connectionString, clone.connectionString, stagingConnectionString()),
    ...generatedFleet({ count: 65 }).keys,
    ...generatedFleet({ count: 65, select: (i) => i % 20 === 1 || i >= 60, revision: 1 }).keys,
  ];

  it("create copies every device and module, verified, with progress lines", async () => {
    const checked = await provider.check({}, inputs);
    expect(checked.failures).toEqual([]);
    const r = await provider.create(checked.inputs!);
    id = r.id;
    state = r.outs as Record<string, unknown>;
    // Counted from the lines loaded into the original, not from the generator's expectedCounts().
    const e = generatedFleet({ count: 60 });
    expect(e).toMatchObject({ devices: 60 });
    expect(e.modules).toBeGreaterThan(0);
    expect(state).toMatchObject({ exported: 60, exportedModules: e.modules, imported: 60 + e.modules, failed: 0, verified: 60, mismatchCount: 0, succeeded: true, lastOperation: "copy" });
    expect(await deviceIds(clone)).toEqual(await deviceIds(source));
    expect(printed.some((l) => l.startsWith("devices: "))).toBe(true);
  });

  it("the edge hierarchy sits on each hub's own scopes (leaf under nested edge under edge)", async () => {
    type D = { deviceId: string; deviceScope?: string; parentScopes?: string[]; capabilities?: { iotEdge?: boolean } };
    for (const hub of [source, clone]) {
      const get = async (id: string) => (await registryFor(hub).get(id)).responseBody as unknown as D;
      const [edge, nested, leaf] = [await get("gen-0000000"), await get("gen-0000006"), await get("gen-0000007")];
      expect(edge.deviceScope).toMatch(/^ms-azure-iot-edge:\/\/gen-0000000-/);
      expect(nested.capabilities?.iotEdge).toBe(true);
      expect(nested.parentScopes).toEqual([edge.deviceScope]);
      expect(leaf.deviceScope).toBe(nested.deviceScope);
      expect(leaf.parentScopes).toEqual([nested.deviceScope]);
    }
    // Generation ids differ between hubs: the clone's scopes are its own, not copies.
    const scopeOf = async (hub: TestHub) => ((await registryFor(hub).get("gen-0000000")).responseBody as unknown as D).deviceScope;
    expect(await scopeOf(clone)).not.toBe(await scopeOf(source));
  });

  it("update with a new syncGeneration imports only the changed and new devices", async () => {
    // 3 devices change at the original, 5 are added.
    const changed = await loadDevices({ connectionString: source.connectionString }, { connectionString: stagingConnectionString(), containerName: "unused" },
      generateDeviceLines({ count: 65, select: (i) => i % 20 === 1 || i >= 60, revision: 1 }), { local: localEndpoints() as never });
    expect(changed.failed).toBe(0);
    const news = (await provider.check(inputs, { ...inputs, syncGeneration: 1 })).inputs!;
    expect((await provider.diff(id, state, news)).changes).toBe(true);
    const r = await provider.update(id, state, news);
    const outs = r.outs as Record<string, unknown>;
    expect(outs).toMatchObject({ exported: 65, failed: 0, mismatchCount: 0, succeeded: true, lastOperation: "sync", syncGeneration: 1 });
    // 3 changed + 5 new devices, plus the new edge device's modules if one was added (index 60 is an edge).
    const newModules = generatedFleet({ count: 65, select: (i) => i >= 60 }).modules;
    expect(outs.imported).toBe(3 + 5 + newModules);
    expect(await deviceIds(clone)).toEqual(await deviceIds(source));
    state = outs;
  });

  it("a settings-only change records the setting without a sync", async () => {
    const news = (await provider.check(inputs, { ...inputs, syncGeneration: 1, deleteDevicesOnDestroy: true })).inputs!;
    const r = await provider.update(id, state, news);
    expect(r.outs).toMatchObject({ lastOperation: "settings", deleteDevicesOnDestroy: true, imported: state.imported });
    state = r.outs as Record<string, unknown>;
  });

  it("delete without deleteDevicesOnDestroy leaves the clone's devices", async () => {
    const before = await deviceIds(clone);
    await provider.delete(id, { ...state, deleteDevicesOnDestroy: false });
    expect(await deviceIds(clone)).toEqual(before);
  });

  it("with deleteDevicesOnDestroy the state carries delete's credentials, only as the declared secret outputs", () => {
    expect(state.cloneConnectionString).toBe(clone.connectionString);
    expect(state.stagingConnectionString).toBe(stagingConnectionString());
    const { cloneConnectionString: _c, stagingConnectionString: _s, ...plain } = state;
    expect(containsSecret(JSON.stringify(plain))).toBe(false);
    expect(leakedLiterals(JSON.stringify(plain), literals())).toEqual([]);
    expect([...deviceMigrationSecretOutputNames].sort()).toEqual(["cloneConnectionString", "stagingConnectionString"]);
    // As in `pulumi destroy` on another machine: no local endpoints file, an empty environment.
    const { localEndpointsFile: _f, ...destroyState } = state;
    const creds = provider.deleteCredentials(destroyState as never, {});
    expect(creds.clone.connectionString).toBe(clone.connectionString);
    expect(creds.staging.connectionString).toBe(stagingConnectionString());
  });

  it("delete with deleteDevicesOnDestroy removes exactly the imported devices", async () => {
    // A device the migration never imported must survive.
    await registryFor(clone).create({ deviceId: "created-by-hand", status: "enabled" });
    await provider.delete(id, state);
    expect(await deviceIds(clone)).toEqual(["created-by-hand"]);
    expect((await deviceIds(source)).length).toBe(65);
  });

  it("outputs (but the declared secret ones) and printed lines carry no key or connection string", () => {
    const { cloneConnectionString: _c, stagingConnectionString: _s, ...plain } = state;
    const text = JSON.stringify(plain) + "\n" + printed.join("\n");
    expect(containsSecret(text)).toBe(false);
    expect(text).not.toContain(clone.connectionString);
    expect(leakedLiterals(text, literals())).toEqual([]);
  });

  it("a wrong key is one clear line naming the field, and the run can resume", async () => {
    const bad = { ...inputs, sourceConnectionString: source.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 1).toString("base64")}`) };
    const err = await provider.create((await provider.check({}, bad)).inputs!).then(() => undefined, (e: Error & { id?: string; properties?: Record<string, unknown> }) => e);
    expect(err).toBeDefined();
    expect(err!.message).toMatch(/source\.connectionString.*401|rejected the credentials/);
    expect(err!.message.split("\n")).toHaveLength(1);
    expect(containsSecret(err!.message)).toBe(false);
    expect(leakedLiterals(err!.message, [...literals(), ...keysOf(bad.sourceConnectionString as string)])).toEqual([]);
    expect(err!.id).toMatch(/^dm-/);
    expect(err!.properties).toMatchObject({ succeeded: false, lastOperation: "copy" });
  });
});

describe("DeviceMigration create after a first pulumi up killed from outside", () => {
  it("resumes the killed run's checkpoint under the same id, and never reuses a finished run", async () => {
    const source = await createTestHub("dmk-src");
    const clone = await createTestHub("dmk-cln");
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dmk-endpoints-")), "endpoints.json");
    fs.writeFileSync(file, JSON.stringify(localEndpoints()));
    const load = await loadDevices({ connectionString: source.connectionString }, { connectionString: stagingConnectionString(), containerName: "unused" }, generateDeviceLines({ count: 20 }), { local: localEndpoints() as never });
    expect(load.failed, JSON.stringify(load.failures)).toBe(0);
    const container = `dm-killed-${Date.now().toString(36)}`;
    const news = {
      sourceHubHostName: source.hostName,
      sourceConnectionString: source.connectionString,
      cloneHubHostName: clone.hostName,
      cloneConnectionString: clone.connectionString,
      stagingConnectionString: stagingConnectionString(),
      stagingContainerName: container,
      localEndpointsFile: file,
    };
    const checked = await provider.check({}, news);
    expect(checked.failures).toEqual([]);
    const runId = await provider.createRunId(provider.inputsOf(checked.inputs!));
    // The first `pulumi up`, killed once its import job was under way: nothing reached the state.
    await expect(copyDevices(copyOptions(source, clone, container, runId, { hooks: { afterCheckpoint: (phase) => { if (phase === "import") throw new Error("runner killed"); } } }))).rejects.toThrow("runner killed");
    expect(await provider.createRunId(provider.inputsOf(checked.inputs!))).toBe(runId);

    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));
    try {
      const resumed = await provider.create(checked.inputs!);
      expect(resumed.id).toBe(runId);
      expect(lines.some((l) => l.includes(`resuming run ${runId}`))).toBe(true);
      expect(resumed.outs).toMatchObject({ exported: 20, failed: 0, verified: 20, mismatchCount: 0, succeeded: true });
      // A new resource for the same hubs after that run finished: a fresh run, never the finished one.
      const again = await provider.create(checked.inputs!);
      expect(again.id).not.toBe(runId);
      expect(again.id).toMatch(/^dm-/);
    } finally {
      spy.mockRestore();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
