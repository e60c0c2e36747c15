/**
 * Import and export jobs: they read and write blobs through the container SAS URI they are given
 * (Azurite in tests), streaming line by line so a 1,000,000-device file is never one string, and
 * move through enqueued → running → completed | failed | cancelled with progress, at the hub's
 * configured speed. Progress and a line checkpoint are persisted, so a job running when the emulator
 * is killed continues from its checkpoint after the restart (the real service never restarts; this
 * is the closest observable behaviour: the job survives and completes).
 */
import { randomUUID } from "crypto";
import { StringDecoder } from "string_decoder";
import { Readable } from "stream";
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { HubError, hubError } from "./errors";
import type { Emulator } from "./emulator";
import type { ExportImportDevice, Hub, ImportError } from "./hub";

type Json = Record<string, unknown>;

const ACTIVE = new Set(["enqueued", "running", "queued", "scheduled"]);
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/** Job properties as the service returns them (internal fields start with `_`). */
export function publicJob(job: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(job)) if (!k.startsWith("_")) out[k] = v;
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

class JobFailure extends Error {}

/**
 * Line ending of the blobs the service writes: CRLF (a .NET service; azure-iot-sdk-csharp
 * e2e RegistryManagerExportDevicesTests splits devices.txt on "\r\n"; the Node e2e's JSON.parse per
 * '\n'-split line tolerates the '\r'). Every reader in the project accepts both.
 */
export const EOL = "\r\n";

function mapKeys(v: unknown, f: (k: string) => string, depth: number): unknown {
  if (depth <= 0 || typeof v !== "object" || v === null || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v as Json).map(([k, val]) => [f(k), mapKeys(val, f, depth - 1)]));
}

/** A configuration as the strict profile exports it: PascalCase fields (reports in issue 11), content kept verbatim. */
function pascalCase(c: Json): Json {
  const top = mapKeys(c, (k) => k.charAt(0).toUpperCase() + k.slice(1), 1) as Json;
  return top;
}

/** Configuration lines in either casing: top-level field names to camelCase (content untouched). */
function camelCaseKeys(c: Json): Json {
  return mapKeys(c, (k) => (k === "ETag" ? "etag" : k.charAt(0).toLowerCase() + k.slice(1)), 1) as Json;
}

/**
 * Lines of a blob stream, pulled chunk by chunk: async iteration keeps the stream paused until the
 * job asks for more, so a 1,000,000-line devices.txt is never buffered whole (readline or a 'data'
 * listener would let the download run ahead of the import).
 */
async function* readLines(stream: NodeJS.ReadableStream, counter: { bytes: number }): AsyncGenerator<string> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    counter.bytes += buf.length;
    const parts = (rest + decoder.write(buf)).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) yield line.endsWith("\r") ? line.slice(0, -1) : line;
  }
  rest += decoder.end();
  if (rest) yield rest;
}

interface RunState {
  cancelled: boolean;
}

export class JobRunner {
  private running = new Map<string, RunState>();
  private stopped = false;

  constructor(private readonly emulator: Emulator) {}

