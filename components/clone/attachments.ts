/**
 * Declares what is attached to the clone (from the plan's `attachments`), in the order that keeps
 * the clone silent until cutover: role assignments and diagnostic settings right after the hub
 * (they raise no device events), private endpoints after the hub's other operations, Event Grid
 * subscriptions after the device copy.
 */
import * as pulumi from "@pulumi/pulumi";
import type { AttachmentsPlan } from "./attachments-plan";
import { HubDiagnostics } from "./diagnostics";
import { HubEventGrid } from "./event-grid";
import { HubPrivateEndpoints } from "./private-endpoints";
import { HubRoleAssignments } from "./role-assignments";

export interface AttachmentsWiring {
  plan: AttachmentsPlan;
  hubId: pulumi.Input<string>;
  resourceGroupName: string;
  location: string;
  subscriptionId: pulumi.Input<string>;
  /** The hub and its children (consumer groups, certificates): operations on the hub to finish first. */
  hubOperations: pulumi.Resource[];
  /** The device copy, when there is one: Event Grid subscriptions wait for it. */
  deviceMigration?: pulumi.Resource;
}

export function declareAttachments(name: string, w: AttachmentsWiring, opts: pulumi.ComponentResourceOptions): void {
  const p = w.plan;
  if (p.roleAssignments.length)
    new HubRoleAssignments(`${name}-roles`, { assignments: p.roleAssignments, hubId: w.hubId, subscriptionId: w.subscriptionId }, opts);
  if (p.diagnosticSettings.length) new HubDiagnostics(`${name}-diagnostics`, { settings: p.diagnosticSettings, hubId: w.hubId }, opts);
  const endpoints = p.privateEndpoints.length
    ? new HubPrivateEndpoints(
        `${name}-private-endpoints`,
        { endpoints: p.privateEndpoints, hubId: w.hubId, resourceGroupName: w.resourceGroupName, location: w.location, after: w.hubOperations },
        opts,
      )
    : undefined;
  if (p.eventGrid) {
    new HubEventGrid(
      `${name}-eventgrid`,
      {
        plan: p.eventGrid,
        hubId: w.hubId,
        resourceGroupName: w.resourceGroupName,
        location: w.location,
        after: w.deviceMigration ? [w.deviceMigration] : w.hubOperations,
        routeAfter: endpoints ? [endpoints] : [],
      },
      opts,
    );
  }
}
