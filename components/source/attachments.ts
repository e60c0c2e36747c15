/**
 * What is attached to the original hub from outside it: Event Grid system topic and
 * subscriptions, diagnostic settings, private endpoints (with their private DNS zone groups) and
 * role assignments scoped to the hub. They live in other resource providers, so neither the
 * hub's GET body nor a hub-only export shows them; a resource-group export, an authored template,
 * the live hub (ARM list calls) and our snapshot do.
 *
 * Both kinds of source are first brought to one shape, `ArmAttachments` (ARM GET bodies: name,
 * type, location, properties), then filtered to what targets THIS hub and normalised into
 * `HubAttachments`. Values stay in ARM shape; the clone's plan (components/clone/attachments-plan.ts)
 * turns them into azure-native inputs.
 */

type Obj = Record<string, unknown>;

/** One resource as ARM returns it (`GET`), or a template resource after evaluation. */
export interface ArmBody {
  id?: string;
  name: string;
  type?: string;
  location?: string;
  tags?: Record<string, string>;
  identity?: Obj;
  properties: Obj;
}

/** The raw attachments of a hub, as listed through ARM (the snapshot stores this shape). */
export interface ArmAttachments {
  /** System topics whose source is the hub, each with its event subscriptions. */
  systemTopics: Array<ArmBody & { eventSubscriptions: ArmBody[] }>;
  /** Event subscriptions made on the hub itself (`Microsoft.Devices/IotHubs/{hub}/providers/Microsoft.EventGrid/eventSubscriptions`). */
  eventSubscriptions: ArmBody[];
  diagnosticSettings: ArmBody[];
  /** Private endpoints connected to the hub, each with its private DNS zone groups. */
  privateEndpoints: Array<ArmBody & { privateDnsZoneGroups: ArmBody[] }>;
  /** Role assignments whose scope is exactly the hub (inherited ones belong to their own scope). */
  roleAssignments: ArmBody[];
}

export type AttachmentKind = "eventGrid" | "diagnosticSettings" | "privateEndpoints" | "roleAssignments";
export const ATTACHMENT_KINDS: readonly AttachmentKind[] = ["eventGrid", "diagnosticSettings", "privateEndpoints", "roleAssignments"];

export interface EventSubscriptionModel {
  name: string;
  /** ARM `properties` of the subscription (destination, filter, labels, retryPolicy, …). */
  properties: Obj;
  /** Through a system topic, or made directly on the hub (the older form). */
  form: "systemTopic" | "hubScoped";
}

export interface HubAttachments {
  /**
   * Per kind: did the source list them? `false` = unknown (a hub-only export, a GET body, an old
   * snapshot): the plan says the clone will not have them. `true` with none found = the original has none.
   */
  known: Record<AttachmentKind, boolean>;
  systemTopic?: { name: string; location?: string; tags: Record<string, string>; identity?: Obj };
  eventSubscriptions: EventSubscriptionModel[];
  diagnosticSettings: Array<{ name: string; properties: Obj }>;
  privateEndpoints: Array<{ name: string; location?: string; tags: Record<string, string>; properties: Obj; privateDnsZoneGroups: Array<{ name: string; properties: Obj }> }>;
  roleAssignments: Array<{ name: string; properties: Obj }>;
  /** Resources of the source that belong to the hub and are not carried over, one line each (why). */
  notCarried: string[];
}

export function emptyArmAttachments(): ArmAttachments {
  return { systemTopics: [], eventSubscriptions: [], diagnosticSettings: [], privateEndpoints: [], roleAssignments: [] };
}

export function unknownAttachments(): HubAttachments {
  return {
    known: { eventGrid: false, diagnosticSettings: false, privateEndpoints: false, roleAssignments: false },
    eventSubscriptions: [],
    diagnosticSettings: [],
    privateEndpoints: [],
    roleAssignments: [],
    notCarried: [],
  };
}

