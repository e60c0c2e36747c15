/**
 * `POST /devices/query`: device and module twins filtered by the query, paged by `x-ms-max-item-count`
 * (service default 100) with an opaque `x-ms-continuation` token. The header is absent on the last
 * page: the Node SDK's Query loops while it is present, even when empty.
 */
import { randomUUID } from "crypto";
import { hubError } from "../errors";
import { matches, parseQuery, project } from "../query-language";
import { ok, type Route } from "./context";

const DEFAULT_PAGE = 100;
const MAX_PAGE = 10_000;
const CURSOR_IDLE_MS = 5 * 60_000;

/**
 * Open cursors: a full scan of a 1,000,000-device hub in pages would otherwise re-scan from the
 * start for every page. A token names a live iterator (Map iterators stay valid while the registry
 * changes); when it is gone (idle, or the emulator restarted) the token's offset re-scans.
 */
interface Cursor {
  iterator: Iterator<Record<string, unknown>>;
  /** The look-ahead item read to learn that more results exist; first of the next page. */
  pending?: Record<string, unknown>;
  offset: number;
  touched: number;
}
const cursors = new Map<string, Cursor>();

function sweep(now: number): void {
  for (const [id, c] of cursors) if (now - c.touched > CURSOR_IDLE_MS) cursors.delete(id);
}

function decodeToken(token: string, queryText: string, hub: string): { offset: number; cursor?: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as { o: number; q: string; c?: string; h?: string };
    if (typeof parsed.o !== "number" || parsed.q !== queryText || (parsed.h !== undefined && parsed.h !== hub)) throw new Error("mismatch");
    return { offset: parsed.o, cursor: parsed.c };
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
      const source = query.from === "devices" ? ctx.hub.queryDeviceTwins() : ctx.hub.queryModuleTwins();
      if (query.select.kind === "count") {
        let n = 0;
        for (const twin of source) if (matches(twin, query.where)) n += 1;
        return ok([{ [query.select.alias]: n }], 200, { "x-ms-item-type": "JSON" });
      }
      const sizeHeader = Number(ctx.headers["x-ms-max-item-count"] ?? DEFAULT_PAGE);
      const pageSize = Math.max(1, Math.min(MAX_PAGE, Number.isFinite(sizeHeader) && sizeHeader > 0 ? Math.floor(sizeHeader) : DEFAULT_PAGE));
      const tokenHeader = ctx.headers["x-ms-continuation"];
      const token = Array.isArray(tokenHeader) ? tokenHeader[0] : tokenHeader;
      const position = token ? decodeToken(token, text, ctx.hub.name) : { offset: 0 };
      const now = Date.now();
      sweep(now);
      let cursor = position.cursor ? cursors.get(position.cursor) : undefined;
      if (position.cursor) cursors.delete(position.cursor);
      if (!cursor || cursor.offset !== position.offset) {
        // No live cursor: start a filtered scan and skip to the token's offset.
        const where = query.where;
        const filtered = (function* () {
          for (const twin of source) if (matches(twin, where)) yield twin;
        })();
        for (let skipped = 0; skipped < position.offset; skipped++) if (filtered.next().done) break;
        cursor = { iterator: filtered, offset: position.offset, touched: now };
      }
      const page: Array<Record<string, unknown>> = [];
      if (cursor.pending) page.push(project(cursor.pending, query.select));
      while (page.length < pageSize) {
        const next = cursor.iterator.next();
        if (next.done) break;
        page.push(project(next.value, query.select));
      }
      const lookahead = page.length === pageSize ? cursor.iterator.next() : undefined;
      const headers: Record<string, string> = { "x-ms-item-type": query.select.kind === "all" ? (query.from === "devices" ? "DeviceTwin" : "ModuleTwin") : "JSON" };
      if (lookahead && !lookahead.done) {
        const id = randomUUID();
        const offset = cursor.offset + page.length;
        cursors.set(id, { iterator: cursor.iterator, pending: lookahead.value, offset, touched: now });
        headers["x-ms-continuation"] = Buffer.from(JSON.stringify({ o: offset, q: text, h: ctx.hub.name, c: id })).toString("base64");
      }
      return ok(page, 200, headers);
    },
  },
];
