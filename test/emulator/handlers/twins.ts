/** Device and module twins: get, patch (merge, If-Match) and replace. */
import { cost1, ifMatch, ok, type Route } from "./context";

// Twin operations accept a service-connect or a registry policy (the service's twin endpoints do).
const READ = ["RegistryRead", "ServiceConnect"] as const;
const WRITE = ["RegistryWrite", "ServiceConnect"] as const;
const TWIN = /^\/twins\/([^/]+)$/;
const MODULE_TWIN = /^\/twins\/([^/]+)\/modules\/([^/]+)$/;

export const twinRoutes: Route[] = [
  { method: "GET", pattern: TWIN, group: "twins", throttle: cost1("twinRead"), rights: [...READ], handle: (ctx) => withEtag(ctx.hub.getTwin(ctx.params[0])) },
  {
    method: "PATCH",
    pattern: TWIN,
    group: "twins",
    throttle: cost1("twinUpdate"),
    rights: [...WRITE],
    handle: (ctx) => withEtag(ctx.hub.updateTwin(ctx.params[0], ctx.body, ifMatch(ctx), "patch")),
  },
  {
    method: "PUT",
    pattern: TWIN,
    group: "twins",
    throttle: cost1("twinUpdate"),
    rights: [...WRITE],
    handle: (ctx) => withEtag(ctx.hub.updateTwin(ctx.params[0], ctx.body, ifMatch(ctx), "replace")),
  },
  {
    method: "GET",
    pattern: MODULE_TWIN,
    group: "twins",
    throttle: cost1("twinRead"),
    rights: [...READ],
    handle: (ctx) => withEtag(ctx.hub.getModuleTwin(ctx.params[0], ctx.params[1])),
  },
  {
    method: "PATCH",
    pattern: MODULE_TWIN,
    group: "twins",
    throttle: cost1("twinUpdate"),
    rights: [...WRITE],
    handle: (ctx) => withEtag(ctx.hub.updateModuleTwin(ctx.params[0], ctx.params[1], ctx.body, ifMatch(ctx), "patch")),
  },
  {
    method: "PUT",
    pattern: MODULE_TWIN,
    group: "twins",
    throttle: cost1("twinUpdate"),
    rights: [...WRITE],
    handle: (ctx) => withEtag(ctx.hub.updateModuleTwin(ctx.params[0], ctx.params[1], ctx.body, ifMatch(ctx), "replace")),
  },
];

function withEtag(twin: Record<string, unknown>) {
  return ok(twin, 200, { etag: `"${String(twin.etag)}"` });
}
