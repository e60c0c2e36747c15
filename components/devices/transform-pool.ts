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
import { LineSplitter, transformBatch, TransformBatch } from "./transform-batch";
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

export class TransformPool {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: TransformBatch) => void; reject: (e: Error) => void }>();
  /** Splits lines here when no worker runs. */
  private readonly splitter = new LineSplitter();
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
          // The worker's line splitter held a partial line: the pass cannot go on from here in this thread.
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

  private submit(chunk: Uint8Array, end: boolean): Promise<TransformBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.worker) {
      this.stats.inThread++;
      const lines = this.splitter.push(chunk);
      if (end) lines.push(...this.splitter.end());
      return Promise.resolve(transformBatch(lines, this.mode, this.withKeys));
    }
    const id = this.nextId++;
    return new Promise<TransformBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ id, chunk, end, mode: this.mode, withKeys: this.withKeys }, [chunk.buffer as ArrayBuffer]);
    });
  }

  /**
   * Ordered map over the export's bytes (chunks whose buffers this pool may take) with up to
   * `depth` chunks in flight: the next chunks are read and handed over while the caller writes the
   * current result.
   */
  async *map(chunks: AsyncIterable<Uint8Array>, depth = 3): AsyncGenerator<TransformBatch> {
    if (!this.started) await this.ready();
    const it = chunks[Symbol.asyncIterator]();
    const queue: Array<Promise<TransformBatch>> = [];
    let done = false;
    let next = await it.next();
    const fill = async () => {
      while (!done && queue.length < depth) {
        if (next.done) {
          done = true;
          queue.push(this.submit(new Uint8Array(0), true));
          break;
        }
        const cur = next.value;
        next = await it.next();
        queue.push(this.submit(cur, next.done === true));
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
