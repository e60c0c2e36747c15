/**
 * Validation of the clone's desired state before any cloud call (pulumi-eks style: exported
 * pure functions, tested as data). Every finding names the field and the fix, in one line.
 */
import type { Finding } from "../errors";
import { AZURE_REGIONS, isKnownRegion } from "./regions";
import type { ClonePlan, CredentialSource } from "./types";

export const LIMITS = {
  nameMin: 3,
  nameMax: 50,
  partitionsMin: 2,
  partitionsMax: 32,
  freePartitions: 2,
  retentionMin: 1,
  retentionMax: 7,
  consumerGroups: 20,
  consumerGroupNameMax: 50,
  customEndpoints: 10,
  freeCustomEndpoints: 1,
  routes: 100,
  freeRoutes: 5,
  enrichments: 10,
  certificates: 25,
  policies: 16,
  endpointNameMax: 64,
} as const;

const SKUS = ["F1", "B1", "B2", "B3", "S1", "S2", "S3"];
const BUILT_IN_ENDPOINTS = ["events", "eventgrid"];
const RESERVED_ENDPOINT_NAMES = ["events", "fileNotifications", "$default"];

export function validateHubName(name: string, originalName?: string): Finding[] {
  const field = "iothub-clone:clone.name";
  const out: Finding[] = [];
  if (name.length < LIMITS.nameMin || name.length > LIMITS.nameMax) {
    out.push({ field, message: `'${name}' has ${name.length} characters; a hub name has ${LIMITS.nameMin}-${LIMITS.nameMax}: choose another (--name N)` });
  }
  if (!/^[A-Za-z0-9-]*$/.test(name)) out.push({ field, message: `'${name}' may contain only letters, digits and hyphens: choose another (--name N)` });
  if (name.endsWith("-")) out.push({ field, message: `'${name}' must not end with a hyphen: drop the trailing '-'` });
  if (originalName && name.toLowerCase() === originalName.toLowerCase()) {
    out.push({ field, message: `'${name}' is the original's name; hub names are globally unique: choose a different name (default '${originalName}clone')` });
  }
  return out;
}

export function validateLocation(location: string): Finding[] {
  if (isKnownRegion(location)) return [];
  const near = AZURE_REGIONS.filter((r) => r.startsWith(location.toLowerCase().slice(0, 4))).slice(0, 4);
  return [
    {
      field: "iothub-clone:clone.location",
      message: `'${location}' is not a known Azure region: use a region name such as eastus or westeurope${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}`,
    },
  ];
}

export function validateSku(sku: string, capacity: number): Finding[] {
  const out: Finding[] = [];
  if (!SKUS.includes(sku)) out.push({ field: "iothub-clone:clone.sku", message: `'${sku}' is not an IoT Hub SKU: use one of ${SKUS.join(", ")}` });
  if (!Number.isInteger(capacity) || capacity < 1) out.push({ field: "iothub-clone:clone.units", message: `${capacity} units: use a whole number of at least 1` });
  else if (sku === "F1" && capacity !== 1) out.push({ field: "iothub-clone:clone.units", message: `the Free tier (F1) has exactly 1 unit: set units to 1` });
  return out;
}

export function validatePartitions(partitions: number, sku: string): Finding[] {
  const field = "iothub-clone:clone.partitions";
  if (sku === "F1" && partitions !== LIMITS.freePartitions) {
    return [{ field, message: `the Free tier (F1) has exactly ${LIMITS.freePartitions} partitions: set partitions to 2 or choose a paid SKU` }];
  }
  if (!Number.isInteger(partitions) || partitions < LIMITS.partitionsMin || partitions > LIMITS.partitionsMax) {
    return [{ field, message: `${partitions}: partitions must be ${LIMITS.partitionsMin}-${LIMITS.partitionsMax}` }];
  }
  return [];
}

export function validateRetention(days: number): Finding[] {
  if (Number.isInteger(days) && days >= LIMITS.retentionMin && days <= LIMITS.retentionMax) return [];
  return [{ field: "iothub-clone:clone.retentionDays", message: `${days}: retention must be ${LIMITS.retentionMin}-${LIMITS.retentionMax} days` }];
}

export function validateConsumerGroups(groups: string[]): Finding[] {
  const out: Finding[] = [];
  // $Default always exists and counts towards the hub's limit.
  if (groups.length + 1 > LIMITS.consumerGroups) {
    out.push({
      field: "iothub-clone:clone.consumerGroups",
      message: `${groups.length} consumer groups plus $Default exceed the limit of ${LIMITS.consumerGroups}: remove ${groups.length + 1 - LIMITS.consumerGroups}`,
    });
  }
  for (const g of groups) {
    if (!/^[A-Za-z0-9._-]{1,50}$/.test(g)) {
      out.push({ field: `iothub-clone:clone.consumerGroups '${g}'`, message: "a consumer group name has 1-50 letters, digits, '-', '.' or '_': rename it" });
    }
  }
  return out;
}

