/**
 * Device-by-device comparison of two exports in bounded memory.
 *
 * Exports are not sorted, and a hub holds up to 1,000,000 devices plus modules, so neither side
 * is loaded whole. Both exports are streamed once and hash-partitioned by device id into N
 * bucket files per side (a device and its modules land in the same bucket). Each record is
 * `kind \t deviceId \t key \t fields` where fields are per-field digests (keys and thumbprints
 * only as SHA-1 prefixes, so the temp files hold no secret). Then each bucket is compared: both
 * sides' records are read as bytes and indexed by 64-bit hashes in typed arrays, and only what
 * differs or is missing is ever turned into strings. N is chosen from the export size so one bucket
 * stays around 4 MB of export text; peak memory is one bucket, whatever the device count.
 *
 * Memory is the point of the shapes below: the exports arrive as byte batches of whole lines, each
 * batch is partitioned synchronously and each line decoded on its own, so every per-line object
 * dies in V8's young generation. (Lines pulled one by one through async iterators, a string per
 * batch, and a Map of boxed numbers per bucket kept objects alive across collections: they were
 * promoted, and the old generation grew to several times its live data before a full collection,
 * which at 200,000 devices set the client's peak.)
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { comparableFields, compileFilter, CompiledFilter, differingFields, EDGE_SYSTEM_MODULES, lineKey, parseLine, transformConfigurationLine } from "./transform";
import { hashBytes } from "./manifest";
import { openBlobStream, Staging } from "./staging";
import { lineChunks } from "./transform-pool";
import type { DeviceComparison, DeviceFilter } from "./types";

/** FNV-1a: cheap, stable bucket choice. */
export function bucketOf(deviceId: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}

/** About 4 MB of export text (roughly 8,000 lines) per bucket, so one bucket's records stay a few MB. */
export function bucketCountFor(bytes: number): number {
  return Math.max(1, Math.min(256, Math.ceil(bytes / (4 << 20))));
}

export interface CompareResult extends DeviceComparison {
  /** Keys (bounded to 100,000) that are missing or different: the delta manifest must not mark them synced. */
  badKeys: string[];
  badKeysOverflow: boolean;
  malformed: number;
}

const BAD_KEYS_CAP = 100_000;

type Side = "s" | "c";

const BUCKET_BUFFER = 16 * 1024;

/**
 * One side's bucket files, written synchronously between two downloaded batches (the page cache
 * takes the writes). Records are encoded straight into a 16 KB Buffer per bucket, off the JS heap.
 */
class BucketFiles {
  private readonly fds: number[] = [];
  private readonly buffers: Buffer[];
  private readonly used: number[];
  constructor(readonly dir: string, readonly side: Side, readonly n: number) {
    try {
      for (let i = 0; i < n; i++) this.fds.push(fs.openSync(this.file(i), "w", 0o600));
    } catch (err) {
      for (const fd of this.fds) fs.closeSync(fd);
      throw err;
    }
    this.buffers = Array.from({ length: n }, () => Buffer.allocUnsafe(BUCKET_BUFFER));
    this.used = new Array<number>(n).fill(0);
  }
  file(i: number): string {
    return path.join(this.dir, `${this.side}-${i}.tsv`);
  }
  write(i: number, record: string): void {
    const need = Buffer.byteLength(record) + 1;
    if (this.used[i] + need > this.buffers[i].length) {
      this.flush(i);
      if (need > this.buffers[i].length) this.buffers[i] = Buffer.allocUnsafe(need);
    }
    const buf = this.buffers[i];
    let at = this.used[i];
    at += buf.write(record, at);
    buf[at++] = 10; // \n
    this.used[i] = at;
  }
  private flush(i: number): void {
    for (let at = 0; at < this.used[i]; ) at += fs.writeSync(this.fds[i], this.buffers[i], at, this.used[i] - at);
    this.used[i] = 0;
  }
  /** Writes what is buffered (unless only closing after a failure) and closes the files. */
  close(flush = true): void {
    for (let i = 0; i < this.n; i++) {
      try {
        if (flush) this.flush(i);
      } finally {
        fs.closeSync(this.fds[i]);
      }
    }
    this.fds.length = 0;
  }
}

/**
 * One export line into its bucket file. Record: `D|M \t deviceId \t key \t fieldsJSON`.
 * Module lines go in whatever the filter says: they follow their device's decision per bucket.
 * Returns false for a malformed line.
 */
