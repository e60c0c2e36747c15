/**
 * `hubclone dps link`: for fleets provisioned through the Device Provisioning Service. Adds the
 * clone to the DPS instance's linked hubs (ARM, `@azure/arm-deviceprovisioningservices`) and,
 * when asked, points enrollment groups and individual enrollments at the clone
 * (`azure-iot-provisioning-service`), so devices that re-provision land on the clone.
 * Nothing here touches the original hub; the DPS keeps the original linked for rollback.
 */
import type { Agent } from "https";
import type { IotDpsClient } from "@azure/arm-deviceprovisioningservices";
import type { IotHubClient } from "@azure/arm-iothub";
import { ProvisioningServiceClient } from "azure-iot-provisioning-service";
import { UserError } from "../errors";

export interface LinkOptions {
  dpsResourceGroup: string;
  dpsName: string;
  cloneHub: string;
  /** Resource group of the clone hub (default: the DPS's). */
  cloneResourceGroup?: string;
  /** Hub policy whose connection string DPS uses to register devices (default iothubowner). */
  policyName?: string;
  allocationWeight?: number;
  applyAllocationPolicy?: boolean;
}

export interface LinkResult {
  dps: string;
  cloneHostName: string;
  /** False when the clone was already linked (nothing written). */
  linked: boolean;
  /** Host names linked after the call. */
  linkedHubs: string[];
}

const hostOf = (entry: { name?: string; connectionString?: string }): string =>
  entry.name ?? /HostName=([^;]+)/i.exec(entry.connectionString ?? "")?.[1] ?? "";

/** Adds the clone to the DPS's linked hubs (idempotent). The hub key goes from ARM to ARM only. */
export async function linkCloneToDps(dps: IotDpsClient, hubs: IotHubClient, o: LinkOptions): Promise<LinkResult> {
  const service = await dps.iotDpsResource.get(o.dpsName, o.dpsResourceGroup);
  const cloneRg = o.cloneResourceGroup ?? o.dpsResourceGroup;
  const hub = await hubs.iotHubResource.get(cloneRg, o.cloneHub);
  const cloneHostName = hub.properties?.hostName ?? `${o.cloneHub}.azure-devices.net`;
  const current = service.properties.iotHubs ?? [];
  if (current.some((h) => hostOf(h).toLowerCase() === cloneHostName.toLowerCase()))
    return { dps: o.dpsName, cloneHostName, linked: false, linkedHubs: current.map(hostOf) };

  const policy = o.policyName ?? "iothubowner";
  const key = await hubs.iotHubResource.getKeysForKeyName(cloneRg, o.cloneHub, policy);
  if (!key.primaryKey) throw new UserError(`policy ${policy} of ${o.cloneHub} has no key: pick a policy with registry write and service connect`, "--policy");
  // The existing entries keep the masked connection strings ARM returned: the service matches
  // them to its stored links by host name (the Azure CLI's `linked-hub create` does the same).
  service.properties.iotHubs = [
    ...current,
    {
      connectionString: `HostName=${cloneHostName};SharedAccessKeyName=${policy};SharedAccessKey=${key.primaryKey}`,
      location: hub.location,
      ...(o.allocationWeight !== undefined ? { allocationWeight: o.allocationWeight } : {}),
      ...(o.applyAllocationPolicy !== undefined ? { applyAllocationPolicy: o.applyAllocationPolicy } : {}),
    },
  ];
  const updated = await dps.iotDpsResource.beginCreateOrUpdateAndWait(o.dpsResourceGroup, o.dpsName, service, { updateIntervalInMs: 0 });
  return { dps: o.dpsName, cloneHostName, linked: true, linkedHubs: (updated.properties.iotHubs ?? []).map(hostOf) };
}

/** The DPS service-API connection string, read through ARM (secret: never printed). */
export async function dpsConnectionString(dps: IotDpsClient, o: { dpsResourceGroup: string; dpsName: string; policyName?: string }): Promise<string> {
  const policy = o.policyName ?? "provisioningserviceowner";
  const service = await dps.iotDpsResource.get(o.dpsName, o.dpsResourceGroup);
  const key = await dps.iotDpsResource.listKeysForKeyName(o.dpsName, policy, o.dpsResourceGroup);
  return `HostName=${service.properties.serviceOperationsHostName};SharedAccessKeyName=${policy};SharedAccessKey=${key.primaryKey}`;
}

export interface EnrollmentTarget {
  iotHubs?: string[];
  iotHubHostName?: string;
  allocationPolicy?: string;
}

/**
 * The enrollment pointed at the clone, or undefined when it already is (pure). Lists naming the
 * original get the clone instead; an enrollment with no list (allocated across every linked hub,
 * which now includes the clone and still the original) is pinned to the clone, otherwise hashed
 * allocation would keep sending some devices to the original. Custom allocation is left alone:
 * its function decides, and the caller reports it.
 */
export function repointEnrollment<T extends EnrollmentTarget>(e: T, originalHost: string, cloneHost: string): T | undefined | "custom" {
  if (e.allocationPolicy === "custom") return "custom";
  const same = (a?: string, b?: string) => !!a && !!b && a.toLowerCase() === b.toLowerCase();
  const hubs = e.iotHubs ?? [];
  let next: string[];
  if (hubs.length === 0) next = [cloneHost];
  else next = [...new Set(hubs.map((h) => (same(h, originalHost) ? cloneHost : h)))];
  const hostName = same(e.iotHubHostName, originalHost) ? cloneHost : e.iotHubHostName;
  if (JSON.stringify(next) === JSON.stringify(hubs) && hostName === e.iotHubHostName) return undefined;
  return { ...e, iotHubs: next, ...(hostName !== undefined ? { iotHubHostName: hostName } : {}) };
}

