/**
 * HubClone: the cloned IoT hub and everything it needs, from the validated ClonePlan.
 *
 * The original hub is never a managed resource: it is only read (a file, or a GET and list-keys
 * invokes), so `pulumi destroy` removes the clone and what this program created, nothing else.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as iothub from "@pulumi/azure-native/iothub";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import type { CloneConfig } from "../config";
import { UserError, ValidationError } from "../errors";
import { redact } from "../secrets";
import type { HubModel } from "../source/model";
import { buildClonePlan } from "./desired-state";
import { parseArmId, segment } from "./coordinates";
import { DeviceStaging, wireDeviceMigration } from "./device-staging";
import { copyEstimates } from "./estimates";
import type { Estimates } from "../devices/pace";
import { configuredSubscription, inheritedProviderArgs, resolveCredential, subscriptionNotes, SubscriptionProviders } from "./key-lookups";
import { RoutingIdentity, type IdentityGrant } from "./routing-identity";
import { RoutingResources } from "./routing-resources";
import { declareAttachments } from "./attachments";
import { routeToKeep, routingWithEventGridRoute } from "./event-grid-route";
import { readLiveSource, readSourceFile } from "./source";
import type { ClonePlan, EndpointKind, Summary } from "./types";
import { ENDPOINT_KINDS } from "./types";

export interface HubCloneArgs {
  config: CloneConfig;
  /** Top-level config keys that were secret (template parameters from a secret `source` stay secret). */
  secretKeys?: Set<string>;
  /** Directory relative paths in config are resolved against (default: cwd, the project directory). */
  baseDir?: string;
}

export interface CloneSummary extends Summary {
  warnings: string[];
}

/** Validated plan or a ValidationError listing every finding (nothing is created either way until here). */
export function checkedPlan(model: HubModel, config: CloneConfig): ClonePlan {
  const plan = buildClonePlan(model, config);
  if (plan.errors.length) throw new ValidationError(plan.errors);
  return plan;
}

interface Built {
  hub: iothub.IotHubResource;
  hostName: pulumi.Output<string>;
  resourceId: pulumi.Output<string>;
  eventHubCompatibleEndpoint: pulumi.Output<string>;
  eventHubCompatiblePath: pulumi.Output<string>;
  connectionStrings: pulumi.Output<Record<string, string>>;
  summary: CloneSummary;
  stagingAccount?: pulumi.Output<string>;
  estimates: pulumi.Output<Estimates | undefined>;
  /** Which subscriptions the run really uses, once the provider has said (subscriptionNotes). */
  notes: pulumi.Output<string[]>;
}

/** Policy with registry read+write, preferring the conventional owner policy. */
function pickPolicy(rules: Array<{ keyName: string; rights: string; primaryKey?: string }>, need: string[]): { keyName: string; primaryKey?: string } | undefined {
  // RegistryWrite implies RegistryRead in IoT Hub's permission model.
  const has = (rights: string, n: string) => rights.includes(n) || (n === "RegistryRead" && rights.includes("RegistryWrite"));
  const ok = (r: { rights: string }) => need.every((n) => has(r.rights, n));
  return rules.find((r) => r.keyName === "iothubowner" && ok(r)) ?? rules.find(ok);
}

/** Principal id of an existing user-assigned identity (a read, for a role grant on our own resource). */
function userAssignedPrincipal(identityId: string, providers: SubscriptionProviders): pulumi.Output<string> {
  const id = parseArmId(identityId);
  const resourceName = id && segment(id, "userAssignedIdentities");
  if (!id?.resourceGroup || !resourceName) throw new UserError(`'${identityId}' is not a user-assigned identity id`, "identity.userAssignedIdentities");
  return managedidentity.getUserAssignedIdentityOutput({ resourceGroupName: id.resourceGroup, resourceName }, providers.opts(id.subscriptionId)).principalId;
}

export class HubClone extends pulumi.ComponentResource {
  readonly hostName: pulumi.Output<string>;
  readonly resourceId: pulumi.Output<string>;
  readonly eventHubCompatibleEndpoint: pulumi.Output<string>;
  readonly eventHubCompatiblePath: pulumi.Output<string>;
  /** Secret: policy name → `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`. */
  readonly connectionStrings: pulumi.Output<Record<string, string>>;
  readonly summary: pulumi.Output<CloneSummary>;
  readonly cloneName: pulumi.Output<string>;
  /** Time estimates of the device copy and cutover (pace.ts), when the original's device count is known. */
  readonly estimates: pulumi.Output<Estimates | undefined>;

