/**
 * Public types of the device-migration engine. Plain data only (no SDK types) so the Pulumi
 * dynamic provider can pass them through its serialized closure and the CLI can print them.
 * Anything marked "secret" must never be logged, put in an error message or a non-secret output.
 */
import type { TokenCredential } from "@azure/identity";
import type { LocalEndpoints } from "./local-hub";

/** How to reach the local hub emulator instead of `*.azure-devices.net` (`.local/endpoints.json`); owned by local-hub.ts. */
export type { LocalEndpoints } from "./local-hub";

/** One IoT hub, reached by connection string (secret) or Microsoft Entra ID. */
export interface HubConnection {
  /** `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…` (secret). Needs registry read (+ write on the clone). */
  connectionString?: string;
  /** `<name>.azure-devices.net`, used with Entra ID when no connection string is given. */
  hostName?: string;
  /** Entra ID credential; default `DefaultAzureCredential`. Needs an IoT Hub data-plane role. */
  credential?: TokenCredential;
}

/** The private staging container the hubs' import/export jobs read and write. */
export interface StagingOptions {
  /**
   * Storage account connection string (secret). Key-based mode mints per-job container SAS tokens
   * from its AccountKey. With identityBased it is only the engine's own access (the hubs use theirs).
   */
  connectionString?: string;
  /** `https://<account>.blob.core.windows.net` for identity-based access (no key anywhere). */
  accountUrl?: string;
  /** Private container, created when missing. Holds device keys while a run is active. */
  containerName: string;
  /** keyBased (default with a connection string): per-job SAS. identityBased: the hubs' managed identity. */
  authentication?: "keyBased" | "identityBased";
  /** ARM id of the hubs' user-assigned identity (identityBased only; omitted = system-assigned). */
  userAssignedIdentity?: string;
  /** Credential the engine itself uses on the container in identity mode; default DefaultAzureCredential. */
  credential?: TokenCredential;
}

export type ImportMode = "createOrUpdate" | "create";

/** Which source devices a copy takes. Omitted = all. */
export interface DeviceFilter {
  /** Exact device ids (their modules follow them). */
  deviceIds?: string[];
  /**
   * A simple predicate on the export lines: `tags.<path> = '<value>'`, `status = 'enabled'`,
   * `capabilities.iotEdge = true`, combined with AND. Evaluated client-side while streaming.
   */
  query?: string;
}

export type Phase =
  | "validate"
  | "export-source"
  | "transform"
  | "import"
  | "export-clone"
  | "reparent"
  | "configurations"
  | "verify"
  | "cleanup"
  | "delete"
  | "done";

export interface Progress {
  phase: Phase;
  /** Items done (devices, lines or percent points, see `unit`). */
  done: number;
  total?: number;
  percent?: number;
  unit: "devices" | "lines" | "percent";
  /** Ready to print, e.g. `devices: export 42% (4,200/10,000)`. Never contains a secret. */
  message: string;
}

/** One line of `importErrors.log` (or a line the transform rejected, errorCode "malformed"). */
export interface ImportFailure {
  deviceId: string;
  moduleId?: string;
  errorCode: string;
  errorStatus: string;
}

/** One device (or module) that differs between original and clone. */
export interface DeviceDifference {
  id: string;
  moduleId?: string;
  /** Field names that differ: auth, keys, thumbprints, status, statusReason, tags, desired, iotEdge, parent, modules. */
  fields: string[];
}

/**
 * Hooks for tests: throwing from a hook simulates the process being killed at that point (the
 * run stops without any cleanup, exactly as after a kill; a rerun with the same runId resumes).
 */
export interface EngineHooks {
  /** Called after each checkpoint write, with the phase just recorded. */
  afterCheckpoint?: (phase: Phase, state: { jobId?: string }) => void | Promise<void>;
  /** Called right after a job was created, before its id is recorded (a crash here leaves an unrecorded job). */
  afterJobCreated?: (step: string, jobId: string) => void | Promise<void>;
  /** Called every `transformHookEveryLines` (default 10,000) transformed lines. */
  onTransformLines?: (linesDone: number) => void | Promise<void>;
  transformHookEveryLines?: number;
}

