/**
 * One classifier for the IoT Hub service's errors, wherever the engine or an operation branches on
 * one (not found, already exists, precondition failed, device quota, job slot taken, throttled).
 *
 * The service has answered in more than one body form, and clients meet all of them:
 *  - `{"Message":"ErrorCode:DeviceNotFound;Device x not registered","ExceptionMessage":"Tracking ID:…"}`:
 *    the form azure-iothub's parser reads (azure-iot-sdk-node common/transport/http `parseErrorBody`)
 *    and a user-reported 429 shows (Azure-Samples/Iot-Telemetry-Simulator#39);
 *  - `{"Message":"{\"errorCode\":404001,\"message\":…}","ExceptionMessage":""}`: JSON nested in JSON;
 *  - plain JSON `{"errorCode":404001,…}` (per-line import errors, importErrors.log), or a bare code;
 *  - the `iothub-errorcode` response header (a name).
 * Codes and names: learn.microsoft.com/azure/iot-hub/troubleshoot-error-codes and
 * azure-iot-sdk-csharp iothub/service/src/Exceptions/ErrorCode.cs. azure-iothub itself maps only by
 * HTTP status (rest_api_client.js translateError), which is not enough to tell a missing device
 * from a missing hub, or the device quota from a busy job slot (both 403).
 */

export type HubErrorKind =
  | "notFound"
  | "alreadyExists"
  | "preconditionFailed"
  /** 403002 IotHubQuotaExceeded: the hub's device (+module) quota. */
  | "deviceQuota"
  /** A job slot is taken: 403003 JobQuotaExceeded (import/export), 429004 for scheduled jobs. */
  | "jobQuota"
  | "throttled"
  | "suspended"
  | "unauthorized"
  | "forbidden"
  | "badRequest"
  | "other";

export interface HubErrorInfo {
  kind: HubErrorKind;
  /** HTTP status, when the error came from an HTTP response. */
  status?: number;
  /** The service's numeric code (`404001`) when it gave one. */
  code?: string;
  /** The service's error name (`DeviceNotFound`) when it gave one. */
  name?: string;
  /** The service's own message, one line (never a URL with a SAS: callers redact as usual). */
  message?: string;
  /** A wait the message text asks for ("Wait 10 seconds and try again"), in ms. */
  waitMs?: number;
}

/** Names whose numeric code differs in its first three digits from what the name suggests, or which need an exact kind. */
const NAMED: Record<string, HubErrorKind> = {
  IotHubQuotaExceeded: "deviceQuota",
  JobQuotaExceeded: "jobQuota",
  ThrottlingMaxActiveJobCountExceeded: "jobQuota",
  IotHubSuspended: "suspended",
  PreconditionFailed: "preconditionFailed",
  InvalidEtag: "preconditionFailed",
  DeviceAlreadyExists: "alreadyExists",
  ModuleAlreadyExistsOnDevice: "alreadyExists",
  ConfigurationAlreadyExists: "alreadyExists",
  GenericTooManyRequests: "throttled",
  IotHubUnauthorizedAccess: "unauthorized",
  IotHubUnauthorized: "unauthorized",
};

const NUMERIC: Record<string, HubErrorKind> = {
  "403002": "deviceQuota",
  "403003": "jobQuota",
  "429004": "jobQuota",
  "412002": "preconditionFailed",
  "409001": "alreadyExists",
  "409301": "alreadyExists",
};

/** The kind of a code alone: numeric (`404001`, 404001) or a name (`DeviceNotFound`). */
export function kindOfCode(code: string | number | undefined | null, status?: number, text = ""): HubErrorKind {
  const c = code === undefined || code === null ? "" : String(code).trim();
  if (/^\d{6}$/.test(c)) {
    if (NUMERIC[c]) return NUMERIC[c];
    // 403001: the docs call it IotHubSuspended; the SDK team's tests read it as "another job is
    // running" (service-behaviours.md §7). The text decides; a job mention is the busy slot.
    if (c === "403001") return /\bjob/i.test(text) ? "jobQuota" : "suspended";
    return kindOfStatus(Number(c.slice(0, 3)));
  }
  if (c) {
    const name = c.replace(/Error$/, "").replace(/Exception$/, "");
    if (NAMED[name]) return NAMED[name];
    if (/NotFound$/.test(name)) return "notFound";
    if (/AlreadyExists/.test(name)) return "alreadyExists";
    if (/^Throttl|TooManyRequests|ThrottlingLimitExceeded$|Throttled/.test(name)) return "throttled";
    if (/Unauthorized/.test(name)) return "unauthorized";
  }
  return status !== undefined ? kindOfStatus(status) : "other";
}

function kindOfStatus(status: number): HubErrorKind {
  switch (status) {
    case 400:
      return "badRequest";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "notFound";
    case 409:
      return "alreadyExists";
    case 412:
      return "preconditionFailed";
    case 429:
      return "throttled";
    default:
      return "other";
  }
}

function header(err: unknown, name: string): string | undefined {
  const h = (err as { response?: { headers?: Record<string, unknown> & { get?: (n: string) => unknown } } } | undefined)?.response?.headers;
  if (!h) return undefined;
  const v = typeof h.get === "function" ? h.get(name) : (h[name] ?? h[name.toLowerCase()]);
  return v === undefined || v === null ? undefined : String(v);
}

interface Found {
  code?: string;
  name?: string;
  message?: string;
}

