/**
 * Original hub (HubModel) + stack config (CloneConfig) → the clone's desired state (ClonePlan).
 * Pure functions, no Pulumi: everything here is testable as data. Credentials are described
 * (look-up, config secret, relocated, ...), never resolved here.
 */
import type { CloneConfig } from "../config";
import type { CosmosDbContainerEndpoint, EndpointBase, HubModel, KeyRef, StorageContainerEndpoint } from "../source/model";
import {
  cosmosAccountFromUri,
  messagingFromConnectionString,
  messagingNamespaceFromUri,
  parseArmId,
  segment,
  storageFromConnectionString,
  storageFromUri,
} from "./coordinates";
import { normaliseRegion } from "./regions";
import { RETENTION_MAX } from "./validation";
import type {
  ClonePlan,
  CredentialSource,
  DataRole,
  EndpointAuth,
  EndpointKind,
  EndpointPlan,
  FileUploadPlan,
  KeyLookup,
  PolicyPlan,
  Relocation,
  RoleGrant,
  RoutePlan,
} from "./types";
import { ENDPOINT_KINDS } from "./types";

/** The route IoT Hub's Event Grid integration owns (docs/clone.md, "RouteToEventGrid"). */
export const EVENT_GRID_ROUTE = "RouteToEventGrid";

/**
 * Regions where IoT Hub offers TLS 1.2 enforcement (`minTlsVersion: "1.2"`), from
 * learn.microsoft.com/azure/iot-hub/iot-hub-tls-support ("TLS 1.2 enforcement is supported only in
 * select regions": East US, South Central US, West US 2, US Gov Arizona, US Gov Virginia), checked
 * 2026-12. A hub elsewhere is planned without it (with a warning) rather than failing on create.
 */
export const MIN_TLS_REGIONS = ["eastus", "southcentralus", "westus2", "usgovarizona", "usgovvirginia"];
export function minTlsSupported(location: string): boolean {
  return MIN_TLS_REGIONS.includes(normaliseRegion(location));
}
/**
 * Regions where a hub must be created WITH TLS 1.2 enforcement: the same page notes for US Gov
 * Virginia that TLS 1.0/1.1 "is not available in this region; TLS 1.2 enforcement must be enabled
 * or IoT hub creation fails" (learn.microsoft.com/azure/iot-hub/iot-hub-tls-support, checked 2026-12).
 */
export const MIN_TLS_REQUIRED_REGIONS = ["usgovvirginia"];

/** Route sources a Basic hub does not have (no twins, no jobs). */
const BASIC_TIER_MISSING_SOURCES = ["TwinChangeEvents", "DeviceJobLifecycleEvents"];
export function isBasicTier(sku: string): boolean {
  return /^B[123]$/i.test(sku);
}

/**
 * IP filtering as today's API expects it. The classic IP filter (`ipFilterRules`, ordered
 * Accept/Reject rules) was retired on 1 February 2022 and hubs were moved to the IP filter of
 * `networkRuleSets` (allow rules + a default action): azure-deprecation/dashboard#117 and
 * learn.microsoft.com/azure/iot-hub/iot-hub-ip-filtering. The clone never sends classic rules:
 * - `networkRuleSets` present: sent as is; leftover classic rules are dropped with a warning;
 * - classic rules only: Accept rules become Allow rules, a final Reject of everything
 *   (0.0.0.0/0) becomes `defaultAction: Deny`; any other Reject rule cannot be expressed by
 *   allow rules and is refused, naming the rule.
 */
function planNetwork(ctx: Ctx, out: Record<string, unknown>): void {
  const props = ctx.model.properties;
  const classic = props.ipFilterRules ?? [];
  if (props.networkRuleSets) {
    const n = props.networkRuleSets;
    out.networkRuleSets = compact({
      defaultAction: n.defaultAction,
      applyToBuiltInEventHubEndpoint: n.applyToBuiltInEventHubEndpoint ?? false,
      ipRules: (n.ipRules ?? []).map((r) => ({ filterName: r.filterName, action: r.action ?? "Allow", ipMask: r.ipMask })),
    });
    ctx.plan.summary.carriedOver.push("networkRuleSets");
    if (classic.length) drop(ctx, `ipFilterRules (${classic.length})`, "the classic IP filter is retired; the clone uses the original's networkRuleSets");
    return;
  }
  if (!classic.length) return;
  const everything = (mask: string) => /^0\.0\.0\.0\/0$/.test(mask.trim());
  const ipRules: Array<{ filterName: string; action: string; ipMask: string }> = [];
  let defaultAction = "Allow" as "Allow" | "Deny";
  classic.forEach((r, i) => {
    const field = `ipFilterRules[${i}] '${r.filterName}'`;
    if (String(r.action).toLowerCase() === "accept") ipRules.push({ filterName: r.filterName, action: "Allow", ipMask: r.ipMask });
    else if (everything(r.ipMask) && i === classic.length - 1) defaultAction = "Deny";
    else
      ctx.plan.errors.push({
        field,
        message: `classic Reject rule for ${r.ipMask} cannot be expressed by today's IP filter (allow rules and a default action; the classic filter was retired in 2022): rewrite it as allow rules for the addresses to admit (networkRuleSets) in the source`,
      });
  });
  // Only allow rules and no catch-all reject: the classic filter admitted everyone else.
  out.networkRuleSets = { defaultAction, applyToBuiltInEventHubEndpoint: false, ipRules };
  ctx.plan.summary.changed.push(`IP filter: ${classic.length} classic ipFilterRules → networkRuleSets (defaultAction ${defaultAction}, ${ipRules.length} allow rules)`);
  ctx.plan.warnings.push(
    `ipFilterRules: the classic IP filter is retired; sent as networkRuleSets with defaultAction ${defaultAction} and ${ipRules.length} allow rule(s) (Accept → Allow${defaultAction === "Deny" ? ", the final reject-all → defaultAction Deny" : ""}), not applied to the built-in event hub endpoint`,
  );
}

