/**
 * The per-line CPU work of the transform pass, over a batch of export lines, in a shape that
 * crosses a worker_threads boundary cheaply and leaves little garbage on the engine's thread:
 * the output lines come back as UTF-8 bytes in one transferred buffer (off the V8 heap, freed as
 * soon as the small view object dies — strings received from a worker land in the old generation
 * and piled up as garbage: 266 MB RSS at 200,000 devices), plus typed arrays of per-line facts.
 * Used by the transform worker and, when no worker can start, in the engine's own thread.
 */
import { StringDecoder } from "string_decoder";
import { hashPair } from "./manifest";
import { importLineOf, lineKey, parseLine, projectedHash, projectLine } from "./transform";
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
  /** Per line: hashPair(key) and digestPair(contentHash), what the delta manifest compares. */
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
 * A growable byte buffer reused from batch to batch: lines are encoded straight into it, so no
 * per-line "line + \n" string is built, flattened, measured and encoded again (the worker spent a
 * third of its time collecting such garbage).
 */
class ByteSink {
  buf = Buffer.allocUnsafe(1 << 16);
  pos = 0;
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  text(s: string): void {
    this.room(3 * s.length); // UTF-8 needs at most 3 bytes per UTF-16 unit
    this.pos += this.buf.write(s, this.pos, "utf8");
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  byte(c: number): void {
    this.room(1);
    this.buf[this.pos++] = c;
  }
  /** 8 lowercase hex digits, as `n.toString(16).padStart(8, "0")` (which cost more than the hash itself). */
  hex32(n: number): void {
    this.room(8);
    for (let shift = 28; shift >= 0; shift -= 4) this.buf[this.pos++] = HEX[(n >>> shift) & 15];
  }
}
const HEX = Buffer.from("0123456789abcdef", "latin1");
const sections = [new ByteSink(), new ByteSink(), new ByteSink()] as const;
const NL = 10;
const TAB = 9;
const modePrefix = new Map<string, Buffer>();

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
  const [imports, reparents, manifests] = sections;
  imports.pos = reparents.pos = manifests.pos = 0;
  // The import line is `{"importMode":"<mode>",` + the projected content without its "{" (importLineOf).
  let prefix = modePrefix.get(mode);
  if (!prefix) modePrefix.set(mode, (prefix = Buffer.from(importLineOf("{}", mode).slice(0, -1), "utf8")));
  const ends = new Uint32Array(3 * n);
  for (let i = 0; i < n; i++) {
    line: {
      const p = parseLine(lines[i]);
      if (!p.ok) {
        kinds[i] = MALFORMED;
        errors.push([i, p.id ?? "", p.reason]);
        break line;
      }
      const t = projectLine(p.line);
      if (!t) {
        kinds[i] = DROPPED;
        break line;
      }
      kinds[i] = (t.isModule ? MODULE : DEVICE) | (t.parentId ? HAS_PARENT : 0);
      const key = lineKey(p.line);
      if (keys) keys[i] = key;
      const [kh, kl] = hashPair(key);
      // The content digest as the pair the manifest index compares (digestPair of its hex text).
      const [vh, vl] = projectedHash(t);
      hashes[4 * i] = kh;
      hashes[4 * i + 1] = kl;
      hashes[4 * i + 2] = vh;
      hashes[4 * i + 3] = vl;
      const from = imports.pos;
      imports.bytes(prefix);
      imports.text(t.content.slice(1));
      imports.byte(NL);
      if (t.parentId) {
        // reparentEntry(parentId, importLine): the import line's bytes, copied rather than encoded again.
        reparents.text(t.parentId);
        reparents.byte(TAB);
        reparents.bytes(imports.buf.subarray(from, imports.pos));
      }
      // manifestLine(id, moduleId, hexPair(digest)), with the digits written as bytes.
      manifests.text(p.line.id);
      manifests.byte(TAB);
      if (p.line.moduleId) manifests.text(p.line.moduleId);
      manifests.byte(TAB);
      manifests.hex32(vh);
      manifests.hex32(vl);
      manifests.byte(NL);
    }
    ends[i] = imports.pos;
    ends[n + i] = reparents.pos;
    ends[2 * n + i] = manifests.pos;
  }
  // Section offsets: the three sections follow each other in `bytes`.
  const total = imports.pos + reparents.pos + manifests.pos;
  for (let i = 0; i < n; i++) {
    ends[n + i] += imports.pos;
    ends[2 * n + i] += imports.pos + reparents.pos;
  }
  const bytes = output ? output(total) : new Uint8Array(total); // its own ArrayBuffer: transferable, not the shared pool
  let at = 0;
  for (const s of sections) {
    bytes.set(s.buf.subarray(0, s.pos), at);
    at += s.pos;
  }
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
