/**
 * Lists what is attached to the live hub through Azure Resource Manager (read-only: GETs and
 * list calls only): the Event Grid system topic whose source is the hub and its subscriptions,
 * subscriptions made on the hub itself, diagnostic settings, the private endpoints connected to
 * the hub (with their DNS zone groups) and the role assignments made exactly at the hub's scope.
 *
 * Bodies are kept exactly as ARM sent them (parsed JSON, not the SDK's models): the snapshot
 * stores them for review, and `components/source/attachments.ts` reads that ARM shape.
 */
import type { TokenCredential } from "@azure/core-auth";
import type { ArmAttachments, ArmBody } from "../source/attachments";
import { targetsHub } from "../source/attachments";
import type { ArmOptions } from "./arm";

type Obj = Record<string, any>;

/** The four clients, built like the others in ./arm.ts (one transport for recorded tests). */
export interface AttachmentClients {
  eventGrid: import("@azure/arm-eventgrid").EventGridManagementClient;
  monitor: import("@azure/arm-monitor").MonitorClient;
  network: import("@azure/arm-network").NetworkManagementClient;
  authorization: import("@azure/arm-authorization").AuthorizationManagementClient;
}

export function attachmentClients(o: ArmOptions): AttachmentClients {
  const { EventGridManagementClient } = require("@azure/arm-eventgrid") as typeof import("@azure/arm-eventgrid");
  const { MonitorClient } = require("@azure/arm-monitor") as typeof import("@azure/arm-monitor");
  const { NetworkManagementClient } = require("@azure/arm-network") as typeof import("@azure/arm-network");
  const { AuthorizationManagementClient } = require("@azure/arm-authorization") as typeof import("@azure/arm-authorization");
  const credential: TokenCredential = o.credential ?? new (require("@azure/identity") as typeof import("@azure/identity")).DefaultAzureCredential();
  const options = {
    ...(o.httpClient ? { httpClient: o.httpClient, retryOptions: { maxRetries: 0 } } : {}),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
  };
  return {
    eventGrid: new EventGridManagementClient(credential, o.subscriptionId, options),
    monitor: new MonitorClient(credential, o.subscriptionId, options),
    network: new NetworkManagementClient(credential, o.subscriptionId, options),
    authorization: new AuthorizationManagementClient(credential, o.subscriptionId, options),
  };
}

type RawResponse = { bodyAsText?: string | null; parsedBody?: unknown; status?: number };

/**
 * Every item of a paged list, as ARM sent it. The SDK drives the paging; each page's raw body is
 * caught through `onResponse` (both SDK generations call it per request).
 */
async function rawList(list: (onResponse: (r: RawResponse) => void) => AsyncIterable<unknown>): Promise<ArmBody[]> {
  const pages: ArmBody[][] = [];
  let count = 0;
  for await (const _ of list((r) => {
    const text = r.bodyAsText ?? (r.parsedBody !== undefined ? JSON.stringify(r.parsedBody) : undefined);
    if (!text) return;
    const body = JSON.parse(text) as { value?: ArmBody[] };
    if (Array.isArray(body.value)) pages.push(body.value);
  })) {
    void _;
    count++;
  }
  const items = pages.flat();
  if (items.length !== count) throw new Error(`ARM list returned ${count} items but ${items.length} raw bodies were caught`);
  return items;
}

async function rawGet(get: (onResponse: (r: RawResponse) => void) => Promise<unknown>): Promise<ArmBody> {
  let text: string | undefined;
  await get((r) => {
    text = r.bodyAsText ?? (r.parsedBody !== undefined ? JSON.stringify(r.parsedBody) : undefined);
  });
  if (!text) throw new Error("ARM returned no body");
  return JSON.parse(text) as ArmBody;
}

/** `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/name` → rg, name. */
function privateEndpointCoordinates(id: string): { resourceGroup: string; name: string } | undefined {
  const m = /\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/privateEndpoints\/([^/]+)$/i.exec(id);
  return m ? { resourceGroup: m[1], name: m[2] } : undefined;
}

export interface LiveHub {
  /** ARM id of the hub. */
  id: string;
  resourceGroup: string;
  name: string;
  /** The hub's GET body (its private endpoint connections name the endpoints). */
  body: Obj;
}

/** Lists the hub's attachments. Read-only on everything it touches. */
export async function listHubAttachments(c: AttachmentClients, hub: LiveHub): Promise<ArmAttachments> {
  const out: ArmAttachments = { systemTopics: [], eventSubscriptions: [], diagnosticSettings: [], privateEndpoints: [], roleAssignments: [] };

  // Event Grid: the hub's system topic lives in the hub's resource group (Event Grid creates it there).
  const topics = await rawList((onResponse) => c.eventGrid.systemTopics.listByResourceGroup(hub.resourceGroup, { onResponse }));
  for (const t of topics) {
    if (!targetsHub(t.properties?.source, hub.name)) continue;
    const subs = await rawList((onResponse) => c.eventGrid.systemTopicEventSubscriptions.listBySystemTopic(hub.resourceGroup, t.name, { onResponse }));
    out.systemTopics.push({ ...t, eventSubscriptions: subs });
  }
  out.eventSubscriptions = await rawList((onResponse) =>
    c.eventGrid.eventSubscriptions.listByResource(hub.resourceGroup, "Microsoft.Devices", "IotHubs", hub.name, { onResponse }),
  );

  // Scope parameters go into `/{resourceUri}/providers/…` URL templates: pass the id without its
  // leading slash, or the request path starts with `//`.
  const scope = hub.id.replace(/^\/+/, "");
  out.diagnosticSettings = await rawList((onResponse) => c.monitor.diagnosticSettings.list(scope, { onResponse }));

  const connections = (hub.body?.properties?.privateEndpointConnections ?? []) as Obj[];
  for (const conn of connections) {
    const peId = conn?.properties?.privateEndpoint?.id as string | undefined;
    const at = peId ? privateEndpointCoordinates(peId) : undefined;
    if (!at) continue;
    const pe = await rawGet((onResponse) => c.network.privateEndpoints.get(at.resourceGroup, at.name, { onResponse }));
    const groups = await rawList((onResponse) => c.network.privateDnsZoneGroups.list(at.resourceGroup, at.name, { onResponse }));
    out.privateEndpoints.push({ ...pe, privateDnsZoneGroups: groups });
  }

  // atScope() also returns assignments inherited from above: keep those made at the hub itself.
  const assignments = await rawList((onResponse) => c.authorization.roleAssignments.listForScope(scope, { filter: "atScope()", onResponse }));
  out.roleAssignments = assignments.filter((r) => String(r.properties?.scope ?? "").toLowerCase() === hub.id.toLowerCase());
  return out;
}
