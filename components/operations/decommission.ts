/**
 * `hubclone decommission`: the guide's "delete the source devices", guarded. Nothing happens
 * unless `--confirm` names the original hub exactly; then the clone must verify (devices not yet
 * moved identical but for the cutover property, moved ones present), a full export WITH keys goes to the staging container as
 * the backup (its location is printed: it is the way back), and only then are the original's
 * devices removed — exactly those in the backup — with one delete import job. The only command
 * that deletes anything from the original hub. `--restore <backup blob>` is its way back: the
 * backup's devices copied into the original again (the same engine as a copy), also only with
 * `--confirm`.
 */
import { createHash } from "crypto";
import { deleteDevices, exportDevices, restoreDevices, type CopyResult, type DeleteResult, type StagingOptions } from "../devices";
import { blobExists, openStaging } from "../devices/staging";
import type { LocalEndpoints } from "../devices/local-hub";
import { UserError } from "../errors";
import type { HubTarget } from "./hubs";
import { ENV } from "./inputs";
import { withoutZeroProgress } from "./progress";
import { differenceSummary, movedFilter, notMovedFilter, verifyDeviceSets, type DevicesSummary } from "./verify";

export interface DecommissionOptions {
  original: HubTarget;
  clone: HubTarget;
  /** Must equal the original hub's name. */
  confirm: string | undefined;
  staging: StagingOptions;
  local?: LocalEndpoints;
  /** The cutover property, not counted as a difference (default iotHubHostName). */
  property?: string;
  now?: Date;
  log?: (line: string) => void;
  pollIntervalMs?: { min: number; max: number };
  /** Test hook: runs after verification passed, before the backup export (a late provisioning). */
  afterVerified?: () => Promise<void>;
}

export interface DecommissionResult {
  hub: string;
  /** `devices`: all verified; `moved`: of those, devices of earlier waves (checked present, not compared). */
  verification: { ok: true; devices: number; moved: number; cutoverOnly: number };
  backup: { account: string; container: string; blob: string; devices: number; modules: number; configurations: number; configurationsBlob?: string; jobId: string };
  deleted: DeleteResult;
}

/** Pure: the confirmation check, before any call. */
export function checkConfirmation(original: HubTarget, confirm: string | undefined): void {
  if (confirm === undefined)
    throw new UserError(`nothing done: decommission deletes every device of ${original.name}; to proceed pass --confirm ${original.name}`, "--confirm");
  if (confirm !== original.name)
    throw new UserError(`nothing done: "${confirm}" is not the original hub's name (${original.name}); pass --confirm ${original.name} exactly`, "--confirm");
}

export function backupBlobName(hub: string, now: Date): string {
  return `backups/${hub}-${now.toISOString().replace(/[:.]/g, "-")}/devices.txt`;
}

/** Account name from the staging connection string or URL (for the message; no secret). */
export function accountOf(staging: StagingOptions): string {
  const m = /AccountName=([^;]+)/i.exec(staging.connectionString ?? "");
  if (m) return m[1];
  try {
    return new URL(staging.accountUrl ?? "").hostname.split(".")[0];
  } catch {
    return "(staging account)";
  }
}

export class NotVerifiedError extends UserError {
  constructor(readonly devices: DevicesSummary) {
    super(`nothing deleted: the clone does not verify (${differenceSummary(devices)}); sync and verify again first`, "decommission");
  }
}

