import { describe, expect, it } from "vitest";
import { iotHubClient } from "../../components/operations/arm";
import { describeSnapshot, maskKeys, takeSnapshot, whatExportMisses } from "../../components/operations/snapshot";
import { snapshotSchema } from "../../components/source/snapshot";
import { FakeCredential, RecordedTransport, loadInteractions } from "./recorded";

const sub = "11111111-2222-3333-4444-555555555555";

async function snapshotFromRecording() {
  const transport = new RecordedTransport(loadInteractions("arm-iothub-contoso.json"));
  const credential = new FakeCredential();
  const client = iotHubClient({ subscriptionId: sub, credential, httpClient: transport });
  const snap = await takeSnapshot(client, { resourceGroup: "rg-iot-weu", name: "contoso-hub" }, new Date("2026-01-02T03:04:05Z"));
  return { snap, transport, credential };
}

describe("snapshot through the real @azure/arm-iothub client (recorded responses)", () => {
  it("reads the hub, every consumer group page, certificates and policy rights", async () => {
    const { snap, credential } = await snapshotFromRecording();
    expect(snap.snapshotVersion).toBe(1);
    // the clone program's reader accepts it
    expect(snapshotSchema.safeParse(snap).success).toBe(true);
    expect(snap.capturedAt).toBe("2026-01-02T03:04:05.000Z");
    expect(snap.hub.name).toBe("contoso-hub");
    expect(snap.hub.properties.hostName).toBe("contoso-hub.azure-devices.net");
    // both pages of the consumer-group listing (nextLink followed by the SDK pager)
    expect(snap.consumerGroups).toEqual({ events: ["$Default", "stream-analytics", "alerts-function"] });
    expect(snap.certificates).toEqual([expect.objectContaining({ name: "fleet-root", isVerified: true })]);
    expect(snap.certificates[0].certificate).toMatch(/^MIIB/);
    expect(snap.hub.properties.authorizationPolicies).toEqual([
      { keyName: "iothubowner", rights: "RegistryWrite, ServiceConnect, DeviceConnect" },
      { keyName: "service", rights: "ServiceConnect" },
      { keyName: "registryRead", rights: "RegistryRead" },
    ]);
    // routing endpoints keep their resource coordinates
    const queue = snap.hub.properties.routing.endpoints.serviceBusQueues[0];
    expect(queue).toMatchObject({ name: "alerts-queue", subscriptionId: sub, resourceGroup: "rg-messaging-weu" });
    // raw ARM body: dates stay strings, not SDK Date objects
    expect(snap.hub.systemData.createdAt).toBe("2024-03-11T09:12:44.113Z");
    expect(credential.scopes).toContain("https://management.azure.com/.default");
  });

  it("masks every key, including one the recording left unmasked, and no key reaches the file", async () => {
    const { snap } = await snapshotFromRecording();
    const text = JSON.stringify(snap);
    expect(snap.hub.properties.routing.endpoints.storageContainers[0].connectionString).toBe(
      "DefaultEndpointsProtocol=https;AccountName=contosoarchive;AccountKey=****;EndpointSuffix=core.windows.net",
    );
    expect(text).not.toContain("fake-leaky-export-key");
    expect(text).not.toContain("b3duZXItcHJpbWFyeS1rZXktMDEyMzQ1Njc4OWFiY2RlZg==");
    // every connection-string secret is masked (the non-secret remainder stays: coordinates)
    expect(text).not.toMatch(/(AccountKey|SharedAccessKey)=(?!\*\*\*\*)/);
    expect(text).not.toMatch(/"(primaryKey|secondaryKey)"/);
  });

  it("records what the portal export would have missed", async () => {
    const { snap } = await snapshotFromRecording();
    expect(snap.missedByExport).toEqual([
      "consumer group events/stream-analytics: the export has no consumer groups",
      "consumer group events/alerts-function: the export has no consumer groups",
      "certificate fleet-root: the export has no certificates",
      `routing endpoint serviceBusQueues/alerts-queue: key masked in the export (look it up in ${sub}/rg-messaging-weu)`,
      `routing endpoint storageContainers/archive-storage: key masked in the export (look it up in ${sub}/rg-storage-weu)`,
      "shared access policies (iothubowner, service, registryRead): keys not exported; the clone's policies get new keys",
    ]);
    expect(describeSnapshot(snap)).toContain("consumer groups: events: $Default, stream-analytics, alerts-function");
  });

  it("is read-only: GETs plus the listkeys read, nothing else", async () => {
    const { transport } = await snapshotFromRecording();
    const calls = transport.sent.map((r) => `${r.method} ${r.path.replace(/^.*\/IotHubs\/contoso-hub/, "")}`);
    expect(calls).toEqual([
      "GET ",
      "GET /eventHubEndpoints/events/ConsumerGroups",
      "GET /eventHubEndpoints/events/ConsumerGroups",
      "GET /certificates",
      "POST /listkeys",
    ]);
    expect(transport.sent.every((r) => r.authorization === "Bearer fake-arm-token")).toBe(true);
  });

  it("the clone program reads it as its source: consumer groups, certificates and policies survive", async () => {
    const { readHub } = await import("../../components/source");
    const { snap } = await snapshotFromRecording();
    const model = readHub(JSON.parse(JSON.stringify(snap)), "contoso-hub.snapshot.json");
    expect(model.format).toBe("snapshot");
    expect(model.name).toBe("contoso-hub");
    expect(model.consumerGroups.map((g) => `${g.eventHubEndpoint}/${g.name}`)).toEqual(expect.arrayContaining(["events/stream-analytics", "events/alerts-function"]));
    expect(model.certificates.map((c) => c.name)).toEqual(["fleet-root"]);
    expect(model.properties.authorizationPolicies?.map((p) => p.keyName)).toEqual(["iothubowner", "service", "registryRead"]);
    const storage = model.properties.routing?.endpoints.storageContainers[0];
    expect(storage?.connectionString).toMatchObject({ kind: "masked" });
  });

  it("a failed ARM call surfaces (no half-written snapshot)", async () => {
    const transport = new RecordedTransport([]);
    const client = iotHubClient({ subscriptionId: sub, credential: new FakeCredential(), httpClient: transport });
    await expect(takeSnapshot(client, { resourceGroup: "rg", name: "nope" })).rejects.toThrow(/no recorded response/);
  });

  it("a read refused partway (second consumer-group page, certificates, listkeys) fails the snapshot instead of returning one without that part", async () => {
    const recording = loadInteractions("arm-iothub-contoso.json");
    // 403 as when the caller's role lacks that one action (e.g. Microsoft.Devices/IotHubs/listkeys/Action); not retried by the pipeline.
    for (const refused of [2, 3, 4]) {
      const step = `${recording[refused].method} ${recording[refused].path.replace(/^.*\/IotHubs\/contoso-hub/, "")}`;
      const interactions = recording.map((i, n) => (n === refused ? { ...i, status: 403, body: { error: { code: "AuthorizationFailed", message: `refused: ${step}` } } } : i));
      const transport = new RecordedTransport(interactions);
      const client = iotHubClient({ subscriptionId: sub, credential: new FakeCredential(), httpClient: transport });
      const outcome = await takeSnapshot(client, { resourceGroup: "rg-iot-weu", name: "contoso-hub" }).then(
        (snap) => ({ resolved: snap }),
        (e: unknown) => ({ rejected: String(e) }),
      );
      expect(outcome, step).toEqual({ rejected: expect.stringContaining(`refused: ${step}`) });
      // It did fail partway: the reads before the refused one were made.
      expect(transport.sent.length, step).toBe(refused + 1);
    }
  });
});

describe("maskKeys / whatExportMisses (pure)", () => {
  it("masks Cosmos DB keys and Service Bus keys, leaves empty strings and non-key fields", () => {
    const out = maskKeys({
      cosmos: [{ primaryKey: "abc", secondaryKey: "", endpointUri: "https://x.documents.azure.com" }],
      sb: { connectionString: "Endpoint=sb://x/;SharedAccessKeyName=n;SharedAccessKey=k1;EntityPath=q" },
    });
    expect(out).toEqual({
      cosmos: [{ primaryKey: "****", secondaryKey: "", endpointUri: "https://x.documents.azure.com" }],
      sb: { connectionString: "Endpoint=sb://x/;SharedAccessKeyName=n;SharedAccessKey=****;EntityPath=q" },
    });
  });

  it("identity-based endpoints and $Default are not reported as missed", () => {
    const missed = whatExportMisses({
      hub: { properties: { routing: { endpoints: { eventHubs: [{ name: "eh", authenticationType: "identityBased", endpointUri: "sb://x" }] } } } },
      consumerGroups: { events: ["$Default"] },
      certificates: [],
    });
    expect(missed).toEqual([]);
  });
});
