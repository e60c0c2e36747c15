import { describe, expect, it } from "vitest";
import { buildClonePlan } from "../../components/clone/desired-state";
import { normaliseRights, transformHub } from "../../components/clone/transform";
import { config, contosoModel, fleetModel } from "../fixtures/clone/models";

const devConfig = () => config({ source: { template: "x.json", resourceGroup: "ContosoResources" }, clone: { location: "eastus", resourceGroup: "ContosoResourcesClone" } });

describe("transform: the guide's ContosoTestHub29358", () => {
  const plan = buildClonePlan(contosoModel(), devConfig());

  it("names the clone <original>clone in the new region and keeps S1 x1 with 2 partitions", () => {
    expect(plan.errors).toEqual([]);
    expect(plan.hub.resourceName).toBe("ContosoTestHub29358clone");
    expect(plan.hub.location).toBe("eastus");
    expect(plan.hub.resourceGroupName).toBe("ContosoResourcesClone");
    expect(plan.hub.sku).toEqual({ name: "S1", capacity: 1 });
    expect(plan.hub.properties.eventHubEndpoints).toEqual({ events: { partitionCount: 2, retentionTimeInDays: 1 } });
    expect(plan.summary.changed).toContain("location: westus → eastus");
  });

  it("drops read-only and deprecated fields, naming each in a warning", () => {
    for (const f of ["operationsMonitoringProperties", "eventHubEndpoints.events.partitionIds", "eventHubEndpoints.events.path", "eventHubEndpoints.events.endpoint"]) {
      expect(plan.warnings.some((w) => w.startsWith(`dropped ${f}:`))).toBe(true);
    }
    expect(JSON.stringify(plan.hub.properties)).not.toMatch(/operationsMonitoring|partitionIds|servicebus\.windows/);
  });

  it("carries C2D, file notifications, the fallback route and features", () => {
    const p = plan.hub.properties as any;
    expect(p.cloudToDevice.feedback.maxDeliveryCount).toBe(10);
    expect(p.messagingEndpoints.fileNotifications.ttlAsIso8601).toBe("PT1H");
    expect(p.routing.fallbackRoute).toEqual({ name: "$fallback", source: "DeviceMessages", condition: "true", endpointNames: ["events"], isEnabled: true });
    expect(p.features).toBe("None");
    expect(p.enableFileUploadNotifications).toBe(false);
  });
});

