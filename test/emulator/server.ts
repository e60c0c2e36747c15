/**
 * The HTTP layer, kept thin: TLS, Host-header hub routing, SAS auth, faults and throttles, then the
 * handler for the operation group; errors become the service's error responses. One log line per
 * failed request.
 */
import * as https from "https";
import type { IncomingMessage, ServerResponse } from "http";
import type { AddressInfo } from "net";
import { authorize } from "./auth";
import type { Emulator } from "./emulator";
import { errorResponse, HubError, hubError } from "./errors";
import type { TlsMaterial } from "./tls";
import type { Route, HandlerResult } from "./handlers/context";
import { registryRoutes } from "./handlers/registry";
import { twinRoutes } from "./handlers/twins";
import { moduleRoutes } from "./handlers/modules";
import { configurationRoutes } from "./handlers/configurations";
import { jobRoutes } from "./handlers/jobs";
import { queryRoutes } from "./handlers/query";
import { ADMIN_PREFIX, handleAdmin } from "./handlers/admin";

const ROUTES: Route[] = [...queryRoutes, ...registryRoutes, ...moduleRoutes, ...twinRoutes, ...configurationRoutes, ...jobRoutes];
const MAX_BODY = 32 * 1024 * 1024;
const SHAPING_WINDOW_MS = 10_000;
const HUB_HOST = /^([A-Za-z0-9-]+)\.azure-devices\.net(?::\d+)?$/i;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(hubError("ArgumentInvalid", "Request body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, result: HandlerResult): void {
  const headers: Record<string, string> = { ...(result.headers ?? {}) };
  let text = "";
  if (result.body !== undefined) {
    text = typeof result.body === "string" ? result.body : JSON.stringify(result.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json; charset=utf-8";
  }
  headers["content-length"] = String(Buffer.byteLength(text));
  res.writeHead(result.status, headers);
  res.end(text);
}

export async function handleRequest(emulator: Emulator, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "https://localhost");
  const method = (req.method ?? "GET").toUpperCase();
  const path = url.pathname;
  const host = String(req.headers.host ?? "");
  let hubName = "-";
  let hubRef: import("./hub").Hub | undefined;
  try {
    const raw = await readBody(req);
    let body: unknown = undefined;
    if (raw.length) {
      try {
        body = JSON.parse(raw);
      } catch {
        throw hubError("IotHubFormatError", "The request body is not valid JSON");
      }
    }
    if (path.startsWith(ADMIN_PREFIX)) {
      const result = handleAdmin(emulator, method, path, req.headers, body);
      if (result.status >= 400) emulator.log(`[iothub-emulator] admin ${method} ${path} -> ${result.status}`);
      send(res, result);
      return;
    }
    const m = HUB_HOST.exec(host);
    const hub = m ? emulator.hub(m[1]) : undefined;
    if (!hub) throw new HubError("IotHubNotFound", `IotHub '${host}' does not exist on this emulator`, 404000, 404);
    hubName = hub.name;
    hubRef = hub;
    if (!url.searchParams.get("api-version")) throw hubError("ArgumentInvalid", "api-version is required");
    let route: Route | undefined;
    let params: string[] = [];
    let pathMatched = false;
    for (const r of ROUTES) {
      const pm = r.pattern.exec(path);
      if (!pm) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      route = r;
      try {
        params = pm.slice(1).map((p) => decodeURIComponent(p));
      } catch {
        throw hubError("ArgumentInvalid", `The path ${path} is not correctly percent-encoded`);
      }
      break;
    }
    if (!route) {
      throw new HubError(pathMatched ? "InvalidOperation" : "ArgumentInvalid", `${method} ${path} is not supported`, pathMatched ? 405000 : 404000, pathMatched ? 405 : 404);
    }
    const authHeader = req.headers.authorization;
    authorize(Array.isArray(authHeader) ? authHeader[0] : authHeader, hub.meta.hostName, hub.meta.policies, route.rights);
    const pacing = emulator.pacing.get(hub.name.toLowerCase())!;
    const ctx = { method, params, query: url.searchParams, headers: req.headers, body, hub, emulator };
    const delay = pacing.inject(route.group);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const t = route.throttle(ctx);
    try {
      pacing.throttle(t.group, t.cost);
    } catch (err) {
      // Strict: traffic shaping. The service first holds excess requests and answers 429 only when the
      // limit stays exceeded (quotas doc, "Traffic shaping"): a request whose allowance returns within the
      // shaping window (10 s real ÷ time scale) is delayed, then admitted; beyond it, 429 at once.
      const wait = (err as { retryAfter?: number }).retryAfter;
      if (!hub.rules.strict || wait === undefined || wait * 1000 > SHAPING_WINDOW_MS / hub.rules.timeScale) throw err;
      await new Promise((r) => setTimeout(r, wait * 1000));
      pacing.throttle(t.group, t.cost);
    }
    const result = await route.handle(ctx);
    emulator.store.flush();
    if (result.status >= 400) emulator.log(`[iothub-emulator] ${hubName} ${method} ${path} -> ${result.status}`);
    send(res, result);
  } catch (err) {
    emulator.store.flush();
    let e: HubError;
    if (err instanceof HubError) e = err;
    else {
      emulator.log(`[iothub-emulator] ${hubName} ${method} ${path} crashed: ${(err as Error)?.stack ?? String(err)}`);
      e = hubError("ServerError", "Internal server error");
    }
    const out = errorResponse(e, hubRef?.meta.options.errorFormat ?? "code-name");
    const retryAfter = (e as HubError & { retryAfter?: number }).retryAfter;
    // Strict: no Retry-After (no source shows one on registry 429s); the wait is in the message.
    if (retryAfter !== undefined && (hubRef?.rules.retryAfterHeader ?? true)) out.headers["retry-after"] = String(retryAfter);
    emulator.log(`[iothub-emulator] ${hubName} ${method} ${path} -> ${e.status} ${e.codeName} (${e.code}): ${e.message}`);
    if (!res.headersSent) send(res, { status: out.status, headers: out.headers, body: out.body });
  }
}

export interface RunningServer {
  server: https.Server;
  port: number;
  close(): Promise<void>;
}

export function startServer(emulator: Emulator, tls: TlsMaterial, port: number, host = "127.0.0.1"): Promise<RunningServer> {
  const server = https.createServer({ key: tls.key, cert: tls.cert, keepAliveTimeout: 30_000 }, (req, res) => {
    void handleRequest(emulator, req, res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const actual = (server.address() as AddressInfo).port;
      resolve({
        server,
        port: actual,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
