/** Import/export jobs (`/jobs`) and scheduled device jobs (`/jobs/v2`). */
import { cost1, ok, type Route } from "./context";

export const jobRoutes: Route[] = [
  {
    method: "POST",
    pattern: /^\/jobs\/create$/,
    group: "jobs",
    throttle: cost1("jobs"),
    rights: ["RegistryWrite"],
    handle: (ctx) => ok(ctx.emulator.jobs.create(ctx.hub, ctx.body)),
  },
  { method: "GET", pattern: /^\/jobs\/?$/, group: "jobs", throttle: cost1("jobs"), rights: ["RegistryRead"], handle: (ctx) => ok(ctx.emulator.jobs.list(ctx.hub)) },
  {
    method: "GET",
    pattern: /^\/jobs\/([^/]+)$/,
    group: "jobs",
    throttle: cost1("jobs"),
    rights: ["RegistryRead"],
    handle: (ctx) => ok(ctx.emulator.jobs.get(ctx.hub, ctx.params[0])),
  },
  {
    method: "DELETE",
    pattern: /^\/jobs\/([^/]+)$/,
    group: "jobs",
    throttle: cost1("jobs"),
    rights: ["RegistryWrite"],
    handle: (ctx) => ok(ctx.emulator.jobs.cancel(ctx.hub, ctx.params[0])),
  },
];
