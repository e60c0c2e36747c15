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
