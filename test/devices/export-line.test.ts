/**
 * The transform's byte-level reading of export lines (export-line.ts) against the JSON.parse path
 * it stands in for (transformLine): on generated lines of every shape the two give the same import
 * line, parent, kind and malformed verdict; on ordinary compact lines the very same bytes and digest.
 */
import { describe, expect, it } from "vitest";
import { ExportLineScanner } from "../../components/devices/export-line";
import { DEVICE, DROPPED, HAS_PARENT, KEYLESS, MALFORMED, MODULE, transformBatch } from "../../components/devices/transform-batch";
import { hexPair, keylessAuth, parseLine, transformLine } from "../../components/devices/transform";

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function exportObject(r: () => number, i: number): Record<string, unknown> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const o: Record<string, unknown> = { id: pick([`dev-${i}`, `gw.${i}:a=b@c$'`, `d ${i}`]) };
  const module = r() < 0.2 ? pick(["custom", "$edgeAgent", "$edgeHub", "m-2", null, ""]) : undefined;
  if (module !== undefined) o.moduleId = module;
  o.eTag = "AAAA";
  if (r() < 0.9) o.status = pick(["enabled", "disabled", null, ""]);
  if (r() < 0.4) o.statusReason = pick(["maintenance", "", null, 0, 1.5, "Zürich"]);
  if (r() < 0.9)
    o.authentication = pick([
      { symmetricKey: { primaryKey: `k${i}+/=`, secondaryKey: "s" }, x509Thumbprint: { primaryThumbprint: null, secondaryThumbprint: null }, type: "sas" },
      { x509Thumbprint: { primaryThumbprint: "AB12", secondaryThumbprint: "CD34" }, type: "selfSigned" },
      { type: "certificateAuthority" },
      null,
    ]);
  o.twinETag = "AAAAAAAAAAE=";
  if (r() < 0.7) o.tags = pick([{ site: "東京 🚀", n: i, nested: { a: [1, 2, { b: null }], e: 1.5e-3 } }, {}, null, { "quote\"d": "back\\slash", "ctl": "tab\there\nnl" }]);
  if (r() < 0.8) {
    const desired: Record<string, unknown> = { $metadata: { $lastUpdated: "2026-11-26T00:00:00Z" }, $version: 3 };
    if (r() < 0.7) Object.assign(desired, { interval: i % 60, firmware: { version: "1.4.2", channel: pick(["stable", "béta"]) }, flags: [true, false, null] });
    o.properties = { desired, reported: { $metadata: {}, $version: 1, battery: 0.5 } };
  }
  if (r() < 0.6) o.capabilities = pick([{ iotEdge: true }, { iotEdge: false }, null]);
  if (r() < 0.4) o.deviceScope = pick(["ms-azure-iot-edge://gw-1-637000000000000001", "ms-azure-iot-edge://gw.2-x-637000000000000002", null]);
  if (r() < 0.3) o.parentScopes = pick([["ms-azure-iot-edge://gw-top-637000000000000003"], [], null]);
  if (r() < 0.2) o.connectionState = "Disconnected";
  return o;
}

/** The line as the JSON path sees it. */
function reference(text: string) {
  const p = parseLine(text);
  if (!p.ok) return { kind: MALFORMED, reason: p.reason, id: p.id ?? "" };
  const t = transformLine(p.line);
  if (!t) return { kind: DROPPED };
  return { kind: (t.isModule ? MODULE : DEVICE) | (t.parentId ? HAS_PARENT : 0) | (keylessAuth(p.line.authentication || undefined) ? KEYLESS : 0), t };
}

function batchOf(text: string) {
  const b = transformBatch(Buffer.from(text + "\n", "utf8"), "createOrUpdate");
  const bytes = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.length);
  const n = b.kinds.length;
  return {
    n,
    kind: b.kinds[0],
    importLine: bytes.toString("utf8", 0, b.ends[0]).replace(/\n$/, ""),
    reparent: bytes.toString("utf8", b.ends[n - 1], b.ends[2 * n - 1]),
    manifest: bytes.toString("utf8", b.ends[2 * n - 1], b.ends[3 * n - 1]),
    errors: b.errors,
    digest: hexPair([b.hashes[2], b.hashes[3]]),
  };
}

