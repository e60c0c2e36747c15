/**
 * Every real-world template in the shared corpus either reads into a HubModel or fails with one
 * actionable line; with the parameters a user would supply, each yields the hub it declares.
 * Skipped (with a note) when the corpus is not checked out next to the repository.
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { UserError } from "../../components/errors";
import { readHub, readHubFile, type HubModel, type ReadOptions } from "../../components/source";
import { uniqueString } from "../../components/source/arm-expressions";

const corpus = process.env.HUBCLONE_CORPUS ?? path.resolve(__dirname, "..", "..", "..", "shared", "corpus");
const templates = path.join(corpus, "arm-templates");
const present = fs.existsSync(templates);
if (!present) console.warn(`corpus tests skipped: ${templates} not found (set HUBCLONE_CORPUS to its location)`);

const context = { subscriptionId: "0f1e2d3c-4b5a-6978-8a9b-aabbccddeeff", resourceGroup: "rg-orig", location: "westeurope" };
const rgId = `/subscriptions/${context.subscriptionId}/resourceGroups/${context.resourceGroup}`;
const params = (values: Record<string, unknown>): ReadOptions["parameters"] => ({ values, secret: new Set() });
const counts = (m: HubModel) => Object.fromEntries(Object.entries(m.properties.routing?.endpoints ?? {}).map(([k, v]) => [k, v.length]));
const cgs = (m: HubModel) => m.consumerGroups.map((c) => `${c.eventHubEndpoint}/${c.name}`);

/**
 * Per template and per context, pinned: whether it reads (and the hub's name) or the one error it
 * gives (the field and what to supply). A template regressing from reading to an error, or failing
 * for another reason than before, fails here; the facts below then say which values make each read.
 */
type Outcome = { reads: string } | { fails: RegExp };
const param = (name: string) => new RegExp(`^[^:]+: template parameter '${name}' has no value and no default: supply it with --param ${name}=VALUE`);
const needsContext = /^resources\[\d+\]\.name: (subscription|resourceGroup)\(\) needs the original hub's subscription and resource group: .*--source-subscription and --source-resource-group/;
const utcNow = /^resources\[\d+\]\.name: utcNow\(\) returns the deployment time, so the value is not reproducible: supply --param randomValue=VALUE/;
const PINNED: Record<string, { withoutContext: Outcome; withContext: Outcome }> = {
  "avm-bicep-registry-iot-hub-module.json": { withoutContext: { fails: param("name") }, withContext: { fails: param("name") } },
  "azure-iot-cli-hub-state-export-blank-hub.json": { withoutContext: { reads: "test-hub" }, withContext: { reads: "test-hub" } },
  "docs-managed-identity-user-assigned-nested-deployment.json": { withoutContext: { fails: param("iotHubName") }, withContext: { fails: param("iotHubName") } },
  "docs-portal-export-2018-04-01-contosotesthub29358-readonly-props.json": { withoutContext: { reads: "ContosoTestHub29358" }, withContext: { reads: "ContosoTestHub29358" } },
  "docs-portal-export-2021-07-01-contosohub-securestring-params.json": { withoutContext: { reads: "ContosoHub" }, withContext: { reads: "ContosoHub" } },
  "docs-rm-template-powershell-2016-02-03-two-consumergroups-listkeys-output.json": { withoutContext: { fails: param("hubName") }, withContext: { fails: param("hubName") } },
  "industrial-iot-azuredeploy-uami-twin-lifecycle-routes-dps.json": { withoutContext: { fails: needsContext }, withContext: { reads: `iothub-${uniqueString(context.subscriptionId, rgId).slice(0, 6)}` } },
  "pcs-remote-monitoring-basic-eventhub-route-twin-lifecycle-dps.json": { withoutContext: { fails: needsContext }, withContext: { fails: param("solutionName") } },
  "quickstart-iothub-auto-route-messages-storage.json": { withoutContext: { fails: needsContext }, withContext: { reads: `contosoHub${uniqueString(rgId)}` } },
  "quickstart-iothub-device-provisioning-dps-linked-hub.json": { withoutContext: { fails: param("iotHubName") }, withContext: { fails: param("iotHubName") } },
  "quickstart-iothub-with-consumergroup-create.json": { withoutContext: { fails: param("iotHubName") }, withContext: { fails: param("iotHubName") } },
  "sdk-csharp-e2e-test-resources-uami-dps-2hubs.json": {
    withoutContext: { fails: needsContext },
    withContext: { fails: /^resources: .* declares 2 IoT hubs \(rg-orig-hub, rg-orig-hubfar\): choose one with source\.name in stack config \(--source-name for the plan\)$/ },
  },
  "sdk-csharp-routing-message-enrichments.json": { withoutContext: { fails: utcNow }, withContext: { fails: utcNow } },
  "sdk-csharp-routing-tutorial-storage-sbqueue-consumergroup.json": { withoutContext: { fails: utcNow }, withContext: { fails: utcNow } },
};