  /** POST /jobs/create. Validates the request, enforces one active import/export per hub, starts the job. */
  async create(hub: Hub, body: unknown): Promise<Json> {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw hubError("ArgumentInvalid", "The job request must be a JSON object");
    const req = body as Json;
    const type = String(req.type ?? "").toLowerCase();
    if (type !== "import" && type !== "export") throw hubError("ArgumentInvalid", `type '${String(req.type)}' must be import or export`);
    const needUri = (name: string) => {
      const v = req[name];
      if (typeof v !== "string" || !v) throw hubError("ArgumentInvalid", `${name} is required for an ${type} job`);
      try {
        new URL(v);
      } catch {
        throw hubError("ArgumentInvalid", `${name} is not a valid URI`);
      }
      return v;
    };
    const output = needUri("outputBlobContainerUri");
    const input = type === "import" ? needUri("inputBlobContainerUri") : undefined;
    for (const other of hub.jobs.values()) {
      if ((other.type === "import" || other.type === "export") && ACTIVE.has(String(other.status))) {
        // Quotas doc: one import/export job at a time on every tier. Number: 403003 in the troubleshooting
        // docs; the strict profile answers 403001, what the C# SDK team's tests now expect (previews/v2 IotHubServiceErrorCode.cs).
        throw new HubError("JobQuotaExceeded", `Failed to create job since there is another job running: ${String(other.jobId)} is ${String(other.status)}`, hub.rules.jobQuotaCode, 403);
      }
    }
    const identityBased = String(req.storageAuthenticationType ?? "").toLowerCase() === "identitybased";
    const roleReady = hub.meta.options.storageRoleReadyAt ? Date.parse(hub.meta.options.storageRoleReadyAt) : NaN;
    if (identityBased && roleReady > Date.now()) {
      // Where the service reports a missing role is not published (service-behaviours.md §3): the harsher, synchronous 400.
      throw new HubError("BlobContainerValidationError", `Unable to access the storage container with the hub's managed identity: it is not authorized (role assignment not effective yet)`, 400007, 400);
    }
    if (hub.rules.syncStorageValidation) {
      if (input) await this.validateStorage(input, "inputBlobContainerUri", type === "import" ? "r" : "", identityBased);
      await this.validateStorage(output, "outputBlobContainerUri", "w", identityBased);
    }
    const job: Json = {
      jobId: randomUUID(),
      startTimeUtc: new Date().toISOString(),
      endTimeUtc: null,
      type,
      status: "enqueued",
      progress: 0,
      ...(input ? { inputBlobContainerUri: input } : {}),
      outputBlobContainerUri: output,
      excludeKeysInExport: req.excludeKeysInExport === true || String(req.excludeKeysInExport).toLowerCase() === "true",
      storageAuthenticationType: req.storageAuthenticationType ?? "keyBased",
      ...(req.identity ? { identity: req.identity } : {}),
      inputBlobName: typeof req.inputBlobName === "string" && req.inputBlobName ? req.inputBlobName : "devices.txt",
      outputBlobName: typeof req.outputBlobName === "string" && req.outputBlobName ? req.outputBlobName : "devices.txt",
      includeConfigurations: req.includeConfigurations === true,
      configurationsBlobName: typeof req.configurationsBlobName === "string" && req.configurationsBlobName ? req.configurationsBlobName : "configurations.txt",
      failureReason: null,
      statusMessage: null,
      _checkpoint: 0,
    };
    hub.saveJob(job);
    this.start(hub, job);
    return publicJob(job);
  }

  /**
   * Strict profile: the checks the service makes before it accepts an import/export job, answered
   * synchronously with 400 (sources in profile.ts: a blob SAS was refused at create with IH400007,
   * azure-iot-cli-extension#93). Expired SAS and missing permissions may in reality surface later in
   * failureReason; the strict profile plays the earlier, harsher refusal — the engine handles both.
   */
  private async validateStorage(uri: string, field: string, need: string, identityBased: boolean): Promise<void> {
    const url = new URL(uri);
    const q = url.searchParams;
    const refuse = (why: string) => {
      throw new HubError("BlobContainerValidationError", `Unable to access blob container for ${field} (IH400007): ${why}`, 400007, 400);
    };
    if (!identityBased) {
      if (!q.get("sig")) refuse("the URI carries no SAS token: give a container SAS or use storageAuthenticationType identityBased");
      const sr = q.get("sr");
      if (sr && sr !== "c") refuse(`the SAS is a ${sr === "b" ? "blob" : `'${sr}'`} SAS, but a container SAS (sr=c) is required`);
      const se = q.get("se");
      if (se && !(Date.parse(se) > Date.now())) refuse(`the SAS expired at ${se}`);
      const sp = q.get("sp") ?? "";
      for (const p of need) if (!sp.includes(p)) refuse(`the SAS lacks the '${p}' permission (has '${sp}')`);
    }
    // The container must exist (the service checks it when the job is accepted, as far as reports go).
    const segments = url.pathname.split("/").filter(Boolean);
    const containerName = segments[segments.length - 1];
    const cs = this.emulator.config.storageConnectionString;
    if (cs && containerName) {
      const exists = await BlobServiceClient.fromConnectionString(cs)
        .getContainerClient(containerName)
        .exists()
        .catch(() => true); // storage unreachable here: leave it to the job
      if (!exists) refuse(`the container '${containerName}' does not exist`);
    }
  }

