/**
 * The clone's Event Grid: its own system topic (source = the clone, in the clone's region) and a
 * copy of every subscription of the original, with destination, filters (advanced filters
 * included), labels, delivery schema, retry policy, dead-letter and delivery identity settings.
 *
 * The subscriptions are created after the device copy (`after`): the import raises a
 * DeviceCreated event per device, and the destinations are the original's subscribers. After
 * them, the original's `RouteToEventGrid` condition is restored (event-grid-route.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import type { EventGridPlan } from "./attachments-plan";
import { RouteToEventGridCondition } from "./event-grid-route";

export interface HubEventGridArgs {
  plan: EventGridPlan;
  hubId: pulumi.Input<string>;
  resourceGroupName: string;
  location: string;
  /** Resources the subscriptions wait for: the device copy (silent until cutover). */
  after: pulumi.Resource[];
  /** Resources the route restore waits for besides the subscriptions (other operations on the hub). */
  routeAfter?: pulumi.Resource[];
}

export class HubEventGrid extends pulumi.ComponentResource {
  readonly systemTopicName: pulumi.Output<string>;
  readonly subscriptions: eventgrid.SystemTopicEventSubscription[];

  constructor(name: string, args: HubEventGridArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iothub-clone:index:HubEventGrid", name, {}, opts);
    const p = args.plan;
    const topic = new eventgrid.SystemTopic(
      `${name}-topic`,
      {
        systemTopicName: p.systemTopicName,
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        source: args.hubId,
        // Event Grid's topic type for IoT hubs (az eventgrid system-topic create --topic-type).
        topicType: "Microsoft.Devices.IoTHubs",
        ...(Object.keys(p.tags).length ? { tags: p.tags } : {}),
        ...(p.identity ? { identity: p.identity as eventgrid.SystemTopicArgs["identity"] } : {}),
      },
      { parent: this },
    );
    // One after another: each telemetry subscription may change the hub's routes, and IoT Hub
    // answers 409 to concurrent operations on one hub.
    let previous: pulumi.Resource | undefined;
    this.subscriptions = p.subscriptions.map((s) => {
      const inputs: Record<string, unknown> = { ...s.inputs };
      if (s.webhookEndpointUrl) {
        const url = pulumi.secret(s.webhookEndpointUrl);
        if (inputs.deliveryWithResourceIdentity) {
          const d = inputs.deliveryWithResourceIdentity as Record<string, unknown>;
          inputs.deliveryWithResourceIdentity = pulumi.secret(url.apply((u) => ({ ...d, destination: { ...(d.destination as object), endpointUrl: u } })));
        } else {
          const destination = inputs.destination as object; // captured: the apply runs after the reassignment
          inputs.destination = pulumi.secret(url.apply((u) => ({ ...destination, endpointUrl: u })));
        }
      }
      const sub = new eventgrid.SystemTopicEventSubscription(
        `${name}-${s.name}`,
        {
          ...(inputs as Partial<eventgrid.SystemTopicEventSubscriptionArgs>),
          eventSubscriptionName: s.name,
          systemTopicName: topic.name,
          resourceGroupName: args.resourceGroupName,
        },
        { parent: this, dependsOn: [...args.after, ...(previous ? [previous] : [])] },
      );
      previous = sub;
      return sub;
    });
    if (p.route) {
      new RouteToEventGridCondition(
        `${name}-route`,
        { hubId: args.hubId, routeName: p.route.name, condition: p.route.condition, endpointNames: p.route.endpointNames, isEnabled: p.route.isEnabled },
        { parent: this, dependsOn: [...this.subscriptions, ...(args.routeAfter ?? [])] },
      );
    }
    this.systemTopicName = topic.name;
    this.registerOutputs({ systemTopicName: this.systemTopicName });
  }
}
