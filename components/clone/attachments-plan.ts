/**
 * What is attached to the original (HubAttachments) + stack config → what the clone gets: the
 * inputs of the Event Grid, diagnostic-setting, private-endpoint and role-assignment components,
 * with a line in the summary for each thing attached or left out, and why. Pure data, no Pulumi.
 *
 * Also the first half of "the clone stays silent until cutover": routes of device lifecycle and
 * twin-change events to endpoints the clone shares with the original are planned disabled
 * (`silenceSharedEventRoutes`). The other half is ordering: the clone's Event Grid subscriptions
 * wait for the device copy (hub-clone.ts wires that).
 */
import * as crypto from "crypto";
import type { CloneConfig } from "../config";
import { getCI, isObj, type HubAttachments } from "../source/attachments";
import type { HubModel } from "../source/model";
import type { ClonePlan } from "./types";

type Obj = Record<string, unknown>;

export interface EventSubscriptionPlan {
  name: string;
  /** azure-native SystemTopicEventSubscription inputs other than names (destination flattened). */
  inputs: Obj;
  /** A WebHook URL (it carries its key): always a Pulumi secret; never in `inputs`. */
  webhookEndpointUrl?: string;
}

export interface EventGridPlan {
  systemTopicName: string;
  /** azure-native IdentityInfo of the clone's topic (delivery/dead-letter with the topic's identity). */
  identity?: Obj;
  tags: Record<string, string>;
  subscriptions: EventSubscriptionPlan[];
  /**
   * The original's `RouteToEventGrid`, to restore on the clone once Event Grid has created the
   * route (it appears with the first telemetry subscription; the create body may not carry it).
   */
  route?: { name: string; source: string; condition: string; endpointNames: string[]; isEnabled: boolean };
}

export interface DiagnosticSettingPlan {
  name: string;
  /** azure-native monitor DiagnosticSetting inputs other than name and resourceUri. */
  inputs: Obj;
}

export interface PrivateEndpointPlan {
  /** Name of the clone's endpoint (the original's keeps its own). */
  name: string;
  original: string;
  subnetId: string;
  connection: { name: string; groupIds: string[]; requestMessage?: string; manual: boolean };
  dnsZoneGroups: Array<{ name: string; privateDnsZoneConfigs: Array<{ name: string; privateDnsZoneId: string }> }>;
  tags: Record<string, string>;
}

export interface RoleAssignmentPlan {
  /** GUID name of the clone's assignment: stable per (clone, principal, role), so re-runs keep it. */
  name: string;
  original: string;
  roleDefinitionGuid: string;
  principalId: string;
  principalType?: string;
  description?: string;
  condition?: string;
  conditionVersion?: string;
}

export interface AttachmentsPlan {
  eventGrid?: EventGridPlan;
  diagnosticSettings: DiagnosticSettingPlan[];
  privateEndpoints: PrivateEndpointPlan[];
  roleAssignments: RoleAssignmentPlan[];
}

/** Route sources whose events the device import itself raises on the clone, once per device. */
export const IMPORT_EVENT_SOURCES = ["DeviceLifecycleEvents", "TwinChangeEvents", "DigitalTwinChangeEvents"];

function lastSegment(id: string): string {
  const parts = id.split("/").filter(Boolean);
  return parts[parts.length - 1] ?? id;
}
/** Drops undefined and null, deeply: ARM bodies carry `null` for unset fields (`categoryGroup: null`), which are not inputs. */
function defined(o: Obj): Obj {
  const deep = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(deep) : isObj(v) ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined && x !== null).map(([k, x]) => [k, deep(x)])) : v;
  return deep(o) as Obj;
}

/**
 * ARM's `{endpointType, properties: {…}}` → azure-native's flattened input (the provider flattens
 * `properties` of destinations, dead-letter destinations and delivery attribute mappings).
 */
export function flattenArm(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(flattenArm);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "properties" && isObj(x)) Object.assign(out, flattenArm(x) as Obj);
    else out[k] = flattenArm(x);
  }
  return out;
}