export async function runDecommission(o: DecommissionOptions): Promise<DecommissionResult> {
  o = { ...o, log: withoutZeroProgress(o.log) };
  checkConfirmation(o.original, o.confirm);
  if (o.original.hostName.toLowerCase() === o.clone.hostName.toLowerCase())
    throw new UserError("the original and the clone are the same hub: pass the clone's connection string", "--clone-connection-string");
  const property = o.property ?? "iotHubHostName";

  o.log?.(`decommission: verifying ${o.clone.name} against ${o.original.name}`);
  const verify = { source: o.original, clone: o.clone, staging: o.staging, local: o.local, maxDifferences: 1000, ignoreDesiredProperty: property, pollIntervalMs: o.pollIntervalMs };
  // Devices not moved yet must be identical on the clone.
  const devices = await verifyDeviceSets({ ...verify, filter: notMovedFilter(property, o.clone.hostName) });
  if (!devices.ok) throw new NotVerifiedError(devices);
  // Devices that moved belong to the clone, which may have changed them since: each must be
  // there (the delete takes it from the original), whatever differs. Two more export jobs, once.
  const moved = await verifyDeviceSets({ ...verify, ignoreDesiredProperty: undefined, filter: movedFilter(property, o.clone.hostName) });
  if (moved.missingCount > 0) throw new NotVerifiedError({ ...moved, extra: [], extraCount: 0, different: [], differentCount: 0, configurations: { ...moved.configurations, missing: [], extra: [], different: [] } });
  const verified = devices.source + moved.source;

  await o.afterVerified?.();
  const blobName = backupBlobName(o.original.name, o.now ?? new Date());
  o.log?.(`decommission: backup export (with keys) of ${o.original.name} to ${o.staging.containerName}/${blobName}`);
  const backup = await exportDevices({ connectionString: o.original.connectionString }, o.staging, {
    blobName,
    includeKeys: true,
    includeConfigurations: true,
    local: o.local,
    pollIntervalMs: o.pollIntervalMs,
    log: o.log,
  });

  if (backup.devices !== verified) {
    // Devices were added or removed between verification and backup: one of them may be missing
    // from the clone, and the delete would take it from the original too.
    throw new UserError(
      `nothing deleted: ${o.original.name} changed during the run (${verified} devices verified, ${backup.devices} in the backup at ` +
        `${o.staging.containerName}/${backup.blobName}); sync the devices to the clone, stop provisioning to the original, and run decommission again`,
      "decommission",
    );
  }
  o.log?.(`decommission: deleting the ${backup.devices} devices of the backup from ${o.original.name}`);
  const deleted = await deleteDevices({ connectionString: o.original.connectionString }, o.staging, { fromBlob: backup.blobName }, { local: o.local, pollIntervalMs: o.pollIntervalMs, log: o.log });
  return {
    hub: o.original.name,
    verification: { ok: true, devices: verified, moved: moved.source, cutoverOnly: devices.cutoverOnly ?? 0 },
    backup: {
      account: accountOf(o.staging),
      container: o.staging.containerName,
      blob: backup.blobName,
      devices: backup.devices,
      modules: backup.modules,
      configurations: backup.configurations,
      ...(backup.configurationsBlobName ? { configurationsBlob: backup.configurationsBlobName } : {}),
      jobId: backup.jobId,
    },
    deleted,
  };
}

/** How the decommission was run, so the printed restore command runs as printed. */
export interface InvokedWith {
  local?: boolean;
  sourceHub?: string;
  /** The staging account's connection string came from a flag (not printable: secret; with --local the default is Azurite's). */
  stagingFromFlag?: boolean;
}

/**
 * The restore command as it must be typed: every flag the decommission needed (`--local`, the hub
 * by name), secrets never printed — they are named as the environment variables to set (pure).
 */
export function restoreCommand(r: Pick<DecommissionResult, "hub" | "backup">, how: InvokedWith = {}): string {
  const cmd = [
    "npm run hubclone --",
    ...(how.local ? ["--local"] : []),
    "decommission --restore",
    r.backup.blob,
    "--staging-container",
    r.backup.container,
    ...(how.sourceHub ? ["--source-hub", how.sourceHub] : []),
    "--confirm",
    r.hub,
  ].join(" ");
  const env = [
    ...(how.sourceHub ? [] : [ENV.source]),
    ...(how.local && !how.stagingFromFlag ? [] : [ENV.staging]),
  ];
  return env.length ? `${env.map((e) => `${e}=…`).join(" ")} ${cmd}   (set ${env.join(" and ")} to the original's and the staging account's connection strings, or pass them as flags)` : cmd;
}

