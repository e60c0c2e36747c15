/**
 * Restores the original's `RouteToEventGrid` condition on the clone, after the clone's Event
 * Grid subscriptions exist. Loaded with `require()` inside the dynamic provider host (see
 * event-grid-route.ts), so ordinary imports are fine here.
 *
 * Why out of band: IoT Hub creates this route itself with the first telemetry subscription; a
 * hub create body that carries it fails, and an update that leaves it out while it exists fails
 * with 400126 "Cannot add or remove default routes" (shared/reference/service-behaviours.md §12;
 * microsoft/Azure-Percept-Reference-Solutions#18; hashicorp/terraform-provider-azurerm#11800).
 * So the hub is created without it; once Event Grid has added it, this GETs the hub, sets the
 * condition, and PUTs the body back with `If-Match` on the etag: the read-modify-write that
 * `az iot hub route update` does (azure-cli, iot custom.py: get the hub, edit
 * properties.routing.routes, begin_create_or_update with if_match=hub.etag).
 */
import type { IotHubClient } from "@azure/arm-iothub";

export interface RouteTarget {
  resourceGroup: string;
  hubName: string;
  route: { name: string; condition: string; endpointNames: string[]; isEnabled: boolean };
}

export interface RestoreOptions {
  /** How long to wait for Event Grid to add the route (it follows the subscription by seconds). */
  timeoutMs?: number;
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface RestoreResult {
  condition: string;
  /** False when the route already had the condition (nothing written). */
  written: boolean;
}

function status(e: unknown): number | undefined {
  return (e as { statusCode?: number }).statusCode;
}

export async function restoreRouteCondition(client: IotHubClient, t: RouteTarget, o: RestoreOptions = {}): Promise<RestoreResult> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
  const pollMs = o.pollMs ?? 15_000;
  for (let attempt = 0; ; attempt++) {
    const hub = await client.iotHubResource.get(t.resourceGroup, t.hubName);
    const routes = hub.properties?.routing?.routes ?? [];
    const route = routes.find((r) => r.name.toLowerCase() === t.route.name.toLowerCase());
    if (!route) {
      if (Date.now() >= deadline)
        throw new Error(
          `route ${t.route.name} did not appear on ${t.hubName} after its Event Grid subscriptions were created; check that a subscription receives Microsoft.Devices.DeviceTelemetry, then run pulumi up again (the condition to restore is '${t.route.condition}')`,
        );
      await sleep(pollMs);
      continue;
    }
    if (route.condition === t.route.condition && route.isEnabled === t.route.isEnabled) return { condition: t.route.condition, written: false };
    route.condition = t.route.condition;
    route.isEnabled = t.route.isEnabled;
    try {
      await client.iotHubResource.beginCreateOrUpdateAndWait(t.resourceGroup, t.hubName, hub, { ifMatch: hub.etag });
      return { condition: t.route.condition, written: true };
    } catch (e) {
      // 412: someone changed the hub between our GET and PUT; 409: another operation on the hub
      // is running (IoT Hub serializes them). Read again and retry, within the deadline.
      if ((status(e) === 412 || status(e) === 409) && Date.now() < deadline && attempt < 20) {
        await sleep(pollMs);
        continue;
      }
      throw e;
    }
  }
}

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{name}` → parts. */
export function parseHubId(id: string): { subscriptionId: string; resourceGroup: string; name: string } {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Devices\/IotHubs\/([^/]+)$/i.exec(id);
  if (!m) throw new Error(`'${id}' is not an IoT hub resource id`);
  return { subscriptionId: m[1], resourceGroup: m[2], name: m[3] };
}

interface Inputs {
  hubId: string;
  routeName: string;
  condition: string;
  endpointNames: string[];
  isEnabled: boolean;
  timeoutMinutes?: number;
}

async function apply(inputs: Inputs): Promise<RestoreResult> {
  const { iotHubClient } = require("../operations/arm") as typeof import("../operations/arm");
  const at = parseHubId(inputs.hubId);
  const client = iotHubClient({ subscriptionId: at.subscriptionId });
  return restoreRouteCondition(
    client,
    { resourceGroup: at.resourceGroup, hubName: at.name, route: { name: inputs.routeName, condition: inputs.condition, endpointNames: inputs.endpointNames, isEnabled: inputs.isEnabled } },
    { timeoutMs: (inputs.timeoutMinutes ?? 10) * 60_000 },
  );
}

export async function create(inputs: Inputs) {
  const r = await apply(inputs);
  return { id: `${inputs.hubId}/routes/${inputs.routeName}`, outs: { ...inputs, written: r.written } };
}

export async function diff(_id: string, olds: Inputs, news: Inputs) {
  const replaces = olds.hubId !== news.hubId ? ["hubId"] : [];
  const changes = replaces.length > 0 || olds.condition !== news.condition || olds.isEnabled !== news.isEnabled || olds.routeName !== news.routeName;
  return { changes, replaces, deleteBeforeReplace: false };
}

export async function update(_id: string, _olds: Inputs, news: Inputs) {
  const r = await apply(news);
  return { outs: { ...news, written: r.written } };
}
