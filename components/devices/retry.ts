/**
 * Retries for hub and storage calls. The azure-iothub Registry/rest client never retries (429,
 * 5xx and socket errors reach the caller), so this fills that gap: exponential backoff with full
 * jitter, honouring `Retry-After`, bounded by the caller's deadline.
 */
import { redact } from "../secrets";
import { classifyHubError } from "./hub-errors";

/** HTTP status of an error from the iothub rest client (`err.response`) or @azure/storage-blob (`statusCode`). */
export function errorStatus(err: unknown): number | undefined {
  const e = err as { response?: { statusCode?: number }; statusCode?: number } | undefined;
  return e?.response?.statusCode ?? e?.statusCode;
}

function header(err: unknown, name: string): string | undefined {
  const e = err as { response?: { headers?: Record<string, unknown> & { get?: (n: string) => unknown } } } | undefined;
  const h = e?.response?.headers;
  if (!h) return undefined;
  const v = typeof h.get === "function" ? h.get(name) : (h[name] ?? h[name.toLowerCase()]);
  return v === undefined || v === null ? undefined : String(v);
}

/**
 * The hub's error code (`403003`, `JobQuotaExceeded`, …) from the body in any form the service
 * uses, or the `iothub-errorcode` header (hub-errors.ts reads them all).
 */
export function hubErrorCode(err: unknown): string | undefined {
  const c = classifyHubError(err);
  return c.code ?? c.name;
}

/** Seconds or HTTP-date → milliseconds; undefined when absent or unparseable. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const v = header(err, "retry-after");
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

const socketCodes = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "ESOCKETTIMEDOUT", "ECONNABORTED", "UND_ERR_SOCKET", "REQUEST_SEND_ERROR"]);

/** 429, 5xx (but not 501/505) and socket-level failures are worth another try. */
export function isTransient(err: unknown): boolean {
  const status = errorStatus(err);
  if (status !== undefined) return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
  const code = (err as { code?: string } | undefined)?.code;
  if (code && socketCodes.has(code)) return true;
  const name = (err as { name?: string } | undefined)?.name;
  return name === "ThrottlingError" || name === "ServiceUnavailableError" || name === "InternalServerError" || name === "GatewayTimeoutError";
}

/** JobQuotaExceeded: another job holds the hub's job slot (403003, 403001 "another job is running", 429004 for scheduled jobs). */
export function isJobQuotaExceeded(err: unknown): boolean {
  return classifyHubError(err).kind === "jobQuota";
}

export interface RetryOptions {
  /** Attempts in total, including the first (default 8). */
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  /** Absolute epoch ms after which no retry is started. */
  deadline?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** What the call does, for the log line. */
  what: string;
  /** Extra predicate: retry this error too. */
  retryIf?: (err: unknown) => boolean;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  return reason instanceof Error ? reason : new Error("aborted");
}

/**
 * Delay before retry `attempt` (1-based): Retry-After when the server gave one, else the wait its
 * message asks for (a throttled registry call says "Wait 10 seconds and try again" in the body and
 * no source shows a Retry-After header: service-behaviours.md §9), else full jitter.
 */
export function backoffDelay(attempt: number, err: unknown, o: Pick<RetryOptions, "baseMs" | "maxMs" | "random">): number {
  const base = o.baseMs ?? 500;
  const max = o.maxMs ?? 30_000;
  const status = errorStatus(err);
  const server = retryAfterMs(err) ?? (status === 429 || status === 503 ? classifyHubError(err).waitMs : undefined);
  const exp = Math.min(max, base * 2 ** (attempt - 1));
  const jittered = Math.round(exp / 2 + (o.random ?? Math.random)() * (exp / 2));
  return server !== undefined ? Math.min(Math.max(server, jittered / 4), 5 * 60_000) : jittered;
}

export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const attempts = o.attempts ?? 8;
  const wait = o.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retryable = isTransient(err) || (o.retryIf?.(err) ?? false);
      if (!retryable || attempt >= attempts || o.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, err, o);
      if (o.deadline !== undefined && Date.now() + delay > o.deadline) throw err;
      o.log?.(redact(`devices: ${o.what} failed (${describeError(err)}), retry ${attempt}/${attempts - 1} in ${Math.round(delay)} ms`));
      await wait(delay, o.signal);
    }
  }
}

/** Short, secret-free description: status, hub error code, error name. Never the body or the URL. */
export function describeError(err: unknown): string {
  const status = errorStatus(err);
  const code = hubErrorCode(err) ?? (err as { code?: string } | undefined)?.code;
  const name = (err as { name?: string } | undefined)?.name ?? "Error";
  return [status !== undefined ? `HTTP ${status}` : undefined, code, name].filter(Boolean).join(" ");
}