/** Reads a body in any of the forms above (string, Buffer or already parsed), JSON nested in JSON included. */
export function parseErrorBody(body: unknown): Found {
  const out: Found = {};
  const visit = (v: unknown, depth: number): void => {
    if (depth > 8 || v === undefined || v === null) return;
    if (typeof v === "string" || Buffer.isBuffer(v)) {
      const s = (Buffer.isBuffer(v) ? v.toString("utf8") : v).trim();
      if (!s) return;
      if (s.startsWith("{")) {
        try {
          return visit(JSON.parse(s), depth + 1);
        } catch {
          // not JSON after all: read it as text below
        }
      }
      // "ErrorCode:DeviceNotFound;Device x not registered" (the name, then the message).
      const named = /ErrorCode\s*:\s*([A-Za-z]+)\s*;?\s*(.*)$/s.exec(s);
      if (named) {
        out.name ??= named[1];
        if (named[2]) out.message ??= named[2];
        return;
      }
      out.message ??= s;
      return;
    }
    if (typeof v !== "object" || Array.isArray(v)) return;
    const o = v as Record<string, unknown>;
    const get = (...keys: string[]) => {
      for (const k of keys) for (const key of Object.keys(o)) if (key.toLowerCase() === k) return o[key];
      return undefined;
    };
    const code = get("errorcode", "code");
    if (typeof code === "number" || (typeof code === "string" && /^\d{6}$/.test(code))) out.code ??= String(code);
    else if (typeof code === "string" && /^[A-Za-z]+$/.test(code)) out.name ??= code;
    // The inner message first (it is the nested JSON or the "ErrorCode:…" text), then the outer.
    visit(get("message"), depth + 1);
    const em = get("exceptionmessage");
    if (typeof em === "string" && !/^Tracking ID/i.test(em)) visit(em, depth + 1);
    const status = get("errorstatus");
    if (typeof status === "string") out.message ??= status;
  };
  visit(body, 0);
  return out;
}

/** "Wait 10 seconds and try again" / "retry after 2 minutes" → ms. */
export function waitHintMs(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /(?:wait|retry after|try again in|after)\s+(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)\b/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2].toLowerCase();
  return Math.round(unit.startsWith("ms") || unit.startsWith("milli") ? n : unit.startsWith("m") ? n * 60_000 : n * 1000);
}

/**
 * Classifies an error from the azure-iothub rest client (`response`, `responseBody`), a plain
 * object with `errorCode` (an importErrors.log line), a body string, or a bare code.
 */
export function classifyHubError(err: unknown): HubErrorInfo {
  if (typeof err === "number" || (typeof err === "string" && /^\s*\d{6}\s*$/.test(err))) {
    const code = String(err).trim();
    return { kind: kindOfCode(code), code };
  }
  const e = (err ?? {}) as { response?: { statusCode?: number }; statusCode?: number; responseBody?: unknown; name?: string; message?: unknown; errorCode?: unknown; errorStatus?: unknown };
  const status = e.response?.statusCode ?? (typeof e.statusCode === "number" ? e.statusCode : undefined);
  const found = typeof err === "string" ? parseErrorBody(err) : parseErrorBody(e.responseBody ?? (e.errorCode !== undefined ? { errorCode: e.errorCode, message: e.errorStatus } : undefined));
  if (!found.code && !found.name && typeof e.message === "string") {
    // The rest client puts the body's message in err.message; a body lost on the way may still be there.
    const fromMessage = parseErrorBody(e.message);
    found.code ??= fromMessage.code;
    found.name ??= fromMessage.name;
  }
  const headerName = header(err, "iothub-errorcode");
  if (headerName && !found.name && /^[A-Za-z]+$/.test(headerName)) found.name = headerName;
  else if (headerName && !found.code && /^\d{6}$/.test(headerName)) found.code = headerName;
  const text = `${found.message ?? ""} ${typeof e.message === "string" ? e.message : ""}`;
  // A numeric code is the most specific; a name next; the SDK's error class name; the status last.
  let kind: HubErrorKind = found.code ? kindOfCode(found.code, undefined, text) : "other";
  if (kind === "other" && found.name) kind = kindOfCode(found.name, undefined, text);
  // TooManyDevicesError is azure-iothub's name for every 403: it says nothing about which one.
  if (kind === "other" && e.name && e.name !== "Error" && e.name !== "TooManyDevicesError") kind = kindOfCode(e.name);
  if (kind === "other" && status !== undefined) kind = kindOfStatus(status);
  const info: HubErrorInfo = { kind };
  if (status !== undefined) info.status = status;
  if (found.code) info.code = found.code;
  if (found.name) info.name = found.name;
  if (found.message) info.message = found.message.split("\n")[0].slice(0, 500);
  const wait = waitHintMs(found.message ?? (typeof e.message === "string" ? e.message : undefined));
  if (wait !== undefined) info.waitMs = wait;
  return info;
}

/** Shorthand: is this error (or code) of that kind? */
export function isHubError(err: unknown, kind: HubErrorKind): boolean {
  return classifyHubError(err).kind === kind;
}

/** The engine's one message for a hub at its device quota, whether the job failed whole or line by line (403002). */
export function deviceQuotaMessage(hub: string): string {
  return `the ${hub} hub is at its device quota (403002 IotHubQuotaExceeded; the quota counts devices plus modules, an edge device with its $edgeAgent and $edgeHub is 3); add units or a tier, or copy fewer devices with filter`;
}