/** Read-only or deprecated hub properties: never sent, each dropped with a warning saying why. */
const DROP_REASONS: Record<string, string> = {
  operationsMonitoringProperties: "deprecated, rejected by current API versions",
  hostName: "read-only (the clone gets its own host name)",
  locations: "read-only",
  state: "read-only",
  provisioningState: "read-only",
  eventHubEndpoints: "read-only",
  privateEndpointConnections: "private endpoints belong to the original; recreate them against the clone",
  rootCertificate: "not settable through the azure-native IotHubResource input; set it on the clone after creation",
  ipVersion: "not settable through the azure-native IotHubResource input; set it on the clone after creation",
  deviceStreams: "preview feature not settable through the azure-native IotHubResource input",
};

/** Properties copied as they are (already in ARM/azure-native shape in the model). */
const CARRIED_SCALARS = [
  "disableLocalAuth",
  "disableDeviceSAS",
  "disableModuleSAS",
  "restrictOutboundNetworkAccess",
  "allowedFqdnList",
  "publicNetworkAccess",
  "minTlsVersion",
  "enableFileUploadNotifications",
  "comments",
  "features",
  "enableDataResidency",
] as const;

const RIGHTS_ORDER = ["RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect"];

/** "ServiceConnect,RegistryRead" → "RegistryRead, ServiceConnect" (the azure-native AccessRights enum spelling). */
export function normaliseRights(rights: string): string {
  const given = rights.split(/[,\s]+/).filter(Boolean).map((r) => r.toLowerCase());
  const known = RIGHTS_ORDER.filter((r) => given.includes(r.toLowerCase()));
  return known.join(", ") || rights;
}

/**
 * Storage endpoint encodings in the spelling of the 2023-06-30 spec's enum (`Avro`, `AvroDeflate`,
 * `JSON`); portal exports and GET bodies often say `avro`/`json`. The service's enum is
 * `modelAsString`, so it may accept other casings, but the spec's own spelling is safe either way.
 */
const ENCODINGS = ["Avro", "AvroDeflate", "JSON"];
export function normaliseEncoding(encoding: string): string {
  return ENCODINGS.find((e) => e.toLowerCase() === encoding.toLowerCase()) ?? encoding;
}

export function defaultCloneName(originalName: string): string {
  return `${originalName}clone`;
}

interface Ctx {
  model: HubModel;
  config: CloneConfig;
  plan: ClonePlan;
  cloneName: string;
}

/** A relocated event hub's partitions when the config does not say (the original's count is not in the hub's template). */
const DEFAULT_EVENT_HUB_PARTITIONS = 4;

function warn(ctx: Ctx, line: string): void {
  ctx.plan.warnings.push(line);
}

function drop(ctx: Ctx, field: string, reason: string): void {
  ctx.plan.summary.dropped.push(`${field} (${reason})`);
  warn(ctx, `dropped ${field}: ${reason}`);
}

function compact<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

const ENDPOINT_ROLE: Record<EndpointKind | "fileUpload", DataRole> = {
  storageContainers: "storageBlobDataContributor",
  fileUpload: "storageBlobDataContributor",
  serviceBusQueues: "serviceBusDataSender",
  serviceBusTopics: "serviceBusDataSender",
  eventHubs: "eventHubsDataSender",
  cosmosDBSqlContainers: "cosmosDbDataContributor",
};

function unresolved(field: string, fix: string): CredentialSource {
  return { kind: "unresolved", field, fix };
}

/** Turns a KeyRef of a key-based endpoint into a deploy-time credential source. */
function credentialFor(
  ctx: Ctx,
  kind: EndpointKind | "fileUpload",
  ep: { name: string; subscriptionId?: string; resourceGroup?: string; entityPath?: string; endpointUri?: string },
  ref: KeyRef | undefined,
  field: string,
  which: "primary" | "secondary" = "primary",
): CredentialSource {
  const cfg = ctx.config.endpoints[ep.name];
  const cfgKey = kind === "cosmosDBSqlContainers" ? (which === "primary" ? "primaryKey" : "secondaryKey") : "connectionString";
  const cfgValue = cfg?.[cfgKey];
  if (cfgValue) return { kind: "config", configKey: `endpoints.${ep.name}.${cfgKey}`, value: cfgValue };
  if (ref?.kind === "literal") return ref.value === "" ? { kind: "empty" } : { kind: "literal", value: ref.value };
  const fix =
    kind === "cosmosDBSqlContainers"
      ? `set iothub-clone:endpoints.${ep.name}.primaryKey (secret), or endpoints.${ep.name}.keySource.resourceGroup for a look-up, or endpoints.${ep.name}.relocate: true`
      : `set iothub-clone:endpoints.${ep.name}.connectionString (secret), or endpoints.${ep.name}.keySource.resourceGroup for a look-up, or endpoints.${ep.name}.relocate: true`;
  if (!ref || ref.kind === "none") {
    if (kind === "fileUpload") return { kind: "empty" };
    return unresolved(field, `no connection string in the source: ${fix}`);
  }
  const lookup = lookupFor(ctx, kind, ep, ref, which);
  if (typeof lookup === "string") return unresolved(field, `${lookup}: ${fix}`);
  return { kind: "lookup", lookup };
}

