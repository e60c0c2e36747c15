/**
 * The private staging container: job SAS URLs, streaming line reads and writes, the checkpoint
 * blob and cleanup. Export and import blobs hold every device key, so they live only here, for the
 * length of a run, and the SAS tokens that reach the hubs are minted per job and never stored.
 */
import { randomUUID } from "crypto";
import { StringDecoder } from "string_decoder";
import {
  BlobServiceClient,
  BlockBlobClient,
  ContainerClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { UserError } from "../errors";
import { redact } from "../secrets";
import { errorStatus, sleep, withRetry } from "./retry";
import type { StagingOptions } from "./types";

export interface Staging {
  container: ContainerClient;
  options: StagingOptions;
  mode: "keyBased" | "identityBased";
}

/** Opens (and creates, private, when missing) the staging container. Validates the options first. */
export async function openStaging(o: StagingOptions, log?: (l: string) => void): Promise<Staging> {
  if (!o || typeof o.containerName !== "string" || !/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(o.containerName)) {
    throw new UserError("must be 3-63 lowercase letters, digits or single hyphens, starting and ending with a letter or digit", "staging.containerName");
  }
  if (o.authentication !== undefined && o.authentication !== "keyBased" && o.authentication !== "identityBased") {
    throw new UserError(`'${String(o.authentication)}' is not supported; use keyBased or identityBased`, "staging.authentication");
  }
  const mode = o.authentication ?? (o.connectionString ? "keyBased" : "identityBased");
  let service: BlobServiceClient;
  if (mode === "keyBased" && !o.connectionString) throw new UserError("key-based staging needs the storage account connection string; pass it, or set authentication to identityBased with accountUrl", "staging.connectionString");
  if (o.connectionString) {
    // Key-based: the engine mints per-job SAS tokens from the account key, so it needs one.
    // Identity-based with a connection string: the hubs use their identity, the engine this string.
    if (mode === "keyBased" && !/AccountKey=/i.test(o.connectionString)) {
      const se = /[?;&]se=([^&;]+)/i.exec(o.connectionString)?.[1];
      const expiry = se ? Date.parse(decodeURIComponent(se)) : NaN;
      if (Number.isFinite(expiry) && expiry <= Date.now()) {
        throw new UserError(`the SAS in the connection string expired at ${new Date(expiry).toISOString()}; give the account's key connection string (the engine mints short-lived per-job SAS tokens itself) or use identityBased`, "staging.connectionString");
      }
      throw new UserError("has no AccountKey, so no per-job SAS can be minted for the hubs; give the account's key connection string (with AccountName and AccountKey) or use identityBased", "staging.connectionString");
    }
    try {
      service = BlobServiceClient.fromConnectionString(o.connectionString);
    } catch {
      throw new UserError("is not a storage connection string (it needs DefaultEndpointsProtocol, AccountName and AccountKey)", "staging.connectionString");
    }
  } else {
    if (!o.accountUrl) throw new UserError("identity-based staging needs the account URL (https://<account>.blob.core.windows.net)", "staging.accountUrl");
    if (!/^https?:\/\/[^\s/?#]+/.test(o.accountUrl) || /[?&]sig=/i.test(o.accountUrl)) throw new UserError("must be the account's blob endpoint without a SAS, e.g. https://<account>.blob.core.windows.net", "staging.accountUrl");
    const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
    service = new BlobServiceClient(o.accountUrl, o.credential ?? new DefaultAzureCredential());
  }
  const container = service.getContainerClient(o.containerName);
  try {
    await withRetry(() => container.createIfNotExists(), { what: "create staging container", log });
    const access = await withRetry(() => container.getAccessPolicy(), { what: "read staging container policy", log });
    if (access.blobPublicAccess) throw new UserError(`container allows public access (${access.blobPublicAccess}); device keys pass through it: make it private`, "staging.containerName");
  } catch (err) {
    throw stagingError(err, "open the staging container");
  }
  return { container, options: o, mode };
}

/** Storage failures the user can fix, as one line naming the field. */
export function stagingError(err: unknown, what: string): Error {
  if (err instanceof UserError) return err;
  const status = errorStatus(err);
  const code = (err as { code?: string }).code;
  if (status === 403 || status === 401) return new UserError(`cannot ${what}: access denied (${code ?? status}); check the account key, or the identity's Storage Blob Data Contributor role`, "staging.connectionString");
  if (code === "ENOTFOUND" || code === "ECONNREFUSED" || code === "EAI_AGAIN") return new UserError(`cannot ${what}: storage account unreachable (${code}); check the account name/endpoint`, "staging.connectionString");
  if (err instanceof Error) {
    err.message = redact(err.message);
  }
  return err as Error;
}

/** A container URL the hub can use for one job: a SAS with only `permissions`, valid until `expiresOn`. */
export function jobContainerUrl(s: Staging, permissions: "r" | "rwd", expiresOn: Date): string {
  if (s.mode === "identityBased") return s.container.url;
  const cred = s.container.credential;
  if (!(cred instanceof StorageSharedKeyCredential)) throw new UserError("key-based staging needs an AccountKey in the connection string", "staging.connectionString");
  const sas = generateBlobSASQueryParameters(
    {
      containerName: s.container.containerName,
      permissions: ContainerSASPermissions.parse(permissions),
      startsOn: new Date(Date.now() - 5 * 60_000), // clock skew between this machine and storage
      expiresOn,
      protocol: s.container.url.startsWith("https:") ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
    },
    cred,
  ).toString();
  return `${s.container.url}?${sas}`;
}

/** Streams a blob line by line (bounded memory; the SDK resumes broken downloads). */
export async function* readBlobLines(s: Staging, blobName: string, field = "staging blob"): AsyncGenerator<string> {
  for await (const batch of readBlobLineBatches(s, blobName, field)) yield* batch;
}

/** The same, a downloaded chunk's worth of lines at a time: one await per chunk instead of per line on the hot path. */
export async function* readBlobLineBatches(s: Staging, blobName: string, field = "staging blob"): AsyncGenerator<string[]> {
  const body = await openBlobStream(s, blobName, field);
  if (!body) return;
  yield* splitLineBatches(body);
}

/** A blob's bytes as a stream (the SDK resumes broken downloads); a missing blob is one clear error. */
export async function openBlobStream(s: Staging, blobName: string, field = "staging blob"): Promise<AsyncIterable<Buffer> | undefined> {
  const blob = s.container.getBlobClient(blobName);
  try {
    const res = await withRetry(() => blob.download(0, undefined, { maxRetryRequests: 5 }), { what: `read ${blobName}` });
    return res.readableStreamBody as AsyncIterable<Buffer> | undefined;
  } catch (err) {
    if (errorStatus(err) === 404) throw new UserError(`blob ${blobName} is missing from container ${s.container.containerName}; rerun the step that writes it`, field);
    throw stagingError(err, `read ${blobName}`);
  }
}

/**
 * Lines of a byte stream, chunk by chunk (UTF-8 split across chunks, CRLF, a BOM on the first line,
 * blank lines skipped). Synchronous and stateful.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private carry = "";
  private first = true;

  private clean(raw: string): string | undefined {
    let line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (this.first) {
      this.first = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1); // a UTF-8 BOM on the first line
    }
    return line.trim().length > 0 ? line : undefined;
  }

  /** The complete lines a chunk finished. */
  push(chunk: Uint8Array | string): string[] {
    const carry = this.carry + (typeof chunk === "string" ? chunk : this.decoder.write(chunk as Buffer));
    const batch: string[] = [];
    let start = 0;
    for (let nl = carry.indexOf("\n", start); nl >= 0; nl = carry.indexOf("\n", start)) {
      const line = this.clean(carry.slice(start, nl));
      start = nl + 1;
      if (line !== undefined) batch.push(line);
    }
    this.carry = carry.slice(start);
    return batch;
  }

  /** The last line (no final newline), at the end of the stream. */
  end(): string[] {
    const last = this.clean(this.carry + this.decoder.end());
    this.carry = "";
    return last === undefined ? [] : [last];
  }
}

/**
 * Lines of a byte stream, pulled chunk by chunk. readline's async iterator is not used: it keeps
 * reading (and queueing lines) while the consumer awaits, so a slow consumer — an upload waiting
 * on back-pressure — let a whole export pile up in memory. Pulling from the stream's own async
 * iterator reads the next chunk only when the previous lines were taken.
 */
export async function* splitLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  for await (const batch of splitLineBatches(input)) yield* batch;
}

export async function* splitLineBatches(input: AsyncIterable<Buffer | string>): AsyncGenerator<string[]> {
  const splitter = new LineSplitter();
  for await (const chunk of input) {
    const batch = splitter.push(chunk);
    if (batch.length > 0) yield batch;
  }
  const last = splitter.end();
  if (last.length > 0) yield last;
}

export async function blobExists(s: Staging, blobName: string): Promise<boolean> {
  return withRetry(() => s.container.getBlobClient(blobName).exists(), { what: `check ${blobName}` });
}

export async function blobSize(s: Staging, blobName: string): Promise<number> {
  const p = await withRetry(() => s.container.getBlobClient(blobName).getProperties(), { what: `size of ${blobName}` });
  return p.contentLength ?? 0;
}

/** Block size and blocks in flight of a BlobLineWriter. */
export interface BlockOptions {
  /** Bytes per block (default 4 MiB: fewer, larger requests cost the storage service less per byte; 50,000 blocks allow 200 GiB). */
  blockSize?: number;
  /** Blocks uploading at once (default 2). Memory is fixed: (concurrency + 1) block buffers, reused. */
  concurrency?: number;
}

/**
 * Writes lines into a block blob: lines are encoded straight into a few block buffers that are
 * staged (Put Block) as they fill and reused once uploaded; `close` commits the block list.
 * `uploadStream` would do the staging, but it copies every byte twice more (our chunk → its
 * stream → its pooled block) and leaves a buffer of garbage per chunk, which cost the transform
 * pass a full garbage collection every few megabytes; this fills the one gap, writing in place.
 * The SDK's pipeline retries each Put Block (its body is a Buffer, so it can be sent again).
 */
export class BlobLineWriter {
  private readonly client: BlockBlobClient;
  private readonly blockSize: number;
  private readonly concurrency: number;
  /** Same-length block ids (the service requires it): a per-writer prefix and a sequence number. */
  private readonly idPrefix = randomUUID();
  private readonly blockIds: string[] = [];
  private readonly free: Buffer[] = [];
  private current: Buffer | undefined;
  private pos = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private waiters: Array<() => void> = [];
  private failed: unknown;
  private ended = false;
  lines = 0;
  bytes = 0;

  constructor(s: Staging, readonly blobName: string, opts: BlockOptions = {}) {
    this.client = s.container.getBlockBlobClient(blobName);
    this.blockSize = opts.blockSize ?? 4 << 20;
    this.concurrency = Math.max(1, opts.concurrency ?? 2);
  }

  /** Returns a promise only when blocks are waiting to upload (await it: back-pressure); otherwise nothing to wait for. */
  write(line: string): Promise<void> | undefined {
    this.check();
    this.lines++;
    // UTF-8 needs at most 3 bytes per UTF-16 unit: reserve that, or encode a very long line apart.
    const most = 3 * line.length + 1;
    if (most > this.blockSize) return this.append(Buffer.from(line + "\n", "utf8"));
    let staged = false;
    if (this.current && this.pos + most > this.blockSize) {
      this.stage();
      staged = true;
    }
    const block = this.block();
    this.pos += block.write(line, this.pos, "utf8");
    block[this.pos++] = 10;
    if (this.pos >= this.blockSize) {
      this.stage();
      staged = true;
    }
    return staged ? this.backPressure() : undefined;
  }

  /** Ready-made UTF-8 bytes of `lines` whole lines, each ending in "\n" (the transform worker's output); copied, so the caller may reuse them. */
  writeBytes(bytes: Uint8Array, lines: number): Promise<void> | undefined {
    this.check();
    this.lines += lines;
    return this.append(bytes);
  }

  private append(bytes: Uint8Array): Promise<void> | undefined {
    let at = 0;
    let staged = false;
    while (at < bytes.length) {
      const block = this.block();
      const n = Math.min(bytes.length - at, this.blockSize - this.pos);
      block.set(bytes.subarray(at, at + n), this.pos);
      this.pos += n;
      at += n;
      if (this.pos >= this.blockSize) {
        this.stage();
        staged = true;
      }
    }
    return staged ? this.backPressure() : undefined;
  }

  private check(): void {
    if (this.failed) throw this.failed;
    if (this.ended) throw new Error(`${this.blobName}: written after close`);
  }

  private block(): Buffer {
    if (!this.current) {
      this.current = this.free.pop() ?? Buffer.allocUnsafe(this.blockSize);
      this.pos = 0;
    }
    return this.current;
  }

  /** Uploads the current block (not yet committed) and frees its buffer for reuse when done. */
  private stage(): void {
    const buf = this.current;
    const length = this.pos;
    this.current = undefined;
    this.pos = 0;
    if (!buf || length === 0) {
      if (buf) this.free.push(buf);
      return;
    }
    const id = Buffer.from(`${this.idPrefix}-${String(this.blockIds.length).padStart(6, "0")}`).toString("base64");
    this.blockIds.push(id);
    this.bytes += length;
    const task: Promise<void> = this.client.stageBlock(id, buf.subarray(0, length), length).then(
      () => {
        this.inFlight.delete(task);
        // Keep at most concurrency + 1 buffers (in flight, free, the one filling); an extra one (writes that did not wait) is dropped.
        if (!this.ended && this.free.length + this.inFlight.size + (this.current ? 1 : 0) < this.concurrency + 1) this.free.push(buf);
        this.wake();
      },
      (err: unknown) => {
        this.inFlight.delete(task);
        this.failed ??= err;
        this.wake();
      },
    );
    this.inFlight.add(task);
  }

  private wake(): void {
    if (this.inFlight.size >= this.concurrency && !this.failed) return;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  private backPressure(): Promise<void> | undefined {
    if (this.inFlight.size < this.concurrency && !this.failed) return undefined;
    return new Promise<void>((r) => this.waiters.push(r)).then(() => {
      if (this.failed) throw this.failed;
    });
  }

  /** Uploads what is left and commits the blob (an empty blob when nothing was written). */
  async close(): Promise<void> {
    this.check();
    this.stage();
    this.ended = true;
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    if (this.failed) throw this.failed;
    await withRetry(() => this.client.commitBlockList(this.blockIds, { blobHTTPHeaders: { blobContentType: "application/x-ndjson; charset=utf-8" } }), { what: `write ${this.blobName}` });
    this.free.length = 0;
  }

  /**
   * Stops writing and removes what was uploaded: staged blocks hold device keys too, and
   * uncommitted blocks are invisible to a listing (so to the cleanup) for days. They are committed
   * and the blob deleted, which takes them with it. Best effort; never throws.
   */
  async discard(): Promise<void> {
    this.ended = true;
    this.current = undefined;
    this.free.length = 0;
    const removal = (async () => {
      await Promise.allSettled([...this.inFlight]);
      if (this.blockIds.length === 0) return;
      await this.client.commitBlockList(this.blockIds);
      await this.client.deleteIfExists({ deleteSnapshots: "include" });
    })().catch(() => undefined); // left to the service's uncommitted-block lifetime
    // Storage may be what failed: the caller's error is not held up for long by this.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([removal, new Promise<void>((r) => (timer = setTimeout(r, 30_000)).unref())]);
    clearTimeout(timer);
  }
}

export async function writeJsonBlob(s: Staging, blobName: string, value: unknown): Promise<void> {
  const text = JSON.stringify(value);
  await withRetry(() => s.container.getBlockBlobClient(blobName).upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: "application/json" } }), { what: `write ${blobName}` });
}

