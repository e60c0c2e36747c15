/**
 * The real program (index.ts) under Pulumi's mocks, one fresh process per plan (runPlan):
 * assertions on the inputs the mocks recorded, pulumi-awsx style.
 */
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { runPlan, type PlannedResource, type PlanResult } from "../../components/clone/plan";

const fixtures = path.join(__dirname, "..", "fixtures", "clone");
const HUB = "azure-native:iothub:IotHubResource";
const of = (r: PlanResult, type: string) => r.resources.filter((x) => x.type === type);
const hubOf = (r: PlanResult): PlannedResource => {
  const hubs = of(r, HUB);
  expect(hubs).toHaveLength(1);
  return hubs[0];
};
const props = (r: PlanResult) => hubOf(r).inputs.properties as any;

describe("dev stack: the guide's ContosoTestHub29358 → eastus", () => {
  let r: PlanResult;
  beforeAll(async () => {
    r = await runPlan({ stack: "dev" });
  });

  it("plans without errors and declares the clone from the shipped export", () => {
    expect(r.errors).toEqual([]);
    const hub = hubOf(r);
    expect(hub.name).toBe("ContosoTestHub29358clone");
    expect(hub.inputs).toMatchObject({
      resourceName: "ContosoTestHub29358clone",
      resourceGroupName: "ContosoResourcesEast",
      location: "eastus",
      sku: { name: "S1", capacity: 1 },
    });
    expect(props(r).eventHubEndpoints).toEqual({ events: { partitionCount: 2, retentionTimeInDays: 1 } });
    expect(props(r).routing.fallbackRoute.endpointNames).toEqual(["events"]);
  });

  it("sends no read-only or deprecated field, and says so in warnings", () => {
    const text = JSON.stringify(hubOf(r).inputs);
    for (const f of ["operationsMonitoringProperties", "partitionIds", "hostName", "provisioningState"]) expect(text).not.toContain(f);
    expect(r.warnings).toContain("dropped operationsMonitoringProperties: deprecated, rejected by current API versions");
  });

  it("never manages the original hub", () => {
    for (const res of r.resources) expect(JSON.stringify(res.inputs)).not.toMatch(/"resourceName":"ContosoTestHub29358"/);
    expect(r.resources.filter((x) => x.name === "ContosoTestHub29358")).toEqual([]);
  });

  it("wires the device migration to a private staging container, secrets masked", () => {
    const [container] = of(r, "azure-native:storage:BlobContainer");
    expect(container.inputs).toMatchObject({ containerName: "devicefiles", publicAccess: "None", resourceGroupName: "ContosoResourcesEast" });
    const [account] = of(r, "azure-native:storage:StorageAccount");
    expect(account.inputs).toMatchObject({ location: "eastus", allowBlobPublicAccess: false, minimumTlsVersion: "TLS1_2" });
    const [migration] = r.resources.filter((x) => x.type.endsWith("DeviceMigration"));
    expect(migration.inputs).toMatchObject({
      sourceHubHostName: "contosotesthub29358.azure-devices.net",
      sourceConnectionString: "[secret]",
      cloneConnectionString: "[secret]",
      stagingConnectionString: "[secret]",
      stagingContainerName: "devicefiles",
      importMode: "createOrUpdate",
      storageAuthenticationType: "keyBased",
    });
  });

  it("uses the component type tokens", () => {
    const types = r.resources.map((x) => x.type).filter((t) => t.startsWith("iothub-clone:"));
    expect(types).toEqual(expect.arrayContaining(["iothub-clone:index:HubClone", "iothub-clone:index:DeviceStaging"]));
  });
});

