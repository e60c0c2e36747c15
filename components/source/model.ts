/**
 * One model of the original hub, whatever it was read from (portal export, ARM GET body,
 * `az iot hub state` export, authored/Bicep template, our snapshot, the live hub).
 *
 * Shape: the ARM `Microsoft.Devices/IotHubs` resource with property names normalised to the
 * casing of the ARM REST API (api-version 2023-06-30), ARM expressions already evaluated, and
 * every credential replaced by a `KeyRef` that says where the real value comes from. Read-only
 * fields are kept as read (the transform decides what to drop and warns), so nothing is lost
 * silently between reading and planning.
 */

import type { HubAttachments } from "./attachments";

/** The input formats we detect. */
export type SourceFormat =
  | "portal-export" // [parameters('IotHubs_<name>_name')], masked keys, SecureString params
  | "arm-resource" // body of `GET …/IotHubs/{name}` (az iot hub show, az resource show)
  | "hub-state" // `az iot hub state export` file
  | "template" // authored ARM/Bicep-compiled template (incl. languageVersion 2.0, nested deployments)
  | "snapshot" // `hubclone snapshot` output
  | "live"; // read from Azure at deploy time (getIotHubResourceOutput)

/**
 * Where a credential (an endpoint connection string, a policy key) comes from. Never holds a
 * real secret in a non-secret position: `literal` values are carried as Pulumi secrets.
 */
export type KeyRef =
  /** A real value was present (a template parameter supplied as secret, an unmasked export). */
  | { kind: "literal"; value: string }
  /** Masked by the portal/ARM (`AccountKey=****`): the non-secret remainder is kept for coordinates. */
  | { kind: "masked"; masked: string }
  /** `listKeys(resourceId, apiVersion)` in a template: look the key up at deploy time. */
  | {
      kind: "listKeys";
      resourceId: string;
      expression: string;
      keyName?: string;
      /** When the key was built into a larger string (a connection string): that string with the key replaced by `{key}`. */
      template?: string;
    }
  /** A SecureString template parameter nobody supplied: the user must supply it (or we look it up). */
  | { kind: "parameter"; parameter: string }
  /** Identity-based endpoint: no key needed. */
  | { kind: "none" };

/** ARM routing endpoint, common part (all five kinds). */
export interface EndpointBase {
  name: string;
  id?: string; // read-only
  subscriptionId?: string;
  resourceGroup?: string;
  authenticationType?: "keyBased" | "identityBased" | string;
  identity?: { userAssignedIdentity?: string };
  /** Entity endpoint URI for identity-based endpoints (`sb://…`, `https://…`). */
  endpointUri?: string;
  entityPath?: string;
  /** The connection string (key-based endpoints). */
  connectionString?: KeyRef;
}

export interface StorageContainerEndpoint extends EndpointBase {
  containerName: string;
  fileNameFormat?: string;
  batchFrequencyInSeconds?: number;
  maxChunkSizeInBytes?: number;
  encoding?: "avro" | "avroDeflate" | "json" | string;
}

export interface CosmosDbContainerEndpoint extends Omit<EndpointBase, "connectionString" | "endpointUri"> {
  endpointUri: string;
  databaseName: string;
  containerName: string; // older API: collectionName
  primaryKey?: KeyRef;
  secondaryKey?: KeyRef;
  partitionKeyName?: string;
  partitionKeyTemplate?: string;
}

export interface RoutingEndpoints {
  serviceBusQueues: EndpointBase[];
  serviceBusTopics: EndpointBase[];
  eventHubs: EndpointBase[];
  storageContainers: StorageContainerEndpoint[];
  cosmosDBSqlContainers: CosmosDbContainerEndpoint[];
}

export interface Route {
  name: string;
  source: string; // DeviceMessages, TwinChangeEvents, DeviceLifecycleEvents, DeviceJobLifecycleEvents, DigitalTwinChangeEvents, DeviceConnectionStateEvents, Invalid
  condition?: string;
  endpointNames: string[];
  isEnabled: boolean;
}

export interface Enrichment {
  key: string;
  value: string;
  endpointNames: string[];
}

export interface SharedAccessPolicy {
  keyName: string;
  /** As ARM returns it: comma-separated, e.g. "RegistryRead, RegistryWrite, ServiceConnect". */
  rights: string;
  primaryKey?: KeyRef;
  secondaryKey?: KeyRef;
}