  /** Job as a GET or list answers it: the strict profile blanks the container URI (CLI test fixture test_iothub_jobs_unit.py). */
  private readView(hub: Hub, job: Json): Json {
    const out = publicJob(job);
    if (hub.rules.blankJobUrisOnRead) {
      out.outputBlobContainerUri = "";
      if ("inputBlobContainerUri" in out) out.inputBlobContainerUri = "";
    }
    if (hub.rules.hideJobBlobNamesOnRead) {
      delete out.inputBlobName;
      delete out.outputBlobName;
      delete out.configurationsBlobName;
    }
    return out;
  }

  get(hub: Hub, jobId: string): Json {
    const job = hub.jobs.get(jobId);
    if (!job) throw hubError("JobNotFound", `Job ${jobId} not found in IotHub ${hub.name}`);
    return this.readView(hub, job);
  }

  list(hub: Hub): Json[] {
    return [...hub.jobs.values()].map((j) => this.readView(hub, j));
  }

  /** DELETE /jobs/{id}: an active job becomes cancelled; a finished job is returned as it is. */
  cancel(hub: Hub, jobId: string): Json {
    const job = hub.jobs.get(jobId);
    if (!job) throw hubError("JobNotFound", `Job ${jobId} not found in IotHub ${hub.name}`);
    if (!TERMINAL.has(String(job.status))) {
      const state = this.running.get(jobId);
      if (state) state.cancelled = true;
      job.status = "cancelled";
      job.endTimeUtc = new Date().toISOString();
      hub.saveJob(job);
    }
    return publicJob(job);
  }

  cancelAll(hub: Hub): void {
    for (const job of hub.jobs.values()) if (!TERMINAL.has(String(job.status))) this.cancel(hub, String(job.jobId));
  }

