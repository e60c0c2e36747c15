/**
 * Private endpoints for the clone: one per private endpoint of the original, in the subnet given
 * in config (the clone's region), same group id, with DNS zone groups in the same private DNS
 * zones (private DNS zones are global resources) or the zones given in config.
 */
import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import type { PrivateEndpointPlan } from "./attachments-plan";

export interface HubPrivateEndpointsArgs {
  endpoints: PrivateEndpointPlan[];
  hubId: pulumi.Input<string>;
  resourceGroupName: string;
  location: string;
  /** Other operations on the hub to finish first (IoT Hub answers 409 to concurrent ones). */
  after: pulumi.Resource[];
}

export class HubPrivateEndpoints extends pulumi.ComponentResource {
  readonly endpoints: network.PrivateEndpoint[];

  constructor(name: string, args: HubPrivateEndpointsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iothub-clone:index:HubPrivateEndpoints", name, {}, opts);
    let previous: pulumi.Resource | undefined;
    this.endpoints = args.endpoints.map((e) => {
      const connection = {
        name: e.connection.name,
        privateLinkServiceId: args.hubId,
        groupIds: e.connection.groupIds,
        ...(e.connection.requestMessage ? { requestMessage: e.connection.requestMessage } : {}),
      };
      const pe = new network.PrivateEndpoint(
        `${name}-${e.name}`,
        {
          privateEndpointName: e.name,
          resourceGroupName: args.resourceGroupName,
          location: args.location,
          subnet: { id: e.subnetId },
          ...(e.connection.manual ? { manualPrivateLinkServiceConnections: [connection] } : { privateLinkServiceConnections: [connection] }),
          ...(Object.keys(e.tags).length ? { tags: e.tags } : {}),
        },
        { parent: this, dependsOn: [...args.after, ...(previous ? [previous] : [])] },
      );
      previous = pe;
      for (const g of e.dnsZoneGroups) {
        new network.PrivateDnsZoneGroup(
          `${name}-${e.name}-${g.name}`,
          { privateDnsZoneGroupName: g.name, privateEndpointName: pe.name, resourceGroupName: args.resourceGroupName, privateDnsZoneConfigs: g.privateDnsZoneConfigs },
          { parent: this },
        );
      }
      return pe;
    });
    this.registerOutputs({});
  }
}
