/**
 * Data-plane clients for the operations (azure-iothub Registry and JobClient), from connection
 * strings, optionally routed to the local hub. Errors the user can fix become one-line UserErrors.
 */
import { JobClient, Registry } from "azure-iothub";
import { UserError } from "../errors";
import { unknownPolicyMessage, unknownPolicyName } from "../devices/auth-message";
import { useLocalHub, type LocalEndpoints } from "../devices/local-hub";

export interface HubTarget {
  /** Secret. */
  connectionString: string;
  hostName: string;
  /** Hub name (first label of the host name). */
  name: string;
}

/** Parses a hub connection string; `field` names the option in the error. */
export function hubTarget(connectionString: string | undefined, field: string): HubTarget {
  if (!connectionString) throw new UserError("is required: the hub's iothubowner (or registryReadWrite + service) connection string", field);
  const parts = Object.fromEntries(
    connectionString.split(";").filter(Boolean).map((kv) => {
      const i = kv.indexOf("=");
      return [kv.slice(0, i).toLowerCase(), kv.slice(i + 1)];
    }),
  );
  if (!parts.hostname || !parts.sharedaccesskeyname || !parts.sharedaccesskey)
    throw new UserError("is not an IoT hub connection string (it needs HostName, SharedAccessKeyName and SharedAccessKey parts)", field);
  if (parts.deviceid) throw new UserError("is a device connection string; use a hub policy's (iothubowner)", field);
  return { connectionString, hostName: parts.hostname, name: parts.hostname.split(".")[0] };
}

export function registryOf(t: HubTarget, local?: LocalEndpoints): Registry {
  const r = Registry.fromConnectionString(t.connectionString);
  return local ? useLocalHub(r, local) : r;
}

export function jobClientOf(t: HubTarget, local?: LocalEndpoints): JobClient {
  const j = JobClient.fromConnectionString(t.connectionString);
  return local ? useLocalHub(j, local) : j;
}

const TRANSIENT = new Set([429, 500, 503]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one service call, retrying what the service calls transient (429 honouring Retry-After,
 * 500, 503) a few times: the azure-iothub clients never retry, and an S1 unit allows only 20
 * queries a minute, so a watch loop meets 429 in normal use. The last error is rethrown.
 */
export async function retryTransient<T>(call: () => Promise<T>, o: { attempts?: number; baseMs?: number } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      const res = (e as { response?: { statusCode?: number; headers?: Record<string, string | undefined> } }).response;
      if (!TRANSIENT.has(res?.statusCode ?? 0) || attempt >= (o.attempts ?? 6)) throw e;
      const retryAfter = Number(res?.headers?.["retry-after"]);
      await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : Math.min((o.baseMs ?? 1000) * 2 ** (attempt - 1), 30_000));
    }
  }
}

/**
 * Counts the rows `SELECT * FROM devices[.modules] [WHERE …]` would return, with ONE
 * `SELECT COUNT()` query. Paging the twins through instead costs a query per 1,000 twins: a
 * million-device hub needs 1,000 of them, while an S1 unit allows 20 queries a minute (the SDK
 * does not retry the 429s that follow).
 */
export async function countQuery(registry: Registry, sql: string): Promise<number> {
  const m = /^\s*SELECT\s+\*\s+FROM\s+(devices(?:\.modules)?)(\s[\s\S]*)?$/i.exec(sql);
  if (!m) throw new Error(`countQuery takes SELECT * FROM devices[.modules] [WHERE …], not: ${sql}`);
  const page = await retryTransient(() => registry.createQuery(`SELECT COUNT() AS n FROM ${m[1]}${m[2] ?? ""}`).next());
  const rows = page.result as Array<{ n?: number }>;
  return rows[0]?.n ?? 0;
}

/** Maps the SDK's errors that a user can fix to one line naming the option; others pass through. */
export function hubUserError(err: unknown, t: HubTarget, field: string, what: string): unknown {
  const e = err as { name?: string; responseBody?: string; response?: { statusCode?: number }; code?: string; message?: string };
  const status = e?.response?.statusCode;
  const policy = status === 401 || e?.name === "UnauthorizedError" ? unknownPolicyName(err) : undefined;
  if (policy) return new UserError(unknownPolicyMessage(t.hostName, policy), field);
  if (status === 401 || e?.name === "UnauthorizedError")
    return new UserError(`the hub ${t.hostName} rejected the credentials while trying to ${what}: copy the policy's current connection string`, field);
  if (status === 429 || status === 503)
    return new UserError(`the hub ${t.hostName} kept answering ${status}${status === 429 ? " (throttled)" : " (unavailable)"} while trying to ${what}: retry in a minute${status === 429 ? ", or give the hub more units" : ""}`, field);
  if (e?.code === "ENOTFOUND" || e?.code === "EAI_AGAIN") return new UserError(`the host ${t.hostName} cannot be resolved: check HostName`, field);
  if (e?.code === "ECONNREFUSED") return new UserError(`nothing answers for ${t.hostName}${" "}(is the local hub up? npm run local -- up)`, field);
  return err;
}
