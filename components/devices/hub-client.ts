/**
 * One hub's data plane for the engine: the azure-iothub Registry's own REST client (so SAS signing,
 * Entra ID tokens and the local-hub agent all work as in the SDK) plus the import/export job calls
 * the SDK does not expose (blob names, includeConfigurations). Every call is retried (the SDK
 * never retries) and every failure the user can fix becomes one UserError naming the field.
 */
import { unknownPolicyMessage, unknownPolicyName } from "./auth-message";
import { UserError } from "../errors";
import { useLocalHub } from "./local-hub";
import { redact } from "../secrets";
import { classifyHubError } from "./hub-errors";
import { describeError, errorStatus, isJobQuotaExceeded, withRetry } from "./retry";
import type { HubConnection, LocalEndpoints } from "./types";

const API = "?api-version=2021-04-12";

export interface JobProperties {
  jobId: string;
  type: string;
  status: string;
  progress?: number;
  failureReason?: string;
  inputBlobName?: string;
  outputBlobName?: string;
  startTimeUtc?: string;
  endTimeUtc?: string;
  [k: string]: unknown;
}

interface RestClient {
  executeApiCall(method: string, path: string, headers: Record<string, string> | null, body: unknown, done: (err: Error | null, result?: unknown, response?: { statusCode?: number; headers?: Record<string, string> }) => void): void;
}

export class HubClient {
  private constructor(
    readonly hostName: string,
    private readonly rest: RestClient,
    /** `source` or `clone`: the option path used in error messages. */
    readonly field: string,
    private readonly log?: (l: string) => void,
    private readonly signal?: AbortSignal,
  ) {}

  static open(conn: HubConnection | undefined, field: string, local?: LocalEndpoints, log?: (l: string) => void, signal?: AbortSignal): HubClient {
    const { Registry } = require("azure-iothub") as typeof import("azure-iothub");
    let registry: InstanceType<typeof Registry>;
    let hostName: string;
    if (conn?.connectionString) {
      const cs = conn.connectionString;
      const parts = Object.fromEntries(cs.split(";").filter(Boolean).map((kv) => { const i = kv.indexOf("="); return [kv.slice(0, i).trim().toLowerCase(), kv.slice(i + 1)]; }));
      if (!parts.hostname || !parts.sharedaccesskeyname || !parts.sharedaccesskey) {
        throw new UserError("is not an IoT hub connection string (it needs HostName, SharedAccessKeyName and SharedAccessKey); copy it from the hub's shared access policies", `${field}.connectionString`);
      }
      if (parts.deviceid) throw new UserError("is a device connection string; use a hub policy's (iothubowner or registryReadWrite)", `${field}.connectionString`);
      hostName = parts.hostname;
      registry = Registry.fromConnectionString(cs);
    } else if (conn?.hostName) {
      if (!/^[A-Za-z0-9-]{3,50}\.[A-Za-z0-9.-]+$/.test(conn.hostName)) throw new UserError("must be the hub's host name, e.g. myhub.azure-devices.net", `${field}.hostName`);
      const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
      hostName = conn.hostName;
      registry = Registry.fromTokenCredential(conn.hostName, conn.credential ?? new DefaultAzureCredential());
    } else {
      throw new UserError("give either connectionString (secret) or hostName (Entra ID)", field);
    }
    if (local) {
      // The local hub helper installs the agent (host → 127.0.0.1:port) and the emulator's CA.
      useLocalHub(registry, local);
    }
    const rest = (registry as unknown as { _restApiClient: RestClient })._restApiClient;
    return new HubClient(hostName, rest, field, log, signal);
  }

  /** One REST call with retries; the body comes back parsed. */
  async call<T>(method: string, path: string, body?: unknown, what = `${method} ${path}`, retryIf?: (e: unknown) => boolean): Promise<T> {
    const headers = body === undefined ? null : { "Content-Type": "application/json; charset=utf-8" };
    const once = () =>
      new Promise<T>((resolve, reject) => {
        this.rest.executeApiCall(method, path + API, headers, body === undefined ? null : body, (err, result) => (err ? reject(err) : resolve(result as T)));
      });
    try {
      return await withRetry(once, { what: `${this.field} hub: ${what}`, log: this.log, signal: this.signal, retryIf });
    } catch (err) {
      throw this.userError(err, what);
    }
  }