function partitionLine(text: string, files: BucketFiles, filter: CompiledFilter | undefined): boolean {
  const p = parseLine(text);
  if (!p.ok) return false;
  const l = p.line;
  if (l.moduleId && EDGE_SYSTEM_MODULES.has(l.moduleId)) return true; // each hub makes its own
  if (!l.moduleId && filter && !filter.matches(l)) return true;
  // Fields in a fixed order, so equal devices give equal text on both sides.
  const f = comparableFields(l);
  files.write(bucketOf(l.id, files.n), `${l.moduleId ? "M" : "D"}\t${l.id}\t${lineKey(l)}\t${JSON.stringify(f, Object.keys(f).sort())}`);
  return true;
}

/**
 * A bucket file's records, parsed in place: byte offsets and 64-bit hashes in typed arrays, no
 * string per record. (A device id has no "/", so a device's key, its id, never equals a module's.)
 */
class BucketRecords {
  readonly n: number;
  readonly module: Uint8Array;
  /** Offsets of the id, key and fields, and the end of each record. */
  private readonly idAt: Int32Array;
  private readonly keyAt: Int32Array;
  private readonly fieldsAt: Int32Array;
  private readonly endAt: Int32Array;
  readonly keyHi: Uint32Array;
  readonly keyLo: Uint32Array;
  readonly fieldsHi: Uint32Array;
  readonly fieldsLo: Uint32Array;
  /** Hash of the record's device id (for a device: its key's). */
  readonly devHi: Uint32Array;
  readonly devLo: Uint32Array;

  constructor(private readonly buf: Buffer) {
    let n = 0;
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
    this.n = n;
    this.module = new Uint8Array(n);
    [this.idAt, this.keyAt, this.fieldsAt, this.endAt] = [new Int32Array(n), new Int32Array(n), new Int32Array(n), new Int32Array(n)];
    [this.keyHi, this.keyLo, this.fieldsHi, this.fieldsLo, this.devHi, this.devLo] = Array.from({ length: 6 }, () => new Uint32Array(n));
    let at = 0;
    for (let r = 0; r < n; r++) {
      const end = buf.indexOf(10, at);
      const t1 = buf.indexOf(9, at);
      const t2 = buf.indexOf(9, t1 + 1);
      const t3 = buf.indexOf(9, t2 + 1);
      this.module[r] = buf[at] === 0x4d ? 1 : 0; // "M"
      this.idAt[r] = t1 + 1;
      this.keyAt[r] = t2 + 1;
      this.fieldsAt[r] = t3 + 1;
      this.endAt[r] = end;
      [this.keyHi[r], this.keyLo[r]] = hashBytes(buf, t2 + 1, t3);
      [this.fieldsHi[r], this.fieldsLo[r]] = hashBytes(buf, t3 + 1, end);
      [this.devHi[r], this.devLo[r]] = hashBytes(buf, t1 + 1, t2);
      at = end + 1;
    }
  }

  static read(file: string): BucketRecords {
    return new BucketRecords(fs.readFileSync(file));
  }

  key(r: number): string {
    return this.buf.toString("utf8", this.keyAt[r], this.fieldsAt[r] - 1);
  }
  deviceId(r: number): string {
    return this.buf.toString("utf8", this.idAt[r], this.keyAt[r] - 1);
  }
  fields(r: number): Record<string, string> {
    return JSON.parse(this.buf.toString("utf8", this.fieldsAt[r], this.endAt[r])) as Record<string, string>;
  }
  sameFields(r: number, other: BucketRecords, o: number): boolean {
    return this.fieldsHi[r] === other.fieldsHi[o] && this.fieldsLo[r] === other.fieldsLo[o];
  }
}

/**
 * Records by key hash: open addressing over an Int32Array of record numbers (+1; 0 = empty). Fills
 * the gap a JS Map leaves here: a Map of 64-bit keys boxes every number it holds.
 */
class KeyIndex {
  private readonly slots: Int32Array;
  private readonly mask: number;
  constructor(private readonly recs: BucketRecords) {
    let cap = 16;
    while (cap < 2 * recs.n) cap *= 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
  }
  /** Adds record r; answers the record it replaced under the same key, or -1. */
  add(r: number): number {
    const { keyHi, keyLo } = this.recs;
    for (let s = (keyHi[r] ^ keyLo[r]) & this.mask; ; s = (s + 1) & this.mask) {
      const at = this.slots[s] - 1;
      if (at < 0) {
        this.slots[s] = r + 1;
        return -1;
      }
      if (keyHi[at] === keyHi[r] && keyLo[at] === keyLo[r]) {
        this.slots[s] = r + 1;
        return at;
      }
    }
  }
  find(hi: number, lo: number): number {
    const { keyHi, keyLo } = this.recs;
    for (let s = (hi ^ lo) & this.mask; ; s = (s + 1) & this.mask) {
      const at = this.slots[s] - 1;
      if (at < 0 || (keyHi[at] === hi && keyLo[at] === lo)) return at;
    }
  }
  /** Is the record's device (by id hash) a device record of this side? */
  hasDevice(hi: number, lo: number): boolean {
    const at = this.find(hi, lo);
    return at >= 0 && this.recs.module[at] === 0;
  }
}