  constructor(name: string, args: HubCloneArgs, opts?: pulumi.ComponentResourceOptions) {
    // File source: read and validate BEFORE registering anything, so bad input creates nothing.
    const filePlan = args.config.source.template
      ? checkedPlan(readSourceFile(args.config, args.secretKeys ?? new Set(), args.baseDir), args.config)
      : undefined;
    // The subscription the default provider deploys to, when config or the environment names it
    // (a contradiction between them is refused here, before anything is registered).
    const azureNative = new pulumi.Config("azure-native");
    const deployTo = configuredSubscription(azureNative.get("subscriptionId"), process.env.ARM_SUBSCRIPTION_ID);
    super("iothub-clone:index:HubClone", name, {}, opts);
    // `isConfigSecret` is exported by the runtime but missing from its typings.
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
    const providers = new SubscriptionProviders(
      this,
      deployTo.subscriptionId,
      inheritedProviderArgs((k) => azureNative.get(k), (k) => !!runtimeConfig.isConfigSecret?.(`azure-native:${k}`)),
    );
    const withNotes = (b: Built) => b.notes.apply((n) => ({ ...b.summary, warnings: [...b.summary.warnings, ...n] }));

    if (filePlan) {
      const b = this.build(name, filePlan, args.config, providers);
      this.hostName = b.hostName;
      this.resourceId = b.resourceId;
      this.eventHubCompatibleEndpoint = b.eventHubCompatibleEndpoint;
      this.eventHubCompatiblePath = b.eventHubCompatiblePath;
      this.connectionStrings = b.connectionStrings;
      this.summary = withNotes(b);
      this.cloneName = pulumi.output(filePlan.hub.resourceName);
      this.estimates = b.estimates;
    } else {
      // Live source: the original is read (GET) at deploy time; the clone is declared once it is
      // known. Built once, read field by field so one secret field does not make all outputs secret.
      let cache: Built | undefined;
      // Read in the subscription the config names for the original (its own provider), else the deploy subscription.
      const model = readLiveSource(args.config, providers.opts(args.config.source.subscriptionId));
      const get = (m: HubModel) => {
        try {
          return (cache ??= this.build(name, checkedPlan(m, args.config), args.config, providers));
        } catch (err) {
          // Bad input found at deploy time: one line per finding, no stack (as at program start).
          if (err instanceof UserError) throw new pulumi.RunError(redact(err.message));
          throw err;
        }
      };
      this.hostName = model.apply((m) => get(m).hostName);
      this.resourceId = model.apply((m) => get(m).resourceId);
      this.eventHubCompatibleEndpoint = model.apply((m) => get(m).eventHubCompatibleEndpoint);
      this.eventHubCompatiblePath = model.apply((m) => get(m).eventHubCompatiblePath);
      this.connectionStrings = pulumi.secret(model.apply((m) => get(m).connectionStrings));
      this.summary = model.apply((m) => withNotes(get(m)));
      this.cloneName = model.apply((m) => get(m).hub.name);
      this.estimates = model.apply((m) => get(m).estimates);
    }
    this.registerOutputs({
      hostName: this.hostName,
      resourceId: this.resourceId,
      eventHubCompatibleEndpoint: this.eventHubCompatibleEndpoint,
      connectionStrings: this.connectionStrings,
      summary: this.summary,
      estimates: this.estimates,
    });
  }