  /** Auth and quota failures the user can act on → UserError; anything else keeps its type, redacted. */
  userError(err: unknown, what: string): Error {
    if (err instanceof UserError) return err;
    const status = errorStatus(err);
    const c = classifyHubError(err);
    const code = c.code ?? c.name;
    const f = `${this.field}.connectionString`;
    const policy = status === 401 ? unknownPolicyName(err) : undefined;
    if (policy) return new UserError(unknownPolicyMessage(this.hostName, policy), f);
    if (status === 401) return new UserError(`the hub ${this.hostName} rejected the credentials while trying to ${what} (401 Unauthorized); copy the policy's current connection string (keys may have been rotated) or check the identity's IoT Hub Data Contributor role`, f);
    if (c.kind === "deviceQuota") return new UserError(`the hub ${this.hostName} is at its device quota (403002 IotHubQuotaExceeded); add units or a tier, or copy fewer devices with filter`, this.field);
    if (status === 403 && c.kind !== "jobQuota") return new UserError(`the policy cannot ${what} on ${this.hostName} (403 ${code ?? "Forbidden"}); use a policy with registry write rights (iothubowner or registryReadWrite)`, f);
    const syscall = (err as { code?: string }).code;
    if (syscall === "ENOTFOUND" || syscall === "EAI_AGAIN") return new UserError(`the host ${this.hostName} cannot be resolved (${syscall}); check HostName in the connection string`, f);
    if (err instanceof Error) {
      const e = new Error(redact(`${this.field} hub ${this.hostName}: ${what} failed: ${describeError(err)}: ${err.message}`));
      (e as unknown as Record<string, unknown>).response = (err as unknown as Record<string, unknown>).response;
      (e as unknown as Record<string, unknown>).responseBody = (err as unknown as Record<string, unknown>).responseBody;
      e.name = err.name;
      return e;
    }
    return new Error(redact(String(err)));
  }

  /** `POST /jobs/create`. JobQuotaExceeded is left to the caller (it waits for the active job). */
  async createJob(body: Record<string, unknown>): Promise<JobProperties> {
    const headers = { "Content-Type": "application/json; charset=utf-8" };
    const once = () =>
      new Promise<JobProperties>((resolve, reject) => {
        this.rest.executeApiCall("POST", "/jobs/create" + API, headers, body, (err, result) => (err ? reject(err) : resolve(result as JobProperties)));
      });
    try {
      return await withRetry(once, { what: `${this.field} hub: create ${String(body.type)} job`, log: this.log, signal: this.signal });
    } catch (err) {
      if (isJobQuotaExceeded(err)) throw err;
      throw this.userError(err, `create an ${String(body.type)} job`);
    }
  }

  getJob(jobId: string): Promise<JobProperties> {
    return this.call<JobProperties>("GET", `/jobs/${encodeURIComponent(jobId)}`, undefined, "read job status");
  }

  listJobs(): Promise<JobProperties[]> {
    return this.call<JobProperties[]>("GET", "/jobs", undefined, "list jobs");
  }

  cancelJob(jobId: string): Promise<unknown> {
    return this.call("DELETE", `/jobs/${encodeURIComponent(jobId)}`, undefined, "cancel job");
  }

  /** `POST /devices/query`, every page (x-ms-continuation), with retries per page. */
  async query<T>(sql: string, what = "query devices"): Promise<T[]> {
    const out: T[] = [];
    let continuation: string | undefined;
    do {
      const headers: Record<string, string> = { "Content-Type": "application/json; charset=utf-8", "x-ms-max-item-count": "1000" };
      if (continuation) headers["x-ms-continuation"] = continuation;
      const page = await withRetry(
        () =>
          new Promise<{ rows: T[]; next?: string }>((resolve, reject) => {
            this.rest.executeApiCall("POST", "/devices/query" + API, headers, { query: sql }, (err, result, response) => {
              if (err) return reject(err);
              const h = response?.headers ?? {};
              const next = h["x-ms-continuation"] ?? (h as Record<string, string | undefined>)["X-Ms-Continuation"];
              resolve({ rows: Array.isArray(result) ? (result as T[]) : [], next: next || undefined });
            });
          }),
        { what: `${this.field} hub: ${what}`, log: this.log, signal: this.signal },
      ).catch((err: unknown) => Promise.reject(this.userError(err, what)));
      out.push(...page.rows);
      continuation = page.next;
    } while (continuation);
    return out;
  }

  /** Cheap authenticated read, used to fail fast on a wrong key before any job starts. */
  statistics(): Promise<{ totalDeviceCount?: number }> {
    return this.call("GET", "/statistics/devices", undefined, "read device statistics");
  }
}
