/**
 * Resolves the clone's credentials at deploy time: azure-native list-keys invokes on the
 * endpoint targets (read-only), config secrets, or the keys of relocated resources. Every
 * value leaves here as a Pulumi secret, whatever the invoke marked it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cosmosdb from "@pulumi/azure-native/cosmosdb";
import * as eventhub from "@pulumi/azure-native/eventhub";
import * as iothub from "@pulumi/azure-native/iothub";
import { Provider } from "@pulumi/azure-native/provider";
import * as servicebus from "@pulumi/azure-native/servicebus";
import * as storage from "@pulumi/azure-native/storage";
import type { CredentialSource, KeyLookup } from "./types";

/** Chooses invoke options per subscription: a target in another subscription needs its own provider. */
export class SubscriptionProviders {
  private readonly providers = new Map<string, Provider>();
  constructor(
    private readonly parent: pulumi.Resource,
    /** The subscription the default provider deploys to, when known (azure-native:subscriptionId or the original's). */
    private readonly defaultSubscription?: string,
  ) {}

  /** The provider for a target's subscription, or undefined for the default provider's. */
  provider(subscriptionId?: string): Provider | undefined {
    if (!subscriptionId || !this.defaultSubscription || subscriptionId.toLowerCase() === this.defaultSubscription.toLowerCase()) {
      return undefined;
    }
    let p = this.providers.get(subscriptionId.toLowerCase());
    if (!p) {
      p = new Provider(`azure-${subscriptionId}`, { subscriptionId }, { parent: this.parent });
      this.providers.set(subscriptionId.toLowerCase(), p);
    }
    return p;
  }

  opts(subscriptionId?: string): pulumi.InvokeOutputOptions {
    const provider = this.provider(subscriptionId);
    return provider ? { parent: this.parent, provider } : { parent: this.parent };
  }
}

/** Storage connection string from an account's first key. */
export function storageConnectionString(accountName: pulumi.Input<string>, resourceGroupName: pulumi.Input<string>, endpointSuffix: string, opts: pulumi.InvokeOutputOptions): pulumi.Output<string> {
  const keys = storage.listStorageAccountKeysOutput({ accountName, resourceGroupName }, opts);
  // listStorageAccountKeys is not marked secret by the provider.
  return pulumi.secret(
    pulumi.all([accountName, keys]).apply(([name, k]) => `DefaultEndpointsProtocol=https;AccountName=${name};AccountKey=${k.keys[0]?.value ?? ""};EndpointSuffix=${endpointSuffix}`),
  );
}

/** One look-up → the credential value the endpoint input wants (connection string, or a Cosmos DB key). */
export function lookupCredential(lookup: KeyLookup, providers: SubscriptionProviders): pulumi.Output<string> {
  const opts = providers.opts(lookup.subscriptionId);
  switch (lookup.service) {
    case "storage":
      return storageConnectionString(lookup.accountName, lookup.resourceGroup, lookup.endpointSuffix, opts);
    case "serviceBus": {
      if (lookup.scope === "entity") {
        const args = { authorizationRuleName: lookup.ruleName, namespaceName: lookup.namespace, resourceGroupName: lookup.resourceGroup };
        const keys =
          lookup.entityType === "topic"
            ? servicebus.listTopicKeysOutput({ ...args, topicName: lookup.entityName! }, opts)
            : servicebus.listQueueKeysOutput({ ...args, queueName: lookup.entityName! }, opts);
        return pulumi.secret(keys.primaryConnectionString);
      }
      const keys = servicebus.listNamespaceKeysOutput({ authorizationRuleName: lookup.ruleName, namespaceName: lookup.namespace, resourceGroupName: lookup.resourceGroup }, opts);
      return pulumi.secret(keys.primaryConnectionString.apply((cs) => withEntityPath(cs, lookup.entityName)));
    }
    case "eventHubs": {
      if (lookup.scope === "entity") {
        const keys = eventhub.listEventHubKeysOutput(
          { authorizationRuleName: lookup.ruleName, eventHubName: lookup.entityName!, namespaceName: lookup.namespace, resourceGroupName: lookup.resourceGroup },
          opts,
        );
        return pulumi.secret(keys.primaryConnectionString);
      }
      const keys = eventhub.listNamespaceKeysOutput({ authorizationRuleName: lookup.ruleName, namespaceName: lookup.namespace, resourceGroupName: lookup.resourceGroup }, opts);
      return pulumi.secret(keys.primaryConnectionString.apply((cs) => withEntityPath(cs, lookup.entityName)));
    }
    case "cosmosDb": {
      const keys = cosmosdb.listDatabaseAccountKeysOutput({ accountName: lookup.accountName, resourceGroupName: lookup.resourceGroup }, opts);
      return pulumi.secret(lookup.key === "primary" ? keys.primaryMasterKey : keys.secondaryMasterKey);
    }
    case "iotHub": {
      // Read-only on the original: listKeys does not change it.
      const keys = iothub.listIotHubResourceKeysOutput({ resourceGroupName: lookup.resourceGroup, resourceName: lookup.hubName }, opts);
      return pulumi.secret(
        keys.apply((k) => {
          const v = k.value;
          const rule = (v ?? []).find((r) => r.keyName === lookup.keyName);
          return (lookup.key === "primary" ? rule?.primaryKey : rule?.secondaryKey) ?? "";
        }),
      );
    }
  }
}

/** A namespace-level rule's connection string names no entity: append the endpoint's. */
export function withEntityPath(connectionString: string, entityName: string | undefined): string {
  if (!entityName || /;EntityPath=/i.test(connectionString)) return connectionString;
  return `${connectionString.replace(/;$/, "")};EntityPath=${entityName}`;
}

/**
 * A credential source → a secret Output, or undefined when the endpoint sends none.
 * `relocated` credentials come from RoutingResources through `relocated`.
 */
export function resolveCredential(
  source: CredentialSource | undefined,
  providers: SubscriptionProviders,
  relocated: (endpointName: string) => pulumi.Output<string> | undefined,
): pulumi.Output<string> | undefined {
  if (!source) return undefined;
  switch (source.kind) {
    case "literal":
    case "config":
      return pulumi.secret(source.value);
    case "empty":
      return pulumi.output("");
    case "lookup":
      return lookupCredential(source.lookup, providers);
    case "relocated":
      return relocated(source.endpointName);
    case "unresolved":
      // Validation stops the program before this point; reaching it is a bug.
      throw new Error(`unresolved credential for ${source.field}`);
  }
}
