import { describe, expect, it } from "vitest";
import { planConfig, planSteps, renderInputs, secretValuesOf } from "../../components/clone/plan";

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const secret = (value: unknown) => ({ [SIG]: SECRET_SIG, value });

describe("renderInputs (the plan's masking, as data)", () => {
  it("a secret scalar is [secret], an unknown is [computed]", () => {
    expect(renderInputs({ a: secret("k"), b: UNKNOWN, c: 1 })).toEqual({ a: "[secret]", b: "[computed]", c: 1 });
  });

  it("a folded secret object keeps its structure but masks credential fields and credential-looking text", () => {
    const folded = secret({
      routing: { endpoints: { storageContainers: [{ name: "archive", connectionString: "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0" }] } },
      storageEndpoints: { $default: { connectionString: "", containerName: "" } },
      authorizationPolicies: [{ keyName: "iothubowner", primaryKey: "c2VjcmV0" }],
      comments: "Endpoint=sb://x/;SharedAccessKey=c2VjcmV0",
      enrichments: [{ key: "region", value: "$twin.tags.region", endpointNames: ["archive"] }],
    });
    expect(renderInputs({ properties: folded })).toEqual({
      properties: {
        routing: { endpoints: { storageContainers: [{ name: "archive", connectionString: "[secret]" }] } },
        storageEndpoints: { $default: { connectionString: "", containerName: "" } },
        authorizationPolicies: [{ keyName: "iothubowner", primaryKey: "[secret]" }],
        comments: "[secret]",
        enrichments: [{ key: "region", value: "$twin.tags.region", endpointNames: ["archive"] }],
      },
    });
  });

  it("known secret values are masked anywhere, even outside secrets", () => {
    expect(renderInputs({ containerName: "x-hunter22-y" }, { secretValues: ["hunter22"] })).toEqual({ containerName: "[secret]" });
  });

  it("a dynamic provider's code is not printed", () => {
    expect(renderInputs({ __provider: "exports.handler = ..." })).toEqual({ __provider: "[dynamic provider]" });
  });
});

describe("planConfig", () => {
  it("--param values are secret and collected for masking", () => {
    const { config, secretKeys } = planConfig({ template: "t.json", param: ["A=one-value", "B=x=y"], cwd: "/tmp" });
    expect(secretKeys.has("iothub-clone:source")).toBe(true);
    expect((config["iothub-clone:source"] as any).param).toEqual({ A: "one-value", B: "x=y" });
    expect(secretValuesOf(config, secretKeys)).toEqual(["one-value", "x=y"]);
  });

  it("overrides land in clone config; --template alone does not plan the device copy", () => {
    const { config, notes } = planConfig({ template: "t.json", name: "n1", location: "eastus", resourceGroup: "rg", partitions: 8, sku: "S2", units: 3, cwd: "/tmp" });
    expect(config["iothub-clone:clone"]).toEqual({ name: "n1", location: "eastus", resourceGroup: "rg", sku: "S2", partitions: 8, units: 3 });
    expect(config["iothub-clone:source"]).toEqual({ template: "/tmp/t.json" });
    expect(config["iothub-clone:devices"]).toEqual({ enabled: false });
    expect(notes[0]).toContain("device migration is not planned");
  });

  it("a bad --param is a one-line error that does not echo a secret", () => {
    expect(() => planConfig({ template: "t.json", param: ["AccountKey=abc"] })).not.toThrow();
    expect(() => planConfig({ template: "t.json", param: ["novalue"] })).toThrow(/--param: 'novalue' is not NAME=VALUE/);
  });
});

describe("planSteps (the order the table shows)", () => {
  it("a resource comes one step after the latest thing it waits for; independent ones share a step", () => {
    const steps = planSteps([
      { name: "hub", dependsOn: ["grant", "wait"] },
      { name: "identity", dependsOn: [] },
      { name: "grant", dependsOn: ["identity"] },
      { name: "wait", dependsOn: ["grant"] },
      { name: "group-a", dependsOn: ["hub"] },
      { name: "group-b", dependsOn: ["hub"] },
      { name: "unrelated", dependsOn: [] },
    ]);
    expect(steps).toEqual([4, 1, 2, 3, 5, 5, 1]);
  });

  it("a name it does not know and a cycle do not hang or crash it", () => {
    expect(planSteps([{ name: "a", dependsOn: ["elsewhere"] }])).toEqual([1]);
    const cyc = planSteps([
      { name: "a", dependsOn: ["b"] },
      { name: "b", dependsOn: ["a"] },
    ]);
    expect(cyc.every((s) => s >= 1)).toBe(true);
  });
});
