import { describe, expect, it } from "vitest";
import { buildClonePlan } from "../../components/clone/desired-state";
import {
  validateConsumerGroups,
  validateHubName,
  validateLocation,
  validatePartitions,
  validateRetention,
  validateRouting,
  validateSku,
} from "../../components/clone/validation";
import { config, contosoModel, fleetModel } from "../fixtures/clone/models";
import { parseCloneConfig, plainTextCredentialFindings } from "../../components/config";
import { ValidationError } from "../../components/errors";

const lines = (fs: Array<{ field: string; message: string }>) => fs.map((f) => `${f.field}: ${f.message}`);

describe("hub name", () => {
  it("accepts 3-50 letters, digits and hyphens", () => {
    expect(validateHubName("abc")).toEqual([]);
    expect(validateHubName("a".repeat(50))).toEqual([]);
    expect(validateHubName("fleet-hub-2")).toEqual([]);
  });
  it("rejects short, long, bad characters, trailing hyphen and the original's name", () => {
    expect(lines(validateHubName("ab"))).toEqual(["iothub-clone:clone.name: 'ab' has 2 characters; a hub name has 3-50: choose another (--name N)"]);
    expect(validateHubName("a".repeat(51))).toHaveLength(1);
    expect(lines(validateHubName("hub_1"))[0]).toContain("only letters, digits and hyphens");
    expect(lines(validateHubName("hub-"))[0]).toContain("must not end with a hyphen");
    expect(lines(validateHubName("Fleet-Hub", "fleet-hub"))[0]).toContain("is the original's name");
  });
});

describe("ranges", () => {
  it("region must be known", () => {
    expect(validateLocation("eastus")).toEqual([]);
    expect(validateLocation("West Europe")).toEqual([]);
    expect(lines(validateLocation("eastus9"))[0]).toMatch(/^iothub-clone:clone\.location: 'eastus9' is not a known Azure region.*did you mean .*eastus\b/);
  });
  it("partitions 2-32, Free exactly 2", () => {
    expect(validatePartitions(2, "S1")).toEqual([]);
    expect(validatePartitions(32, "S3")).toEqual([]);
    expect(validatePartitions(1, "S1")).toHaveLength(1);
    expect(validatePartitions(33, "S1")).toHaveLength(1);
    expect(lines(validatePartitions(4, "F1"))[0]).toContain("Free tier (F1) has exactly 2 partitions");
    expect(validatePartitions(2, "F1")).toEqual([]);
  });
  it("retention 1-7", () => {
    expect(validateRetention(1)).toEqual([]);
    expect(validateRetention(7)).toEqual([]);
    expect(lines(validateRetention(0))).toEqual(["iothub-clone:clone.retentionDays: 0: retention must be 1-7 days"]);
    expect(validateRetention(8)).toHaveLength(1);
  });
  it("SKU and units", () => {
    expect(validateSku("S2", 4)).toEqual([]);
    expect(validateSku("S9", 1)).toHaveLength(1);
    expect(validateSku("F1", 2)).toHaveLength(1);
    expect(validateSku("S1", 0)).toHaveLength(1);
  });
  it("consumer groups: 19 plus $Default, valid names", () => {
    const nineteen = Array.from({ length: 19 }, (_, i) => `cg${i}`);
    expect(validateConsumerGroups(nineteen)).toEqual([]);
    expect(lines(validateConsumerGroups([...nineteen, "cg19"]))[0]).toContain("exceed the limit of 20");
    expect(lines(validateConsumerGroups(["bad name"]))[0]).toContain("consumerGroups 'bad name'");
    expect(validateConsumerGroups(["a.b_c-d"])).toEqual([]);
  });
});

