/**
 * DeviceStaging: the private blob container the hubs' bulk import/export jobs use while
 * devices are copied (it holds device keys during a run), in the clone's region, plus the
 * wiring of the DeviceMigration resource onto the original and the clone.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as storage from "@pulumi/azure-native/storage";
import * as random from "@pulumi/random";
import type { DevicesConfig } from "../config";
import { DeviceMigration } from "../devices/device-migration";
import { storageConnectionString } from "./key-lookups";
import { subscriptionOf } from "./routing-identity";
import { DATA_ROLES } from "./types";

export const STAGING_CONTAINER = "devicefiles";

export interface DeviceStagingArgs {
  cloneName: string;
  resourceGroupName: pulumi.Input<string>;
  location: string;
  tags?: Record<string, string>;
  /** Identity-based staging: the principal both hubs' jobs use, granted Storage Blob Data Contributor. */
  grantPrincipalId?: pulumi.Input<string>;
}

export class DeviceStaging extends pulumi.ComponentResource {
  readonly accountName: pulumi.Output<string>;
  readonly accountId: pulumi.Output<string>;
  readonly accountUrl: pulumi.Output<string>;
  readonly containerName: pulumi.Output<string>;
  /** Secret. */
  readonly connectionString: pulumi.Output<string>;

  constructor(name: string, args: DeviceStagingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iothub-clone:index:DeviceStaging", name, {}, opts);
    const parent = { parent: this };
    const suffix = new random.RandomString(`${name}-suffix`, { length: 6, upper: false, special: false, numeric: true, lower: true }, parent);
    const account = new storage.StorageAccount(
      `${name}-account`,
      {
        accountName: pulumi.interpolate`${args.cloneName.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 12)}stg${suffix.result}`,
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        kind: "StorageV2",
        sku: { name: "Standard_LRS" },
        minimumTlsVersion: "TLS1_2",
        allowBlobPublicAccess: false,
        tags: args.tags,
      },
      parent,
    );
    const container = new storage.BlobContainer(
      `${name}-container`,
      { accountName: account.name, resourceGroupName: args.resourceGroupName, containerName: STAGING_CONTAINER, publicAccess: "None" },
      parent,
    );
    if (args.grantPrincipalId) {
      new authorization.RoleAssignment(
        `${name}-blob-contributor`,
        {
          principalId: args.grantPrincipalId,
          principalType: "ServicePrincipal",
          roleDefinitionId: account.id.apply((scope) => `${subscriptionOf(scope)}/providers/Microsoft.Authorization/roleDefinitions/${DATA_ROLES.storageBlobDataContributor.id}`),
          scope: account.id,
          description: "iothub-clone: device import/export jobs write and read the staging container",
        },
        parent,
      );
    }
    this.accountName = account.name;
    this.accountId = account.id;
    this.accountUrl = pulumi.interpolate`https://${account.name}.blob.core.windows.net`;
    this.containerName = container.name;
    this.connectionString = storageConnectionString(account.name, args.resourceGroupName, "core.windows.net", { parent: this });
    this.registerOutputs({ accountName: this.accountName, containerName: this.containerName });
  }
}

export interface DeviceMigrationWiring {
  devices: DevicesConfig;
  staging: DeviceStaging;
  sourceHubHostName: pulumi.Input<string>;
  sourceConnectionString: pulumi.Input<string>;
  cloneHubHostName: pulumi.Input<string>;
  cloneConnectionString: pulumi.Input<string>;
  /** ARM id of the clone's user-assigned identity (identity-based staging). */
  userAssignedIdentity?: pulumi.Input<string>;
}

/** Instantiates the device copy; it runs after the hub and the staging container exist. */
export function wireDeviceMigration(name: string, w: DeviceMigrationWiring, opts: pulumi.CustomResourceOptions): DeviceMigration {
  const d = w.devices;
  const identityBased = d.storageAuthenticationType === "identityBased";
  return new DeviceMigration(
    name,
    {
      sourceHubHostName: w.sourceHubHostName,
      sourceConnectionString: w.sourceConnectionString,
      cloneHubHostName: w.cloneHubHostName,
      cloneConnectionString: w.cloneConnectionString,
      ...(identityBased ? { stagingAccountUrl: w.staging.accountUrl, userAssignedIdentity: w.userAssignedIdentity } : { stagingConnectionString: w.staging.connectionString }),
      stagingContainerName: w.staging.containerName,
      storageAuthenticationType: d.storageAuthenticationType,
      importMode: d.importMode,
      ...(d.filter ? { filter: d.filter } : {}),
      includeConfigurations: d.includeConfigurations,
      syncGeneration: d.syncGeneration,
      deleteMissing: d.deleteMissing,
      deleteDevicesOnDestroy: d.deleteDevicesOnDestroy,
      timeoutMinutes: d.timeoutMinutes,
    },
    { ...opts, dependsOn: [...((opts.dependsOn as pulumi.Resource[]) ?? []), w.staging] },
  );
}
