/**
 * The clone's desired state as plain data (no Pulumi): what `transform.ts` produces from the
 * original's HubModel and the stack config, what `validation.ts` checks, and what the resource
 * components turn into azure-native resources. Credentials are never values here, only
 * descriptions of where each comes from at deploy time.
 */
import type { Finding } from "../errors";
import type { AttachmentsPlan } from "./attachments-plan";

export type EndpointKind = "storageContainers" | "serviceBusQueues" | "serviceBusTopics" | "eventHubs" | "cosmosDBSqlContainers";

export const ENDPOINT_KINDS: readonly EndpointKind[] = [
  "serviceBusQueues",
  "serviceBusTopics",
  "eventHubs",
  "storageContainers",
  "cosmosDBSqlContainers",
];

/** A deploy-time key look-up through an azure-native list-keys function (read-only on the target). */
export type KeyLookup =
  | { service: "storage"; subscriptionId?: string; resourceGroup: string; accountName: string; endpointSuffix: string }
  | {
      service: "serviceBus" | "eventHubs";
      subscriptionId?: string;
      resourceGroup: string;
      namespace: string;
      /** Entity the rule is on (scope "entity"), or the entity appended as `EntityPath` (scope "namespace"). */
      entityType: "queue" | "topic" | "eventhub";
      entityName?: string;
      ruleName: string;
      scope: "entity" | "namespace";
    }
  | { service: "cosmosDb"; subscriptionId?: string; resourceGroup: string; accountName: string; key: "primary" | "secondary" }
  | { service: "iotHub"; subscriptionId?: string; resourceGroup: string; hubName: string; keyName: string; key: "primary" | "secondary" };

/** Where a credential of the clone comes from. */
export type CredentialSource =
  /** A real value carried from the source (a supplied SecureString parameter): a Pulumi secret. */
  | { kind: "literal"; value: string }
  /** A secret from stack config (`endpoints.<name>.connectionString`, ...). */
  | { kind: "config"; configKey: string; value: string }
  | { kind: "lookup"; lookup: KeyLookup }
  /** Keys of the resource RoutingResources creates for this endpoint. */
  | { kind: "relocated"; endpointName: string }
  /** Deliberately empty (ARM accepts empty file-upload storage settings). */
  | { kind: "empty" }
  /** Nothing can resolve it: validation turns this into an error naming the fix. */
  | { kind: "unresolved"; field: string; fix: string };

/** Azure data roles granted to the clone's routing identity (real built-in role definition ids). */
export const DATA_ROLES = {
  storageBlobDataContributor: { id: "ba92f5b4-2d11-453d-a403-e96b0029c9fe", name: "Storage Blob Data Contributor" },
  serviceBusDataSender: { id: "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", name: "Azure Service Bus Data Sender" },
  eventHubsDataSender: { id: "2b629674-e913-4c01-ae53-ef4638d8f975", name: "Azure Event Hubs Data Sender" },
  /** Cosmos DB's data plane RBAC: a SQL role definition on the account, not an Azure RBAC role. */
  cosmosDbDataContributor: { id: "00000000-0000-0000-0000-000000000002", name: "Cosmos DB Built-in Data Contributor" },
} as const;
export type DataRole = keyof typeof DATA_ROLES;

/** Where an endpoint's target is, for a role grant on something the program does not create. */
export interface ExistingTarget {
  subscriptionId?: string;
  resourceGroup: string;
  /** ARM path after `providers/`, e.g. `Microsoft.ServiceBus/namespaces/ns/queues/q`. */
  providerPath: string;
  /** Cosmos DB only: the account (SQL role assignments are account children). */
  cosmosAccountName?: string;
}

export interface RoleGrant {
  endpointName: string;
  role: DataRole;
  /** Target the program relocates (resolved by RoutingResources) or an existing resource. */
  target: { kind: "relocated" } | ({ kind: "existing" } & ExistingTarget);
}

