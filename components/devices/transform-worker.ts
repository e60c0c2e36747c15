/**
 * worker_threads entry of the transform pass: reads and transforms batches of whole export lines,
 * so the engine's thread keeps only the I/O (download, uploads, manifest) and never makes a string
 * per line. Messages, in order, for one pass:
 *   `{ id, chunk, mode, withKeys }` → `{ id, batch }` (transform-batch.ts; arrays transferred)
 *   `{ recycle }`: an output buffer the engine is done with, reused for a later batch.
 * `{ ready: true }` is posted once loaded.
 */
import { parentPort } from "worker_threads";
import { transformBatch } from "./transform-batch";
import type { ImportMode } from "./types";

/** Output buffers the engine has sent back: reused, at most a few kept. */
const free: ArrayBuffer[] = [];
const output = (size: number): Uint8Array => {
  const i = free.findIndex((b) => b.byteLength >= size);
  const buf = i >= 0 ? free.splice(i, 1)[0] : new ArrayBuffer(Math.max(size, 1 << 20));
  return new Uint8Array(buf, 0, size);
};

type Message = { id: number; chunk: Uint8Array; mode: ImportMode | "update"; withKeys: boolean } | { recycle: ArrayBuffer };

parentPort?.on("message", (m: Message) => {
  if ("recycle" in m) {
    if (free.length < 4) free.push(m.recycle);
    return;
  }
  const batch = transformBatch(m.chunk, m.mode, m.withKeys, output);
  const transfer = [batch.kinds.buffer, batch.hashes.buffer, batch.bytes.buffer, batch.ends.buffer] as ArrayBuffer[];
  parentPort!.postMessage({ id: m.id, batch }, transfer);
});
parentPort?.postMessage({ ready: true });