  resumeAfterRestart(): void {
    for (const hub of this.emulator.hubs.values()) {
      for (const job of hub.jobs.values()) {
        if ((job.type === "import" || job.type === "export") && !TERMINAL.has(String(job.status))) this.start(hub, job);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.running.values()) s.cancelled = true;
  }

  private start(hub: Hub, job: Json): void {
    const state: RunState = { cancelled: false };
    const jobId = String(job.jobId);
    this.running.set(jobId, state);
    // Start on a later tick so the create call answers `enqueued` first, as the service does.
    setTimeout(() => {
      this.run(hub, job, state)
        .catch((err: unknown) => {
          if (this.stopped) return;
          const reason = err instanceof JobFailure || err instanceof HubError ? err.message : `Internal error: ${(err as Error)?.message ?? String(err)}`;
          if (!(err instanceof JobFailure) && !(err instanceof HubError)) this.emulator.log(`[iothub-emulator] job ${jobId} on ${hub.name} crashed: ${(err as Error)?.stack ?? String(err)}`);
          if (String(job.status) !== "cancelled") {
            job.status = "failed";
            job.failureReason = reason;
            job.endTimeUtc = new Date().toISOString();
            hub.saveJob(job);
            this.emulator.store.flush();
            this.emulator.log(`[iothub-emulator] ${hub.name} job ${jobId} (${String(job.type)}) failed: ${reason}`);
          }
        })
        .finally(() => this.running.delete(jobId));
    }, 20);
  }

  private container(uri: string, job: Json): ContainerClient {
    const url = new URL(uri);
    const identityBased = String(job.storageAuthenticationType ?? "").toLowerCase() === "identitybased";
    if (identityBased && !url.search && this.emulator.config.storageConnectionString) {
      // Azurite has no Azure AD: an identity-based job reaches the container with the emulator's storage account key.
      const segments = url.pathname.split("/").filter(Boolean);
      const containerName = segments[segments.length - 1];
      return BlobServiceClient.fromConnectionString(this.emulator.config.storageConnectionString).getContainerClient(containerName);
    }
    return new ContainerClient(uri);
  }

  private progressSaver(hub: Hub, job: Json) {
    let last = 0;
    return (force = false) => {
      const now = Date.now();
      if (!force && now - last < 500) return;
      last = now;
      hub.saveJob(job);
      this.emulator.store.flush();
    };
  }

  private pacer(hub: Hub) {
    const started = Date.now();
    let processed = 0;
    return async (count: number) => {
      processed += count;
      const rate = hub.meta.options.jobDevicesPerSecond || hub.rules.importExportDevicesPerSecond;
      if (rate && rate > 0) {
        const due = started + (processed / rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
      } else {
        await new Promise<void>((r) => setImmediate(r));
      }
    };
  }

  private checkFault(hub: Hub, job: Json): void {
    const at = hub.meta.options.jobFailAtProgress;
    if (at !== undefined && at !== null && Number(job.progress) >= at) {
      throw new JobFailure(`Injected failure at ${String(job.progress)}% (jobFailAtProgress=${at})`);
    }
  }

  private async run(hub: Hub, job: Json, state: RunState): Promise<void> {
    if (state.cancelled || job.status === "cancelled") return;
    job.status = "running";
    hub.saveJob(job);
    this.emulator.store.flush();
    if (job.type === "export") await this.runExport(hub, job, state);
    else await this.runImport(hub, job, state);
    if (state.cancelled || job.status === "cancelled") return;
    job.status = "completed";
    job.progress = 100;
    job.endTimeUtc = new Date().toISOString();
    hub.saveJob(job);
    this.emulator.store.flush();
  }

  private async runExport(hub: Hub, job: Json, state: RunState): Promise<void> {
    const container = this.container(String(job.outputBlobContainerUri), job);
    const excludeKeys = job.excludeKeysInExport === true;
    const total = Math.max(1, hub.devices.size);
    const save = this.progressSaver(hub, job);
    const pace = this.pacer(hub);
    const runner = this;
    let done = 0;
    async function* chunks(): AsyncGenerator<Buffer> {
      let lines: string[] = [];
      let chars = 0;
      let sincePace = 0;
      if (excludeKeys && hub.rules.exportWarningLine) {
        // RegistryManagerExportDevicesTests.cs L229: "The first line may be a comment to the user"; the
        // wording is unknown, this paraphrases the sample's (ImportExportDevicesSample.cs).
        lines.push("Keys are excluded from this export: devices imported from it get newly generated credentials.");
      }
      const batch = Math.max(1, Math.min(500, Math.floor((hub.meta.options.jobDevicesPerSecond || 5000) / 10)));
      for (const json of hub.devices.values()) {
        if (state.cancelled) return;
        for (const line of hub.exportLines(json, excludeKeys)) {
          lines.push(line);
          chars += line.length + 1;
        }
        done += 1;
        sincePace += 1;
        if (chars > 1024 * 1024) {
          yield Buffer.from(lines.join(EOL) + EOL, "utf8");
          lines = [];
          chars = 0;
        }
        if (sincePace >= batch) {
          job.progress = Math.min(99, Math.floor((done / total) * 100));
          runner.checkFault(hub, job);
          save();
          await pace(sincePace);
          sincePace = 0;
        }
      }
      if (lines.length) yield Buffer.from(lines.join(EOL) + EOL, "utf8");
    }
    const blob = container.getBlockBlobClient(String(job.outputBlobName));
    try {
      await blob.uploadStream(Readable.from(chunks()), 4 * 1024 * 1024, 2, { blobHTTPHeaders: { blobContentType: "text/plain" } });
    } catch (err) {
      if (err instanceof JobFailure) throw err;
      throw this.storageFailure(err, "write", String(job.outputBlobName));
    }
    if (state.cancelled) return;
    if (job.includeConfigurations === true) {
      const pascal = hub.rules.strictConfigurationLines;
      const text = [...hub.configurations.values()].map((c) => JSON.stringify(pascal ? pascalCase(c) : c)).join(EOL);
      await this.upload(container, String(job.configurationsBlobName), text);
    }
    save(true);
  }

  private async upload(container: ContainerClient, name: string, text: string): Promise<void> {
    try {
      const body = text ? text + EOL : "";
      await container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body));
    } catch (err) {
      throw this.storageFailure(err, "write", name);
    }
  }

