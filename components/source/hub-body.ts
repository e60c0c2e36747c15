/**
 * ARM hub body (evaluated: no expressions left, credentials possibly markers) → `HubModel`.
 *
 * One normaliser for every format, so casing variants (`StorageEndPoints`, `eventhubEndpoints`),
 * shape traps (identity map vs list, `rights` arrays, `collectionName`) and credentials (masked,
 * listKeys, secret parameters) are handled the same way whatever the file was.
 */
import { UserError } from "../errors";
import { redact } from "../secrets";
import { ListKeysValue, MissingSecretValue, SecretValue, isMarker } from "./arm-expressions";
import type {
  ConsumerGroup,
  CosmosDbContainerEndpoint,
  EndpointBase,
  Enrichment,
  HubCertificate,
  HubIdentity,
  HubModel,
  HubProperties,
  KeyRef,
  Route,
  RoutingEndpoints,
  SharedAccessPolicy,
  SourceFormat,
  StorageContainerEndpoint,
} from "./model";

type Obj = Record<string, unknown>;

export interface NormaliseOptions {
  format: SourceFormat;
  origin: string;
  /** JSON path of the hub body inside the file (`resources[2]`, `hub`, ``). */
  path: string;
  consumerGroups?: ConsumerGroup[];
  certificates?: HubCertificate[];
  notes?: string[];
}

function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return `${path}['${key}']`;
  return path ? `${path}.${key}` : key;
}

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v) && !isMarker(v);
}

/** Case-insensitive property lookup: real templates spell `StorageEndPoints`, `eventhubEndpoints`. */
function keyOf(o: Obj, name: string): string | undefined {
  if (name in o) return name;
  const lower = name.toLowerCase();
  return Object.keys(o).find((k) => k.toLowerCase() === lower);
}
function get(o: Obj, ...names: string[]): unknown {
  for (const n of names) {
    const k = keyOf(o, n);
    if (k !== undefined && o[k] !== undefined) return o[k];
  }
  return undefined;
}

class Reader {
  readonly notes: string[] = [];
  constructor(readonly origin: string) {}

  fail(path: string, message: string): never {
    throw new UserError(redact(`${message} (in ${this.origin})`), path);
  }

