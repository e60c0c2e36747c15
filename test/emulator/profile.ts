/**
 * The Azure-strict profile (`profile: "azure"`): every place where the real service is harsher than
 * the forgiving default, switched on together, each with its source. Where sources disagree or are
 * silent the strict profile plays the harsher behaviour (docs/local-hub.md, fidelity table).
 *
 * Time-based limits (job device-operation pace, job lifetimes, throttles, consistency lag) are real
 * figures divided by `timeScale` (default 1 = real time), so a test can run an S1 hub 100× faster and
 * still see every limit in the same proportions.
 */
import type { HubOptions } from "./hub";

export type Profile = "default" | "azure";

export interface StrictRules {
  strict: boolean;
  /** Real time ÷ this = emulator time. */
  timeScale: number;
  /** POST /jobs/create checks the storage SAS (blob SAS, expiry, permissions) and answers 400 at once. */
  syncStorageValidation: boolean;
  /** Every import line must carry `status` (the C# SDK's ExportImportDevice marks it Required.Always). */
  requireStatus: boolean;
  /** Configuration blobs are written PascalCase; configuration import lines need createOrUpdateIfMatchETag. */
  strictConfigurationLines: boolean;
  /** Scheduled jobs beyond the tier's slots answer 429004 instead of waiting queued. */
  rejectOverJobSlots: boolean;
  /** Import/export job second in flight: the error number the SDK team now expects. */
  jobQuotaCode: number;
  /** Scheduled-job device operations per (emulated) second; undefined = as fast as possible. */
  jobDeviceOpsPerSecond?: number;
  /** Import/export devices per (emulated) second; undefined = the hub's jobDevicesPerSecond. */
  importExportDevicesPerSecond?: number;
  /** Terminate scheduled jobs at maxExecutionTimeInSeconds (scaled). */
  enforceMaxExecutionTime: boolean;
  /** Import lines over the device quota fail one by one (403002) and the job completes. */
  perLineQuota: boolean;
  /** How long (emulator ms) imported devices stay invisible to queries/GET, deleted ones visible. */
  consistencyLagMs: number;
  /** 429 without a Retry-After header; the wait is only in the message. */
  retryAfterHeader: boolean;
  /** The SKU throttles apply (scaled by timeScale). */
  throttling: boolean;
  /** createOrUpdate/update without keys generates new keys. */
  regenerateKeysWhenOmitted: boolean;
  /** Key-less exports start with one non-JSON line for people. */
  exportWarningLine: boolean;
  /** Key-less exports: `authentication: null`. */
  nullAuthenticationWithoutKeys: boolean;
  /** Exports omit parentScopes (a leaf's deviceScope names its parent). */
  omitParentScopesInExport: boolean;
  /** Job GET/list answer `outputBlobContainerUri: ""` (create echoes it verbatim). */
  blankJobUrisOnRead: boolean;
  /** Job GET/list leave out inputBlobName/outputBlobName/configurationsBlobName. */
  hideJobBlobNamesOnRead: boolean;
  /** Module configurations must target `FROM devices.modules WHERE …`. */
  moduleConfigurationTarget: boolean;
}

/** Concurrent scheduled jobs per tier. Source: learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling ("Maximum concurrent jobs are 1 (for free and S1), 5 (for S2), and 10 (for S3)"). */
export function scheduledJobSlots(sku: string | undefined): number {
  const s = (sku ?? "S1").toUpperCase();
  if (s === "S3" || s === "B3") return 10;
  if (s === "S2" || s === "B2") return 5;
  return 1;
}

/**
 * "Jobs device operations" per second. Source: the quotas doc's throttle table: Free and S1 10/sec;
 * S2 higher of 10/sec or 1/sec/unit; S3 50/sec/unit.
 */
export function jobDeviceOpsPerSecond(sku: string | undefined, units = 1): number {
  const s = (sku ?? "S1").toUpperCase();
  const u = Math.max(1, units);
  if (s === "S3" || s === "B3") return 50 * u;
  if (s === "S2" || s === "B2") return Math.max(10, u);
  return 10;
}

/**
 * Import/export throughput. No official figure: Microsoft's bulk-identity guide reports about 2 hours
 * for 500,000 devices (≈ 70/s); the C# sample assumes "1 minute per 100 devices". The strict profile
 * plays the documented guide's 70/s on every tier (the slower of the two measured figures would be
 * 1.7/s, which no report of a real run supports).
 */
export const IMPORT_EXPORT_DEVICES_PER_SECOND = 70;

