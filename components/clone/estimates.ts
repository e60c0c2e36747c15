/**
 * The device copy's time estimate for `pulumi up` and the offline plan: the original's device
 * count (its registry statistics through ARM, or a count the plan was given) run through the pace
 * model (components/devices/pace.ts) at the clone's tier.
 *
 * azure-native has no invoke for the registry statistics (no getIotHubResourceStats), so the
 * count is read with @azure/arm-iothub's `iotHubResource.getStats` — a read of the original,
 * with the deployer's Azure login (DefaultAzureCredential), as the key look-ups already need.
 */
import * as pulumi from "@pulumi/pulumi";
import { describeEstimates, estimate, type Estimates } from "../devices/pace";
import { redact } from "../secrets";
import { iotHubClient, type ArmOptions } from "../operations/arm";
import type { ClonePlan } from "./types";

export interface OriginalCoordinates {
  name: string;
  resourceGroup?: string;
  subscriptionId?: string;
}

/** Where the device count comes from: a function of the original; undefined = not known. */
export type DeviceCountReader = (original: OriginalCoordinates) => Promise<number | undefined>;

let reader: DeviceCountReader | undefined;

const READ_TIMEOUT_MS = 30_000;

/** The offline plan sets the count it was given (`--devices N`) or how to read it (`--devices live`). */
export function setDeviceCountReader(r: DeviceCountReader | undefined): void {
  reader = r;
}

/** The original's device count from its registry statistics (ARM `getStats`: totalDeviceCount). */
export async function readRegistryDeviceCount(o: OriginalCoordinates, arm: Partial<ArmOptions> = {}): Promise<number> {
  const subscriptionId = arm.subscriptionId ?? o.subscriptionId ?? process.env.AZURE_SUBSCRIPTION_ID ?? process.env.ARM_SUBSCRIPTION_ID;
  if (!subscriptionId || !o.resourceGroup) throw new Error(`the original's ${!o.resourceGroup ? "resource group" : "subscription"} is not known (set source.resourceGroup / source.subscriptionId)`);
  // Bounded: an estimate must never hold up a deployment (a credential chain probing, a network down).
  const stats = await iotHubClient({ ...arm, subscriptionId }).iotHubResource.getStats(o.resourceGroup, o.name, { abortSignal: AbortSignal.timeout(READ_TIMEOUT_MS) });
  if (typeof stats.totalDeviceCount !== "number") throw new Error("the registry statistics carry no totalDeviceCount");
  return stats.totalDeviceCount;
}

/** Under `pulumi up`/preview (an engine is attached) the statistics are read; under mocks only a set reader counts. */
function activeReader(): DeviceCountReader | undefined {
  if (reader) return reader;
  return pulumi.runtime.hasEngine() ? (o) => readRegistryDeviceCount(o, { subscriptionId: new pulumi.Config("azure-native").get("subscriptionId") ?? undefined }) : undefined;
}

/**
 * The estimates of a clone (undefined when the device count is unknown), logged on `resource` as
 * one info line so `pulumi up` shows them. A failed read is a note, never a failed deployment.
 */
export function copyEstimates(plan: ClonePlan, resource: pulumi.Resource): pulumi.Output<Estimates | undefined> {
  const read = activeReader();
  if (!read) return pulumi.output(undefined as Estimates | undefined);
  const original: OriginalCoordinates = { name: plan.original.name, resourceGroup: plan.original.resourceGroup, subscriptionId: plan.original.subscriptionId };
  const done = read(original).then(
    (devices) => {
      if (devices === undefined) return undefined;
      const e = estimate({ devices, cloneSku: plan.hub.sku, originalSku: plan.original.sku });
      pulumi.log.info(describeEstimates(e), resource);
      return e;
    },
    (err: unknown) => {
      pulumi.log.info(`devices: no time estimate: the original's registry statistics could not be read (${redact((err as Error)?.message ?? String(err)).split("\n")[0]}); \`npm run plan -- --devices N\` estimates offline`, resource);
      return undefined;
    },
  );
  return pulumi.output(done);
}
