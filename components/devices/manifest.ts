/**
 * The delta-sync manifest: what the last completed sync copied, one line per device or module
 * (`deviceId \t moduleId \t contentHash`, no secret). Loaded as sorted typed arrays of 64-bit
 * hash pairs (16 bytes per line, 16 MB at the hub's 1,000,000 devices-plus-modules cap) instead of a
 * Map of strings, so a sync stays within the engine's memory bound whatever the hub size.
 */
/**
 * Two independent 32-bit string hashes (FNV-1a and a murmur-style multiply), compared as a 64-bit
 * pair: collisions between 1,000,000 keys have odds near 1e-8, and no BigInt or crypto call is
 * paid per line (this runs for every exported line).
 */
export function hashPair(text: string, from?: readonly [number, number]): [number, number] {
  // `from`: the pair of a text this one continues (hashPair(y, hashPair(x)) = hashPair(x + y)), so
  // a digest over joined parts needs no joined string.
  let a = from ? from[0] : 0x811c9dc5;
  let b = from ? from[1] : 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a >>> 0, b >>> 0];
}

/**
 * hashPair's counterpart over UTF-8 bytes, four at a time (the transform hashes every import line
 * it writes: a quarter of the multiplications of hashing it character by character).
 */
export function hashBytes(b: Uint8Array, start: number, end: number): [number, number] {
  let a = 0x811c9dc5;
  let h = 0x9747b28c;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const w = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    a = Math.imul(a ^ w, 0x01000193);
    a ^= a >>> 13;
    h = Math.imul(h ^ w, 0x5bd1e995);
    h ^= h >>> 15;
  }
  for (; i < end; i++) {
    a = Math.imul(a ^ b[i], 0x01000193);
    h = Math.imul(h ^ b[i], 0x5bd1e995);
    h ^= h >>> 15;
  }
  // The length, then a final mix so the last bytes reach every bit.
  a = Math.imul(a ^ (end - start), 0x85ebca6b);
  a ^= a >>> 16;
  h = Math.imul(h ^ (end - start), 0xc2b2ae35);
  h ^= h >>> 13;
  return [a >>> 0, h >>> 0];
}

/**
 * The 64 bits a manifest's content digest stands for: its 16 hex digits (what the transform writes)
 * read back, so the transform hands the pair over without making the text; any other text (a
 * hand-edited manifest) is hashed instead and only ever reads as "changed".
 */
export function digestPair(contentHash: string): [number, number] {
  if (contentHash.length === 16 && /^[0-9a-f]{16}$/.test(contentHash)) return [parseInt(contentHash.slice(0, 8), 16), parseInt(contentHash.slice(8), 16)];
  return hashPair(contentHash);
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
  private constructor(
    private readonly keyHi: Uint32Array,
    private readonly keyLo: Uint32Array,
    private readonly valHi: Uint32Array,
    private readonly valLo: Uint32Array,
    private readonly seen: Uint8Array,
  ) {}

  get size(): number {
    return this.keyHi.length;
  }

  static async load(lines: AsyncIterable<string>): Promise<ManifestIndex> {
    let cap = 1024;
    let n = 0;
    let arrays = [new Uint32Array(cap), new Uint32Array(cap), new Uint32Array(cap), new Uint32Array(cap)];
    for await (const l of lines) {
      const m = parseManifestLine(l);
      if (!m) continue;
      if (n === cap) {
        cap *= 2;
        arrays = arrays.map((a) => {
          const b = new Uint32Array(cap);
          b.set(a);
          return b;
        });
      }
      const [kh, kl] = hashPair(m.key);
      const [vh, vl] = digestPair(m.contentHash);
      arrays[0][n] = kh;
      arrays[1][n] = kl;
      arrays[2][n] = vh;
      arrays[3][n] = vl;
      n++;
    }
    // Sort all four columns by key through an index permutation (typed arrays sort only themselves).
    const [kh, kl, vh, vl] = arrays;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((x, y) => kh[x] - kh[y] || kl[x] - kl[y]);
    const out = [new Uint32Array(n), new Uint32Array(n), new Uint32Array(n), new Uint32Array(n)];
    for (let i = 0; i < n; i++) {
      const j = order[i];
      out[0][i] = kh[j];
      out[1][i] = kl[j];
      out[2][i] = vh[j];
      out[3][i] = vl[j];
    }
    return new ManifestIndex(out[0], out[1], out[2], out[3], new Uint8Array(n));
  }

  static empty(): ManifestIndex {
    return new ManifestIndex(new Uint32Array(0), new Uint32Array(0), new Uint32Array(0), new Uint32Array(0), new Uint8Array(0));
  }

  private find(key: string): number {
    if (this.keyHi.length === 0) return -1;
    const [h, l] = hashPair(key);
    return this.findHashed(h, l);
  }

  private findHashed(h: number, l: number): number {
    if (this.keyHi.length === 0) return -1;
    let lo = 0;
    let hi = this.keyHi.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const d = this.keyHi[mid] - h || this.keyLo[mid] - l;
      if (d === 0) return mid;
      if (d < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** "new" | "changed" | "unchanged", and marks the key as still present at the source. */
  classify(key: string, contentHash: string): "new" | "changed" | "unchanged" {
    const i = this.find(key);
    if (i < 0) return "new";
    this.seen[i] = 1;
    const [h, l] = digestPair(contentHash);
    return this.valHi[i] === h && this.valLo[i] === l ? "unchanged" : "changed";
  }

  /** `classify` with the key's hashPair and the content digest's pair (digestPair) already computed (by the transform worker). */
  classifyHashed(keyHi: number, keyLo: number, valHi: number, valLo: number): "new" | "changed" | "unchanged" {
    const i = this.findHashed(keyHi, keyLo);
    if (i < 0) return "new";
    this.seen[i] = 1;
    return this.valHi[i] === valHi && this.valLo[i] === valLo ? "unchanged" : "changed";
  }

  /**
   * A line of the export the filter left out: still at the source, so neither deleted nor copied;
   * its entry goes to the next manifest as it was (`wasLeftOut`), so a later sync knows what the
   * clone holds.
   */
  leftOut(key: string): void {
    const i = this.find(key);
    if (i >= 0 && this.seen[i] === 0) this.seen[i] = 2;
  }

  /** After the export was streamed: was this manifest key absent from it (deleted at the source)? */
  wasDeleted(key: string): boolean {
    const i = this.find(key);
    return i >= 0 && this.seen[i] === 0;
  }

  wasLeftOut(key: string): boolean {
    const i = this.find(key);
    return i >= 0 && this.seen[i] === 2;
  }
}