  /** A plain (non-credential) value: markers are unwrapped or rejected. */
  plain(v: unknown, path: string): unknown {
    if (v instanceof SecretValue) return this.plain(v.value, path);
    if (v instanceof MissingSecretValue)
      this.fail(path, `SecureString parameter '${v.parameter}' has no value: supply --param ${v.parameter}=VALUE (or source.param.${v.parameter} in stack config)`);
    if (v instanceof ListKeysValue)
      this.fail(path, "listKeys() can only stand for a key or connection string; put the literal value (or a parameter) here");
    if (Array.isArray(v)) return v.map((x, i) => this.plain(x, join(path, i)));
    if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.plain(x, join(path, k))]));
    return v;
  }

  str(v: unknown, path: string, required: true): string;
  str(v: unknown, path: string, required?: false): string | undefined;
  str(v: unknown, path: string, required = false): string | undefined {
    const p = this.plain(v, path);
    if (p === undefined || p === null) {
      if (required) this.fail(path, "is required but missing");
      return undefined;
    }
    if (typeof p === "string") return p;
    if (typeof p === "number" || typeof p === "boolean") return String(p);
    return this.fail(path, `must be a string, got ${Array.isArray(p) ? "an array" : typeof p}`);
  }

  num(v: unknown, path: string): number | undefined {
    const p = this.plain(v, path);
    if (p === undefined || p === null || p === "") return undefined;
    if (typeof p === "number") return p;
    if (typeof p === "string" && /^-?\d+(\.\d+)?$/.test(p.trim())) return Number(p);
    return this.fail(path, `must be a number, got ${kindOf(p)}`);
  }

  bool(v: unknown, path: string): boolean | undefined {
    const p = this.plain(v, path);
    if (p === undefined || p === null || p === "") return undefined;
    if (typeof p === "boolean") return p;
    if (typeof p === "string" && /^(true|false)$/i.test(p)) return p.toLowerCase() === "true";
    return this.fail(path, `must be true or false, got ${kindOf(p)}`);
  }

  obj(v: unknown, path: string): Obj | undefined {
    const p = v instanceof SecretValue ? v.value : v;
    if (p === undefined || p === null) return undefined;
    if (isObj(p)) return p;
    return this.fail(path, `must be an object, got ${Array.isArray(p) ? "an array" : typeof p}`);
  }

  arr(v: unknown, path: string): unknown[] {
    const p = v instanceof SecretValue ? v.value : v;
    if (p === undefined || p === null) return [];
    if (Array.isArray(p)) return p;
    return this.fail(path, `must be an array, got ${typeof p}`);
  }

  strings(v: unknown, path: string): string[] {
    return this.arr(v, path).map((x, i) => this.str(x, join(path, i), true));
  }

  /** A credential field → where its value comes from. */
  key(v: unknown, path: string): KeyRef | undefined {
    if (v === undefined || v === null || v === "") return undefined;
    if (v instanceof ListKeysValue)
      return {
        kind: "listKeys",
        resourceId: v.resourceId,
        expression: v.expression,
        ...(v.keyName ? { keyName: v.keyName } : {}),
        ...(v.template !== undefined ? { template: v.template } : {}),
      };
    if (v instanceof MissingSecretValue) return { kind: "parameter", parameter: v.parameter };
    if (v instanceof SecretValue) {
      const inner = v.value;
      if (inner === undefined || inner === null || inner === "") return undefined;
      if (typeof inner !== "string") this.fail(path, `secure parameter '${v.parameter}' must hold a string`);
      return masked(inner) ? { kind: "masked", masked: inner } : { kind: "literal", value: inner };
    }
    if (typeof v !== "string") this.fail(path, `must be a string, got ${typeof v}`);
    return masked(v) ? { kind: "masked", masked: v } : { kind: "literal", value: v };
  }

  /** Properties not modelled explicitly: kept verbatim; markers become KeyRefs so nothing leaks. */
  extraValue(v: unknown, path: string): unknown {
    if (isMarker(v)) return this.key(v, path);
    if (Array.isArray(v)) return v.map((x, i) => this.extraValue(x, join(path, i)));
    if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.extraValue(x, join(path, k))]));
    return v;
  }
}

/** What a wrong value is, without quoting it (it may be a secret). */
function kindOf(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "number" || typeof v === "boolean") return `${typeof v} ${String(v)}`;
  return typeof v === "string" ? "a string" : `an ${typeof v}`;
}

/** ARM masks secrets with `****` (`AccountKey=****`, `SharedAccessKey=****`, or the whole value). */
export function masked(s: string): boolean {
  return /\*{4}/.test(s);
}

/** "East US" → "eastus": ARM accepts display names, everything downstream wants the short name. */
export function normaliseLocation(location: string): string {
  return location.replace(/\s+/g, "").toLowerCase();
}

const propertyNames = [
  "authorizationPolicies",
  "disableLocalAuth",
  "disableDeviceSAS",
  "disableModuleSAS",
  "restrictOutboundNetworkAccess",
  "allowedFqdnList",
  "publicNetworkAccess",
  "ipFilterRules",
  "networkRuleSets",
  "minTlsVersion",
  "privateEndpointConnections",
  "eventHubEndpoints",
  "routing",
  "storageEndpoints",
  "messagingEndpoints",
  "enableFileUploadNotifications",
  "cloudToDevice",
  "comments",
  "features",
  "enableDataResidency",
  "rootCertificate",
  "ipVersion",
  "deviceStreams",
];

/** Read-only (GET-only) properties: kept in `extra` for the transform to drop, named in a note. */
const readOnlyProperties = ["hostName", "state", "provisioningState", "locations"];