describe("the transform's byte-level reading of export lines", () => {
  it("gives the JSON path's import line, parent, kind and verdict for 3,000 generated lines of every shape, compact or spaced", () => {
    const r = rng(20261126);
    let exact = 0;
    for (let i = 0; i < 3000; i++) {
      const o = exportObject(r, i);
      const compact = JSON.stringify(o);
      // Spaced: whitespace between every token (JSON escapes real newlines inside strings, so these are formatting only).
      const spaced = JSON.stringify(o, null, "\t").replace(/\n/g, " ");
      for (const text of [compact, spaced]) {
        const want = reference(text);
        const got = batchOf(text);
        expect(got.n).toBe(1);
        expect(got.kind, text).toBe(want.kind);
        if (!("t" in want) || !want.t) continue;
        expect(JSON.parse(got.importLine), text).toEqual(JSON.parse(want.t.importLine));
        expect(got.reparent, text).toBe(want.t.parentId ? `${want.t.parentId}\t${got.importLine}\n` : "");
        const [id, moduleId] = got.manifest.split("\t");
        expect(`${id}${moduleId ? `/${moduleId}` : ""}`).toBe(want.t.key);
        if (text === compact && !compact.includes("\\")) {
          // The export's own compact form: byte for byte what JSON.stringify writes, so the same digest.
          expect(got.importLine, text).toBe(want.t.importLine);
          expect(got.digest).toBe(want.t.contentHash);
          exact++;
        }
      }
    }
    expect(exact).toBeGreaterThan(1000);
  });

  it("writes cleared fields (empty tags, desired, statusReason, capabilities, scopes) byte for byte as the JSON path does", () => {
    const lines = [
      { id: "cleared", eTag: "x", status: "enabled", tags: {}, properties: { desired: { $metadata: {}, $version: 5 }, reported: { a: 1 } } },
      { id: "bare" },
      { id: "nulls", tags: null, statusReason: null, capabilities: null, deviceScope: null, parentScopes: null },
      { id: "top-edge", capabilities: { iotEdge: true }, deviceScope: "ms-azure-iot-edge://top-edge-1", parentScopes: [] },
      { id: "edge-no-field", capabilities: { iotEdge: true }, deviceScope: "ms-azure-iot-edge://edge-no-field-1" },
      { id: "gw", moduleId: "m", tags: {}, properties: { desired: {} } },
      { id: "gw", moduleId: "n" },
    ];
    for (const o of lines) {
      const text = JSON.stringify(o);
      const want = reference(text);
      const got = batchOf(text);
      if (!("t" in want) || !want.t) throw new Error(`not transformed: ${text}`);
      expect(got.importLine, text).toBe(want.t.importLine);
      expect(got.digest, text).toBe(want.t.contentHash);
    }
    const cleared = JSON.parse(batchOf(JSON.stringify(lines[0])).importLine);
    expect(cleared).toMatchObject({ tags: {}, properties: { desired: {} }, statusReason: "", capabilities: { iotEdge: false }, deviceScope: "" });
    expect(JSON.parse(batchOf(JSON.stringify(lines[3])).importLine).parentScopes).toEqual([]);
    expect(JSON.parse(batchOf(JSON.stringify(lines[4])).importLine)).not.toHaveProperty("parentScopes");
    expect(JSON.parse(batchOf(JSON.stringify(lines[6])).importLine)).not.toHaveProperty("tags");
  });

  it("calls malformed exactly what JSON.parse does, with the same reason and id", () => {
    const good = JSON.stringify({ id: "dev-1", status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: "a", secondaryKey: "b" } }, tags: { n: 1.5e3 } });
    const cases = [
      good.slice(0, -1),
      good.slice(0, 20),
      good + "}",
      good + " x",
      good.replace('"enabled"', "enabled"),
      good.replace("1.5e3", "1.5e"),
      good.replace("1.5e3", "01"),
      good.replace("1.5e3", "-"),
      good.replace("1.5e3", "tru"),
      good.replace('"a"', '"a\\x"'),
      good.replace('"a"', '"a\\u12"'),
      good.replace('"a"', '"a\u0001"'),
      good.replace("{", "[").replace(/}$/, "]"),
      '"just a string"',
      "[]",
      "{}",
      '{"id":5}',
      '{"id":""}',
      '{"id":"d","moduleId":7}',
      '{"id":"d","tags":{"a":1,}}',
      '{"id":"d" "status":"enabled"}',
      "{" + '"a":['.repeat(300) + "]".repeat(300) + ',"id":"deep"}',
    ];
    for (const text of cases) {
      const want = reference(text);
      const got = batchOf(text);
      expect(got.kind, text).toBe(want.kind);
      if (want.kind === MALFORMED) expect(got.errors, text).toEqual([[0, want.id, want.reason]]);
    }
  });

  it("leaves to JSON.parse what it does not fully understand: escaped keys or ids, repeated fields, odd types", () => {
    const s = new ExportLineScanner();
    const scan = (text: string) => {
      const b = Buffer.from(text);
      const ok = s.scan(b, 0, b.length);
      return { ok, unusual: s.unusual };
    };
    expect(scan('{"id":"d","status":"enabled","properties":{"desired":{"a":1,"$version":2}}}')).toEqual({ ok: true, unusual: false });
    expect(scan('{"\\u0069d":"d"}').unusual).toBe(true);
    expect(scan('{"id":"d","id":"e"}').unusual).toBe(true);
    expect(scan('{"id":"d","properties":{"desired":{"a":1,"a":2}}}').unusual).toBe(true);
    expect(scan('{"id":"d","properties":{"desired":{"a":1}},"properties":{}}').unusual).toBe(true);
    expect(scan('{"id":"d","properties":{"desired":"text"}}').unusual).toBe(true);
    expect(scan('{"id":"d","tags":{"a":1}} ').ok).toBe(true);
    expect(scan('{"id":"d"} x').ok).toBe(false);
    // What the JSON path then makes of them is the reference (checked above); escaped ids still copy exactly.
    const escapedId = batchOf('{"id":"d\\u0041"}');
    expect(JSON.parse(escapedId.importLine)).toMatchObject({ id: "dA" });
    expect(escapedId.manifest).toMatch(/^dA\t\t/);
    expect(batchOf('{"id":"d","moduleId":"$edgeHub"}').kind).toBe(DROPPED);
  });
});
