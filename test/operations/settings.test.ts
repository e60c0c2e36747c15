import { describe, expect, it } from "vitest";
import { classify, compareSettings, describeSettings, type SettingsDocument } from "../../components/operations/settings";
import { loadInteractions } from "./recorded";

/** The original: the hub body from the recorded ARM fixture. */
function original(): SettingsDocument {
  const hub = structuredClone(loadInteractions("arm-iothub-contoso.json")[0].body) as Record<string, any>;
  hub.properties.authorizationPolicies = [
    { keyName: "iothubowner", rights: "RegistryWrite, ServiceConnect, DeviceConnect" },
    { keyName: "service", rights: "ServiceConnect" },
  ];
  return {
    hub,
    consumerGroups: { events: ["$Default", "stream-analytics", "alerts-function"] },
    certificates: [{ name: "fleet-root", certificate: "MIIB", isVerified: true }],
  };
}

/** A faithful clone in another region, storage endpoint relocated, more partitions. */
function faithfulClone(): SettingsDocument {
  const c = original();
  const h = c.hub;
  h.name = "contoso-hub-neu";
  h.id = h.id.replace("contoso-hub", "contoso-hub-neu").replace("rg-iot-weu", "rg-iot-neu");
  h.location = "northeurope";
  h.etag = "AAAAAAFFFFF=";
  h.systemData = { createdAt: "2026-01-02T00:00:00Z" };
  h.properties.hostName = "contoso-hub-neu.azure-devices.net";
  h.properties.locations = [{ location: "North Europe", role: "primary" }, { location: "West Europe", role: "secondary" }];
  Object.assign(h.properties.eventHubEndpoints.events, {
    partitionCount: 8,
    partitionIds: ["0", "1", "2", "3", "4", "5", "6", "7"],
    path: "contoso-hub-neu",
    endpoint: "sb://iothub-ns-contoso-hu-7654321-fedcba.servicebus.windows.net/",
  });
  const storage = h.properties.routing.endpoints.storageContainers[0];
  storage.id = "00000000-aaaa-bbbb-cccc-000000000001";
  storage.connectionString = "DefaultEndpointsProtocol=https;AccountName=contosoarchiveneu;AccountKey=bmV3LWtleQ==;EndpointSuffix=core.windows.net";
  storage.resourceGroup = "rg-storage-neu";
  // different keys on the policies: masked before comparing
  h.properties.authorizationPolicies[0].primaryKey = "ZGlmZmVyZW50LWtleQ==";
  return c;
}

describe("compareSettings", () => {
  it("a faithful relocated clone has only expected differences, each with its reason", () => {
    const r = compareSettings(original(), faithfulClone());
    expect(r.unexpected).toEqual([]);
    expect(r.ok).toBe(true);
    const byPath = Object.fromEntries(r.expected.map((d) => [d.path, d.reason]));
    expect(Object.keys(byPath).sort()).toEqual(
      [
        "hub.name",
        "hub.id",
        "hub.location",
        "hub.etag",
        "hub.systemData.createdAt",
        "hub.properties.hostName",
        "hub.properties.locations",
        "hub.properties.eventHubEndpoints.events.partitionCount",
        "hub.properties.eventHubEndpoints.events.partitionIds",
        "hub.properties.eventHubEndpoints.events.path",
        "hub.properties.eventHubEndpoints.events.endpoint",
        "hub.properties.routing.endpoints.storageContainers[archive-storage].id",
        "hub.properties.routing.endpoints.storageContainers[archive-storage].connectionString",
        "hub.properties.routing.endpoints.storageContainers[archive-storage].resourceGroup",
        // the policy key appears only on the clone side: masked, still reported as a key difference
        "hub.properties.authorizationPolicies[iothubowner].primaryKey",
      ].sort(),
    );
    expect(byPath["hub.properties.eventHubEndpoints.events.partitionCount"]).toMatch(/partitions are fixed at creation/);
    expect(byPath["hub.properties.routing.endpoints.storageContainers[archive-storage].connectionString"]).toMatch(/relocated endpoint/);
    expect(byPath["hub.properties.authorizationPolicies[iothubowner].primaryKey"]).toMatch(/keys are regenerated/);
    expect(r.compared).toBeGreaterThan(50);
    // no key material in the report
    expect(JSON.stringify(r)).not.toMatch(/bmV3LWtleQ|ZGlmZmVyZW50LWtleQ/);
  });

  it("catches a lost consumer group, a changed route, a lost certificate, a dropped endpoint and a changed policy", () => {
    const c = faithfulClone();
    c.consumerGroups.events = ["$Default", "stream-analytics"];
    c.hub.properties.routing.routes[0].condition = "true";
    c.certificates = [];
    c.hub.properties.routing.endpoints.serviceBusQueues = [];
    c.hub.properties.routing.routes = c.hub.properties.routing.routes.filter((r: { name: string }) => r.name !== "critical-to-queue");
    c.hub.properties.authorizationPolicies[1].rights = "RegistryRead";
    c.hub.properties.eventHubEndpoints.events.retentionTimeInDays = 7;
    const r = compareSettings(original(), c);
    expect(r.ok).toBe(false);
    const paths = r.unexpected.map((d) => d.path);
    expect(paths).toContain("consumerGroups.events");
    expect(paths).toContain("certificates[fleet-root]");
    expect(paths).toContain("hub.properties.routing.endpoints.serviceBusQueues[alerts-queue]");
    expect(paths).toContain("hub.properties.routing.routes[critical-to-queue]");
    expect(paths).toContain("hub.properties.authorizationPolicies[service].rights");
    expect(paths).toContain("hub.properties.eventHubEndpoints.events.retentionTimeInDays");
    const cg = r.unexpected.find((d) => d.path === "consumerGroups.events")!;
    expect(cg).toMatchObject({ original: ["$Default", "stream-analytics", "alerts-function"], clone: ["$Default", "stream-analytics"] });
    expect(describeSettings(r)).toMatch(/UNEXPECTED consumerGroups\.events: .*alerts-function.* -> /);
  });

  it("consumer group order does not matter; a containerName change on a relocated endpoint does", () => {
    const c = faithfulClone();
    c.consumerGroups.events = ["alerts-function", "$Default", "stream-analytics"];
    c.hub.properties.routing.endpoints.storageContainers[0].containerName = "other";
    const r = compareSettings(original(), c);
    expect(r.unexpected.map((d) => d.path)).toEqual(["hub.properties.routing.endpoints.storageContainers[archive-storage].containerName"]);
  });

  it("--expect declares a deliberate change expected", () => {
    const c = faithfulClone();
    c.hub.sku.capacity = 4;
    expect(compareSettings(original(), c).unexpected.map((d) => d.path)).toEqual(["hub.sku.capacity"]);
    const r = compareSettings(original(), c, { expect: ["hub.sku"] });
    expect(r.ok).toBe(true);
    expect(r.expected.find((d) => d.path === "hub.sku.capacity")?.reason).toBe("declared expected (--expect hub.sku)");
  });
});