const UNSEEN = 0;
/** A module whose device is not on this side (filtered out, or no device line): not in the copy. */
const DROPPED = 1;
const SAME = 2;
const DIFFERENT = 3;
/** An earlier record under a key repeated in the same export: the later one counts. */
const REPEATED = 4;

/** One bucket: the original's records indexed, the clone's looked up, then what differs or is missing named. */
function compareBucket(sourceFile: string, cloneFile: string, r: CompareResult, cap: number, bad: (key: string) => void): void {
  const src = BucketRecords.read(sourceFile);
  const srcIndex = new KeyIndex(src);
  const state = new Uint8Array(src.n);
  for (let i = 0; i < src.n; i++) {
    const before = srcIndex.add(i);
    if (before >= 0) state[before] = REPEATED;
  }
  for (let i = 0; i < src.n; i++) if (state[i] === UNSEEN && src.module[i] === 1 && !srcIndex.hasDevice(src.devHi[i], src.devLo[i])) state[i] = DROPPED;

  const clone = BucketRecords.read(cloneFile);
  const cloneIndex = new KeyIndex(clone);
  for (let c = 0; c < clone.n; c++) if (clone.module[c] === 0) cloneIndex.add(c);
  const differentFrom = new Int32Array(src.n); // the clone record a DIFFERENT one was compared with
  const seen = (c: number): void => {
    const isModule = clone.module[c] === 1;
    if (isModule) r.cloneModules++;
    else r.clone++;
    const i = srcIndex.find(clone.keyHi[c], clone.keyLo[c]);
    if (i < 0 || state[i] !== UNSEEN) {
      r.extraCount++;
      if (r.extra.length < cap) r.extra.push(clone.key(c));
      return;
    }
    if (isModule) r.sourceModules++;
    else r.source++;
    if (src.sameFields(i, clone, c)) {
      state[i] = SAME;
      if (!isModule) r.matched++;
    } else {
      state[i] = DIFFERENT;
      differentFrom[i] = c;
    }
  };
  for (let c = 0; c < clone.n; c++) if (clone.module[c] === 0) seen(c);
  // Clone modules count only under clone devices that passed the filter.
  for (let c = 0; c < clone.n; c++) if (clone.module[c] === 1 && cloneIndex.hasDevice(clone.devHi[c], clone.devLo[c])) seen(c);

  // Name what differs (and which fields) and what is missing, in the original's order.
  for (let i = 0; i < src.n; i++) {
    if (state[i] === DIFFERENT) {
      const key = src.key(i);
      r.differentCount++;
      bad(key);
      if (r.different.length < cap) {
        const fields = differingFields(src.fields(i), clone.fields(differentFrom[i]));
        const id = src.deviceId(i);
        r.different.push(src.module[i] === 1 ? { id, moduleId: key.slice(id.length + 1), fields } : { id: key, fields });
      }
    } else if (state[i] === UNSEEN) {
      const key = src.key(i);
      if (src.module[i] === 1) r.sourceModules++;
      else r.source++;
      r.missingCount++;
      bad(key);
      if (r.missing.length < cap) r.missing.push(key);
    }
  }
}

/**
 * Both sides' lines in, counts and differences out. Batches hold whole lines; the bucket files go
 * to `dir` (the caller's temporary directory).
 */
class Comparison {
  private readonly files: BucketFiles[] = [];
  private readonly filter: CompiledFilter | undefined;
  private malformed = 0;
  constructor(dir: string, buckets: number, filter: DeviceFilter | undefined) {
    this.filter = compileFilter(filter);
    this.files.push(new BucketFiles(dir, "s", buckets));
    try {
      this.files.push(new BucketFiles(dir, "c", buckets));
    } catch (err) {
      this.files[0].close(false);
      throw err;
    }
  }