export interface ConsumerGroup {
  /** Built-in event hub endpoint the group belongs to, normally `events`. */
  eventHubEndpoint: string;
  name: string;
  /** Where we learned of it: a template child resource, the snapshot, the live hub, config. */
  origin: "template" | "snapshot" | "live" | "config";
}

export interface HubCertificate {
  name: string;
  /** PEM or base64 body; absent when the source only listed the name (then the user must supply it). */
  certificate?: string;
  isVerified?: boolean;
}

/**
 * The hub's `properties`, normalised. Fields we do not model explicitly are kept in `extra`
 * (verbatim, normalised casing) so the transform can carry them over or drop them with a warning.
 */
export interface HubProperties {
  authorizationPolicies?: SharedAccessPolicy[];
  disableLocalAuth?: boolean;
  disableDeviceSAS?: boolean;
  disableModuleSAS?: boolean;
  restrictOutboundNetworkAccess?: boolean;
  allowedFqdnList?: string[];
  publicNetworkAccess?: string;
  ipFilterRules?: Array<{ filterName: string; action: string; ipMask: string }>;
  networkRuleSets?: {
    defaultAction?: string;
    applyToBuiltInEventHubEndpoint: boolean;
    ipRules: Array<{ filterName: string; action?: string; ipMask: string }>;
  };
  minTlsVersion?: string;
  privateEndpointConnections?: unknown[];
  eventHubEndpoints?: Record<
    string,
    { retentionTimeInDays?: number; partitionCount?: number; partitionIds?: string[]; path?: string; endpoint?: string }
  >;
  routing?: {
    endpoints: RoutingEndpoints;
    routes: Route[];
    fallbackRoute?: Route;
    enrichments: Enrichment[];
  };
  storageEndpoints?: Record<
    string,
    {
      sasTtlAsIso8601?: string;
      connectionString?: KeyRef;
      containerName: string;
      /** The container came from a SecureString template parameter nobody supplied. */
      containerParameter?: string;
      authenticationType?: string;
      identity?: { userAssignedIdentity?: string };
    }
  >;
  messagingEndpoints?: Record<string, { lockDurationAsIso8601?: string; ttlAsIso8601?: string; maxDeliveryCount?: number }>;
  enableFileUploadNotifications?: boolean;
  cloudToDevice?: {
    maxDeliveryCount?: number;
    defaultTtlAsIso8601?: string;
    feedback?: { lockDurationAsIso8601?: string; ttlAsIso8601?: string; maxDeliveryCount?: number };
  };
  comments?: string;
  features?: string;
  enableDataResidency?: boolean;
  rootCertificate?: { enableRootCertificateV2?: boolean };
  ipVersion?: string;
  deviceStreams?: { streamingEndpoints?: string[] };
  /** Anything else the source carried (read-only fields, deprecated `operationsMonitoringProperties`, unknown ones). */
  extra: Record<string, unknown>;
}

export interface HubIdentity {
  type: string; // "None" | "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned"
  /** ARM ids of user-assigned identities (a map in ARM, a list in Pulumi: normalised to a list). */
  userAssignedIdentities: string[];
}

export interface HubModel {
  format: SourceFormat;
  /** File the model was read from (for messages), or `live:<rg>/<name>`. */
  origin: string;
  name: string;
  location: string;
  subscriptionId?: string;
  resourceGroup?: string;
  /** ARM id when the source gave one. */
  id?: string;
  tags: Record<string, string>;
  sku: { name: string; capacity: number; tier?: string };
  identity?: HubIdentity;
  properties: HubProperties;
  consumerGroups: ConsumerGroup[];
  certificates: HubCertificate[];
  /** What is attached from outside (Event Grid, diagnostics, private endpoints, roles); absent = the source cannot list them. */
  attachments?: HubAttachments;
  /** Notes made while reading (fields ignored, formats guessed): surfaced as plan warnings. */
  notes: string[];
}

/** Values for template parameters: from a parameters file, `--param NAME=VALUE`, or stack config. */
export interface ParameterValues {
  values: Record<string, unknown>;
  /** Names whose values are secret (SecureString/secureObject, or passed as Pulumi secrets). */
  secret: Set<string>;
}

/** Deploy-time context ARM functions need (`resourceGroup()`, `subscription()`, `uniqueString`). */
export interface DeploymentContext {
  /** Unknown when not configured: functions that need it (subscription(), resourceId() without one) fail with a clear error rather than inventing an id. */
  subscriptionId?: string;
  resourceGroup: string;
  location?: string;
  deploymentName?: string;
}
