/**
 * Single-job operations on one hub, used by backups, verify and decommission: export (read-only on
 * that hub), a standalone verification of two hubs, and deletion through one import job.
 */
import { randomUUID } from "crypto";
import { UserError } from "../errors";
import { redact } from "../secrets";
import { HubClient } from "./hub-client";
import { kindOfCode } from "./hub-errors";
import { failureMessage, readImportErrors, removeErrorLogs, startJob, waitJob, JobContext, JobSpec } from "./jobs";
import { parseManifestLine } from "./manifest";
import { blobExists, blobSize, BlobLineWriter, deleteBlob, deletePrefix, openStaging, readBlobLines, readJsonBlob, Staging } from "./staging";
import { compileFilter, EDGE_SYSTEM_MODULES, lineKey, parseLine, type ExportLine } from "./transform";
import { RECHECK_LIMIT, recheckDifferences } from "./consistency";
import type { DeleteOptions, DeleteResult, DeleteTarget, ExportOptions, ExportResult, HubConnection, ImportFailure, Progress, StagingOptions, VerifyOptions, VerifyReport } from "./types";
import { compareConfigurationStreams, compareExportBlobs } from "./verify";

function ctxFor(o: { deadlineMs?: number; pollIntervalMs?: { min: number; max: number }; onProgress?: (p: Progress) => void; log?: (l: string) => void }, label: string, phase: Progress["phase"]): JobContext {
  const log = (l: string) => o.log?.(redact(l));
  return {
    deadline: Date.now() + (o.deadlineMs ?? 4 * 3600_000),
    poll: o.pollIntervalMs ?? { min: 1000, max: 15_000 },
    adoptCompleted: false, // one-shot: a finished job with the same blob name is an earlier call's
    log,
    progress: (percent) => {
      const message = `devices: ${label} ${Math.round(percent)}%`;
      o.onProgress?.({ phase, done: percent, percent, unit: "percent", message });
      log(message);
    },
  };
}

async function runJob(hub: HubClient, staging: Staging, spec: JobSpec, ctx: JobContext, beforeCreate?: () => Promise<void>): Promise<string> {
  const job = await startJob(hub, staging, spec, ctx, beforeCreate);
  const done = await waitJob(hub, job.jobId, ctx, `${spec.type} job`);
  if (done.status !== "completed") {
    const reason = String(done.failureReason ?? "");
    if (/403002|IotHubQuotaExceeded/i.test(reason)) throw new UserError(`the hub is at its device quota (403002 IotHubQuotaExceeded)`, hub.field);
    if (/400008|BlobContainerValidation/i.test(reason)) throw new UserError(`the hub's ${spec.type} job could not use the staging container; check the account is reachable from the hub and the SAS/identity has access`, "staging.connectionString");
    throw new Error(redact(failureMessage(done, spec.type, hub.field)));
  }
  return done.jobId;
}

/** Counts device and module lines of an export blob (streamed). */
export async function countExport(staging: Staging, blobName: string): Promise<{ devices: number; modules: number }> {
  let devices = 0;
  let modules = 0;
  for await (const text of readBlobLines(staging, blobName)) {
    const p = parseLine(text);
    if (!p.ok) continue;
    if (p.line.moduleId) modules++;
    else devices++;
  }
  return { devices, modules };
}

