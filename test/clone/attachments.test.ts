/**
 * The clone's attached resources: the pure plan (what is carried, left out and why; routes to
 * shared endpoints silent until cutover), the RouteToEventGrid restore against the real
 * @azure/arm-iothub client (recorded responses), the components under Pulumi's mocks (inputs and
 * dependsOn as registered), and the real program through the offline plan.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import type { PipelineRequest } from "@azure/core-rest-pipeline";
import { beforeAll, describe, expect, it } from "vitest";
import { planAttachments, silenceSharedEventRoutes, stableGuid, type AttachmentsPlan } from "../../components/clone/attachments-plan";
import { buildClonePlan } from "../../components/clone/desired-state";
import { restoreRouteCondition } from "../../components/clone/event-grid-route-impl";
import { NAME_INPUT, runPlan, type PlanResult } from "../../components/clone/plan";
import { parseCloneConfig } from "../../components/config";
import { iotHubClient } from "../../components/operations/arm";
import { readHubFile } from "../../components/source";
import { FakeCredential, RecordedTransport, type Interaction } from "../operations/recorded";

const dir = path.join(__dirname, "..", "fixtures", "attachments");
const SUB = "22222222-3333-4444-5555-666666666666";
const SUBNET = `/subscriptions/${SUB}/resourceGroups/rg-net-neu/providers/Microsoft.Network/virtualNetworks/vnet-neu/subnets/iot`;
const exportFile = path.join(dir, "rg-export.json");

function planOf(extra: Record<string, unknown> = {}, file = exportFile) {
  const model = readHubFile(file, { context: { resourceGroup: "rg-iot", subscriptionId: SUB } });
  const config = parseCloneConfig({
    source: { template: file, resourceGroup: "rg-iot", subscriptionId: SUB },
    clone: { location: "northeurope", name: "fabrikam-neu", ...((extra.clone as object) ?? {}) },
    devices: { enabled: false },
    ...(extra.attachments ? { attachments: extra.attachments } : {}),
  });
  return buildClonePlan(model, config);
}

describe("plan of a resource-group export with everything attached", () => {
  const plan = planOf({ attachments: { privateEndpoints: { subnetId: SUBNET } } });
  const a = plan.attachments!;

  it("plans without errors", () => {
    expect(plan.errors).toEqual([]);
  });

  it("Event Grid: the clone's own topic and each subscription with its settings in azure-native shape", () => {
    expect(a.eventGrid!.systemTopicName).toBe("fabrikam-neu-3f2a9c");
    expect(a.eventGrid!.tags).toEqual({ team: "fleet" });
    const hot = a.eventGrid!.subscriptions.find((s) => s.name === "hot-devices")!;
    expect(hot.inputs.destination).toEqual({
      endpointType: "AzureFunction",
      resourceId: `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/fabrikam-fn/functions/OnHotDevice`,
      maxEventsPerBatch: 1,
      preferredBatchSizeInKilobytes: 64,
    });
    expect(hot.inputs.deadLetterDestination).toEqual({
      endpointType: "StorageBlob",
      resourceId: `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Storage/storageAccounts/fabrikamdl`,
      blobContainerName: "deadletters",
    });
    expect((hot.inputs.filter as any).advancedFilters).toHaveLength(2);
    expect(hot.inputs).toMatchObject({ labels: ["fleet", "alerts"], eventDeliverySchema: "EventGridSchema", retryPolicy: { maxDeliveryAttempts: 10, eventTimeToLiveInMinutes: 120 } });
    const legacy = a.eventGrid!.subscriptions.find((s) => s.name === "legacy-created")!;
    expect(legacy.inputs.filter).toEqual({ includedEventTypes: ["Microsoft.Devices.DeviceCreated"], subjectBeginsWith: "devices/" });
  });

  it("a WebHook subscription without its (write-only) URL is left out, naming the secret setting", () => {
    expect(a.eventGrid!.subscriptions.map((s) => s.name)).not.toContain("ops-webhook");
    expect(plan.warnings).toContainEqual(expect.stringContaining("pulumi config set --path --secret 'iothub-clone:attachments.eventGrid.webhookEndpointUrls.ops-webhook'"));
    expect(plan.summary.dropped).toContainEqual(expect.stringMatching(/^Event Grid subscription ops-webhook \(WebHook URL unknown/));
  });

  it("RouteToEventGrid: the original's condition is kept for the restore", () => {
    expect(a.eventGrid!.route).toEqual({ name: "RouteToEventGrid", source: "DeviceMessages", condition: "$body.temperature > 30", endpointNames: ["eventgrid"], isEnabled: true });
  });

  it("diagnostic settings: same destinations and categories", () => {
    expect(a.diagnosticSettings.map((d) => d.name)).toEqual(["to-logs", "archive"]);
    expect(a.diagnosticSettings[0].inputs).toMatchObject({
      workspaceId: `/subscriptions/${SUB}/resourceGroups/rg-ops/providers/Microsoft.OperationalInsights/workspaces/fabrikam-logs`,
      logAnalyticsDestinationType: "Dedicated",
      metrics: [{ category: "AllMetrics", enabled: true }],
    });
    expect((a.diagnosticSettings[0].inputs.logs as any[]).map((l) => l.category ?? l.categoryGroup)).toEqual(["Connections", "DeviceTelemetry", "audit"]);
  });

  it("private endpoint: in the configured subnet, same group id, the same (global) DNS zones", () => {
    expect(a.privateEndpoints).toEqual([
      {
        name: "fabrikam-neu-pe-fabrikam-hub",
        original: "pe-fabrikam-hub",
        subnetId: SUBNET,
        connection: { name: "pe-fabrikam-hub-connection", groupIds: ["iotHub"], manual: false },
        dnsZoneGroups: [
          {
            name: "default",
            privateDnsZoneConfigs: [
              { name: "privatelink-azure-devices-net", privateDnsZoneId: `/subscriptions/${SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.azure-devices.net` },
              { name: "privatelink-servicebus-windows-net", privateDnsZoneId: `/subscriptions/${SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.servicebus.windows.net` },
            ],
          },
        ],
        tags: {},
      },
    ]);
  });

  it("role assignments: same principals, roles and principal types, with names stable per clone", () => {
    expect(a.roleAssignments.map((r) => [r.roleDefinitionGuid, r.principalId, r.principalType])).toEqual([
      ["4fc6c259-987e-4a07-842e-c321cc9d413f", "7c1e5a52-1111-4e6b-9c3d-0a1b2c3d4e5f", "ServicePrincipal"],
      ["b447c946-2db7-41ec-983d-d8bf3b1c77e3", "0f0e0d0c-2222-4b0a-8a09-080706050403", "Group"],
    ]);
    expect(a.roleAssignments[0].name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(planOf({ attachments: { privateEndpoints: { subnetId: SUBNET } } }).attachments!.roleAssignments[0].name).toBe(a.roleAssignments[0].name);
    expect(a.roleAssignments[0].name).not.toBe(a.roleAssignments[1].name);
    expect(stableGuid("a", "b")).not.toBe(stableGuid("a", "c"));
  });

  it("names what is not carried over, in warnings and the summary", () => {
    expect(plan.warnings).toContainEqual(expect.stringMatching(/^not carried over: resources\[12\] .*locks 'do-not-delete'/));
    expect(plan.summary.dropped).toContainEqual(expect.stringMatching(/privateendpointconnections/i));
    expect(plan.summary.carriedOver).toEqual(expect.arrayContaining([expect.stringMatching(/^Event Grid system topic fabrikam-neu-3f2a9c/), expect.stringMatching(/^private endpoint fabrikam-neu-pe-fabrikam-hub/)]));
  });
});

describe("what is left out, and why", () => {
  it("private endpoints without a subnet: the plan succeeds and warns, naming the setting and the flag", () => {
    const plan = planOf();
    expect(plan.errors).toEqual([]);
    expect(plan.attachments!.privateEndpoints).toEqual([]);
    expect(plan.warnings).toContainEqual(
      expect.stringMatching(/no private endpoint and, with public network access disabled, nothing will reach it; set iothub-clone:attachments\.privateEndpoints\.subnetId .*--private-endpoint-subnet ID/),
    );
  });

  it("zones given in config replace the original's", () => {
    const zone = `/subscriptions/${SUB}/resourceGroups/rg-dns-neu/providers/Microsoft.Network/privateDnsZones/privatelink.azure-devices.net`;
    const plan = planOf({ attachments: { privateEndpoints: { subnetId: SUBNET, privateDnsZoneIds: [zone] } } });
    expect(plan.attachments!.privateEndpoints[0].dnsZoneGroups).toEqual([{ name: "default", privateDnsZoneConfigs: [{ name: "privatelink-azure-devices-net", privateDnsZoneId: zone }] }]);
  });

  it("a WebHook URL from config brings the subscription back, kept out of the plain inputs", () => {
    const url = "https://ops.fabrikam.example/hooks/iot?code=c2VjcmV0";
    const plan = planOf({ attachments: { eventGrid: { webhookEndpointUrls: { "ops-webhook": url } } } });
    const hook = plan.attachments!.eventGrid!.subscriptions.find((s) => s.name === "ops-webhook")!;
    expect(hook.webhookEndpointUrl).toBe(url);
    expect(JSON.stringify(hook.inputs)).not.toContain("code=");
    expect(hook.inputs.destination).toEqual({ endpointType: "WebHook", maxEventsPerBatch: 1 });
  });

  it("each kind can be switched off, and says so", () => {
    const plan = planOf({ attachments: { eventGrid: { enabled: false }, diagnosticSettings: { enabled: false }, privateEndpoints: { enabled: false }, roleAssignments: { enabled: false } } });
    const a = plan.attachments!;
    expect([a.eventGrid, a.diagnosticSettings, a.privateEndpoints, a.roleAssignments]).toEqual([undefined, [], [], []]);
    expect(plan.summary.dropped).toEqual(
      expect.arrayContaining([
        "3 Event Grid subscriptions (attachments.eventGrid.enabled: false)",
        "2 diagnostic settings (attachments.diagnosticSettings.enabled: false)",
        "1 private endpoints (attachments.privateEndpoints.enabled: false)",
        "2 role assignments (attachments.roleAssignments.enabled: false)",
      ]),
    );
  });

  it("a hub-only export warns about what it cannot know", () => {
    const plan = planOf({}, path.join(dir, "hub-only-export.json"));
    expect(plan.attachments!.eventGrid).toBeUndefined();
    expect(plan.warnings).toContainEqual(
      expect.stringMatching(/^Event Grid subscriptions, diagnostic settings, private endpoints, role assignments of the original: this is a hub-only export, which does not contain them/),
    );
    expect(plan.warnings).toContainEqual(expect.stringMatching(/1 private endpoint connection\(s\) whose endpoints are not in this source: the clone will have no private endpoint/));
  });

  it("a GET body (no attachments at all) warns too", () => {
    const model = readHubFile(path.join(dir, "hub-only-export.json"), { context: { resourceGroup: "rg-iot", subscriptionId: SUB } });
    const config = parseCloneConfig({ source: { template: "x", resourceGroup: "rg-iot" }, devices: { enabled: false } });
    const plan = buildClonePlan({ ...model, attachments: undefined, format: "arm-resource" }, config);
    expect(plan.warnings).toContainEqual(expect.stringMatching(/of the original: this source does not list them, so the clone gets none/));
  });
});

describe("a plan from the live hub's ARM bodies (snapshot or live source)", () => {
  it("sends no nulls and no read-only fields; keeps delivery identities; the topic's identities map to {}", async () => {
    const fs = await import("fs");
    const { attachmentsFromArm } = await import("../../components/source/attachments");
    const live = JSON.parse(fs.readFileSync(path.join(dir, "arm-live.json"), "utf8")) as { hub: any; interactions: Interaction[] };
    const body = (suffix: string) => live.interactions.find((i) => i.path.endsWith(suffix))!.body as any;
    const topic = { ...body("/systemTopics").value[0], identity: { type: "UserAssigned", userAssignedIdentities: { "/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/eg": { principalId: "p", clientId: "c" } } } };
    const arm = {
      systemTopics: [{ ...topic, eventSubscriptions: body("/eventSubscriptions").value }],
      eventSubscriptions: [],
      diagnosticSettings: body("/diagnosticSettings").value,
      privateEndpoints: [{ ...body("/privateEndpoints/pe-fabrikam-hub"), privateDnsZoneGroups: body("/privateDnsZoneGroups").value }],
      roleAssignments: body("/roleAssignments").value,
    };
    const model = readHubFile(path.join(dir, "hub-only-export.json"), { context: { resourceGroup: "rg-iot", subscriptionId: SUB } });
    model.attachments = attachmentsFromArm(arm, "fabrikam-hub");
    const plan = buildClonePlan(model, parseCloneConfig({ source: { template: "x", resourceGroup: "rg-iot" }, clone: { name: "fabrikam-neu" }, devices: { enabled: false }, attachments: { privateEndpoints: { subnetId: SUBNET } } }));
    const a = plan.attachments!;
    const text = JSON.stringify(a);
    expect(text).not.toContain("null");
    expect(text).not.toMatch(/provisioningState|"topic"|metricResourceId|privateLinkServiceConnectionState/);
    expect(a.eventGrid!.identity).toEqual({ type: "UserAssigned", userAssignedIdentities: { "/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/eg": {} } });
    expect(a.eventGrid!.subscriptions[0].inputs.deadLetterWithResourceIdentity).toEqual({
      identity: { type: "UserAssigned", userAssignedIdentity: `/subscriptions/${SUB}/resourceGroups/rg-iot/providers/Microsoft.ManagedIdentity/userAssignedIdentities/eg-dl` },
      deadLetterDestination: { endpointType: "StorageBlob", resourceId: `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Storage/storageAccounts/fabrikamdl`, blobContainerName: "deadletters" },
    });
    // retention in diagnostic settings is retired: not sent
    expect(a.diagnosticSettings[0].inputs.logs).toEqual([{ category: "Connections", enabled: true }]);
    expect(plan.warnings.some((w) => /retention policy/.test(w))).toBe(false);
    expect(a.roleAssignments.map((r) => r.principalId)).toEqual(["7c1e5a52-1111-4e6b-9c3d-0a1b2c3d4e5f"]);
    expect(a.privateEndpoints[0].dnsZoneGroups[0].privateDnsZoneConfigs.map((c) => c.privateDnsZoneId.split("/").pop())).toEqual(["privatelink.azure-devices.net"]);
  });
});

describe("the clone stays silent until cutover: routes to shared endpoints", () => {
  it("lifecycle and twin-change routes to a kept endpoint are planned disabled, with a warning each", () => {
    const plan = planOf();
    const routes = (plan.hub.properties.routing as any).routes as Array<{ name: string; isEnabled: boolean }>;
    expect(Object.fromEntries(routes.map((r) => [r.name, r.isEnabled]))).toMatchObject({ lifecycle: false, twins: false, telemetry: true });
    expect(plan.warnings.filter((w) => /created disabled until cutover/.test(w))).toHaveLength(2);
    expect(plan.warnings).toContainEqual(expect.stringContaining("set iothub-clone:clone.sharedEventRoutes: enabled and run pulumi up"));
  });

  it("enabled when asked (clone.sharedEventRoutes: enabled)", () => {
    const plan = planOf({ clone: { sharedEventRoutes: "enabled" } });
    const routes = (plan.hub.properties.routing as any).routes as Array<{ name: string; isEnabled: boolean }>;
    expect(routes.find((r) => r.name === "lifecycle")!.isEnabled).toBe(true);
    expect(plan.warnings.some((w) => /until cutover/.test(w))).toBe(false);
  });

  it("a relocated endpoint is not shared: its routes stay enabled", () => {
    const plan = planOf();
    plan.endpoints[0].relocation = { endpointName: "lifecycle-queue", endpointKind: "serviceBusQueues", entityName: "device-lifecycle", identityBased: false };
    const routes = (plan.hub.properties.routing as any).routes as Array<{ name: string; isEnabled: boolean }>;
    routes.forEach((r) => (r.isEnabled = true));
    silenceSharedEventRoutes(plan, parseCloneConfig({ source: { template: "x" } }));
    expect(routes.every((r) => r.isEnabled)).toBe(true);
  });

  it("the config value is checked", () => {
    expect(() => parseCloneConfig({ source: { template: "x" }, clone: { sharedEventRoutes: "on" } })).toThrow(/clone\.sharedEventRoutes/);
  });

  it("webhook URLs in clear text in stack config are refused", async () => {
    const { plainTextCredentialFindings } = await import("../../components/config");
    const cfg = parseCloneConfig({ source: { template: "x" }, attachments: { eventGrid: { webhookEndpointUrls: { hook: "https://h?code=1" } } } });
    expect(plainTextCredentialFindings(cfg, new Set())).toEqual([expect.objectContaining({ field: "iothub-clone:attachments.eventGrid.webhookEndpointUrls.hook" })]);
    expect(plainTextCredentialFindings(cfg, new Set(["attachments"]))).toEqual([]);
  });
});

describe("RouteToEventGrid restore (real @azure/arm-iothub client, recorded responses)", () => {
  const HUB = `/subscriptions/${SUB}/resourceGroups/rg-iot/providers/Microsoft.Devices/IotHubs/fabrikam-neu`;
  const body = (routes: unknown[], etag: string) => ({
    id: HUB,
    name: "fabrikam-neu",
    type: "Microsoft.Devices/IotHubs",
    location: "northeurope",
    etag,
    sku: { name: "S1", capacity: 2 },
    properties: { routing: { endpoints: {}, routes, enrichments: [] }, provisioningState: "Succeeded" },
  });
  const telemetry = { name: "telemetry", source: "DeviceMessages", condition: "true", endpointNames: ["events"], isEnabled: true };
  const eventGridDefault = { name: "RouteToEventGrid", source: "DeviceMessages", condition: "true", endpointNames: ["eventgrid"], isEnabled: true };

  class HeaderTransport extends RecordedTransport {
    readonly ifMatch: Array<string | undefined> = [];
    async sendRequest(request: PipelineRequest) {
      if (request.method === "PUT") this.ifMatch.push(request.headers.get("if-match"));
      return super.sendRequest(request);
    }
  }
  const target = { resourceGroup: "rg-iot", hubName: "fabrikam-neu", route: { name: "RouteToEventGrid", condition: "$body.temperature > 30", endpointNames: ["eventgrid"], isEnabled: true } };

  it("waits for Event Grid to add the route, then writes the original's condition with If-Match", async () => {
    const interactions: Interaction[] = [
      { method: "GET", path: HUB, status: 200, body: body([telemetry], '"e1"') },
      { method: "GET", path: HUB, status: 200, body: body([telemetry, eventGridDefault], '"e2"') },
      { method: "PUT", path: HUB, status: 200, body: body([telemetry, { ...eventGridDefault, condition: "$body.temperature > 30" }], '"e3"') },
    ];
    const t = new HeaderTransport(interactions);
    const sleeps: number[] = [];
    const r = await restoreRouteCondition(iotHubClient({ subscriptionId: SUB, credential: new FakeCredential(), httpClient: t }), target, { pollMs: 5, sleep: async (ms) => void sleeps.push(ms) });
    expect(r).toEqual({ condition: "$body.temperature > 30", written: true });
    expect(sleeps).toEqual([5]);
    expect(t.ifMatch).toEqual(['"e2"']);
    const put = t.sent.find((s) => s.method === "PUT")!.body as any;
    expect(put.properties.routing.routes).toEqual([telemetry, { ...eventGridDefault, condition: "$body.temperature > 30" }]);
  });

  it("writes nothing when the condition is already there (a later run)", async () => {
    const t = new HeaderTransport([{ method: "GET", path: HUB, status: 200, body: body([{ ...eventGridDefault, condition: "$body.temperature > 30" }], '"e9"') }]);
    const r = await restoreRouteCondition(iotHubClient({ subscriptionId: SUB, credential: new FakeCredential(), httpClient: t }), target, { sleep: async () => {} });
    expect(r.written).toBe(false);
    expect(t.sent.map((s) => s.method)).toEqual(["GET"]);
  });

  it("a route that never appears fails with the reason and the condition to restore", async () => {
    const t = new HeaderTransport([{ method: "GET", path: HUB, status: 200, body: body([telemetry], '"e1"') }]);
    await expect(
      restoreRouteCondition(iotHubClient({ subscriptionId: SUB, credential: new FakeCredential(), httpClient: t }), target, { timeoutMs: 0, sleep: async () => {} }),
    ).rejects.toThrow(/route RouteToEventGrid did not appear on fabrikam-neu .*DeviceTelemetry.*'\$body.temperature > 30'/);
  });
});

describe("components under Pulumi's mocks: inputs and order as registered", () => {
  interface Reg {
    type: string;
    name: string;
    inputs: Record<string, any>;
    dependsOn: string[];
  }
  const regs: Reg[] = [];
  let attachments: AttachmentsPlan;
  let cloneLive: Record<string, unknown> | undefined;

  beforeAll(async () => {
    const plan = planOf({ attachments: { privateEndpoints: { subnetId: SUBNET } } });
    attachments = plan.attachments!;
    await pulumi.runtime.setMocks(
      {
        // `name` as Azure reports it: the resource's own name input (as the offline plan does).
        newResource: (args) => ({ id: `${args.name}-id`, state: { ...args.inputs, name: args.inputs[NAME_INPUT[args.type] ?? "name"] ?? args.name } }),
        // getIotHubResource: the clone as ARM would answer (404 on a first run).
        call: (args) => {
          if (args.token !== "azure-native:iothub:getIotHubResource") return {};
          if (!cloneLive) throw Object.assign(new Error("ResourceNotFound"), { details: "Status=404 Code=\"ResourceNotFound\"" });
          return cloneLive;
        },
      },
      "iothub-clone",
      "attachments-test",
      false,
    );
    const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitor;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, cb: any) => {
      regs.push({ type: req.getType(), name: req.getName(), inputs: req.getObject()?.toJavaScript() ?? {}, dependsOn: req.getDependenciesList() });
      return register(req, cb);
    };
    const { declareAttachments } = await import("../../components/clone/attachments");
    class Stand extends pulumi.CustomResource {
      constructor(type: string, name: string) {
        super(type, name, {});
      }
    }
    const hub = new Stand("azure-native:iothub:IotHubResource", "hub");
    const group = new Stand("azure-native:iothub:IotHubResourceEventHubConsumerGroup", "group");
    const devices = new Stand("iothub-clone:index:DeviceMigration", "devices");
    declareAttachments(
      "clone-attached",
      {
        plan: attachments,
        hubId: `/subscriptions/${SUB}/resourceGroups/rg-iot/providers/Microsoft.Devices/IotHubs/fabrikam-neu`,
        resourceGroupName: "rg-iot",
        location: "northeurope",
        subscriptionId: SUB,
        hubOperations: [hub, group],
        deviceMigration: devices,
      },
      {},
    );
    // Let every registration reach the mock monitor.
    await new Promise((r) => setTimeout(r, 1500));
  }, 30_000);

  const urn = (name: string) => expect.stringContaining(`::${name}`);
  const of = (type: string) => regs.filter((r) => r.type === type);

  it("Event Grid subscriptions wait for the device copy, one after another; the route restore waits for them and the private endpoint", () => {
    const topic = of("azure-native:eventgrid:SystemTopic")[0];
    expect(topic.inputs).toMatchObject({ systemTopicName: "fabrikam-neu-3f2a9c", location: "northeurope", topicType: "Microsoft.Devices.IoTHubs", source: expect.stringMatching(/IotHubs\/fabrikam-neu$/) });
    const subs = of("azure-native:eventgrid:SystemTopicEventSubscription");
    expect(subs.map((s) => s.inputs.eventSubscriptionName)).toEqual(["hot-devices", "legacy-created"]);
    expect(subs[0].dependsOn).toEqual(expect.arrayContaining([urn("devices")]));
    expect(subs[0].dependsOn).not.toContainEqual(urn("clone-attached-eventgrid-legacy-created"));
    expect(subs[1].dependsOn).toEqual(expect.arrayContaining([urn("devices"), urn("clone-attached-eventgrid-hot-devices")]));
    expect(subs[0].inputs).toMatchObject({ systemTopicName: "fabrikam-neu-3f2a9c", destination: { endpointType: "AzureFunction" }, filter: { advancedFilters: expect.any(Array) } });
    const route = regs.filter((r) => r.type.endsWith(":RouteToEventGridCondition"))[0];
    expect(route.inputs).toMatchObject({ condition: "$body.temperature > 30", routeName: "RouteToEventGrid", hubId: expect.stringMatching(/fabrikam-neu$/) });
    expect(route.dependsOn).toEqual(expect.arrayContaining([urn("clone-attached-eventgrid-hot-devices"), urn("clone-attached-eventgrid-legacy-created"), urn("clone-attached-private-endpoints")]));
  });

  it("RouteToEventGrid in the hub's desired routes: not on a first run, kept with the original's condition once the clone has it", async () => {
    const { routingWithEventGridRoute } = await import("../../components/clone/event-grid-route");
    const route = attachments.eventGrid!.route!;
    const routing = { routes: [{ name: "telemetry", source: "DeviceMessages", endpointNames: ["events"], isEnabled: true }], enrichments: [] };
    const routesOf = (r: Record<string, unknown>) => (r.routes as any).promise() as Promise<Array<{ name: string; condition?: string }>>;
    cloneLive = undefined;
    expect((await routesOf(routingWithEventGridRoute(routing, route, { resourceGroupName: "rg-iot", resourceName: "fabrikam-neu" }, {}))).map((r) => r.name)).toEqual(["telemetry"]);
    cloneLive = { name: "fabrikam-neu", properties: { routing: { routes: [{ name: "RouteToEventGrid", condition: "true", endpointNames: ["eventgrid"], isEnabled: true }] } } };
    const later = await routesOf(routingWithEventGridRoute(routing, route, { resourceGroupName: "rg-iot", resourceName: "fabrikam-neu" }, {}));
    expect(later).toEqual([routing.routes[0], { name: "RouteToEventGrid", source: "DeviceMessages", condition: "$body.temperature > 30", endpointNames: ["eventgrid"], isEnabled: true }]);
    // The clone exists without the route (subscriptions not created yet): left out, as on create.
    cloneLive = { name: "fabrikam-neu", properties: { routing: { routes: [] } } };
    expect((await routesOf(routingWithEventGridRoute(routing, route, { resourceGroupName: "rg-iot", resourceName: "fabrikam-neu" }, {}))).map((r) => r.name)).toEqual(["telemetry"]);
    // Any other failure of the read is not "absent".
    cloneLive = undefined;
    const { cloneHasRoute } = await import("../../components/clone/event-grid-route");
    await expect(cloneHasRoute({ resourceGroupName: "rg-iot", resourceName: "fabrikam-neu", routeName: "RouteToEventGrid" }, {})).resolves.toBe(false);
  });

  it("without a planned restore, the original's route is still kept once the clone has it (subscriptions being removed)", async () => {
    const { routeToKeep } = await import("../../components/clone/event-grid-route");
    const plan = planOf({ attachments: { eventGrid: { enabled: false } } });
    expect(plan.attachments!.eventGrid).toBeUndefined();
    expect(routeToKeep(plan)).toEqual({ name: "RouteToEventGrid", source: "DeviceMessages", condition: "$body.temperature > 30", endpointNames: ["eventgrid"], isEnabled: true });
    expect(routeToKeep(planOf({}, path.join(dir, "hub-only-export.json")))?.name).toBe("RouteToEventGrid");
  });

  it("role assignments and diagnostic settings do not wait for the devices", () => {
    const roles = of("azure-native:authorization:RoleAssignment").sort((x, y) => String(x.inputs.principalType).localeCompare(String(y.inputs.principalType))).reverse();
    expect(roles.map((r) => [r.inputs.principalId, r.inputs.principalType, r.inputs.roleDefinitionId])).toEqual([
      ["7c1e5a52-1111-4e6b-9c3d-0a1b2c3d4e5f", "ServicePrincipal", `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/4fc6c259-987e-4a07-842e-c321cc9d413f`],
      ["0f0e0d0c-2222-4b0a-8a09-080706050403", "Group", `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/b447c946-2db7-41ec-983d-d8bf3b1c77e3`],
    ]);
    expect(roles[0].inputs.scope).toMatch(/IotHubs\/fabrikam-neu$/);
    const diags = of("azure-native:monitor:DiagnosticSetting");
    expect(diags.map((d) => d.inputs.name).sort()).toEqual(["archive", "to-logs"]);
    expect(diags[0].inputs.resourceUri).toMatch(/IotHubs\/fabrikam-neu$/);
    for (const r of [...roles, ...diags]) expect(r.dependsOn).not.toContainEqual(urn("devices"));
  });

  it("the private endpoint waits for the hub's other operations; its DNS zone group names the zones", () => {
    const pe = of("azure-native:network:PrivateEndpoint")[0];
    expect(pe.inputs).toMatchObject({
      privateEndpointName: "fabrikam-neu-pe-fabrikam-hub",
      location: "northeurope",
      subnet: { id: SUBNET },
      privateLinkServiceConnections: [{ name: "pe-fabrikam-hub-connection", groupIds: ["iotHub"], privateLinkServiceId: expect.stringMatching(/IotHubs\/fabrikam-neu$/) }],
    });
    expect(pe.dependsOn).toEqual(expect.arrayContaining([urn("hub"), urn("group")]));
    const group = of("azure-native:network:PrivateDnsZoneGroup")[0];
    expect(group.inputs.privateDnsZoneConfigs.map((c: any) => c.privateDnsZoneId.split("/").pop())).toEqual(["privatelink.azure-devices.net", "privatelink.servicebus.windows.net"]);
  });
});

describe("the real program through the offline plan", () => {
  let plan: PlanResult;
  let enabled: PlanResult;
  let webhook: PlanResult;
  beforeAll(async () => {
    const base = { template: exportFile, location: "northeurope", name: "fabrikam-neu", sourceResourceGroup: "rg-iot", sourceSubscription: SUB };
    [plan, enabled, webhook] = await Promise.all([
      runPlan({ ...base, privateEndpointSubnet: SUBNET }),
      runPlan({ ...base, sharedEventRoutes: "enabled" }),
      runPlan({ stackFile: path.join(dir, "Pulumi.attachments.yaml"), template: exportFile }),
    ]);
  }, 400_000);

  it("a WebHook URL from a secret stack value is planned and never printed", () => {
    expect(webhook.errors).toEqual([]);
    const hook = webhook.resources.find((r) => r.type === "azure-native:eventgrid:SystemTopicEventSubscription" && (r.inputs as any).eventSubscriptionName === "ops-webhook")!;
    expect(hook).toBeDefined();
    // the plan shows a secret object's shape and masks the URL in it
    expect((hook.inputs as any).destination).toEqual({ endpointType: "WebHook", endpointUrl: "[secret]", maxEventsPerBatch: 1 });
    expect(JSON.stringify(webhook)).not.toContain("offline-plan-secret");
  });

  it("lists the attached resources with the rest", () => {
    expect(plan.errors).toEqual([]);
    const types = plan.resources.map((r) => r.type);
    for (const t of [
      "azure-native:eventgrid:SystemTopic",
      "azure-native:eventgrid:SystemTopicEventSubscription",
      "azure-native:monitor:DiagnosticSetting",
      "azure-native:network:PrivateEndpoint",
      "azure-native:network:PrivateDnsZoneGroup",
      "azure-native:authorization:RoleAssignment",
      "pulumi-nodejs:dynamic/hubclone:RouteToEventGridCondition",
    ])
      expect(types).toContain(t);
    expect(plan.resources.find((r) => r.type === "azure-native:network:PrivateEndpoint")!.inputs).toMatchObject({ privateEndpointName: "fabrikam-neu-pe-fabrikam-hub", subnet: { id: SUBNET } });
    expect(plan.resources.find((r) => r.type.endsWith(":RouteToEventGridCondition"))!.inputs).toMatchObject({ condition: "$body.temperature > 30" });
  });

  it("the hub is created without RouteToEventGrid and with the shared routes disabled; enabled when asked", () => {
    const routes = (p: PlanResult) => (p.resources.find((r) => r.type === "azure-native:iothub:IotHubResource")!.inputs as any).properties.routing.routes as Array<{ name: string; isEnabled: boolean }>;
    expect(routes(plan).map((r) => r.name)).not.toContain("RouteToEventGrid");
    expect(routes(plan).find((r) => r.name === "lifecycle")!.isEnabled).toBe(false);
    expect(routes(enabled).find((r) => r.name === "lifecycle")!.isEnabled).toBe(true);
    expect(plan.warnings).toContainEqual(expect.stringMatching(/route lifecycle .* created disabled until cutover/));
  });

  it("without --private-endpoint-subnet the plan still succeeds and warns", () => {
    expect(enabled.errors).toEqual([]);
    expect(enabled.resources.some((r) => r.type === "azure-native:network:PrivateEndpoint")).toBe(false);
    expect(enabled.warnings).toContainEqual(expect.stringMatching(/attachments\.privateEndpoints\.subnetId .*--private-endpoint-subnet ID/));
  });

  it("the summary says what was attached and what was left out", () => {
    expect(plan.summary?.carriedOver).toEqual(expect.arrayContaining([expect.stringMatching(/^Event Grid subscription hot-devices/), expect.stringMatching(/^diagnostic setting to-logs/)]));
    expect(plan.summary?.dropped).toEqual(expect.arrayContaining([expect.stringMatching(/^Event Grid subscription ops-webhook/)]));
  });
});