/** Routing: counts, names, and every route/enrichment/fallback pointing at an endpoint that exists. */
export function validateRouting(plan: ClonePlan): Finding[] {
  const out: Finding[] = [];
  const free = plan.hub.sku.name === "F1";
  const maxEndpoints = free ? LIMITS.freeCustomEndpoints : LIMITS.customEndpoints;
  if (plan.endpoints.length > maxEndpoints) {
    out.push({ field: "routing.endpoints", message: `${plan.endpoints.length} custom endpoints exceed the limit of ${maxEndpoints}${free ? " on the Free tier" : ""}: remove some from the source` });
  }
  const names = new Map<string, number>();
  for (const ep of plan.endpoints) {
    names.set(ep.name.toLowerCase(), (names.get(ep.name.toLowerCase()) ?? 0) + 1);
    if (RESERVED_ENDPOINT_NAMES.some((r) => r.toLowerCase() === ep.name.toLowerCase())) {
      out.push({ field: `routing.endpoints '${ep.name}'`, message: `'${ep.name}' is reserved (${RESERVED_ENDPOINT_NAMES.join(", ")}): rename the endpoint in the source` });
    } else if (!/^[A-Za-z0-9._-]{1,64}$/.test(ep.name)) {
      out.push({ field: `routing.endpoints '${ep.name}'`, message: "an endpoint name has 1-64 letters, digits, '.', '_' or '-': rename it in the source" });
    }
  }
  for (const [n, count] of names) {
    if (count > 1) out.push({ field: `routing.endpoints '${n}'`, message: `endpoint names must be unique across kinds (${count} found): rename one in the source` });
  }
  const routing = plan.hub.properties.routing as
    | { routes: Array<{ name: string; endpointNames: string[] }>; enrichments: Array<{ key: string; endpointNames: string[] }>; fallbackRoute?: { endpointNames: string[] } }
    | undefined;
  if (!routing) return out;
  // Built-in endpoints: `events` (the event-hub-compatible one) and `eventgrid` (RouteToEventGrid's target).
  const exists = (n: string) => BUILT_IN_ENDPOINTS.includes(n.toLowerCase()) || names.has(n.toLowerCase());
  const known = () => ["events", ...plan.endpoints.map((e) => e.name)].join(", ");
  const maxRoutes = free ? LIMITS.freeRoutes : LIMITS.routes;
  if (routing.routes.length > maxRoutes) out.push({ field: "routing.routes", message: `${routing.routes.length} routes exceed the limit of ${maxRoutes}: remove some from the source` });
  const routeNames = new Set<string>();
  routing.routes.forEach((r, i) => {
    const field = `routing.routes[${i}] '${r.name}'`;
    if (routeNames.has(r.name.toLowerCase())) out.push({ field, message: "route names must be unique: rename one in the source" });
    routeNames.add(r.name.toLowerCase());
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(r.name)) out.push({ field, message: "a route name has 1-64 letters, digits, '.', '_' or '-': rename it in the source" });
    if (!r.endpointNames?.length) out.push({ field, message: "names no endpoint: give it one endpoint (e.g. events)" });
    for (const n of r.endpointNames ?? []) {
      if (!exists(n)) out.push({ field, message: `points at endpoint '${n}', which does not exist (have: ${known()}): fix the route or add the endpoint` });
    }
  });
  if (routing.enrichments.length > LIMITS.enrichments) {
    out.push({ field: "routing.enrichments", message: `${routing.enrichments.length} enrichments exceed the limit of ${LIMITS.enrichments}: remove some from the source` });
  }
  routing.enrichments.forEach((e, i) => {
    for (const n of e.endpointNames ?? []) {
      if (!exists(n)) out.push({ field: `routing.enrichments[${i}] '${e.key}'`, message: `applies to endpoint '${n}', which does not exist (have: ${known()}): fix the enrichment` });
    }
  });
  for (const n of routing.fallbackRoute?.endpointNames ?? []) {
    if (!exists(n)) out.push({ field: "routing.fallbackRoute", message: `points at endpoint '${n}', which does not exist (have: ${known()}): fix the fallback route` });
  }
  return out;
}

/** No credential may be left without a way to resolve it at deploy time. */
export function validateCredentials(plan: ClonePlan): Finding[] {
  const out: Finding[] = [];
  const check = (c: CredentialSource | undefined) => {
    if (c?.kind === "unresolved") out.push({ field: c.field, message: `masked or missing key with no way to resolve it: ${c.fix}` });
  };
  for (const ep of plan.endpoints) {
    check(ep.credential);
    check(ep.secondaryCredential);
  }
  check(plan.fileUpload?.credential);
  for (const p of plan.policies ?? []) {
    check(p.primaryKey);
    check(p.secondaryKey);
  }
  return out;
}

export function validateCounts(plan: ClonePlan): Finding[] {
  const out: Finding[] = [];
  if (plan.certificates.length > LIMITS.certificates) {
    out.push({ field: "certificates", message: `${plan.certificates.length} certificates exceed the limit of ${LIMITS.certificates}: skip some (certificates.<name>.skip: true)` });
  }
  if ((plan.policies?.length ?? 0) > LIMITS.policies) {
    out.push({ field: "authorizationPolicies", message: `${plan.policies!.length} shared access policies exceed the limit of ${LIMITS.policies}: remove some from the source` });
  }
  return out;
}

/** Everything, in a stable order. Transform-time findings (already in plan.errors) come first. */
export function validateClonePlan(plan: ClonePlan): Finding[] {
  const events = (plan.hub.properties.eventHubEndpoints as { events: { partitionCount: number; retentionTimeInDays: number } }).events;
  return [
    ...validateHubName(plan.hub.resourceName, plan.original.name),
    ...validateLocation(plan.hub.location),
    ...validateSku(plan.hub.sku.name, plan.hub.sku.capacity),
    ...validatePartitions(events.partitionCount, plan.hub.sku.name),
    ...validateRetention(events.retentionTimeInDays),
    ...validateConsumerGroups(plan.consumerGroups),
    ...validateRouting(plan),
    ...validateCredentials(plan),
    ...validateCounts(plan),
  ];
}
