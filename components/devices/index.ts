/**
 * Device-migration engine: copies device identities (keys, twins, modules, edge hierarchy,
 * configurations) from an original IoT hub to its clone with the hubs' own import/export jobs,
 * streaming through a private staging container, resumable from a checkpoint, and verified.
 * Plain TypeScript: the Pulumi dynamic provider and the CLI both call these functions.
 */
import type {
  CopyOptions,
  CopyResult,
  DeleteOptions,
  DeleteResult,
  DeleteTarget,
  ExportOptions,
  ExportResult,
  HubConnection,
  RestoreOptions,
  StagingOptions,
  VerifyOptions,
  VerifyReport,
} from "./types";

import { runCopy } from "./engine";
import { cleanupRunImpl, deleteDevicesImpl, exportDevicesImpl, verifyDevicesImpl } from "./operations";

export * from "./types";

/** Full copy (generation 1). Rerunning with the same runId resumes, or returns the stored result when done. */
export async function copyDevices(o: CopyOptions): Promise<CopyResult> {
  return runCopy(o, "copy");
}

/** Delta sync: imports only devices new or changed since the last completed run; deleteMissing removes devices deleted at the source. */
export async function syncDevices(o: CopyOptions): Promise<CopyResult> {
  return runCopy(o, "sync");
}

/**
 * Copies the devices of a backup export blob (decommission's) into `target` — the way back after a
 * decommission — with the same transform, re-parenting and verification as a copy. Resumable by
 * runId; the backup blob is only read.
 */
export async function restoreDevices(o: RestoreOptions): Promise<CopyResult> {
  // The engine never opens `source` when copying from a backup; the target takes the clone's place (named "target" in messages).
  const { target, ...rest } = o;
  return runCopy({ ...rest, clone: target, source: { connectionString: "" } }, "copy");
}

/** Compares original and clone device by device by streaming one export of each (read-only on both hubs). */
export async function verifyDevices(o: VerifyOptions): Promise<VerifyReport> {
  return verifyDevicesImpl(o);
}

/** Runs one export job on `hub` into the staging container (read-only on that hub). The blob holds keys: the caller owns it. */
export async function exportDevices(hub: HubConnection, staging: StagingOptions, o: ExportOptions = {}): Promise<ExportResult> {
  return exportDevicesImpl(hub, staging, o);
}

/** Deletes devices from `hub` with one import job (importMode delete). Never call it on an original hub except from decommission. */
export async function deleteDevices(hub: HubConnection, staging: StagingOptions, target: DeleteTarget, o: DeleteOptions = {}): Promise<DeleteResult> {
  return deleteDevicesImpl(hub, staging, target, o);
}

/** Removes every staging blob of a run (checkpoint and manifest included). */
export async function cleanupRun(staging: StagingOptions, runId: string): Promise<number> {
  return cleanupRunImpl(staging, runId);
}