/** A plain JSON object (also for the clone's attachment plan). */
export function isObj(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v);
}
/** A property by name, any casing (templates and ARM bodies vary it). */
export function getCI(o: unknown, name: string): unknown {
  if (!isObj(o)) return undefined;
  if (name in o) return o[name];
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : o[k];
}
function lastSegment(name: string): string {
  const parts = name.split("/");
  return parts[parts.length - 1];
}

/**
 * Does an ARM id or scope point at this hub? Accepts a full id
 * (`/subscriptions/…/providers/Microsoft.Devices/IotHubs/hub`) and the relative form templates use
 * as `scope` (`Microsoft.Devices/IotHubs/hub`), in any casing.
 */
export function targetsHub(idOrScope: unknown, hubName: string): boolean {
  if (typeof idOrScope !== "string") return false;
  const m = /(?:^|\/)microsoft\.devices\/iothubs\/([^/]+)\/?$/i.exec(idOrScope.trim());
  return !!m && m[1].toLowerCase() === hubName.toLowerCase();
}

/** The hub a private endpoint connects to, from either connection list. */
function privateEndpointTargets(properties: Obj, hubName: string): boolean {
  for (const list of ["privateLinkServiceConnections", "manualPrivateLinkServiceConnections"]) {
    const conns = getCI(properties, list);
    if (!Array.isArray(conns)) continue;
    for (const c of conns) {
      const id = getCI(getCI(c, "properties"), "privateLinkServiceId") ?? getCI(c, "privateLinkServiceId");
      if (targetsHub(id, hubName)) return true;
    }
  }
  return false;
}

/**
 * Raw ARM bodies (live or snapshot) → the model. Everything in `arm` was already listed for this
 * hub; the filters here are the belt for bodies handed in from elsewhere.
 */