describe("prod stack: routed fleet hub → northeurope, S2 x4, 8 partitions, relocations", () => {
  let r: PlanResult;
  beforeAll(async () => {
    r = await runPlan({ stack: "prod" });
  });

  it("applies the stack's changes", () => {
    expect(r.errors).toEqual([]);
    expect(hubOf(r).inputs).toMatchObject({ resourceName: "contoso-fleet-hub-neu", location: "northeurope", sku: { name: "S2", capacity: 4 } });
    expect(props(r).eventHubEndpoints.events).toEqual({ partitionCount: 8, retentionTimeInDays: 3 });
  });

  it("carries every endpoint kind, route and enrichment, and leaves the Event Grid route to IoT Hub", () => {
    const eps = props(r).routing.endpoints;
    expect(Object.fromEntries(Object.entries(eps).map(([k, v]) => [k, (v as any[]).map((e) => e.name)]))).toEqual({
      serviceBusQueues: ["alerts-queue"],
      serviceBusTopics: ["twin-topic"],
      eventHubs: ["lifecycle-eventhub"],
      storageContainers: ["archive-storage"],
      cosmosDBSqlContainers: ["state-cosmos"],
    });
    // IoT Hub creates RouteToEventGrid itself; a create body carrying it fails with 400126.
    expect(props(r).routing.routes.map((x: any) => x.name)).not.toContain("RouteToEventGrid");
    expect(props(r).routing.enrichments.map((x: any) => x.key)).toEqual(["fleetRegion", "sourceHub"]);
    expect(props(r).storageEndpoints.$default).toMatchObject({ containerName: "fleet-uploads", connectionString: "[secret]" });
  });

  it("keys of kept endpoints are secrets looked up at deploy time; nothing masked (****) is sent", () => {
    const eps = props(r).routing.endpoints;
    expect(eps.serviceBusQueues[0]).toMatchObject({ connectionString: "[secret]", resourceGroup: "rg-fleet-weu" });
    expect(eps.cosmosDBSqlContainers[0]).toMatchObject({ primaryKey: "[secret]", secondaryKey: "[secret]", endpointUri: "https://contoso-fleet-cosmos.documents.azure.com:443/" });
    expect(JSON.stringify(r.resources)).not.toContain("****");
  });

  it("relocates storage, event hub and topic into new northeurope resources with unique names", () => {
    const ns = of(r, "azure-native:servicebus:Namespace")[0];
    expect(ns.inputs).toMatchObject({ location: "northeurope", resourceGroupName: "rg-fleet-neu" });
    expect(ns.inputs.namespaceName).toMatch(/^contoso-fleet-hub-neu-sb-/);
    expect(of(r, "azure-native:servicebus:Topic")[0].inputs).toMatchObject({ topicName: "device-commands" });
    expect(of(r, "azure-native:eventhub:EventHub")[0].inputs).toMatchObject({ eventHubName: "device-lifecycle", partitionCount: 4 });
    expect(r.warnings.filter((w) => w.includes("partitions"))).toEqual([]); // the stack says how many
    expect(of(r, "azure-native:eventhub:EventHubAuthorizationRule")[0].inputs).toMatchObject({ rights: ["Send"] });
    const containers = of(r, "azure-native:storage:BlobContainer").map((c) => c.inputs.containerName);
    expect(containers).toEqual(expect.arrayContaining(["telemetry-archive", "devicefiles"]));
    const eps = props(r).routing.endpoints;
    expect(eps.storageContainers[0]).toMatchObject({ resourceGroup: "rg-fleet-neu", connectionString: "[secret]" });
    expect(eps.serviceBusTopics[0].endpointUri).toMatch(/^sb:\/\/contoso-fleet-hub-neu-sb-.*\.servicebus\.windows\.net$/);
    for (const res of r.resources) if (typeof res.inputs.location === "string") expect(res.inputs.location).toBe("northeurope");
  });

  it("an identity-based relocated endpoint uses a new user-assigned identity granted Service Bus Data Sender", () => {
    const [uai] = of(r, "azure-native:managedidentity:UserAssignedIdentity");
    expect(uai.inputs).toMatchObject({ resourceName: "contoso-fleet-hub-neu-routing", location: "northeurope" });
    const [grant] = of(r, "azure-native:authorization:RoleAssignment");
    expect(grant.inputs.roleDefinitionId).toMatch(/roleDefinitions\/69a216fc-b8fb-44d8-bc22-1f3c2cd27a39$/);
    expect(grant.inputs.principalType).toBe("ServicePrincipal");
    expect(props(r).routing.endpoints.serviceBusTopics[0]).toMatchObject({ authenticationType: "identityBased", identity: { userAssignedIdentity: "[computed]" } });
    expect((hubOf(r).inputs.identity as any).type).toBe("UserAssigned");
    expect((hubOf(r).inputs.identity as any).userAssignedIdentities).toHaveLength(2);
  });

  it("dependsOn shows the order: targets and role grant before the hub, consumer groups and the device copy after it", () => {
    const hub = hubOf(r);
    const named = (type: string) => of(r, type).map((x) => x.name);
    const [grant] = of(r, "azure-native:authorization:RoleAssignment");
    const [wait] = of(r, "pulumi-nodejs:dynamic/hubclone:PropagationWait");
    const [uai] = of(r, "azure-native:managedidentity:UserAssignedIdentity");
    // The hub uses the routing identity's grant (Service Bus Data Sender), waits out its propagation
    // and needs every relocated target to exist.
    expect(hub.dependsOn).toEqual(expect.arrayContaining([uai.name, grant.name, wait.name]));
    expect(hub.dependsOn).toEqual(expect.arrayContaining([...named("azure-native:servicebus:Topic"), ...named("azure-native:eventhub:EventHub"), ...named("azure-native:eventhub:EventHubAuthorizationRule")]));
    expect(wait.dependsOn).toContain(grant.name);
    // The grant names the identity's principal and the topic it is scoped to.
    expect(grant.dependsOn).toEqual(expect.arrayContaining([uai.name, ...named("azure-native:servicebus:Topic")]));
    for (const g of of(r, "azure-native:iothub:IotHubResourceEventHubConsumerGroup")) expect(g.dependsOn, g.name).toContain(hub.name);
    const [copy] = r.resources.filter((x) => x.type.endsWith("DeviceMigration"));
    expect(copy.dependsOn).toEqual(expect.arrayContaining([hub.name, ...named("azure-native:iothub:IotHubResourceEventHubConsumerGroup"), "clone-staging-container"]));
    // Nothing waits for something that waits for it (the engine would deadlock).
    for (const x of r.resources) for (const d of x.dependsOn) expect(r.resources.find((y) => y.name === d)!.dependsOn, `${x.name} ↔ ${d}`).not.toContain(x.name);
    // The hub's original is never something the clone waits for.
    expect(r.resources.flatMap((x) => x.dependsOn)).not.toContain("contoso-fleet-hub");
  });

  it("adds the template's and the config's consumer groups", () => {
    expect(of(r, "azure-native:iothub:IotHubResourceEventHubConsumerGroup").map((g) => g.inputs.name)).toEqual(["asa-analytics", "fleet-dashboard", "ops-monitor"]);
  });
});