export function normaliseHubBody(body: Obj, opts: NormaliseOptions): HubModel {
  const r = new Reader(opts.origin);
  const p = opts.path;
  const name = r.str(get(body, "name"), join(p, "name"), true);
  const rawLocation = r.str(get(body, "location"), join(p, "location"), true);
  const location = normaliseLocation(rawLocation);
  if (location !== rawLocation) r.notes.push(`${join(p, "location")}: '${rawLocation}' read as '${location}'`);

  const skuObj = r.obj(get(body, "sku"), join(p, "sku")) ?? r.fail(join(p, "sku"), "the hub has no sku (name and capacity); add it to the source file");
  const sku = {
    name: r.str(get(skuObj, "name"), join(p, "sku.name"), true),
    capacity: r.num(get(skuObj, "capacity"), join(p, "sku.capacity")) ?? 1,
    ...(get(skuObj, "tier") !== undefined ? { tier: r.str(get(skuObj, "tier"), join(p, "sku.tier")) } : {}),
  };

  const tagsRaw = r.obj(get(body, "tags"), join(p, "tags")) ?? {};
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(tagsRaw)) tags[k] = r.str(v, join(join(p, "tags"), k)) ?? "";

  const id = r.str(get(body, "id"), join(p, "id"));
  const ids = id ? parseArmId(id) : {};
  const subscriptionId = r.str(get(body, "subscriptionId", "subscriptionid"), join(p, "subscriptionId")) ?? ids.subscriptionId;
  const resourceGroup = r.str(get(body, "resourceGroup", "resourcegroup"), join(p, "resourceGroup")) ?? ids.resourceGroup;

  const identity = readIdentity(r, get(body, "identity"), join(p, "identity"));
  const properties = readProperties(r, r.obj(get(body, "properties"), join(p, "properties")) ?? {}, join(p, "properties"));

  return {
    format: opts.format,
    origin: opts.origin,
    name,
    location,
    ...(subscriptionId ? { subscriptionId } : {}),
    ...(resourceGroup ? { resourceGroup } : {}),
    ...(id ? { id } : {}),
    tags,
    sku,
    ...(identity ? { identity } : {}),
    properties,
    consumerGroups: opts.consumerGroups ?? [],
    certificates: opts.certificates ?? [],
    notes: [...(opts.notes ?? []), ...r.notes],
  };
}

export function parseArmId(id: string): { subscriptionId?: string; resourceGroup?: string } {
  const m = /\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?/i.exec(id);
  return m ? { subscriptionId: m[1], ...(m[2] ? { resourceGroup: m[2] } : {}) } : {};
}

function readIdentity(r: Reader, v: unknown, path: string): HubIdentity | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const type = r.str(get(o, "type"), join(path, "type")) ?? "None";
  const uai = get(o, "userAssignedIdentities");
  let list: string[] = [];
  if (Array.isArray(uai)) list = r.strings(uai, join(path, "userAssignedIdentities"));
  else if (isObj(uai)) list = Object.keys(uai);
  else if (uai !== undefined && uai !== null) r.fail(join(path, "userAssignedIdentities"), "must be a map of identity ids (or a list)");
  return { type, userAssignedIdentities: list };
}

