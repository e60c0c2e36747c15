import { randomBytes } from "crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { alreadyCopied, copyRoutedData, SOURCE_ETAG_KEY, type CopyProgress } from "../../components/operations/copy-routed-data";
import { blobServiceClient, stagingConnectionString } from "../support/local-hub";

/** What an IoT hub storage endpoint writes: `{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}` JSON batches. */
const names = Array.from({ length: 12 }, (_, i) => `contoso-hub/${i % 4}/2026/01/02/03/${String(i).padStart(2, "0")}.json`);

async function containers() {
  const id = randomBytes(4).toString("hex");
  const svc = blobServiceClient();
  const source = svc.getContainerClient(`routed-src-${id}`);
  const target = svc.getContainerClient(`routed-dst-${id}`);
  await source.create();
  const bodies = new Map<string, string>();
  for (const n of names) {
    const body = Array.from({ length: 20 }, (_, k) => JSON.stringify({ deviceId: `dev-${k}`, blob: n, t: k })).join("\n");
    bodies.set(n, body);
    await source.getBlockBlobClient(n).upload(body, Buffer.byteLength(body), { metadata: { writer: "iothub" } });
  }
  // one big batch: over the (lowered) sync limit, so it takes the asynchronous copy
  const big = "x".repeat(64 * 1024);
  bodies.set("contoso-hub/0/2026/01/02/04/00.json", big);
  await source.getBlockBlobClient("contoso-hub/0/2026/01/02/04/00.json").upload(big, big.length);
  // not under the endpoint's prefix
  await source.getBlockBlobClient("other-hub/0/x.json").upload("{}", 2);
  return { source, target, bodies };
}

const loc = (containerName: string) => ({ connectionString: stagingConnectionString(), containerName });

describe("copy-routed-data against Azurite", () => {
  let c: Awaited<ReturnType<typeof containers>>;
  beforeEach(async () => {
    c = await containers();
  });

  it("copies every blob under the prefix server-side, sync and async, with metadata and progress", async () => {
    const seen: CopyProgress[] = [];
    const r = await copyRoutedData({
      source: loc(c.source.containerName),
      target: loc(c.target.containerName),
      prefix: "contoso-hub/",
      syncCopyLimitBytes: 32 * 1024,
      pollIntervalMs: 50,
      concurrency: 3,
      onProgress: (p) => seen.push(p),
    });
    expect(r).toMatchObject({ listed: 13, copied: 13, copiedAsync: 1, skipped: 0, failed: [] });
    expect(r.bytesCopied).toBe([...c.bodies.values()].reduce((n, b) => n + Buffer.byteLength(b), 0));
    const copied: string[] = [];
    for await (const b of c.target.listBlobsFlat({ includeMetadata: true })) {
      copied.push(b.name);
      expect(b.metadata?.[SOURCE_ETAG_KEY]).toBeTruthy();
      expect((await c.target.getBlobClient(b.name).downloadToBuffer()).toString("utf8")).toBe(c.bodies.get(b.name));
    }
    expect(copied.sort()).toEqual([...c.bodies.keys()].sort());
    const small = await c.target.getBlobClient(names[0]).getProperties();
    expect(small.metadata?.writer).toBe("iothub"); // source metadata kept
    expect(seen.at(-1)).toMatchObject({ total: 13, done: 13, copied: 13 });
    expect(seen[0]).toMatchObject({ total: 13, done: 0 });
  });

  it("resumes: a rerun skips finished blobs and copies only what is new or changed", async () => {
    const opts = { source: loc(c.source.containerName), target: loc(c.target.containerName), prefix: "contoso-hub/", concurrency: 1 };
    // crash after 5 blobs (an exception out of the progress callback stops the run)
    let done = 0;
    await expect(
      copyRoutedData({
        ...opts,
        onProgress: (p) => {
          done = p.done;
          if (p.done === 5) throw new Error("killed");
        },
      }),
    ).rejects.toThrow("killed");
    expect(done).toBe(5);
    const second = await copyRoutedData(opts);
    expect(second).toMatchObject({ listed: 13, copied: 8, skipped: 5, failed: [] });

    // the endpoint writes one more batch and rewrites one (new etag): only those two are copied
    await c.source.getBlockBlobClient("contoso-hub/3/2026/01/02/05/00.json").upload("{\"late\":1}", 10);
    await c.source.getBlockBlobClient(names[1]).upload("{\"rewritten\":true}", 17);
    const third = await copyRoutedData(opts);
    expect(third).toMatchObject({ listed: 14, copied: 2, skipped: 12 });
    expect((await c.target.getBlobClient(names[1]).downloadToBuffer()).toString()).toBe("{\"rewritten\":true}");
  });

  it("--dry-run lists without writing", async () => {
    const r = await copyRoutedData({ source: loc(c.source.containerName), target: loc(c.target.containerName), dryRun: true });
    expect(r).toMatchObject({ listed: 14, copied: 14, dryRun: true });
    expect(await c.target.exists()).toBe(false);
  });

  it("refuses the same container and a missing source container with one clear line", async () => {
    await expect(copyRoutedData({ source: loc(c.source.containerName), target: loc(c.source.containerName) })).rejects.toThrow(
      "--target-container: source and target are the same container",
    );
    await expect(copyRoutedData({ source: loc("no-such-container"), target: loc(c.target.containerName) })).rejects.toThrow(
      "--source-container: container no-such-container not found",
    );
  });
});

describe("alreadyCopied (pure)", () => {
  it("needs the same length, the recorded source etag and a finished copy", () => {
    const src = { contentLength: 10, etag: '"0x8DC"' };
    expect(alreadyCopied(src, undefined)).toBe(false);
    expect(alreadyCopied(src, { contentLength: 10, metadata: { [SOURCE_ETAG_KEY]: "0x8DC" } })).toBe(true);
    expect(alreadyCopied(src, { contentLength: 10, metadata: { [SOURCE_ETAG_KEY]: "0x8DC" }, copyStatus: "pending" })).toBe(false);
    expect(alreadyCopied(src, { contentLength: 11, metadata: { [SOURCE_ETAG_KEY]: "0x8DC" } })).toBe(false);
    expect(alreadyCopied(src, { contentLength: 10, metadata: { [SOURCE_ETAG_KEY]: "0x8DD" } })).toBe(false);
  });
});
