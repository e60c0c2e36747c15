import { afterEach, describe, expect, it } from "vitest";
import { dpsClient, iotHubClient } from "../../components/operations/arm";
import { dpsConnectionString, linkCloneToDps, moveEnrollments, provisioningClient, repointEnrollment } from "../../components/operations/dps";
import { startRecordedHttps, type RecordedHttpsServer } from "./https-recorder";
import { FakeCredential, RecordedTransport, loadInteractions } from "./recorded";

const sub = "11111111-2222-3333-4444-555555555555";
const original = "contoso-hub.azure-devices.net";
const clone = "contoso-hub-neu.azure-devices.net";

function armClients() {
  const transport = new RecordedTransport(loadInteractions("arm-dps-link.json"));
  const credential = new FakeCredential();
  return {
    transport,
    dps: dpsClient({ subscriptionId: sub, credential, httpClient: transport }),
    hubs: iotHubClient({ subscriptionId: sub, credential, httpClient: transport }),
  };
}

describe("dps link through the real @azure/arm-deviceprovisioningservices client (recorded responses)", () => {
  it("adds the clone to the linked hubs with its location and a connection string, keeping the original", async () => {
    const { transport, dps, hubs } = armClients();
    const r = await linkCloneToDps(dps, hubs, { dpsResourceGroup: "rg-dps", dpsName: "contoso-dps", cloneHub: "contoso-hub-neu", cloneResourceGroup: "rg-iot-neu" });
    expect(r).toEqual({ dps: "contoso-dps", cloneHostName: clone, linked: true, linkedHubs: [original, clone] });
    const put = transport.sent.find((s) => s.method === "PUT")!;
    const iotHubs = (put.body as { properties: { iotHubs: Array<Record<string, unknown>> } }).properties.iotHubs;
    expect(iotHubs).toHaveLength(2);
    expect(iotHubs[0]).toMatchObject({ connectionString: `HostName=${original};SharedAccessKeyName=iothubowner;SharedAccessKey=****`, location: "westeurope" });
    expect(iotHubs[1]).toEqual({
      connectionString: `HostName=${clone};SharedAccessKeyName=iothubowner;SharedAccessKey=fake-clone-owner-key`,
      location: "northeurope",
    });
    // the key is sent to ARM and nowhere else: not in the result
    expect(JSON.stringify(r)).not.toContain("fake-clone-owner-key");
    expect(transport.sent.map((s) => s.method)).toEqual(["GET", "GET", "POST", "PUT"]);
  });

  it("is idempotent: a clone already linked causes no write", async () => {
    const { transport, dps, hubs } = armClients();
    await linkCloneToDps(dps, hubs, { dpsResourceGroup: "rg-dps", dpsName: "contoso-dps", cloneHub: "contoso-hub-neu", cloneResourceGroup: "rg-iot-neu" });
    // second run: the DPS now reports both hubs (the PUT response is the last GET the recording has)
    const again = new RecordedTransport(loadInteractions("arm-dps-link.json").filter((i) => i.method !== "GET" || !i.path.includes("provisioningServices")));
    again.add({ ...loadInteractions("arm-dps-link.json").find((i) => i.method === "PUT")!, method: "GET" });
    const cred = new FakeCredential();
    const r = await linkCloneToDps(dpsClient({ subscriptionId: sub, credential: cred, httpClient: again }), iotHubClient({ subscriptionId: sub, credential: cred, httpClient: again }), {
      dpsResourceGroup: "rg-dps",
      dpsName: "contoso-dps",
      cloneHub: "contoso-hub-neu",
      cloneResourceGroup: "rg-iot-neu",
    });
    expect(r.linked).toBe(false);
    expect(again.sent.filter((s) => s.method !== "GET")).toEqual([]);
    expect(transport.sent.length).toBe(4);
  });

  it("builds the DPS service connection string from ARM (provisioningserviceowner)", async () => {
    const { dps } = armClients();
    const cs = await dpsConnectionString(dps, { dpsResourceGroup: "rg-dps", dpsName: "contoso-dps" });
    expect(cs).toBe("HostName=contoso-dps.azure-devices-provisioning.net;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=fake-dps-owner-key");
  });
});