describe("routing", () => {
  const base = () => buildClonePlan(fleetModel(), config({ source: { template: "f" } }));
  it("the fleet hub's routing is valid (events and eventgrid are built in)", () => {
    expect(validateRouting(base())).toEqual([]);
  });
  it("a route to a missing endpoint names the route and the endpoints that exist", () => {
    const model = fleetModel();
    model.properties.routing!.routes[0].endpointNames = ["nowhere"];
    const out = lines(buildClonePlan(model, config({ source: { template: "f" } })).errors);
    expect(out).toEqual(["routing.routes[0] 'alerts': points at endpoint 'nowhere', which does not exist (have: events, alerts-queue, commands-topic, analytics-eh, archive, twin-store): fix the route or add the endpoint"]);
  });
  it("enrichment and fallback pointing at missing endpoints", () => {
    const model = fleetModel();
    model.properties.routing!.enrichments[0].endpointNames = ["gone"];
    model.properties.routing!.fallbackRoute!.endpointNames = ["gone"];
    const fields = buildClonePlan(model, config({ source: { template: "f" } })).errors.map((e) => e.field);
    expect(fields).toEqual(["routing.enrichments[0] 'hub'", "routing.fallbackRoute"]);
  });
  it("limits: 10 endpoints, 100 routes, 10 enrichments", () => {
    const plan = base();
    const r = plan.hub.properties.routing as any;
    r.routes = Array.from({ length: 101 }, (_, i) => ({ name: `r${i}`, source: "DeviceMessages", endpointNames: ["events"], isEnabled: true }));
    r.enrichments = Array.from({ length: 11 }, (_, i) => ({ key: `k${i}`, value: "v", endpointNames: ["events"] }));
    plan.endpoints = Array.from({ length: 11 }, (_, i) => ({ ...plan.endpoints[0], name: `e${i}` }));
    const fields = validateRouting(plan).map((f) => f.field);
    expect(fields).toEqual(["routing.endpoints", "routing.routes", "routing.enrichments"]);
  });
  it("duplicate and reserved endpoint names", () => {
    const plan = base();
    plan.endpoints.push({ ...plan.endpoints[0] }, { ...plan.endpoints[0], name: "events" });
    const out = lines(validateRouting(plan));
    expect(out.some((l) => l.includes("must be unique"))).toBe(true);
    expect(out.some((l) => l.includes("'events' is reserved"))).toBe(true);
  });
});

describe("whole plan", () => {
  it("an invalid config yields one line per problem, each naming the field", () => {
    const plan = buildClonePlan(contosoModel(), config({ source: { template: "x", resourceGroup: "src" }, clone: { name: "ContosoTestHub29358", location: "mars", partitions: 64, retentionDays: 9, resourceGroup: "rg" } }));
    expect(plan.errors.map((e) => e.field)).toEqual([
      "iothub-clone:clone.name",
      "iothub-clone:clone.location",
      "iothub-clone:clone.partitions",
      "iothub-clone:clone.retentionDays",
    ]);
    for (const l of lines(plan.errors)) expect(l.split("\n")).toHaveLength(1);
  });
});

describe("config parsing", () => {
  it("fills defaults (devices enabled, createOrUpdate)", () => {
    const c = parseCloneConfig({ source: { template: "t.json" } });
    expect(c.devices).toMatchObject({ enabled: true, importMode: "createOrUpdate", deleteMissing: false, deleteDevicesOnDestroy: false, storageAuthenticationType: "keyBased" });
    expect(c.endpoints).toEqual({});
  });
  it("reports type errors and unknown keys with the config path", () => {
    try {
      parseCloneConfig({ source: { template: "t.json" }, clone: { partitions: "8", colour: "red" } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      const msg = (e as Error).message;
      expect(msg).toContain("iothub-clone:clone.partitions:");
      expect(msg).toContain("iothub-clone:clone: unknown key(s) colour");
    }
  });
  it("takes SKU names in any case, and names the valid ones otherwise", () => {
    expect(parseCloneConfig({ source: { template: "t.json" }, clone: { sku: "s2" } }).clone.sku).toBe("S2");
    expect(() => parseCloneConfig({ source: { template: "t.json" }, clone: { sku: "P1" } })).toThrow(
      /iothub-clone:clone\.sku: must be one of F1, B1, B2, B3, S1, S2, S3/,
    );
  });
  it("a clear-text routing key in stack config is a finding naming the --secret command; a secret one is not", () => {
    const c = parseCloneConfig({ source: { template: "t.json" }, endpoints: { orders: { connectionString: "Endpoint=sb://x/;SharedAccessKey=abc" } } });
    const findings = plainTextCredentialFindings(c, new Set());
    expect(findings.map((f) => f.field)).toEqual(["iothub-clone:endpoints.orders.connectionString"]);
    expect(findings[0].message).toContain("pulumi config set --path --secret");
    expect(findings[0].message).not.toContain("abc");
    expect(plainTextCredentialFindings(c, new Set(["endpoints"]))).toEqual([]);
  });
  it("needs a template or a live hub", () => {
    expect(() => parseCloneConfig({ source: { parameters: "p.json" } })).toThrow(/source\.template .* source\.resourceGroup \+ source\.name/);
    expect(() => parseCloneConfig({})).toThrow(/iothub-clone:source: missing/);
  });
});
