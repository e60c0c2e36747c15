/**
 * Reads one ExportImportDevice line as UTF-8 bytes: checks that it is exactly one JSON object and
 * finds the byte ranges of the fields the clone gets, without building a string or an object.
 * The transform pass then copies those ranges into the import line.
 *
 * JSON.parse + JSON.stringify of every line (and the garbage they leave) was most of the transform
 * pass's CPU; no library projects fields of JSON text without parsing it into objects, so this
 * fills that gap. It only takes the common shape: any line it does not fully understand (a key
 * or an id with escapes, a repeated field, a field of an unexpected type, invalid JSON) is marked
 * `unusual` or rejected, and the caller runs the JSON.parse path for it instead — that path alone
 * decides what is malformed.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];
const TOP = 0;
const PROPERTIES = 1;
const DESIRED = 2;
const ANY = 3;
/** Nesting deeper than this is left to JSON.parse. */
const MAX_DEPTH = 128;

/** A value's byte range [start, end) in the scanned bytes; start -1 when absent. */
export type Range = [number, number];

export class ExportLineScanner {
  private b: Uint8Array = new Uint8Array(0);
  private p = 0;
  private end = 0;
  private depth = 0;
  /** Set while scanning a string that held a backslash escape. */
  private escaped = false;

  // The fields found by the last `scan` (top level unless said otherwise).
  readonly id: Range = [-1, 0];
  readonly moduleId: Range = [-1, 0];
  readonly status: Range = [-1, 0];
  readonly statusReason: Range = [-1, 0];
  readonly authentication: Range = [-1, 0];
  readonly tags: Range = [-1, 0];
  readonly capabilities: Range = [-1, 0];
  readonly deviceScope: Range = [-1, 0];
  readonly parentScopes: Range = [-1, 0];
  /** Members (`"key":value`, start and end pairs) of properties.desired whose key does not start with `$`. */
  readonly desired: number[] = [];
  /** Where each of those members' key ends (to find a key said twice). */
  private readonly desiredKeyEnds: number[] = [];
  private sawProperties = false;
  private sawDesired = false;
  /** The line is valid JSON but not the common shape: take the JSON.parse path. */
  unusual = false;

  /** Scans bytes [start, end) (one line, no newline). False: not one valid JSON object (or too deep). */
  scan(bytes: Uint8Array, start: number, end: number): boolean {
    this.b = bytes;
    this.p = start;
    this.end = end;
    this.depth = 0;
    this.unusual = false;
    for (const r of [this.id, this.moduleId, this.status, this.statusReason, this.authentication, this.tags, this.capabilities, this.deviceScope, this.parentScopes]) r[0] = -1;
    this.desired.length = 0;
    this.desiredKeyEnds.length = 0;
    this.sawProperties = this.sawDesired = false;
    this.ws();
    if (!this.members(TOP)) return false;
    this.ws();
    return this.p === end;
  }

  /** An object at p, each member handled as `mode` says (TOP: the line, PROPERTIES, DESIRED, ANY: skipped). */
  private members(mode: number): boolean {
    const b = this.b;
    if (b[this.p] !== OPEN) return false;
    if (++this.depth > MAX_DEPTH) return false;
    this.p++;
    this.ws();
    if (b[this.p] === CLOSE) {
      this.p++;
      this.depth--;
      return true;
    }
    for (;;) {
      if (b[this.p] !== QUOTE) return false;
      const ks = this.p;
      this.escaped = false;
      if (!this.string()) return false;
      if (this.escaped) this.unusual = true; // a key spelled with escapes: let JSON.parse read it
      const ke = this.p;
      this.ws();
      if (b[this.p] !== COLON) return false;
      this.p++;
      this.ws();
      const ok = mode === TOP ? this.topLevel(ks, ke) : mode === PROPERTIES ? this.property(ks, ke) : mode === DESIRED ? this.desiredMember(ks, ke) : this.value();
      if (!ok) return false;
      this.ws();
      if (b[this.p] === COMMA) {
        this.p++;
        this.ws();
        continue;
      }
      if (b[this.p] !== CLOSE) return false;
      this.p++;
      this.depth--;
      return true;
    }
  }

  private topLevel(ks: number, ke: number): boolean {
    const vs = this.p;
    if (this.key(ks, ke, "properties")) {
      if (this.sawProperties) this.unusual = true; // said twice: JSON.parse keeps the last
      this.sawProperties = true;
      return this.b[vs] === OPEN ? this.members(PROPERTIES) : this.value();
    }
    if (!this.value()) return false;
    const field = this.field(ks, ke);
    if (field) {
      if (field[0] >= 0) this.unusual = true; // the same field twice: JSON.parse keeps the last
      field[0] = vs;
      field[1] = this.p;
    }
    return true;
  }