  private storageFailure(err: unknown, what: "read" | "write", blob: string): JobFailure {
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (err instanceof JobFailure) return err;
    return new JobFailure(
      `ErrorCode:BlobContainerValidationError;400008 Could not ${what} blob '${blob}' in the storage container (HTTP ${e.statusCode ?? "?"} ${e.code ?? ""}). Check the container SAS permissions and that the blob exists.`,
    );
  }

  private async runImport(hub: Hub, job: Json, state: RunState): Promise<void> {
    const input = this.container(String(job.inputBlobContainerUri), job);
    const output = this.container(String(job.outputBlobContainerUri), job);
    const blob = input.getBlockBlobClient(String(job.inputBlobName));
    let download;
    try {
      download = await blob.download(0);
    } catch (err) {
      throw this.storageFailure(err, "read", String(job.inputBlobName));
    }
    const size = Math.max(1, download.contentLength ?? 1);
    const stream = download.readableStreamBody;
    if (!stream) throw new JobFailure("ErrorCode:BlobContainerValidationError;400008 The input blob has no content stream");
    const counter = { bytes: 0 };
    const lines = readLines(stream, counter);
    const errors: ImportError[] = [];
    const seen = new Set<string>();
    const save = this.progressSaver(hub, job);
    const pace = this.pacer(hub);
    const skip = Number(job._checkpoint ?? 0);
    const batch = Math.max(1, Math.min(1000, Math.floor((hub.meta.options.jobDevicesPerSecond || 10000) / 10)));
    let lineNo = 0;
    let sincePace = 0;
    try {
      for await (const raw of lines) {
        if (state.cancelled) return;
        lineNo += 1;
        if (lineNo <= skip) continue;
        const text = raw.trim();
        if (text) {
          let entry: ExportImportDevice;
          try {
            entry = JSON.parse(text) as ExportImportDevice;
          } catch {
            errors.push({ deviceId: "", errorCode: "400006", errorStatus: `Line ${lineNo} is not valid JSON` });
            entry = undefined as unknown as ExportImportDevice;
          }
          if (entry) {
            const key = `${String(entry.id)}\u0000${entry.moduleId ?? ""}`;
            if (seen.has(key)) {
              errors.push({
                deviceId: String(entry.id),
                ...(entry.moduleId ? { moduleId: String(entry.moduleId) } : {}),
                errorCode: "400011",
                errorStatus: `Device ${String(entry.id)} is defined more than once in the import file`,
              });
            } else {
              seen.add(key);
              const error = hub.importEntry(entry, { job: true });
              if (error) {
                // Default profile: the quota stops the job. Strict: the line fails with 403002 and the job goes on
                // (iot-hub-bulk-identity-mgmt#troubleshoot-import-jobs: failed devices listed with 403002 in the output blob).
                if (error.errorCode === "403002" && !hub.rules.perLineQuota) {
                  throw new JobFailure(`ErrorCode:IotHubQuotaExceeded;403002 ${error.errorStatus}`);
                }
                errors.push(error);
              }
            }
          }
        }
        sincePace += 1;
        if (sincePace >= batch) {
          job.progress = Math.min(99, Math.floor((counter.bytes / size) * 100));
          job._checkpoint = lineNo;
          this.checkFault(hub, job);
          save();
          await pace(sincePace);
          sincePace = 0;
        }
      }
    } catch (err) {
      if (err instanceof JobFailure || err instanceof HubError) {
        await this.writeErrors(output, "importErrors.log", errors).catch(() => undefined);
        throw err;
      }
      throw this.storageFailure(err, "read", String(job.inputBlobName));
    }
    if (state.cancelled) return;
    job._checkpoint = lineNo;
    if (job.includeConfigurations === true) await this.importConfigurations(hub, job, input, output);
    // The service leaves importErrors.log in the output container; it is empty when every line succeeded.
    await this.writeErrors(output, "importErrors.log", errors);
    save(true);
  }