describe.skipIf(!present)("corpus: every template reads or fails with one actionable line", () => {
  const files = present ? fs.readdirSync(templates).filter((f) => f.endsWith(".json")).sort() : [];
  it("has templates to read, each pinned (a new template must say whether it reads)", () => {
    expect(files.length).toBeGreaterThanOrEqual(14);
    expect(files).toEqual(Object.keys(PINNED).sort());
  });
  for (const file of files) {
    it.each([
      ["without context", {}, "withoutContext"],
      ["with the original's subscription and resource group", { context }, "withContext"],
    ] as Array<[string, ReadOptions, "withoutContext" | "withContext"]>)(`${file} %s`, (_label, options, key) => {
      const want = PINNED[file]?.[key];
      expect(want, `${file} is not pinned`).toBeDefined();
      let outcome: Outcome | { threw: unknown };
      try {
        const m = readHubFile(path.join(templates, file), options);
        expect(m.name).toMatch(/^[A-Za-z0-9-]{3,50}$/);
        expect(m.sku.name).toMatch(/^[FSB][123]$/);
        expect(m.location).toMatch(/^[a-z0-9]+$/);
        outcome = { reads: m.name };
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        expect(e.message.split("\n")).toHaveLength(1);
        outcome = { fails: e.message } as never;
      }
      if ("reads" in want!) expect(outcome).toEqual(want);
      else expect(outcome).toEqual({ fails: expect.stringMatching(want!.fails) });
    });
  }
});

