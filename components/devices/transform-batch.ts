/**
 * The per-line CPU work of the transform pass, over a batch of export lines (UTF-8 bytes in, read
 * by export-line.ts), in a shape that crosses a worker_threads boundary cheaply and leaves little
 * garbage on the engine's thread:
 * the output lines come back as UTF-8 bytes in one transferred buffer (off the V8 heap, freed as
 * soon as the small view object dies — strings received from a worker land in the old generation
 * and piled up as garbage: 266 MB RSS at 200,000 devices), plus typed arrays of per-line facts.
 * Used by the transform worker and, when no worker can start, in the engine's own thread.
 */
import { hashPair } from "./manifest";
import { ExportLineScanner, type Range } from "./export-line";
import { contentPair, edgeIdFromScope, EDGE_SYSTEM_MODULES, importLineOf, keylessAuth, parseLine, projectLine } from "./transform";
import type { ImportMode } from "./types";

/** Per-line outcome codes. */
export const MALFORMED = 0;
export const DROPPED = 1;
export const DEVICE = 2;
export const MODULE = 3;
/** Flag on DEVICE/MODULE: the line also has a re-parent entry. */
export const HAS_PARENT = 4;
/** Flag on DEVICE/MODULE: SAS (or no authentication) without a primary key: importing it makes the hub generate keys. */
export const KEYLESS = 8;

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
  /** Bytes [start, end) of `src` (no view object per call: this runs several times a line). */
  range(src: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.pos += src.copy(this.buf, this.pos, start, end);
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
const CR = 13;
const modePrefix = new Map<string, Buffer>();

/** Pre-encoded pieces of the import line the fast path writes around the copied values. */
const PIECE = {
  id: Buffer.from('"id":'),
  moduleId: Buffer.from(',"moduleId":'),
  status: Buffer.from(',"status":'),
  enabled: Buffer.from('"enabled"'),
  statusReason: Buffer.from(',"statusReason":'),
  authentication: Buffer.from(',"authentication":'),
  tags: Buffer.from(',"tags":'),
  desired: Buffer.from(',"properties":{"desired":{'),
  desiredEnd: Buffer.from("}}"),
  capabilities: Buffer.from(',"capabilities":'),
  // The explicit empty values of projectLine, byte for byte as JSON.stringify writes them there.
  noStatusReason: Buffer.from(',"statusReason":""'),
  noTags: Buffer.from(',"tags":{}'),
  notEdge: Buffer.from(',"capabilities":{"iotEdge":false}'),
  noDeviceScope: Buffer.from(',"deviceScope":""'),
  noParentScopes: Buffer.from(',"parentScopes":[]'),
};
const scanner = new ExportLineScanner();

/** The line's facts the batch records, from either path. */
interface Projected {
  id: string;
  moduleId?: string;
  parentId?: string;
  keyless?: boolean;
}

/**
 * Writes the import line's content (after the mode prefix) for a line the scanner read, copying
 * the values' bytes: the same fields, in the same order and with the same rules as projectLine.
 * Undefined when the line needs the JSON.parse path after all (an escaped id, a scope of an odd
 * type…); "dropped" for $edgeAgent/$edgeHub.
 */
function projectScanned(b: Buffer, imports: ByteSink): Projected | "dropped" | undefined {
  const sc = scanner;
  const id = sc.plainString(sc.id);
  if (!id) return undefined;
  let moduleId: string | undefined;
  if (!sc.isNull(sc.moduleId)) {
    moduleId = sc.plainString(sc.moduleId);
    if (!moduleId) return undefined; // not a plain string, or "" (which the JSON path treats as no module)
    if (EDGE_SYSTEM_MODULES.has(moduleId)) return "dropped";
  }
  let parentId: string | undefined;
  if (!moduleId) {
    const first = sc.firstElement(sc.parentScopes);
    if (!first) return undefined;
    if (first[0] >= 0 && !sc.isNull(first)) {
      const scope = sc.plainString(first);
      if (scope === undefined) return undefined;
      parentId = edgeIdFromScope(scope);
    }
    if (!parentId && !sc.isNull(sc.deviceScope) && !sc.isEdge()) {
      const scope = sc.plainString(sc.deviceScope);
      if (scope === undefined) return undefined;
      parentId = edgeIdFromScope(scope);
    }
  }
  const copy = (r: Range) => imports.range(b, r[0], r[1]);
  imports.bytes(PIECE.id);
  copy(sc.id);
  if (moduleId) {
    imports.bytes(PIECE.moduleId);
    copy(sc.moduleId);
  }
  imports.bytes(PIECE.status);
  if (sc.isNull(sc.status)) imports.bytes(PIECE.enabled);
  else copy(sc.status);
  // Empty values are written too (projectLine says why: a cleared field must reach the clone).
  if (sc.truthy(sc.statusReason)) {
    imports.bytes(PIECE.statusReason);
    copy(sc.statusReason);
  } else if (!moduleId) imports.bytes(PIECE.noStatusReason);
  if (sc.truthy(sc.authentication)) {
    imports.bytes(PIECE.authentication);
    copy(sc.authentication);
  }
  if (sc.truthy(sc.tags) && sc.nonEmpty(sc.tags)) {
    imports.bytes(PIECE.tags);
    copy(sc.tags);
  } else if (!moduleId || (sc.tags[0] >= 0 && b[sc.tags[0]] === OPEN)) imports.bytes(PIECE.noTags);
  const d = sc.desired;
  imports.bytes(PIECE.desired);
  for (let k = 0; k < d.length; k += 2) {
    if (k > 0) imports.byte(COMMA);
    imports.range(b, d[k], d[k + 1]);
  }
  imports.bytes(PIECE.desiredEnd);
  if (!moduleId) {
    if (sc.truthy(sc.capabilities)) {
      imports.bytes(PIECE.capabilities);
      copy(sc.capabilities);
    } else imports.bytes(PIECE.notEdge);
    if (!parentId) {
      if (!sc.isEdge()) imports.bytes(PIECE.noDeviceScope);
      else if (sc.parentScopes[0] >= 0) imports.bytes(PIECE.noParentScopes);
    }
  }
  imports.byte(CLOSE);
  return { id, moduleId, parentId, keyless: keylessAuth(sc.truthy(sc.authentication) ? JSON.parse(b.toString("utf8", sc.authentication[0], sc.authentication[1])) : undefined) };
}
const COMMA = 0x2c;
const CLOSE = 0x7d;
const OPEN = 0x7b;

/** The JSON.parse path (projectLine): lines the scanner left alone, and the judge of malformed ones. */
function projectParsed(text: string, imports: ByteSink): Projected | "dropped" | { error: string; id?: string } {
  const p = parseLine(text);
  if (!p.ok) return { error: p.reason, id: p.id };
  const t = projectLine(p.line);
  if (!t) return "dropped";
  imports.text(t.content.slice(1));
  return { id: p.line.id, moduleId: p.line.moduleId || undefined, parentId: t.parentId, keyless: keylessAuth(p.line.authentication || undefined) };
}

/**
 * The batch's lines: `input` holds whole lines (transform-pool.ts lineChunks), each ending in "\n"
 * except perhaps the last; CRLF ends and blank lines are allowed. `output`: where to put the bytes
 * when it is large enough (the worker reuses the buffers the engine sends back, so a bounded set
 * of buffers circulates whatever the GC does).
 */
export function transformBatch(input: Uint8Array, mode: ImportMode | "update", withKeys = false, output?: (size: number) => Uint8Array): TransformBatch {
  // Line bounds first (blank lines are not lines).
  let cap = 1;
  for (let i = input.indexOf(NL); i >= 0; i = input.indexOf(NL, i + 1)) cap++;
  const starts = new Uint32Array(cap);
  const stops = new Uint32Array(cap);
  let n = 0;
  for (let s = 0; s < input.length; ) {
    let nl = input.indexOf(NL, s);
    if (nl < 0) nl = input.length;
    let e = nl;
    if (e > s && input[e - 1] === CR) e--;
    let blank = true;
    for (let k = s; k < e && blank; k++) blank = input[k] === 0x20 || input[k] === 0x09 || input[k] === CR;
    if (!blank) {
      starts[n] = s;
      stops[n++] = e;
    }
    s = nl + 1;
  }
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
  const source = Buffer.from(input.buffer, input.byteOffset, input.length);
  for (let i = 0; i < n; i++) {
    line: {
      const from = imports.pos;
      imports.bytes(prefix);
      const s = starts[i];
      const e = stops[i];
      let t = scanner.scan(input, s, e) && !scanner.unusual ? projectScanned(source, imports) : undefined;
      if (t === undefined) {
        imports.pos = from + prefix.length; // whatever the fast path began
        const r = projectParsed(source.toString("utf8", s, e), imports);
        if (typeof r === "object" && "error" in r) {
          kinds[i] = MALFORMED;
          errors.push([i, r.id ?? "", r.error]);
          imports.pos = from;
          break line;
        }
        t = r;
      }
      if (t === "dropped") {
        kinds[i] = DROPPED;
        imports.pos = from;
        break line;
      }
      kinds[i] = (t.moduleId ? MODULE : DEVICE) | (t.parentId ? HAS_PARENT : 0) | (t.keyless ? KEYLESS : 0);
      const key = t.moduleId ? `${t.id}/${t.moduleId}` : t.id;
      if (keys) keys[i] = key;
      const [kh, kl] = hashPair(key);
      // The content digest as the pair the manifest index compares (digestPair of its hex text).
      const [vh, vl] = contentPair(imports.buf, from + prefix.length, imports.pos, t.parentId);
      hashes[4 * i] = kh;
      hashes[4 * i + 1] = kl;
      hashes[4 * i + 2] = vh;
      hashes[4 * i + 3] = vl;
      imports.byte(NL);
      if (t.parentId) {
        // reparentEntry(parentId, importLine): the import line's bytes, copied rather than encoded again.
        reparents.text(t.parentId);
        reparents.byte(TAB);
        reparents.bytes(imports.buf.subarray(from, imports.pos));
      }
      // manifestLine(id, moduleId, hexPair(digest)), with the digits written as bytes.
      manifests.text(t.id);
      manifests.byte(TAB);
      if (t.moduleId) manifests.text(t.moduleId);
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
  for (const sec of sections) {
    bytes.set(sec.buf.subarray(0, sec.pos), at);
    at += sec.pos;
  }
  return { kinds, hashes, bytes, ends, errors, keys };
}
