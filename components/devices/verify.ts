/**
 * Device-by-device comparison of two exports in bounded memory.
 *
 * Exports are not sorted, and a hub holds up to 1,000,000 devices plus modules, so neither side
 * is loaded whole. Both exports are streamed once and hash-partitioned by device id into N
 * bucket files per side (a device and its modules land in the same bucket). Each record is
 * `kind \t deviceId \t key \t fields` where fields are per-field digests (keys and thumbprints
 * only as SHA-1 prefixes, so the temp files hold no secret). Then bucket i of the original becomes
 * a Map of numbers (key hash → fields hash), bucket i of the clone is streamed against it, and a
 * second pass over the original's bucket names what differs or is missing. N is chosen from the
 * export size so one bucket stays around 4 MB of export text; peak memory is one bucket's numbers,
 * whatever the device count.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { comparableFields, CompiledFilter, differingFields, EDGE_SYSTEM_MODULES, lineKey, parseLine, transformConfigurationLine } from "./transform";
import { hashPair } from "./manifest";
import { readBlobLines, splitLines, Staging } from "./staging";
import type { DeviceComparison } from "./types";

/** FNV-1a: cheap, stable bucket choice. */
export function bucketOf(deviceId: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}

/** About 4 MB of export text (roughly 8,000 lines) per bucket, so one bucket's Map stays a few MB. */
export function bucketCountFor(bytes: number): number {
  return Math.max(1, Math.min(256, Math.ceil(bytes / (4 << 20))));
}

export interface CompareResult extends DeviceComparison {
  /** Keys (bounded to 100,000) that are missing or different: the delta manifest must not mark them synced. */
  badKeys: string[];
  badKeysOverflow: boolean;
  malformed: number;
}

type Side = "s" | "c";

const BUCKET_BUFFER = 16 * 1024;

class BucketFiles {
  private readonly streams: fs.WriteStream[];
  constructor(readonly dir: string, readonly side: Side, readonly n: number) {
    this.streams = Array.from({ length: n }, (_, i) => fs.createWriteStream(this.file(i), { mode: 0o600 }));
  }
  file(i: number): string {
    return path.join(this.dir, `${this.side}-${i}.tsv`);
  }
  /**
   * Records are encoded straight into a 16 KB Buffer per bucket (off the JS heap), so the record
   * strings die young instead of being held — and promoted to V8's old generation — until a flush.
   */
  private readonly buffers: Buffer[] = [];
  private readonly used: number[] = [];
  write(i: number, record: string): Promise<void> | undefined {
    const need = Buffer.byteLength(record) + 1;
    let wait: Promise<void> | undefined;
    if ((this.used[i] ?? 0) + need > BUCKET_BUFFER) wait = this.flush(i);
    let buf = this.buffers[i];
    if (!buf) buf = this.buffers[i] = Buffer.allocUnsafe(Math.max(BUCKET_BUFFER, need));
    let at = this.used[i] ?? 0;
    at += buf.write(record, at);
    buf[at++] = 10; // \n
    this.used[i] = at;
    return wait;
  }
  private flush(i: number): Promise<void> | undefined {
    const buf = this.buffers[i];
    const used = this.used[i] ?? 0;
    if (!buf || used === 0) return undefined;
    this.buffers[i] = undefined as unknown as Buffer; // the stream owns it until written; a new one is allocated
    this.used[i] = 0;
    const s = this.streams[i];
    if (s.write(buf.subarray(0, used))) return undefined;
    return new Promise<void>((r) => s.once("drain", r));
  }
  async close(): Promise<void> {
    for (let i = 0; i < this.n; i++) await this.flush(i);

    await Promise.all(this.streams.map((s) => new Promise<void>((resolve, reject) => s.end((err?: Error | null) => (err ? reject(err) : resolve())))));
  }
}

/**
 * Streams one export into bucket files. Records: `D|M \t deviceId \t key \t fieldsJSON`.
 * Filters are applied later per bucket (module lines follow their device's decision there).
 */