describe.skipIf(!present)("corpus: concrete facts with the parameters a user would supply", () => {
  const read = (file: string, options: ReadOptions = {}) => readHubFile(path.join(templates, file), options);

  it("portal export 2018 (ContosoTestHub29358): read-only fields and operations monitoring kept for the transform", () => {
    const m = read("docs-portal-export-2018-04-01-contosotesthub29358-readonly-props.json");
    expect(m).toMatchObject({ format: "portal-export", name: "ContosoTestHub29358", location: "westus", sku: { name: "S1", capacity: 1 } });
    expect(m.properties.eventHubEndpoints?.events).toMatchObject({ partitionCount: 2, partitionIds: ["0", "1"], path: "contosotesthub29358" });
    expect(m.properties.eventHubEndpoints?.operationsMonitoringEvents).toBeDefined();
    expect(m.properties.extra.operationsMonitoringProperties).toBeDefined();
    expect(counts(m)).toEqual({ serviceBusQueues: 0, serviceBusTopics: 0, eventHubs: 0, storageContainers: 0, cosmosDBSqlContainers: 0 });
  });

  it("portal export 2021 (ContosoHub): SecureString file-upload parameters", () => {
    const m = read("docs-portal-export-2021-07-01-contosohub-securestring-params.json");
    expect(m).toMatchObject({ format: "portal-export", name: "ContosoHub", location: "westus", identity: { type: "None" } });
    expect(m.properties.eventHubEndpoints?.events.partitionCount).toBe(4);
    expect(m.properties.storageEndpoints?.$default.connectionString).toEqual({ kind: "parameter", parameter: "IotHubs_ContosoHub_connectionString" });
    expect(m.properties.disableLocalAuth).toBe(false);
  });

  it("az iot hub state export blank hub", () => {
    const m = read("azure-iot-cli-hub-state-export-blank-hub.json");
    expect(m).toMatchObject({ name: "test-hub", location: "eastus", sku: { name: "S1", capacity: 1 }, identity: { type: "SystemAssigned" } });
    expect(m.properties.routing?.fallbackRoute?.name).toBe("$fallback");
    expect(m.properties.storageEndpoints?.$default).toEqual({ sasTtlAsIso8601: "PT1H", containerName: "" });
  });

  it("quickstart auto-route: uniqueString name, storage endpoint as a listKeys look-up", () => {
    const m = read("quickstart-iothub-auto-route-messages-storage.json", { context });
    expect(m.name).toBe(`contosoHub${uniqueString(rgId)}`);
    expect(m.location).toBe("westeurope");
    expect(counts(m).storageContainers).toBe(1);
    const ep = m.properties.routing!.endpoints.storageContainers[0];
    expect(ep).toMatchObject({ name: "contosoStorageEndpont", containerName: "contosoresults", encoding: "JSON" });
    expect(ep.connectionString).toMatchObject({ kind: "listKeys", keyName: "key1", resourceId: `${rgId}/providers/Microsoft.Storage/storageAccounts/contoso${uniqueString(rgId)}` });
    if (ep.connectionString?.kind === "listKeys") expect(ep.connectionString.template).toBe(`DefaultEndpointsProtocol=https;AccountName=contoso${uniqueString(rgId)};EndpointSuffix=core.windows.net;AccountKey={key}`);
    expect(m.properties.routing!.routes[0]).toMatchObject({ name: "ContosoStorageRoute", condition: 'level="storage"' });
  });

  it("quickstart DPS-linked hub: the hub alone, DPS ignored", () => {
    const m = read("quickstart-iothub-device-provisioning-dps-linked-hub.json", { context, parameters: params({ iotHubName: "dps-linked-hub" }) });
    expect(m).toMatchObject({ name: "dps-linked-hub", sku: { name: "S1", capacity: 1 }, location: "westeurope" });
  });

  it("quickstart consumer group: F1, lower-case child type", () => {
    const m = read("quickstart-iothub-with-consumergroup-create.json", { context, parameters: params({ iotHubName: "cg-hub" }) });
    expect(m).toMatchObject({ name: "cg-hub", sku: { name: "F1", capacity: 1 } });
    expect(m.properties.eventHubEndpoints?.events.partitionCount).toBe(2);
    expect(cgs(m)).toEqual(["events/cg1"]);
  });

  it("AVM module (languageVersion 2.0): pass-through properties, identity variable, consumer groups in a module loop", () => {
    const uami = `${rgId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/avm-id`;
    const m = read("avm-bicep-registry-iot-hub-module.json", {
      context,
      parameters: params({ name: "avm-hub", skuName: "S2", skuCapacity: 2, consumerGroups: ["ingest", "alerts"], managedIdentities: { systemAssigned: true, userAssignedResourceIds: [uami] } }),
    });
    expect(m).toMatchObject({ name: "avm-hub", sku: { name: "S2", capacity: 2 }, location: "westeurope", identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: [uami] } });
    expect(m.properties).toMatchObject({ publicNetworkAccess: "Disabled", disableLocalAuth: true, minTlsVersion: "1.2" });
    expect(cgs(m)).toEqual(["events/ingest", "events/alerts"]);
  });

  it("C# routing tutorial: Service Bus queue and storage endpoints, consumer group", () => {
    const m = read("sdk-csharp-routing-tutorial-storage-sbqueue-consumergroup.json", { context, parameters: params({ randomValue: "t1", d2c_partitions: "4" }) });
    expect(m.name).toBe("ContosoTestHubt1");
    expect(counts(m)).toMatchObject({ serviceBusQueues: 1, storageContainers: 1 });
    expect(m.properties.routing!.endpoints.serviceBusQueues[0].connectionString).toMatchObject({
      kind: "listKeys",
      keyName: "primaryKey",
      resourceId: `${rgId}/providers/Microsoft.ServiceBus/namespaces/ContosoSBNamespacet1/queues/ContosoSBQueuet1/authorizationRules/AuthRules_sb_queue`,
    });
    expect(m.properties.eventHubEndpoints?.events.partitionCount).toBe(4);
    expect(cgs(m)).toEqual(["events/ContosoConsumers"]);
  });

  it("C# message enrichments: three enrichments, two storage endpoints", () => {
    const m = read("sdk-csharp-routing-message-enrichments.json", { context, parameters: params({ randomValue: "e1" }) });
    expect(m.properties.routing!.enrichments.map((e) => e.key)).toEqual(["myIoTHub", "DeviceLocation", "customerID"]);
    expect(counts(m).storageContainers).toBe(2);
    expect(m.properties.routing!.routes).toHaveLength(2);
  });

  it("C# e2e: StorageEndPoints casing, two hubs chosen by name", () => {
    const p = params({ StorageAccountName: "e2estore", UserAssignedManagedIdentityName: "e2e-id" });
    const m = read("sdk-csharp-e2e-test-resources-uami-dps-2hubs.json", { context, parameters: p, hubName: "rg-orig-hub" });
    expect(m.properties.storageEndpoints?.$default).toMatchObject({ containerName: "fileupload", connectionString: { kind: "listKeys" } });
    expect(m.properties.enableFileUploadNotifications).toBe(true);
    expect(m.identity?.userAssignedIdentities).toEqual([`${rgId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/e2e-id`]);
    expect(cgs(m)).toEqual(["events/e2e-tests"]);
    const far = read("sdk-csharp-e2e-test-resources-uami-dps-2hubs.json", { context, parameters: p, hubName: "rg-orig-hubfar" });
    expect(far).toMatchObject({ location: "southeastasia", consumerGroups: [] });
  });

  it("Industrial IoT: Iothubs casing, twin and lifecycle routes, two consumer groups", () => {
    const m = read("industrial-iot-azuredeploy-uami-twin-lifecycle-routes-dps.json", { context });
    expect(m.name).toBe(`iothub-${uniqueString(context.subscriptionId, rgId).slice(0, 6)}`);
    expect(m.properties.routing!.routes.map((r) => r.source)).toEqual(["TwinChangeEvents", "DeviceLifecycleEvents"]);
    expect(m.properties.eventHubEndpoints?.events).toMatchObject({ retentionTimeInDays: 2, partitionCount: 4 });
    expect(m.identity?.type).toBe("UserAssigned");
    expect(cgs(m)).toEqual(["events/telemetry", "events/events"]);
  });

  it("PCS remote monitoring: Event Hubs endpoint built with listkeys, apiVersion as an expression", () => {
    const m = read("pcs-remote-monitoring-basic-eventhub-route-twin-lifecycle-dps.json", { context, parameters: params({ solutionName: "rm1" }) });
    expect(counts(m).eventHubs).toBe(1);
    const eh = m.properties.routing!.endpoints.eventHubs[0];
    expect(eh).toMatchObject({ name: "DeviceNotifications", subscriptionId: context.subscriptionId, resourceGroup: "rg-orig" });
    expect(eh.connectionString).toMatchObject({ kind: "listKeys", keyName: "primaryKey" });
    if (eh.connectionString?.kind === "listKeys") expect(eh.connectionString.template).toMatch(/^Endpoint=sb:\/\/.*;SharedAccessKey=\{key\};EntityPath=/);
    expect(m.properties.routing!.fallbackRoute?.endpointNames).toEqual(["events"]);
    expect(cgs(m)).toContain("events/streamingJobsConsumerGroup");
  });

  it("docs: hub inside a nested deployment with a user-assigned identity", () => {
    const m = read("docs-managed-identity-user-assigned-nested-deployment.json", { context, parameters: params({ iotHubName: "uami-hub" }) });
    expect(m).toMatchObject({ name: "uami-hub", sku: { name: "S1", tier: "Standard", capacity: 1 } });
    expect(m.identity).toEqual({ type: "UserAssigned", userAssignedIdentities: [`${rgId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-hub-identity`] });
  });

  it("docs 2016 PowerShell template: display-name location, two consumer groups", () => {
    const m = read("docs-rm-template-powershell-2016-02-03-two-consumergroups-listkeys-output.json", { parameters: params({ hubName: "ps-hub" }) });
    expect(m).toMatchObject({ name: "ps-hub", location: "eastus" });
    expect(cgs(m)).toEqual(["events/cg1", "events/cg2"]);
  });

  it("REST GET example and the Cosmos DB REST example", () => {
    const get = readHubFile(path.join(corpus, "arm-examples", "iothub-2023-06-30", "iothub_get.json"));
    expect(get).toMatchObject({ format: "arm-resource", name: "testHub", location: "centraluseuap", sku: { name: "S1", capacity: 1 } });
    expect(get.properties.ipFilterRules).toHaveLength(2);
    expect(get.properties.networkRuleSets?.ipRules).toHaveLength(2);
    expect(get.properties.extra.locations).toBeDefined();
    const cosmosFile = path.join(corpus, "extras", "rest-spec-2023-06-30-iothub_addRoutingCosmosDBEndpoint.json");
    if (fs.existsSync(cosmosFile)) {
      const cosmos = readHubFile(cosmosFile);
      expect(counts(cosmos).cosmosDBSqlContainers).toBe(1);
      expect(cosmos.properties.routing!.endpoints.cosmosDBSqlContainers[0].containerName).toBeTruthy();
    }
  });
});

