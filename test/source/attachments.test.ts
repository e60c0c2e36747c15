/**
 * Reading what is attached to the hub: from a resource-group export (both extension forms,
 * nested children, things that are not carried over), from a hub-only export (unknown), and from
 * the live hub through the real ARM clients answering from recorded responses, through the snapshot.
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { attachmentClients, listHubAttachments } from "../../components/operations/attachments";
import { iotHubClient } from "../../components/operations/arm";
import { takeSnapshot } from "../../components/operations/snapshot";
import { readHub, readHubFile } from "../../components/source";
import { targetsHub } from "../../components/source/attachments";
import { FakeCredential, RecordedTransport, type Interaction } from "../operations/recorded";

const dir = path.join(__dirname, "..", "fixtures", "attachments");
const SUB = "22222222-3333-4444-5555-666666666666";
const HUB_ID = `/subscriptions/${SUB}/resourceGroups/rg-iot/providers/Microsoft.Devices/IotHubs/fabrikam-hub`;
const context = { resourceGroup: "rg-iot", subscriptionId: SUB };

describe("attachments in a resource-group export", () => {
  const model = readHubFile(path.join(dir, "rg-export.json"), { context });
  const a = model.attachments!;

  it("finds the system topic whose source is the hub and every subscription, in both forms", () => {
    expect(a.known).toEqual({ eventGrid: true, diagnosticSettings: true, privateEndpoints: true, roleAssignments: true });
    expect(a.systemTopic).toEqual({ name: "fabrikam-hub-3f2a9c", location: "westeurope", tags: { team: "fleet" } });
    expect(a.eventSubscriptions.map((s) => [s.name, s.form])).toEqual([
      ["hot-devices", "systemTopic"],
      ["ops-webhook", "systemTopic"],
      ["legacy-created", "hubScoped"],
    ]);
    const hot = a.eventSubscriptions[0].properties as any;
    // expressions evaluated, advanced filters and dead-letter kept verbatim
    expect(hot.destination.properties.resourceId).toBe(`/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/fabrikam-fn/functions/OnHotDevice`);
    expect(hot.filter.advancedFilters).toEqual([
      { values: ["fleet-a", "fleet-b"], operatorType: "StringIn", key: "data.systemProperties.iothub-connection-device-id" },
      { value: 30, operatorType: "NumberGreaterThan", key: "data.body.temperature" },
    ]);
    expect(hot.retryPolicy).toEqual({ maxDeliveryAttempts: 10, eventTimeToLiveInMinutes: 120 });
    expect(hot.deadLetterDestination.properties.blobContainerName).toBe("deadletters");
  });

  it("reads diagnostic settings scoped to the hub in both forms, and not those of other resources", () => {
    expect(a.diagnosticSettings.map((d) => d.name)).toEqual(["to-logs", "archive"]);
    expect((a.diagnosticSettings[0].properties as any).logs).toHaveLength(3);
    expect((a.diagnosticSettings[1].properties as any).storageAccountId).toMatch(/fabrikamarchive$/);
  });

  it("reads the private endpoint that targets the hub with its nested DNS zone group", () => {
    expect(a.privateEndpoints).toHaveLength(1);
    const pe = a.privateEndpoints[0];
    expect(pe.name).toBe("pe-fabrikam-hub");
    expect(pe.privateDnsZoneGroups.map((g) => g.name)).toEqual(["default"]);
    expect((pe.privateDnsZoneGroups[0].properties as any).privateDnsZoneConfigs.map((c: any) => c.properties.privateDnsZoneId)).toEqual([
      `/subscriptions/${SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.azure-devices.net`,
      `/subscriptions/${SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.servicebus.windows.net`,
    ]);
  });

  it("reads role assignments scoped to the hub in both forms", () => {
    expect(a.roleAssignments.map((r) => [r.name, (r.properties as any).principalType])).toEqual([
      ["9d2c4f9e-6a3b-4b39-9f0e-5d1f7c2a8b11", "ServicePrincipal"],
      ["2b3c4d5e-0000-4000-8000-000000000001", "Group"],
    ]);
  });

  it("names what belongs to the hub and is not carried over", () => {
    expect(a.notCarried).toHaveLength(2);
    expect(a.notCarried[0]).toMatch(/^resources\[1\] \(.*privateendpointconnections.*the clone's private endpoint makes its own/i);
    expect(a.notCarried[1]).toMatch(/^resources\[12\] \(.*locks 'do-not-delete'\): resource locks are not copied/);
  });

  it("an attachment the reader cannot evaluate is left out with a line, and the hub still reads", () => {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, "rg-export.json"), "utf8"));
    doc.resources.push({
      type: "Microsoft.Insights/diagnosticSettings",
      name: "broken",
      scope: "[concat('Microsoft.Devices/IotHubs/', parameters('IotHubs_fabrikam_hub_name'))]",
      properties: { workspaceId: "[parameters('notDeclared')]" },
    });
    const m = readHub(doc, "inline.json", { context });
    expect(m.name).toBe("fabrikam-hub");
    expect(m.attachments!.diagnosticSettings.map((d) => d.name)).toEqual(["to-logs", "archive"]);
    expect(m.attachments!.notCarried).toContainEqual(expect.stringMatching(/^resources\[14\]: could not be read \(.*notDeclared.*\); left out of the clone$/));
  });

  it("an extension resource scoped to something else is not the hub's, even when it cannot be evaluated offline", () => {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, "rg-export.json"), "utf8"));
    doc.resources.push({
      type: "Microsoft.Authorization/roleAssignments",
      name: "[guid('storage-role')]",
      scope: "Microsoft.Storage/storageAccounts/fabrikamarchive",
      properties: { roleDefinitionId: "x", principalId: "[reference('someIdentity', '2018-11-30').principalId]" },
    });
    const m = readHub(doc, "inline.json", { context });
    expect(m.attachments!.roleAssignments).toHaveLength(2);
    expect(m.attachments!.notCarried.some((l) => l.includes("could not be read"))).toBe(false);
    // named like every other resource the clone does not carry over
    expect(m.notes).toContainEqual(expect.stringMatching(/roleassignments .*resources\[14\].* is not carried over/i));
  });
});

describe("a real authored template (corpus)", () => {
  const file = "/work/shared/corpus/arm-templates/industrial-iot-azuredeploy-uami-twin-lifecycle-routes-dps.json";
  it.runIf(fs.existsSync(file))("its role assignment on the storage account (principal from reference()) is not mistaken for the hub's", () => {
    const m = readHubFile(file, { context: { ...context, location: "westeurope" } });
    expect(m.attachments!.roleAssignments).toEqual([]);
    expect(m.attachments!.notCarried).toEqual([]);
  });
  if (!fs.existsSync(file)) it("corpus not present: skipped (reads /work/shared/corpus when it exists)", () => expect(fs.existsSync(file)).toBe(false));
});

describe("a hub-only export", () => {
  it("knows nothing of the attachments (none found is not the same as none there)", () => {
    const m = readHubFile(path.join(dir, "hub-only-export.json"), { context });
    expect(m.attachments!.known).toEqual({ eventGrid: false, diagnosticSettings: false, privateEndpoints: false, roleAssignments: false });
    expect(m.properties.privateEndpointConnections).toHaveLength(1);
  });
});

describe("targetsHub", () => {
  it("accepts full ids and relative scopes in any casing, and only this hub", () => {
    expect(targetsHub(HUB_ID, "fabrikam-hub")).toBe(true);
    expect(targetsHub("microsoft.devices/IOTHUBS/Fabrikam-Hub", "fabrikam-hub")).toBe(true);
    expect(targetsHub(`${HUB_ID}-2`, "fabrikam-hub")).toBe(false);
    expect(targetsHub(`${HUB_ID}/certificates/x`, "fabrikam-hub")).toBe(false);
    expect(targetsHub(undefined, "fabrikam-hub")).toBe(false);
  });
});

describe("the live hub through the ARM clients (recorded responses)", () => {
  const fixture = JSON.parse(fs.readFileSync(path.join(dir, "arm-live.json"), "utf8")) as { hub: any; interactions: Interaction[] };
  const clients = (t: RecordedTransport) => attachmentClients({ subscriptionId: SUB, credential: new FakeCredential(), httpClient: t });

  it("lists topic, subscriptions, diagnostics, private endpoint with DNS zone groups and the hub's own role assignments, with GETs only", async () => {
    const t = new RecordedTransport(fixture.interactions);
    const arm = await listHubAttachments(clients(t), { id: HUB_ID, resourceGroup: "rg-iot", name: "fabrikam-hub", body: fixture.hub });
    expect(t.sent.every((s) => s.method === "GET")).toBe(true);
    expect(t.sent.some((s) => s.path.startsWith("//"))).toBe(false);
    expect(arm.systemTopics.map((x) => x.name)).toEqual(["fabrikam-hub-3f2a9c"]);
    expect(arm.systemTopics[0].eventSubscriptions.map((x) => x.name)).toEqual(["hot-devices"]);
    expect(arm.privateEndpoints[0].privateDnsZoneGroups[0].name).toBe("default");
    // the subscription-wide assignment inherited by the hub is not the hub's
    expect(arm.roleAssignments.map((r) => r.name)).toEqual(["9d2c4f9e-6a3b-4b39-9f0e-5d1f7c2a8b11"]);
    const filter = t.sent.find((s) => s.path.endsWith("/roleAssignments"))!.query;
    expect(decodeURIComponent(filter)).toContain("$filter=atScope()");
  });

  it("the snapshot records them, and the clone program reads them back from it", async () => {
    const S = fixture.hub;
    const iothub: Interaction[] = [
      { method: "GET", path: `${HUB_ID}`, status: 200, body: S },
      { method: "GET", path: `${HUB_ID}/eventHubEndpoints/events/ConsumerGroups`, status: 200, body: { value: [{ name: "$Default" }] } },
      { method: "GET", path: `${HUB_ID}/certificates`, status: 200, body: { value: [] } },
      { method: "POST", path: `${HUB_ID}/listkeys`, status: 200, body: { value: [{ keyName: "iothubowner", primaryKey: "c2VjcmV0LWtleS12YWx1ZQ==", rights: "RegistryWrite, ServiceConnect, DeviceConnect" }] } },
    ];
    const t = new RecordedTransport([...iothub, ...fixture.interactions]);
    const hubClient = iotHubClient({ subscriptionId: SUB, credential: new FakeCredential(), httpClient: t });
    const snap = await takeSnapshot(hubClient, { resourceGroup: "rg-iot", name: "fabrikam-hub" }, new Date("2026-12-07T00:00:00Z"), clients(t));
    expect(JSON.stringify(snap)).not.toContain("c2VjcmV0LWtleS12YWx1ZQ==");
    expect(snap.missedByExport).toEqual(
      expect.arrayContaining([
        "1 Event Grid subscriptions: a hub-only export has none",
        "1 private endpoints: a hub-only export has none",
        "1 role assignments on the hub: no template export has them",
      ]),
    );
    const model = readHub(JSON.parse(JSON.stringify(snap)), "snapshot.json");
    const a = model.attachments!;
    expect(a.known.roleAssignments).toBe(true);
    expect(a.systemTopic?.name).toBe("fabrikam-hub-3f2a9c");
    // listed under the topic and on the hub: one subscription
    expect(a.eventSubscriptions.map((s) => s.name)).toEqual(["hot-devices"]);
    expect(a.diagnosticSettings.map((d) => d.name)).toEqual(["to-logs"]);
    expect(a.privateEndpoints.map((p) => p.name)).toEqual(["pe-fabrikam-hub"]);
  });

  it("a snapshot taken before attachments existed still reads (attachments unknown)", () => {
    const m = readHubFile(path.join(__dirname, "..", "fixtures", "source", "snapshot.json"));
    expect(m.attachments).toBeUndefined();
  });
});
