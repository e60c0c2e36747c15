import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { UserError } from "../../components/errors";
import {
  canonicalJson,
  comparableFields,
  compileFilter,
  edgeIdFromScope,
  mayBeEdgeDevice,
  parentIdOf,
  parseLine,
  reparentLine,
  transformConfigurationLine,
  transformLine,
  type ExportLine,
} from "../../components/devices/transform";
import { ManifestIndex, manifestLine } from "../../components/devices/manifest";
import { backoffDelay, hubErrorCode, isJobQuotaExceeded, isTransient, retryAfterMs, withRetry } from "../../components/devices/retry";

const edge: ExportLine = {
  id: "gw-1",
  eTag: "MQ==",
  status: "enabled",
  authentication: { type: "sas", symmetricKey: { primaryKey: "cA==", secondaryKey: "cw==" } },
  twinETag: "AAAAAAAAAAI=",
  tags: { site: "berlin" },
  properties: { desired: { a: 1, $metadata: { $lastUpdated: "x" }, $version: 2 }, reported: { fw: "1.0" } },
  capabilities: { iotEdge: true },
  deviceScope: "ms-azure-iot-edge://gw-1-637000000000000001",
  parentScopes: ["ms-azure-iot-edge://top-gw-637000000000000002"],
};

describe("transformLine", () => {
  it("keeps keys, status, tags, desired and capabilities; drops etags, reported, twin metadata and edge scopes", () => {
    const t = transformLine(edge, "createOrUpdate")!;
    const out = JSON.parse(t.importLine);
    expect(out).toEqual({
      id: "gw-1",
      importMode: "createOrUpdate",
      status: "enabled",
      statusReason: "",
      authentication: { type: "sas", symmetricKey: { primaryKey: "cA==", secondaryKey: "cw==" } },
      tags: { site: "berlin" },
      properties: { desired: { a: 1 } },
      capabilities: { iotEdge: true },
    });
    expect(t.parentId).toBe("top-gw");
    expect(t.key).toBe("gw-1");
  });

  it("writes cleared fields as explicit empty values, so a sync clears them on the clone whether the service keeps or wipes a missing field", () => {
    const cleared = JSON.parse(transformLine({ id: "d", status: "enabled", tags: {}, properties: { desired: { $version: 4 } } })!.importLine);
    expect(cleared).toEqual({ id: "d", importMode: "createOrUpdate", status: "enabled", statusReason: "", tags: {}, properties: { desired: {} }, capabilities: { iotEdge: false }, deviceScope: "" });
    // Absent or null sections read as empty too.
    expect(JSON.parse(transformLine({ id: "d", tags: null, properties: null, capabilities: null })!.importLine)).toMatchObject({ tags: {}, properties: { desired: {} }, capabilities: { iotEdge: false } });
    // An edge device without a parent: parentScopes [] when the export carries the field; its own scope is the service's.
    const topEdge = JSON.parse(transformLine({ id: "gw", capabilities: { iotEdge: true }, deviceScope: "ms-azure-iot-edge://gw-1", parentScopes: [] })!.importLine);
    expect(topEdge.parentScopes).toEqual([]);
    expect(topEdge).not.toHaveProperty("deviceScope");
    // Without the field the export says nothing about its parent: the line must not remove one.
    expect(JSON.parse(transformLine({ id: "gw", capabilities: { iotEdge: true }, deviceScope: "ms-azure-iot-edge://gw-1" })!.importLine)).not.toHaveProperty("parentScopes");
    // A device with a parent gets its scope in the re-parent pass, not an empty one here.
    expect(JSON.parse(transformLine({ id: "leaf", deviceScope: "ms-azure-iot-edge://gw-1" })!.importLine)).not.toHaveProperty("deviceScope");
    // Module lines: desired always; tags only when the export carries module tags.
    const m = JSON.parse(transformLine({ id: "gw", moduleId: "filter", properties: { desired: { $version: 2 } } })!.importLine);
    expect(m).toEqual({ id: "gw", moduleId: "filter", importMode: "createOrUpdate", status: "enabled", properties: { desired: {} } });
    expect(JSON.parse(transformLine({ id: "gw", moduleId: "filter", tags: {} })!.importLine).tags).toEqual({});
    // Clearing is a change the delta manifest sees.
    expect(transformLine({ id: "d", tags: {} })!.contentHash).not.toBe(transformLine({ id: "d", tags: { a: 1 } })!.contentHash);
    expect(transformLine({ id: "d", properties: { desired: {} } })!.contentHash).not.toBe(transformLine({ id: "d", properties: { desired: { a: 1 } } })!.contentHash);
  });

  it("keeps statusReason and x509 thumbprints, and applies the import mode", () => {
    const line: ExportLine = { id: "d", status: "disabled", statusReason: "stolen", authentication: { type: "selfSigned", x509Thumbprint: { primaryThumbprint: "AB", secondaryThumbprint: "CD" } } };
    const out = JSON.parse(transformLine(line, "create")!.importLine);
    expect(out).toMatchObject({ importMode: "create", status: "disabled", statusReason: "stolen", authentication: { x509Thumbprint: { primaryThumbprint: "AB" } } });
  });

  it("drops $edgeAgent and $edgeHub module lines and keeps custom modules with their desired properties", () => {
    expect(transformLine({ id: "gw", moduleId: "$edgeAgent", status: "enabled" })).toBeUndefined();
    expect(transformLine({ id: "gw", moduleId: "$edgeHub", status: "enabled" })).toBeUndefined();
    const m = transformLine({ id: "gw", moduleId: "filter", authentication: { type: "sas", symmetricKey: { primaryKey: "k", secondaryKey: "l" } }, properties: { desired: { x: 1 }, reported: { y: 2 } } })!;
    expect(JSON.parse(m.importLine)).toEqual({ id: "gw", moduleId: "filter", importMode: "createOrUpdate", status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: "k", secondaryKey: "l" } }, properties: { desired: { x: 1 } } });
    expect(m.key).toBe("gw/filter");
    expect(m.isModule).toBe(true);
  });

  it("gives the same content hash whatever the etags, field order or import mode, and a different one when a copied field changes", () => {
    const a = transformLine({ id: "d", status: "enabled", tags: { x: 1, y: 2 }, eTag: "1" })!;
    const b = transformLine({ eTag: "2", tags: { x: 1, y: 2 }, status: "enabled", id: "d" }, "create")!;
    const c = transformLine({ id: "d", status: "enabled", tags: { x: 1, y: 3 } })!;
    expect(a.contentHash).toBe(b.contentHash);
    expect(c.contentHash).not.toBe(a.contentHash);
    // Reported properties are not copied, so a reported change is not a change to sync.
    const r = transformLine({ id: "d", status: "enabled", tags: { x: 1, y: 2 }, properties: { reported: { t: 9 } } })!;
    expect(r.contentHash).toBe(a.contentHash);
  });

  it("the hash follows the parent by id, not by scope (scopes differ between hubs)", () => {
    const leafA = transformLine({ id: "leaf", deviceScope: "ms-azure-iot-edge://gw-1-111", parentScopes: ["ms-azure-iot-edge://gw-1-111"] })!;
    const leafB = transformLine({ id: "leaf", deviceScope: "ms-azure-iot-edge://gw-1-222", parentScopes: ["ms-azure-iot-edge://gw-1-222"] })!;
    const leafC = transformLine({ id: "leaf", deviceScope: "ms-azure-iot-edge://gw-2-111", parentScopes: ["ms-azure-iot-edge://gw-2-111"] })!;
    expect(leafA.contentHash).toBe(leafB.contentHash);
    expect(leafC.contentHash).not.toBe(leafA.contentHash);
    expect(leafA.parentId).toBe("gw-1");
  });
});