async function partition(lines: AsyncIterable<string>, files: BucketFiles, filter: CompiledFilter | undefined): Promise<{ malformed: number }> {
  let malformed = 0;
  for await (const text of lines) {
    const p = parseLine(text);
    if (!p.ok) {
      malformed++;
      continue;
    }
    const l = p.line;
    if (l.moduleId && EDGE_SYSTEM_MODULES.has(l.moduleId)) continue; // each hub makes its own
    const included = l.moduleId ? "?" : !filter || filter.matches(l) ? "1" : "0";
    if (included === "0") continue;
    // Fields in a fixed order, so equal devices give equal text on both sides.
    const f = comparableFields(l);
    const rec = `${l.moduleId ? "M" : "D"}\t${l.id}\t${lineKey(l)}\t${JSON.stringify(f, Object.keys(f).sort())}`;
    const wait = files.write(bucketOf(l.id, files.n), rec);
    if (wait) await wait;
  }
  return { malformed };
}

function fileLines(file: string): AsyncGenerator<string> {
  return splitLines(fs.createReadStream(file));
}

/** A bucket record; `fields` stays the JSON text (compared as a string, parsed only when different). */
interface Rec {
  kind: "D" | "M";
  deviceId: string;
  key: string;
  fields: string;
}
function parseRec(l: string): Rec {
  const [kind, deviceId, key, fields] = l.split("\t");
  return { kind: kind as "D" | "M", deviceId, key, fields };
}

/** 53 bits of a string's hash pair, as a plain number (a Map key that holds no string alive). */
function hash53(text: string): number {
  const [a, b] = hashPair(text);
  return a * 2 ** 21 + (b >>> 11);
}

/**
 * One bucket: the original's records become a Map of numbers (hash of key → hash of fields), so
 * nothing of the bucket's text stays referenced while the clone's records stream past; the few
 * keys that turn out different or missing are named by one more pass over the original's bucket.
 */
async function compareBucket(sourceFile: string, cloneFile: string, r: CompareResult, cap: number, bad: (key: string) => void): Promise<void> {
  const src = new Map<number, number>();
  const srcDevices = new Set<number>();
  for await (const l of fileLines(sourceFile)) {
    const rec = parseRec(l);
    src.set(hash53(rec.key), hash53(rec.fields));
    if (rec.kind === "D") srcDevices.add(hash53(rec.deviceId));
  }
  // Modules whose device the filter dropped (or that has no device line) are not in the copy.
  const dropped = new Set<number>();
  const differentClone = new Map<number, string>(); // key hash → clone fields, named in the second pass
  const cloneDevices = new Set<number>();
  const cloneModules: string[] = [];
  const seen = (rec: Rec): void => {
    if (rec.kind === "D") r.clone++;
    else r.cloneModules++;
    const k = hash53(rec.key);
    const other = src.get(k);
    if (other === undefined || dropped.has(k)) {
      r.extraCount++;
      if (r.extra.length < cap) r.extra.push(rec.key);
      return;
    }
    src.delete(k);
    if (rec.kind === "D") r.source++;
    else r.sourceModules++;
    if (other === hash53(rec.fields)) {
      if (rec.kind === "D") r.matched++;
      return;
    }
    differentClone.set(k, rec.fields);
  };
  // Source modules without their device: find them (one pass) so they count neither as missing nor as a match.
  for await (const l of fileLines(sourceFile)) {
    const rec = parseRec(l);
    if (rec.kind === "M" && !srcDevices.has(hash53(rec.deviceId))) {
      const k = hash53(rec.key);
      src.delete(k);
      dropped.add(k);
    }
  }
  for await (const l of fileLines(cloneFile)) {
    const rec = parseRec(l);
    if (rec.kind === "D") {
      cloneDevices.add(hash53(rec.deviceId));
      seen(rec);
    } else cloneModules.push(l);
  }
  // Clone modules count only under clone devices that passed the filter.
  for (const l of cloneModules) {
    const rec = parseRec(l);
    if (cloneDevices.has(hash53(rec.deviceId))) seen(rec);
  }
  if (differentClone.size === 0 && src.size === 0) return;
  // Second pass over the original's bucket: name what differs (and which fields) and what is missing.
  for await (const l of fileLines(sourceFile)) {
    const rec = parseRec(l);
    const k = hash53(rec.key);
    const cloneFields = differentClone.get(k);
    if (cloneFields !== undefined) {
      const fields = differingFields(JSON.parse(rec.fields) as Record<string, string>, JSON.parse(cloneFields) as Record<string, string>);
      r.differentCount++;
      bad(rec.key);
      if (r.different.length < cap) r.different.push(rec.kind === "M" ? { id: rec.deviceId, moduleId: rec.key.slice(rec.deviceId.length + 1), fields } : { id: rec.key, fields });
    } else if (src.has(k)) {
      if (rec.kind === "D") r.source++;
      else r.sourceModules++;
      r.missingCount++;
      bad(rec.key);
      if (r.missing.length < cap) r.missing.push(rec.key);
    }
  }
}

