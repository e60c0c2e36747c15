/**
 * DeviceMigration in the real provider host (@pulumi/pulumi/cmd/dynamic-provider): the program is
 * compiled to CommonJS, `__provider` comes from `new DeviceMigration` under Pulumi mocks in a plain
 * node process, and Check/Diff/Create/Update/Delete go over the host's gRPC interface.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containsSecret } from "../../components/secrets";
import { compileDevices, DIFF, serializedProvider, startProviderHost, type CompiledProgram, type ProviderHost } from "./provider-host-harness";

const HUB_KEY = Buffer.alloc(32, 9).toString("base64");

describe("DeviceMigration in the Pulumi dynamic provider host", () => {
  let program: CompiledProgram;
  let provider: string;
  let host: ProviderHost;

  beforeAll(async () => {
    program = compileDevices("check");
    provider = serializedProvider(program);
    host = await startProviderHost();
  });
  afterAll(async () => {
    await host?.stop();
    program?.cleanup();
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
});