describe("edge scopes", () => {
  it("reads the edge device id out of a scope, device ids with hyphens included", () => {
    expect(edgeIdFromScope("ms-azure-iot-edge://my-edge-gw-637891234567890123")).toBe("my-edge-gw");
    expect(edgeIdFromScope("")).toBeUndefined();
    expect(edgeIdFromScope("garbage")).toBeUndefined();
  });
  it("a leaf's parent is its deviceScope, an edge device's parent is its first parentScope, a top edge device has none", () => {
    expect(parentIdOf({ id: "leaf", deviceScope: "ms-azure-iot-edge://gw-1" })).toBe("gw");
    expect(parentIdOf({ id: "gw", capabilities: { iotEdge: true }, deviceScope: "ms-azure-iot-edge://gw-9" })).toBeUndefined();
    expect(parentIdOf(edge)).toBe("top-gw");
  });
  it("the second-pass line puts a leaf in its parent's clone scope and keeps an edge child's own scope", () => {
    const leaf = JSON.parse(reparentLine(JSON.stringify({ id: "leaf", importMode: "create", status: "enabled" }), "ms-azure-iot-edge://gw-5", undefined));
    expect(leaf).toMatchObject({ importMode: "update", deviceScope: "ms-azure-iot-edge://gw-5", parentScopes: ["ms-azure-iot-edge://gw-5"] });
    const child = JSON.parse(reparentLine(transformLine(edge)!.importLine, "ms-azure-iot-edge://top-gw-7", "ms-azure-iot-edge://gw-1-8"));
    expect(child).toMatchObject({ importMode: "update", deviceScope: "ms-azure-iot-edge://gw-1-8", parentScopes: ["ms-azure-iot-edge://top-gw-7"], authentication: edge.authentication });
  });
});

