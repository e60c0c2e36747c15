/**
 * Runs the transform pass's CPU work (transform-batch.ts) in one worker thread, a few batches ahead
 * of the engine's thread, so parsing overlaps with the download and the uploads (two cores instead
 * of one). Bounded: at most `depth` batches are in flight (back-pressure on the download), and the
 * worker's heap is capped. No library offers an ordered, bounded, fall-back-capable map over a
 * worker; this is the small piece that fills that gap.
 *
 * The worker file sits next to this one: `transform-worker.js` when compiled (the Pulumi provider
 * host loading bin/), `transform-worker.ts` under tsx/ts-node/vitest, loaded through whichever of
 * tsx or ts-node is installed. Whenever no worker can run (no loader, a start-up error, a crash),
 * batches are transformed in this thread instead, with the same function: same output, slower.
 */
import * as fs from "fs";
import * as path from "path";
import type { Worker } from "worker_threads";
import { transformBatch, TransformBatch } from "./transform-batch";
import type { ImportMode } from "./types";

let bundled: string | undefined;

/**
 * Worker source for the TypeScript worker file (no compiled JS next to it: tsx, ts-node, vitest).
 * Preferred: one esbuild bundle of the worker and the pure modules it needs (esbuild comes with
 * tsx; ~50 ms once per process), so the worker is a bare isolate — loading a TypeScript loader
 * inside it cost more CPU and memory than the pass it served at 20,000 devices. Else tsx's or
 * ts-node's register hook inside the worker.
 */
function tsWorkerSource(file: string): string | undefined {
  if (bundled) return bundled;
  try {
    const esbuild = require("esbuild") as { buildSync(o: object): { outputFiles: Array<{ text: string }> } };
    const r = esbuild.buildSync({ entryPoints: [file], bundle: true, platform: "node", format: "cjs", target: "node18", write: false, logLevel: "silent" });
    bundled = r.outputFiles[0].text;
    return bundled;
  } catch {
    // no esbuild: a loader inside the worker
  }
  const loaders: string[] = [];
  for (const [mod, call] of [["tsx/cjs/api", ".register()"], ["ts-node", ".register({ transpileOnly: true, compilerOptions: { module: 'commonjs' } })"]] as const) {
    try {
      loaders.push(`try { require(${JSON.stringify(require.resolve(mod))})${call}; ok = true; } catch {}`);
    } catch {
      // not installed
    }
  }
  if (loaders.length === 0) return undefined;
  return `let ok = false;\n${loaders.map((l) => `if (!ok) ${l}`).join("\n")}\nrequire(${JSON.stringify(file)});`;
}

/**
 * The export's bytes regrouped into buffers of their own (transferable to the worker) of about
 * `size` bytes (the first ones smaller), each ending after a newline (the last one: at the end of
 * the stream), so each batch holds whole lines and needs nothing from the one before. A UTF-8 BOM
 * is dropped.
 */
