import * as path from "path";
import * as fs from "fs";
import * as os from "os";
import { describe, expect, it } from "vitest";
import { UserError } from "../../components/errors";
import {
  detectFormat,
  fromArmResource,
  loadParametersFile,
  mergeParameters,
  parseParamArgs,
  readHub,
  readHubFile,
  snapshotSchema,
  stripJsonComments,
} from "../../components/source";
import type { HubModel } from "../../components/source";

const fixtures = path.join(__dirname, "..", "fixtures", "source");
const examples = path.join(__dirname, "..", "..", "examples");
const fx = (name: string) => path.join(fixtures, name);
const json = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));
const context = { subscriptionId: "0f1e2d3c-4b5a-6978-8a9b-aabbccddeeff", resourceGroup: "rg-orig", location: "westeurope" };
const noSecrets = new Set<string>();

function endpointCounts(m: HubModel): Record<string, number> {
  const e = m.properties.routing?.endpoints;
  return e ? Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v.length])) : {};
}

describe("detectFormat", () => {
  it("tells the formats apart", () => {
    expect(detectFormat(json(path.join(examples, "ContosoTestHub29358-export.json")))).toBe("portal-export");
    expect(detectFormat(json(fx("arm-get-body.json")))).toBe("arm-resource");
    expect(detectFormat(json(fx("hub-state.json")))).toBe("hub-state");
    expect(detectFormat(json(fx("bicep-v2-modules.json")))).toBe("template");
    expect(detectFormat(json(fx("casing-variants.json")))).toBe("template");
    expect(detectFormat(json(fx("snapshot.json")))).toBe("snapshot");
    expect(detectFormat([json(fx("arm-get-body.json"))])).toBe("arm-resource");
  });
  it("rejects anything else with the list of accepted formats", () => {
    for (const doc of [{}, [], "text", { type: "Microsoft.Storage/storageAccounts", properties: {} }, null]) {
      expect(() => detectFormat(doc)).toThrow(UserError);
      expect(() => detectFormat(doc)).toThrow(/accepted: a portal export/);
    }
  });
});

