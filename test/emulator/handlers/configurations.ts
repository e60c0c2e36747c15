/** Configurations (automatic device management and IoT Edge deployments, layered or not). */
import { cost1, ifMatch, ok, type Route } from "./context";

const CONFIG = /^\/configurations\/([^/]+)$/;

export const configurationRoutes: Route[] = [
  {
    method: "GET",
    pattern: /^\/configurations\/?$/,
    group: "configurations",
    throttle: cost1("configurations"),
    rights: ["RegistryRead"],
    handle: (ctx) => {
      const top = Number(ctx.query.get("top") ?? 20);
      return ok([...ctx.hub.configurations.values()].slice(0, Number.isFinite(top) && top > 0 ? top : 20));
    },
  },
  { method: "GET", pattern: CONFIG, group: "configurations", throttle: cost1("configurations"), rights: ["RegistryRead"], handle: (ctx) => ok(ctx.hub.getConfiguration(ctx.params[0])) },
  {
    method: "PUT",
    pattern: CONFIG,
    group: "configurations",
    throttle: cost1("configurations"),
    rights: ["RegistryWrite"],
    handle: (ctx) => ok(ctx.hub.putConfiguration(ctx.params[0], ctx.body, ifMatch(ctx))),
  },
  {
    method: "DELETE",
    pattern: CONFIG,
    group: "configurations",
    throttle: cost1("configurations"),
    rights: ["RegistryWrite"],
    handle: (ctx) => {
      ctx.hub.deleteConfiguration(ctx.params[0], ifMatch(ctx));
      return { status: 204 };
    },
  },
];
