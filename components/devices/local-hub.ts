/**
 * Reaching the local IoT Hub (test/emulator + Azurite) with the real SDKs. The SDK cannot put a port
 * in HostName, so the hub keeps its real-looking name (`<hub>.azure-devices.net`) and an https.Agent
 * routes it to 127.0.0.1:<port> and trusts the emulator's CA. No module-scope side effects: this file
 * may be required from inside a serialized Pulumi dynamic provider.
 */
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import type { LookupFunction } from "net";
import { UserError } from "../errors";

export interface LocalEndpoints {
  storage: { connectionString: string };
  iothub: {
    port: number;
    caFile: string;
    hubs: Record<string, { hostName: string; connectionString: string }>;
  };
}

export function defaultEndpointsFile(cwd = process.cwd()): string {
  return path.join(cwd, ".local", "endpoints.json");
}

export function readLocalEndpoints(file?: string): LocalEndpoints {
  const target = file ?? defaultEndpointsFile();
  if (!fs.existsSync(target)) {
    throw new UserError(`${target} not found: start the local hub first with "npm run local -- up"`, "--local");
  }
  let parsed: LocalEndpoints;
  try {
    parsed = JSON.parse(fs.readFileSync(target, "utf8")) as LocalEndpoints;
  } catch {
    throw new UserError(`${target} is not valid JSON: recreate it with "npm run local -- up"`, "--local");
  }
  if (!parsed?.iothub?.port || !parsed.iothub.caFile || !parsed.storage?.connectionString) {
    throw new UserError(`${target} lacks iothub.port, iothub.caFile or storage.connectionString: recreate it with "npm run local -- up"`, "--local");
  }
  return parsed;
}

const LOCAL_HOST = /\.azure-devices\.net$/i;

/** One agent per endpoints (port + CA): keep-alive connections are shared by every client of the local hub. */
const agents = new Map<string, https.Agent>();

export function localHubAgent(e: LocalEndpoints): https.Agent {
  const key = `${e.iothub.port}|${e.iothub.caFile}`;
  const cached = agents.get(key);
  if (cached) return cached;
  const ca = fs.readFileSync(e.iothub.caFile, "utf8");
  const lookup: LookupFunction = (hostname, options, callback) => {
    if (LOCAL_HOST.test(hostname) || hostname === "localhost") {
      // Node 20 asks for all addresses (autoSelectFamily); older callers for one.
      if ((options as { all?: boolean }).all) (callback as unknown as (err: null, addrs: Array<{ address: string; family: number }>) => void)(null, [{ address: "127.0.0.1", family: 4 }]);
      else callback(null, "127.0.0.1", 4);
      return;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require("dns").lookup(hostname, options, callback);
  };
  const agent = new https.Agent({ keepAlive: true, ca, lookup });
  // The SDK sends no port: requests take the agent's default port, which is the emulator's.
  (agent as https.Agent & { defaultPort: number }).defaultPort = e.iothub.port;
  agents.set(key, agent);
  return agent;
}

interface HasRestClient {
  _restApiClient?: { setOptions?: (options: unknown) => void };
}

/** Points an azure-iothub Registry or JobClient at the local hub (replaces the SDK's default agent). */
export function useLocalHub<T>(client: T, e: LocalEndpoints): T {
  const rest = (client as unknown as HasRestClient)._restApiClient;
  if (!rest?.setOptions) throw new Error("useLocalHub: the client has no _restApiClient.setOptions (azure-iothub Registry or JobClient expected)");
  rest.setOptions({ http: { agent: localHubAgent(e) } });
  return client;
}