function readProperties(r: Reader, o: Obj, path: string): HubProperties {
  const out: HubProperties = { extra: {} };
  const known = new Set(propertyNames.map((n) => n.toLowerCase()));
  for (const [k, v] of Object.entries(o)) {
    const lower = k.toLowerCase();
    const canonical = propertyNames.find((n) => n.toLowerCase() === lower);
    if (canonical && canonical !== k) r.notes.push(`${join(path, k)}: read as '${canonical}'`);
    if (!known.has(lower)) {
      const ro = readOnlyProperties.find((n) => n.toLowerCase() === lower);
      out.extra[ro ?? k] = r.extraValue(v, join(path, k));
      if (lower === "location") r.notes.push(`${join(path, k)}: legacy property, ignored (the hub's location is the resource's location)`);
      else if (!ro && lower !== "operationsmonitoringproperties") r.notes.push(`${join(path, k)}: not a known hub property; kept as read`);
    }
  }
  const at = (name: string) => join(path, keyOf(o, name) ?? name);
  const s = (name: string) => r.str(get(o, name), at(name));
  const b = (name: string) => r.bool(get(o, name), at(name));

  const policies = get(o, "authorizationPolicies");
  if (policies !== undefined && policies !== null) out.authorizationPolicies = readPolicies(r, policies, at("authorizationPolicies"));
  for (const name of ["disableLocalAuth", "disableDeviceSAS", "disableModuleSAS", "restrictOutboundNetworkAccess", "enableFileUploadNotifications", "enableDataResidency"] as const) {
    const v = b(name);
    if (v !== undefined) out[name] = v;
  }
  for (const name of ["publicNetworkAccess", "minTlsVersion", "comments", "features", "ipVersion"] as const) {
    const v = s(name);
    if (v !== undefined) out[name] = v;
  }
  const fqdn = get(o, "allowedFqdnList");
  if (fqdn !== undefined && fqdn !== null) out.allowedFqdnList = r.strings(fqdn, at("allowedFqdnList"));

  const ipf = get(o, "ipFilterRules");
  if (ipf !== undefined && ipf !== null)
    out.ipFilterRules = r.arr(ipf, at("ipFilterRules")).map((x, i) => {
      const rp = join(at("ipFilterRules"), i);
      const rule = r.obj(x, rp) ?? {};
      return {
        filterName: r.str(get(rule, "filterName"), join(rp, "filterName"), true),
        action: r.str(get(rule, "action"), join(rp, "action"), true),
        ipMask: r.str(get(rule, "ipMask"), join(rp, "ipMask"), true),
      };
    });

  const nrs = r.obj(get(o, "networkRuleSets"), at("networkRuleSets"));
  if (nrs) {
    const np = at("networkRuleSets");
    out.networkRuleSets = {
      ...(get(nrs, "defaultAction") !== undefined ? { defaultAction: r.str(get(nrs, "defaultAction"), join(np, "defaultAction")) } : {}),
      applyToBuiltInEventHubEndpoint: r.bool(get(nrs, "applyToBuiltInEventHubEndpoint"), join(np, "applyToBuiltInEventHubEndpoint")) ?? false,
      ipRules: r.arr(get(nrs, "ipRules"), join(np, "ipRules")).map((x, i) => {
        const rp = join(join(np, "ipRules"), i);
        const rule = r.obj(x, rp) ?? {};
        const action = r.str(get(rule, "action"), join(rp, "action"));
        return {
          filterName: r.str(get(rule, "filterName"), join(rp, "filterName"), true),
          ...(action !== undefined ? { action } : {}),
          ipMask: r.str(get(rule, "ipMask"), join(rp, "ipMask"), true),
        };
      }),
    };
  }

  const pec = get(o, "privateEndpointConnections");
  if (pec !== undefined && pec !== null) out.privateEndpointConnections = r.arr(pec, at("privateEndpointConnections")).map((x, i) => r.extraValue(x, join(at("privateEndpointConnections"), i)));

  const ehe = r.obj(get(o, "eventHubEndpoints"), at("eventHubEndpoints"));
  if (ehe) {
    out.eventHubEndpoints = {};
    for (const [k, v] of Object.entries(ehe)) {
      const ep = join(at("eventHubEndpoints"), k);
      const e = r.obj(v, ep) ?? {};
      const entry: NonNullable<HubProperties["eventHubEndpoints"]>[string] = {};
      const ret = r.num(get(e, "retentionTimeInDays"), join(ep, "retentionTimeInDays"));
      if (ret !== undefined) entry.retentionTimeInDays = ret;
      const pc = r.num(get(e, "partitionCount"), join(ep, "partitionCount"));
      if (pc !== undefined) entry.partitionCount = pc;
      const ids = get(e, "partitionIds");
      if (ids !== undefined && ids !== null) entry.partitionIds = r.strings(ids, join(ep, "partitionIds"));
      const epath = r.str(get(e, "path"), join(ep, "path"));
      if (epath !== undefined) entry.path = epath;
      const endpoint = r.str(get(e, "endpoint"), join(ep, "endpoint"));
      if (endpoint !== undefined) entry.endpoint = endpoint;
      out.eventHubEndpoints[k] = entry;
    }
  }

  const routing = r.obj(get(o, "routing"), at("routing"));
  if (routing) out.routing = readRouting(r, routing, at("routing"));

  const se = r.obj(get(o, "storageEndpoints"), at("storageEndpoints"));
  if (se) {
    out.storageEndpoints = {};
    for (const [k, v] of Object.entries(se)) {
      const ep = join(at("storageEndpoints"), k);
      const e = r.obj(v, ep) ?? {};
      const ttl = r.str(get(e, "sasTtlAsIso8601"), join(ep, "sasTtlAsIso8601"));
      const cs = r.key(get(e, "connectionString"), join(ep, "connectionString"));
      const containerRaw = get(e, "containerName");
      let containerName: string;
      let containerParameter: string | undefined;
      if (containerRaw instanceof MissingSecretValue) {
        // Portal exports parameterise the file-upload container as SecureString. Whether the
        // original uses file upload cannot be told without it: the transform asks for it, or for
        // `clone.fileUpload: false` (never read as empty without a word).
        containerName = "";
        containerParameter = containerRaw.parameter;
      } else containerName = r.str(containerRaw, join(ep, "containerName")) ?? "";
      const auth = r.str(get(e, "authenticationType"), join(ep, "authenticationType"));
      const identity = readEndpointIdentity(r, get(e, "identity"), join(ep, "identity"));
      out.storageEndpoints[k] = {
        ...(ttl !== undefined ? { sasTtlAsIso8601: ttl } : {}),
        ...(cs ? { connectionString: cs } : {}),
        containerName,
        ...(containerParameter ? { containerParameter } : {}),
        ...(auth !== undefined ? { authenticationType: auth } : {}),
        ...(identity ? { identity } : {}),
      };
    }
  }

  const me = r.obj(get(o, "messagingEndpoints"), at("messagingEndpoints"));
  if (me) {
    out.messagingEndpoints = {};
    for (const [k, v] of Object.entries(me)) {
      const ep = join(at("messagingEndpoints"), k);
      const e = r.obj(v, ep) ?? {};
      out.messagingEndpoints[k] = compact({
        lockDurationAsIso8601: r.str(get(e, "lockDurationAsIso8601"), join(ep, "lockDurationAsIso8601")),
        ttlAsIso8601: r.str(get(e, "ttlAsIso8601"), join(ep, "ttlAsIso8601")),
        maxDeliveryCount: r.num(get(e, "maxDeliveryCount"), join(ep, "maxDeliveryCount")),
      });
    }
  }

  const c2d = r.obj(get(o, "cloudToDevice"), at("cloudToDevice"));
  if (c2d) {
    const cp = at("cloudToDevice");
    const fb = r.obj(get(c2d, "feedback"), join(cp, "feedback"));
    out.cloudToDevice = compact({
      maxDeliveryCount: r.num(get(c2d, "maxDeliveryCount"), join(cp, "maxDeliveryCount")),
      defaultTtlAsIso8601: r.str(get(c2d, "defaultTtlAsIso8601"), join(cp, "defaultTtlAsIso8601")),
      feedback: fb
        ? compact({
            lockDurationAsIso8601: r.str(get(fb, "lockDurationAsIso8601"), join(cp, "feedback.lockDurationAsIso8601")),
            ttlAsIso8601: r.str(get(fb, "ttlAsIso8601"), join(cp, "feedback.ttlAsIso8601")),
            maxDeliveryCount: r.num(get(fb, "maxDeliveryCount"), join(cp, "feedback.maxDeliveryCount")),
          })
        : undefined,
    });
  }

  const rc = r.obj(get(o, "rootCertificate"), at("rootCertificate"));
  if (rc) out.rootCertificate = compact({ enableRootCertificateV2: r.bool(get(rc, "enableRootCertificateV2"), join(at("rootCertificate"), "enableRootCertificateV2")) });
  const ds = r.obj(get(o, "deviceStreams"), at("deviceStreams"));
  if (ds) out.deviceStreams = compact({ streamingEndpoints: get(ds, "streamingEndpoints") !== undefined ? r.strings(get(ds, "streamingEndpoints"), join(at("deviceStreams"), "streamingEndpoints")) : undefined });
  return out;
}