describe("dps link --move-enrollments through the real azure-iot-provisioning-service client (recorded, over HTTPS)", () => {
  let server: RecordedHttpsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("repoints groups (paged query) and individual enrollments (bulk, etag-guarded), leaves custom allocation alone", async () => {
    server = await startRecordedHttps(["contoso-dps.azure-devices-provisioning.net"], loadInteractions("dps-service-enrollments.json"));
    const svc = provisioningClient(
      "HostName=contoso-dps.azure-devices-provisioning.net;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=fake-dps-owner-key",
      server.agent,
    );
    const r = await moveEnrollments(svc, original, clone);
    expect(r.enrollmentGroups).toEqual({ examined: 4, moved: 2, custom: ["lab-custom"] });
    expect(r.individualEnrollments).toEqual({ examined: 12, moved: 11, custom: [] });
    expect(r.failed).toEqual([{ id: "enrollment:dev-11", error: "412 PreconditionFailed: etag mismatch" }]);

    const calls = server.sent.map((s) => `${s.method} ${s.path}`);
    expect(calls).toEqual([
      "POST /enrollmentGroups/query",
      "PUT /enrollmentGroups/sensors-x509",
      "POST /enrollmentGroups/query",
      "PUT /enrollmentGroups/gateways",
      "POST /enrollments/query",
      "POST /enrollments/",
      "POST /enrollments/",
    ]);
    // the second group page was asked for with the continuation token of the first
    expect(server.sent[2].headers["x-ms-continuation"]).toBe("cGFnZTI=");
    const sensors = server.sent[1].body as Record<string, unknown>;
    expect(sensors).toMatchObject({ iotHubs: [clone], iotHubHostName: clone, allocationPolicy: "static", etag: '"g1"' });
    expect(server.sent[3].body).toMatchObject({ enrollmentGroupId: "gateways", iotHubs: [clone], allocationPolicy: "hashed" });
    const bulk1 = server.sent[5].body as { mode: string; enrollments: Array<{ registrationId: string; iotHubs: string[] }> };
    expect(bulk1.mode).toBe("updateIfMatchEtag");
    expect(bulk1.enrollments).toHaveLength(10);
    expect(bulk1.enrollments[1]).toMatchObject({ registrationId: "dev-01", iotHubs: [clone, "contoso-hub-other.azure-devices.net"] });
    expect((server.sent[6].body as { enrollments: unknown[] }).enrollments).toHaveLength(2);
    // signed with the DPS policy (SAS), the key itself never on the wire
    expect(String(server.sent[0].authorization)).toMatch(/^SharedAccessSignature sr=contoso-dps\.azure-devices-provisioning\.net&sig=.+&skn=provisioningserviceowner&se=\d+$/);
  });
});

describe("repointEnrollment (pure)", () => {
  it("replaces the original, pins unscoped enrollments, keeps others, no-ops when done", () => {
    expect(repointEnrollment({ iotHubs: [original, "b"] }, original, clone)).toEqual({ iotHubs: [clone, "b"] });
    expect(repointEnrollment({ iotHubs: [] }, original, clone)).toEqual({ iotHubs: [clone] });
    expect(repointEnrollment({ iotHubs: [clone] }, original, clone)).toBeUndefined();
    expect(repointEnrollment({ iotHubs: [original, clone] }, original, clone)).toEqual({ iotHubs: [clone] });
    expect(repointEnrollment({ iotHubs: ["CONTOSO-HUB.azure-devices.net"], iotHubHostName: original }, original, clone)).toEqual({ iotHubs: [clone], iotHubHostName: clone });
    expect(repointEnrollment({ allocationPolicy: "custom" }, original, clone)).toBe("custom");
  });
});
