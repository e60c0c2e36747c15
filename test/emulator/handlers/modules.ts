/** Module identities on a device. The edge system modules are created by the hub and cannot be changed. */
import { hubError } from "../errors";
import { cost1, ifMatch, ok, type Route } from "./context";

const MODULE = /^\/devices\/([^/]+)\/modules\/([^/]+)$/;

export const moduleRoutes: Route[] = [
  {
    method: "GET",
    pattern: /^\/devices\/([^/]+)\/modules\/?$/,
    group: "modules",
    throttle: cost1("registry"),
    rights: ["RegistryRead"],
    handle: (ctx) => ok(ctx.hub.listModules(ctx.params[0])),
  },
  {
    method: "GET",
    pattern: MODULE,
    group: "modules",
    throttle: cost1("registry"),
    rights: ["RegistryRead"],
    handle: (ctx) => ok(ctx.hub.getModule(ctx.params[0], ctx.params[1])),
  },
  {
    method: "PUT",
    pattern: MODULE,
    group: "modules",
    throttle: cost1("registry"),
    rights: ["RegistryWrite"],
    handle: (ctx) => {
      const body = (ctx.body ?? {}) as Record<string, unknown>;
      if (typeof body !== "object" || Array.isArray(body)) throw hubError("ArgumentInvalid", "The module must be a JSON object");
      return ok(ctx.hub.putModule(ctx.params[0], ctx.params[1], body, ifMatch(ctx)));
    },
  },
  {
    method: "DELETE",
    pattern: MODULE,
    group: "modules",
    throttle: cost1("registry"),
    rights: ["RegistryWrite"],
    handle: (ctx) => {
      ctx.hub.deleteModule(ctx.params[0], ctx.params[1], ifMatch(ctx));
      return { status: 204 };
    },
  },
];
