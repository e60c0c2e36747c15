/** Import/export jobs (`/jobs`) and scheduled device jobs (`/jobs/v2`). */
import { cost1, ok, type Route } from "./context";

const V2 = /^\/jobs\/v2\/([^/]+)$/;

export const jobRoutes: Route[] = [
  {
    method: "GET",
    pattern: /^\/jobs\/v2\/query$/,
    group: "jobs",
    throttle: cost1("jobs"),
    rights: ["ServiceConnect", "RegistryRead"],
    handle: (ctx) => {
      // Small lists: one page, so no continuation header (the SDK stops when it is absent).
      return ok(ctx.emulator.scheduledJobs.list(ctx.hub, ctx.query.get("jobType"), ctx.query.get("jobStatus")));
    },
  },
  {
    method: "PUT",
    pattern: V2,
    group: "jobs",
    throttle: cost1("jobs"),
    rights: ["ServiceConnect"],
    handle: (ctx) => ok(ctx.emulator.scheduledJobs.create(ctx.hub, ctx.params[0], ctx.body)),
  },
  { method: "GET", pattern: V2, group: "jobs", throttle: cost1("jobs"), rights: ["ServiceConnect", "RegistryRead"], handle: (ctx) => ok(ctx.emulator.scheduledJobs.get(ctx.hub, ctx.params[0])) },
  {
    method: "POST",
    pattern: /^\/jobs\/v2\/([^/]+)\/cancel$/,
    group: "jobs",
    throttle: cost1("jobs"),
    rights: ["ServiceConnect"],
    handle: (ctx) => ok(ctx.emulator.scheduledJobs.cancel(ctx.hub, ctx.params[0])),
  },
  {
    method: "POST",
    pattern: /^\/jobs\/create$/,
    group: "jobs",
    throttle: cost1("jobs"),
    rights: ["RegistryWrite"],
    handle: async (ctx) => ok(await ctx.emulator.jobs.create(ctx.hub, ctx.body)),
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
