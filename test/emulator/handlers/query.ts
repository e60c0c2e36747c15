/**
 * `POST /devices/query`: device and module twins filtered by the query, paged by `x-ms-max-item-count`
 * (service default 100) with an opaque `x-ms-continuation` token. The header is absent on the last
 * page: the Node SDK's Query loops while it is present, even when empty.
 */
import { hubError } from "../errors";
import { matches, parseQuery, project } from "../query-language";
import { ok, type Route } from "./context";

const DEFAULT_PAGE = 100;
const MAX_PAGE = 10_000;

function decodeToken(token: string, queryText: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as { o: number; q: string };
    if (typeof parsed.o !== "number" || parsed.q !== queryText) throw new Error("mismatch");
    return parsed.o;
  } catch {
    throw hubError("ArgumentInvalid", "The continuation token is not valid for this query");
  }
}

export const queryRoutes: Route[] = [
  {
    method: "POST",
    pattern: /^\/devices\/query$/,
    group: "query",
    throttle: () => ({ group: "query", cost: 1 }),
    rights: ["RegistryRead", "ServiceConnect"],
    handle: (ctx) => {
      const text = (ctx.body as { query?: unknown } | undefined)?.query;
      if (typeof text !== "string") throw hubError("ArgumentInvalid", "The body must be {\"query\": \"SELECT …\"}");
      const query = parseQuery(text);
      const source = query.from === "devices" ? ctx.hub.deviceTwins() : ctx.hub.moduleTwins();
      if (query.select.kind === "count") {
        let n = 0;
        for (const twin of source) if (matches(twin, query.where)) n += 1;
        return ok([{ [query.select.alias]: n }], 200, { "x-ms-item-type": "JSON" });
      }
      const sizeHeader = Number(ctx.headers["x-ms-max-item-count"] ?? DEFAULT_PAGE);
      const pageSize = Math.max(1, Math.min(MAX_PAGE, Number.isFinite(sizeHeader) && sizeHeader > 0 ? Math.floor(sizeHeader) : DEFAULT_PAGE));
      const tokenHeader = ctx.headers["x-ms-continuation"];
      const token = Array.isArray(tokenHeader) ? tokenHeader[0] : tokenHeader;
      const offset = token ? decodeToken(token, text) : 0;
      const page: Array<Record<string, unknown>> = [];
      let index = 0;
      let more = false;
      for (const twin of source) {
        if (!matches(twin, query.where)) continue;
        if (index++ < offset) continue;
        if (page.length === pageSize) {
          more = true;
          break;
        }
        page.push(project(twin, query.select));
      }
      const headers: Record<string, string> = { "x-ms-item-type": query.select.kind === "all" ? (query.from === "devices" ? "DeviceTwin" : "ModuleTwin") : "JSON" };
      if (more) headers["x-ms-continuation"] = Buffer.from(JSON.stringify({ o: offset + page.length, q: text })).toString("base64");
      return ok(page, 200, headers);
    },
  },
];