export async function readJsonBlob<T>(s: Staging, blobName: string): Promise<T | undefined> {
  try {
    const buf = await withRetry(() => s.container.getBlobClient(blobName).downloadToBuffer(), { what: `read ${blobName}` });
    return JSON.parse(buf.toString("utf8")) as T;
  } catch (err) {
    if (errorStatus(err) === 404) return undefined;
    throw stagingError(err, `read ${blobName}`);
  }
}

export async function deleteBlob(s: Staging, blobName: string): Promise<boolean> {
  const r = await withRetry(() => s.container.getBlobClient(blobName).deleteIfExists({ deleteSnapshots: "include" }), { what: `delete ${blobName}` });
  return r.succeeded;
}

/** Deletes every blob under `prefix`; returns how many. */
/**
 * Deletes every blob under the prefix, including names that hold only uncommitted blocks: a run
 * killed while a writer was uploading leaves its staged blocks (device keys) behind, and a plain
 * listing does not show them. Such a name cannot be deleted as it is (there is no blob yet), so an
 * empty block list is committed first, which discards every uncommitted block, then the empty
 * blob is deleted.
 */
export async function deletePrefix(s: Staging, prefix: string, keep: (name: string) => boolean = () => false): Promise<number> {
  let n = 0;
  const uncommitted: string[] = [];
  for await (const b of s.container.listBlobsFlat({ prefix, includeUncommitedBlobs: true })) {
    if (keep(b.name)) continue;
    if (await deleteBlob(s, b.name)) n++;
    else uncommitted.push(b.name);
  }
  for (const name of uncommitted) {
    await withRetry(() => s.container.getBlockBlobClient(name).commitBlockList([]), { what: `discard the uncommitted blocks of ${name}` });
    if (await deleteBlob(s, name)) n++;
  }
  return n;
}