export interface CompareInput {
  sourceLines: AsyncIterable<string>;
  cloneLines: AsyncIterable<string>;
  /** Size hint (bytes of the source export) for the bucket count. */
  sizeHint: number;
  filter?: CompiledFilter;
  cap: number;
  buckets?: number;
}

export async function compareDeviceStreams(input: CompareInput): Promise<CompareResult> {
  const n = input.buckets ?? bucketCountFor(input.sizeHint);
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "hubclone-verify-"));
  const r: CompareResult = { source: 0, clone: 0, sourceModules: 0, cloneModules: 0, matched: 0, missingCount: 0, extraCount: 0, differentCount: 0, missing: [], extra: [], different: [], badKeys: [], badKeysOverflow: false, malformed: 0 };
  const bad = (key: string) => {
    if (r.badKeys.length < 100_000) r.badKeys.push(key);
    else r.badKeysOverflow = true;
  };
  try {
    const s = new BucketFiles(dir, "s", n);
    const c = new BucketFiles(dir, "c", n);
    // One side after the other: half the objects in flight, so fewer survive into the old generation.
    const ps = await partition(input.sourceLines, s, input.filter);
    const pc = await partition(input.cloneLines, c, input.filter);
    r.malformed = ps.malformed + pc.malformed;
    await Promise.all([s.close(), c.close()]);
    for (let i = 0; i < n; i++) await compareBucket(s.file(i), c.file(i), r, input.cap, bad);
    // A device counted as matched is only "verified" when its modules match too.
    return r;
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

export async function compareExportBlobs(staging: Staging, sourceBlob: string, cloneBlob: string, sizeHint: number, filter: CompiledFilter | undefined, cap: number): Promise<CompareResult> {
  return compareDeviceStreams({ sourceLines: readBlobLines(staging, sourceBlob), cloneLines: readBlobLines(staging, cloneBlob), sizeHint, filter, cap });
}

export interface ConfigCompare {
  source: number;
  clone: number;
  missing: string[];
  extra: string[];
  different: string[];
}

/** Configurations are few (hundreds at most): compared in memory by id and content digest. */
export async function compareConfigurationStreams(sourceLines: AsyncIterable<string>, cloneLines: AsyncIterable<string>): Promise<ConfigCompare> {
  const read = async (lines: AsyncIterable<string>) => {
    const m = new Map<string, string>();
    for await (const l of lines) {
      const t = transformConfigurationLine(l);
      if ("id" in t) m.set(t.id, t.hash);
    }
    return m;
  };
  const [s, c] = await Promise.all([read(sourceLines), read(cloneLines)]);
  return {
    source: s.size,
    clone: c.size,
    missing: [...s.keys()].filter((k) => !c.has(k)),
    extra: [...c.keys()].filter((k) => !s.has(k)),
    different: [...s.keys()].filter((k) => c.has(k) && c.get(k) !== s.get(k)),
  };
}
