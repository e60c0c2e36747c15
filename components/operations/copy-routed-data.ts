/**
 * `hubclone copy-routed-data`: the blobs a storage routing endpoint already wrote stay in the
 * original account when the endpoint is relocated; this copies them to the relocated account,
 * server-side (the data never passes through this machine): `syncCopyFromURL` up to the service's
 * 256 MiB limit, `beginCopyFromURL` (polled) above it. The source is read through a short-lived
 * read-only SAS. Resumable: a blob already in the target with the same length and the source etag
 * recorded in its metadata is skipped, so a rerun after a crash continues where it stopped.
 */
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type BlobItem,
  type ContainerClient,
  type UserDelegationKey,
} from "@azure/storage-blob";
import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import { UserError } from "../errors";

export interface BlobLocation {
  /** Storage connection string (secret) — or `accountUrl` with Entra ID. */
  connectionString?: string;
  accountUrl?: string;
  credential?: TokenCredential;
  containerName: string;
}

export interface CopyRoutedOptions {
  source: BlobLocation;
  target: BlobLocation;
  /** Only blobs under this prefix (e.g. `contoso-hub/` of the endpoint's fileNameFormat). */
  prefix?: string;
  /** Above this size the copy is asynchronous (beginCopyFromURL). Default and maximum: 256 MiB. */
  syncCopyLimitBytes?: number;
  /** Lifetime of the source read SAS, minutes (default 60; async copies of huge blobs may need more). */
  sasMinutes?: number;
  /** Parallel copies (default 8). */
  concurrency?: number;
  /** List what would be copied, copy nothing. */
  dryRun?: boolean;
  onProgress?: (p: CopyProgress) => void;
  /** Async copy poll interval (ms, default 2000). */
  pollIntervalMs?: number;
}

export interface CopyProgress {
  total: number;
  totalBytes: number;
  done: number;
  copied: number;
  skipped: number;
  failed: number;
  bytesCopied: number;
  /** Blob just finished (name only). */
  last?: string;
}

export interface CopyRoutedResult {
  source: string;
  target: string;
  listed: number;
  listedBytes: number;
  copied: number;
  /** Of `copied`, how many went through the asynchronous copy. */
  copiedAsync: number;
  skipped: number;
  bytesCopied: number;
  failed: Array<{ name: string; error: string }>;
  dryRun: boolean;
}

/** Metadata key on target blobs: the source etag they were copied from (resume check). */
export const SOURCE_ETAG_KEY = "hubclonesourceetag";
export const SYNC_COPY_MAX = 256 * 1024 * 1024;

