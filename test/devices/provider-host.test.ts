/**
 * DeviceMigration in the real provider host (@pulumi/pulumi/cmd/dynamic-provider): the program is
 * compiled to CommonJS, `__provider` comes from `new DeviceMigration` under Pulumi mocks in a plain
 * node process, and Check/Diff/Create/Update/Delete go over the host's gRPC interface.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDeviceLines, loadDevices } from "../../components/devices/generate";
import { containsSecret } from "../../components/secrets";
import { generatedFleet } from "../support/generated-fleet";
import { keysOf, leakedLiterals } from "../support/leaks";
import { createTestHub, localEndpoints, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";
import { compileDevices, DIFF, HostError, serializedProvider, startProviderHost, type CompiledProgram, type ProviderHost } from "./provider-host-harness";

async function deviceIds(hub: TestHub): Promise<string[]> {
  const query = registryFor(hub).createQuery("SELECT deviceId FROM devices", 1000);
  const ids: string[] = [];
  while (query.hasMoreResults) for (const d of (await query.next()).result as Array<{ deviceId: string }>) ids.push(d.deviceId);
  return ids.sort();
}

const HUB_KEY = Buffer.alloc(32, 9).toString("base64");

describe("DeviceMigration in the Pulumi dynamic provider host", () => {
  let program: CompiledProgram;
  let provider: string;
  let host: ProviderHost;

  let source: TestHub;
  let clone: TestHub;
  let endpointsDir: string;
  let inputs: Record<string, unknown>;

  beforeAll(async () => {
    program = compileDevices("host");
    provider = serializedProvider(program);
    host = await startProviderHost();
    source = await createTestHub("host-src");
    clone = await createTestHub("host-cln");
    endpointsDir = fs.mkdtempSync(path.join(os.tmpdir(), "dm-host-"));
    fs.writeFileSync(path.join(endpointsDir, "endpoints.json"), JSON.stringify(localEndpoints()));
    const load = await loadDevices({ connectionString: source.connectionString }, { connectionString: stagingConnectionString(), containerName: "unused" }, generateDeviceLines({ count: 30 }), {
      local: localEndpoints() as never,
    });
    expect(load.failed).toBe(0);
    inputs = {
      __provider: provider,
      sourceHubHostName: source.hostName,
      sourceConnectionString: source.connectionString,
      cloneHubHostName: clone.hostName,
      cloneConnectionString: clone.connectionString,
      stagingConnectionString: stagingConnectionString(),
      stagingContainerName: "dm-host-test",
      localEndpointsFile: path.join(endpointsDir, "endpoints.json"),
    };
  });
  afterAll(async () => {
    await host?.stop();
    program?.cleanup();
    if (endpointsDir) fs.rmSync(endpointsDir, { recursive: true, force: true });
  });

  it("serializes only the shim: no module import, client or credential in __provider", () => {
    expect(provider).toContain("exports.handler");
    expect(provider).toContain(`implDir: ${JSON.stringify(program.outDirRel + "/components/devices")}`);
    expect(provider).not.toMatch(/__vite_ssr|azure-iothub|storage-blob|SharedAccessKey=/);
  });

  it("Check returns field-level failures without echoing secrets", async () => {
    const r = await host.check({}, {
      __provider: provider,
      sourceHubHostName: "orig.azure-devices.net",
      cloneHubHostName: "orig.azure-devices.net",
      sourceConnectionString: `HostName=other.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${HUB_KEY}`,
      stagingContainerName: "UPPER",
    });
    expect(r.failures.map((f) => f.property).sort()).toEqual(["cloneHubHostName", "sourceConnectionString", "stagingConnectionString", "stagingContainerName"]);
    for (const f of r.failures) expect(containsSecret(f.reason) || f.reason.includes(HUB_KEY)).toBe(false);
    expect(r.inputs.__provider).toBe(provider);
  });

  it("Diff: syncGeneration is an update, a host name change a replacement", async () => {
    const olds = { __provider: provider, sourceHubHostName: "a.azure-devices.net", cloneHubHostName: "b.azure-devices.net", syncGeneration: 0, succeeded: true };
    expect(await host.diff("id", olds, { ...olds, syncGeneration: 1 })).toEqual({ changes: DIFF.SOME, replaces: [], deleteBeforeReplace: false });
    expect(await host.diff("id", olds, { ...olds })).toEqual({ changes: DIFF.NONE, replaces: [], deleteBeforeReplace: false });
    expect(await host.diff("id", olds, { ...olds, sourceHubHostName: "c.azure-devices.net" })).toEqual({
      changes: DIFF.SOME, replaces: ["sourceHubHostName"], deleteBeforeReplace: true,
    });
  });

  let id: string;
  let state: Record<string, unknown>;

  it("Create runs the full copy: the devices appear in the clone", async () => {
    const checked = await host.check({}, inputs);
    expect(checked.failures).toEqual([]);
    const r = await host.create(checked.inputs);
    id = r.id;
    state = r.properties;
    expect(id).toMatch(/^dm-host-cln-/);
    // Counted from the lines loaded into the original, not from the generator's expectedCounts().
    const loaded = generatedFleet({ count: 30 });
    expect(loaded.devices).toBe(30);
    expect(state).toMatchObject({ exported: 30, imported: 30 + loaded.modules, failed: 0, verified: 30, mismatchCount: 0, succeeded: true });
    expect(state.__provider).toBe(provider);
    for (const k of ["sourceConnectionString", "cloneConnectionString", "stagingConnectionString"]) expect(state).not.toHaveProperty(k);
    expect(await deviceIds(clone)).toEqual(await deviceIds(source));
    expect(host.output.some((l) => /^devices: /.test(l))).toBe(true);
  });

  it("Update with a new syncGeneration runs a delta sync", async () => {
    const changed = await loadDevices({ connectionString: source.connectionString }, { connectionString: stagingConnectionString(), containerName: "unused" },
      generateDeviceLines({ count: 34, select: (i) => i === 10 || i >= 30, revision: 1 }), { local: localEndpoints() as never });
    expect(changed.failed).toBe(0);
    const news = (await host.check(inputs, { ...inputs, syncGeneration: 1, deleteDevicesOnDestroy: true })).inputs;
    expect((await host.diff(id, state, news)).changes).toBe(DIFF.SOME);
    const r = await host.update(id, state, news);
    expect(r.properties).toMatchObject({ exported: 34, imported: 5, failed: 0, mismatchCount: 0, lastOperation: "sync", deleteDevicesOnDestroy: true });
    expect(await deviceIds(clone)).toEqual(await deviceIds(source));
    state = r.properties;
  });

  it("Delete with deleteDevicesOnDestroy removes the devices it imported", async () => {
    await host.delete(id, state);
    expect(await deviceIds(clone)).toEqual([]);
    expect(await deviceIds(source)).toHaveLength(34);
  });

  it("a failed Create is recorded with its run id, so the next update resumes it", async () => {
    const bad = { ...inputs, cloneConnectionString: clone.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${HUB_KEY}`) };
    const err = await host.create((await host.check({}, bad)).inputs).then(() => undefined, (e: HostError) => e);
    expect(err).toBeInstanceOf(HostError);
    expect(err!.message).toMatch(/clone\.connectionString/);
    expect(err!.initFailed?.id).toMatch(/^dm-/);
    expect(err!.initFailed?.properties).toMatchObject({ succeeded: false, lastOperation: "copy" });
  });

  it("nothing the host printed or returned carries a key, but the outputs DeviceMigration declares secret", () => {
    // With deleteDevicesOnDestroy, delete's credentials are outputs the engine stores as secrets
    // (additionalSecretOutputs); everything else is plain.
    const { cloneConnectionString, stagingConnectionString: staging, ...plain } = state as Record<string, unknown>;
    expect(cloneConnectionString).toBe(clone.connectionString);
    expect(staging).toBe(stagingConnectionString());
    const text = host.output.join("\n") + JSON.stringify(plain);
    expect(containsSecret(text)).toBe(false);
    // The literal keys this test created, whatever form redact() would miss.
    const literals = [
      HUB_KEY,
      ...keysOf(source.connectionString, clone.connectionString, stagingConnectionString()),
      ...generatedFleet({ count: 34 }).keys,
      ...generatedFleet({ count: 34, select: (i) => i === 10 || i >= 30, revision: 1 }).keys,
    ];
    expect(leakedLiterals(text, literals)).toEqual([]);
  });
});

/**
 * Pulumi's default for this project (Pulumi.yaml `typescript: true`, main index.ts) runs the
 * program through ts-node, so no JS exists next to device-migration.ts: the serialized shim must
 * then load the TypeScript implementation in the host through ts-node.
 */