  private build(name: string, plan: ClonePlan, config: CloneConfig, providers: SubscriptionProviders): Built {
    const parent = { parent: this };
    for (const w of plan.warnings) pulumi.log.warn(redact(w), this);
    // The subscription the Azure provider really uses (config, environment or the signed-in default).
    const deploySubscription = authorization.getClientConfigOutput(parent).subscriptionId;
    const notes = deploySubscription.apply((deploy) => {
      const lines = subscriptionNotes({
        deploy,
        original: plan.original.subscriptionId,
        readsOriginal: config.devices.enabled || !config.source.template || config.clone.keepPolicyKeys === true,
        originalName: plan.original.name,
      });
      for (const l of lines) pulumi.log.warn(l, this);
      return lines;
    });
    const rg = plan.hub.resourceGroupName;
    const location = plan.hub.location;
    const tags = plan.hub.tags;
    const devicesOn = config.devices.enabled;
    const stagingByIdentity = devicesOn && config.devices.storageAuthenticationType === "identityBased";

    // 1. Relocated routing targets.
    const routing = plan.relocations.length
      ? new RoutingResources(`${name}-routing`, { cloneName: plan.hub.resourceName, resourceGroupName: rg, location, tags, relocations: plan.relocations }, parent)
      : undefined;
    const target = (endpointName: string) => routing?.targets[endpointName];

    // 2. Device staging. Identity-based staging uses the original's user-assigned identity, which
    // the clone reuses: both hubs' jobs can reach the container, and the original is not modified.
    const stagingIdentity = stagingByIdentity ? plan.identity.reused[0] : undefined;
    const staging = devicesOn
      ? new DeviceStaging(
          `${name}-staging`,
          {
            cloneName: plan.hub.resourceName,
            resourceGroupName: rg,
            location,
            tags,
            grantPrincipalId: stagingIdentity ? userAssignedPrincipal(stagingIdentity, providers) : undefined,
          },
          parent,
        )
      : undefined;

    // 3. The routing identity, granted its data roles before the hub exists.
    let identity: RoutingIdentity | undefined;
    if (plan.identity.create) {
      const grants: IdentityGrant[] = plan.roleGrants.map((g): IdentityGrant => {
        if (g.target.kind === "relocated") {
          const t = target(g.endpointName)!;
          return {
            name: g.endpointName,
            role: g.role,
            scopeId: t.scopeId,
            cosmos: t.cosmosAccountName ? { accountName: t.cosmosAccountName, resourceGroupName: rg } : undefined,
          };
        }
        const sub = g.target.subscriptionId ?? plan.original.subscriptionId;
        const scopeId = pulumi.interpolate`/subscriptions/${sub ?? deploySubscription}/resourceGroups/${g.target.resourceGroup}/providers/${g.target.providerPath}`;
        return {
          name: g.endpointName,
          role: g.role,
          scopeId,
          cosmos: g.target.cosmosAccountName ? { accountName: g.target.cosmosAccountName, resourceGroupName: g.target.resourceGroup } : undefined,
          provider: g.target.cosmosAccountName ? providers.provider(sub) : undefined,
        };
      });
      identity = new RoutingIdentity(`${name}-identity`, { identityName: plan.identity.name, resourceGroupName: rg, location, tags, grants }, parent);
    }

    // 4. Routing endpoints with credentials resolved at deploy time (always secrets).
    const relocatedCredential = (endpointName: string) => target(endpointName)?.credential;
    const endpoints: Record<EndpointKind, unknown[]> = { serviceBusQueues: [], serviceBusTopics: [], eventHubs: [], storageContainers: [], cosmosDBSqlContainers: [] };
    for (const ep of plan.endpoints) {
      const out: Record<string, unknown> = { ...ep.inputs };
      const t = target(ep.name);
      if (t) {
        out.resourceGroup = rg;
        if (ep.relocation?.identityBased || ep.kind === "cosmosDBSqlContainers") out.endpointUri = t.endpointUri;
        if (ep.relocation?.identityBased && t.entityPath) out.entityPath = t.entityPath;
      }
      if (ep.auth.kind === "reusedIdentity") out.identity = { userAssignedIdentity: ep.auth.identityId };
      if (ep.auth.kind === "programIdentity") out.identity = { userAssignedIdentity: identity!.identityId };
      if (ep.auth.kind !== "keyBased") out.authenticationType = "identityBased";
      const primary = resolveCredential(ep.credential, providers, relocatedCredential);
      if (ep.kind === "cosmosDBSqlContainers") {
        if (primary) out.primaryKey = primary;
        const secondary = t?.secondaryCredential ?? resolveCredential(ep.secondaryCredential, providers, relocatedCredential);
        if (secondary && ep.auth.kind === "keyBased") out.secondaryKey = secondary;
      } else if (primary) {
        out.connectionString = primary;
      }
      endpoints[ep.kind].push(out);
    }
    const properties: Record<string, unknown> = { ...plan.hub.properties };
    // Outbound restriction: the hub may only reach allowedFqdnList, so every relocated routing
    // target (new names, known at deploy time) is added to it
    // (learn.microsoft.com/azure/iot-hub/iot-hub-restrict-outbound-network-access).
    if (properties.restrictOutboundNetworkAccess === true && routing) {
      const original = (properties.allowedFqdnList as string[] | undefined) ?? [];
      const hosts = plan.relocations.map((r) => target(r.endpointName)!.endpointUri.apply((u) => u.replace(/^[a-z]+:\/\//i, "").split(/[/:]/)[0].toLowerCase()));
      properties.allowedFqdnList = pulumi.all(hosts).apply((hs) => [...new Set([...original, ...hs])]);
    }
    if (properties.routing) {
      const r = properties.routing as Record<string, unknown>;
      properties.routing = { ...r, endpoints: Object.fromEntries(ENDPOINT_KINDS.map((k) => [k, endpoints[k]])) };
    }

    // 5. File upload storage.
    if (plan.fileUpload) {
      const f = plan.fileUpload;
      const t = target("$default");
      const fu: Record<string, unknown> = { ...f.inputs };
      if (t && f.relocation?.identityBased) {
        fu.connectionString = pulumi.interpolate`DefaultEndpointsProtocol=https;AccountName=${t.endpointUri.apply((u) => new URL(u).hostname.split(".")[0])};EndpointSuffix=core.windows.net`;
      } else {
        fu.connectionString = resolveCredential(f.credential, providers, relocatedCredential) ?? "";
      }
      if (f.auth.kind === "reusedIdentity") fu.identity = { userAssignedIdentity: f.auth.identityId };
      if (f.auth.kind === "programIdentity") fu.identity = { userAssignedIdentity: identity!.identityId };
      if (f.auth.kind !== "keyBased") fu.authenticationType = "identityBased";
      properties.storageEndpoints = { $default: fu };
    }

    // 6. Shared access policies: new keys unless configured to carry them.
    if (plan.policies) {
      properties.authorizationPolicies = plan.policies.map((p) => {
        const out: Record<string, unknown> = { keyName: p.keyName, rights: p.rights };
        const primary = resolveCredential(p.primaryKey, providers, () => undefined);
        const secondary = resolveCredential(p.secondaryKey, providers, () => undefined);
        if (primary) out.primaryKey = primary;
        if (secondary) out.secondaryKey = secondary;
        return out;
      });
    }

    // 7. Identity of the hub.
    const userAssigned: pulumi.Input<string>[] = [...plan.identity.reused];
    if (identity) userAssigned.push(identity.identityId);
    const type = plan.identity.systemAssigned ? (userAssigned.length ? "SystemAssigned, UserAssigned" : "SystemAssigned") : userAssigned.length ? "UserAssigned" : undefined;

    // RouteToEventGrid: never sent on create; kept once Event Grid has added it (event-grid-route.ts).
    if (properties.routing)
      properties.routing = routingWithEventGridRoute(properties.routing as Record<string, unknown>, routeToKeep(plan), { resourceGroupName: rg, resourceName: plan.hub.resourceName }, parent);

    // 8. The hub, after everything it routes to and the identity's grants.
    const dependsOn = [routing, identity].filter((r): r is RoutingResources | RoutingIdentity => !!r);
    const hub = new iothub.IotHubResource(
      plan.hub.resourceName,
      {
        resourceName: plan.hub.resourceName,
        resourceGroupName: rg,
        location,
        sku: plan.hub.sku as iothub.IotHubResourceArgs["sku"],
        tags,
        // No empty user-assigned list beside a SystemAssigned type (ARM expects none then).
        ...(type ? { identity: { type: type as iothub.ResourceIdentityType, ...(userAssigned.length ? { userAssignedIdentities: userAssigned } : {}) } } : {}),
        properties: properties as iothub.IotHubResourceArgs["properties"],
      },
      { parent: this, dependsOn },
    );

    // Child resources one at a time: IoT Hub answers 409 to concurrent operations on one hub
    // (learn.microsoft.com/azure/iot-hub/troubleshoot-error-codes#409002-linkcreationconflict and
    // the RP's "operation in progress" conflicts), so each waits for the one before it.
    let previous: pulumi.Resource = hub;
    const groups = plan.consumerGroups.map((g) => {
      const group = new iothub.IotHubResourceEventHubConsumerGroup(
        `${plan.hub.resourceName}-events-${g}`,
        { resourceGroupName: rg, resourceName: hub.name, eventHubEndpointName: "events", name: g, properties: { name: g } },
        { parent: this, dependsOn: [previous] },
      );
      previous = group;
      return group;
    });
    for (const c of plan.certificates) {
      previous = new iothub.Certificate(
        `${plan.hub.resourceName}-cert-${c.name}`,
        { resourceGroupName: rg, resourceName: hub.name, certificateName: c.name, properties: { certificate: c.certificate, ...(c.isVerified !== undefined ? { isVerified: c.isVerified } : {}) } },
        { parent: this, dependsOn: [previous] },
      );
    }

    // 9. Outputs. Keys are listed only once the hub exists (its id is unknown during a preview).
    // The hub's properties are secret as a whole once any endpoint key is; its host name is not.
    const hostName = pulumi.unsecret(hub.properties.apply((p) => p.hostName));
    const keys = iothub.listIotHubResourceKeysOutput({ resourceGroupName: rg, resourceName: pulumi.all([hub.id, hub.name]).apply(([, n]) => n) }, parent);
    const connectionStrings = pulumi.secret(
      pulumi.all([hostName, keys.apply((k) => k.value ?? [])]).apply(([host, rules]) =>
        Object.fromEntries((rules ?? []).map((r) => [r.keyName, `HostName=${host};SharedAccessKeyName=${r.keyName};SharedAccessKey=${r.primaryKey ?? ""}`])),
      ),
    );

    // 10. Devices: bulk export from the original (read-only) and import into the clone.
    let migration: pulumi.Resource | undefined;
    if (devicesOn && staging) {
      const originalKeys = iothub.listIotHubResourceKeysOutput(
        { resourceGroupName: plan.original.resourceGroup!, resourceName: plan.original.name },
        providers.opts(plan.original.subscriptionId),
      );
      const sourceHost = `${plan.original.name.toLowerCase()}.azure-devices.net`;
      const sourceConnectionString = pulumi.secret(
        originalKeys.apply((k) => k.value ?? []).apply((rules) => {
          const p = pickPolicy(rules ?? [], ["RegistryRead"]);
          return `HostName=${sourceHost};SharedAccessKeyName=${p?.keyName ?? "iothubowner"};SharedAccessKey=${p?.primaryKey ?? ""}`;
        }),
      );
      const cloneConnectionString = pulumi.secret(
        pulumi.all([hostName, keys.apply((k) => k.value ?? [])]).apply(([host, rules]) => {
          const p = pickPolicy(rules ?? [], ["RegistryWrite"]);
          return `HostName=${host};SharedAccessKeyName=${p?.keyName ?? "iothubowner"};SharedAccessKey=${p?.primaryKey ?? ""}`;
        }),
      );
      migration = wireDeviceMigration(
        `${name}-devices`,
        {
          devices: config.devices,
          staging,
          sourceHubHostName: sourceHost,
          sourceConnectionString,
          cloneHubHostName: hostName,
          cloneConnectionString,
          userAssignedIdentity: stagingIdentity,
        },
        { parent: this, dependsOn: [hub, ...groups] },
      );
    }

    // 11. What is attached to the hub: roles, diagnostics, private endpoints, Event Grid after the devices.
    if (plan.attachments)
      declareAttachments(
        `${name}-attached`,
        {
          plan: plan.attachments,
          hubId: hub.id,
          resourceGroupName: rg,
          location,
          subscriptionId: new pulumi.Config("azure-native").get("subscriptionId") ?? deploySubscription,
          // The last of the hub's chained child operations (or the hub itself).
          hubOperations: [hub, previous],
          deviceMigration: migration,
        },
        parent,
      );

    const summary: CloneSummary = {
      carriedOver: plan.summary.carriedOver,
      changed: plan.summary.changed,
      dropped: plan.summary.dropped,
      warnings: plan.warnings.map(redact),
    };
    const built: Built = {
      hub,
      hostName,
      resourceId: hub.id,
      eventHubCompatibleEndpoint: pulumi.unsecret(hub.properties.apply((p) => p.eventHubEndpoints?.["events"]?.endpoint ?? "")),
      eventHubCompatiblePath: pulumi.unsecret(hub.properties.apply((p) => p.eventHubEndpoints?.["events"]?.path ?? "")),
      connectionStrings,
      summary,
      stagingAccount: staging?.accountName,
      // Only when devices are copied: the estimate is of their copy (and the cutover after it).
      estimates: devicesOn ? copyEstimates(plan, this) : pulumi.output(undefined as Estimates | undefined),
      notes,
    };
    return built;
  }
}