const schemaTests = path.join(corpus, "extras", "arm-schemas-tests-2018-04-01-Microsoft.Devices.tests.json");
describe.skipIf(!fs.existsSync(schemaTests))("corpus: ARM schema test vectors for IotHubs (2018-04-01)", () => {
  const vectors: Array<{ name: string; json: Record<string, unknown>; expectedErrors?: unknown[] }> = fs.existsSync(schemaTests)
    ? JSON.parse(fs.readFileSync(schemaTests, "utf8")).tests
    : [];
  const asTemplate = (resource: Record<string, unknown>) => ({ contentVersion: "1.0.0.0", resources: [resource] });

  it("every valid vector reads; literal keys become literal KeyRefs and never reach notes", () => {
    const valid = vectors.filter((v) => !v.expectedErrors?.length);
    expect(valid.length).toBeGreaterThanOrEqual(4);
    for (const v of valid) {
      const m = readHub(asTemplate(v.json), v.name);
      expect(m.name).toBe(v.json.name);
      expect(m.location).toBe("westus");
      const policy = m.properties.authorizationPolicies?.[0];
      if (policy) {
        expect(policy.primaryKey?.kind).toBe("literal");
        expect(m.notes.join("\n")).not.toContain((policy.primaryKey as { value: string }).value);
      }
    }
    const full = readHub(asTemplate(vectors.find((v) => v.name === "IotHubs - full")!.json), "full");
    expect(full.properties.storageEndpoints?.fileUploadEndpoint).toMatchObject({ containerName: "fileuploadContainer", connectionString: { kind: "literal" } });
    expect(full.properties).toMatchObject({ features: "DeviceManagement", enableFileUploadNotifications: true, ipFilterRules: [{ filterName: "testIpFilterRule", action: "Accept", ipMask: "0.0.0.0/0" }] });
    const routing = readHub(asTemplate(vectors.find((v) => v.name === "IotHubs - RoutingProperty")!.json), "routing");
    expect(counts(routing)).toMatchObject({ eventHubs: 2, serviceBusQueues: 1 });
    expect(routing.properties.routing?.fallbackRoute).toMatchObject({ name: "rule2", endpointNames: ["myQueue"] });
  });

  it("vectors missing what a hub cannot do without fail on that field", () => {
    const expectations: Record<string, RegExp> = {
      "IotHubs - Missing required name property": /^resources\[0\]\.name: is required but missing/,
      "IotHubs - Missing required location property": /^resources\[0\]\.location: is required but missing/,
      "IotHubs - Missing required sku property": /^resources\[0\]\.sku: the hub has no sku/,
      "IotHubs - Missing required type property": /no Microsoft\.Devices\/IotHubs resource found/,
      "IotHubs - Invalid type value": /no Microsoft\.Devices\/IotHubs resource found/,
    };
    for (const [name, message] of Object.entries(expectations)) {
      const v = vectors.find((x) => x.name === name);
      expect(v, name).toBeDefined();
      expect(() => readHub(asTemplate(v!.json), name)).toThrow(message);
    }
  });
});
