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
import { UserError } from "../errors";
import type { CredentialSource, KeyLookup } from "./types";

/**
 * The subscription the default Azure provider deploys to, when the stack or the environment says
 * so before anything runs: `azure-native:subscriptionId` (stack config) or `ARM_SUBSCRIPTION_ID`
 * (the environment variable azure-native reads when the config is unset). Otherwise it is the one
 * the credentials pick (`az account set`), known only by asking the provider (getClientConfig).
 * Two settings that name different subscriptions are refused: which one the provider uses is its
 * precedence, not ours to guess, and key look-ups and live reads must not go to the other.
 */
export function configuredSubscription(config: string | undefined, environment: string | undefined): { subscriptionId?: string; namedBy?: string } {
  const c = config?.trim() || undefined;
  const e = environment?.trim() || undefined;
  if (c && e && c.toLowerCase() !== e.toLowerCase()) {
    throw new UserError(
      `stack config names subscription ${c} but ARM_SUBSCRIPTION_ID in the environment names ${e}: make them agree (\`pulumi config set azure-native:subscriptionId ${e}\`, or unset ARM_SUBSCRIPTION_ID) so the clone, its key look-ups and live reads use one subscription`,
      "azure-native:subscriptionId",
    );
  }
  if (c) return { subscriptionId: c, namedBy: "azure-native:subscriptionId" };
  if (e) return { subscriptionId: e, namedBy: "ARM_SUBSCRIPTION_ID" };
  return {};
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Lines that say which subscription the run really uses, once the provider has answered
 * (getClientConfig). Pure, for tests. `deploy` is what the provider reported; anything that is not
 * a subscription id (an offline plan without one) says nothing.
 */
export function subscriptionNotes(o: {
  deploy: string;
  /** The original's subscription and what named it (template ids or source.subscriptionId). */
  original?: string;
  /** Whether the run reads the original (its keys for the device copy or file upload, or a live GET). */
  readsOriginal: boolean;
  originalName: string;
}): string[] {
  if (!GUID.test(o.deploy)) return [];
  if (o.original && o.original.toLowerCase() !== o.deploy.toLowerCase()) {
    return [
      `subscription: the clone is created in ${o.deploy} (the subscription the Azure provider uses), the original ${o.originalName} is in ${o.original} and is read there through its own provider; if the clone belongs in ${o.original}, run \`pulumi config set azure-native:subscriptionId ${o.original}\``,
    ];
  }
  if (!o.original && o.readsOriginal) {
    return [
      `subscription: the original ${o.originalName} names no subscription, so it is read in ${o.deploy} (the subscription the Azure provider uses); if it is elsewhere, set source.subscriptionId`,
    ];
  }
  return [];
}

/** azure-native provider settings an explicit provider must repeat (it does not read `azure-native:*` stack config). */
const PROVIDER_SETTINGS: Record<string, "string" | "boolean" | "list"> = {
  auxiliaryTenantIds: "list", clientCertificatePassword: "string", clientCertificatePath: "string", clientId: "string", clientSecret: "string",
  disableInstanceDiscovery: "boolean", disablePulumiPartnerId: "boolean", environment: "string", metadataHost: "string", msiEndpoint: "string",
  oidcRequestToken: "string", oidcRequestUrl: "string", oidcToken: "string", oidcTokenFilePath: "string", partnerId: "string", tenantId: "string",
  useDefaultAzureCredential: "boolean", useMsi: "boolean", useOidc: "boolean",
};

/**
 * The stack's `azure-native:*` credentials and cloud settings as ProviderArgs, so a provider for
 * another subscription signs in exactly as the default one does (secret values stay secret).
 */
export function inheritedProviderArgs(get: (key: string) => string | undefined, isSecret: (key: string) => boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(PROVIDER_SETTINGS)) {
    const raw = get(key);
    if (raw === undefined) continue;
    let value: unknown = raw;
    if (kind === "boolean") value = raw === "true";
    if (kind === "list") {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw.split(",").map((s) => s.trim());
      }
    }
    out[key] = isSecret(key) ? pulumi.secret(value) : value;
  }
  return out;
}

/** Chooses invoke options per subscription: a target in another subscription needs its own provider. */
export class SubscriptionProviders {
  private readonly providers = new Map<string, Provider>();
  constructor(
    private readonly parent: pulumi.Resource,
    /**
     * The subscription the default provider deploys to, only when stack config or the environment
     * names it (configuredSubscription). Unknown: every named subscription gets its own provider,
     * which is right whichever subscription the credentials pick.
     */
    private readonly defaultSubscription?: string,
    /** Settings each explicit provider repeats (inheritedProviderArgs). */
    private readonly inherited: Record<string, unknown> = {},
  ) {}

  /** The provider for a target's subscription, or undefined for the default provider's. */
  provider(subscriptionId?: string): Provider | undefined {
    if (!subscriptionId || (this.defaultSubscription && subscriptionId.toLowerCase() === this.defaultSubscription.toLowerCase())) {
      return undefined;
    }
    let p = this.providers.get(subscriptionId.toLowerCase());
    if (!p) {
      p = new Provider(`azure-${subscriptionId}`, { ...this.inherited, subscriptionId }, { parent: this.parent });
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