  private property(ks: number, ke: number): boolean {
    if (!this.key(ks, ke, "desired")) return this.value();
    if (this.b[this.p] !== OPEN || this.sawDesired) this.unusual = true; // not an object, or said twice
    this.sawDesired = true;
    return this.b[this.p] === OPEN ? this.members(DESIRED) : this.value();
  }

  private desiredMember(ks: number, ke: number): boolean {
    if (!this.value()) return false;
    if (this.b[ks + 1] === 0x24) return true; // $metadata, $version: hub bookkeeping
    if (this.repeatedDesiredKey(ks, ke)) this.unusual = true;
    this.desired.push(ks, this.p);
    this.desiredKeyEnds.push(ke);
    return true;
  }

  private field(ks: number, ke: number): Range | undefined {
    switch (this.b[ks + 1]) {
      case 0x69:
        return this.key(ks, ke, "id") ? this.id : undefined;
      case 0x6d:
        return this.key(ks, ke, "moduleId") ? this.moduleId : undefined;
      case 0x73:
        return this.key(ks, ke, "status") ? this.status : this.key(ks, ke, "statusReason") ? this.statusReason : undefined;
      case 0x61:
        return this.key(ks, ke, "authentication") ? this.authentication : undefined;
      case 0x74:
        return this.key(ks, ke, "tags") ? this.tags : undefined;
      case 0x63:
        return this.key(ks, ke, "capabilities") ? this.capabilities : undefined;
      case 0x64:
        return this.key(ks, ke, "deviceScope") ? this.deviceScope : undefined;
      case 0x70:
        return this.key(ks, ke, "parentScopes") ? this.parentScopes : undefined;
      default:
        return undefined;
    }
  }

  /** Does a desired property found before have the key at [ks, ke)? */
  private repeatedDesiredKey(ks: number, ke: number): boolean {
    const b = this.b;
    for (let m = 0; m < this.desiredKeyEnds.length; m++) {
      const s = this.desired[2 * m];
      const e = this.desiredKeyEnds[m];
      if (e - s !== ke - ks) continue;
      let same = true;
      for (let i = 0; i < e - s && same; i++) same = b[s + i] === b[ks + i];
      if (same) return true;
    }
    return false;
  }