describe("transform: a production hub with every endpoint kind", () => {
  const cfg = config({
    source: { template: "fleet.json" },
    clone: { location: "northeurope", partitions: 8, sku: "S2", units: 4, consumerGroups: ["ops", "asa"] },
  });
  const plan = buildClonePlan(fleetModel(), cfg);
  const ep = (name: string) => plan.endpoints.find((e) => e.name === name)!;

  it("has no errors and applies the config's changes", () => {
    expect(plan.errors).toEqual([]);
    expect(plan.hub.resourceName).toBe("fleet-hubclone");
    expect(plan.hub.resourceGroupName).toBe("fleet-rg");
    expect(plan.hub.sku).toEqual({ name: "S2", capacity: 4 });
    expect((plan.hub.properties.eventHubEndpoints as any).events).toEqual({ partitionCount: 8, retentionTimeInDays: 3 });
    expect(plan.summary.changed).toEqual(expect.arrayContaining(["partitions: 4 → 8", "sku: S1 → S2", "units: 2 → 4", "location: westeurope → northeurope"]));
  });

  it("looks up a queue key on the queue's own rule named in the masked connection string", () => {
    expect(ep("alerts-queue").credential).toEqual({
      kind: "lookup",
      lookup: { service: "serviceBus", subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroup: "fleet-routing-rg", namespace: "fleet-sb", entityType: "queue", entityName: "alerts", ruleName: "iothubroutes_fleet-hub", scope: "entity" },
    });
    expect(plan.warnings.some((w) => w.includes("routing.endpoints.serviceBusQueues.alerts-queue.id"))).toBe(true);
    expect(ep("alerts-queue").inputs).not.toHaveProperty("id");
  });

  it("treats RootManageSharedAccessKey as a namespace rule and keeps the event hub as EntityPath", () => {
    const c = ep("analytics-eh").credential as any;
    expect(c.lookup).toMatchObject({ service: "eventHubs", namespace: "fleet-eh", scope: "namespace", entityName: "analytics", ruleName: "RootManageSharedAccessKey" });
  });

  it("looks up the storage account key by the account named in the masked string", () => {
    expect((ep("archive").credential as any).lookup).toMatchObject({ service: "storage", accountName: "fleetarchive", resourceGroup: "fleet-routing-rg", endpointSuffix: "core.windows.net" });
    expect(ep("archive").inputs).toMatchObject({ containerName: "telemetry-archive", encoding: "Avro", batchFrequencyInSeconds: 300 });
  });

  it("moves a system-assigned identity endpoint onto the program's identity with a grant on its target, and warns", () => {
    expect(ep("commands-topic").auth).toEqual({ kind: "programIdentity" });
    expect(plan.identity.create).toBe(true);
    expect(plan.roleGrants).toContainEqual({
      endpointName: "commands-topic",
      role: "serviceBusDataSender",
      target: { kind: "existing", subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroup: "fleet-routing-rg", providerPath: "Microsoft.ServiceBus/namespaces/fleet-sb/topics/commands" },
    });
    expect(plan.warnings.some((w) => w.includes("commands-topic") && w.includes("system-assigned"))).toBe(true);
    expect(ep("commands-topic").inputs).toMatchObject({ authenticationType: "identityBased", endpointUri: "sb://fleet-sb.servicebus.windows.net", entityPath: "commands" });
  });

  it("reuses the original's user-assigned identity for the Cosmos DB endpoint", () => {
    expect(ep("twin-store").auth).toEqual({ kind: "reusedIdentity", identityId: expect.stringContaining("fleet-uai") });
    expect(plan.identity.reused).toHaveLength(1);
    expect(plan.identity.systemAssigned).toBe(true);
  });

  it("keeps routes (not RouteToEventGrid, which IoT Hub creates itself), fallback, enrichments, network rules and file upload", () => {
    const p = plan.hub.properties as any;
    expect(p.routing.routes.map((r: any) => r.name)).toEqual(["alerts", "commands", "analytics", "archive", "twins"]);
    expect(plan.eventGridRoute).toEqual({
      route: { name: "RouteToEventGrid", source: "DeviceMessages", condition: "true", endpointNames: ["eventgrid"], isEnabled: true },
      customCondition: false,
      subscriptionsKnown: false,
    });
    expect(p.routing.enrichments).toHaveLength(1);
    expect(p.networkRuleSets.ipRules[0]).toEqual({ filterName: "office", action: "Allow", ipMask: "203.0.113.0/24" });
    // northeurope does not offer TLS 1.2 enforcement (iot-hub-tls-support): left out, said.
    expect(p.minTlsVersion).toBeUndefined();
    expect(plan.warnings.some((w) => w.startsWith("dropped minTlsVersion (1.2): TLS 1.2 enforcement is offered only in eastus"))).toBe(true);
    expect(p.disableModuleSAS).toBe(true);
    expect(plan.fileUpload?.credential).toMatchObject({ kind: "lookup", lookup: { service: "storage", accountName: "fleetuploads", resourceGroup: "fleet-rg" } });
    expect(plan.warnings.some((w) => w.includes("RouteToEventGrid"))).toBe(true);
    for (const ro of ["hostName", "state", "provisioningState", "locations"]) expect(plan.warnings.some((w) => w.startsWith(`dropped ${ro}:`))).toBe(true);
  });

  it("gives custom policies new keys by default and normalises rights to the enum spelling", () => {
    expect(plan.policies).toEqual([
      { keyName: "iothubowner", rights: "RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect" },
      { keyName: "telemetry-reader", rights: "ServiceConnect" },
    ]);
  });

  it("merges consumer groups from the source and config, without $Default or duplicates", () => {
    expect(plan.consumerGroups).toEqual(["asa", "ops"]);
  });

  it("carries certificates with their body", () => {
    expect(plan.certificates).toEqual([{ name: "fleet-root", certificate: "MIIBfake", isVerified: true }]);
  });
});