  /**
   * One batch of whole lines of one side's export (a UTF-8 BOM already dropped). Each line is
   * decoded on its own: one string for the whole batch (256 KB) would be a large object that
   * outlives a young-generation collection, and large objects are promoted at once.
   */
  addLines(side: Side, bytes: Uint8Array): void {
    const files = this.files[side === "s" ? 0 : 1];
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let at = 0; at < buf.length; ) {
      let end = buf.indexOf(10, at);
      if (end < 0) end = buf.length;
      const stop = end > at && buf[end - 1] === 13 ? end - 1 : end; // CRLF
      const text = stop > at ? buf.toString("utf8", at, stop) : "";
      if (text.trim().length > 0 && !partitionLine(text, files, this.filter)) this.malformed++;
      at = end + 1;
    }
  }

  /** Closes the files without comparing (a failed download). */
  abandon(): void {
    for (const f of this.files) f.close(false);
  }

  async finish(cap: number): Promise<CompareResult> {
    const [s, c] = this.files;
    s.close();
    c.close();
    const r: CompareResult = { source: 0, clone: 0, sourceModules: 0, cloneModules: 0, matched: 0, missingCount: 0, extraCount: 0, differentCount: 0, missing: [], extra: [], different: [], badKeys: [], badKeysOverflow: false, malformed: this.malformed };
    const bad = (key: string) => {
      if (r.badKeys.length < BAD_KEYS_CAP) r.badKeys.push(key);
      else r.badKeysOverflow = true;
    };
    for (let i = 0; i < s.n; i++) {
      compareBucket(s.file(i), c.file(i), r, cap, bad);
      await new Promise((resolve) => setImmediate(resolve)); // let timers and I/O (progress, heartbeats) run between buckets
    }
    return r;
  }
}

export interface CompareOptions {
  /** Size (bytes) of the original's export: sets the bucket count. */
  sizeHint: number;
  filter?: DeviceFilter;
  /** Longest list of missing, extra and different keys reported (the counts stay exact). */
  cap: number;
  buckets?: number;
}

/**
 * Runs one comparison: `feed` hands over each side's batches of whole lines, then the buckets are
 * compared. The temporary directory is removed in any case.
 */
async function runComparison(o: CompareOptions, feed: (add: (side: Side, bytes: Uint8Array) => void) => Promise<void>): Promise<CompareResult> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "hubclone-verify-"));
  try {
    const c = new Comparison(dir, o.buckets ?? bucketCountFor(o.sizeHint), o.filter);
    try {
      await feed((side, bytes) => c.addLines(side, bytes));
    } catch (err) {
      c.abandon();
      throw err;
    }
    return await c.finish(o.cap);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/** Compares two streams of export lines (tests and small inputs). */
export async function compareDeviceStreams(input: CompareOptions & { sourceLines: AsyncIterable<string>; cloneLines: AsyncIterable<string> }): Promise<CompareResult> {
  return runComparison(input, async (add) => {
    for (const [side, lines] of [["s", input.sourceLines], ["c", input.cloneLines]] as const) {
      let batch: string[] = [];
      for await (const l of lines) {
        batch.push(l);
        if (batch.length >= 1000) {
          add(side, Buffer.from(`${batch.join("\n")}\n`));
          batch = [];
        }
      }
      if (batch.length > 0) add(side, Buffer.from(`${batch.join("\n")}\n`));
    }
  });
}

/** Compares two export blobs, each downloaded as bytes and partitioned a batch of whole lines at a time. */
export async function compareExportBlobs(staging: Staging, sourceBlob: string, cloneBlob: string, o: CompareOptions): Promise<CompareResult> {
  return runComparison(o, async (add) => {
    for (const [side, blob] of [["s", sourceBlob], ["c", cloneBlob]] as const) {
      const body = await openBlobStream(staging, blob, side === "s" ? "source export" : "clone export");
      if (body) for await (const batch of lineChunks(body)) add(side, batch);
    }
  });
}

export interface ConfigCompare {
  source: number;
  clone: number;
  missing: string[];
  extra: string[];
  different: string[];
  /** Lines that could not be read, per side: never skipped silently (a failure the caller reports). */
  unreadable: string[];
}

/** Configurations are few (hundreds at most): compared in memory by id and content digest. */
export async function compareConfigurationStreams(sourceLines: AsyncIterable<string>, cloneLines: AsyncIterable<string>): Promise<ConfigCompare> {
  const unreadable: string[] = [];
  const read = async (lines: AsyncIterable<string>, side: string) => {
    const m = new Map<string, string>();
    let n = 0;
    for await (const l of lines) {
      n++;
      const t = transformConfigurationLine(l);
      if ("hash" in t) m.set(t.id, t.hash);
      else unreadable.push(`${side} configuration line ${n}${t.id ? ` (${t.id})` : ""}: ${t.error}`);
    }
    return m;
  };
  const [s, c] = await Promise.all([read(sourceLines, "original"), read(cloneLines, "clone")]);
  return {
    source: s.size,
    clone: c.size,
    missing: [...s.keys()].filter((k) => !c.has(k)),
    extra: [...c.keys()].filter((k) => !s.has(k)),
    different: [...s.keys()].filter((k) => c.has(k) && c.get(k) !== s.get(k)),
    unreadable,
  };
}
