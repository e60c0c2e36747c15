import { beforeAll, describe, expect, it } from "vitest";
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
    expect(lines(validateRetention(0))).toEqual(["iothub-clone:clone.retentionDays: 0: retention must be 1-7 days: set clone.retentionDays to 1"]);
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

// ---------------------------------------------------------------------------------------------
// First contact with Resource Manager: real inputs (a portal-export template, a stack file, the
// plan CLI), each refused with one line naming the field and the fix (exit 1, nothing planned),
// or planned with what was left out said.
// ---------------------------------------------------------------------------------------------
import { spawnSync } from "child_process";
import * as path from "path";
import { runPlan, type PlanResult } from "../../components/clone/plan";

const root = path.resolve(__dirname, "..", "..");
const firstContact = path.join(root, "test", "fixtures", "clone", "first-contact-export.json");
const noFileUploadStack = path.join(root, "test", "fixtures", "clone", "Pulumi.no-file-upload.yaml");
const plantContext = { resourceGroup: "plant-clone-rg", sourceResourceGroup: "plant-rg", sourceSubscription: "00000000-0000-0000-0000-000000000001" };
const fileUploadParams = [
  "IotHubs_plant_hub_containerName=uploads",
  "IotHubs_plant_hub_connectionString=DefaultEndpointsProtocol=https;AccountName=plantuploads;AccountKey=cGxhbnQtdXBsb2Fkcy1rZXk=;EndpointSuffix=core.windows.net",
];
const hubOf = (r: PlanResult) => r.resources.find((x) => x.type === "azure-native:iothub:IotHubResource")!;
const hubProps = (r: PlanResult) => hubOf(r).inputs.properties as any;