function lookupFor(
  ctx: Ctx,
  kind: EndpointKind | "fileUpload",
  ep: { name: string; subscriptionId?: string; resourceGroup?: string; entityPath?: string; endpointUri?: string },
  ref: Exclude<KeyRef, { kind: "literal" } | { kind: "none" }>,
  which: "primary" | "secondary",
): KeyLookup | string {
  const ks = ctx.config.endpoints[ep.name]?.keySource ?? {};
  const id = ref.kind === "listKeys" ? parseArmId(ref.resourceId) : undefined;
  const resourceGroup = ks.resourceGroup ?? ep.resourceGroup ?? id?.resourceGroup;
  const subscriptionId = ks.subscriptionId ?? ep.subscriptionId ?? id?.subscriptionId;
  const masked = ref.kind === "masked" ? ref.masked : undefined;
  const missingParam = ref.kind === "parameter" ? ` (or supply template parameter --param ${ref.parameter}=VALUE)` : "";
  if (ref.kind === "parameter" && !resourceGroup) return `the key comes from template parameter '${ref.parameter}', which was not supplied (--param ${ref.parameter}=VALUE)`;
  if (!resourceGroup) return "the target's resource group is unknown (the source names no resourceGroup)";
  if (kind === "storageContainers" || kind === "fileUpload") {
    const acct =
      (id && segment(id, "storageAccounts") ? { accountName: segment(id, "storageAccounts")!, endpointSuffix: "core.windows.net" } : undefined) ??
      (masked ? storageFromConnectionString(masked) : undefined) ??
      (ep.endpointUri ? storageFromUri(ep.endpointUri) : undefined);
    if (!acct) return `cannot tell the storage account from the source${missingParam}`;
    return { service: "storage", subscriptionId, resourceGroup, ...acct };
  }
  if (kind === "cosmosDBSqlContainers") {
    const accountName = (id && segment(id, "databaseAccounts")) ?? (ep.endpointUri ? cosmosAccountFromUri(ep.endpointUri) : undefined);
    if (!accountName) return `cannot tell the Cosmos DB account from the source${missingParam}`;
    return { service: "cosmosDb", subscriptionId, resourceGroup, accountName, key: which };
  }
  const service = kind === "eventHubs" ? "eventHubs" : "serviceBus";
  const entityType = kind === "eventHubs" ? "eventhub" : kind === "serviceBusTopics" ? "topic" : "queue";
  if (id) {
    const namespace = segment(id, "namespaces");
    const ruleName = segment(id, "authorizationRules") ?? ks.ruleName;
    const entityName = segment(id, entityType === "eventhub" ? "eventhubs" : `${entityType}s`);
    if (!namespace || !ruleName) return `cannot tell namespace and rule from listKeys(${ref.kind === "listKeys" ? ref.resourceId : ""})`;
    return {
      service,
      subscriptionId,
      resourceGroup,
      namespace,
      entityType,
      entityName: entityName ?? ep.entityPath,
      ruleName,
      scope: entityName ? "entity" : "namespace",
    };
  }
  const coords = masked ? messagingFromConnectionString(masked) : undefined;
  const namespace = coords?.namespace ?? (ep.endpointUri ? messagingNamespaceFromUri(ep.endpointUri) : undefined);
  const ruleName = ks.ruleName ?? coords?.ruleName;
  if (!namespace || !ruleName) return `cannot tell the namespace and authorization rule from the source${missingParam}`;
  // A namespace-wide RootManageSharedAccessKey is the one rule name that is never entity-scoped.
  const scope = ks.scope ?? (ruleName === "RootManageSharedAccessKey" ? "namespace" : "entity");
  const entityName = coords?.entityPath ?? ep.entityPath;
  if (scope === "entity" && !entityName) return `cannot tell the ${entityType} name (no EntityPath)`;
  return { service, subscriptionId, resourceGroup, namespace, entityType, entityName, ruleName, scope };
}

/** Provider path of an existing endpoint target, for a role grant to the clone's identity. */
function existingTarget(
  kind: EndpointKind | "fileUpload",
  ep: { endpointUri?: string; entityPath?: string; connection?: string },
): { providerPath: string; cosmosAccountName?: string } | undefined {
  if (kind === "storageContainers" || kind === "fileUpload") {
    const acct = (ep.endpointUri ? storageFromUri(ep.endpointUri) : undefined) ?? (ep.connection ? storageFromConnectionString(ep.connection) : undefined);
    return acct ? { providerPath: `Microsoft.Storage/storageAccounts/${acct.accountName}` } : undefined;
  }
  if (kind === "cosmosDBSqlContainers") {
    const acct = ep.endpointUri ? cosmosAccountFromUri(ep.endpointUri) : undefined;
    return acct ? { providerPath: `Microsoft.DocumentDB/databaseAccounts/${acct}`, cosmosAccountName: acct } : undefined;
  }
  const ns = ep.endpointUri ? messagingNamespaceFromUri(ep.endpointUri) : ep.connection ? messagingFromConnectionString(ep.connection)?.namespace : undefined;
  if (!ns || !ep.entityPath) return undefined;
  if (kind === "eventHubs") return { providerPath: `Microsoft.EventHub/namespaces/${ns}/eventhubs/${ep.entityPath}` };
  return { providerPath: `Microsoft.ServiceBus/namespaces/${ns}/${kind === "serviceBusTopics" ? "topics" : "queues"}/${ep.entityPath}` };
}

