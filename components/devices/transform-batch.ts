/**
 * The per-line CPU work of the transform pass, over a batch of export lines, in a shape that
 * crosses a worker_threads boundary cheaply and leaves little garbage on the engine's thread:
 * the output lines come back as UTF-8 bytes in one transferred buffer (off the V8 heap, freed as
 * soon as the small view object dies — strings received from a worker land in the old generation
 * and piled up as garbage: 266 MB RSS at 200,000 devices), plus typed arrays of per-line facts.
 * Used by the transform worker and, when no worker can start, in the engine's own thread.
 */
import { StringDecoder } from "string_decoder";
import { hashPair, manifestLine } from "./manifest";
import { lineKey, parseLine, transformLine } from "./transform";
import type { ImportMode } from "./types";

/** Per-line outcome codes. */
export const MALFORMED = 0;
export const DROPPED = 1;
export const DEVICE = 2;
export const MODULE = 3;
/** Flag on DEVICE/MODULE: the line also has a re-parent entry. */
export const HAS_PARENT = 4;

export interface TransformBatch {
  /** Per line: MALFORMED, DROPPED ($edgeAgent/$edgeHub), DEVICE or MODULE (| HAS_PARENT). */
  kinds: Uint8Array;
  /** Per line: hashPair(key) and hashPair(contentHash), what the delta manifest compares. */
  hashes: Uint32Array;
  /**
   * Three sections, each line ending in "\n": import lines, re-parent entries, manifest lines.
   * `ends` holds, per section, each line's end offset in `bytes` (3 × lines; a line without an
   * entry in a section ends where the previous one did).
   */
  bytes: Uint8Array;
  ends: Uint32Array;
  /** Malformed lines: [index, id ("" when unreadable), reason] triples. */
  errors: Array<[number, string, string]>;
  /** Line keys (deviceId or deviceId/moduleId), only when asked (a sync with keys to resend). */
  keys?: string[];
}

/**
 * `output`: where to put the bytes when it is large enough (the worker reuses the buffers the
 * engine sends back, so a bounded set of buffers circulates whatever the GC does).
 */
export function transformBatch(lines: string[], mode: ImportMode | "update", withKeys = false, output?: (size: number) => Uint8Array): TransformBatch {
  const n = lines.length;
  const kinds = new Uint8Array(n);
  const hashes = new Uint32Array(4 * n);
  const errors: Array<[number, string, string]> = [];
  const keys = withKeys ? new Array<string>(n).fill("") : undefined;
  const imports: string[] = [];
  const reparents: string[] = [];
  const manifests: string[] = [];
  // Byte lengths per line (0 = no entry), per section.
  const len = new Uint32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const p = parseLine(lines[i]);
    if (!p.ok) {
      kinds[i] = MALFORMED;
      errors.push([i, p.id ?? "", p.reason]);
      continue;
    }
    const t = transformLine(p.line, mode);
    if (!t) {
      kinds[i] = DROPPED;
      continue;
    }
    kinds[i] = (t.isModule ? MODULE : DEVICE) | (t.parentId ? HAS_PARENT : 0);
    const key = lineKey(p.line);
    if (keys) keys[i] = key;
    const [kh, kl] = hashPair(key);
    const [vh, vl] = hashPair(t.contentHash);
    hashes[4 * i] = kh;
    hashes[4 * i + 1] = kl;
    hashes[4 * i + 2] = vh;
    hashes[4 * i + 3] = vl;
    const imp = t.importLine + "\n";
    imports.push(imp);
    len[i] = Buffer.byteLength(imp);
    if (t.parentId) {
      const r = JSON.stringify({ p: t.parentId, l: t.importLine }) + "\n";
      reparents.push(r);
      len[n + i] = Buffer.byteLength(r);
    }
    const m = manifestLine(p.line.id, p.line.moduleId, t.contentHash) + "\n";
    manifests.push(m);
    len[2 * n + i] = Buffer.byteLength(m);
  }
  let total = 0;
  const ends = new Uint32Array(3 * n);
  for (let j = 0; j < 3 * n; j++) {
    total += len[j];
    ends[j] = total;
  }
  const target = output ? output(total) : new Uint8Array(total); // its own ArrayBuffer: transferable, not the shared pool
  const bytes = Buffer.from(target.buffer, target.byteOffset, total);
  let pos = 0;
  for (const section of [imports, reparents, manifests]) for (const text of section) pos += bytes.write(text, pos, "utf8");
  return { kinds, hashes, bytes, ends, errors, keys };
}

/**
 * Lines of a byte stream, chunk by chunk (UTF-8 split across chunks, CRLF, a BOM on the first line,
 * blank lines skipped). Synchronous and stateful, so the transform worker can split the raw
 * download itself: the engine's thread then never makes a string per line.
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