describe("each source format plans", () => {
  const plan = (file: string, extra: Record<string, unknown> = {}) =>
    runPlan({ template: path.join(fixtures, file), resourceGroup: "clone-rg", location: "eastus", ...extra });

  it("ARM GET body: system-assigned identity endpoint moves to the routing identity with a blob role on its account", async () => {
    const r = await plan("arm-get-body.json");
    expect(r.errors).toEqual([]);
    const grant = of(r, "azure-native:authorization:RoleAssignment")[0];
    expect(grant.inputs.scope).toBe("/subscriptions/aaaaaaaa-1111-2222-3333-444444444444/resourceGroups/rg-plant-data/providers/Microsoft.Storage/storageAccounts/plantarchive");
    expect(grant.inputs.roleDefinitionId).toBe("/subscriptions/aaaaaaaa-1111-2222-3333-444444444444/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe");
    expect((hubOf(r).inputs.identity as any).type).toBe("SystemAssigned, UserAssigned");
    expect(r.warnings.some((w) => w.includes("raw-archive") && w.includes("system-assigned"))).toBe(true);
    expect(props(r).routing.endpoints.eventHubs[0]).toMatchObject({ name: "telemetry-eh", connectionString: "[secret]" });
    // The hub waits for the grants to propagate before Azure validates its identity-based endpoints.
    const waits = of(r, "pulumi-nodejs:dynamic/hubclone:PropagationWait");
    expect(waits).toHaveLength(1);
    // Polls the grants (bounded), no fixed sleep: test/clone/propagation-wait.test.ts.
    expect(waits[0].inputs).toMatchObject({ deadlineSeconds: 600, intervalSeconds: 10, confirmations: 3 });
    expect(waits[0].inputs).not.toHaveProperty("seconds");
    expect(r.resources.indexOf(waits[0])).toBeLessThan(r.resources.indexOf(hubOf(r)));
  });

  it("no identity-based endpoint, no routing identity and no propagation wait", async () => {
    const r = await plan("hub-state.json");
    // A plan that failed before creating anything would pass the absence checks below.
    expect(r.errors).toEqual([]);
    expect(hubOf(r).inputs.resourceName).toBe("state-hubclone");
    expect(of(r, "azure-native:managedidentity:UserAssignedIdentity")).toEqual([]);
    expect(of(r, "iothub-clone:index:RoutingIdentity")).toEqual([]);
    expect(JSON.stringify(hubOf(r).inputs.identity ?? {})).not.toContain("UserAssigned");
    expect(of(r, "azure-native:authorization:RoleAssignment")).toEqual([]);
    expect(of(r, "pulumi-nodejs:dynamic/hubclone:PropagationWait")).toEqual([]);
  });

  it("a system-assigned-only hub sends its identity type without an (empty) user-assigned list", async () => {
    const r = await plan("arm-system-identity.json");
    expect(r.errors).toEqual([]);
    expect(hubOf(r).inputs.identity).toEqual({ type: "SystemAssigned" });
  });

  it("az iot hub state export: the ARM part, with its consumer group", async () => {
    const r = await plan("hub-state.json");
    expect(r.errors).toEqual([]);
    expect(hubOf(r).inputs.resourceName).toBe("state-hubclone");
    expect(of(r, "azure-native:iothub:IotHubResourceEventHubConsumerGroup").map((g) => g.inputs.name)).toEqual(["dashboards"]);
  });

  it("authored template: expressions evaluated, listKeys becomes a deploy-time secret, child consumer group kept", async () => {
    const r = await plan("authored-template.json", { sourceResourceGroup: "rg-authored", sourceSubscription: "dddddddd-1111-2222-3333-444444444444" });
    expect(r.errors).toEqual([]);
    expect(hubOf(r).inputs).toMatchObject({ resourceName: "authored-hubclone", sku: { name: "S1", capacity: 2 } });
    expect(props(r).routing.endpoints.storageContainers[0]).toMatchObject({ containerName: "archive", connectionString: "[secret]", resourceGroup: "rg-authored" });
    expect(of(r, "azure-native:iothub:IotHubResourceEventHubConsumerGroup").map((g) => g.inputs.name)).toEqual(["stream-analytics"]);
  });

  it("Bicep languageVersion 2.0 (resources as an object, eventhubEndpoints casing)", async () => {
    const r = await plan("bicep-v2.json");
    expect(r.errors).toEqual([]);
    expect(hubOf(r).inputs.sku).toEqual({ name: "S2", capacity: 1 });
    expect(props(r)).toMatchObject({ disableLocalAuth: true, minTlsVersion: "1.2", eventHubEndpoints: { events: { partitionCount: 8, retentionTimeInDays: 7 } } });
    expect(props(r).routing.enrichments).toEqual([{ key: "hub", value: "$iothubname", endpointNames: ["alerts"] }]);
    expect(props(r).routing.endpoints.serviceBusQueues[0].connectionString).toBe("[secret]");
  });

  it("hubclone snapshot (the source area's fixture): certificates and consumer groups become child resources", async () => {
    const r = await runPlan({ template: path.join(__dirname, "..", "fixtures", "source", "snapshot.json"), resourceGroup: "clone-rg", location: "eastus" });
    expect(r.errors).toEqual([]);
    const certs = of(r, "azure-native:iothub:Certificate");
    expect(certs.length).toBeGreaterThan(0);
    for (const c of certs) expect(c.inputs).toMatchObject({ resourceGroupName: "clone-rg", properties: { certificate: expect.any(String) } });
    expect(of(r, "azure-native:iothub:IotHubResourceEventHubConsumerGroup").length).toBeGreaterThan(0);
  });

  it("targets in another subscription: a provider for it, and a Cosmos DB SQL role grant there", async () => {
    const r = await plan("arm-cross-subscription.json");
    expect(r.errors).toEqual([]);
    const [provider] = of(r, "pulumi:providers:azure-native");
    expect(provider.inputs).toMatchObject({ subscriptionId: "eeeeeeee-9999-8888-7777-666666666666" });
    const [grant] = of(r, "azure-native:cosmosdb:SqlResourceSqlRoleAssignment");
    expect(grant.inputs).toMatchObject({
      accountName: "shared-cosmos",
      resourceGroupName: "rg-shared-data",
      roleDefinitionId: "/subscriptions/eeeeeeee-9999-8888-7777-666666666666/resourceGroups/rg-shared-data/providers/Microsoft.DocumentDB/databaseAccounts/shared-cosmos/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002",
      principalId: "[computed]",
    });
    expect(props(r).routing.endpoints.cosmosDBSqlContainers[0]).toMatchObject({ authenticationType: "identityBased", identity: { userAssignedIdentity: "[computed]" } });
    // The grant goes through the other subscription's provider, and the hub waits for the grant.
    expect(grant.dependsOn).toEqual(expect.arrayContaining([provider.name, "clone-identity-uai"]));
    expect(hubOf(r).dependsOn).toEqual(expect.arrayContaining([grant.name, "clone-identity-propagation"]));
  });

  it("live source (getIotHubResource), planned offline from the hub's GET body", async () => {
    const r = await runPlan({ stackFile: path.join(fixtures, "Pulumi.live.yaml"), liveSourceFile: path.join(fixtures, "arm-get-body.json") });
    expect(r.errors).toEqual([]);
    expect(hubOf(r).inputs).toMatchObject({ resourceName: "plant-hubclone", location: "centralus", resourceGroupName: "rg-plant-central" });
    expect(props(r).eventHubEndpoints.events.partitionCount).toBe(16);
  });

  it("live source with an invalid clone: the finding made after the GET is one line, nothing created", async () => {
    const r = await runPlan({ stackFile: path.join(fixtures, "Pulumi.live-invalid.yaml"), liveSourceFile: path.join(fixtures, "arm-get-body.json") });
    expect(r.resources).toEqual([]);
    expect(r.errors).toEqual([expect.stringMatching(/^iothub-clone:clone\.name: 'plant-hub' is the original's name/)]);
  });

  it("live source without its GET body: one actionable line", async () => {
    const r = await runPlan({ stackFile: path.join(fixtures, "Pulumi.live.yaml") });
    expect(r.resources).toEqual([]);
    expect(r.errors).toEqual([expect.stringMatching(/^source: the stack reads the live hub rg-plant\/plant-hub, .*--live-source FILE/)]);
  });
});

describe("identity-based device staging and more relocations", () => {
  it("grants the original's reused identity on the staging account and hands it to the device copy", async () => {
    const r = await runPlan({ stackFile: path.join(fixtures, "Pulumi.identity-staging.yaml") });
    expect(r.errors).toEqual([]);
    const grant = r.resources.find((x) => x.name === "clone-staging-blob-contributor")!;
    expect(grant.inputs.roleDefinitionId).toMatch(/ba92f5b4-2d11-453d-a403-e96b0029c9fe$/);
    const [migration] = r.resources.filter((x) => x.type.endsWith("DeviceMigration"));
    expect(migration.inputs).toMatchObject({
      storageAuthenticationType: "identityBased",
      userAssignedIdentity: expect.stringMatching(/userAssignedIdentities\/fleet-hub-routing$/),
      stagingAccountUrl: expect.stringMatching(/^https:\/\/contosofleetstg.*\.blob\.core\.windows\.net$/),
    });
    expect(migration.inputs).not.toHaveProperty("stagingConnectionString");
    // Relocated Cosmos DB (account, database, container) and queue with its send rule.
    expect(of(r, "azure-native:cosmosdb:SqlResourceSqlContainer")[0].inputs).toMatchObject({ containerName: "device-state", resource: { partitionKey: { paths: ["/deviceId"] } } });
    expect(of(r, "azure-native:servicebus:QueueAuthorizationRule")[0].inputs).toMatchObject({ queueName: "critical-alerts", rights: ["Send"] });
    const eps = props(r).routing.endpoints;
    expect(eps.cosmosDBSqlContainers[0]).toMatchObject({ resourceGroup: "rg-neu", primaryKey: "[secret]", endpointUri: expect.stringMatching(/^https:\/\/contoso-fleet-hubclone-cosmos-/) });
    expect(props(r).storageEndpoints.$default).toMatchObject({ containerName: "fleet-uploads", connectionString: "[secret]" });
  });
});

describe("invalid input creates nothing", () => {
  it("lists every finding, one line each, and no resource", async () => {
    const r = await runPlan({ stack: "dev", location: "mars", partitions: 64, name: "ContosoTestHub29358" });
    expect(r.resources).toEqual([]);
    expect(r.errors.map((e) => e.split(":").slice(0, 2).join(":"))).toEqual(["iothub-clone:clone.name", "iothub-clone:clone.location", "iothub-clone:clone.partitions"]);
    for (const e of r.errors) expect(e).not.toContain("\n");
  });

  it("an unknown stack names the stacks that exist", async () => {
    const r = await runPlan({ stack: "nope" });
    expect(r.errors).toEqual([expect.stringMatching(/^--stack: no Pulumi\.nope\.yaml in .*: use one of .*dev.*prod/)]);
  });
});