export function rulesOf(options: HubOptions): StrictRules {
  const strict = options.profile === "azure";
  const timeScale = Math.max(1e-3, options.timeScale ?? 1);
  if (!strict) {
    return {
      strict: false,
      timeScale,
      syncStorageValidation: false,
      requireStatus: false,
      strictConfigurationLines: false,
      rejectOverJobSlots: false,
      jobQuotaCode: 403003,
      jobDeviceOpsPerSecond: undefined,
      importExportDevicesPerSecond: undefined,
      enforceMaxExecutionTime: false,
      perLineQuota: false,
      consistencyLagMs: options.consistencyLagMs ?? 0,
      retryAfterHeader: true,
      throttling: options.throttling === true,
      regenerateKeysWhenOmitted: false,
      exportWarningLine: options.exportWarningLine === true,
      nullAuthenticationWithoutKeys: false,
      omitParentScopesInExport: false,
      blankJobUrisOnRead: false,
      hideJobBlobNamesOnRead: false,
      moduleConfigurationTarget: false,
    };
  }
  return {
    strict: true,
    timeScale,
    // A blob SAS where a container SAS is expected was refused at create with IH400007
    // (github.com/Azure/azure-iot-cli-extension/issues/93); expiry and permissions: harsher of "fails later" / "refused now".
    syncStorageValidation: true,
    // azure-iot-sdk-csharp iothub/service/src/Registry/Models/ExportImportDevice.cs: status Required.Always
    // (the REST docs say optional: the strict profile plays the SDK's harsher reading).
    requireStatus: true,
    // Reports of PascalCase configuration exports (issue 11); azure-iot-sdk-csharp ConfigurationImportMode.cs
    // has only createOrUpdateIfMatchETag.
    strictConfigurationLines: true,
    // github.com/Azure/azure-iot-sdk-csharp/issues/361: "ErrorCode:ThrottlingMaxActiveJobCountExceeded;429".
    rejectOverJobSlots: true,
    // azure-iot-sdk-csharp previews/v2 IotHubServiceErrorCode.cs: JobQuotaExceeded = 403001 (the docs say 403003).
    jobQuotaCode: 403001,
    jobDeviceOpsPerSecond: (options.jobDeviceOpsPerSecond ?? jobDeviceOpsPerSecond(options.sku, options.units)) * timeScale,
    importExportDevicesPerSecond: options.jobDevicesPerSecond ? undefined : IMPORT_EXPORT_DEVICES_PER_SECOND * timeScale,
    // iot-hub-devguide-jobs: "maxExecutionTimeInSeconds"; CLI _params.py: "before job is terminated".
    enforceMaxExecutionTime: true,
    // learn.microsoft.com/azure/iot-hub/iot-hub-bulk-identity-mgmt#troubleshoot-import-jobs: per-device 403002 in the output blob.
    perLineQuota: true,
    // iot-hub-devguide-query-language: "a few minutes of delay"; RegistryManagerImportDevicesTests.cs retries GET 404 after import.
    // Default 10 s real time (scaled), configurable up to the 10 minutes support quoted.
    consistencyLagMs: (options.consistencyLagMs ?? 10_000) / timeScale,
    // No source shows Retry-After on registry 429s; the wait is in the Message (Iot-Telemetry-Simulator#39).
    retryAfterHeader: false,
    throttling: options.throttling !== false,
    // ExportImportDevice.cs: "primary/secondary access keys are auto-generated"; ImportExportDevicesSample.cs
    // quotes the export warning that re-imported credentials "will be newly generated".
    regenerateKeysWhenOmitted: true,
    // RegistryManagerExportDevicesTests.cs L229: "The first line may be a comment to the user".
    exportWarningLine: options.exportWarningLine !== false,
    // github.com/Azure/azure-iot-sdk-csharp/issues/1146: a key-less export line with "authentication":null.
    nullAuthenticationWithoutKeys: true,
    // github.com/Azure/azure-iot-sdk-csharp/pull/2230: the service does not export parentScopes.
    omitParentScopesInExport: true,
    // azure-iot-cli-extension tests/iothub/jobs/test_iothub_jobs_unit.py: "outputBlobContainerUri": "".
    blankJobUrisOnRead: options.blankJobUris !== false,
    // Whether blob names appear in GET /jobs is not published (service-behaviours.md §5; the ARM JobResponse has
    // none): the strict profile leaves them out, so adopting a job after a crash cannot rely on them.
    hideJobBlobNamesOnRead: options.jobBlobNamesOnRead !== true,
    // learn.microsoft.com/azure/iot-hub/iot-hub-automatic-device-management ("module twins … target condition … FROM devices.modules").
    moduleConfigurationTarget: true,
  };
}