  /** Is the key at [ks, ke) (quotes included) exactly `name`? */
  private key(ks: number, ke: number, name: string): boolean {
    if (ke - ks !== name.length + 2) return false;
    for (let i = 0; i < name.length; i++) if (this.b[ks + 1 + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  private ws(): void {
    const b = this.b;
    while (this.p < this.end) {
      const c = b[this.p];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.p++;
    }
  }

  /** Any JSON value at p, to just after it. */
  private value(): boolean {
    const c = this.b[this.p];
    if (c === QUOTE) return this.string();
    if (c === OPEN) return this.members(ANY);
    if (c === OPEN_ARRAY) return this.array();
    if (c === 0x74) return this.literal(TRUE);
    if (c === 0x66) return this.literal(FALSE);
    if (c === 0x6e) return this.literal(NULL);
    return this.number();
  }

  private array(): boolean {
    const b = this.b;
    if (++this.depth > MAX_DEPTH) return false;
    this.p++;
    this.ws();
    if (b[this.p] === CLOSE_ARRAY) {
      this.p++;
      this.depth--;
      return true;
    }
    for (;;) {
      if (!this.value()) return false;
      this.ws();
      if (b[this.p] === COMMA) {
        this.p++;
        this.ws();
        continue;
      }
      if (b[this.p] !== CLOSE_ARRAY) return false;
      this.p++;
      this.depth--;
      return true;
    }
  }

  /** A string at p (on its opening quote): escapes checked, no raw control characters. */
  private string(): boolean {
    const b = this.b;
    const end = this.end;
    let p = this.p + 1;
    while (p < end) {
      const c = b[p];
      if (c === QUOTE) {
        this.p = p + 1;
        return true;
      }
      if (c === BACKSLASH) {
        this.escaped = true;
        const e = b[p + 1];
        if (e === 0x75) {
          for (let i = 2; i < 6; i++) {
            const h = b[p + i] | 0x20; // lowercase a-f
            if (!((h >= 0x30 && h <= 0x39) || (h >= 0x61 && h <= 0x66))) return false;
          }
          p += 6;
          continue;
        }
        if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) return false;
        p += 2;
        continue;
      }
      if (c < 0x20) return false;
      p++;
    }
    return false;
  }

  private number(): boolean {
    const b = this.b;
    let p = this.p;
    if (b[p] === 0x2d) p++;
    if (b[p] === 0x30) p++;
    else if (b[p] >= 0x31 && b[p] <= 0x39) while (b[p] >= 0x30 && b[p] <= 0x39 && p < this.end) p++;
    else return false;
    if (b[p] === 0x2e) {
      const d = ++p;
      while (b[p] >= 0x30 && b[p] <= 0x39 && p < this.end) p++;
      if (p === d) return false;
    }
    if (b[p] === 0x65 || b[p] === 0x45) {
      p++;
      if (b[p] === 0x2b || b[p] === 0x2d) p++;
      const d = p;
      while (b[p] >= 0x30 && b[p] <= 0x39 && p < this.end) p++;
      if (p === d) return false;
    }
    if (p > this.end) return false;
    this.p = p;
    return true;
  }

  private literal(word: number[]): boolean {
    if (this.p + word.length > this.end) return false;
    for (let i = 0; i < word.length; i++) if (this.b[this.p + i] !== word[i]) return false;
    this.p += word.length;
    return true;
  }

  // --- Reading the found values (the same truthiness the JSON.parse path applies). ---

  /** The value is JSON null (or absent). */
  isNull(r: Range): boolean {
    return r[0] < 0 || this.b[r[0]] === 0x6e;
  }

  /** JavaScript truthiness of the value: not null, false, 0 or "". */
  truthy(r: Range): boolean {
    if (r[0] < 0) return false;
    const c = this.b[r[0]];
    if (c === QUOTE) return r[1] - r[0] > 2;
    if (c === OPEN || c === OPEN_ARRAY || c === 0x74) return true;
    if (c === 0x66 || c === 0x6e) return false;
    // A number: truthy unless every digit before the exponent is 0.
    for (let i = r[0]; i < r[1]; i++) {
      const d = this.b[i];
      if (d === 0x65 || d === 0x45) break;
      if (d >= 0x31 && d <= 0x39) return true;
    }
    return false;
  }

  /** `Object.keys(value).length > 0` for a truthy value: a non-empty object, array or string. */
  nonEmpty(r: Range): boolean {
    if (r[0] < 0) return false;
    const c = this.b[r[0]];
    if (c === QUOTE) return r[1] - r[0] > 2;
    if (c !== OPEN && c !== OPEN_ARRAY) return false;
    let i = r[0] + 1;
    while (this.b[i] === 0x20 || this.b[i] === 0x09 || this.b[i] === 0x0a || this.b[i] === 0x0d) i++;
    return this.b[i] !== CLOSE && this.b[i] !== CLOSE_ARRAY;
  }

  /** A string value without escapes (quotes excluded) as text; undefined when it is not one. */
  plainString(r: Range): string | undefined {
    if (r[0] < 0 || this.b[r[0]] !== QUOTE) return undefined;
    const b = this.b;
    let ascii = true;
    for (let i = r[0] + 1; i < r[1] - 1; i++) {
      const c = b[i];
      if (c === BACKSLASH) return undefined;
      if (c >= 0x80) ascii = false;
    }
    return ascii ? latin1(b, r[0] + 1, r[1] - 1) : Buffer.from(b.buffer, b.byteOffset + r[0] + 1, r[1] - r[0] - 2).toString("utf8");
  }

  /** The first element's range of an array value (start -1: absent, null or empty); undefined: not an array or null. */
  firstElement(r: Range): Range | undefined {
    if (this.isNull(r)) return [-1, 0];
    if (this.b[r[0]] !== OPEN_ARRAY) return undefined;
    const saved = [this.p, this.end, this.depth] as const;
    this.p = r[0] + 1;
    this.end = r[1];
    this.ws();
    let out: Range = [-1, 0];
    if (this.b[this.p] !== CLOSE_ARRAY) {
      const s = this.p;
      this.value();
      out = [s, this.p];
    }
    [this.p, this.end, this.depth] = saved;
    return out;
  }

  /** `capabilities.iotEdge === true` (read with JSON.parse: a few bytes, and only for lines with a device scope). */
  isEdge(): boolean {
    const r = this.capabilities;
    if (r[0] < 0 || this.b[r[0]] !== OPEN) return false;
    const c = JSON.parse(Buffer.from(this.b.buffer, this.b.byteOffset + r[0], r[1] - r[0]).toString("utf8")) as { iotEdge?: unknown };
    return c.iotEdge === true;
  }
}

function latin1(b: Uint8Array, s: number, e: number): string {
  // Short ASCII values (ids, scopes): one call, no decoder.
  return e - s <= 64 ? String.fromCharCode.apply(null, b.subarray(s, e) as unknown as number[]) : Buffer.from(b.buffer, b.byteOffset + s, e - s).toString("latin1");
}