/** A new routing resource in the clone's region for an endpoint configured with `relocate: true`. */
export interface Relocation {
  endpointName: string;
  endpointKind: EndpointKind | "fileUpload";
  /** Queue/topic/event hub name, blob container name, or Cosmos DB container name (kept from the original). */
  entityName: string;
  /** Cosmos DB only. */
  databaseName?: string;
  partitionKeyName?: string;
  /** Event Hubs only: the new event hub's partitions. */
  partitionCount?: number;
  identityBased: boolean;
}

/** How an endpoint authenticates in the clone. */
export type EndpointAuth =
  | { kind: "keyBased" }
  /** A user-assigned identity the original already used, reused as is (its grants exist). */
  | { kind: "reusedIdentity"; identityId: string }
  /** The identity this program creates (grants made before the hub). */
  | { kind: "programIdentity" };

export interface EndpointPlan {
  kind: EndpointKind;
  name: string;
  /** azure-native input fields other than credentials, identity and relocation-dependent ones. */
  inputs: Record<string, unknown>;
  /** connectionString (or Cosmos DB primaryKey). */
  credential?: CredentialSource;
  secondaryCredential?: CredentialSource;
  auth: EndpointAuth;
  relocation?: Relocation;
}

export interface FileUploadPlan {
  containerName: string;
  inputs: Record<string, unknown>;
  credential: CredentialSource;
  auth: EndpointAuth;
  relocation?: Relocation;
}

export interface PolicyPlan {
  keyName: string;
  rights: string;
  primaryKey?: CredentialSource;
  secondaryKey?: CredentialSource;
}

export interface CertificatePlan {
  name: string;
  certificate?: string;
  isVerified?: boolean;
}

/** A route as the API takes it (RouteProperties of the 2023-06-30 spec). */
export interface RoutePlan {
  name: string;
  source: string;
  condition?: string;
  endpointNames: string[];
  isEnabled: boolean;
}

/**
 * The original's `RouteToEventGrid`, kept OUT of the hub's create body: IoT Hub creates that route
 * itself with the first Event Grid telemetry subscription and answers 400126 ("Cannot add or
 * remove default routes") to a create that carries it (microsoft/Azure-Percept-Reference-Solutions#18,
 * hashicorp/terraform-provider-azurerm#11800; /work/shared/reference/service-behaviours.md §12).
 *
 * The hook for the Event Grid attachments: whoever recreates the original's subscriptions on the
 * clone restores `condition` on the route IoT Hub created (docs/clone.md, "RouteToEventGrid").
 */
export interface EventGridRoutePlan {
  route: RoutePlan;
  /** True when the original's condition is not the default `true` (restoring it matters). */
  customCondition: boolean;
  /** Whether the original's subscriptions are known to this plan (a hub-only source: false). */
  subscriptionsKnown: boolean;
}

export interface Summary {
  carriedOver: string[];
  changed: string[];
  dropped: string[];
}

export interface ClonePlan {
  original: { name: string; location: string; resourceGroup?: string; subscriptionId?: string; format: string; origin: string; sku?: { name: string; capacity: number } };
  hub: {
    resourceName: string;
    resourceGroupName: string;
    location: string;
    sku: { name: string; capacity: number };
    tags: Record<string, string>;
    /** IotHubProperties in azure-native input shape, minus routing endpoints, storageEndpoints and policies. */
    properties: Record<string, unknown>;
  };
  endpoints: EndpointPlan[];
  fileUpload?: FileUploadPlan;
  policies?: PolicyPlan[];
  identity: {
    systemAssigned: boolean;
    /** User-assigned identities of the original kept on the clone. */
    reused: string[];
    /** Create a user-assigned identity for identity-based endpoints. */
    create: boolean;
    name: string;
  };
  roleGrants: RoleGrant[];
  relocations: Relocation[];
  consumerGroups: string[];
  certificates: CertificatePlan[];
  /** Left out of the create body; see EventGridRoutePlan. */
  eventGridRoute?: EventGridRoutePlan;
  /** Event Grid, diagnostic settings, private endpoints and role assignments (attachments-plan.ts). */
  attachments?: AttachmentsPlan;
  summary: Summary;
  warnings: string[];
  errors: Finding[];
}
