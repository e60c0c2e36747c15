/**
 * Proof against Microsoft's published schema: the IoT hub, certificate and consumer group bodies of
 * every plan made from the project's inputs (the stacks, the test fixtures, the corpus templates)
 * are validated against `IotHubDescription`, `CertificateDescription` and
 * `EventHubConsumerGroupBodyDescription` of the 2023-06-30 spec in ../shared/corpus, with ajv
 * (test/support/arm-schema.ts). A deliberately broken body must fail, so the check can fail.
 */
import * as fs from "fs";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { runPlan, type PlanOptions, type PlanResult } from "../../components/clone/plan";
import { CORPUS, childBody, errorLines, hubBody, loadValidators, realErrors, specPresent, type BodyValidators } from "../support/arm-schema";

const root = path.resolve(__dirname, "..", "..");
const present = specPresent();
if (!present) console.log(`schema tests skipped: ${CORPUS} (Microsoft's IoT Hub spec) not found`);

const HUB = "azure-native:iothub:IotHubResource";
const CERT = "azure-native:iothub:Certificate";
const GROUP = "azure-native:iothub:IotHubResourceEventHubConsumerGroup";

/** The original's coordinates a user would give for a template (as test/clone/corpus.test.ts). */
const context = { resourceGroup: "clone-rg", sourceResourceGroup: "source-rg", sourceSubscription: "00000000-0000-0000-0000-000000000001", sourceLocation: "westus" };

/** A value for a parameter a plan asks for, shaped like what the parameter holds. */
function valueFor(name: string): string {
  if (/partition|units|capacity|count|days/i.test(name)) return "4";
  if (/sku/i.test(name)) return "S1";
  if (/location|region/i.test(name)) return "westus2";
  if (/connectionstring/i.test(name)) return "DefaultEndpointsProtocol=https;AccountName=schemaprobe;AccountKey=c2NoZW1hLXByb2JlLWtleS1ub3QtcmVhbA==;EndpointSuffix=core.windows.net";
  if (/container/i.test(name)) return "uploads";
  return `hub${name.length}`;
}

/** Plans, supplying what a missing-parameter error asks for (up to 6 rounds), as a user would. */
async function planSupplying(opts: PlanOptions): Promise<PlanResult> {
  let r = await runPlan(opts);
  const params: string[] = [];
  for (let round = 0; round < 6 && r.errors.length; round++) {
    const wanted = [...new Set(r.errors.flatMap((e) => [...e.matchAll(/--param (\w+)=VALUE/g)].map((m) => m[1])))].filter((w) => !params.some((p) => p.startsWith(`${w}=`)));
    if (!wanted.length) break;
    params.push(...wanted.map((w) => `${w}=${valueFor(w)}`));
    r = await runPlan({ ...opts, param: params });
  }
  return r;
}

interface Case {
  label: string;
  opts: PlanOptions;
}

function cases(): Case[] {
  const out: Case[] = [
    { label: "stack dev", opts: { stack: "dev" } },
    { label: "stack prod", opts: { stack: "prod" } },
    { label: "first-contact on B1 (Basic: no C2D, no twin routes)", opts: { template: path.join(root, "test", "fixtures", "clone", "first-contact-export.json"), ...context, sku: "B1", units: 2 } },
    { label: "fixture stack identity-staging", opts: { stackFile: path.join(root, "test", "fixtures", "clone", "Pulumi.identity-staging.yaml") } },
    { label: "fixture stack no-file-upload", opts: { stackFile: path.join(root, "test", "fixtures", "clone", "Pulumi.no-file-upload.yaml") } },
    { label: "fixture stack live", opts: { stackFile: path.join(root, "test", "fixtures", "clone", "Pulumi.live.yaml"), liveSourceFile: path.join(root, "test", "fixtures", "clone", "arm-get-body.json") } },
  ];
  // (test/fixtures/operations holds GET bodies of hubs for the operations, not clone sources.)
  const dirs = [path.join(root, "test", "fixtures", "clone"), path.join(CORPUS, "arm-templates")];
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".json")).sort()) {
      const text = fs.readFileSync(path.join(dir, f), "utf8");
      if (!/Microsoft\.Devices\/IotHubs/i.test(text)) continue; // DPS files and device exports are not hub sources
      out.push({ label: `${path.basename(dir)}/${f}`, opts: { template: path.join(dir, f), ...context } });
    }
  }
  return out;
}

/** Two plans at a time: each is a forked process; the machine is shared. */
async function planAll(list: Case[]): Promise<Array<{ c: Case; r: PlanResult }>> {
  const results: Array<{ c: Case; r: PlanResult }> = [];
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const c = list[next++];
      results.push({ c, r: await planSupplying(c.opts) });
    }
  };
  await Promise.all([worker(), worker()]);
  return results.sort((a, b) => a.c.label.localeCompare(b.c.label));
}