/** Decides the identity an identity-based endpoint uses in the clone, and the grant it needs. */
function identityAuth(
  ctx: Ctx,
  kind: EndpointKind | "fileUpload",
  ep: { name: string; identity?: { userAssignedIdentity?: string }; subscriptionId?: string; resourceGroup?: string; endpointUri?: string; entityPath?: string; connection?: string },
  relocation: Relocation | undefined,
  field: string,
): EndpointAuth {
  const original = ep.identity?.userAssignedIdentity;
  const reuse = ctx.config.identity.reuseOriginal !== false;
  if (original && reuse && !relocation) {
    ctx.plan.identity.reused.includes(original) || ctx.plan.identity.reused.push(original);
    return { kind: "reusedIdentity", identityId: original };
  }
  const identityName = ctx.plan.identity.name;
  ctx.plan.identity.create = true;
  const role = ENDPOINT_ROLE[kind];
  if (!original) {
    warn(ctx, `${field} used the original's system-assigned identity, which cannot be granted before the clone exists: it moves to the user-assigned identity '${identityName}' (granted ${roleName(role)} before the hub is created)`);
  } else if (relocation) {
    warn(ctx, `${field} is relocated: it uses the user-assigned identity '${identityName}' (granted ${roleName(role)} on the new resource) instead of ${original}`);
  }
  const grant: RoleGrant = { endpointName: ep.name, role, target: { kind: "relocated" } };
  if (!relocation) {
    const ks = ctx.config.endpoints[ep.name]?.keySource ?? {};
    const resourceGroup = ks.resourceGroup ?? ep.resourceGroup;
    const target = existingTarget(kind, ep);
    if (!resourceGroup || !target) {
      ctx.plan.errors.push({
        field,
        message: `cannot grant ${roleName(role)} to the clone's identity: the target's ${!resourceGroup ? "resource group" : "name"} is unknown; set iothub-clone:endpoints.${ep.name}.keySource.resourceGroup (and an endpointUri/entityPath in the source) or endpoints.${ep.name}.relocate: true`,
      });
      return { kind: "programIdentity" };
    }
    grant.target = { kind: "existing", subscriptionId: ks.subscriptionId ?? ep.subscriptionId, resourceGroup, ...target };
  }
  ctx.plan.roleGrants.push(grant);
  return { kind: "programIdentity" };
}

function roleName(role: DataRole): string {
  const names: Record<DataRole, string> = {
    storageBlobDataContributor: "Storage Blob Data Contributor",
    serviceBusDataSender: "Azure Service Bus Data Sender",
    eventHubsDataSender: "Azure Event Hubs Data Sender",
    cosmosDbDataContributor: "Cosmos DB Built-in Data Contributor",
  };
  return names[role];
}

function isIdentityBased(authenticationType: string | undefined): boolean {
  return (authenticationType ?? "").toLowerCase() === "identitybased";
}

function planEndpoint(ctx: Ctx, kind: EndpointKind, ep: EndpointBase | StorageContainerEndpoint | CosmosDbContainerEndpoint, index: number): EndpointPlan {
  const field = `routing.endpoints.${kind}[${index}] '${ep.name}'`;
  const cfg = ctx.config.endpoints[ep.name];
  if (ep.id) drop(ctx, `routing.endpoints.${kind}.${ep.name}.id`, "read-only");
  const identityBased = isIdentityBased(ep.authenticationType);
  const masked = "connectionString" in ep && ep.connectionString?.kind === "masked" ? ep.connectionString.masked : undefined;
  const entityPath = (ep as EndpointBase).entityPath ?? (masked ? messagingFromConnectionString(masked)?.entityPath : undefined);

  const inputs: Record<string, unknown> = { name: ep.name };
  if (ep.authenticationType) inputs.authenticationType = identityBased ? "identityBased" : "keyBased";
  let relocation: Relocation | undefined;
  if (kind === "storageContainers") {
    const s = ep as StorageContainerEndpoint;
    Object.assign(
      inputs,
      compact({
        containerName: s.containerName,
        fileNameFormat: s.fileNameFormat,
        batchFrequencyInSeconds: s.batchFrequencyInSeconds,
        maxChunkSizeInBytes: s.maxChunkSizeInBytes,
        encoding: s.encoding === undefined ? undefined : normaliseEncoding(s.encoding),
      }),
    );
    if (cfg?.relocate) relocation = { endpointName: ep.name, endpointKind: kind, entityName: s.containerName, identityBased };
  } else if (kind === "cosmosDBSqlContainers") {
    const c = ep as CosmosDbContainerEndpoint;
    Object.assign(inputs, compact({ databaseName: c.databaseName, containerName: c.containerName, partitionKeyName: c.partitionKeyName, partitionKeyTemplate: c.partitionKeyTemplate }));
    if (cfg?.relocate) {
      relocation = { endpointName: ep.name, endpointKind: kind, entityName: c.containerName, databaseName: c.databaseName, partitionKeyName: c.partitionKeyName, identityBased };
    }
  } else if (cfg?.relocate) {
    relocation = { endpointName: ep.name, endpointKind: kind, entityName: entityPath ?? ep.name, identityBased };
    if (kind === "eventHubs") {
      relocation.partitionCount = cfg.partitionCount ?? DEFAULT_EVENT_HUB_PARTITIONS;
      if (cfg.partitionCount === undefined)
        warn(ctx, `routing endpoint ${ep.name}: the relocated event hub gets ${DEFAULT_EVENT_HUB_PARTITIONS} partitions (the hub's template does not say how many the original has); set iothub-clone:endpoints.${ep.name}.partitionCount to the original's count, which cannot be changed later on Standard`);
    }
  }
  if (cfg?.partitionCount !== undefined && !(kind === "eventHubs" && relocation)) {
    ctx.plan.errors.push({ field: `iothub-clone:endpoints.${ep.name}.partitionCount`, message: `applies only to a relocated Event Hubs endpoint (${ep.name} is ${kind}${relocation ? "" : ", kept in place"}); remove it${kind === "eventHubs" ? ", or set relocate: true" : ""}` });
  }
  if (!relocation) {
    // Kept in place: the endpoint keeps pointing at the original's target.
    Object.assign(inputs, compact({ subscriptionId: ep.subscriptionId, resourceGroup: ep.resourceGroup }));
    // Key-based queues/topics/event hubs and storage are fully described by their connection string.
    if (identityBased || kind === "cosmosDBSqlContainers") Object.assign(inputs, compact({ endpointUri: ep.endpointUri }));
    if (identityBased && kind !== "storageContainers" && kind !== "cosmosDBSqlContainers") Object.assign(inputs, compact({ entityPath }));
  }

  const plan: EndpointPlan = { kind, name: ep.name, inputs, auth: { kind: "keyBased" }, relocation };
  if (relocation) ctx.plan.relocations.push(relocation);
  if (identityBased) {
    plan.auth = identityAuth(ctx, kind, { ...(ep as EndpointBase), entityPath, connection: masked }, relocation, field);
  } else if (relocation) {
    plan.credential = { kind: "relocated", endpointName: ep.name };
  } else if (kind === "cosmosDBSqlContainers") {
    const c = ep as CosmosDbContainerEndpoint;
    plan.credential = credentialFor(ctx, kind, c, c.primaryKey, `${field}.primaryKey`, "primary");
    if (c.secondaryKey || cfg?.secondaryKey) plan.secondaryCredential = credentialFor(ctx, kind, c, c.secondaryKey, `${field}.secondaryKey`, "secondary");
  } else {
    plan.credential = credentialFor(ctx, kind, { ...(ep as EndpointBase), entityPath }, (ep as EndpointBase).connectionString, `${field}.connectionString`);
  }
  const how = relocation ? "relocated to a new resource in " + ctx.plan.hub.location : identityBased ? "kept in place, identity-based" : "kept in place";
  ctx.plan.summary.carriedOver.push(`routing endpoint ${ep.name} (${kind}, ${how})`);
  return plan;
}