describe("parseLine", () => {
  it("reports malformed lines with the id when one is readable, never throws", () => {
    expect(parseLine("{not json")).toMatchObject({ ok: false, reason: "not valid JSON" });
    expect(parseLine('{"id":"dev-7","status":')).toMatchObject({ ok: false, id: "dev-7" });
    expect(parseLine("[1,2]")).toMatchObject({ ok: false });
    expect(parseLine('{"status":"enabled"}')).toMatchObject({ ok: false, reason: "missing id" });
    expect(parseLine('{"id":"a","moduleId":null}')).toMatchObject({ ok: true, line: { id: "a" } });
  });
});

describe("compileFilter", () => {
  const lines: ExportLine[] = [
    { id: "a", status: "enabled", tags: { site: "berlin" }, capabilities: { iotEdge: true } },
    { id: "b", status: "disabled", tags: { site: "berlin" } },
    { id: "c", status: "enabled", tags: { site: "paris" } },
  ];
  const ids = (f: ReturnType<typeof compileFilter>) => lines.filter((l) => f!.matches(l)).map((l) => l.id);
  it("filters by ids", () => expect(ids(compileFilter({ deviceIds: ["a", "c"] }))).toEqual(["a", "c"]));
  it("filters by tags, status and capabilities with AND", () => {
    expect(ids(compileFilter({ query: "SELECT * FROM devices WHERE tags.site = 'berlin' AND status = 'enabled'" }))).toEqual(["a"]);
    expect(ids(compileFilter({ query: "capabilities.iotEdge = true" }))).toEqual(["a"]);
    expect(ids(compileFilter({ query: "tags.site != 'berlin'" }))).toEqual(["c"]);
    expect(ids(compileFilter({ query: "deviceId IN ['b', 'c']" }))).toEqual(["b", "c"]);
  });
  it("reads desired properties, names with hyphens, and != on a missing property (devices not yet told to move)", () => {
    const moved: ExportLine[] = [
      { id: "m", properties: { desired: { "hub-name": "clone.example" } } },
      { id: "o", properties: { desired: { "hub-name": "orig.example" } } },
      { id: "n", properties: { desired: {} } },
      { id: "x" },
    ];
    const f = compileFilter({ query: "properties.desired.hub-name != 'clone.example'" })!;
    expect(moved.filter((l) => f.matches(l)).map((l) => l.id)).toEqual(["o", "n", "x"]);
  });
  it("no filter → undefined", () => expect(compileFilter({})).toBeUndefined());
  it("an unreadable query is one UserError naming filter.query", () => {
    expect(() => compileFilter({ query: "tags.site LIKE 'b%'" })).toThrow(UserError);
    expect(() => compileFilter({ query: "tags.site LIKE 'b%'" })).toThrow(/^filter\.query: /);
    expect(() => compileFilter({ query: "tags.site = berlin" })).toThrow(/filter\.query: cannot read the value/);
  });
});

describe("configurations", () => {
  it("keeps content verbatim (a layered deployment stays layered) and drops hub bookkeeping", () => {
    const layered = { id: "layer-1", schemaVersion: "1.0", labels: { a: "b" }, content: { modulesContent: { $edgeAgent: { "properties.desired.modules.sim": { type: "docker" } } } }, targetCondition: "tags.site='x'", priority: 10, etag: "MQ==", createdTimeUtc: "2020", systemMetrics: { results: {} }, metrics: { queries: { q: "SELECT" }, results: { q: 3 } } };
    const t = transformConfigurationLine(JSON.stringify(layered));
    expect("line" in t && JSON.parse(t.line)).toEqual({ importMode: "createOrUpdateIfMatchETag", id: "layer-1", schemaVersion: "1.0", labels: { a: "b" }, content: layered.content, targetCondition: "tags.site='x'", priority: 10, metrics: { queries: { q: "SELECT" } } });
    expect(transformConfigurationLine("nope")).toEqual({ error: "not valid JSON", id: undefined });
  });
});