/** Deterministic GUID from text (RFC 4122 layout over SHA-1), like ARM templates' guid(). */
export function stableGuid(...parts: string[]): string {
  const h = crypto.createHash("sha1").update(parts.join("|").toLowerCase()).digest("hex");
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Event Grid names: 3–64 of letters, digits and hyphens (system topic and subscription rules). */
function topicNameFor(original: string | undefined, originalHub: string, cloneName: string): string {
  let name: string;
  if (!original) name = `${cloneName}-events`;
  else if (original.toLowerCase().startsWith(originalHub.toLowerCase())) name = cloneName + original.slice(originalHub.length);
  else name = `${cloneName}-${original}`;
  name = name.replace(/[^A-Za-z0-9-]/g, "-");
  if (name.toLowerCase() === (original ?? "").toLowerCase()) name = `${name}-clone`;
  return name.slice(0, 64);
}

/** Subscriptions that make IoT Hub create `RouteToEventGrid`: those that receive telemetry (no type filter = all types). */
function receivesTelemetry(properties: Obj): boolean {
  const types = getCI(getCI(properties, "filter"), "includedEventTypes");
  if (!Array.isArray(types) || types.length === 0) return true;
  return types.some((t) => String(t).toLowerCase() === "microsoft.devices.devicetelemetry");
}

interface Sink {
  warn(line: string): void;
  carried(line: string): void;
  dropped(line: string): void;
}

function planEventGrid(a: HubAttachments, model: HubModel, config: CloneConfig, cloneName: string, sink: Sink, clonePlan: ClonePlan): EventGridPlan | undefined {
  const cfg = config.attachments.eventGrid;
  const subs = a.eventSubscriptions;
  if (!cfg.enabled) {
    if (subs.length) sink.dropped(`${subs.length} Event Grid subscriptions (attachments.eventGrid.enabled: false)`);
    return undefined;
  }
  if (!subs.length) return undefined;
  const plan: EventGridPlan = {
    systemTopicName: topicNameFor(a.systemTopic?.name, model.name, cloneName),
    tags: { ...(a.systemTopic?.tags ?? {}) },
    subscriptions: [],
  };
  const identity = a.systemTopic?.identity;
  if (isObj(identity) && String(getCI(identity, "type") ?? "None") !== "None") {
    // User-assigned identities keyed by id; their principal/client ids are Azure's (read-only), so each maps to {}.
    const uai = getCI(identity, "userAssignedIdentities");
    plan.identity = defined({ type: getCI(identity, "type"), userAssignedIdentities: isObj(uai) ? Object.fromEntries(Object.keys(uai).map((k) => [k, {}])) : undefined });
  }
  const urls = cfg.webhookEndpointUrls ?? {};
  for (const s of subs) {
    const p = s.properties;
    const destination = flattenArm(getCI(p, "destination")) as Obj | undefined;
    const delivery = flattenArm(getCI(p, "deliveryWithResourceIdentity")) as Obj | undefined;
    const target = (delivery?.destination as Obj | undefined) ?? destination;
    let webhookEndpointUrl: string | undefined;
    if (target && String(target.endpointType ?? "").toLowerCase() === "webhook") {
      // ARM returns only `endpointBaseUrl` (read-only): the full URL, with its key, is write-only.
      webhookEndpointUrl = typeof target.endpointUrl === "string" && target.endpointUrl ? target.endpointUrl : urls[s.name];
      delete target.endpointUrl;
      delete target.endpointBaseUrl;
      if (!webhookEndpointUrl) {
        sink.warn(
          `Event Grid subscription ${s.name} is left out: its WebHook URL is write-only in Azure and the source does not have it; set it as a secret: pulumi config set --path --secret 'iothub-clone:attachments.eventGrid.webhookEndpointUrls.${s.name}' <url>`,
        );
        sink.dropped(`Event Grid subscription ${s.name} (WebHook URL unknown: attachments.eventGrid.webhookEndpointUrls.${s.name})`);
        continue;
      }
    }
    const mappings = target?.deliveryAttributeMappings;
    if (Array.isArray(mappings)) {
      const hidden = mappings.filter((m) => isObj(m) && m.isSecret === true && (m.value === undefined || m.value === null));
      if (hidden.length) {
        target!.deliveryAttributeMappings = mappings.filter((m) => !hidden.includes(m));
        sink.warn(`Event Grid subscription ${s.name}: secret delivery attributes ${hidden.map((m) => (m as Obj).name).join(", ")} are not returned by Azure; add them to the clone's subscription by hand`);
      }
    }
    if (delivery && String(getCI(getCI(delivery, "identity"), "type") ?? "").toLowerCase() === "systemassigned") {
      sink.warn(`Event Grid subscription ${s.name} delivers with the system topic's system-assigned identity: the clone's topic ${plan.systemTopicName} gets a new identity, which needs the same role on the destination before events flow`);
    }
    const expires = getCI(p, "expirationTimeUtc");
    if (typeof expires === "string" && Date.parse(expires) < Date.now()) sink.warn(`Event Grid subscription ${s.name} expired at ${expires}; the clone's copy is created already expired`);
    const inputs = defined({
      destination,
      filter: getCI(p, "filter"),
      labels: getCI(p, "labels"),
      eventDeliverySchema: getCI(p, "eventDeliverySchema"),
      retryPolicy: getCI(p, "retryPolicy"),
      expirationTimeUtc: expires,
      deadLetterDestination: flattenArm(getCI(p, "deadLetterDestination")),
      deliveryWithResourceIdentity: delivery,
      deadLetterWithResourceIdentity: flattenArm(getCI(p, "deadLetterWithResourceIdentity")),
    });
    plan.subscriptions.push({ name: s.name, inputs, ...(webhookEndpointUrl ? { webhookEndpointUrl } : {}) });
    sink.carried(`Event Grid subscription ${s.name} (${String(target?.endpointType ?? "destination")}; created after the device copy)`);
  }
  if (!plan.subscriptions.length) return undefined;
  sink.carried(`Event Grid system topic ${plan.systemTopicName} (the clone's; the original's ${a.systemTopic?.name ?? "hub-scoped subscriptions"} stays)`);
  if (subs.some((s) => s.form === "hubScoped"))
    sink.warn("Event Grid subscriptions made on the original hub itself (the older form) are created on the clone under its system topic, the form Event Grid uses today");

  // The transform keeps the original's route out of the create body (plan.eventGridRoute, 400126).
  const route = clonePlan.eventGridRoute?.route ?? model.properties.routing?.routes.find((r) => r.name.toLowerCase() === "routetoeventgrid");
  if (route) {
    if (plan.subscriptions.some((s) => receivesTelemetry(s.inputs))) {
      plan.route = { name: route.name, source: route.source ?? "DeviceMessages", condition: route.condition ?? "true", endpointNames: route.endpointNames.length ? route.endpointNames : ["eventgrid"], isEnabled: route.isEnabled ?? true };
      if (clonePlan.eventGridRoute) {
        clonePlan.eventGridRoute.subscriptionsKnown = true;
        // The transform's advice ("recreate the subscriptions, then set the condition back") is
        // what this plan now does: replace it with what happens.
        const prefix = `route ${route.name} (condition:`;
        clonePlan.warnings = clonePlan.warnings.filter((w) => !w.startsWith(prefix));
        clonePlan.summary.dropped = clonePlan.summary.dropped.filter((d) => !d.startsWith(`route ${route.name} (`));
      }
      sink.carried(`route ${route.name} (left out of the create body; Event Grid creates it with the clone's telemetry subscription, then its condition '${plan.route.condition}' is restored)`);
    } else {
      sink.warn(`route ${route.name}: no Event Grid subscription of the clone receives telemetry, so Event Grid creates no such route on the clone; its condition '${route.condition ?? "true"}' is not restored`);
    }
  }
  return plan;
}

function planDiagnostics(a: HubAttachments, config: CloneConfig, sink: Sink): DiagnosticSettingPlan[] {
  if (!config.attachments.diagnosticSettings.enabled) {
    if (a.diagnosticSettings.length) sink.dropped(`${a.diagnosticSettings.length} diagnostic settings (attachments.diagnosticSettings.enabled: false)`);
    return [];
  }
  return a.diagnosticSettings.map((d) => {
    const p = d.properties;
    // Retention in diagnostic settings is retired (learn.microsoft.com/azure/azure-monitor/essentials/
    // migrate-to-azure-storage-lifecycle-policy): a new setting carrying it may be refused, so it
    // is not sent; an enabled one is named.
    let retention = false;
    const noRetention = (list: unknown) =>
      Array.isArray(list)
        ? list.map((x) => {
            if (!isObj(x)) return x;
            const { retentionPolicy, ...rest } = x;
            if (isObj(retentionPolicy) && retentionPolicy.enabled === true) retention = true;
            return rest;
          })
        : list;
    const inputs = defined({
      workspaceId: getCI(p, "workspaceId"),
      storageAccountId: getCI(p, "storageAccountId"),
      eventHubAuthorizationRuleId: getCI(p, "eventHubAuthorizationRuleId"),
      eventHubName: getCI(p, "eventHubName"),
      serviceBusRuleId: getCI(p, "serviceBusRuleId"),
      marketplacePartnerId: getCI(p, "marketplacePartnerId"),
      logAnalyticsDestinationType: getCI(p, "logAnalyticsDestinationType"),
      logs: noRetention(getCI(p, "logs")),
      metrics: noRetention(getCI(p, "metrics")),
    });
    if (retention) sink.warn(`diagnostic setting ${d.name}: its retention policy is not carried over (retired in diagnostic settings): keep logs longer with a lifecycle policy on the storage account`);
    const to = ["workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId"].filter((k) => inputs[k]).map((k) => k.replace(/Id$/, ""));
    sink.carried(`diagnostic setting ${d.name} (to ${to.join(", ") || "no destination"})`);
    return { name: d.name, inputs };
  });
}

function planPrivateEndpoints(a: HubAttachments, model: HubModel, config: CloneConfig, cloneName: string, location: string, sink: Sink): PrivateEndpointPlan[] {
  const cfg = config.attachments.privateEndpoints;
  const pes = a.privateEndpoints;
  if (!pes.length) return [];
  if (!cfg.enabled) {
    sink.dropped(`${pes.length} private endpoints (attachments.privateEndpoints.enabled: false)`);
    return [];
  }
  if (!cfg.subnetId) {
    const closed = String(model.properties.publicNetworkAccess ?? "").toLowerCase() === "disabled";
    sink.warn(
      `the original has private endpoints (${pes.map((p) => p.name).join(", ")}) and no subnet is configured: the clone will have no private endpoint${closed ? " and, with public network access disabled, nothing will reach it" : ""}; set iothub-clone:attachments.privateEndpoints.subnetId to a subnet in ${location} (plan flag --private-endpoint-subnet ID)`,
    );
    sink.dropped(`${pes.length} private endpoints (no attachments.privateEndpoints.subnetId)`);
    return [];
  }
  const used = new Set<string>();
  return pes.map((pe) => {
    const p = pe.properties;
    const auto = getCI(p, "privateLinkServiceConnections");
    const manualList = getCI(p, "manualPrivateLinkServiceConnections");
    const manual = !(Array.isArray(auto) && auto.length) && Array.isArray(manualList) && manualList.length > 0;
    const conn = ((manual ? manualList : auto) as Obj[] | undefined)?.[0] ?? {};
    const cp = (getCI(conn, "properties") as Obj | undefined) ?? conn;
    const groupIds = Array.isArray(getCI(cp, "groupIds")) ? (getCI(cp, "groupIds") as string[]) : ["iotHub"];
    const requestMessage = getCI(cp, "requestMessage");
    let name = `${cloneName}-${pe.name}`.slice(0, 80);
    while (used.has(name.toLowerCase())) name = `${name.slice(0, 76)}-${used.size}`;
    used.add(name.toLowerCase());
    const dnsZoneGroups = cfg.privateDnsZoneIds?.length
      ? [{ name: "default", privateDnsZoneConfigs: cfg.privateDnsZoneIds.map((id) => ({ name: lastSegment(id).replace(/\./g, "-"), privateDnsZoneId: id })) }]
      : pe.privateDnsZoneGroups.map((g) => ({
          name: g.name,
          privateDnsZoneConfigs: ((getCI(g.properties, "privateDnsZoneConfigs") as Obj[] | undefined) ?? [])
            .map((c) => ({ name: String(getCI(c, "name") ?? ""), privateDnsZoneId: String(getCI(getCI(c, "properties"), "privateDnsZoneId") ?? getCI(c, "privateDnsZoneId") ?? "") }))
            .filter((c) => c.privateDnsZoneId),
        }));
    if (!dnsZoneGroups.length)
      sink.warn(`private endpoint ${pe.name} has no private DNS zone group: the clone's endpoint ${name} gets none either; clients resolve it only through your own DNS records`);
    if (manual) sink.warn(`private endpoint ${pe.name} uses a manual connection: the clone's connection waits for approval on the clone (approve it in the portal or with az network private-endpoint-connection approve)`);
    const ipConfigs = getCI(p, "ipConfigurations");
    if (Array.isArray(ipConfigs) && ipConfigs.length) sink.dropped(`private endpoint ${pe.name}: static IP configurations (the clone's subnet assigns its own)`);
    sink.carried(`private endpoint ${name} (for ${pe.name}; group ${groupIds.join(", ")}; DNS zones ${dnsZoneGroups.flatMap((g) => g.privateDnsZoneConfigs.map((c) => lastSegment(c.privateDnsZoneId))).join(", ") || "none"})`);
    return {
      name,
      original: pe.name,
      subnetId: cfg.subnetId!,
      connection: { name: String(getCI(conn, "name") ?? `${name}-connection`), groupIds, ...(typeof requestMessage === "string" ? { requestMessage } : {}), manual },
      dnsZoneGroups,
      tags: pe.tags,
    };
  });
}

function planRoleAssignments(a: HubAttachments, config: CloneConfig, cloneName: string, resourceGroup: string, sink: Sink): RoleAssignmentPlan[] {
  if (!config.attachments.roleAssignments.enabled) {
    if (a.roleAssignments.length) sink.dropped(`${a.roleAssignments.length} role assignments (attachments.roleAssignments.enabled: false)`);
    return [];
  }
  const out: RoleAssignmentPlan[] = [];
  for (const r of a.roleAssignments) {
    const p = r.properties;
    const roleDefinitionGuid = lastSegment(String(getCI(p, "roleDefinitionId") ?? ""));
    const principalId = String(getCI(p, "principalId") ?? "");
    if (!/^[0-9a-f-]{36}$/i.test(roleDefinitionGuid) || !principalId) {
      sink.warn(`role assignment ${r.name} is left out: it names no role definition or principal the clone can use`);
      sink.dropped(`role assignment ${r.name} (no role definition or principal)`);
      continue;
    }
    const principalType = getCI(p, "principalType") as string | undefined;
    out.push({
      name: stableGuid(resourceGroup, cloneName, principalId, roleDefinitionGuid),
      original: r.name,
      roleDefinitionGuid,
      principalId,
      ...(principalType ? { principalType } : {}),
      ...(typeof getCI(p, "description") === "string" ? { description: getCI(p, "description") as string } : {}),
      ...(typeof getCI(p, "condition") === "string" ? { condition: getCI(p, "condition") as string, conditionVersion: String(getCI(p, "conditionVersion") ?? "2.0") } : {}),
    });
    sink.carried(`role assignment: role ${roleDefinitionGuid} for ${principalType ?? "principal"} ${principalId}`);
  }
  return out;
}

/** The attached resources of the clone; lines go to the plan's warnings and summary. */
export function planAttachments(model: HubModel, config: CloneConfig, plan: ClonePlan): AttachmentsPlan {
  const sink: Sink = {
    warn: (l) => plan.warnings.push(l),
    carried: (l) => plan.summary.carriedOver.push(l),
    dropped: (l) => plan.summary.dropped.push(l),
  };
  const cloneName = plan.hub.resourceName;
  const a = model.attachments;
  const out: AttachmentsPlan = { diagnosticSettings: [], privateEndpoints: [], roleAssignments: [] };
  if (!a) {
    const what = [
      config.attachments.eventGrid.enabled && "Event Grid subscriptions",
      config.attachments.diagnosticSettings.enabled && "diagnostic settings",
      config.attachments.privateEndpoints.enabled && "private endpoints",
      config.attachments.roleAssignments.enabled && "role assignments",
    ].filter(Boolean);
    if (what.length)
      sink.warn(
        `${what.join(", ")} of the original: ${model.format === "live" ? "the live hub's could not be listed" : "this source does not list them"}, so the clone gets none: plan from a resource-group export, or a snapshot (npm run hubclone -- snapshot), which lists them`,
      );
    if (model.properties.privateEndpointConnections?.length)
      sink.warn(`the original has ${model.properties.privateEndpointConnections.length} private endpoint connection(s): the clone will have no private endpoint; plan from a resource-group export or a snapshot and set iothub-clone:attachments.privateEndpoints.subnetId`);
    return out;
  }
  const unknown = (Object.keys(a.known) as Array<keyof typeof a.known>).filter((k) => !a.known[k] && config.attachments[k].enabled);
  if (unknown.length) {
    const names: Record<string, string> = { eventGrid: "Event Grid subscriptions", diagnosticSettings: "diagnostic settings", privateEndpoints: "private endpoints", roleAssignments: "role assignments" };
    const roleOnly = unknown.length === 1 && unknown[0] === "roleAssignments";
    sink.warn(
      roleOnly
        ? "role assignments on the original hub: a resource-group export never contains them, so the clone gets none from this source: plan from a snapshot (npm run hubclone -- snapshot) or add them to the template"
        : `${unknown.map((k) => names[k]).join(", ")} of the original: this is a hub-only export, which does not contain them, so the clone gets none: export the resource group (az group export / portal) or plan from a snapshot (npm run hubclone -- snapshot)`,
    );
    if (!a.known.privateEndpoints && model.properties.privateEndpointConnections?.length)
      sink.warn(`the original has ${model.properties.privateEndpointConnections.length} private endpoint connection(s) whose endpoints are not in this source: the clone will have no private endpoint`);
  }
  for (const line of a.notCarried) {
    sink.warn(`not carried over: ${line}`);
    sink.dropped(line);
  }
  out.eventGrid = planEventGrid(a, model, config, cloneName, sink, plan);
  out.diagnosticSettings = planDiagnostics(a, config, sink);
  out.privateEndpoints = planPrivateEndpoints(a, model, config, cloneName, plan.hub.location, sink);
  out.roleAssignments = planRoleAssignments(a, config, cloneName, plan.hub.resourceGroupName, sink);
  return out;
}

/**
 * Routes of import-raised events (lifecycle, twin changes) to an endpoint the clone shares with
 * the original (kept in place, not relocated) are disabled until cutover, unless
 * `clone.sharedEventRoutes: enabled`: otherwise the device import sends the original's consumers
 * a "device created" and a twin change per device before any device has moved.
 */
export function silenceSharedEventRoutes(plan: ClonePlan, config: CloneConfig): void {
  const routing = plan.hub.properties.routing as { routes?: Array<Obj & { name: string; source: string; endpointNames: string[]; isEnabled?: boolean }> } | undefined;
  if (!routing?.routes?.length) return;
  const shared = new Set(plan.endpoints.filter((e) => !e.relocation).map((e) => e.name.toLowerCase()));
  const enabled = config.clone.sharedEventRoutes === "enabled";
  for (const r of routing.routes) {
    if (!IMPORT_EVENT_SOURCES.some((s) => s.toLowerCase() === String(r.source).toLowerCase())) continue;
    const sharedTargets = r.endpointNames.filter((n) => shared.has(n.toLowerCase()));
    if (!sharedTargets.length || r.isEnabled === false) continue;
    if (enabled) {
      plan.summary.carriedOver.push(`route ${r.name} (${r.source} → ${sharedTargets.join(", ")}, shared with the original) enabled (clone.sharedEventRoutes: enabled)`);
      continue;
    }
    r.isEnabled = false;
    plan.warnings.push(
      `route ${r.name} (${r.source} → ${sharedTargets.join(", ")}) is created disabled until cutover: the endpoint is shared with the original, and the device import would send it one event per device; at cutover set iothub-clone:clone.sharedEventRoutes: enabled and run pulumi up (docs/runbook.md)`,
    );
    plan.summary.changed.push(`route ${r.name}: enabled → disabled until cutover (shared endpoint ${sharedTargets.join(", ")})`);
  }
}
