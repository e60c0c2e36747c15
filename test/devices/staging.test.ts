/**
 * The staging writer against Azurite: what it writes is exactly what was given, across block
 * boundaries, and a discarded write leaves nothing behind, committed or not.
 */
import { describe, expect, it } from "vitest";
import { BlobLineWriter, deletePrefix, openStaging } from "../../components/devices/staging";
import { stagingConnectionString } from "../support/local-hub";
import { uniqueContainer } from "./engine-fixtures";

async function text(s: Awaited<ReturnType<typeof openStaging>>, name: string): Promise<string> {
  return (await s.container.getBlobClient(name).downloadToBuffer()).toString("utf8");
}

/** Every blob in the container, uncommitted ones included (a plain listing does not show those). */
async function allBlobs(s: Awaited<ReturnType<typeof openStaging>>): Promise<string[]> {
  const names: string[] = [];
  for await (const b of s.container.listBlobsFlat({ includeUncommitedBlobs: true })) names.push(b.name);
  return names;
}

describe("BlobLineWriter", () => {
  it("writes lines and ready-made bytes in order across block boundaries (multi-byte characters, a line longer than a block)", async () => {
    const s = await openStaging({ connectionString: stagingConnectionString(), containerName: uniqueContainer() });
    const w = new BlobLineWriter(s, "out.txt", { blockSize: 64, concurrency: 2 });
    let want = "";
    for (let i = 0; i < 200; i++) {
      const line = i % 3 === 0 ? `{"id":"dev-${i}","tags":{"site":"Zürich – 東京 🚀"}}` : `plain ${i}`;
      want += line + "\n";
      await w.write(line);
      if (i % 17 === 0) {
        const chunk = `bytes ${i} ✓\nmore ${i}\n`;
        want += chunk;
        // Reused by the caller as soon as the call returns: the writer must have copied it.
        const buf = Buffer.from(chunk, "utf8");
        const wait = w.writeBytes(buf, 2);
        buf.fill(0x21);
        await wait;
      }
    }
    const long = "x".repeat(500) + "é";
    want += long + "\n";
    await w.write(long);
    await w.close();
    expect(await text(s, "out.txt")).toBe(want);
    expect(w.lines).toBe(want.split("\n").length - 1);
    expect(w.bytes).toBe(Buffer.byteLength(want));
    const blocks = await s.container.getBlockBlobClient("out.txt").getBlockList("committed");
    expect(blocks.committedBlocks!.length).toBeGreaterThan(10);
    for (const b of blocks.committedBlocks!) expect(b.size).toBeLessThanOrEqual(64);
    await s.container.delete();
  });

  it("an empty writer still commits an (empty) blob, which the next step can read", async () => {
    const s = await openStaging({ connectionString: stagingConnectionString(), containerName: uniqueContainer() });
    const w = new BlobLineWriter(s, "empty.txt");
    await w.close();
    expect(await text(s, "empty.txt")).toBe("");
    await s.container.delete();
  });

  it("discard removes the blocks already uploaded (they hold device keys) and the blob, leaving nothing listed", async () => {
    const s = await openStaging({ connectionString: stagingConnectionString(), containerName: uniqueContainer() });
    const w = new BlobLineWriter(s, "partial.txt", { blockSize: 32, concurrency: 2 });
    for (let i = 0; i < 40; i++) await w.write(`{"id":"d${i}","primaryKey":"secret-${i}"}`);
    expect(await allBlobs(s)).toEqual(["partial.txt"]); // uncommitted blocks are there
    await w.discard();
    expect(await allBlobs(s)).toEqual([]);
    expect(() => w.write("late")).toThrow(/after close/);
    await s.container.delete();
  });

  it("deletePrefix also removes what a killed writer left: names holding only uncommitted blocks, beside committed blobs", async () => {
    const s = await openStaging({ connectionString: stagingConnectionString(), containerName: uniqueContainer() });
    const done = new BlobLineWriter(s, "runs/r1/g1/source/devices.txt");
    await done.write('{"id":"d0","primaryKey":"secret-0"}');
    await done.close();
    // A writer whose process died: blocks uploaded, never committed, nothing to call discard.
    const killed = new BlobLineWriter(s, "runs/r1/g1/import/devices.txt", { blockSize: 32, concurrency: 1 });
    for (let i = 0; i < 10; i++) await killed.write(`{"id":"d${i}","primaryKey":"secret-${i}"}`);
    const other = new BlobLineWriter(s, "runs/r2/keep.txt");
    await other.close();
    expect((await allBlobs(s)).sort()).toEqual(["runs/r1/g1/import/devices.txt", "runs/r1/g1/source/devices.txt", "runs/r2/keep.txt"]);
    expect(await deletePrefix(s, "runs/r1/")).toBe(2);
    expect(await allBlobs(s)).toEqual(["runs/r2/keep.txt"]);
    await s.container.delete();
  });

  it("a failed upload surfaces at the next write or at close, instead of a blob missing its middle", async () => {
    const s = await openStaging({ connectionString: stagingConnectionString(), containerName: uniqueContainer() });
    const w = new BlobLineWriter(s, "lost.txt", { blockSize: 32, concurrency: 1 });
    await w.write("first line, long enough to fill a block");
    await s.container.delete(); // the next Put Block fails (404)
    const attempt = async () => {
      for (let i = 0; i < 20; i++) await w.write(`line ${i} of some length`);
      await w.close();
    };
    await expect(attempt()).rejects.toMatchObject({ statusCode: 404 });
  });
});