describe("transform: config choices", () => {
  it("relocates an endpoint: credential from the new resource, no pointer at the old one", () => {
    const plan = buildClonePlan(fleetModel(), config({ source: { template: "f" }, clone: { location: "northeurope" }, endpoints: { archive: { relocate: true }, "commands-topic": { relocate: true } } }));
    const archive = plan.endpoints.find((e) => e.name === "archive")!;
    expect(archive.credential).toEqual({ kind: "relocated", endpointName: "archive" });
    expect(archive.inputs).not.toHaveProperty("resourceGroup");
    expect(plan.relocations.map((r) => [r.endpointName, r.entityName, r.identityBased])).toEqual([
      ["commands-topic", "commands", true],
      ["archive", "telemetry-archive", false],
    ]);
    expect(plan.roleGrants.find((g) => g.endpointName === "commands-topic")?.target).toEqual({ kind: "relocated" });
  });

  it("a relocated event hub gets the configured partitions, else 4 with a warning naming the setting; the setting elsewhere is an error", () => {
    const base = { source: { template: "f" }, clone: { location: "northeurope" } };
    const set = buildClonePlan(fleetModel(), config({ ...base, endpoints: { "analytics-eh": { relocate: true, partitionCount: 16 } } }));
    expect(set.relocations.find((r) => r.endpointName === "analytics-eh")?.partitionCount).toBe(16);
    expect(set.warnings.filter((w) => w.includes("partitions"))).toEqual([]);
    const unset = buildClonePlan(fleetModel(), config({ ...base, endpoints: { "analytics-eh": { relocate: true } } }));
    expect(unset.relocations.find((r) => r.endpointName === "analytics-eh")?.partitionCount).toBe(4);
    expect(unset.warnings).toContainEqual(expect.stringMatching(/^routing endpoint analytics-eh: the relocated event hub gets 4 partitions .*iothub-clone:endpoints\.analytics-eh\.partitionCount/));
    const kept = buildClonePlan(fleetModel(), config({ ...base, endpoints: { "analytics-eh": { partitionCount: 16 }, archive: { relocate: true, partitionCount: 2 } } }));
    expect(kept.errors.map((e) => `${e.field}: ${e.message}`)).toEqual([
      "iothub-clone:endpoints.analytics-eh.partitionCount: applies only to a relocated Event Hubs endpoint (analytics-eh is eventHubs, kept in place); remove it, or set relocate: true",
      "iothub-clone:endpoints.archive.partitionCount: applies only to a relocated Event Hubs endpoint (archive is storageContainers); remove it",
    ]);
  });

  it("uses a connection string from config instead of a look-up", () => {
    const plan = buildClonePlan(fleetModel(), config({ source: { template: "f" }, endpoints: { "alerts-queue": { connectionString: "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=c2VjcmV0;EntityPath=q" } } }));
    expect(plan.endpoints.find((e) => e.name === "alerts-queue")!.credential).toMatchObject({ kind: "config", configKey: "endpoints.alerts-queue.connectionString" });
  });

  it("keepPolicyKeys looks the original's keys up on the original (read-only)", () => {
    const plan = buildClonePlan(fleetModel(), config({ source: { template: "f" }, clone: { keepPolicyKeys: true } }));
    expect(plan.policies![1].primaryKey).toEqual({
      kind: "lookup",
      lookup: { service: "iotHub", subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroup: "fleet-rg", hubName: "fleet-hub", keyName: "telemetry-reader", key: "primary" },
    });
  });

  it("a masked key without a resource group anywhere is an error naming the endpoint and the fix", () => {
    const model = fleetModel();
    delete model.properties.routing!.endpoints.storageContainers[0].resourceGroup;
    const plan = buildClonePlan(model, config({ source: { template: "f" } }));
    const line = plan.errors.map((e) => `${e.field}: ${e.message}`).find((l) => l.includes("'archive'"));
    expect(line).toMatch(/routing\.endpoints\.storageContainers\[0\] 'archive'\.connectionString: .*endpoints\.archive\.connectionString.*relocate: true/);
  });

  it("a config entry for an endpoint the original lacks is an error", () => {
    const plan = buildClonePlan(fleetModel(), config({ source: { template: "f" }, endpoints: { archvie: { relocate: true } } }));
    expect(plan.errors).toContainEqual(expect.objectContaining({ field: "iothub-clone:endpoints.archvie" }));
  });

  it("the device copy needs the original's resource group (it reads the original's keys)", () => {
    const plan = buildClonePlan(contosoModel(), config({ source: { template: "x" }, clone: { resourceGroup: "rg" } }));
    expect(plan.errors.map((e) => e.field)).toEqual(["iothub-clone:source.resourceGroup"]);
    expect(buildClonePlan(contosoModel(), config({ source: { template: "x" }, clone: { resourceGroup: "rg" }, devices: { enabled: false } })).errors).toEqual([]);
  });

  it("identity-based device staging needs an identity of the original the clone reuses", () => {
    const dev = config({ source: { template: "x", resourceGroup: "src" }, clone: { resourceGroup: "rg" }, devices: { storageAuthenticationType: "identityBased" } });
    expect(buildClonePlan(contosoModel(), dev).errors.map((e) => e.field)).toEqual(["iothub-clone:devices.storageAuthenticationType"]);
    expect(buildClonePlan(fleetModel(), dev).errors).toEqual([]);
  });

  it("a certificate known only by name needs its body or skip", () => {
    const model = fleetModel();
    model.certificates = [{ name: "no-body" }];
    expect(buildClonePlan(model, config({ source: { template: "f" } })).errors.map((e) => e.field)).toContain("certificates.no-body");
    const skipped = buildClonePlan(model, config({ source: { template: "f" }, certificates: { "no-body": { skip: true } } }));
    expect(skipped.errors).toEqual([]);
    expect(skipped.certificates).toEqual([]);
  });

  it("file upload without a container is not configured: no key needed even if its parameter is missing", () => {
    const model = contosoModel();
    model.properties.storageEndpoints = { $default: { containerName: "", sasTtlAsIso8601: "PT1H", connectionString: { kind: "parameter", parameter: "IotHubs_x_connectionString" } } };
    const plan = buildClonePlan(model, devConfig());
    expect(plan.errors).toEqual([]);
    expect(plan.fileUpload?.credential).toEqual({ kind: "empty" });
  });

  it("a missing SecureString parameter for a configured endpoint names the parameter to supply", () => {
    const model = contosoModel();
    model.properties.storageEndpoints = { $default: { containerName: "uploads", connectionString: { kind: "parameter", parameter: "IotHubs_x_connectionString" } } };
    const plan = buildClonePlan(model, config({ source: { template: "x" }, clone: { resourceGroup: "rg" }, devices: { enabled: false } }));
    expect(plan.errors.map((e) => `${e.field}: ${e.message}`)).toEqual([
      expect.stringMatching(/^storageEndpoints\.\$default\.connectionString: .*--param IotHubs_x_connectionString=VALUE/),
    ]);
  });

  it("identity-based file upload keeps the storage account its key-less connection string names (as a GET returns it)", () => {
    const model = contosoModel();
    const keyless = "DefaultEndpointsProtocol=https;AccountName=plantuploads;EndpointSuffix=core.windows.net";
    model.properties.storageEndpoints = {
      $default: { containerName: "uploads", authenticationType: "identityBased", connectionString: { kind: "literal", value: keyless } },
    };
    const plan = buildClonePlan(model, devConfig());
    expect(plan.errors).toEqual([]);
    expect(plan.fileUpload?.credential).toEqual({ kind: "literal", value: keyless });
    // Moved from the original's system-assigned identity: granted on that very account.
    expect(plan.roleGrants).toEqual([
      expect.objectContaining({ endpointName: "$default", target: expect.objectContaining({ resourceGroup: "ContosoResources", providerPath: "Microsoft.Storage/storageAccounts/plantuploads" }) }),
    ]);
    expect(plan.warnings).toContainEqual(expect.stringMatching(/^storageEndpoints\.\$default: .*assumed to be in the original's resource group 'ContosoResources' for the role grant/));
  });

  it("an ARM GET body (file or live hub) says its consumer groups and certificates were not read, instead of losing them silently", () => {
    for (const format of ["arm-resource", "live"] as const) {
      const model = { ...contosoModel(), format, consumerGroups: [], certificates: [] };
      const plan = buildClonePlan(model, devConfig());
      expect(plan.warnings).toContainEqual(expect.stringMatching(/^consumer groups and certificates: .*clone\.consumerGroups.*snapshot/));
    }
    expect(buildClonePlan(contosoModel(), devConfig()).warnings.some((w) => w.startsWith("consumer groups and certificates:"))).toBe(false);
  });

  it("normaliseRights orders rights like the AccessRights enum", () => {
    expect(normaliseRights("DeviceConnect,RegistryRead")).toBe("RegistryRead, DeviceConnect");
  });

  it("a Free hub without partitions in the source gets 2", () => {
    const model = contosoModel();
    model.sku = { name: "F1", capacity: 1 };
    delete model.properties.eventHubEndpoints;
    const plan = transformHub(model, devConfig());
    expect((plan.hub.properties.eventHubEndpoints as any).events.partitionCount).toBe(2);
  });
});

describe("minimum TLS by region (iot-hub-tls-support)", () => {
  const inRegion = (location: string) => buildClonePlan(contosoModel(), config({ source: { template: "x.json", resourceGroup: "ContosoResources" }, clone: { location, resourceGroup: "rg" } }));
  it("a clone in US Gov Virginia is created with TLS 1.2 enforcement (creation fails without it), and says so", () => {
    const plan = inRegion("usgovvirginia");
    expect((plan.hub.properties as any).minTlsVersion).toBe("1.2");
    expect(plan.warnings.filter((w) => w.startsWith("minTlsVersion set to 1.2: a hub in usgovvirginia must enforce TLS 1.2"))).toHaveLength(1);
    expect(plan.summary.changed).toContain("minTlsVersion: (none) → 1.2 (required in usgovvirginia)");
  });
  it("elsewhere the original's setting is left as it is", () => {
    const plan = inRegion("eastus");
    expect((plan.hub.properties as any).minTlsVersion).toBeUndefined();
    expect(plan.warnings.some((w) => w.startsWith("minTlsVersion set to 1.2"))).toBe(false);
  });
});
