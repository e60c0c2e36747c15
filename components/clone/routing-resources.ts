/**
 * RoutingResources: new routing targets in the clone's region for endpoints configured with
 * `relocate: true`. One shared account/namespace per service (cheaper than one each), named
 * from the clone plus a random suffix because these names are globally unique; the entities
 * keep the original's names (queue, topic, event hub, container, database).
 */
import * as pulumi from "@pulumi/pulumi";
import * as cosmosdb from "@pulumi/azure-native/cosmosdb";
import * as eventhub from "@pulumi/azure-native/eventhub";
import * as servicebus from "@pulumi/azure-native/servicebus";
import * as storage from "@pulumi/azure-native/storage";
import * as random from "@pulumi/random";
import { storageConnectionString } from "./key-lookups";
import type { Relocation } from "./types";

export interface RoutingResourcesArgs {
  cloneName: string;
  resourceGroupName: pulumi.Input<string>;
  location: string;
  tags?: Record<string, string>;
  relocations: Relocation[];
}

/** What the clone's endpoint needs from its new target. */
export interface RelocatedTarget {
  /** Connection string (Cosmos DB: primary key) for key-based endpoints, secret. */
  credential?: pulumi.Output<string>;
  secondaryCredential?: pulumi.Output<string>;
  endpointUri: pulumi.Output<string>;
  entityPath?: string;
  /** ARM id to grant the clone's identity a data role on. */
  scopeId: pulumi.Output<string>;
  cosmosAccountName?: pulumi.Output<string>;
  resourceGroupName: pulumi.Input<string>;
}

/** Lowercase letters and digits only (storage account names). */
function alnum(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** Letters, digits, hyphens; starts with a letter (namespace and Cosmos account names). */
function dashed(s: string, max: number): string {
  let out = s.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "");
  if (!/^[a-z]/.test(out)) out = `h${out}`;
  return out.slice(0, max).replace(/-$/, "");
}

export class RoutingResources extends pulumi.ComponentResource {
  /** Per relocated endpoint name. */
  readonly targets: Record<string, RelocatedTarget> = {};

