/**
 * `hubclone snapshot`: a faithful, reviewable record of the live original hub, read through ARM.
 * The portal's template export leaves out consumer groups and certificates and masks keys; the
 * snapshot carries the first two and says what the export alone would have missed, so a team can
 * commit it and plan the clone from it (GitOps). Read-only on the hub: GETs plus `listKeys`
 * (a POST that reads), whose key values never leave this module.
 */
import type { IotHubClient } from "@azure/arm-iothub";
import { rawBody } from "./arm";
import { listHubAttachments, type AttachmentClients } from "./attachments";
import type { ArmAttachments } from "../source/attachments";

/** The snapshot file (matches `components/source/snapshot.ts`, which the clone program reads). */
export interface HubSnapshot {
  snapshotVersion: 1;
  capturedAt: string;
  /** ARM GET body of the hub, keys masked, with `properties.authorizationPolicies` (names + rights). */
  hub: Record<string, any>;
  /** Consumer group names per built-in event hub endpoint (`events`, …), `$Default` included. */
  consumerGroups: Record<string, string[]>;
  certificates: Array<{ name: string; certificate?: string; isVerified?: boolean }>;
  /** One line per item the portal template export would have left out or masked. */
  missedByExport: string[];
  /** What is attached from outside the hub (Event Grid, diagnostics, private endpoints, roles), as ARM listed it. */
  attachments?: ArmAttachments;
}

export interface SnapshotTarget {
  resourceGroup: string;
  name: string;
}

export const MASK = "****";

/**
 * Masks every credential in an ARM body: connection-string secrets (`AccountKey=`,
 * `SharedAccessKey=`, …) and key fields (`primaryKey`, `secondaryKey`, Cosmos DB keys). ARM already
 * masks endpoint connection strings in GET bodies; this is the belt to that brace, and it also
 * covers bodies handed in from elsewhere (an `az iot hub show` with keys filled in).
 */
export function maskKeys<T>(value: T): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = walk(x, k);
      return out;
    }
    if (typeof v === "string" && key) {
      if (/^(primaryKey|secondaryKey|primaryMasterKey|secondaryMasterKey)$/i.test(key)) return v === "" ? v : MASK;
      if (/connectionString$/i.test(key))
        return v.replace(/((?:SharedAccessKey|AccountKey|SharedAccessSignature|AuthKey)=)([^;]*)/gi, (_m, p: string) => p + MASK);
    }
    return v;
  };
  return walk(value) as T;
}

interface RoutingEndpoint {
  name?: string;
  connectionString?: string;
  authenticationType?: string;
  subscriptionId?: string;
  resourceGroup?: string;
  primaryKey?: string;
}

/**
 * What the portal's template export would have missed, from what the snapshot found. Pure, so
 * the rules are tested as data: consumer groups beyond `$Default`, certificates, key-based
 * routing endpoints (masked keys the clone must look up again) and their coordinates, and
 * shared access policy keys (the clone's policies get new keys).
 */