describe("portal export", () => {
  it("reads the cloning guide's ContosoTestHub29358 example", () => {
    const m = readHubFile(path.join(examples, "ContosoTestHub29358-export.json"));
    expect(m).toMatchObject({ format: "portal-export", name: "ContosoTestHub29358", location: "westus", sku: { name: "S1", capacity: 1 } });
    expect(m.properties.eventHubEndpoints?.events).toMatchObject({ partitionCount: 2, partitionIds: ["0", "1"], path: "contosotesthub29358" });
    // Read-only and deprecated fields are kept as read: the transform drops them with warnings.
    expect(m.properties.extra.operationsMonitoringProperties).toBeDefined();
    expect(Object.keys(m.properties.eventHubEndpoints!)).toContain("operationsMonitoringEvents");
    expect(m.properties.routing?.routes).toEqual([]);
    expect(m.properties.routing?.fallbackRoute).toMatchObject({ name: "$fallback", endpointNames: ["events"] });
    expect(m.properties.storageEndpoints?.$default).toEqual({ sasTtlAsIso8601: "PT1H", containerName: "" });
    expect(m.properties.authorizationPolicies?.map((p) => p.keyName)).toEqual(["iothubowner", "service", "device", "registryRead", "registryReadWrite"]);
    expect(m.properties.authorizationPolicies?.[0].primaryKey).toEqual({ kind: "masked", masked: "****" });
    expect(m.properties.enableFileUploadNotifications).toBe(false);
  });

  it("reads the fleet hub: five endpoint kinds, masked keys, secure parameters, identity, consumer groups", () => {
    const m = readHubFile(path.join(examples, "fleet-hub-export.json"));
    expect(m).toMatchObject({ format: "portal-export", name: "contoso-fleet-hub", location: "westeurope", sku: { name: "S1", capacity: 2 } });
    expect(endpointCounts(m)).toEqual({ serviceBusQueues: 1, serviceBusTopics: 1, eventHubs: 1, storageContainers: 1, cosmosDBSqlContainers: 1 });
    const ep = m.properties.routing!.endpoints;
    expect(ep.serviceBusQueues[0].connectionString).toEqual({ kind: "parameter", parameter: "IotHubs_contoso_fleet_hub_alerts_queue_connectionString" });
    expect(ep.eventHubs[0].connectionString).toMatchObject({ kind: "masked" });
    expect(ep.storageContainers[0].connectionString).toMatchObject({ kind: "masked" });
    expect(ep.cosmosDBSqlContainers[0]).toMatchObject({ containerName: "device-state", primaryKey: { kind: "masked" } });
    expect(ep.serviceBusTopics[0]).toMatchObject({ authenticationType: "identityBased", entityPath: "device-commands" });
    expect(ep.serviceBusTopics[0].connectionString).toBeUndefined();
    expect(m.properties.routing!.routes.map((r) => r.name)).toContain("RouteToEventGrid");
    expect(m.properties.routing!.routes.map((r) => r.source)).toEqual(
      expect.arrayContaining(["TwinChangeEvents", "DeviceLifecycleEvents", "DeviceConnectionStateEvents"]),
    );
    expect(m.properties.routing!.enrichments).toHaveLength(2);
    expect(m.properties.ipFilterRules).toHaveLength(2);
    expect(m.properties.minTlsVersion).toBe("1.2");
    expect(m.properties.authorizationPolicies?.find((p) => p.keyName === "fleet-backend")?.rights).toBe("RegistryRead, ServiceConnect");
    expect(m.identity).toEqual({
      type: "UserAssigned",
      userAssignedIdentities: [
        "/subscriptions/6b0d4e2a-1c3f-4d5e-8a9b-0c1d2e3f4a5b/resourceGroups/rg-fleet-weu/providers/Microsoft.ManagedIdentity/userAssignedIdentities/fleet-hub-routing",
      ],
    });
    expect(m.consumerGroups.map((c) => `${c.eventHubEndpoint}/${c.name}`)).toEqual(["events/$Default", "events/asa-analytics", "events/fleet-dashboard"]);
    expect(m.properties.eventHubEndpoints?.events.partitionCount).toBe(4);
    // The file-upload SecureString parameters were not supplied: a parameter KeyRef and a note.
    expect(m.properties.storageEndpoints?.$default.connectionString).toEqual({ kind: "parameter", parameter: "IotHubs_contoso_fleet_hub_connectionString" });
    // …and the container's parameter is kept, so the plan asks for it (or for clone.fileUpload: false).
    expect(m.properties.storageEndpoints?.$default.containerParameter).toBe("IotHubs_contoso_fleet_hub_containerName");
  });

  it("uses the parameters file's values for SecureString parameters", () => {
    const m = readHubFile(path.join(examples, "fleet-hub-export.json"), { parameters: loadParametersFile(path.join(examples, "fleet-hub.parameters.json")) });
    expect(m.properties.storageEndpoints?.$default).toMatchObject({ containerName: "fleet-uploads", connectionString: { kind: "masked" } });
    expect(m.properties.routing!.endpoints.serviceBusQueues[0].connectionString).toMatchObject({ kind: "masked" });
    expect(m.notes).toEqual([]);
  });

  it("a SecureString value supplied on the command line becomes a literal KeyRef", () => {
    const secret = "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=c2VjcmV0LWtleS12YWx1ZQ==";
    const params = mergeParameters(parseParamArgs([`IotHubs_contoso_fleet_hub_connectionString=${secret}`, "IotHubs_contoso_fleet_hub_containerName=uploads"]));
    const m = readHubFile(path.join(examples, "fleet-hub-export.json"), { parameters: params });
    expect(m.properties.storageEndpoints?.$default).toMatchObject({ containerName: "uploads", connectionString: { kind: "literal", value: secret } });
  });
});