  constructor(name: string, args: RoutingResourcesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iothub-clone:index:RoutingResources", name, {}, opts);
    const parent = { parent: this };
    const rg = args.resourceGroupName;
    const tags = args.tags;
    const suffix = new random.RandomString(`${name}-suffix`, { length: 6, upper: false, special: false, numeric: true, lower: true }, parent);
    const needs = (kinds: string[]) => args.relocations.some((r) => kinds.includes(r.endpointKind));

    // Storage: one account for routed blobs and file uploads.
    let account: storage.StorageAccount | undefined;
    if (needs(["storageContainers", "fileUpload"])) {
      account = new storage.StorageAccount(
        `${name}-storage`,
        {
          accountName: pulumi.interpolate`${alnum(args.cloneName).slice(0, 12)}rt${suffix.result}`,
          resourceGroupName: rg,
          location: args.location,
          kind: "StorageV2",
          sku: { name: "Standard_LRS" },
          minimumTlsVersion: "TLS1_2",
          allowBlobPublicAccess: false,
          tags,
        },
        parent,
      );
    }
    let sbNamespace: servicebus.Namespace | undefined;
    if (needs(["serviceBusQueues", "serviceBusTopics"])) {
      sbNamespace = new servicebus.Namespace(
        `${name}-servicebus`,
        { namespaceName: pulumi.interpolate`${dashed(args.cloneName, 36)}-sb-${suffix.result}`, resourceGroupName: rg, location: args.location, sku: { name: "Standard", tier: "Standard" }, tags },
        parent,
      );
    }
    let ehNamespace: eventhub.Namespace | undefined;
    if (needs(["eventHubs"])) {
      ehNamespace = new eventhub.Namespace(
        `${name}-eventhubs`,
        { namespaceName: pulumi.interpolate`${dashed(args.cloneName, 36)}-eh-${suffix.result}`, resourceGroupName: rg, location: args.location, sku: { name: "Standard", tier: "Standard", capacity: 1 }, tags },
        parent,
      );
    }
    let cosmos: cosmosdb.DatabaseAccount | undefined;
    if (needs(["cosmosDBSqlContainers"])) {
      cosmos = new cosmosdb.DatabaseAccount(
        `${name}-cosmos`,
        {
          accountName: pulumi.interpolate`${dashed(args.cloneName, 30)}-cosmos-${suffix.result}`,
          resourceGroupName: rg,
          location: args.location,
          kind: "GlobalDocumentDB",
          databaseAccountOfferType: "Standard",
          locations: [{ locationName: args.location, failoverPriority: 0 }],
          tags,
        },
        parent,
      );
    }

    const containers = new Map<string, storage.BlobContainer>();
    const databases = new Map<string, cosmosdb.SqlResourceSqlDatabase>();
    for (const r of args.relocations) {
      const id = alnum(r.endpointName) || "default";
      const res = `${name}-${r.endpointName.replace(/^\$/, "")}`;
      if (r.endpointKind === "storageContainers" || r.endpointKind === "fileUpload") {
        let container = containers.get(r.entityName);
        if (!container) {
          container = new storage.BlobContainer(`${res}-container`, { accountName: account!.name, resourceGroupName: rg, containerName: r.entityName, publicAccess: "None" }, parent);
          containers.set(r.entityName, container);
        }
        this.targets[r.endpointName] = {
          credential: r.identityBased ? undefined : storageConnectionString(account!.name, rg, "core.windows.net", { parent: this }),
          endpointUri: pulumi.interpolate`https://${account!.name}.blob.core.windows.net/`,
          scopeId: account!.id,
          resourceGroupName: rg,
        };
      } else if (r.endpointKind === "serviceBusQueues" || r.endpointKind === "serviceBusTopics") {
        const topic = r.endpointKind === "serviceBusTopics";
        const entity = topic
          ? new servicebus.Topic(`${res}-topic`, { namespaceName: sbNamespace!.name, resourceGroupName: rg, topicName: r.entityName }, parent)
          : new servicebus.Queue(`${res}-queue`, { namespaceName: sbNamespace!.name, resourceGroupName: rg, queueName: r.entityName }, parent);
        let credential: pulumi.Output<string> | undefined;
        if (!r.identityBased) {
          const ruleName = `iothubroutes_${id}`;
          if (topic) {
            const rule = new servicebus.TopicAuthorizationRule(
              `${res}-send`,
              { authorizationRuleName: ruleName, namespaceName: sbNamespace!.name, topicName: entity.name, resourceGroupName: rg, rights: ["Send"] },
              parent,
            );
            credential = servicebus.listTopicKeysOutput({ authorizationRuleName: rule.name, namespaceName: sbNamespace!.name, topicName: entity.name, resourceGroupName: rg }, { parent: this }).primaryConnectionString;
          } else {
            const rule = new servicebus.QueueAuthorizationRule(
              `${res}-send`,
              { authorizationRuleName: ruleName, namespaceName: sbNamespace!.name, queueName: entity.name, resourceGroupName: rg, rights: ["Send"] },
              parent,
            );
            credential = servicebus.listQueueKeysOutput({ authorizationRuleName: rule.name, namespaceName: sbNamespace!.name, queueName: entity.name, resourceGroupName: rg }, { parent: this }).primaryConnectionString;
          }
        }
        this.targets[r.endpointName] = {
          credential: credential && pulumi.secret(credential),
          endpointUri: pulumi.interpolate`sb://${sbNamespace!.name}.servicebus.windows.net`,
          entityPath: r.entityName,
          scopeId: entity.id,
          resourceGroupName: rg,
        };
      } else if (r.endpointKind === "eventHubs") {
        const hub = new eventhub.EventHub(`${res}-eventhub`, { namespaceName: ehNamespace!.name, resourceGroupName: rg, eventHubName: r.entityName, partitionCount: r.partitionCount ?? 4 }, parent);
        let credential: pulumi.Output<string> | undefined;
        if (!r.identityBased) {
          const rule = new eventhub.EventHubAuthorizationRule(
            `${res}-send`,
            { authorizationRuleName: `iothubroutes_${id}`, namespaceName: ehNamespace!.name, eventHubName: hub.name, resourceGroupName: rg, rights: ["Send"] },
            parent,
          );
          credential = eventhub.listEventHubKeysOutput({ authorizationRuleName: rule.name, namespaceName: ehNamespace!.name, eventHubName: hub.name, resourceGroupName: rg }, { parent: this }).primaryConnectionString;
        }
        this.targets[r.endpointName] = {
          credential: credential && pulumi.secret(credential),
          endpointUri: pulumi.interpolate`sb://${ehNamespace!.name}.servicebus.windows.net`,
          entityPath: r.entityName,
          scopeId: hub.id,
          resourceGroupName: rg,
        };
      } else if (r.endpointKind === "cosmosDBSqlContainers") {
        const dbName = r.databaseName ?? "iothub";
        let db = databases.get(dbName);
        if (!db) {
          db = new cosmosdb.SqlResourceSqlDatabase(`${name}-db-${alnum(dbName)}`, { accountName: cosmos!.name, resourceGroupName: rg, databaseName: dbName, resource: { id: dbName } }, parent);
          databases.set(dbName, db);
        }
        new cosmosdb.SqlResourceSqlContainer(
          `${res}-container`,
          {
            accountName: cosmos!.name,
            resourceGroupName: rg,
            databaseName: db.name,
            containerName: r.entityName,
            resource: { id: r.entityName, partitionKey: { paths: [`/${r.partitionKeyName ?? "id"}`], kind: "Hash" } },
          },
          parent,
        );
        const keys = r.identityBased ? undefined : cosmosdb.listDatabaseAccountKeysOutput({ accountName: cosmos!.name, resourceGroupName: rg }, { parent: this });
        this.targets[r.endpointName] = {
          credential: keys && pulumi.secret(keys.primaryMasterKey),
          secondaryCredential: keys && pulumi.secret(keys.secondaryMasterKey),
          endpointUri: pulumi.interpolate`https://${cosmos!.name}.documents.azure.com:443/`,
          scopeId: cosmos!.id,
          cosmosAccountName: cosmos!.name,
          resourceGroupName: rg,
        };
      }
    }
    this.registerOutputs({ endpoints: Object.keys(this.targets) });
  }
}