export async function exportDevicesImpl(hub: HubConnection, stagingOptions: StagingOptions, o: ExportOptions = {}): Promise<ExportResult> {
  const staging = await openStaging(stagingOptions, o.log);
  const client = HubClient.open(hub, "hub", o.local, o.log);
  await client.statistics();
  const blobName = o.blobName ?? `exports/${client.hostName.split(".")[0]}-${new Date().toISOString().replace(/[:.]/g, "-")}/devices.txt`;
  if (!/^[^\s]{1,1024}$/.test(blobName)) throw new UserError("must be a blob name without spaces", "blobName");
  const configurationsBlobName = o.includeConfigurations ? blobName.replace(/[^/]*$/, "configurations.txt") : undefined;
  const jobId = await runJob(client, staging, { type: "export", blobName, excludeKeysInExport: o.includeKeys === false, includeConfigurations: o.includeConfigurations, configurationsBlobName }, ctxFor(o, "export", "export-source"));
  const counts = await countExport(staging, blobName);
  let configurations = 0;
  if (configurationsBlobName && (await blobExists(staging, configurationsBlobName))) for await (const _ of readBlobLines(staging, configurationsBlobName)) configurations++;
  return { blobName, configurationsBlobName, ...counts, configurations, jobId };
}

export async function verifyDevicesImpl(o: VerifyOptions): Promise<VerifyReport> {
  compileFilter(o.filter); // a bad query fails here, before any export job
  const staging = await openStaging(o.staging, o.log);
  const source = HubClient.open(o.source, "source", o.local, o.log);
  const clone = HubClient.open(o.clone, "clone", o.local, o.log);
  await source.statistics();
  await clone.statistics();
  const cap = o.maxDifferences ?? 100;
  const withConfigs = o.includeConfigurations !== false;
  const prefix = `verify/${randomUUID()}/`;
  try {
    const jobIds: Record<string, string> = {};
    jobIds.sourceExport = await runJob(source, staging, { type: "export", blobName: `${prefix}source/devices.txt`, includeConfigurations: withConfigs, configurationsBlobName: `${prefix}source/configurations.txt` }, ctxFor(o, "verify: export original", "verify"));
    jobIds.cloneExport = await runJob(clone, staging, { type: "export", blobName: `${prefix}clone/devices.txt`, includeConfigurations: withConfigs, configurationsBlobName: `${prefix}clone/configurations.txt` }, ctxFor(o, "verify: export clone", "verify"));
    const size = await blobSize(staging, `${prefix}source/devices.txt`);
    let r = await compareExportBlobs(staging, `${prefix}source/devices.txt`, `${prefix}clone/devices.txt`, { sizeHint: size, filter: o.filter, cap });
    if (o.consistencyWindowMs !== undefined && r.missingCount + r.extraCount + r.differentCount > 0) {
      const keys = new Set([...r.missing, ...r.extra, ...r.different.map((d) => (d.moduleId ? `${d.id}/${d.moduleId}` : d.id))]);
      const lines = new Map<string, ExportLine>();
      if (keys.size <= RECHECK_LIMIT) {
        for await (const text of readBlobLines(staging, `${prefix}source/devices.txt`, "source export")) {
          const p = parseLine(text);
          if (p.ok && keys.has(lineKey(p.line))) lines.set(lineKey(p.line), p.line);
        }
      }
      const window = o.consistencyWindowMs;
      r = await recheckDifferences(clone, r, { until: Date.now() + window, firstWaitMs: Math.max(100, Math.min(15_000, Math.round(window / 4))), source: lines, log: o.log });
    }
    let configurations = { source: 0, clone: 0, missing: [] as string[], extra: [] as string[], different: [] as string[], unreadable: [] as string[] };
    if (withConfigs && (await blobExists(staging, `${prefix}source/configurations.txt`)) && (await blobExists(staging, `${prefix}clone/configurations.txt`))) {
      configurations = await compareConfigurationStreams(readBlobLines(staging, `${prefix}source/configurations.txt`), readBlobLines(staging, `${prefix}clone/configurations.txt`));
    }
    const ok = r.missingCount + r.extraCount + r.differentCount === 0 && configurations.missing.length + configurations.different.length + configurations.extra.length + configurations.unreadable.length === 0;
    return {
      source: r.source,
      clone: r.clone,
      sourceModules: r.sourceModules,
      cloneModules: r.cloneModules,
      matched: r.matched,
      missingCount: r.missingCount,
      extraCount: r.extraCount,
      differentCount: r.differentCount,
      missing: r.missing,
      extra: r.extra,
      different: r.different,
      configurations,
      ok,
      jobIds,
    };
  } finally {
    await deletePrefix(staging, prefix); // both exports hold every key
  }
}

