/**
 * Validation of the clone's desired state before any cloud call (pulumi-eks style: exported
 * pure functions, tested as data). Every finding names the field and the fix, in one line.
 */
import type { Finding } from "../errors";
import { AZURE_REGIONS, isKnownRegion } from "./regions";
import type { ClonePlan, CredentialSource } from "./types";

/**
 * Documented limits, each with its source:
 * - hub name, partitions, retention, consumer groups, endpoints, routes, enrichments, certificates,
 *   policies: learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling ("Other limits")
 *   and azure/azure-resource-manager/management/azure-subscription-service-limits#iot-hub-limits;
 * - units per tier: learn.microsoft.com/azure/iot-hub/iot-hub-scaling (S1/S2/B1/B2 up to 200
 *   units, S3/B3 up to 10, F1 exactly 1);
 * - route and endpoint name pattern `^[A-Za-z0-9-._]{1,64}$`: RouteProperties.name of the
 *   2023-06-30 spec (resource-manager/Microsoft.Devices/stable/2023-06-30/iothub.json);
 * - retention per tier: learn.microsoft.com/azure/iot-hub/iot-hub-devguide-messages-read-builtin
 *   (Standard up to 7 days; Basic and Free 1 day);
 * - a relocated event hub on a Standard Event Hubs namespace: 1-32 partitions,
 *   learn.microsoft.com/azure/event-hubs/event-hubs-quotas ("Number of partitions per event hub").
 */
export const UNITS_MAX: Record<string, number> = { F1: 1, B1: 200, B2: 200, B3: 10, S1: 200, S2: 200, S3: 10 };
export const RETENTION_MAX: Record<string, number> = { F1: 1, B1: 1, B2: 1, B3: 1, S1: 7, S2: 7, S3: 7 };
export const STANDARD_EVENT_HUB_PARTITIONS = { min: 1, max: 32 } as const;
/** Certificate names: the `certificateName` path parameter's pattern in the 2023-06-30 spec. */
const CERTIFICATE_NAME = /^[A-Za-z0-9-._]{1,64}$/;

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
  // Resource.name pattern of the 2023-06-30 spec: ^(?![0-9]+$)(?!-)[a-zA-Z0-9-]{2,49}[a-zA-Z0-9]$
  if (name.startsWith("-")) out.push({ field, message: `'${name}' must not start with a hyphen: drop the leading '-'` });
  if (/^[0-9]+$/.test(name)) out.push({ field, message: `'${name}' must not be only digits: add a letter (--name N)` });
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
  else if (UNITS_MAX[sku] !== undefined && capacity > UNITS_MAX[sku]) {
    out.push({ field: "iothub-clone:clone.units", message: `${capacity} units exceed the ${sku} limit of ${UNITS_MAX[sku]}: set units to at most ${UNITS_MAX[sku]} (--units N), or choose another SKU` });
  }
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

export function validateRetention(days: number, sku?: string): Finding[] {
  const max = (sku && RETENTION_MAX[sku]) || LIMITS.retentionMax;
  if (Number.isInteger(days) && days >= LIMITS.retentionMin && days <= max) return [];
  const tier = sku && max < LIMITS.retentionMax ? ` on ${sku}` : "";
  return [{ field: "iothub-clone:clone.retentionDays", message: `${days}: retention must be ${LIMITS.retentionMin}-${max} days${tier}: set clone.retentionDays to ${Math.min(Math.max(1, Math.trunc(days) || 1), max)}${tier ? " or choose an S tier" : ""}` }];
}

/** A relocated event hub is created on a Standard namespace (routing-resources.ts). */
export function validateRelocations(plan: ClonePlan): Finding[] {
  const out: Finding[] = [];
  for (const r of plan.relocations) {
    if (r.endpointKind !== "eventHubs" || r.partitionCount === undefined) continue;
    const { min, max } = STANDARD_EVENT_HUB_PARTITIONS;
    if (!Number.isInteger(r.partitionCount) || r.partitionCount < min || r.partitionCount > max) {
      out.push({
        field: `iothub-clone:endpoints.${r.endpointName}.partitionCount`,
        message: `${r.partitionCount}: an event hub on a Standard Event Hubs namespace has ${min}-${max} partitions: set it within that range`,
      });
    }
  }
  return out;
}

/** Certificate names as the API's path parameter accepts them. */
export function validateCertificates(plan: ClonePlan): Finding[] {
  return plan.certificates
    .filter((c) => !CERTIFICATE_NAME.test(c.name))
    .map((c) => ({ field: `certificates.${c.name}`, message: "a certificate name has 1-64 letters, digits, '-', '.' or '_': rename it in the source, or certificates.<name>.skip: true" }));
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
  for (const ep of plan.endpoints) {
    const enc = ep.inputs.encoding;
    // RoutingStorageContainerProperties.encoding enum of the 2023-06-30 spec.
    if (ep.kind === "storageContainers" && enc !== undefined && !["Avro", "AvroDeflate", "JSON"].includes(String(enc))) {
      out.push({ field: `routing.endpoints '${ep.name}'.encoding`, message: `'${String(enc)}' is not a storage endpoint encoding: use Avro, AvroDeflate or JSON in the source` });
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
    ...validateRetention(events.retentionTimeInDays, plan.hub.sku.name),
    ...validateRelocations(plan),
    ...validateCertificates(plan),
    ...validateConsumerGroups(plan.consumerGroups),
    ...validateRouting(plan),
    ...validateCredentials(plan),
    ...validateCounts(plan),
  ];
}