describe("comparableFields", () => {
  it("digests keys (never holds them in clear) and ignores twin metadata", () => {
    const f = comparableFields(edge);
    expect(JSON.stringify(f)).not.toContain("cA==");
    expect(f).toMatchObject({ auth: "sas", status: "enabled", iotEdge: "true", parent: "top-gw" });
    const same = comparableFields({ ...edge, eTag: "x", properties: { desired: { a: 1 } }, deviceScope: "ms-azure-iot-edge://gw-1-999", parentScopes: ["ms-azure-iot-edge://top-gw-555"] });
    expect(same).toEqual(f);
    const rotated = comparableFields({ ...edge, authentication: { type: "sas", symmetricKey: { primaryKey: "cB==", secondaryKey: "cw==" } } });
    expect(rotated.keys).not.toBe(f.keys);
  });
  it("canonicalJson sorts keys at every level", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"e":2,"f":1}]},"b":1}');
  });
});

describe("ManifestIndex", () => {
  async function* lines(arr: string[]) {
    yield* arr;
  }
  it("classifies new, changed and unchanged lines and finds the deleted ones", async () => {
    const m = await ManifestIndex.load(lines([manifestLine("a", undefined, "h1"), manifestLine("b", undefined, "h2"), manifestLine("b", "mod", "h3"), manifestLine("gone", undefined, "h4")]));
    expect(m.size).toBe(4);
    expect(m.classify("a", "h1")).toBe("unchanged");
    expect(m.classify("b", "hX")).toBe("changed");
    expect(m.classify("b/mod", "h3")).toBe("unchanged");
    expect(m.classify("new", "h5")).toBe("new");
    expect(m.wasDeleted("gone")).toBe(true);
    expect(m.wasDeleted("a")).toBe(false);
    expect(m.wasDeleted("never")).toBe(false);
  });
});