export interface CopyOptions {
  /** The original hub. Not used with `fromBackup`. */
  source: HubConnection;
  clone: HubConnection;
  staging: StagingOptions;
  /** Checkpoint key, stable across reruns (e.g. the Pulumi resource URN hash). Letters, digits, `-`, `_`. */
  runId: string;
  /** Default createOrUpdate. `create` fails lines whose device already exists in the clone. */
  importMode?: ImportMode;
  filter?: DeviceFilter;
  /** Copy ADM configurations and edge deployments (default true). */
  includeConfigurations?: boolean;
  /** syncDevices only: delete from the clone the devices deleted at the original since the last sync. */
  deleteMissing?: boolean;
  /** Own deadline for the whole run (ms from this call); default 24 hours. A rerun resumes. */
  deadlineMs?: number;
  /** Per-job deadline (ms); default twice the job's duration at ~70 devices/s, at least 1 hour. Its SAS expires 15 minutes after it. */
  jobDeadlineMs?: number;
  /**
   * How long differences found right after an import are rechecked device by device before they
   * are reported (the hub's replication lag: a device just imported may be missing from an export
   * for minutes, a deleted one still listed). Default 10 minutes; also bounds the re-parent pass's
   * wait for parents not yet visible.
   */
  consistencyWindowMs?: number;
  /** Route hub traffic to the local emulator. */
  local?: LocalEndpoints;
  onProgress?: (p: Progress) => void;
  /** One line per event; already redacted. */
  log?: (line: string) => void;
  /** Verify original vs clone after the copy (default true). */
  verify?: boolean;
  /** Cap on failures/differences listed (counts stay exact); default 100. */
  maxFailuresReported?: number;
  /**
   * syncDevices: the caller's sync generation (e.g. the `syncGeneration` input). A run whose
   * generation already completed returns the stored result without touching a hub.
   */
  generation?: number;
  /** Job poll interval bounds (ms); tests shorten them. Default 1,000..15,000. */
  pollIntervalMs?: { min: number; max: number };
  hooks?: EngineHooks;
  /** Aborts the run between steps (the checkpoint stays, a rerun resumes). */
  signal?: AbortSignal;
  /**
   * Copy from an export blob already in the staging container (a decommission backup) instead of
   * exporting `source`: the way back after decommission. The blob is read, never deleted.
   */
  fromBackup?: { devicesBlob: string; configurationsBlob?: string };
  /**
   * Go ahead although the direction guard refuses (direction-guard.ts): the target is a hub a run
   * in this staging container read as an original, or it already holds devices no run put there.
   */
  forceOverwriteTarget?: boolean;
  /**
   * The rollback's reconcile: `source` is the clone and `clone` the original, on purpose (the one
   * deliberate write to the original besides decommission/restore). Not guarded, not recorded.
   */
  writeBackToOriginal?: boolean;
  /**
   * Only with `fromBackup`: import lines without keys (a backup exported without keys), knowing
   * the hub then generates new keys for those devices, existing ones included (every device using
   * the old keys is locked out). Never honoured in a copy or sync: there a key-less line stops the run.
   */
  allowNewKeys?: boolean;
}

/** `restoreDevices`: a copy whose source is a backup blob, into `target`. */
export type RestoreOptions = Omit<CopyOptions, "source" | "clone" | "fromBackup" | "deleteMissing" | "generation"> & { target: HubConnection; fromBackup: NonNullable<CopyOptions["fromBackup"]> };

export interface SyncStats {
  /** 1 for the first copy, +1 per delta sync. */
  generation: number;
  /** Lines (devices + modules) in the source export after the filter. */
  sourceLines: number;
  /** Lines new or changed since the last sync (= lines imported). */
  changed: number;
  /** Lines identical to the last sync, not imported. */
  unchanged: number;
  /** Devices deleted at the original since the last sync (deleted from the clone when deleteMissing). */
  deletedAtSource: number;
}