export function whatExportMisses(s: Pick<HubSnapshot, "hub" | "consumerGroups" | "certificates">): string[] {
  const out: string[] = [];
  for (const [endpoint, groups] of Object.entries(s.consumerGroups))
    for (const g of groups) if (g !== "$Default") out.push(`consumer group ${endpoint}/${g}: the export has no consumer groups`);
  for (const c of s.certificates) out.push(`certificate ${c.name}: the export has no certificates`);
  const endpoints = (s.hub?.properties?.routing?.endpoints ?? {}) as Record<string, RoutingEndpoint[] | undefined>;
  for (const [kind, list] of Object.entries(endpoints)) {
    for (const e of list ?? []) {
      if (e.authenticationType === "identityBased") continue;
      if (e.connectionString !== undefined || e.primaryKey !== undefined) {
        const where = e.subscriptionId && e.resourceGroup ? ` (look it up in ${e.subscriptionId}/${e.resourceGroup})` : "";
        out.push(`routing endpoint ${kind}/${e.name}: key masked in the export${where}`);
      }
    }
  }
  const policies = (s.hub?.properties?.authorizationPolicies ?? []) as Array<{ keyName: string }>;
  if (policies.length)
    out.push(`shared access policies (${policies.map((p) => p.keyName).join(", ")}): keys not exported; the clone's policies get new keys`);
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Reads the live hub through ARM and returns the snapshot (keys masked). */
export async function takeSnapshot(client: IotHubClient, t: SnapshotTarget, now: Date = new Date(), attachments?: AttachmentClients): Promise<HubSnapshot> {
  const hub = await rawBody<Record<string, any>>((onResponse) => client.iotHubResource.get(t.resourceGroup, t.name, { onResponse }));

  const consumerGroups: Record<string, string[]> = {};
  for (const endpoint of Object.keys(hub.properties?.eventHubEndpoints ?? {})) {
    const groups = await collect(client.iotHubResource.listEventHubConsumerGroups(t.resourceGroup, t.name, endpoint));
    consumerGroups[endpoint] = groups.map((g) => g.name ?? "").filter(Boolean);
  }

  const certs = await rawBody<{ value?: Array<{ name: string; properties?: { certificate?: string; isVerified?: boolean } }> }>((onResponse) =>
    client.certificates.listByIotHub(t.resourceGroup, t.name, { onResponse }),
  );
  const certificates = (certs.value ?? []).map((c) => ({
    name: c.name,
    ...(c.properties?.certificate !== undefined ? { certificate: c.properties.certificate } : {}),
    ...(c.properties?.isVerified !== undefined ? { isVerified: c.properties.isVerified } : {}),
  }));

  // Names and rights only: the keys are read by the SDK and dropped here, never stored.
  const policies = await collect(client.iotHubResource.listKeys(t.resourceGroup, t.name));
  const masked = maskKeys(hub);
  masked.properties = masked.properties ?? {};
  masked.properties.authorizationPolicies = policies.map((p) => ({ keyName: p.keyName, rights: p.rights }));

  const snapshot: HubSnapshot = {
    snapshotVersion: 1,
    capturedAt: now.toISOString(),
    hub: masked,
    consumerGroups,
    certificates,
    missedByExport: [],
  };
  if (attachments) {
    // The attachments hold no keys ARM returns (webhook URLs come back without their query), but
    // they pass the same masking as the hub body.
    snapshot.attachments = maskKeys(await listHubAttachments(attachments, { id: String(hub.id ?? ""), resourceGroup: t.resourceGroup, name: t.name, body: hub }));
  }
  snapshot.missedByExport = whatExportMisses(snapshot);
  if (snapshot.attachments) {
    const a = snapshot.attachments;
    // A subscription made on the hub is listed again under the system topic that backs it.
    const n = new Set([...a.systemTopics.flatMap((x) => x.eventSubscriptions), ...a.eventSubscriptions].map((x) => x.name.toLowerCase())).size;
    if (n) snapshot.missedByExport.push(`${n} Event Grid subscriptions: a hub-only export has none`);
    if (a.diagnosticSettings.length) snapshot.missedByExport.push(`${a.diagnosticSettings.length} diagnostic settings: a hub-only export has none`);
    if (a.privateEndpoints.length) snapshot.missedByExport.push(`${a.privateEndpoints.length} private endpoints: a hub-only export has none`);
    if (a.roleAssignments.length) snapshot.missedByExport.push(`${a.roleAssignments.length} role assignments on the hub: no template export has them`);
  }
  return snapshot;
}

/** One-paragraph human summary of a snapshot. */
export function describeSnapshot(s: HubSnapshot, file?: string): string {
  const p = s.hub.properties ?? {};
  const endpoints = Object.values((p.routing?.endpoints ?? {}) as Record<string, unknown[]>).reduce((n, l) => n + (l?.length ?? 0), 0);
  const groups = Object.entries(s.consumerGroups).map(([e, g]) => `${e}: ${g.join(", ")}`).join("; ");
  return [
    `snapshot of ${s.hub.name} (${s.hub.location}, ${s.hub.sku?.name} x${s.hub.sku?.capacity}) at ${s.capturedAt}${file ? ` -> ${file}` : ""}`,
    `  consumer groups: ${groups || "none"}`,
    `  certificates: ${s.certificates.map((c) => c.name).join(", ") || "none"}`,
    `  shared access policies: ${(p.authorizationPolicies ?? []).map((a: { keyName: string; rights: string }) => `${a.keyName} (${a.rights})`).join(", ") || "none"}`,
    `  routing endpoints: ${endpoints}, routes: ${(p.routing?.routes ?? []).length}`,
    `  the portal export would have missed (${s.missedByExport.length}):`,
    ...s.missedByExport.map((m) => `    - ${m}`),
  ].join("\n");
}