describe("retry", () => {
  const httpError = (status: number, headers: Record<string, string> = {}, body?: string) => Object.assign(new Error("x"), { response: { statusCode: status, headers }, responseBody: body });
  it("classifies 429, 5xx and socket errors as transient, 400/401/404 not", () => {
    expect(isTransient(httpError(429))).toBe(true);
    expect(isTransient(httpError(503))).toBe(true);
    expect(isTransient(httpError(500))).toBe(true);
    expect(isTransient(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe(true);
    expect(isTransient(httpError(400))).toBe(false);
    expect(isTransient(httpError(401))).toBe(false);
    expect(isTransient(httpError(404))).toBe(false);
  });
  it("reads both error body formats and the header, and recognises JobQuotaExceeded", () => {
    expect(hubErrorCode(httpError(403, {}, JSON.stringify({ Message: JSON.stringify({ errorCode: 403003, message: "m" }) })))).toBe("403003");
    expect(hubErrorCode(httpError(404, {}, JSON.stringify({ Message: "ErrorCode:DeviceNotFound;x" })))).toBe("DeviceNotFound");
    expect(hubErrorCode(httpError(403, { "iothub-errorcode": "JobQuotaExceeded" }))).toBe("JobQuotaExceeded");
    expect(isJobQuotaExceeded(httpError(403, { "iothub-errorcode": "JobQuotaExceeded" }))).toBe(true);
    expect(isJobQuotaExceeded(httpError(403, {}, JSON.stringify({ Message: JSON.stringify({ errorCode: 403002 }) })))).toBe(false);
  });
  it("honours Retry-After in seconds and as a date", () => {
    expect(retryAfterMs(httpError(429, { "retry-after": "3" }))).toBe(3000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs(httpError(429, { "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }), now)).toBe(5000);
    expect(backoffDelay(1, httpError(429, { "retry-after": "7" }), { random: () => 0 })).toBe(7000);
  });
  it("backs off exponentially with jitter between half and the full step, capped", () => {
    const e = httpError(503);
    expect(backoffDelay(1, e, { baseMs: 100, random: () => 0 })).toBe(50);
    expect(backoffDelay(4, e, { baseMs: 100, random: () => 1 })).toBe(800);
    expect(backoffDelay(30, e, { baseMs: 100, maxMs: 1000, random: () => 1 })).toBe(1000);
  });
  it("withRetry retries transient failures, waits what the server asked, gives up on others", async () => {
    const waits: number[] = [];
    let calls = 0;
    const v = await withRetry(
      async () => {
        calls++;
        if (calls === 1) throw httpError(429, { "retry-after": "2" });
        if (calls === 2) throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
        return "ok";
      },
      { what: "t", sleep: async (ms) => void waits.push(ms), random: () => 0 },
    );
    expect(v).toBe("ok");
    expect(waits[0]).toBe(2000);
    expect(waits.length).toBe(2);
    await expect(withRetry(async () => { throw httpError(401); }, { what: "t", sleep: async () => undefined })).rejects.toThrow("x");
  });
});

// ../shared beside the project (CI lays it there); HUBCLONE_CORPUS points elsewhere.
const corpus = path.join(process.env.HUBCLONE_CORPUS ?? path.resolve(__dirname, "..", "..", "..", "shared", "corpus"), "devices");
if (!fs.existsSync(corpus)) console.warn(`transform.test: ${corpus} is absent; the corpus line tests are skipped`);
describe.skipIf(!fs.existsSync(corpus))("documented export lines (corpus)", () => {
  it("every documented line parses and transforms; twin metadata and reported properties do not reach the import line", () => {
    for (const f of fs.readdirSync(corpus).filter((n) => n.endsWith(".jsonl"))) {
      for (const text of fs.readFileSync(path.join(corpus, f), "utf8").split("\n").filter(Boolean)) {
        const p = parseLine(text);
        expect(p.ok).toBe(true);
        if (!p.ok) continue;
        const out = JSON.parse(transformLine(p.line)!.importLine);
        expect(out.eTag).toBeUndefined();
        expect(out.twinETag).toBeUndefined();
        expect(out.properties?.reported).toBeUndefined();
        expect(JSON.stringify(out)).not.toContain("$metadata");
        expect(out.status).toBe(p.line.status);
      }
    }
  });
});
if (!fs.existsSync(corpus)) console.log(`corpus ${corpus} missing: documented export lines not tested`);

describe("splitLines", () => {
  it("splits across chunk boundaries and multi-byte characters, drops CR, BOM and blank lines", async () => {
    const { splitLines } = await import("../../components/devices/staging");
    const text = "\uFEFF{\"id\":\"ä-1\"}\r\n\n{\"id\":\"€-2\"}\n{\"id\":\"3\"}";
    const bytes = Buffer.from(text, "utf8");
    async function* chunks(size: number) {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    }
    for (const size of [1, 2, 3, 7, 1000]) {
      const out: string[] = [];
      for await (const l of splitLines(chunks(size))) out.push(l);
      expect(out).toEqual(['{"id":"ä-1"}', '{"id":"€-2"}', '{"id":"3"}']);
    }
  });
});

describe("ManifestIndex at scale", () => {
  it("finds every one of 50,000 keys, tells changed from unchanged, and no stranger is found", async () => {
    async function* lines() {
      for (let i = 0; i < 50_000; i++) yield manifestLine(`dev-${i}`, i % 10 === 0 ? "mod" : undefined, `h${i}`);
    }
    const m = await ManifestIndex.load(lines());
    let unchanged = 0;
    let changed = 0;
    for (let i = 0; i < 50_000; i++) {
      const key = i % 10 === 0 ? `dev-${i}/mod` : `dev-${i}`;
      if (m.classify(key, i % 100 === 0 ? "other" : `h${i}`) === "unchanged") unchanged++;
      else changed++;
    }
    expect({ unchanged, changed }).toEqual({ unchanged: 49_500, changed: 500 });
    for (let i = 0; i < 1000; i++) expect(m.classify(`stranger-${i}`, "x")).toBe("new");
    expect(m.wasDeleted("dev-1")).toBe(false);
  });
});

describe("mayBeEdgeDevice", () => {
  it("finds edge devices however the export spaces the flag (import lines copy it verbatim), and nothing else", () => {
    expect(mayBeEdgeDevice('{"id":"gw","capabilities":{"iotEdge":true}}')).toBe(true);
    expect(mayBeEdgeDevice('{"id":"gw", "capabilities": {"iotEdge" : true}}')).toBe(true);
    expect(mayBeEdgeDevice('{"id":"d","capabilities":{"iotEdge":false}}')).toBe(false);
    expect(mayBeEdgeDevice('{"id":"d"}')).toBe(false);
  });
});
