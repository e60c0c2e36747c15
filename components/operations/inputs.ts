/**
 * Resolving the operations' common inputs — hub connection strings, the staging container, the
 * local hub — from options, then environment variables (so secrets need not sit in shell history
 * or process listings), then the local hub's endpoints file under --local.
 */
import * as fs from "fs";
import { UserError, ValidationError } from "../errors";
import { readLocalEndpoints, type LocalEndpoints } from "../devices/local-hub";
import type { StagingOptions } from "../devices";
import { snapshotSchema } from "../source/snapshot";
import { hubTarget, type HubTarget } from "./hubs";
import type { HubSnapshot } from "./snapshot";

export const ENV = {
  source: "HUBCLONE_SOURCE_CONNECTION_STRING",
  clone: "HUBCLONE_CLONE_CONNECTION_STRING",
  staging: "HUBCLONE_STAGING_CONNECTION_STRING",
} as const;

export function localEndpointsIf(local: boolean | undefined): LocalEndpoints | undefined {
  return local ? readLocalEndpoints() : undefined;
}

/**
 * `--source-connection-string`, else $HUBCLONE_SOURCE_CONNECTION_STRING, else (with --local)
 * `--source-hub <name>` looked up in the local endpoints file (same for the clone).
 */
export function resolveHub(value: string | undefined, which: "source" | "clone", hubName?: string, local?: LocalEndpoints): HubTarget {
  if (hubName !== undefined) {
    if (!local) throw new UserError("names a local hub: add --local (or pass the connection string)", `--${which}-hub`);
    const hub = local.iothub.hubs[hubName];
    if (!hub) throw new UserError(`no local hub named ${hubName} (have: ${Object.keys(local.iothub.hubs).join(", ") || "none"}); create it with npm run local -- hub create ${hubName}`, `--${which}-hub`);
    return hubTarget(hub.connectionString, `--${which}-hub`);
  }
  return hubTarget(value ?? process.env[ENV[which]], `--${which}-connection-string`);
}

/** Staging container: `--staging-connection-string`, $HUBCLONE_STAGING_CONNECTION_STRING, or the local hub's Azurite. */
export function resolveStaging(value: string | undefined, container: string | undefined, local?: LocalEndpoints): StagingOptions {
  const connectionString = value ?? process.env[ENV.staging] ?? local?.storage.connectionString;
  if (!connectionString)
    throw new UserError(`is required: a storage account the hubs' import/export jobs can use (or set ${ENV.staging})`, "--staging-connection-string");
  const containerName = container ?? "hubclone-staging";
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(containerName))
    throw new UserError("must be 3-63 lowercase letters, digits and single hyphens", "--staging-container");
  return { connectionString, containerName };
}

/** Reads and validates a snapshot file with the clone program's own schema. */
export function readSnapshotFile(file: string, field: string): HubSnapshot {
  if (!fs.existsSync(file)) throw new UserError(`${file} not found: write one with \`hubclone snapshot --out ${file}\``, field);
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    throw new UserError(`${file} is not JSON`, field);
  }
  const parsed = snapshotSchema.safeParse(doc);
  if (!parsed.success)
    throw new ValidationError(parsed.error.issues.map((i) => ({ field: `${file}: ${i.path.join(".") || "(root)"}`, message: i.message })));
  return parsed.data as unknown as HubSnapshot;
}