export async function* lineChunks(input: AsyncIterable<Uint8Array>, size = 256 * 1024): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let n = 0;
  let first = true;
  /** Copies this function made (their buffers are ours to hand over), not download chunks. */
  const own = new WeakSet<Uint8Array>();
  const whole = (): Uint8Array => {
    let all = parts.length === 1 && own.has(parts[0]) ? parts[0] : concat(parts, n);
    own.add(all);
    if (first && all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf) all = all.subarray(3);
    first = false;
    return all;
  };
  // The first batches are smaller, so the worker starts (and warms up) while the rest downloads.
  let target = Math.min(size, 64 * 1024);
  for await (const c of input) {
    parts.push(c);
    n += c.length;
    if (n < target) continue;
    target = Math.min(size, 2 * target);
    const all = whole();
    const cut = all.lastIndexOf(10) + 1;
    if (cut === 0) {
      // No line end yet (a line longer than `size`): keep reading.
      parts = [all];
      own.add(all);
      n = all.length;
      continue;
    }
    const rest = all.slice(cut); // a copy: `all`'s buffer goes to the worker
    own.add(rest);
    yield all.subarray(0, cut);
    parts = rest.length > 0 ? [rest] : [];
    n = rest.length;
  }
  if (n > 0) yield whole();
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export class TransformPool {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: TransformBatch) => void; reject: (e: Error) => void }>();
  private started = false;
  private readonly whenReady: Promise<boolean>;
  private failure: Error | undefined;
  /** Where the batches went (for the log line and the tests). */
  readonly stats = { worker: 0, inThread: 0 };

  /**
   * `withKeys`: also return each line's key (a sync with keys to send again whatever the manifest says).
   * HUBCLONE_TRANSFORM_WORKER=0 keeps everything in this thread.
   */
  constructor(private readonly mode: ImportMode | "update", private readonly withKeys = false, useWorker = process.env.HUBCLONE_TRANSFORM_WORKER !== "0") {
    this.whenReady = useWorker ? this.start() : Promise.resolve(false);
  }

  private start(): Promise<boolean> {
    return new Promise<boolean>((ready) => {
      try {
        const { Worker } = require("worker_threads") as typeof import("worker_threads");
        const js = path.join(__dirname, "transform-worker.js");
        const ts = path.join(__dirname, "transform-worker.ts");
        // Small heap: the worker holds one chunk's lines at a time.
        const resourceLimits = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 };
        let w: Worker;
        if (__filename.endsWith(".js") && fs.existsSync(js)) w = new Worker(js, { resourceLimits });
        else {
          const src = fs.existsSync(ts) ? tsWorkerSource(ts) : undefined;
          if (!src) return ready(false);
          w = new Worker(src, { eval: true, resourceLimits });
        }
        // Loading (esbuild or a TypeScript loader) must not hold the pass up for long.
        const timer = setTimeout(() => {
          void w.terminate();
          ready(false);
        }, 15_000);
        w.on("message", (m: { id: number; batch: TransformBatch; ready?: true }) => {
          if (m.ready) {
            clearTimeout(timer);
            this.worker = w;
            return ready(true);
          }
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          this.stats.worker++;
          p.resolve(m.batch);
        });
        const fail = (err?: unknown) => {
          clearTimeout(timer);
          this.worker = undefined;
          // The batches in flight went to the worker with their bytes: the pass cannot go on from here in this thread.
          this.failure = new Error(`the transform worker stopped (${err instanceof Error ? err.message : "exit"}); rerun with the same runId to redo the transform (HUBCLONE_TRANSFORM_WORKER=0 runs it without a worker)`);
          for (const p of this.pending.values()) p.reject(this.failure);
          this.pending.clear();
          ready(false);
        };
        w.on("error", fail);
        w.on("exit", () => fail());
        this.exiting = w;
      } catch {
        ready(false);
      }
    });
  }
  private exiting: Worker | undefined;

  /** Resolves once it is decided where batches run (true: the worker). Called before the first chunk. */
  async ready(): Promise<boolean> {
    const ok = await this.whenReady;
    this.started = true;
    return ok;
  }

  /** One batch of whole lines (a buffer of its own: it goes to the worker). */
  private submit(chunk: Uint8Array): Promise<TransformBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.worker) {
      this.stats.inThread++;
      return Promise.resolve(transformBatch(chunk, this.mode, this.withKeys));
    }
    const id = this.nextId++;
    return new Promise<TransformBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ id, chunk, mode: this.mode, withKeys: this.withKeys }, [chunk.buffer as ArrayBuffer]);
    });
  }

  /**
   * Ordered map over the export's bytes with up to `depth` batches in flight: the next batches are
   * read and handed over while the caller writes the current result. `chunk`: bytes per batch
   * (the tests use tiny ones).
   */
  async *map(bytes: AsyncIterable<Uint8Array>, o: { depth?: number; chunk?: number } = {}): AsyncGenerator<TransformBatch> {
    if (!this.started) await this.ready();
    const depth = o.depth ?? 3;
    const it = lineChunks(bytes, o.chunk)[Symbol.asyncIterator]();
    const queue: Array<Promise<TransformBatch>> = [];
    let done = false;
    let next = await it.next();
    const fill = async () => {
      while (!done && queue.length < depth) {
        if (next.done) {
          done = true;
          queue.push(this.submit(new Uint8Array(0)));
          break;
        }
        const cur = next.value;
        next = await it.next();
        queue.push(this.submit(cur));
        if (next.done) done = true;
      }
    };
    try {
      await fill();
      while (queue.length > 0) {
        const head = queue.shift()!;
        yield await head;
        await fill();
      }
    } finally {
      if (!done) await it.return?.(undefined);
      // Settle what is left so no rejection goes unhandled.
      for (const p of queue) p.catch(() => undefined);
    }
  }

  /**
   * The caller is done with a batch's bytes (the writers copied what they keep): its buffer goes
   * back to the worker for reuse, so a bounded set of buffers circulates.
   */
  recycle(batch: TransformBatch): void {
    const buf = batch.bytes.buffer;
    if (!this.worker || !(buf instanceof ArrayBuffer) || buf.byteLength < 1 << 20) return;
    this.worker.postMessage({ recycle: buf }, [buf]);
  }

  async close(): Promise<void> {
    const w = this.exiting;
    this.worker = undefined;
    this.exiting = undefined;
    if (w) {
      w.removeAllListeners("exit");
      w.removeAllListeners("error");
      w.on("error", () => undefined);
      await w.terminate();
    }
  }
}