describe("ARM GET body", () => {
  it("reads az iot hub show / az resource show output", () => {
    const m = readHubFile(fx("arm-get-body.json"));
    expect(m).toMatchObject({
      format: "arm-resource",
      name: "plant-hub-01",
      location: "northeurope",
      subscriptionId: "0f1e2d3c-4b5a-6978-8a9b-aabbccddeeff",
      resourceGroup: "rg-plant-iot",
      sku: { name: "S2", capacity: 3, tier: "Standard" },
      tags: { site: "plant-7" },
    });
    expect(m.notes.join("\n")).toContain("'North Europe' read as 'northeurope'");
    expect(m.identity?.userAssignedIdentities).toEqual([
      "/subscriptions/0f1e2d3c-4b5a-6978-8a9b-aabbccddeeff/resourceGroups/rg-plant-iot/providers/Microsoft.ManagedIdentity/userAssignedIdentities/plant-routing",
    ]);
    expect(m.properties.extra).toMatchObject({ hostName: "plant-hub-01.azure-devices.net", state: "Active", provisioningState: "Succeeded" });
    expect(m.properties.networkRuleSets).toEqual({
      defaultAction: "Deny",
      applyToBuiltInEventHubEndpoint: true,
      ipRules: [{ filterName: "plant-lan", action: "Allow", ipMask: "192.0.2.0/24" }],
    });
    const ep = m.properties.routing!.endpoints;
    expect(ep.cosmosDBSqlContainers[0]).toMatchObject({ containerName: "latest", databaseName: "telemetry" });
    expect(m.notes.join("\n")).toContain("collectionName: read as containerName");
    expect(ep.storageContainers[0]).toMatchObject({ authenticationType: "identityBased", endpointUri: "https://plantarchive.blob.core.windows.net/" });
    expect(m.properties.routing!.routes.find((r) => r.name === "archive")?.isEnabled).toBe(false);
    // GET responses omit the fallback route's name.
    expect(m.properties.routing!.fallbackRoute?.name).toBe("$fallback");
    expect(m.properties.storageEndpoints?.$default.connectionString).toMatchObject({ kind: "masked" });
  });

  it("fromArmResource reads the live shape (azure-native result) and marks it live", () => {
    const body = json(fx("arm-get-body.json"));
    const m = fromArmResource(body, "live:rg-plant-iot/plant-hub-01");
    expect(m.format).toBe("live");
    expect(m.origin).toBe("live:rg-plant-iot/plant-hub-01");
    expect(m.properties.eventHubEndpoints?.events.partitionCount).toBe(8);
    expect(() => fromArmResource({ ...body, type: "Microsoft.Storage/storageAccounts" }, "x")).toThrow(/expected Microsoft.Devices\/IotHubs/);
  });

  it("picks a hub from a list by name", () => {
    const a = json(fx("arm-get-body.json"));
    const b = { ...a, name: "plant-hub-02" };
    expect(readHub([a, b], "list.json", { hubName: "PLANT-HUB-02" }).name).toBe("plant-hub-02");
    expect(() => readHub([a, b], "list.json")).toThrow(/lists 2 IoT hubs \(plant-hub-01, plant-hub-02\)/);
  });
});

describe("az iot hub state export", () => {
  it("takes the hub and its certificates from the arm part", () => {
    const m = readHubFile(fx("hub-state.json"));
    expect(m).toMatchObject({ format: "hub-state", name: "lab-hub", location: "eastus2", identity: { type: "SystemAssigned", userAssignedIdentities: [] } });
    expect(m.properties.eventHubEndpoints?.events).toEqual({ partitionCount: 2, retentionTimeInDays: 3 });
    expect(m.properties.storageEndpoints?.$default).toEqual({ sasTtlAsIso8601: "PT1H", containerName: "" });
    expect(m.certificates).toEqual([{ name: "lab-root-ca", certificate: "MIIBszCCAVmgAwIBAgIUQ2xvbmUtdGVzdC1maXh0dXJlMAoGCCqGSM49BAMC", isVerified: true }]);
    expect(m.notes.join("\n")).toMatch(/configurations, devices not read here/);
  });
});

