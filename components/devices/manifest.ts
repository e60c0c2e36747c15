/**
 * The delta-sync manifest: what the last completed sync copied, one line per device or module
 * (`deviceId \t moduleId \t contentHash`, no secret). Loaded as two sorted typed arrays of 64-bit
 * hashes (16 bytes per line, 16 MB at the hub's 1,000,000 devices-plus-modules cap) instead of a
 * Map of strings, so a sync stays within the engine's memory bound whatever the hub size.
 */
import { createHash } from "crypto";

function hash64(text: string): bigint {
  return createHash("md5").update(text).digest().readBigUInt64BE(0);
}

export function manifestLine(deviceId: string, moduleId: string | undefined, contentHash: string): string {
  return `${deviceId}\t${moduleId ?? ""}\t${contentHash}`;
}

export function parseManifestLine(line: string): { deviceId: string; moduleId?: string; key: string; contentHash: string } | undefined {
  const [deviceId, moduleId, contentHash] = line.split("\t");
  if (!deviceId || contentHash === undefined) return undefined;
  return { deviceId, moduleId: moduleId || undefined, key: moduleId ? `${deviceId}/${moduleId}` : deviceId, contentHash };
}

export class ManifestIndex {
  private keys: BigUint64Array;
  private values: BigUint64Array;
  private seen: Uint8Array;
  private constructor(keys: BigUint64Array, values: BigUint64Array) {
    this.keys = keys;
    this.values = values;
    this.seen = new Uint8Array(keys.length);
  }

  get size(): number {
    return this.keys.length;
  }

  static async load(lines: AsyncIterable<string>): Promise<ManifestIndex> {
    let cap = 1024;
    let keys = new BigUint64Array(cap);
    let values = new BigUint64Array(cap);
    let n = 0;
    for await (const l of lines) {
      const m = parseManifestLine(l);
      if (!m) continue;
      if (n === cap) {
        cap *= 2;
        const k2 = new BigUint64Array(cap);
        k2.set(keys);
        keys = k2;
        const v2 = new BigUint64Array(cap);
        v2.set(values);
        values = v2;
      }
      keys[n] = hash64(m.key);
      values[n] = hash64(m.contentHash);
      n++;
    }
    // Sort both arrays by key through an index permutation (typed arrays sort only themselves).
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
    const k = new BigUint64Array(n);
    const v = new BigUint64Array(n);
    for (let i = 0; i < n; i++) {
      k[i] = keys[order[i]];
      v[i] = values[order[i]];
    }
    return new ManifestIndex(k, v);
  }

  static empty(): ManifestIndex {
    return new ManifestIndex(new BigUint64Array(0), new BigUint64Array(0));
  }

  private find(key: string): number {
    const h = hash64(key);
    let lo = 0;
    let hi = this.keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.keys[mid];
      if (v === h) return mid;
      if (v < h) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** "new" | "changed" | "unchanged", and marks the key as still present at the source. */
  classify(key: string, contentHash: string): "new" | "changed" | "unchanged" {
    const i = this.find(key);
    if (i < 0) return "new";
    this.seen[i] = 1;
    return this.values[i] === hash64(contentHash) ? "unchanged" : "changed";
  }

  /** After the export was streamed: was this manifest key absent from it (deleted at the source)? */
  wasDeleted(key: string): boolean {
    const i = this.find(key);
    return i >= 0 && this.seen[i] === 0;
  }
}