describe("settings of two snapshots taken through the real ARM client", () => {
  it("the recorded clone (relocated storage, 8 partitions, own keys) verifies against the recorded original", async () => {
    const { iotHubClient } = await import("../../components/operations/arm");
    const { takeSnapshot } = await import("../../components/operations/snapshot");
    const { FakeCredential, RecordedTransport } = await import("./recorded");
    const snap = (file: string, rg: string, name: string) =>
      takeSnapshot(iotHubClient({ subscriptionId: "11111111-2222-3333-4444-555555555555", credential: new FakeCredential(), httpClient: new RecordedTransport(loadInteractions(file)) }), { resourceGroup: rg, name });
    const original = await snap("arm-iothub-contoso.json", "rg-iot-weu", "contoso-hub");
    const clone = await snap("arm-iothub-contoso-neu.json", "rg-iot-neu", "contoso-hub-neu");
    const r = compareSettings(original, clone);
    expect(r.unexpected).toEqual([]);
    expect(r.expected.map((d) => d.path)).toContain("hub.properties.routing.endpoints.storageContainers[archive-storage].connectionString");
    expect(r.expected.map((d) => d.path)).toContain("hub.properties.eventHubEndpoints.events.partitionCount");
    // drop a consumer group from the clone's recording: now unexpected
    clone.consumerGroups.events = clone.consumerGroups.events.filter((g) => g !== "alerts-function");
    expect(compareSettings(original, clone).unexpected.map((d) => d.path)).toEqual(["consumerGroups.events"]);
  });
});

describe("classify (rule table as data)", () => {
  const cases: Array<[string, boolean]> = [
    ["hub.name", true],
    ["hub.location", true],
    ["hub.properties.hostName", true],
    ["hub.identity.principalId", true],
    ["hub.properties.eventHubEndpoints.events.partitionCount", true],
    ["hub.properties.eventHubEndpoints.events.retentionTimeInDays", false],
    ["hub.properties.routing.endpoints.eventHubs[x].endpointUri", true],
    ["hub.properties.routing.endpoints.eventHubs[x].entityPath", false],
    ["hub.properties.routing.endpoints.cosmosDBSqlContainers[c].primaryKey", true],
    ["hub.properties.routing.fallbackRoute.isEnabled", false],
    ["hub.properties.minTlsVersion", false],
    ["hub.tags.env", false],
    ["hub.identity.type", false],
    ["consumerGroups.events", false],
  ];
  it.each(cases)("%s expected=%s", (path, expected) => {
    expect(classify(path).expected).toBe(expected);
  });
});