export interface CopyResult {
  runId: string;
  /** Devices in the source export (after the filter). */
  exported: number;
  /** Modules (custom, excluding $edgeAgent/$edgeHub) in the source export after the filter. */
  exportedModules: number;
  /** Lines sent to the clone's import job (devices + modules). */
  imported: number;
  /** Lines that failed (import errors + malformed export lines). */
  failed: number;
  /** Devices that verified identical (0 when verify is off). */
  verified: number;
  /** Devices deleted from the clone (deleteMissing). */
  deleted: number;
  /** Children re-parented onto the clone's edge scopes. */
  reparented: number;
  configurations: { exported: number; imported: number; failed: number };
  /** First failures (capped by maxFailuresReported). */
  failures: ImportFailure[];
  /** First verification differences, missing and extra devices (capped). */
  mismatches: DeviceDifference[];
  /** Exact count of devices missing/extra/different after verification. */
  mismatchCount: number;
  /** Job ids by step: sourceExport, import, cloneExport, reparent, verifyExport, delete. */
  jobIds: Record<string, string>;
  durationsMs: Record<string, number>;
  sync: SyncStats;
  /** True when this call did no work because the run/generation had already completed. */
  alreadyComplete: boolean;
}

export interface VerifyOptions {
  source: HubConnection;
  clone: HubConnection;
  staging: StagingOptions;
  local?: LocalEndpoints;
  filter?: DeviceFilter;
  /** Cap on each listed array; counts stay exact. Default 100. */
  maxDifferences?: number;
  /** Compare configurations too (default true). */
  includeConfigurations?: boolean;
  deadlineMs?: number;
  /**
   * Recheck up to 100 differences device by device for this long before reporting them (replication
   * lag right after an import or a rollback). Default: no recheck (a cutover gate's expected
   * differences would otherwise wait out the window).
   */
  consistencyWindowMs?: number;
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
  pollIntervalMs?: { min: number; max: number };
}

/** Device-by-device comparison of two exports: exact counts, capped lists. */
export interface DeviceComparison {
  /** Device counts (modules not included) on each side, after the filter. */
  source: number;
  clone: number;
  sourceModules: number;
  cloneModules: number;
  /** Devices identical on both sides. */
  matched: number;
  missingCount: number;
  extraCount: number;
  differentCount: number;
  /** Capped lists. Module keys appear as `deviceId/moduleId`. */
  missing: string[];
  extra: string[];
  different: DeviceDifference[];
}

export interface VerifyReport extends DeviceComparison {
  /** `unreadable`: configuration lines neither side could read (reported, and `ok` is then false). */
  configurations: { source: number; clone: number; missing: string[]; extra: string[]; different: string[]; unreadable?: string[] };
  /** True when nothing is missing, extra or different. */
  ok: boolean;
  jobIds: Record<string, string>;
}

export interface ExportOptions {
  /** Blob name inside the staging container; default `exports/<hub>-<timestamp>/devices.txt`. */
  blobName?: string;
  /** Export symmetric keys (default true; false → keys null, importing gives new keys). */
  includeKeys?: boolean;
  includeConfigurations?: boolean;
  local?: LocalEndpoints;
  deadlineMs?: number;
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
  pollIntervalMs?: { min: number; max: number };
}

export interface ExportResult {
  blobName: string;
  /** Set when configurations were exported. */
  configurationsBlobName?: string;
  devices: number;
  modules: number;
  configurations: number;
  jobId: string;
}

/** What to delete: explicit ids, the ids in an export/manifest blob, or what a run imported. */
export type DeleteTarget =
  | { deviceIds: string[] }
  | { fromBlob: string }
  | { importedByRun: string };

export interface DeleteOptions {
  local?: LocalEndpoints;
  deadlineMs?: number;
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
  pollIntervalMs?: { min: number; max: number };
}

export interface DeleteResult {
  requested: number;
  deleted: number;
  /** Devices already absent (404001), counted as done. */
  alreadyAbsent: number;
  failed: number;
  failures: ImportFailure[];
  jobId?: string;
}