describe("authored templates", () => {
  it("languageVersion 2.0: resources object, copy loops over inner-scope module deployments, variable copy, symbolic listKeys", () => {
    const m = readHubFile(fx("bicep-v2-modules.json"), { context, parameters: { values: { hubName: "bicep-hub" }, secret: noSecrets } });
    expect(m).toMatchObject({ format: "template", name: "bicep-hub", location: "westeurope", tags: { owner: "platform" } });
    expect(m.properties.eventHubEndpoints?.events.partitionCount).toBe(4);
    expect(m.properties.ipFilterRules).toEqual([
      { filterName: "rule0", action: "Accept", ipMask: "10.0.0.0/8" },
      { filterName: "rule1", action: "Accept", ipMask: "172.16.0.0/12" },
    ]);
    expect(m.consumerGroups.map((c) => c.name)).toEqual(["ingest", "monitor"]);
    const cs = m.properties.routing!.endpoints.storageContainers[0].connectionString;
    const account = `arch${"x".repeat(0)}`;
    expect(cs).toMatchObject({ kind: "listKeys", keyName: "key1" });
    if (cs?.kind !== "listKeys") throw new Error("expected listKeys");
    expect(cs.resourceId).toMatch(new RegExp(`^/subscriptions/${context.subscriptionId}/resourceGroups/rg-orig/providers/Microsoft.Storage/storageAccounts/${account}[a-z2-7]{13}$`));
    expect(cs.template).toMatch(/^DefaultEndpointsProtocol=https;AccountName=arch[a-z2-7]{13};EndpointSuffix=core\.windows\.net;AccountKey=\{key\}$/);
    // Conditional certificate: off without a certificate, on with one (a secure parameter).
    expect(m.certificates).toEqual([]);
    const withCert = readHubFile(fx("bicep-v2-modules.json"), {
      context,
      parameters: { values: { hubName: "bicep-hub", caCertificate: "MIIBcert", consumerGroups: ["only"] }, secret: noSecrets },
    });
    expect(withCert.certificates).toEqual([{ name: "root-ca", certificate: "MIIBcert", isVerified: true }]);
    expect(withCert.consumerGroups.map((c) => c.name)).toEqual(["only"]);
  });

  it("nested deployment in outer scope; listKeys connection string via a variable; SecureString parameters", () => {
    const m = readHubFile(fx("nested-outer-secure.json"), {
      context,
      parameters: { values: { hubName: "orders-hub", cosmosKey: "Y29zbW9zLWtleQ==" }, secret: noSecrets },
    });
    expect(m).toMatchObject({ name: "orders-hub", location: "westeurope", sku: { name: "S1" } });
    const q = m.properties.routing!.endpoints.serviceBusQueues[0];
    expect(q).toMatchObject({ subscriptionId: context.subscriptionId, resourceGroup: "rg-orig" });
    expect(q.connectionString).toEqual({
      kind: "listKeys",
      resourceId: `/subscriptions/${context.subscriptionId}/resourceGroups/rg-orig/providers/Microsoft.ServiceBus/namespaces/orders-sb/queues/orders/authorizationRules/iothub-send`,
      expression: "listKeys(variables('ruleId'), '2021-11-01').primaryKey",
      keyName: "primaryKey",
      template: "Endpoint=sb://orders-sb.servicebus.windows.net/;SharedAccessKeyName=iothub-send;SharedAccessKey={key};EntityPath=orders",
    });
    expect(m.properties.routing!.endpoints.cosmosDBSqlContainers[0].primaryKey).toEqual({ kind: "literal", value: "Y29zbW9zLWtleQ==" });
    expect(m.properties.storageEndpoints?.$default.connectionString).toEqual({ kind: "parameter", parameter: "uploadConnectionString" });
    expect(m.consumerGroups).toEqual([{ eventHubEndpoint: "events", name: "orders-processor", origin: "template" }]);
  });

  it("normalises casing variants, nested child resources and ignores look-alike non-resources", () => {
    const m = readHubFile(fx("casing-variants.json"));
    expect(m).toMatchObject({ name: "Casing-Hub", location: "westeurope", sku: { name: "S1", capacity: 2 } });
    expect(m.properties.eventHubEndpoints?.events).toEqual({ retentionTimeInDays: 2, partitionCount: 4 });
    expect(m.properties.storageEndpoints?.$default).toEqual({ sasTtlAsIso8601: "PT2H", containerName: "" });
    expect(m.properties.authorizationPolicies).toEqual([{ keyName: "ops", rights: "RegistryRead, ServiceConnect" }]);
    expect(m.properties.routing!.endpoints.cosmosDBSqlContainers[0]).toMatchObject({ name: "docs", containerName: "items" });
    expect(m.properties.routing!.routes).toEqual([{ name: "docs-route", source: "DeviceMessages", condition: "true", endpointNames: ["docs"], isEnabled: true }]);
    expect(m.properties.extra).toMatchObject({ someFutureSetting: { enabled: true }, location: "West Europe" });
    expect(m.consumerGroups.map((c) => c.name)).toEqual(["nested-cg", "top-cg"]);
    expect(m.certificates).toEqual([{ name: "nested-cert", certificate: "MIIBnested" }]);
    const notes = m.notes.join("\n");
    expect(notes).toContain("StorageEndPoints: read as 'storageEndpoints'");
    expect(notes).toContain("eventhubEndpoints: read as 'eventHubEndpoints'");
    expect(notes).toContain("cosmosDBSqlCollections: older name");
    expect(notes).toContain("properties.someFutureSetting: not a known hub property; kept as read");
  });
});