  private async writeErrors(output: ContainerClient, name: string, errors: ImportError[]): Promise<void> {
    await this.upload(output, name, errors.map((e) => JSON.stringify(e)).join(EOL));
  }

  private async importConfigurations(hub: Hub, job: Json, input: ContainerClient, output: ContainerClient): Promise<void> {
    let text: string;
    try {
      text = (await input.getBlockBlobClient(String(job.configurationsBlobName)).downloadToBuffer()).toString("utf8");
    } catch (err) {
      throw this.storageFailure(err, "read", String(job.configurationsBlobName));
    }
    const errors: Array<{ configurationId: string; errorCode: string; errorStatus: string }> = [];
    for (const raw of text.split(/\r?\n/)) {
      if (!raw.trim()) continue;
      let config: Json;
      try {
        config = JSON.parse(raw) as Json;
      } catch {
        errors.push({ configurationId: "", errorCode: "400006", errorStatus: "Line is not valid JSON" });
        continue;
      }
      config = camelCaseKeys(config);
      const id = String(config.id ?? "");
      try {
        const strict = hub.rules.strictConfigurationLines;
        const mode = String(config.importMode ?? (strict ? "" : "createOrUpdate")).toLowerCase();
        if (strict) {
          // ConfigurationImportMode.cs knows only createOrUpdateIfMatchETag; the strict profile accepts nothing else.
          if (mode !== "createorupdateifmatchetag") throw hubError("ArgumentInvalid", `Configuration '${id}': importMode '${String(config.importMode ?? "")}' is not supported; use createOrUpdateIfMatchETag`);
          const current = hub.configurations.get(id);
          const want = typeof config.etag === "string" ? config.etag.replace(/^"|"$/g, "") : "";
          if (current && want && want !== current.etag) throw hubError("PreconditionFailed", `Configuration '${id}': etag '${want}' is not current`);
        }
        const exists = hub.configurations.has(id);
        if (mode === "delete" && !strict) hub.deleteConfiguration(id, "*");
        else if (mode === "create" && exists) throw new HubError("ConfigurationAlreadyExists", `Configuration '${id}' already exists`, 409005);
        else {
          const { importMode: _m, etag: _e, ...body } = config;
          if (exists) {
            // Re-importing an existing configuration: content is immutable, so only mutable fields are updated.
            const current = hub.getConfiguration(id);
            hub.putConfiguration(id, { ...body, content: current.content }, "*");
          } else hub.putConfiguration(id, body, undefined);
        }
      } catch (err) {
        if (!(err instanceof HubError)) throw err;
        errors.push({ configurationId: id, errorCode: String(err.code), errorStatus: err.message });
      }
    }
    await this.upload(output, "importConfigErrors.log", errors.map((e) => JSON.stringify(e)).join(EOL));
  }
}