export function attachmentsFromArm(arm: ArmAttachments, hubName: string, notCarried: string[] = [], known?: Partial<Record<AttachmentKind, boolean>>): HubAttachments {
  const out: HubAttachments = {
    known: { eventGrid: true, diagnosticSettings: true, privateEndpoints: true, roleAssignments: true, ...(known ?? {}) },
    eventSubscriptions: [],
    diagnosticSettings: [],
    privateEndpoints: [],
    roleAssignments: [],
    notCarried: [...notCarried],
  };
  const topics = arm.systemTopics.filter((t) => targetsHub(getCI(t.properties, "source"), hubName));
  if (topics.length) {
    const t = topics[0];
    out.systemTopic = { name: lastSegment(t.name), ...(t.location ? { location: t.location } : {}), tags: { ...(t.tags ?? {}) }, ...(t.identity ? { identity: t.identity } : {}) };
  }
  const seen = new Set<string>();
  const addSub = (b: ArmBody, form: EventSubscriptionModel["form"]) => {
    const name = lastSegment(b.name);
    // A subscription made on the hub is also listed under the system topic ARM backs it with.
    if (seen.has(name.toLowerCase())) return;
    seen.add(name.toLowerCase());
    out.eventSubscriptions.push({ name, properties: b.properties ?? {}, form });
  };
  for (const t of topics) for (const s of t.eventSubscriptions ?? []) addSub(s, "systemTopic");
  for (const s of arm.eventSubscriptions) addSub(s, "hubScoped");
  for (const d of arm.diagnosticSettings) out.diagnosticSettings.push({ name: lastSegment(d.name), properties: d.properties ?? {} });
  for (const pe of arm.privateEndpoints) {
    if (!privateEndpointTargets(pe.properties ?? {}, hubName)) continue;
    out.privateEndpoints.push({
      name: lastSegment(pe.name),
      ...(pe.location ? { location: pe.location } : {}),
      tags: { ...(pe.tags ?? {}) },
      properties: pe.properties ?? {},
      privateDnsZoneGroups: (pe.privateDnsZoneGroups ?? []).map((g) => ({ name: lastSegment(g.name), properties: g.properties ?? {} })),
    });
  }
  for (const r of arm.roleAssignments) {
    const scope = getCI(r.properties, "scope");
    if (scope !== undefined && !targetsHub(scope, hubName)) continue;
    out.roleAssignments.push({ name: lastSegment(r.name), properties: r.properties ?? {} });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Templates

/** Template resource types read as attachments (lower case). */
const TYPES = {
  systemTopic: "microsoft.eventgrid/systemtopics",
  systemTopicSubscription: "microsoft.eventgrid/systemtopics/eventsubscriptions",
  eventSubscription: "microsoft.eventgrid/eventsubscriptions",
  hubEventSubscription: "microsoft.devices/iothubs/providers/eventsubscriptions",
  diagnosticSetting: "microsoft.insights/diagnosticsettings",
  hubDiagnosticSetting: "microsoft.devices/iothubs/providers/diagnosticsettings",
  privateEndpoint: "microsoft.network/privateendpoints",
  dnsZoneGroup: "microsoft.network/privateendpoints/privatednszonegroups",
  roleAssignment: "microsoft.authorization/roleassignments",
  hubRoleAssignment: "microsoft.devices/iothubs/providers/roleassignments",
} as const;

const HUB_PREFIX = "microsoft.devices/iothubs/";
/** Hub children the hub reader itself carries (consumer groups, certificates). */
const HUB_CHILDREN_READ = new Set(["microsoft.devices/iothubs/eventhubendpoints/consumergroups", "microsoft.devices/iothubs/certificates"]);

/** Why a hub-related resource type is not carried over (others get a generic reason). */
const NOT_CARRIED: Record<string, string> = {
  "microsoft.devices/iothubs/privateendpointconnections": "the original's connection; the clone's private endpoint makes its own",
  "microsoft.devices/iothubs/providers/locks": "resource locks are not copied: add one to the clone after cutover",
  "microsoft.authorization/locks": "resource locks are not copied: add one to the clone after cutover",
};

/**
 * Should the template walk pick this resource up for `attachmentsFromTemplate`? Attachment types,
 * other hub children, and extension resources (those with a `scope`), which may belong to the hub.
 */
export function isAttachmentCandidate(type: string, hasScope: boolean): boolean {
  const t = type.toLowerCase();
  if ((Object.values(TYPES) as string[]).includes(t)) return true;
  if (t.startsWith(HUB_PREFIX) && !HUB_CHILDREN_READ.has(t)) return true;
  return hasScope;
}

/** A template resource after evaluation (what template.ts hands over). */
export interface TemplateResource {
  type: string;
  /** Full name as declared (`topic/sub`, `hub/Microsoft.Insights/name`), parent prefixed for nested children. */
  name: string;
  scope?: string;
  location?: string;
  tags?: Record<string, string>;
  identity?: Obj;
  properties: Obj;
  /** JSON path in the file (for messages). */
  path: string;
}

/** Template attachment resources → the model. `others` counts resources that are neither the hub nor attached to it. */
export function attachmentsFromTemplate(resources: TemplateResource[], hubName: string, others: number, notes: string[] = [], unrelated: TemplateResource[] = []): HubAttachments {
  const arm = emptyArmAttachments();
  const notCarried = [...notes];
  const hubScoped = (r: TemplateResource) => targetsHub(r.scope, hubName);
  // `hub/Microsoft.Insights/name` (the older extension form): the first segment is the hub.
  const hubPrefixed = (r: TemplateResource) => r.name.split("/")[0].toLowerCase() === hubName.toLowerCase();
  const body = (r: TemplateResource): ArmBody => ({
    name: r.name,
    type: r.type,
    ...(r.location ? { location: r.location } : {}),
    ...(r.tags ? { tags: r.tags } : {}),
    ...(r.identity ? { identity: r.identity } : {}),
    properties: r.properties,
  });
  let roleAssignmentsSeen = false;
  const topics = new Map<string, ArmBody & { eventSubscriptions: ArmBody[] }>();
  const endpoints = new Map<string, ArmBody & { privateDnsZoneGroups: ArmBody[] }>();
  const later: TemplateResource[] = [];
  for (const r of resources) {
    const t = r.type.toLowerCase();
    if (t === TYPES.systemTopic) {
      if (targetsHub(getCI(r.properties, "source"), hubName)) {
        const topic = { ...body(r), eventSubscriptions: [] };
        topics.set(r.name.toLowerCase(), topic);
        arm.systemTopics.push(topic);
      } else unrelated.push(r);
    } else if (t === TYPES.privateEndpoint) {
      if (privateEndpointTargets(r.properties, hubName)) {
        const pe = { ...body(r), privateDnsZoneGroups: [] };
        endpoints.set(r.name.toLowerCase(), pe);
        arm.privateEndpoints.push(pe);
      } else unrelated.push(r);
    } else later.push(r);
  }
  for (const r of later) {
    const t = r.type.toLowerCase();
    if (t === TYPES.roleAssignment || t === TYPES.hubRoleAssignment) roleAssignmentsSeen = true;
    let used = true;
    if (t === TYPES.systemTopicSubscription) {
      const topic = topics.get(r.name.split("/")[0].toLowerCase());
      if (topic) topic.eventSubscriptions.push(body(r));
      else used = false;
    } else if (t === TYPES.eventSubscription || t === TYPES.hubEventSubscription) {
      if (t === TYPES.eventSubscription ? hubScoped(r) : hubPrefixed(r)) arm.eventSubscriptions.push(body(r));
      else used = false;
    } else if (t === TYPES.diagnosticSetting || t === TYPES.hubDiagnosticSetting) {
      if (t === TYPES.diagnosticSetting ? hubScoped(r) : hubPrefixed(r)) arm.diagnosticSettings.push(body(r));
      else used = false;
    } else if (t === TYPES.dnsZoneGroup) {
      const pe = endpoints.get(r.name.split("/")[0].toLowerCase());
      if (pe) pe.privateDnsZoneGroups.push(body(r));
      else used = false;
    } else if (t === TYPES.roleAssignment || t === TYPES.hubRoleAssignment) {
      if (t === TYPES.roleAssignment ? hubScoped(r) : hubPrefixed(r)) arm.roleAssignments.push(body(r));
      else used = false;
    } else if ((t.startsWith(HUB_PREFIX) && hubPrefixed(r)) || hubScoped(r)) {
      notCarried.push(`${r.path} (${r.type} '${r.name}'): ${NOT_CARRIED[t] ?? "not carried over to the clone: recreate it on the clone if it is needed"}`);
    } else used = false;
    if (!used) unrelated.push(r);
  }
  const hubOnly = others === 0 && resources.length === 0;
  return attachmentsFromArm(arm, hubName, notCarried, {
    eventGrid: !hubOnly,
    diagnosticSettings: !hubOnly,
    privateEndpoints: !hubOnly,
    // A resource-group export never contains role assignments: known only when the template declares some.
    roleAssignments: roleAssignmentsSeen,
  });
}

/** One line per attachment, for the summary and the snapshot's description. */
export function describeAttachments(a: HubAttachments): string[] {
  const out: string[] = [];
  if (a.systemTopic) out.push(`Event Grid system topic ${a.systemTopic.name}`);
  for (const s of a.eventSubscriptions) out.push(`Event Grid subscription ${s.name}`);
  for (const d of a.diagnosticSettings) out.push(`diagnostic setting ${d.name}`);
  for (const p of a.privateEndpoints) out.push(`private endpoint ${p.name}${p.privateDnsZoneGroups.length ? ` (DNS zone groups: ${p.privateDnsZoneGroups.map((g) => g.name).join(", ")})` : ""}`);
  for (const r of a.roleAssignments) out.push(`role assignment ${r.name}`);
  return out;
}