describe("snapshot", () => {
  it("reads our snapshot: hub body, consumer groups, certificates, what the export missed", () => {
    const m = readHubFile(fx("snapshot.json"));
    expect(m).toMatchObject({ format: "snapshot", name: "snap-hub", location: "westus2", resourceGroup: "rg-lab" });
    expect(m.consumerGroups).toEqual([
      { eventHubEndpoint: "events", name: "$Default", origin: "snapshot" },
      { eventHubEndpoint: "events", name: "analytics", origin: "snapshot" },
      { eventHubEndpoint: "events", name: "alerts", origin: "snapshot" },
    ]);
    expect(m.certificates[0]).toMatchObject({ name: "root-ca", isVerified: false });
    expect(m.notes).toContain("captured beyond an ARM export: consumer groups analytics, alerts");
    expect(snapshotSchema.parse(json(fx("snapshot.json"))).snapshotVersion).toBe(1);
  });
  it("an invalid snapshot names the field", () => {
    const bad = { ...json(fx("snapshot.json")), capturedAt: "yesterday" };
    expect(() => readHub(bad, "snap.json")).toThrow(/^capturedAt: .*snapshot snap\.json/);
  });
});

describe("parameters", () => {
  it("loadParametersFile reads {parameters: {x: {value}}}", () => {
    expect(loadParametersFile(fx("params.json")).values).toEqual({ hubName: "param-hub", partitions: 6, consumerGroups: ["telemetry", "ops"] });
  });
  it("a Key Vault reference says to pass --param", () => {
    expect(() => loadParametersFile(fx("params-keyvault.json"))).toThrow(/storageConnectionString.*Key Vault reference.*--param storageConnectionString=VALUE/);
  });
  it("parseParamArgs JSON-parses values when it can", () => {
    expect(parseParamArgs(["a=1", "b=true", 'c={"x":1}', "d=hello", "e=007", "f=x=y", 'g="quoted"']).values).toEqual({
      a: 1,
      b: true,
      c: { x: 1 },
      d: "hello",
      e: "007",
      f: "x=y",
      g: "quoted",
    });
    expect(() => parseParamArgs(["no-equals-sign-secret"])).toThrow(/--param #1 must be NAME=VALUE/);
    // The second entry must throw (a parser that stops throwing fails here), naming it by position only.
    let thrown: unknown;
    try {
      parseParamArgs(["ok=1", "s3cr3t-value"]);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toMatch(/--param #2 must be NAME=VALUE/);
    expect((thrown as Error).message).not.toContain("s3cr3t");
  });
  it("mergeParameters: later wins (case-insensitively), secrecy is kept", () => {
    const merged = mergeParameters(
      { values: { HubName: "a", key: "k1" }, secret: new Set(["key"]) },
      { values: { hubname: "b" }, secret: new Set() },
    );
    expect(merged.values).toEqual({ key: "k1", hubname: "b" });
    expect([...merged.secret]).toEqual(["key"]);
  });
  it("parameters passed as secrets (the plan treats every --param as one) still shape names, loops and identities", () => {
    const values = { hubName: "secret-named-hub", consumerGroups: ["a", "b", "c"], caCertificate: "MIIBsecret", partitions: "6" };
    const m = readHubFile(fx("bicep-v2-modules.json"), { context, parameters: { values, secret: new Set(Object.keys(values)) } });
    expect(m.name).toBe("secret-named-hub");
    expect(m.consumerGroups.map((c) => c.name)).toEqual(["a", "b", "c"]);
    expect(m.certificates).toEqual([{ name: "root-ca", certificate: "MIIBsecret", isVerified: true }]);
    expect(m.properties.eventHubEndpoints?.events.partitionCount).toBe(6);
    const uami = readHubFile(path.join(examples, "fleet-hub-export.json"), {
      parameters: { values: { userAssignedIdentities_fleet_hub_routing_externalid: "/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u" }, secret: new Set(["userAssignedIdentities_fleet_hub_routing_externalid"]) },
    });
    expect(uami.identity?.userAssignedIdentities).toEqual(["/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"]);
  });

  it("template parameters come from a parameters file and are coerced to the declared type", () => {
    // The file says partitions 6; the command line says "8" (a JSON string): the command line wins,
    // and the string is coerced to the template's int. Name and consumer groups come from the file.
    const fromFile = loadParametersFile(fx("params.json"));
    expect(fromFile.values.partitions).toBe(6);
    const params = mergeParameters(fromFile, parseParamArgs(['partitions="8"']));
    expect(params.values.partitions).toBe("8");
    const m = readHubFile(fx("bicep-v2-modules.json"), { context, parameters: params });
    expect(m.name).toBe("param-hub");
    expect(m.properties.eventHubEndpoints?.events.partitionCount).toBe(8);
    expect(m.consumerGroups.map((c) => c.name)).toEqual(["telemetry", "ops"]);
  });
});

describe("JSON with comments", () => {
  it("reads templates with // and /* */ comments and trailing commas, leaving strings alone", () => {
    const text = '{\n  // a comment\n  "a": "http://x/*not*/", /* block\n comment */ "b": [1, 2,],\n  "c": "x,}",\n}';
    expect(JSON.parse(stripJsonComments(text))).toEqual({ a: "http://x/*not*/", b: [1, 2], c: "x,}" });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubsrc-"));
    const file = path.join(dir, "commented.json");
    fs.writeFileSync(file, fs.readFileSync(path.join(examples, "ContosoTestHub29358-export.json"), "utf8").replace('"variables": {},', '// exported from the portal\n  "variables": {},'));
    expect(readHubFile(file).name).toBe("ContosoTestHub29358");
    fs.rmSync(dir, { recursive: true });
  });
});