function planCli(...args: string[]) {
  const r = spawnSync(process.execPath, ["--require", require.resolve("tsx/cjs"), path.join(root, "scripts", "hubclone.ts"), "plan", ...args], { cwd: root, encoding: "utf8", timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("first contact: file upload is never dropped silently", () => {
  it("unsupplied SecureString file-upload parameters: one line each naming the parameter and both fixes, exit 1, nothing planned", () => {
    const r = planCli("--template", firstContact, "--resource-group", "plant-clone-rg", "--source-resource-group", "plant-rg", "--json");
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.resources).toEqual([]);
    expect(out.errors).toHaveLength(2);
    expect(out.errors[0]).toMatch(/^storageEndpoints\.\$default\.containerName: SecureString parameter 'IotHubs_plant_hub_containerName' was not supplied.*--param IotHubs_plant_hub_containerName=VALUE.*clone\.fileUpload: false/);
    expect(out.errors[1]).toMatch(/^storageEndpoints\.\$default\.connectionString: SecureString parameter 'IotHubs_plant_hub_connectionString' was not supplied/);
    expect(r.stderr.trim().split("\n")).toHaveLength(2);
  }, 200_000);

  it("supplied: carried over, the connection string a secret", async () => {
    const r = await runPlan({ template: firstContact, ...plantContext, param: fileUploadParams });
    expect(r.errors).toEqual([]);
    expect(hubProps(r).storageEndpoints.$default).toMatchObject({ containerName: "[secret]", connectionString: "[secret]", sasTtlAsIso8601: "PT1H" });
    expect(hubProps(r).enableFileUploadNotifications).toBe(true);
    expect(JSON.stringify(r)).not.toContain("cGxhbnQtdXBsb2Fkcy1rZXk=");
  }, 200_000);

  it("clone.fileUpload: false in the stack: no storage endpoint, notifications off, and both said", async () => {
    const r = await runPlan({ stackFile: noFileUploadStack });
    expect(r.errors).toEqual([]);
    expect(hubProps(r).storageEndpoints).toBeUndefined();
    expect(hubProps(r).enableFileUploadNotifications).toBe(false);
    expect(r.warnings).toContain("file upload not cloned (clone.fileUpload: false): no storageEndpoints.$default; enableFileUploadNotifications turned off (the original had it on)");
  }, 200_000);

  it("notifications on with an empty storage endpoint (which Azure rejects) is refused", () => {
    const model = contosoModel();
    model.properties.enableFileUploadNotifications = true;
    const plan = buildClonePlan(model, config({ source: { template: "x", resourceGroup: "src" }, clone: { location: "eastus", resourceGroup: "rg" }, devices: { enabled: false } }));
    expect(lines(plan.errors)).toEqual([expect.stringMatching(/^enableFileUploadNotifications: is true but the original's file upload storage .*iothub-clone:clone\.fileUpload: false$/)]);
  });
});

describe("first contact: the plant hub's export (Event Grid route, network, TLS, template resources)", () => {
  let r: PlanResult;
  beforeAll(async () => {
    r = await runPlan({ template: firstContact, ...plantContext, param: fileUploadParams });
  }, 200_000);

  it("RouteToEventGrid is not sent on create; the warning names it and its condition", () => {
    expect(hubProps(r).routing.routes.map((x: any) => x.name)).toEqual(["archive", "twin-audit"]);
    expect(r.warnings.find((w) => w.startsWith("route RouteToEventGrid"))).toContain("(condition: $body.severity = 'high') left out of the clone");
  });

  it("classic IP filter → networkRuleSets (Accept → Allow, final reject-all → Deny), and the change is said", () => {
    expect(hubProps(r).ipFilterRules).toBeUndefined();
    expect(hubProps(r).networkRuleSets).toEqual({
      defaultAction: "Deny",
      applyToBuiltInEventHubEndpoint: false,
      ipRules: [
        { filterName: "plant-floor", action: "Allow", ipMask: "198.51.100.0/24" },
        { filterName: "ops-vpn", action: "Allow", ipMask: "203.0.113.7" },
      ],
    });
    expect(r.warnings.some((w) => w.startsWith("ipFilterRules: the classic IP filter is retired; sent as networkRuleSets with defaultAction Deny and 2 allow rule(s)"))).toBe(true);
  });

  it("a template resource the clone does not carry (the storage account) is named in a warning", () => {
    expect(r.warnings).toContain("template resource Microsoft.Storage/storageAccounts 'plantarchive' (resources[0]) is not carried over by the clone: create it for the clone separately if the clone needs it");
  });

  it("minTlsVersion kept in westus2 (a TLS 1.2 enforcement region)", () => {
    expect(hubProps(r).minTlsVersion).toBe("1.2");
  });

  it("restricted outbound access: a relocated target's host is added to allowedFqdnList", async () => {
    const s = await runPlan({ stackFile: noFileUploadStack });
    const list = hubProps(s).allowedFqdnList as string[];
    expect(list[0]).toBe("plantarchive.blob.core.windows.net");
    expect(list).toHaveLength(2);
    expect(list[1]).toMatch(/^planthubclonrt.+\.blob\.core\.windows\.net$/);
  }, 200_000);
});

describe("first contact: SKU, tier and region limits on the plant hub", () => {
  it("units above the tier's limit: one line naming the field and the limit, exit 1", () => {
    const r = planCli("--template", firstContact, "--resource-group", "plant-clone-rg", "--source-resource-group", "plant-rg", "--sku", "S3", "--units", "11", ...fileUploadParams.flatMap((p) => ["--param", p]), "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ resources: [], errors: ["iothub-clone:clone.units: 11 units exceed the S3 limit of 10: set units to at most 10 (--units N), or choose another SKU"] });
  }, 200_000);

  it("to Basic (B1): planned without C2D, the twin route and the 3-day retention, each named", async () => {
    const r = await runPlan({ template: firstContact, ...plantContext, sku: "B1", param: fileUploadParams });
    expect(r.errors).toEqual([]);
    expect(hubProps(r).cloudToDevice).toBeUndefined();
    expect(hubProps(r).routing.routes.map((x: any) => x.name)).toEqual(["archive"]);
    expect(hubProps(r).eventHubEndpoints.events.retentionTimeInDays).toBe(1);
    expect(r.warnings.some((w) => w.startsWith("dropped cloudToDevice: the Basic tier (B1) has no cloud-to-device messaging"))).toBe(true);
    expect(r.warnings.some((w) => w.startsWith("dropped routing.routes 'twin-audit' (source TwinChangeEvents): the Basic tier (B1) has no device twins"))).toBe(true);
    expect(r.warnings.some((w) => w.includes("the original keeps 3 days, B1 allows 1"))).toBe(true);
  }, 200_000);

  it("to a region without TLS 1.2 enforcement: minTlsVersion left out, with the source and the regions that have it", async () => {
    const r = await runPlan({ template: firstContact, ...plantContext, location: "northeurope", param: fileUploadParams });
    expect(r.errors).toEqual([]);
    expect(hubProps(r).minTlsVersion).toBeUndefined();
    expect(r.warnings.find((w) => w.startsWith("dropped minTlsVersion (1.2)"))).toMatch(/eastus, southcentralus, westus2.*iot-hub-tls-support/);
  }, 200_000);
});

describe("first contact: template parameters", () => {
  it("an ordinary String parameter given with --param shows as typed; a SecureString one does not", async () => {
    const r = await runPlan({ template: firstContact, ...plantContext, param: ["IotHubs_plant_hub_name=plant-line-4", ...fileUploadParams] });
    expect(r.errors).toEqual([]);
    expect(hubOf(r).inputs.resourceName).toBe("plant-line-4clone");
    expect(hubOf(r).name).toBe("plant-line-4clone");
    expect(JSON.stringify(r)).not.toContain("cGxhbnQtdXBsb2Fkcy1rZXk=");
  }, 200_000);

  it("an int parameter given '8' is converted as ARM does; given 'eight' it is refused naming the parameter, exit 1", async () => {
    const ok = await runPlan({ template: firstContact, ...plantContext, param: ["partitions=8", ...fileUploadParams] });
    expect(hubProps(ok).eventHubEndpoints.events.partitionCount).toBe(8);
    const bad = planCli("--template", firstContact, "--resource-group", "plant-clone-rg", "--source-resource-group", "plant-rg", "--param", "partitions=eight", ...fileUploadParams.flatMap((p) => ["--param", p]), "--json");
    expect(bad.code).toBe(1);
    const out = JSON.parse(bad.stdout);
    expect(out.resources).toEqual([]);
    expect(out.errors).toHaveLength(1);
    expect(out.errors[0]).toMatch(/parameter 'partitions' is declared int but was given 'eight' that is not a whole number: supply a whole number, e.g. --param partitions=4/);
  }, 200_000);
});

describe("limits as data", () => {
  it("units per tier (iot-hub-scaling): 200 on S1/S2/B1/B2, 10 on S3/B3, 1 on F1", () => {
    for (const [sku, max] of [["S1", 200], ["S2", 200], ["B1", 200], ["B2", 200], ["S3", 10], ["B3", 10]] as const) {
      expect(validateSku(sku, max)).toEqual([]);
      expect(lines(validateSku(sku, max + 1))[0]).toContain(`exceed the ${sku} limit of ${max}`);
    }
    expect(validateSku("F1", 2)).toHaveLength(1);
  });

  it("retention per tier: 7 days on S tiers, 1 on Basic and Free (an explicit value is refused)", () => {
    expect(validateRetention(7, "S1")).toEqual([]);
    expect(lines(validateRetention(2, "B2"))).toEqual(["iothub-clone:clone.retentionDays: 2: retention must be 1-1 days on B2: set clone.retentionDays to 1 or choose an S tier"]);
  });

  it("a relocated event hub on a Standard namespace has 1-32 partitions", () => {
    const plan = buildClonePlan(fleetModel(), config({ source: { template: "f" }, endpoints: { "analytics-eh": { relocate: true, partitionCount: 40 } } }));
    expect(lines(plan.errors)).toContain("iothub-clone:endpoints.analytics-eh.partitionCount: 40: an event hub on a Standard Event Hubs namespace has 1-32 partitions: set it within that range");
  });

  it("a classic Reject rule that is not the final reject-all cannot be expressed today: refused naming the rule", () => {
    const model = contosoModel();
    model.properties.ipFilterRules = [
      { filterName: "bad-range", action: "Reject", ipMask: "192.0.2.0/24" },
      { filterName: "all", action: "Accept", ipMask: "0.0.0.0/0" },
    ];
    const plan = buildClonePlan(model, config({ source: { template: "x", resourceGroup: "src" }, clone: { location: "eastus", resourceGroup: "rg" } }));
    expect(lines(plan.errors)).toEqual([expect.stringMatching(/^ipFilterRules\[0\] 'bad-range': classic Reject rule for 192\.0\.2\.0\/24 cannot be expressed/)]);
  });

  it("hub names: not all digits, no leading hyphen (the spec's Resource.name pattern)", () => {
    expect(lines(validateHubName("12345"))[0]).toContain("must not be only digits");
    expect(lines(validateHubName("-hub1"))[0]).toContain("must not start with a hyphen");
  });

  it("certificate names and storage encodings follow the spec", () => {
    const model = fleetModel();
    model.certificates = [{ name: "root ca", certificate: "MIIB" }];
    (model.properties.routing!.endpoints.storageContainers[0] as any).encoding = "csv";
    const plan = buildClonePlan(model, config({ source: { template: "f" } }));
    expect(plan.errors.map((e) => e.field)).toEqual(expect.arrayContaining(["certificates.root ca", "routing.endpoints 'archive'.encoding"]));
  });
});
