/**
 * Role assignments made on the original hub, made again on the clone: same principal (and
 * principal type, which lets ARM skip the directory look-up for a new service principal), same
 * role, scope = the clone. Backends keep their data-plane access when they switch hubs.
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import type { RoleAssignmentPlan } from "./attachments-plan";

export interface HubRoleAssignmentsArgs {
  assignments: RoleAssignmentPlan[];
  hubId: pulumi.Input<string>;
  /** The clone's subscription (where the role definitions are looked up). */
  subscriptionId: pulumi.Input<string>;
}

export class HubRoleAssignments extends pulumi.ComponentResource {
  constructor(name: string, args: HubRoleAssignmentsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iothub-clone:index:HubRoleAssignments", name, {}, opts);
    for (const a of args.assignments) {
      new authorization.RoleAssignment(
        `${name}-${a.name}`,
        {
          roleAssignmentName: a.name,
          scope: args.hubId,
          principalId: a.principalId,
          ...(a.principalType ? { principalType: a.principalType } : {}),
          // The role definition in the clone's subscription (built-in role ids are the same everywhere).
          roleDefinitionId: pulumi.interpolate`/subscriptions/${args.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${a.roleDefinitionGuid}`,
          ...(a.description ? { description: a.description } : {}),
          ...(a.condition ? { condition: a.condition, conditionVersion: a.conditionVersion ?? "2.0" } : {}),
        },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }
}
