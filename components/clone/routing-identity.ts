/**
 * RoutingIdentity: the user-assigned identity the clone routes (and stages device files) with,
 * granted its data roles on every target BEFORE the hub exists. A new hub's system-assigned
 * identity only exists after the hub, so endpoints using it would fail validation on create;
 * a user-assigned identity made and granted first lets one `pulumi up` converge.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as cosmosdb from "@pulumi/azure-native/cosmosdb";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as random from "@pulumi/random";
import { PropagationWait } from "./propagation-wait";
import { DATA_ROLES, type DataRole } from "./types";

/** The longest the hub waits for its grants to be confirmed (Azure RBAC propagation; see propagation-wait.ts). */
export const ROLE_PROPAGATION_DEADLINE_SECONDS = 600;

export interface IdentityGrant {
  /** Logical suffix (endpoint name, "staging"). */
  name: string;
  role: DataRole;
  /** ARM id of the target (storage account, queue/topic, event hub, Cosmos DB account). */
  scopeId: pulumi.Input<string>;
  /** Cosmos DB: the account name and resource group (SQL role assignments are account children). */
  cosmos?: { accountName: pulumi.Input<string>; resourceGroupName: pulumi.Input<string> };
  /** Provider for a target in another subscription (resource options). */
  provider?: pulumi.ProviderResource;
}

export interface RoutingIdentityArgs {
  identityName: string;
  resourceGroupName: pulumi.Input<string>;
  location: string;
  tags?: Record<string, string>;
  grants: IdentityGrant[];
}

export class RoutingIdentity extends pulumi.ComponentResource {
  readonly identityId: pulumi.Output<string>;
  readonly principalId: pulumi.Output<string>;
  readonly clientId: pulumi.Output<string>;

  constructor(name: string, args: RoutingIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iothub-clone:index:RoutingIdentity", name, {}, opts);
    const identity = new managedidentity.UserAssignedIdentity(
      `${name}-uai`,
      { resourceName: args.identityName, resourceGroupName: args.resourceGroupName, location: args.location, tags: args.tags },
      { parent: this },
    );
    this.identityId = identity.id;
    this.principalId = identity.principalId;
    this.clientId = identity.clientId;
    const grants = args.grants.map((g) => this.grant(name, identity, g));
    if (grants.length) {
      // Part of this component, so the hub (which depends on it) waits too.
      new PropagationWait(`${name}-propagation`, { deadlineSeconds: ROLE_PROPAGATION_DEADLINE_SECONDS, after: grants.map((r) => r.id) }, { parent: this, dependsOn: grants });
    }
    this.registerOutputs({ identityId: this.identityId, principalId: this.principalId });
  }

  private grant(name: string, identity: managedidentity.UserAssignedIdentity, g: IdentityGrant): pulumi.CustomResource {
    const opts: pulumi.CustomResourceOptions = { parent: this, ...(g.provider ? { provider: g.provider } : {}) };
    const role = DATA_ROLES[g.role];
    const logical = `${name}-${g.name.replace(/^\$/, "")}-${g.role}`;
    if (g.cosmos) {
      // Cosmos DB data access is its own RBAC system: a SQL role assignment on the account.
      const id = new random.RandomUuid(`${logical}-id`, {}, { parent: this });
      return new cosmosdb.SqlResourceSqlRoleAssignment(
        logical,
        {
          accountName: g.cosmos.accountName,
          resourceGroupName: g.cosmos.resourceGroupName,
          roleAssignmentId: id.result,
          roleDefinitionId: pulumi.interpolate`${g.scopeId}/sqlRoleDefinitions/${role.id}`,
          scope: g.scopeId,
          principalId: identity.principalId,
        },
        opts,
      );
    }
    return new authorization.RoleAssignment(
      logical,
      {
        principalId: identity.principalId,
        principalType: "ServicePrincipal",
        // Built-in role definitions are the same in every subscription; the scope's subscription resolves it.
        roleDefinitionId: pulumi.output(g.scopeId).apply((scope) => `${subscriptionOf(scope)}/providers/Microsoft.Authorization/roleDefinitions/${role.id}`),
        scope: g.scopeId,
        description: `iothub-clone: ${role.name} for routing/staging of the cloned hub`,
      },
      opts,
    );
  }
}

/** `/subscriptions/x/resourceGroups/...` → `/subscriptions/x`. */
export function subscriptionOf(scope: string): string {
  const m = /^\/subscriptions\/[^/]+/i.exec(scope);
  return m ? m[0] : "";
}