/** Device ids to delete, streamed from the target into a delete-import blob. */
async function* targetIds(staging: Staging, target: DeleteTarget): AsyncGenerator<string> {
  if ("deviceIds" in target) {
    if (!Array.isArray(target.deviceIds) || target.deviceIds.some((d) => typeof d !== "string" || !d)) throw new UserError("must be a list of non-empty device ids", "deviceIds");
    yield* target.deviceIds;
  } else if ("fromBlob" in target) {
    if (!(await blobExists(staging, target.fromBlob))) throw new UserError(`blob ${target.fromBlob} is not in container ${staging.container.containerName}`, "fromBlob");
    for await (const text of readBlobLines(staging, target.fromBlob, "fromBlob")) {
      const p = parseLine(text);
      if (p.ok && !p.line.moduleId) yield p.line.id;
    }
  } else if ("importedByRun" in target) {
    const ck = await readJsonBlob<{ manifest?: string }>(staging, `runs/${target.importedByRun}/checkpoint.json`);
    if (!ck?.manifest) throw new UserError(`run ${target.importedByRun} has no completed copy in container ${staging.container.containerName}; nothing it imported is known`, "importedByRun");
    for await (const l of readBlobLines(staging, ck.manifest, "manifest")) {
      const m = parseManifestLine(l);
      if (m && !m.moduleId) yield m.deviceId;
    }
  } else throw new UserError("give deviceIds, fromBlob or importedByRun", "target");
}

export async function deleteDevicesImpl(hub: HubConnection, stagingOptions: StagingOptions, target: DeleteTarget, o: DeleteOptions = {}): Promise<DeleteResult> {
  const staging = await openStaging(stagingOptions, o.log);
  const client = HubClient.open(hub, "hub", o.local, o.log);
  await client.statistics();
  const blobName = `deletes/${randomUUID()}/devices.txt`;
  const w = new BlobLineWriter(staging, blobName);
  try {
    for await (const id of targetIds(staging, target)) await w.write(JSON.stringify({ id, importMode: "delete", status: "enabled" }));
    await w.close();
  } catch (err) {
    await w.discard();
    throw err;
  }
  const requested = w.lines;
  if (requested === 0) {
    await deleteBlob(staging, blobName);
    return { requested: 0, deleted: 0, alreadyAbsent: 0, failed: 0, failures: [] };
  }
  try {
    const jobId = await runJob(client, staging, { type: "import", blobName }, ctxFor(o, "delete", "delete"), () => removeErrorLogs(staging));
    let alreadyAbsent = 0;
    let failed = 0;
    const failures: ImportFailure[] = [];
    await readImportErrors(staging, "importErrors.log", (f) => {
      if (kindOfCode(f.errorCode, undefined, f.errorStatus) === "notFound") alreadyAbsent++;
      else {
        failed++;
        if (failures.length < 100) failures.push(f);
      }
    });
    return { requested, deleted: requested - alreadyAbsent - failed, alreadyAbsent, failed, failures, jobId };
  } finally {
    await deleteBlob(staging, blobName);
    await removeErrorLogs(staging);
  }
}

/** Every blob of a run (checkpoint, manifest, any generation left by a failure). */
export async function cleanupRunImpl(stagingOptions: StagingOptions, runId: string): Promise<number> {
  if (typeof runId !== "string" || !/^[A-Za-z0-9_-]{1,80}$/.test(runId)) throw new UserError("must be 1-80 letters, digits, '-' or '_'", "runId");
  const staging = await openStaging(stagingOptions);
  return deletePrefix(staging, `runs/${runId}/`);
}

export { EDGE_SYSTEM_MODULES };