function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function readPolicies(r: Reader, v: unknown, path: string): SharedAccessPolicy[] {
  return r.arr(v, path).map((x, i) => {
    const pp = join(path, i);
    const o = r.obj(x, pp) ?? {};
    const rightsRaw = get(o, "rights");
    const rights = Array.isArray(rightsRaw) ? r.strings(rightsRaw, join(pp, "rights")).join(", ") : (r.str(rightsRaw, join(pp, "rights"), true) as string);
    const primaryKey = r.key(get(o, "primaryKey"), join(pp, "primaryKey"));
    const secondaryKey = r.key(get(o, "secondaryKey"), join(pp, "secondaryKey"));
    return {
      keyName: r.str(get(o, "keyName"), join(pp, "keyName"), true),
      rights,
      ...(primaryKey ? { primaryKey } : {}),
      ...(secondaryKey ? { secondaryKey } : {}),
    };
  });
}

function readEndpointIdentity(r: Reader, v: unknown, path: string): { userAssignedIdentity?: string } | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const uai = r.str(get(o, "userAssignedIdentity"), join(path, "userAssignedIdentity"));
  return uai ? { userAssignedIdentity: uai } : {};
}

const endpointKinds: Array<[keyof RoutingEndpoints, string[]]> = [
  ["serviceBusQueues", ["serviceBusQueues"]],
  ["serviceBusTopics", ["serviceBusTopics"]],
  ["eventHubs", ["eventHubs"]],
  ["storageContainers", ["storageContainers"]],
  ["cosmosDBSqlContainers", ["cosmosDBSqlContainers", "cosmosDBSqlCollections"]],
];