/** Pure: is this target blob already a finished copy of that source blob? */
export function alreadyCopied(
  source: { contentLength?: number; etag?: string },
  target: { contentLength?: number; metadata?: Record<string, string>; copyStatus?: string } | undefined,
): boolean {
  if (!target) return false;
  if (target.copyStatus && target.copyStatus !== "success") return false;
  return target.contentLength === source.contentLength && !!source.etag && target.metadata?.[SOURCE_ETAG_KEY] === source.etag.replace(/"/g, "");
}

function serviceClient(l: BlobLocation, field: string): BlobServiceClient {
  if (l.connectionString) {
    try {
      return BlobServiceClient.fromConnectionString(l.connectionString);
    } catch {
      throw new UserError("is not a storage connection string (it needs AccountName and AccountKey parts)", `${field}-connection-string`);
    }
  }
  if (l.accountUrl) return new BlobServiceClient(l.accountUrl, l.credential ?? new DefaultAzureCredential());
  throw new UserError(`give ${field}-connection-string or ${field}-account-url`, `${field}-connection-string`);
}

/** Mints short read-only SAS URLs for source blobs: account key if we have one, else a user delegation key. */
class SourceSas {
  private delegation?: { key: UserDelegationKey; expires: Date };
  constructor(
    private readonly svc: BlobServiceClient,
    private readonly minutes: number,
  ) {}

  async url(container: ContainerClient, blobName: string): Promise<string> {
    const blob = container.getBlobClient(blobName);
    const startsOn = new Date(Date.now() - 5 * 60_000); // clock skew between us and the service
    const expiresOn = new Date(Date.now() + this.minutes * 60_000);
    const permissions = BlobSASPermissions.parse("r");
    if (this.svc.credential instanceof StorageSharedKeyCredential) {
      const sas = generateBlobSASQueryParameters({ containerName: container.containerName, blobName, permissions, startsOn, expiresOn }, this.svc.credential);
      return `${blob.url}?${sas.toString()}`;
    }
    if (!this.delegation || this.delegation.expires.getTime() < expiresOn.getTime()) {
      const expires = new Date(Date.now() + (this.minutes + 60) * 60_000);
      this.delegation = { key: await this.svc.getUserDelegationKey(startsOn, expires), expires };
    }
    const account = new URL(this.svc.url).hostname.split(".")[0];
    const sas = generateBlobSASQueryParameters({ containerName: container.containerName, blobName, permissions, startsOn, expiresOn }, this.delegation.key, account);
    return `${blob.url}?${sas.toString()}`;
  }
}


export async function copyRoutedData(o: CopyRoutedOptions): Promise<CopyRoutedResult> {
  const limit = Math.min(o.syncCopyLimitBytes ?? SYNC_COPY_MAX, SYNC_COPY_MAX);
  const srcSvc = serviceClient(o.source, "--source");
  const dstSvc = serviceClient(o.target, "--target");
  const src = srcSvc.getContainerClient(o.source.containerName);
  const dst = dstSvc.getContainerClient(o.target.containerName);
  if (src.url === dst.url && (o.prefix ?? "") === "") throw new UserError("source and target are the same container: name the relocated account's container", "--target-container");
  if (!(await src.exists())) throw new UserError(`container ${o.source.containerName} not found in the source account`, "--source-container");
  if (!o.dryRun) await dst.createIfNotExists();

  // First pass counts (names are not kept: memory stays flat however many blobs there are).
  let listed = 0;
  let listedBytes = 0;
  for await (const b of src.listBlobsFlat({ prefix: o.prefix })) {
    listed++;
    listedBytes += b.properties.contentLength ?? 0;
  }
  const result: CopyRoutedResult = {
    source: `${src.accountName}/${src.containerName}`,
    target: `${dst.accountName}/${dst.containerName}`,
    listed,
    listedBytes,
    copied: 0,
    copiedAsync: 0,
    skipped: 0,
    bytesCopied: 0,
    failed: [],
    dryRun: !!o.dryRun,
  };
  const progress = (last?: string) =>
    o.onProgress?.({
      total: listed,
      totalBytes: listedBytes,
      done: result.copied + result.skipped + result.failed.length,
      copied: result.copied,
      skipped: result.skipped,
      failed: result.failed.length,
      bytesCopied: result.bytesCopied,
      last,
    });
  progress();
  const sas = new SourceSas(srcSvc, o.sasMinutes ?? 60);

  const copyOne = async (b: BlobItem): Promise<void> => {
    const target = dst.getBlobClient(b.name);
    const existing = await target.getProperties().catch((e: { statusCode?: number }) => {
      if (e.statusCode === 404) return undefined;
      throw e;
    });
    if (alreadyCopied({ contentLength: b.properties.contentLength, etag: b.properties.etag }, existing)) {
      result.skipped++;
      return;
    }
    if (o.dryRun) {
      result.copied++;
      return;
    }
    const url = await sas.url(src, b.name);
    const metadata = { ...(b.metadata ?? {}), [SOURCE_ETAG_KEY]: (b.properties.etag ?? "").replace(/"/g, "") };
    const size = b.properties.contentLength ?? 0;
    if (size <= limit) {
      // Only block blobs can be copied synchronously; routing endpoints write block blobs.
      await target.syncCopyFromURL(url, { metadata });
    } else {
      const poller = await target.beginCopyFromURL(url, { metadata, intervalInMs: o.pollIntervalMs ?? 2000 });
      await poller.pollUntilDone();
      result.copiedAsync++;
    }
    result.copied++;
    result.bytesCopied += size;
  };

  // Bounded worker pool over the (second) streaming listing.
  const it = src.listBlobsFlat({ prefix: o.prefix, includeMetadata: true })[Symbol.asyncIterator]();
  const worker = async () => {
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      const b = next.value;
      try {
        await copyOne(b);
      } catch (e) {
        const err = e as { statusCode?: number; code?: string; message?: string };
        result.failed.push({ name: b.name, error: `${err.statusCode ?? ""} ${err.code ?? ""} ${(err.message ?? String(e)).split("\n")[0]}`.trim() });
      }
      progress(b.name);
    }
  };
  // The listing iterator is shared: serialise its next() calls so pages are fetched once.
  let chain = Promise.resolve() as Promise<unknown>;
  const origNext = it.next.bind(it);
  it.next = () => {
    const p = chain.then(() => origNext());
    chain = p.catch(() => undefined);
    return p;
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 8) }, worker));
  return result;
}