function planFileUpload(ctx: Ctx): FileUploadPlan | undefined {
  const endpoints = ctx.model.properties.storageEndpoints;
  if (!endpoints) return undefined;
  const keys = Object.keys(endpoints);
  for (const k of keys) if (k !== "$default") drop(ctx, `storageEndpoints.${k}`, "only $default is allowed");
  const src = endpoints["$default"];
  if (!src) return undefined;
  const cfg = ctx.config.endpoints["$default"];
  // Which SecureString parameters of the file-upload settings nobody supplied.
  const unsupplied: Array<{ field: string; parameter: string }> = [];
  if (src.containerParameter) unsupplied.push({ field: "storageEndpoints.$default.containerName", parameter: src.containerParameter });
  // A literally empty container (and notifications off) says file upload is not in use: no key needed.
  const inUse = !!src.containerName || !!src.containerParameter || ctx.model.properties.enableFileUploadNotifications === true;
  if (inUse && src.connectionString?.kind === "parameter" && !cfg?.connectionString && !cfg?.relocate) {
    unsupplied.push({ field: "storageEndpoints.$default.connectionString", parameter: src.connectionString.parameter });
  }
  for (const u of unsupplied) {
    ctx.plan.errors.push({
      field: u.field,
      message: `SecureString parameter '${u.parameter}' was not supplied, so the original's file upload cannot be carried over: supply it with --param ${u.parameter}=VALUE (stack: iothub-clone:source.param, secret), or set iothub-clone:clone.fileUpload: false to clone without file upload (file upload notifications are then off too)`,
    });
  }
  if (unsupplied.length) return undefined;
  const identityBased = isIdentityBased(src.authenticationType);
  const masked = src.connectionString?.kind === "masked" ? src.connectionString.masked : undefined;
  // Identity-based file upload names its account in a key-less connection string, which a GET
  // returns unmasked (a literal): keep it, and never a key that may sit in a supplied value.
  const accountOnly = (masked ?? (src.connectionString?.kind === "literal" ? src.connectionString.value : undefined))?.replace(/;?AccountKey=[^;]*/i, "");
  const relocation: Relocation | undefined = cfg?.relocate
    ? { endpointName: "$default", endpointKind: "fileUpload", entityName: src.containerName || "fileupload", identityBased }
    : undefined;
  if (relocation) ctx.plan.relocations.push(relocation);
  const inputs = compact({
    containerName: relocation ? relocation.entityName : src.containerName,
    sasTtlAsIso8601: src.sasTtlAsIso8601,
    authenticationType: src.authenticationType ? (identityBased ? "identityBased" : "keyBased") : undefined,
  });
  const plan: FileUploadPlan = { containerName: inputs.containerName as string, inputs, credential: { kind: "empty" }, auth: { kind: "keyBased" }, relocation };
  if (relocation) plan.credential = { kind: "relocated", endpointName: "$default" };
  // ARM's file-upload storage settings carry no subscription/resource group: assume the hub's own.
  const hubRg = ctx.model.resourceGroup ?? ctx.config.source.resourceGroup;
  const hubSubscription = ctx.model.subscriptionId ?? ctx.config.source.subscriptionId;
  if (identityBased) {
    const fu = { name: "$default", identity: src.identity, connection: accountOnly, resourceGroup: hubRg, subscriptionId: hubSubscription };
    plan.auth = identityAuth(ctx, "fileUpload", fu, relocation, "storageEndpoints.$default");
    if (plan.auth.kind === "programIdentity" && !relocation && hubRg && !cfg?.keySource?.resourceGroup) {
      warn(ctx, `storageEndpoints.$default: the file-upload storage account is assumed to be in the original's resource group '${hubRg}' for the role grant; set iothub-clone:endpoints.$default.keySource.resourceGroup if it is not`);
    }
    // Identity-based file upload still names the account in a key-less connection string.
    if (!relocation && accountOnly) plan.credential = { kind: "literal", value: accountOnly };
  } else if (!relocation) {
    const ks = ctx.config.endpoints["$default"]?.keySource;
    if (src.connectionString?.kind !== "literal" && src.connectionString?.kind !== "none" && src.connectionString && !ks?.resourceGroup && hubRg) {
      warn(ctx, `storageEndpoints.$default: the file-upload storage account is assumed to be in the original's resource group '${hubRg}' for the key look-up; set iothub-clone:endpoints.$default.keySource.resourceGroup if it is not`);
    }
    // No container means file upload is not configured (the guide's export): no key is needed.
    if (!src.containerName && src.connectionString?.kind !== "literal") {
      ctx.plan.summary.carriedOver.push("file upload storage ($default, not configured)");
      return { ...plan, credential: { kind: "empty" } };
    }
    plan.credential = credentialFor(
      ctx,
      "fileUpload",
      { name: "$default", resourceGroup: hubRg, subscriptionId: hubSubscription },
      src.connectionString,
      "storageEndpoints.$default.connectionString",
    );
  }
  ctx.plan.summary.carriedOver.push(`file upload storage ($default${relocation ? ", relocated" : ""})`);
  return plan;
}

