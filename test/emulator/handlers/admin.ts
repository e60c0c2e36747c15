/**
 * Admin API (not part of IoT Hub): create hubs and set their behaviour (SKU, units, job speed,
 * throttles, faults, quota). Reached at `https://localhost:<port>/$admin/...` with header
 * `x-emulator-admin-key: <key from <stateDir>/admin-key>`.
 */
import type { IncomingHttpHeaders } from "http";
import * as crypto from "crypto";
import type { Emulator } from "../emulator";
import type { Hub, HubOptions } from "../hub";
import type { HandlerResult } from "./context";

export const ADMIN_PREFIX = "/$admin";
export const ADMIN_KEY_HEADER = "x-emulator-admin-key";

export function hubInfo(hub: Hub): Record<string, unknown> {
  return {
    name: hub.name,
    hostName: hub.meta.hostName,
    connectionString: hub.connectionString("iothubowner"),
    connectionStrings: Object.fromEntries(hub.meta.policies.map((p) => [p.keyName, hub.connectionString(p.keyName)])),
    options: hub.meta.options,
    counts: { ...hub.counters },
  };
}

const OPTION_KEYS: Array<keyof HubOptions> = [
  "sku",
  "units",
  "jobDevicesPerSecond",
  "throttling",
  "throttleOverrides",
  "faults",
  "jobFailAtProgress",
  "deviceQuota",
  "profile",
  "timeScale",
  "consistencyLagMs",
  "exportWarningLine",
  "blankJobUris",
  "jobBlobNamesOnRead",
  "errorFormat",
  "jobDeviceOpsPerSecond",
  "storageRoleReadyAt",
];

function options(body: unknown): HubOptions {
  const src = (body && typeof body === "object" ? (body as Record<string, unknown>) : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of OPTION_KEYS) if (k in src) out[k] = src[k];
  return out as HubOptions;
}

export function handleAdmin(emulator: Emulator, method: string, path: string, headers: IncomingHttpHeaders, body: unknown): HandlerResult {
  const rest = path.slice(ADMIN_PREFIX.length);
  if (method === "GET" && rest === "/ping") return { status: 200, body: { ok: true } };
  const given = String(headers[ADMIN_KEY_HEADER] ?? "");
  const a = Buffer.from(given);
  const b = Buffer.from(emulator.adminKey);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) return { status: 401, body: { error: `admin API needs header ${ADMIN_KEY_HEADER}` } };
  try {
    if (rest === "/hubs" && method === "GET") return { status: 200, body: [...emulator.hubs.values()].map(hubInfo) };
    if (rest === "/hubs" && method === "POST") {
      const name = String((body as { name?: unknown } | undefined)?.name ?? "");
      const opts = options((body as { options?: unknown } | undefined)?.options ?? body);
      return { status: 201, body: hubInfo(emulator.createHub(name, opts)) };
    }
    const reported = /^\/hubs\/([^/]+)\/devices\/([^/]+)(?:\/modules\/([^/]+))?\/reported$/.exec(rest);
    if (reported && method === "PATCH") {
      const hub = emulator.hub(decodeURIComponent(reported[1]));
      if (!hub) return { status: 404, body: { error: `hub '${decodeURIComponent(reported[1])}' does not exist` } };
      const twin = hub.reportProperties(decodeURIComponent(reported[2]), reported[3] ? decodeURIComponent(reported[3]) : undefined, body);
      emulator.store.flush();
      return { status: 200, body: twin };
    }
    const m = /^\/hubs\/([^/]+)$/.exec(rest);
    if (m) {
      const name = decodeURIComponent(m[1]);
      const hub = emulator.hub(name);
      if (!hub) return { status: 404, body: { error: `hub '${name}' does not exist` } };
      if (method === "GET") return { status: 200, body: hubInfo(hub) };
      if (method === "PATCH") return { status: 200, body: hubInfo(emulator.configureHub(name, options(body))) };
      if (method === "DELETE") {
        emulator.deleteHub(name);
        return { status: 204 };
      }
    }
    return { status: 404, body: { error: `no admin route ${method} ${path}` } };
  } catch (err) {
    const status = (err as { status?: number }).status;
    return { status: typeof status === "number" ? status : 400, body: { error: (err as Error).message } };
  }
}
