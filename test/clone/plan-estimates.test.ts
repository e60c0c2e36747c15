/**
 * Time estimates in the plan (`--devices N`, `--devices live`) and the registry-statistics read
 * behind `pulumi up`'s estimate line. Expected values come from the pace model, not copied numbers.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { createHttpHeaders, type HttpClient, type PipelineRequest } from "@azure/core-rest-pipeline";
import * as pulumi from "@pulumi/pulumi";
import { afterEach, describe, expect, it, vi } from "vitest";
import { copyEstimates, readRegistryDeviceCount, setDeviceCountReader } from "../../components/clone/estimates";
import type { ClonePlan } from "../../components/clone/types";
import { runPlan } from "../../components/clone/plan";
import { describeEstimates, estimate } from "../../components/devices/pace";

const root = path.join(__dirname, "..", "..");
function hubclone(...args: string[]) {
  const r = spawnSync(process.execPath, ["--require", require.resolve("tsx/cjs"), path.join(root, "scripts", "hubclone.ts"), ...args], { cwd: root, encoding: "utf8", timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("plan: time estimates", () => {
  it("--devices N --json carries the estimates of the pace model at the clone's tier (sku override included)", () => {
    const r = hubclone("--json", "plan", "--stack", "dev", "--devices", "250000", "--sku", "S3", "--units", "2");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const hub = out.resources.find((x: any) => x.type === "azure-native:iothub:IotHubResource");
    expect(hub.inputs.sku).toEqual({ name: "S3", capacity: 2 });
    // The dev stack's original (the guide's ContosoTestHub29358) is an S1.
    expect(out.estimates).toEqual(estimate({ devices: 250_000, cloneSku: { name: "S3", capacity: 2 }, originalSku: { name: "S1", capacity: 1 } }));
    expect(Object.keys(out.estimates)).toEqual(expect.arrayContaining(["devices", "deviceCopySeconds", "deltaSyncSeconds", "cutoverSecondsPerThousandDevices"]));
  });

  it("the table states the copy, the frozen window and the wave time; a count over the quota is refused up front", () => {
    const r = hubclone("plan", "--stack", "dev", "--devices", "1000");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Time estimates for 1,000 devices on a S1 clone/);
    expect(r.stdout).toMatch(/final delta sync about .* how long the registry stays frozen before cutover/);
    expect(r.stdout).toMatch(/cutover about 3 min per wave of 1,000 devices/);
    const over = hubclone("plan", "--stack", "dev", "--devices", "1000001");
    expect(over.code).toBe(1);
    expect(over.stderr.trim()).toBe("error: --devices: 1,000,001 devices exceed the hub quota of 1,000,000 devices plus modules: the largest count that fits is 1000000");
    expect(over.stdout).toBe("");
  });

  it("without a count the table says how to get one; --devices live that cannot read the statistics plans anyway, without estimates", async () => {
    const r = hubclone("plan", "--stack", "dev");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Time estimates: pass --devices N");
    // The dev stack names no subscription: the read fails before any network call, as a note.
    const saved = { a: process.env.AZURE_SUBSCRIPTION_ID, b: process.env.ARM_SUBSCRIPTION_ID };
    delete process.env.AZURE_SUBSCRIPTION_ID;
    delete process.env.ARM_SUBSCRIPTION_ID;
    const live = await runPlan({ stack: "dev", devices: "live" }).finally(() => {
      if (saved.a !== undefined) process.env.AZURE_SUBSCRIPTION_ID = saved.a;
      if (saved.b !== undefined) process.env.ARM_SUBSCRIPTION_ID = saved.b;
    });
    expect(live.errors).toEqual([]);
    expect(live.estimates).toBeUndefined();
    expect(live.resources.length).toBeGreaterThan(0);
  });
});

describe("the original's device count from its registry statistics (ARM getStats)", () => {
  it("reads totalDeviceCount from IotHubStats of the named hub", async () => {
    const seen: PipelineRequest[] = [];
    const httpClient: HttpClient = {
      async sendRequest(request) {
        seen.push(request);
        return { request, status: 200, headers: createHttpHeaders({ "content-type": "application/json" }), bodyAsText: JSON.stringify({ totalDeviceCount: 731_204, enabledDeviceCount: 731_000, disabledDeviceCount: 204 }) };
      },
    };
    const credential = { getToken: async () => ({ token: "fake", expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const n = await readRegistryDeviceCount({ name: "contoso-hub", resourceGroup: "rg-east", subscriptionId: "00000000-0000-0000-0000-00000000abcd" }, { credential, httpClient });
    expect(n).toBe(731_204);
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe("GET");
    expect(new URL(seen[0].url).pathname).toBe("/subscriptions/00000000-0000-0000-0000-00000000abcd/resourceGroups/rg-east/providers/Microsoft.Devices/IotHubs/contoso-hub/IotHubStats");
  });

  it("names what is missing when the original's coordinates are incomplete", async () => {
    await expect(readRegistryDeviceCount({ name: "h" }, { subscriptionId: "s" })).rejects.toThrow(/resource group is not known/);
  });
});

describe("pulumi up's estimate line (HubClone)", () => {
  const plan = {
    original: { name: "contoso-hub", location: "westeurope", resourceGroup: "rg", subscriptionId: "sub", format: "live", origin: "live:rg/contoso-hub", sku: { name: "S1", capacity: 1 } },
    hub: { resourceName: "contoso-hub-neu", resourceGroupName: "rg-neu", location: "northeurope", sku: { name: "S3", capacity: 1 }, tags: {}, properties: {} },
  } as unknown as ClonePlan;
  const value = <T>(o: pulumi.Output<T>) => (o as unknown as { promise(): Promise<T> }).promise();
  afterEach(() => {
    setDeviceCountReader(undefined);
    vi.restoreAllMocks();
  });

  it("logs the estimates of the original's device count at the clone's tier, once, and returns them", async () => {
    const info = vi.spyOn(pulumi.log, "info").mockResolvedValue(undefined as never);
    const asked: unknown[] = [];
    setDeviceCountReader(async (o) => (asked.push(o), 420_000));
    const e = await value(copyEstimates(plan, undefined as never));
    const expected = estimate({ devices: 420_000, cloneSku: { name: "S3", capacity: 1 }, originalSku: { name: "S1", capacity: 1 } });
    expect(e).toEqual(expected);
    expect(asked).toEqual([{ name: "contoso-hub", resourceGroup: "rg", subscriptionId: "sub" }]);
    expect(info.mock.calls.map((c) => c[0])).toEqual([describeEstimates(expected)]);
  });

  it("a failed read is one redacted note, no estimate, no failure", async () => {
    const info = vi.spyOn(pulumi.log, "info").mockResolvedValue(undefined as never);
    setDeviceCountReader(async () => Promise.reject(new Error("AuthorizationFailed for HostName=x.azure-devices.net;SharedAccessKeyName=o;SharedAccessKey=c2VjcmV0c2VjcmV0c2VjcmV0\nstack")));
    expect(await value(copyEstimates(plan, undefined as never))).toBeUndefined();
    expect(info).toHaveBeenCalledTimes(1);
    const line = String(info.mock.calls[0][0]);
    expect(line).toMatch(/^devices: no time estimate: the original's registry statistics could not be read \(AuthorizationFailed/);
    expect(line).not.toContain("c2VjcmV0c2VjcmV0c2VjcmV0");
    expect(line).not.toContain("stack");
  });

  it("under mocks with no count given, nothing is read and nothing logged", async () => {
    const info = vi.spyOn(pulumi.log, "info");
    expect(await value(copyEstimates(plan, undefined as never))).toBeUndefined();
    expect(info).not.toHaveBeenCalled();
  });
});
