/**
 * Local-hub plumbing shared by the DeviceMigration provider, the `devices` commands, the
 * rehearsal and the benchmark: reads `.local/endpoints.json` (through the local hub's own reader
 * when present) and picks hub / storage connection strings out of it by hub name or host name.
 * The endpoints file's shape is owned by components/devices/local-hub.ts.
 */
import * as fs from "fs";
import * as path from "path";
import { UserError } from "../errors";
import { readLocalEndpoints, type LocalEndpoints } from "./local-hub";

export const DEFAULT_ENDPOINTS_FILE = ".local/endpoints.json";

/** Reads the endpoints file (through the local hub's reader): one clear line when the local hub was never started. */
export function loadLocalEndpoints(file: string = DEFAULT_ENDPOINTS_FILE, field = "--local"): LocalEndpoints {
  const abs = path.resolve(process.cwd(), file);
  if (!fs.existsSync(abs)) throw new UserError(`${file} does not exist; start the local hub first (npm run local -- up)`, field);
  return readLocalEndpoints(abs);
}

/** The hub names the local endpoints file knows. */
export function localHubNames(e: LocalEndpoints): string[] {
  return Object.keys(e.iothub?.hubs ?? {});
}

/** The owner connection string of a local hub, by hub name or host name. */
export function localHubConnectionString(e: LocalEndpoints, nameOrHost: string, field = "hub"): string {
  const wanted = nameOrHost.toLowerCase();
  for (const [name, hub] of Object.entries(e.iothub?.hubs ?? {})) {
    if (name.toLowerCase() === wanted || hub.hostName.toLowerCase() === wanted) return hub.connectionString;
  }
  const known = localHubNames(e);
  throw new UserError(`no local hub named ${nameOrHost} (known: ${known.join(", ") || "none"}); create it with npm run local -- hub create ${nameOrHost.split(".")[0]}`, field);
}

/** The local storage (Azurite) connection string, for the staging container. */
export function localStagingConnectionString(e: LocalEndpoints): string {
  return e.storage.connectionString;
}

/**
 * The engine types `local` structurally (`Record<string, unknown>`, types.ts) while local-hub.ts
 * owns the real interface, which has no index signature: this bridges the two without a cast at
 * every call site.
 */
export function engineLocal(e: LocalEndpoints | undefined): import("./types").LocalEndpoints | undefined {
  return e as unknown as import("./types").LocalEndpoints | undefined;
}