describe.skipIf(!present)("plan bodies against Microsoft's IoT Hub spec (2023-06-30)", () => {
  let v: BodyValidators;
  let planned: Array<{ c: Case; r: PlanResult }> = [];

  beforeAll(async () => {
    v = await loadValidators();
    planned = await planAll(cases());
  }, 900_000);

  it("plans a hub from the stacks, every fixture and most corpus templates", () => {
    const withHub = planned.filter((p) => p.r.resources.some((x) => x.type === HUB));
    for (const p of planned) console.log(`${p.c.label}: ${p.r.errors.length ? `refused: ${p.r.errors.join(" | ")}` : "planned"}`);
    expect(withHub.map((p) => p.c.label)).toEqual(
      expect.arrayContaining(["stack dev", "stack prod", "first-contact on B1 (Basic: no C2D, no twin routes)", "fixture stack live", "fixture stack no-file-upload", "clone/first-contact-export.json"]),
    );
    expect(withHub.length).toBeGreaterThanOrEqual(25);
  });

  it("every planned IoT hub body is a valid IotHubDescription, with no read-only field", () => {
    const failures: string[] = [];
    let n = 0;
    for (const { c, r } of planned) {
      for (const res of r.resources.filter((x) => x.type === HUB)) {
        n++;
        const body = hubBody(res.inputs);
        if (!v.hub(body) && realErrors(v.hub.errors, body).length) failures.push(`${c.label}: ${errorLines(realErrors(v.hub.errors, body)).join("; ")}`);
        if (!v.hubName(res.inputs.resourceName)) failures.push(`${c.label}: hub name '${String(res.inputs.resourceName)}' ${errorLines(v.hubName.errors).join("; ")}`);
      }
    }
    console.log(`validated ${n} IoT hub bodies`);
    expect(failures).toEqual([]);
  });

  it("every planned certificate and consumer group body is valid, and their names too", () => {
    const failures: string[] = [];
    let certs = 0;
    let groups = 0;
    for (const { c, r } of planned) {
      for (const res of r.resources) {
        if (res.type === CERT) {
          certs++;
          if (!v.certificate(childBody(res.inputs))) failures.push(`${c.label} ${res.name}: ${errorLines(v.certificate.errors).join("; ")}`);
          if (!v.certificateName(res.inputs.certificateName)) failures.push(`${c.label} ${res.name}: ${errorLines(v.certificateName.errors).join("; ")}`);
        }
        if (res.type === GROUP) {
          groups++;
          if (!v.consumerGroup(childBody(res.inputs))) failures.push(`${c.label} ${res.name}: ${errorLines(v.consumerGroup.errors).join("; ")}`);
        }
      }
    }
    console.log(`validated ${certs} certificate and ${groups} consumer group bodies`);
    expect(certs).toBeGreaterThan(0);
    expect(groups).toBeGreaterThan(0);
    expect(failures).toEqual([]);
  });

  describe("a broken body fails", () => {
    const devHub = () => {
      const hub = planned.find((p) => p.c.label === "stack prod")!.r.resources.find((x) => x.type === HUB)!;
      return hubBody(JSON.parse(JSON.stringify(hub.inputs)));
    };

    it("the untouched body passes (the baseline for the cases below)", () => {
      expect(v.hub(devHub()), errorLines(v.hub.errors).join("; ")).toBe(true);
    });

    it("a read-only field (hostName, an event hub path, systemData)", () => {
      for (const mutate of [
        (b: any) => (b.properties.hostName = "x.azure-devices.net"),
        (b: any) => (b.properties.eventHubEndpoints.events.path = "x"),
        (b: any) => (b.systemData = { createdBy: "me" }),
        (b: any) => (b.sku.tier = "Standard"),
      ]) {
        const b = devHub();
        mutate(b);
        expect(v.hub(b)).toBe(false);
        expect(errorLines(v.hub.errors).join("; ")).toMatch(/must NOT be valid|boolean schema is false/);
      }
    });

    it("a wrong type, a value outside a closed enum, a route with two endpoints", () => {
      const b = devHub() as any;
      b.properties.eventHubEndpoints.events.partitionCount = "8";
      expect(v.hub(b)).toBe(false);
      expect(errorLines(v.hub.errors)).toContain("/properties/eventHubEndpoints/events/partitionCount must be integer");
      const e = devHub() as any;
      e.properties.routing.routes[0].source = "Telemetry";
      expect(v.hub(e)).toBe(false);
      expect(errorLines(v.hub.errors).join("; ")).toContain("/properties/routing/routes/0/source must be equal to one of the allowed values");
      const two = devHub() as any;
      two.properties.routing.routes[0].endpointNames = ["events", "x"];
      expect(v.hub(two)).toBe(false);
    });

    it("a missing required field (sku, location, a route's isEnabled, file upload's containerName)", () => {
      for (const mutate of [
        (b: any) => delete b.sku,
        (b: any) => delete b.location,
        (b: any) => delete b.properties.routing.routes[0].isEnabled,
        (b: any) => delete b.properties.storageEndpoints.$default.containerName,
      ]) {
        const b = devHub();
        mutate(b);
        expect(v.hub(b)).toBe(false);
        expect(errorLines(v.hub.errors).join("; ")).toContain("must have required property");
      }
    });

    it("azure-native's identity list is not the API's map", () => {
      const b = devHub() as any;
      b.identity = { type: "UserAssigned", userAssignedIdentities: ["/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z"] };
      expect(v.hub(b)).toBe(false);
    });

    it("certificate and consumer group: read-only thumbprint, missing group name, bad names", () => {
      expect(v.certificate({ properties: { certificate: "MIIB", thumbprint: "AB" } })).toBe(false);
      expect(v.certificate({ properties: { certificate: "MIIB", isVerified: "yes" } })).toBe(false);
      expect(v.certificate({ properties: { certificate: "MIIB", isVerified: true } })).toBe(true);
      expect(v.consumerGroup({ properties: {} })).toBe(false);
      expect(v.consumerGroup({})).toBe(false);
      expect(v.consumerGroup({ properties: { name: "ops" } })).toBe(true);
      expect(v.certificateName("root ca")).toBe(false);
      expect(v.hubName("1234")).toBe(false);
      expect(v.hubName("-hub")).toBe(false);
    });
  });
});