export function describeDecommission(r: DecommissionResult, how: InvokedWith = {}): string {
  return [
    `decommission of ${r.hub}:`,
    `  verification: OK (${r.verification.devices} devices${r.verification.moved ? `, ${r.verification.moved} of them moved earlier: present on the clone, not compared` : ""}${r.verification.cutoverOnly ? `, ${r.verification.cutoverOnly} differing only in the cutover property` : ""})`,
    `  backup (WITH KEYS, keep it private): account ${r.backup.account}, container ${r.backup.container}, blob ${r.backup.blob}` +
      ` (${r.backup.devices} devices, ${r.backup.modules} modules, ${r.backup.configurations} configurations${r.backup.configurationsBlob ? ` in ${r.backup.configurationsBlob}` : ""})`,
    `  deleted ${r.deleted.deleted} of ${r.deleted.requested} devices (already absent ${r.deleted.alreadyAbsent}, failed ${r.deleted.failed})${r.deleted.jobId ? ` by import job ${r.deleted.jobId}` : ""}`,
    ...r.deleted.failures.map((f) => `  FAILED ${f.deviceId}${f.moduleId ? `/${f.moduleId}` : ""}: ${f.errorCode} ${f.errorStatus}`),
    `  to restore: ${restoreCommand(r, how)}`,
  ].join("\n");
}

export interface RestoreFromBackupOptions {
  original: HubTarget;
  /** Must equal the original hub's name. */
  confirm: string | undefined;
  staging: StagingOptions;
  /** The backup's devices blob, as decommission printed it. */
  backupBlob: string;
  local?: LocalEndpoints;
  log?: (line: string) => void;
  pollIntervalMs?: { min: number; max: number };
}

/** Pure: the restore's confirmation check, before any call. */
export function checkRestoreConfirmation(original: HubTarget, confirm: string | undefined): void {
  if (confirm !== original.name)
    throw new UserError(
      `nothing done: a restore imports the backup's devices into ${original.name}; to proceed pass --confirm ${original.name}${confirm === undefined ? "" : ` exactly (not "${confirm}")`}`,
      "--confirm",
    );
}

/** Stable per backup and hub, so a rerun of the same restore resumes instead of starting over. */
export function restoreRunId(original: HubTarget, backupBlob: string): string {
  return `restore-${createHash("sha256").update(`${original.hostName.toLowerCase()}\n${backupBlob}`).digest("hex").slice(0, 16)}`;
}

/**
 * Copies a decommission backup back into the original hub: the backup's devices (keys, twins,
 * modules, edge hierarchy) and, when the backup has them, its configurations, verified against
 * the backup at the end. Devices created on the hub since are left alone (they show as extra).
 */
export async function runRestore(o: RestoreFromBackupOptions): Promise<CopyResult> {
  o = { ...o, log: withoutZeroProgress(o.log) };
  checkRestoreConfirmation(o.original, o.confirm);
  if (!/^[^\s]{1,1024}$/.test(o.backupBlob)) throw new UserError("must be the backup's devices blob as decommission printed it", "--restore");
  const configurationsBlob = o.backupBlob.replace(/[^/]*$/, "configurations.txt");
  const staging = await openStaging(o.staging, o.log);
  const withConfigurations = configurationsBlob !== o.backupBlob && (await blobExists(staging, configurationsBlob));
  return restoreDevices({
    target: { connectionString: o.original.connectionString },
    staging: o.staging,
    runId: restoreRunId(o.original, o.backupBlob),
    fromBackup: { devicesBlob: o.backupBlob, ...(withConfigurations ? { configurationsBlob } : {}) },
    includeConfigurations: withConfigurations,
    local: o.local,
    log: o.log,
    pollIntervalMs: o.pollIntervalMs,
  });
}