function cfgHas$default(config: CloneConfig): boolean {
  return config.endpoints["$default"] !== undefined;
}

function planPolicies(ctx: Ctx): PolicyPlan[] | undefined {
  const policies = ctx.model.properties.authorizationPolicies;
  if (!policies) return undefined;
  const keep = ctx.config.clone.keepPolicyKeys === true;
  const rg = ctx.model.resourceGroup ?? ctx.config.source.resourceGroup;
  const out = policies.map((p, i): PolicyPlan => {
    const plan: PolicyPlan = { keyName: p.keyName, rights: normaliseRights(p.rights) };
    if (!keep) return plan;
    for (const which of ["primary", "secondary"] as const) {
      const ref = which === "primary" ? p.primaryKey : p.secondaryKey;
      const field = `authorizationPolicies[${i}] '${p.keyName}'.${which}Key`;
      let cred: CredentialSource;
      if (ref?.kind === "literal" && ref.value) cred = { kind: "literal", value: ref.value };
      else if (rg)
        cred = {
          kind: "lookup",
          lookup: { service: "iotHub", subscriptionId: ctx.model.subscriptionId ?? ctx.config.source.subscriptionId, resourceGroup: rg, hubName: ctx.model.name, keyName: p.keyName, key: which },
        };
      else cred = unresolved(field, "keepPolicyKeys needs the original's keys: set iothub-clone:source.resourceGroup (look-up on the original) or clone.keepPolicyKeys: false");
      if (which === "primary") plan.primaryKey = cred;
      else plan.secondaryKey = cred;
    }
    return plan;
  });
  ctx.plan.summary.carriedOver.push(`${out.length} shared access policies (${keep ? "keys carried over" : "new keys"})`);
  return out;
}

