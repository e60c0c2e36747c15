/**
 * The clone's `RouteToEventGrid`, kept stable across runs (design and evidence: docs/clone.md,
 * "Event Grid and RouteToEventGrid"; shared/reference/service-behaviours.md §12):
 *
 * 1. First `pulumi up`: the clone does not exist, so `cloneHasRoute` is false and the hub is
 *    created without the route (a create that carries it fails with 400126). The subscriptions
 *    are created after the device copy; Event Grid adds the route; `RouteToEventGridCondition`
 *    (this dynamic resource, after the subscriptions) sets the original's condition on it.
 * 2. Later runs: `cloneHasRoute` is true, so the hub's desired routes include the route with the
 *    original's condition: an update of the hub keeps it (an update without it fails with 400126),
 *    and the desired state matches what Azure has, so nothing is removed.
 *
 * Serialization as for DeviceMigration (components/devices/device-migration.ts): the provider
 * object captures one relative directory and requires `event-grid-route-impl` at call time.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as iothub from "@pulumi/azure-native/iothub";
import type { ClonePlan } from "./types";

/** Does the clone already exist with the named route? (An ARM GET through azure-native; absent = false.) */
export async function cloneHasRoute(
  args: { resourceGroupName: string; resourceName: string; routeName: string },
  opts: pulumi.InvokeOptions,
): Promise<boolean> {
  try {
    const hub = await iothub.getIotHubResource({ resourceGroupName: args.resourceGroupName, resourceName: args.resourceName }, opts);
    return (hub.properties?.routing?.routes ?? []).some((r) => r.name.toLowerCase() === args.routeName.toLowerCase());
  } catch (e) {
    // The clone's first run: ARM answers 404 ResourceNotFound. Anything else is a real failure.
    if (/ResourceNotFound|NotFound|\b404\b|could not be found|does not exist/i.test(String((e as Error)?.message ?? e))) return false;
    throw e;
  }
}

function loadImpl(implDir: string): typeof import("./event-grid-route-impl") {
  const nodePath = require("path") as typeof import("path");
  const fs = require("fs") as typeof import("fs");
  const dir = nodePath.resolve(process.cwd(), implDir);
  const compiled = nodePath.join(dir, "event-grid-route-impl.js");
  if (fs.existsSync(compiled)) return require(compiled);
  const g = globalThis as { __hubcloneTsNode?: boolean };
  if (!g.__hubcloneTsNode && !(require as NodeRequire).extensions[".ts"]) {
    require("ts-node").register({ transpileOnly: true, compilerOptions: { module: "commonjs" } });
    g.__hubcloneTsNode = true;
  }
  return require(nodePath.join(dir, "event-grid-route-impl.ts"));
}

function makeProvider(implDir: string): pulumi.dynamic.ResourceProvider {
  return {
    async create(inputs: any) {
      return loadImpl(implDir).create(inputs);
    },
    async diff(id: string, olds: any, news: any) {
      return loadImpl(implDir).diff(id, olds, news);
    },
    async update(id: string, olds: any, news: any) {
      return loadImpl(implDir).update(id, olds, news);
    },
    async delete() {
      // The route belongs to Event Grid: it goes with the clone's last telemetry subscription.
    },
  };
}

export interface RouteToEventGridConditionArgs {
  hubId: pulumi.Input<string>;
  routeName: pulumi.Input<string>;
  condition: pulumi.Input<string>;
  endpointNames: pulumi.Input<pulumi.Input<string>[]>;
  isEnabled: pulumi.Input<boolean>;
  /** How long to wait for Event Grid to add the route. Default 10. */
  timeoutMinutes?: pulumi.Input<number>;
}

export class RouteToEventGridCondition extends pulumi.dynamic.Resource {
  declare readonly written: pulumi.Output<boolean>;
  constructor(name: string, args: RouteToEventGridConditionArgs, opts?: pulumi.CustomResourceOptions) {
    const implDir = path.relative(process.cwd(), __dirname) || ".";
    super(makeProvider(implDir), name, { ...args, written: undefined }, opts, "hubclone", "RouteToEventGridCondition");
  }
}

/**
 * The route to keep once the clone has it: the planned restore, else the original's route as the
 * transform kept it aside. The second matters when the clone's subscriptions are being removed
 * (attachments.eventGrid.enabled: false): Pulumi updates the hub before it deletes them, and that
 * update must still carry the route (400126).
 */
export function routeToKeep(plan: ClonePlan): { name: string; source: string; condition: string; endpointNames: string[]; isEnabled: boolean } | undefined {
  if (plan.attachments?.eventGrid?.route) return plan.attachments.eventGrid.route;
  const r = plan.eventGridRoute?.route;
  return r ? { name: r.name, source: r.source ?? "DeviceMessages", condition: r.condition ?? "true", endpointNames: r.endpointNames, isEnabled: r.isEnabled ?? true } : undefined;
}

/**
 * The hub's routing input with `RouteToEventGrid` handled: never in a create, and, once the clone
 * has it (Event Grid added it on an earlier run), always in the desired routes with the original's
 * condition, so an update of the hub neither removes it nor fails with 400126.
 */
export function routingWithEventGridRoute(
  routing: Record<string, unknown>,
  route: { name: string; source: string; condition: string; endpointNames: string[]; isEnabled: boolean } | undefined,
  clone: { resourceGroupName: string; resourceName: string },
  opts: pulumi.InvokeOptions,
): Record<string, unknown> {
  const routes = ((routing.routes as Array<{ name: string }> | undefined) ?? []).filter((r) => r.name.toLowerCase() !== "routetoeventgrid");
  if (!route) return { ...routing, routes };
  const present = pulumi.output(cloneHasRoute({ ...clone, routeName: route.name }, opts));
  return { ...routing, routes: present.apply((has) => (has ? [...routes, { ...route }] : routes)) };
}