const endpointCommon = ["name", "id", "subscriptionId", "resourceGroup", "authenticationType", "identity", "endpointUri", "entityPath", "connectionString"];
const endpointSpecific: Record<keyof RoutingEndpoints, string[]> = {
  serviceBusQueues: [],
  serviceBusTopics: [],
  eventHubs: [],
  storageContainers: ["containerName", "fileNameFormat", "batchFrequencyInSeconds", "maxChunkSizeInBytes", "encoding"],
  cosmosDBSqlContainers: ["databaseName", "containerName", "collectionName", "primaryKey", "secondaryKey", "partitionKeyName", "partitionKeyTemplate"],
};

function readRouting(r: Reader, o: Obj, path: string): NonNullable<HubProperties["routing"]> {
  const endpointsObj = r.obj(get(o, "endpoints"), join(path, "endpoints")) ?? {};
  const endpoints: RoutingEndpoints = { serviceBusQueues: [], serviceBusTopics: [], eventHubs: [], storageContainers: [], cosmosDBSqlContainers: [] };
  for (const [kind, names] of endpointKinds) {
    for (const n of names) {
      const k = keyOf(endpointsObj, n);
      if (k === undefined) continue;
      const ep = join(join(path, "endpoints"), k);
      if (k.toLowerCase() === "cosmosdbsqlcollections") r.notes.push(`${ep}: older name, read as cosmosDBSqlContainers`);
      for (const [i, raw] of r.arr(endpointsObj[k], ep).entries()) {
        const e = r.obj(raw, join(ep, i)) ?? {};
        (endpoints[kind] as unknown[]).push(readEndpoint(r, kind, e, join(ep, i)));
      }
    }
  }
  for (const k of Object.keys(endpointsObj))
    if (!endpointKinds.some(([, names]) => names.some((n) => n.toLowerCase() === k.toLowerCase())))
      r.notes.push(`${join(join(path, "endpoints"), k)}: unknown endpoint kind, ignored`);

  const routes = r.arr(get(o, "routes"), join(path, "routes")).map((x, i) => readRoute(r, x, join(join(path, "routes"), i)));
  const fb = get(o, "fallbackRoute");
  const fallbackRoute = fb === undefined || fb === null ? undefined : readRoute(r, fb, join(path, "fallbackRoute"), "$fallback");
  const enrichments: Enrichment[] = r.arr(get(o, "enrichments"), join(path, "enrichments")).map((x, i) => {
    const ep = join(join(path, "enrichments"), i);
    const e = r.obj(x, ep) ?? {};
    return {
      key: r.str(get(e, "key"), join(ep, "key"), true),
      value: r.str(get(e, "value"), join(ep, "value"), true),
      endpointNames: r.strings(get(e, "endpointNames"), join(ep, "endpointNames")),
    };
  });
  return { endpoints, routes, ...(fallbackRoute ? { fallbackRoute } : {}), enrichments };
}