/** The transform. Errors that only the transform can see (unresolvable credentials, ...) go to plan.errors. */
export function transformHub(model: HubModel, config: CloneConfig): ClonePlan {
  const c = config.clone;
  const cloneName = c.name ?? defaultCloneName(model.name);
  const resourceGroupName = c.resourceGroup ?? model.resourceGroup ?? config.source.resourceGroup ?? "";
  const location = normaliseRegion(c.location ?? model.location);
  const skuName = c.sku ?? model.sku.name;
  const capacity = c.units ?? model.sku.capacity ?? 1;
  const plan: ClonePlan = {
    original: {
      name: model.name,
      location: model.location,
      resourceGroup: model.resourceGroup ?? config.source.resourceGroup,
      subscriptionId: model.subscriptionId ?? config.source.subscriptionId,
      format: model.format,
      origin: model.origin,
      ...(model.sku?.name ? { sku: { name: model.sku.name, capacity: model.sku.capacity ?? 1 } } : {}),
    },
    hub: { resourceName: cloneName, resourceGroupName, location, sku: { name: skuName, capacity }, tags: { ...model.tags, ...(c.tags ?? {}) }, properties: {} },
    endpoints: [],
    identity: { systemAssigned: false, reused: [], create: false, name: config.identity.name ?? `${cloneName}-routing` },
    roleGrants: [],
    relocations: [],
    consumerGroups: [],
    certificates: [],
    summary: { carriedOver: [], changed: [], dropped: [] },
    warnings: [...model.notes],
    errors: [],
  };
  const ctx: Ctx = { model, config, plan, cloneName };
  if (!resourceGroupName) {
    plan.errors.push({ field: "iothub-clone:clone.resourceGroup", message: "unknown: set the resource group to create the clone in (--resource-group RG)" });
  }

  // What changes between original and clone.
  const change = (what: string, from: unknown, to: unknown) => {
    if (String(from) !== String(to)) plan.summary.changed.push(`${what}: ${from ?? "(unset)"} → ${to}`);
  };
  change("name", model.name, cloneName);
  if (model.resourceGroup) change("resource group", model.resourceGroup, resourceGroupName);
  change("location", normaliseRegion(model.location), location);
  change("sku", model.sku.name, skuName);
  change("units", model.sku.capacity, capacity);

  const props = model.properties;
  const out: Record<string, unknown> = {};

  // Built-in event hub endpoint: partitions are fixed at creation (the main reason to clone).
  const ehKey = Object.keys(props.eventHubEndpoints ?? {}).find((k) => k.toLowerCase() === "events");
  const events = ehKey ? props.eventHubEndpoints![ehKey] : undefined;
  for (const k of Object.keys(props.eventHubEndpoints ?? {})) {
    if (k === ehKey) continue;
    drop(ctx, `eventHubEndpoints.${k}`, k.toLowerCase() === "operationsmonitoringevents" ? "deprecated operations monitoring endpoint" : "only the built-in 'events' endpoint exists");
  }
  const partitionCount = c.partitions ?? events?.partitionCount ?? (skuName === "F1" ? 2 : 4);
  let retentionTimeInDays = c.retentionDays ?? events?.retentionTimeInDays ?? 1;
  // The original's retention on a tier that allows less (validation.ts RETENTION_MAX and its
  // source): planned at the tier's maximum and said; an explicit clone.retentionDays is checked.
  const retentionMax = RETENTION_MAX[skuName];
  if (c.retentionDays === undefined && retentionMax !== undefined && retentionTimeInDays > retentionMax) {
    warn(ctx, `eventHubEndpoints.events.retentionTimeInDays: the original keeps ${retentionTimeInDays} days, ${skuName} allows ${retentionMax}: the clone keeps ${retentionMax} (choose an S tier to keep more)`);
    retentionTimeInDays = retentionMax;
  }
  change("partitions", events?.partitionCount, partitionCount);
  change("retention days", events?.retentionTimeInDays, retentionTimeInDays);
  for (const ro of ["partitionIds", "path", "endpoint"] as const) {
    if (events && events[ro] !== undefined) drop(ctx, `eventHubEndpoints.events.${ro}`, "read-only");
  }
  out.eventHubEndpoints = { events: { partitionCount, retentionTimeInDays } };

  for (const k of CARRIED_SCALARS) {
    const v = props[k];
    if (v === undefined) continue;
    if (k === "minTlsVersion" && !minTlsSupported(location)) {
      drop(
        ctx,
        `minTlsVersion (${String(v)})`,
        `TLS 1.2 enforcement is offered only in ${MIN_TLS_REGIONS.join(", ")} (learn.microsoft.com/azure/iot-hub/iot-hub-tls-support); a hub in ${location} cannot be created with it. IoT Hub ends TLS 1.0/1.1 for every hub on 31 August 2025 (same page); choose one of those regions (--location) to keep enforcement`,
      );
      continue;
    }
    if (k === "enableFileUploadNotifications" && ctx.config.clone.fileUpload === false) continue;
    out[k] = v;
    plan.summary.carriedOver.push(k);
  }
  if (MIN_TLS_REQUIRED_REGIONS.includes(normaliseRegion(location)) && out.minTlsVersion !== "1.2") {
    out.minTlsVersion = "1.2";
    warn(ctx, `minTlsVersion set to 1.2: a hub in ${location} must enforce TLS 1.2 or its creation fails (learn.microsoft.com/azure/iot-hub/iot-hub-tls-support); devices and services of the original that still use TLS 1.0/1.1 cannot connect to the clone`);
    plan.summary.changed.push(`minTlsVersion: ${String(props.minTlsVersion ?? "(none)")} → 1.2 (required in ${location})`);
  }
  planNetwork(ctx, out);
  const basic = isBasicTier(skuName);
  if (props.cloudToDevice && basic) {
    drop(ctx, "cloudToDevice", `the Basic tier (${skuName}) has no cloud-to-device messaging (learn.microsoft.com/azure/iot-hub/iot-hub-scaling#basic-and-standard-tiers); choose an S tier (--sku S1) to keep it`);
  } else if (props.cloudToDevice) {
    out.cloudToDevice = props.cloudToDevice;
    plan.summary.carriedOver.push("cloudToDevice");
  }
  if (props.messagingEndpoints) {
    out.messagingEndpoints = props.messagingEndpoints;
    plan.summary.carriedOver.push("messagingEndpoints (file upload notifications)");
  }
  if (props.privateEndpointConnections?.length) drop(ctx, "privateEndpointConnections", DROP_REASONS.privateEndpointConnections);
  for (const k of ["rootCertificate", "ipVersion", "deviceStreams"] as const) {
    if (props[k] !== undefined) drop(ctx, k, DROP_REASONS[k]);
  }
  for (const k of Object.keys(props.extra ?? {})) {
    drop(ctx, k, DROP_REASONS[k] ?? "not a setting of a new hub");
  }

  // Identity: the clone gets its own system-assigned identity when the original had one.
  const idType = (model.identity?.type ?? "None").toLowerCase();
  plan.identity.systemAssigned = idType.includes("systemassigned");
  if (config.identity.reuseOriginal !== false) {
    for (const id of model.identity?.userAssignedIdentities ?? []) if (!plan.identity.reused.includes(id)) plan.identity.reused.push(id);
  } else if (model.identity?.userAssignedIdentities?.length) {
    plan.summary.dropped.push("original user-assigned identities (identity.reuseOriginal: false)");
  }

  // Routing.
  const routing = props.routing;
  if (routing) {
    ENDPOINT_KINDS.forEach((kind) => {
      (routing.endpoints?.[kind] ?? []).forEach((ep, i) => plan.endpoints.push(planEndpoint(ctx, kind, ep, i)));
    });
    const allRoutes = routing.routes.map((r) => compact({ name: r.name, source: r.source, condition: r.condition, endpointNames: r.endpointNames, isEnabled: r.isEnabled }));
    // RouteToEventGrid is IoT Hub's own route (created with the first Event Grid telemetry
    // subscription); a create body that carries it fails with 400126. See EventGridRoutePlan.
    const egIndex = allRoutes.findIndex((r) => r.name.toLowerCase() === EVENT_GRID_ROUTE.toLowerCase());
    const routes = allRoutes.filter((r, i) => {
      if (i === egIndex) return false;
      // Twin change and job lifecycle events do not exist on the Basic tier (no twins, no jobs):
      // learn.microsoft.com/azure/iot-hub/iot-hub-scaling#basic-and-standard-tiers.
      if (basic && BASIC_TIER_MISSING_SOURCES.includes(String(r.source))) {
        drop(ctx, `routing.routes '${r.name}' (source ${r.source})`, `the Basic tier (${skuName}) has no ${r.source === "TwinChangeEvents" ? "device twins" : "jobs"}; choose an S tier (--sku S1) to keep it`);
        return false;
      }
      return true;
    });
    if (egIndex >= 0) {
      const r = allRoutes[egIndex] as RoutePlan;
      const condition = r.condition ?? "true";
      plan.eventGridRoute = { route: r, customCondition: condition.trim().toLowerCase() !== "true", subscriptionsKnown: false };
      plan.summary.dropped.push(`route ${r.name} (created by IoT Hub with the first Event Grid subscription)`);
      warn(
        ctx,
        `route ${r.name} (condition: ${condition}) left out of the clone: IoT Hub creates it itself when an Event Grid subscription is added and rejects a new hub that carries it (400126); ` +
          `the source does not list the original's Event Grid subscriptions, so recreate them on the clone, then ${plan.eventGridRoute.customCondition ? `set the route's condition back to '${condition}'` : "the route comes back by itself"}`,
      );
    }
    const rOut: Record<string, unknown> = { routes, enrichments: routing.enrichments.map((e) => ({ key: e.key, value: e.value, endpointNames: e.endpointNames })) };
    if (routing.fallbackRoute) {
      const f = routing.fallbackRoute;
      rOut.fallbackRoute = compact({ name: f.name, source: f.source, condition: f.condition, endpointNames: f.endpointNames, isEnabled: f.isEnabled });
      plan.summary.carriedOver.push("fallback route");
    }
    if (routes.length) plan.summary.carriedOver.push(`${routes.length} routes`);
    if (routing.enrichments.length) plan.summary.carriedOver.push(`${routing.enrichments.length} message enrichments`);
    out.routing = rOut;
  }
  if (c.fileUpload === false) {
    // On purpose: no file upload storage, and so no notifications (Azure rejects notifications
    // without storage: `storageEndpoints` in the 2023-06-30 spec).
    if (props.storageEndpoints) plan.summary.dropped.push("file upload storage (clone.fileUpload: false)");
    if (cfgHas$default(config)) {
      plan.errors.push({ field: "iothub-clone:endpoints.$default", message: "configures file upload storage while clone.fileUpload is false: remove one of the two" });
    }
    out.enableFileUploadNotifications = false;
    warn(ctx, `file upload not cloned (clone.fileUpload: false): no storageEndpoints.$default${props.enableFileUploadNotifications ? "; enableFileUploadNotifications turned off (the original had it on)" : ""}`);
  } else {
    plan.fileUpload = planFileUpload(ctx);
    const fu = plan.fileUpload;
    const configured = !!fu && (fu.relocation !== undefined || fu.auth.kind !== "keyBased" || (!!fu.containerName && fu.credential.kind !== "empty"));
    if (props.enableFileUploadNotifications && !configured && !plan.errors.some((e) => e.field.startsWith("storageEndpoints.$default"))) {
      plan.errors.push({
        field: "enableFileUploadNotifications",
        message:
          "is true but the original's file upload storage (storageEndpoints.$default) has no container or connection string, which Azure rejects: supply them (iothub-clone:endpoints.$default.connectionString, or --param for the template's parameters), or set iothub-clone:clone.fileUpload: false",
      });
    }
  }
  plan.policies = planPolicies(ctx);
  plan.hub.properties = out;
  if (out.restrictOutboundNetworkAccess === true && plan.relocations.length) {
    plan.summary.changed.push(`allowedFqdnList: + the ${plan.relocations.length} relocated routing target(s) (outbound access is restricted)`);
  }
  if (basic && config.devices.enabled) {
    warn(ctx, `devices: a Basic hub (${skuName}) has no device twins; the copy carries identities and keys, not twin tags or desired properties`);
  }

  // Endpoints named in config that the source does not have are typos.
  const known = new Set([...plan.endpoints.map((e) => e.name), ...(plan.fileUpload || props.storageEndpoints?.["$default"] ? ["$default"] : [])]);
  for (const name of Object.keys(config.endpoints)) {
    if (!known.has(name)) {
      plan.errors.push({
        field: `iothub-clone:endpoints.${name}`,
        message: `the original has no routing endpoint '${name}' (has: ${[...known].join(", ") || "none"}): fix the name or remove the entry`,
      });
    }
  }

  // Consumer groups: the export leaves them out; template children, the snapshot and config add them.
  // A hub's GET body (a file or the live hub) has neither them nor certificates: say so.
  if (model.format === "arm-resource" || model.format === "live") {
    warn(
      ctx,
      "consumer groups and certificates: a hub's GET body does not list them, so none are read from the original: name them in iothub-clone:clone.consumerGroups and certificates, or plan from a snapshot (npm run hubclone -- snapshot), which captures both",
    );
  }
  const groups = new Map<string, string>();
  for (const g of model.consumerGroups) {
    if (g.eventHubEndpoint.toLowerCase() !== "events") {
      drop(ctx, `consumer group ${g.eventHubEndpoint}/${g.name}`, "only the 'events' endpoint has consumer groups");
      continue;
    }
    if (g.name !== "$Default") groups.set(g.name.toLowerCase(), g.name);
  }
  for (const g of c.consumerGroups ?? []) if (g !== "$Default") groups.set(g.toLowerCase(), g);
  plan.consumerGroups = [...groups.values()];
  if (plan.consumerGroups.length) plan.summary.carriedOver.push(`${plan.consumerGroups.length} consumer groups`);

  // Certificates.
  const certNames = new Map<string, string>();
  for (const cert of model.certificates) certNames.set(cert.name.toLowerCase(), cert.name);
  for (const name of Object.keys(config.certificates)) if (!certNames.has(name.toLowerCase())) certNames.set(name.toLowerCase(), name);
  for (const name of certNames.values()) {
    const cfg = config.certificates[name];
    const src = model.certificates.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (cfg?.skip) {
      plan.summary.dropped.push(`certificate ${name} (skip: true in config)`);
      continue;
    }
    const body = cfg?.certificate ?? src?.certificate;
    if (!body) {
      plan.errors.push({
        field: `certificates.${name}`,
        message: `the source names certificate '${name}' without its body: set iothub-clone:certificates.${name}.certificate (PEM) or certificates.${name}.skip: true`,
      });
      continue;
    }
    plan.certificates.push(compact({ name, certificate: body, isVerified: cfg?.isVerified ?? src?.isVerified }));
  }
  if (plan.certificates.length) plan.summary.carriedOver.push(`${plan.certificates.length} certificates`);
  if (plan.identity.systemAssigned) plan.summary.carriedOver.push("system-assigned identity (a new one for the clone)");
  if (plan.identity.reused.length) plan.summary.carriedOver.push(`${plan.identity.reused.length} user-assigned identities (reused)`);
  if (Object.keys(plan.hub.tags).length) plan.summary.carriedOver.push("tags");
  return plan;
}
