/**
 * Device-by-device comparison of two exports in bounded memory.
 *
 * Exports are not sorted, and a hub holds up to 1,000,000 devices plus modules, so neither side
 * is loaded whole. Both exports are streamed once and hash-partitioned by device id into N
 * bucket files per side (a device and its modules land in the same bucket). Each record is
 * `key \t fields` where fields are per-field digests (keys and thumbprints only as SHA-256
 * prefixes, so the temp files hold no secret). Then bucket i of the original is loaded into a
 * Map and bucket i of the clone streamed against it. N is chosen from the export size so one
 * bucket stays around 16 MB of export text; peak memory is one bucket, whatever the device count.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { comparableFields, CompiledFilter, differingFields, EDGE_SYSTEM_MODULES, lineKey, parseLine, transformConfigurationLine } from "./transform";
import { readBlobLines, splitLines, Staging } from "./staging";
import type { DeviceDifference } from "./types";

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

export interface CompareResult {
  source: number;
  clone: number;
  sourceModules: number;
  cloneModules: number;
  matched: number;
  missingCount: number;
  extraCount: number;
  differentCount: number;
  missing: string[];
  extra: string[];
  different: DeviceDifference[];
  /** Keys (bounded to 100,000) that are missing or different: the delta manifest must not mark them synced. */
  badKeys: string[];
  badKeysOverflow: boolean;
  malformed: number;
}

type Side = "s" | "c";

class BucketFiles {
  private readonly streams: fs.WriteStream[];
  constructor(readonly dir: string, readonly side: Side, readonly n: number) {
    this.streams = Array.from({ length: n }, (_, i) => fs.createWriteStream(this.file(i), { mode: 0o600 }));
  }
  file(i: number): string {
    return path.join(this.dir, `${this.side}-${i}.tsv`);
  }
  /** Records are batched per bucket (~16 KB: larger batches live long enough to be promoted to the old generation) so the files get few large writes, not one small Buffer per line. */
  private readonly pending: string[] = [];
  write(i: number, record: string): Promise<void> | undefined {
    this.pending[i] = (this.pending[i] ?? "") + record + "\n";
    return this.pending[i].length >= 16 * 1024 ? this.flush(i) : undefined;
  }
  private async flush(i: number): Promise<void> {
    const text = this.pending[i];
    if (!text) return;
    this.pending[i] = "";
    const s = this.streams[i];
    if (!s.write(text)) await new Promise<void>((r) => s.once("drain", r));
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
    for (let i = 0; i < n; i++) {
      // key → the record's text (one string per record: fewer objects to age into the old generation).
      const src = new Map<string, string>();
      for await (const l of fileLines(s.file(i))) src.set(parseRec(l).key, l);
      // Modules whose device the filter dropped (or that has no device line) are not in the copy.
      // (Device keys are bare ids; module keys contain '/', which device ids cannot.)
      for (const [k, l] of src) {
        const rec = parseRec(l);
        if (rec.kind === "M" && !src.has(rec.deviceId)) src.delete(k);
      }
      const cloneDevices = new Set<string>();
      const cloneModules: Rec[] = [];
      const seen = async (rec: Rec) => {
        if (rec.kind === "D") r.clone++;
        else r.cloneModules++;
        const otherText = src.get(rec.key);
        if (otherText === undefined) {
          r.extraCount++;
          if (r.extra.length < input.cap) r.extra.push(rec.key);
          return;
        }
        src.delete(rec.key);
        const other = parseRec(otherText);
        if (other.kind === "D") r.source++;
        else r.sourceModules++;
        const fields = other.fields === rec.fields ? [] : differingFields(JSON.parse(other.fields) as Record<string, string>, JSON.parse(rec.fields) as Record<string, string>);
        if (fields.length === 0) {
          if (rec.kind === "D") r.matched++;
          return;
        }
        r.differentCount++;
        bad(rec.key);
        if (r.different.length < input.cap) r.different.push(rec.kind === "M" ? { id: rec.deviceId, moduleId: rec.key.slice(rec.deviceId.length + 1), fields } : { id: rec.key, fields });
      };
      for await (const l of fileLines(c.file(i))) {
        const rec = parseRec(l);
        if (rec.kind === "D") {
          cloneDevices.add(rec.deviceId);
          await seen(rec);
        } else cloneModules.push(rec);
      }
      // Clone modules count only under clone devices that passed the filter.
      for (const rec of cloneModules) if (cloneDevices.has(rec.deviceId)) await seen(rec);
      for (const text of src.values()) {
        const rec = parseRec(text);
        if (rec.kind === "D") r.source++;
        else r.sourceModules++;
        r.missingCount++;
        bad(rec.key);
        if (r.missing.length < input.cap) r.missing.push(rec.key);
      }
    }
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