function readEndpoint(r: Reader, kind: keyof RoutingEndpoints, e: Obj, path: string): EndpointBase | StorageContainerEndpoint | CosmosDbContainerEndpoint {
  const at = (n: string) => join(path, keyOf(e, n) ?? n);
  const s = (n: string) => r.str(get(e, n), at(n));
  const known = new Set([...endpointCommon, ...endpointSpecific[kind]].map((x) => x.toLowerCase()));
  for (const k of Object.keys(e)) if (!known.has(k.toLowerCase())) r.notes.push(`${join(path, k)}: unknown endpoint property, ignored`);
  const identity = readEndpointIdentity(r, get(e, "identity"), at("identity"));
  const base = compact({
    name: r.str(get(e, "name"), at("name"), true),
    id: s("id"),
    subscriptionId: s("subscriptionId"),
    resourceGroup: s("resourceGroup"),
    authenticationType: s("authenticationType"),
    identity,
    entityPath: s("entityPath"),
  });
  if (kind === "cosmosDBSqlContainers") {
    const container = get(e, "containerName") ?? get(e, "collectionName");
    if (get(e, "containerName") === undefined && get(e, "collectionName") !== undefined) r.notes.push(`${at("collectionName")}: read as containerName`);
    return compact({
      ...base,
      endpointUri: r.str(get(e, "endpointUri"), at("endpointUri"), true),
      databaseName: r.str(get(e, "databaseName"), at("databaseName"), true),
      containerName: r.str(container, at(get(e, "containerName") !== undefined ? "containerName" : "collectionName"), true),
      primaryKey: r.key(get(e, "primaryKey"), at("primaryKey")),
      secondaryKey: r.key(get(e, "secondaryKey"), at("secondaryKey")),
      partitionKeyName: s("partitionKeyName"),
      partitionKeyTemplate: s("partitionKeyTemplate"),
    }) as CosmosDbContainerEndpoint;
  }
  const common = compact({ ...base, endpointUri: s("endpointUri"), connectionString: r.key(get(e, "connectionString"), at("connectionString")) });
  if (kind === "storageContainers") {
    return compact({
      ...common,
      containerName: r.str(get(e, "containerName"), at("containerName"), true),
      fileNameFormat: s("fileNameFormat"),
      batchFrequencyInSeconds: r.num(get(e, "batchFrequencyInSeconds"), at("batchFrequencyInSeconds")),
      maxChunkSizeInBytes: r.num(get(e, "maxChunkSizeInBytes"), at("maxChunkSizeInBytes")),
      encoding: s("encoding"),
    }) as StorageContainerEndpoint;
  }
  return common as EndpointBase;
}

function readRoute(r: Reader, v: unknown, path: string, defaultName?: string): Route {
  const o = r.obj(v, path) ?? {};
  const name = r.str(get(o, "name"), join(path, "name")) ?? defaultName;
  if (name === undefined) r.fail(join(path, "name"), "is required but missing");
  const condition = r.str(get(o, "condition"), join(path, "condition"));
  return {
    name,
    source: r.str(get(o, "source"), join(path, "source")) ?? "DeviceMessages",
    ...(condition !== undefined ? { condition } : {}),
    endpointNames: r.strings(get(o, "endpointNames"), join(path, "endpointNames")),
    isEnabled: r.bool(get(o, "isEnabled"), join(path, "isEnabled")) ?? true,
  };
}
