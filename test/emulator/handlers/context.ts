import type { IncomingHttpHeaders } from "http";
import type { Right } from "../auth";
import type { Emulator } from "../emulator";
import type { Hub, OperationGroup, ThrottleGroup } from "../hub";

export interface RequestContext {
  method: string;
  /** Decoded path parameters captured by the route pattern. */
  params: string[];
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: unknown;
  hub: Hub;
  emulator: Emulator;
}

export interface HandlerResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: string;
  pattern: RegExp;
  /** Operation group for fault injection. */
  group: OperationGroup;
  /** Throttle group and the call's cost (bulk calls count each device). */
  throttle: (ctx: RequestContext) => { group: ThrottleGroup; cost: number };
  /** The caller's policy needs at least one of these rights. */
  rights: Right[];
  handle(ctx: RequestContext): HandlerResult | Promise<HandlerResult>;
}

export const ifMatch = (ctx: RequestContext): string | undefined => {
  const v = ctx.headers["if-match"];
  return Array.isArray(v) ? v[0] : v;
};

export const ok = (body: unknown, status = 200, headers?: Record<string, string>): HandlerResult => ({ status, body, headers });

export const cost1 =
  (group: ThrottleGroup) =>
  (): { group: ThrottleGroup; cost: number } => ({ group, cost: 1 });