describe("DeviceMigration serialized from a ts-node run (no compiled JS)", () => {
  let program: CompiledProgram;
  let provider: string;
  let host: ProviderHost;
  let source: TestHub;
  let clone: TestHub;
  let endpointsDir: string;

  beforeAll(async () => {
    program = compileDevices("tsnode", false);
    provider = serializedProvider(program, true);
    host = await startProviderHost();
    source = await createTestHub("tsn-src");
    clone = await createTestHub("tsn-cln");
    endpointsDir = fs.mkdtempSync(path.join(os.tmpdir(), "dm-tsnode-"));
    fs.writeFileSync(path.join(endpointsDir, "endpoints.json"), JSON.stringify(localEndpoints()));
    const load = await loadDevices({ connectionString: source.connectionString }, { connectionString: stagingConnectionString(), containerName: "unused" }, generateDeviceLines({ count: 10 }), {
      local: localEndpoints() as never,
    });
    expect(load.failed).toBe(0);
  });
  afterAll(async () => {
    await host?.stop();
    program?.cleanup();
    if (endpointsDir) fs.rmSync(endpointsDir, { recursive: true, force: true });
  });

  it("captures the source directory and creates through ts-node in the host", async () => {
    expect(provider).toContain(`implDir: "components/devices"`);
    const inputs = {
      __provider: provider,
      sourceHubHostName: source.hostName,
      sourceConnectionString: source.connectionString,
      cloneHubHostName: clone.hostName,
      cloneConnectionString: clone.connectionString,
      stagingConnectionString: stagingConnectionString(),
      stagingContainerName: "dm-tsnode-test",
      filter: { deviceIds: ["gen-0000001", "gen-0000002"] },
      localEndpointsFile: path.join(endpointsDir, "endpoints.json"),
    };
    const checked = await host.check({}, inputs);
    expect(checked.failures).toEqual([]);
    const r = await host.create(checked.inputs);
    expect(r.properties).toMatchObject({ exported: 2, imported: 2, failed: 0, mismatchCount: 0 });
    expect(await deviceIds(clone)).toEqual(["gen-0000001", "gen-0000002"]);
  });
});