export async function listNames(s: Staging, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const b of s.container.listBlobsFlat({ prefix })) names.push(b.name);
  return names;
}

/**
 * One run per runId at a time: a 15-second blob lease on `runs/<runId>/lock`, renewed every 5 s
 * while the run lives. A killed run's lease lapses by itself, so its rerun waits at most 15 s; a
 * second live run with the same runId waits instead of racing the first one's jobs and blobs.
 */
export async function acquireRunLock(s: Staging, blobName: string, o: { deadline: number; log?: (l: string) => void; signal?: AbortSignal }): Promise<{ release: () => Promise<void> }> {
  const blob = s.container.getBlockBlobClient(blobName);
  if (!(await blob.exists())) await withRetry(() => blob.upload("", 0, { conditions: { ifNoneMatch: "*" } }).catch((err) => (errorStatus(err) === 409 || errorStatus(err) === 412 ? undefined : Promise.reject(err))), { what: "create run lock" });
  const lease = blob.getBlobLeaseClient();
  let logged = false;
  for (;;) {
    try {
      await lease.acquireLease(15);
      break;
    } catch (err) {
      if (errorStatus(err) !== 409) throw stagingError(err, "lock the run");
      if (Date.now() > o.deadline) throw new UserError("another run with this runId is still active (its lock is held); wait for it to finish, or use another runId", "runId");
      if (!logged) o.log?.("devices: another run with this runId holds its lock; waiting for it (a killed run's lock lapses within 15 s)");
      logged = true;
      await sleep(1000, o.signal);
    }
  }
  const timer = setInterval(() => {
    lease.renewLease().catch(() => o.log?.("devices: could not renew the run lock"));
  }, 5000);
  timer.unref();
  return {
    release: async () => {
      clearInterval(timer);
      await lease.releaseLease().catch(() => undefined);
    },
  };
}
