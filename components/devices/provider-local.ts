/**
 * Local-hub plumbing shared by the DeviceMigration provider, the `devices` commands, the
 * rehearsal and the benchmark: reads `.local/endpoints.json` (through the local hub's own reader
 * when present) and picks hub / storage connection strings out of it by hub name or host name.
 * The endpoints file's shape is owned by components/devices/local-hub.ts; the look-ups here walk
 * it structurally so they keep working while that shape settles.
 */
import * as fs from "fs";
import * as path from "path";
import { UserError } from "../errors";
import type { LocalEndpoints } from "./types";

export const DEFAULT_ENDPOINTS_FILE = ".local/endpoints.json";

function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i).trim().toLowerCase()] = part.slice(i + 1).trim();
  }
  return out;
}

/** Reads the endpoints file; one clear line when the local hub was never started. */
export function loadLocalEndpoints(file: string = DEFAULT_ENDPOINTS_FILE, field = "--local"): LocalEndpoints {
  const abs = path.resolve(process.cwd(), file);
  if (!fs.existsSync(abs)) throw new UserError(`${file} does not exist; start the local hub first (npm run local -- up)`, field);
  let localHub: { readLocalEndpoints?: (f?: string) => LocalEndpoints } = {};
  try {
    localHub = require("./local-hub");
  } catch {
    // local-hub.ts not present: read the JSON as is.
  }
  if (localHub.readLocalEndpoints) return localHub.readLocalEndpoints(abs);
  return JSON.parse(fs.readFileSync(abs, "utf8")) as LocalEndpoints;
}

function walkStrings(v: unknown, visit: (s: string, key: string, parent: Record<string, unknown>) => boolean): boolean {
  if (!v || typeof v !== "object") return false;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === "string") {
      if (visit(x, k, v as Record<string, unknown>)) return true;
    } else if (walkStrings(x, visit)) return true;
  }
  return false;
}

/** The hub names the local endpoints file knows (from the host names of its hub connection strings). */
export function localHubNames(e: LocalEndpoints): string[] {
  const names = new Set<string>();
  walkStrings(e, (s) => {
    if (/SharedAccessKey=/i.test(s) && !/DeviceId=/i.test(s)) {
      const host = parseConnectionString(s).hostname;
      if (host) names.add(host.split(".")[0]);
    }
    return false;
  });
  return [...names];
}

/** The owner connection string of a local hub, by hub name or host name. */
export function localHubConnectionString(e: LocalEndpoints, nameOrHost: string, field = "hub"): string {
  const wanted = nameOrHost.toLowerCase();
  let found: string | undefined;
  walkStrings(e, (s) => {
    if (!/SharedAccessKey=/i.test(s) || /DeviceId=/i.test(s)) return false;
    const host = parseConnectionString(s).hostname?.toLowerCase();
    if (host && (host === wanted || host.split(".")[0] === wanted)) {
      // Prefer an owner policy when a hub lists several.
      if (!found || /SharedAccessKeyName=iothubowner/i.test(s)) found = s;
    }
    return false;
  });
  if (!found) {
    const known = localHubNames(e);
    throw new UserError(`no local hub named ${nameOrHost} (known: ${known.join(", ") || "none"}); create it with npm run local -- hub create ${nameOrHost}`, field);
  }
  return found;
}

/** The local storage (Azurite) connection string, for the staging container. */
export function localStagingConnectionString(e: LocalEndpoints): string {
  let found: string | undefined;
  walkStrings(e, (s) => {
    if (/AccountKey=/i.test(s)) {
      found = s;
      return true;
    }
    return false;
  });
  if (!found) throw new UserError("the local endpoints file has no storage connection string; restart the local hub (npm run local -- up)", "--local");
  return found;
}