export interface MoveResult {
  enrollmentGroups: { examined: number; moved: number; custom: string[] };
  individualEnrollments: { examined: number; moved: number; custom: string[] };
  failed: Array<{ id: string; error: string }>;
}

export function provisioningClient(connectionString: string, agent?: Agent): ProvisioningServiceClient {
  const client = ProvisioningServiceClient.fromConnectionString(connectionString);
  // The SDK offers no public transport option; this is the same hook the hub SDK documents
  // (`setOptions` on its REST client) and is how --local/tests reach a non-Azure endpoint.
  if (agent) (client as unknown as { _restApiClient: { setOptions(o: unknown): void } })._restApiClient.setOptions({ http: { agent } });
  return client;
}

async function* queryAll<T>(make: () => { next(token?: string): Promise<{ responseBody: { items?: unknown[] } | unknown[] }>; hasMoreResults: boolean; continuationToken: string }): AsyncGenerator<T> {
  const q = make();
  let token: string | undefined;
  do {
    const page = token ? await q.next(token) : await q.next();
    // The service returns a bare array; the SDK's declared `{items}` shape is accepted too.
    const body = page.responseBody;
    const items = Array.isArray(body) ? body : body?.items ?? [];
    for (const i of items) yield i as T;
    token = q.hasMoreResults ? q.continuationToken : undefined;
  } while (token);
}

/** Points every enrollment group and individual enrollment at the clone (etag-guarded writes). */
export async function moveEnrollments(svc: ProvisioningServiceClient, originalHost: string, cloneHost: string): Promise<MoveResult> {
  const out: MoveResult = {
    enrollmentGroups: { examined: 0, moved: 0, custom: [] },
    individualEnrollments: { examined: 0, moved: 0, custom: [] },
    failed: [],
  };
  type Group = EnrollmentTarget & { enrollmentGroupId: string; etag?: string };
  for await (const g of queryAll<Group>(() => svc.createEnrollmentGroupQuery({ query: "*" }, 100) as never)) {
    out.enrollmentGroups.examined++;
    const next = repointEnrollment(g, originalHost, cloneHost);
    if (next === "custom") out.enrollmentGroups.custom.push(g.enrollmentGroupId);
    else if (next) {
      try {
        await svc.createOrUpdateEnrollmentGroup(next as never);
        out.enrollmentGroups.moved++;
      } catch (e) {
        out.failed.push({ id: `group:${g.enrollmentGroupId}`, error: (e as Error).message });
      }
    }
  }
  type Individual = EnrollmentTarget & { registrationId: string; etag?: string };
  const batch: Individual[] = [];
  const flush = async () => {
    if (!batch.length) return;
    const enrollments = batch.splice(0);
    try {
      // Bulk takes at most 10 enrollments; updateIfMatchEtag keeps a concurrent edit from being overwritten.
      // Callback form on purpose: in azure-iot-provisioning-service 1.11.2 the promise form of
      // runBulkEnrollmentOperation never settles (it only calls back when a callback was given).
      const result = await new Promise<{ errors?: Array<{ registrationId: string; errorCode: number; errorStatus: string }> }>((resolve, reject) =>
        svc.runBulkEnrollmentOperation({ mode: "updateIfMatchEtag", enrollments: enrollments as never }, (err, body) => (err ? reject(err) : resolve(body ?? {}))),
      );
      const errors = result.errors ?? [];
      for (const err of errors) out.failed.push({ id: `enrollment:${err.registrationId}`, error: `${err.errorCode} ${err.errorStatus}` });
      out.individualEnrollments.moved += enrollments.length - errors.length;
    } catch (e) {
      for (const en of enrollments) out.failed.push({ id: `enrollment:${en.registrationId}`, error: (e as Error).message });
    }
  };
  for await (const e of queryAll<Individual>(() => svc.createIndividualEnrollmentQuery({ query: "*" }, 100) as never)) {
    out.individualEnrollments.examined++;
    const next = repointEnrollment(e, originalHost, cloneHost);
    if (next === "custom") out.individualEnrollments.custom.push(e.registrationId);
    else if (next) {
      batch.push(next);
      if (batch.length === 10) await flush();
    }
  }
  await flush();
  return out;
}

export function describeDpsLink(link: LinkResult, moved?: MoveResult): string {
  const lines = [
    link.linked ? `linked ${link.cloneHostName} to DPS ${link.dps}` : `${link.cloneHostName} was already linked to DPS ${link.dps} (nothing changed)`,
    `  linked hubs: ${link.linkedHubs.join(", ")}`,
  ];
  if (moved) {
    lines.push(
      `  enrollment groups: ${moved.enrollmentGroups.moved} moved of ${moved.enrollmentGroups.examined}` +
        (moved.enrollmentGroups.custom.length ? ` (custom allocation, left to its function: ${moved.enrollmentGroups.custom.join(", ")})` : ""),
      `  individual enrollments: ${moved.individualEnrollments.moved} moved of ${moved.individualEnrollments.examined}` +
        (moved.individualEnrollments.custom.length ? ` (custom allocation: ${moved.individualEnrollments.custom.join(", ")})` : ""),
      ...moved.failed.map((f) => `  FAILED ${f.id}: ${f.error}`),
    );
  }
  return lines.join("\n");
}
