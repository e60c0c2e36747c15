import { describe, expect, it } from "vitest";
import { bucketCountFor, bucketOf, compareConfigurationStreams, compareDeviceStreams } from "../../components/devices/verify";
import { comparableFields, differingFields, EDGE_SYSTEM_MODULES, lineKey, type ExportLine } from "../../components/devices/transform";

async function* from(lines: object[]) {
  for (const l of lines) yield JSON.stringify(l);
}

const sas = (id: string, k = "a2V5") => ({ id, eTag: "1", status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: k, secondaryKey: k } }, tags: { t: id }, properties: { desired: { d: 1, $version: 3 }, reported: { r: 1 } }, capabilities: { iotEdge: false } });

describe("compareDeviceStreams (bucketed, bounded memory)", () => {
  it("finds missing, extra and different devices and which fields differ, across buckets, in any order", async () => {
    const source = [sas("a"), sas("b"), sas("c"), { ...sas("d"), status: "disabled", statusReason: "lost" }, { id: "gw", status: "enabled", capabilities: { iotEdge: true }, deviceScope: "ms-azure-iot-edge://gw-1" }, { id: "gw", moduleId: "filter", properties: { desired: { x: 1 } } }, { id: "gw", moduleId: "$edgeAgent" }, { id: "leaf", status: "enabled", deviceScope: "ms-azure-iot-edge://gw-1", parentScopes: ["ms-azure-iot-edge://gw-1"] }];
    const clone = [
      { id: "leaf", status: "enabled", deviceScope: "ms-azure-iot-edge://gw-99", parentScopes: ["ms-azure-iot-edge://gw-99"] }, // same parent, other scope: equal
      { id: "gw", moduleId: "$edgeHub" },
      { id: "gw", moduleId: "filter", properties: { desired: { x: 2 } } },
      { id: "gw", status: "enabled", capabilities: { iotEdge: true }, deviceScope: "ms-azure-iot-edge://gw-99" },
      { ...sas("d"), status: "disabled" }, // statusReason lost
      sas("c", "b3RoZXI="), // other key
      { ...sas("b"), eTag: "77", properties: { desired: { d: 1, $version: 9 } } }, // only hub bookkeeping differs
      sas("zzz"),
    ];
    const r = await compareDeviceStreams({ sourceLines: from(source), cloneLines: from(clone), sizeHint: 0, cap: 10, buckets: 3 });
    expect(r.missing).toEqual(["a"]);
    expect(r.extra).toEqual(["zzz"]);
    expect(r.different.sort((x, y) => x.id.localeCompare(y.id) || (x.moduleId ?? "").localeCompare(y.moduleId ?? ""))).toEqual([
      { id: "c", fields: ["keys"] },
      { id: "d", fields: ["statusReason"] },
      { id: "gw", moduleId: "filter", fields: ["desired"] },
    ]);
    expect(r).toMatchObject({ source: 6, clone: 6, sourceModules: 1, cloneModules: 1, matched: 3, missingCount: 1, extraCount: 1, differentCount: 3 });
    expect(r.badKeys.sort()).toEqual(["a", "c", "d", "gw/filter"]);
  });

  it("a parent change is a difference even when scopes are hub-specific", async () => {
    const r = await compareDeviceStreams({
      sourceLines: from([{ id: "leaf", deviceScope: "ms-azure-iot-edge://gw1-1" }]),
      cloneLines: from([{ id: "leaf", deviceScope: "ms-azure-iot-edge://gw2-1" }]),
      sizeHint: 0,
      cap: 10,
    });
    expect(r.different).toEqual([{ id: "leaf", fields: ["parent"] }]);
  });

  it("caps the lists but keeps counts exact", async () => {
    const src = Array.from({ length: 50 }, (_, i) => sas(`s${i}`));
    const r = await compareDeviceStreams({ sourceLines: from(src), cloneLines: from([]), sizeHint: 0, cap: 5, buckets: 4 });
    expect(r.missing).toHaveLength(5);
    expect(r.missingCount).toBe(50);
    expect(r.source).toBe(50);
  });

  it("applies the filter to both sides; modules follow their device", async () => {
    const filter = { query: "tags.t = 'a'" };
    const r = await compareDeviceStreams({
      sourceLines: from([sas("a"), { id: "a", moduleId: "m" }, sas("b"), { id: "b", moduleId: "m" }]),
      cloneLines: from([sas("a"), { id: "a", moduleId: "m" }, sas("x")]),
      sizeHint: 0,
      cap: 10,
      filter,
    });
    expect(r).toMatchObject({ source: 1, sourceModules: 1, clone: 1, cloneModules: 1, matched: 1, missingCount: 0, extraCount: 0, differentCount: 0 });
  });

  it("agrees with a plain in-memory comparison on a few thousand generated lines, whatever the bucket count", async () => {
    // Deterministic pseudo-random edits of a clone: removals, other keys, other desired
    // properties, extra devices and modules, repeated lines, modules without their device.
    let seed = 7;
    const rnd = () => ((seed = Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
    const source: ExportLine[] = [];
    for (let i = 0; i < 1500; i++) {
      const id = `dev-${i}${i % 7 === 0 ? "-ümlaut" : ""}`;
      source.push(sas(id, `k${i}`) as ExportLine);
      if (i % 5 === 0) source.push({ id, moduleId: `m${i % 3}`, properties: { desired: { v: i } } } as ExportLine);
      if (i % 11 === 0) source.push({ id, moduleId: "$edgeAgent" } as ExportLine);
    }
    source.push({ id: "orphan", moduleId: "m" } as ExportLine); // a module with no device line
    source.push(sas("repeated", "old") as ExportLine, sas("repeated", "new") as ExportLine); // the later line counts
    const clone: ExportLine[] = [];
    for (const l of source) {
      if (l.id === "repeated") continue;
      const x = rnd();
      if (x < 0.03) continue; // missing
      if (x < 0.05) clone.push({ ...l, authentication: { type: "sas", symmetricKey: { primaryKey: "other", secondaryKey: "other" } } } as ExportLine);
      else if (x < 0.07) clone.push({ ...l, properties: { desired: { changed: true } } } as ExportLine);
      else if (x < 0.08) clone.push(l, l); // the second one is extra
      else clone.push(l);
    }
    clone.push(sas("repeated", "new") as ExportLine, sas("extra-1") as ExportLine, { id: "extra-1", moduleId: "m" } as ExportLine, { id: "no-device-here", moduleId: "m" } as ExportLine);
    clone.reverse(); // exports are not sorted

    // The reference: whole exports in Maps, with the same rules.
    const index = (lines: ExportLine[]) => {
      const m = new Map<string, ExportLine>();
      for (const l of lines) if (!(l.moduleId && EDGE_SYSTEM_MODULES.has(l.moduleId))) m.set(lineKey(l), l);
      for (const [k, l] of m) if (l.moduleId && !m.has(l.id)) m.delete(k); // modules count under a device of their side
      return m;
    };
    const s = index(source);
    const c = index(clone);
    const cloneLines = clone.filter((l) => !(l.moduleId && EDGE_SYSTEM_MODULES.has(l.moduleId)) && (!l.moduleId || c.has(l.id)));
    const want = { missing: [] as string[], different: [] as string[], extra: cloneLines.length - [...c.keys()].filter((k) => s.has(k)).length, matched: 0 };
    for (const [k, l] of s) {
      const other = c.get(k);
      if (!other) want.missing.push(k);
      else if (differingFields(comparableFields(l), comparableFields(other)).length > 0) want.different.push(k);
      else if (!l.moduleId) want.matched++;
    }
    expect(want.missing.length).toBeGreaterThan(20);
    expect(want.different.length).toBeGreaterThan(20);

    for (const buckets of [1, 7, 64]) {
      const r = await compareDeviceStreams({ sourceLines: from(source), cloneLines: from(clone), sizeHint: 0, cap: 10_000, buckets });
      expect(r.missing.sort(), `missing with ${buckets} buckets`).toEqual(want.missing.sort());
      expect(r.different.map((d) => (d.moduleId ? `${d.id}/${d.moduleId}` : d.id)).sort(), `different with ${buckets} buckets`).toEqual(want.different.sort());
      expect(r.extraCount, `extra with ${buckets} buckets`).toBe(want.extra);
      expect(r.matched).toBe(want.matched);
      expect(r.badKeys.sort()).toEqual([...want.missing, ...want.different].sort());
      expect(r.malformed).toBe(0);
    }
  });

  it("counts malformed lines on either side without stopping; skips blank lines, reads CRLF", async () => {
    async function* raw(lines: string[]) {
      yield* lines;
    }
    const ok = JSON.stringify(sas("a"));
    const b = JSON.stringify(sas("b"));
    const r = await compareDeviceStreams({ sourceLines: raw([ok, "{not json", '{"noId":1}', "", `${b}\r`]), cloneLines: raw(["[1]", "  ", ok, b]), sizeHint: 0, cap: 10 });
    expect(r).toMatchObject({ matched: 2, malformed: 3, missingCount: 0, extraCount: 0 }); // blank lines skipped, CRLF read as a line end
  });

  it("bucket choice is stable and spreads ids; bucket count grows with export size", () => {
    // Stable = the same bucket in every process and run (a resumed verify reopens bucket files an
    // earlier process wrote): bucketOf is FNV-1a 32-bit modulo the count, checked against the
    // published FNV-1a vectors (draft-eastlake-fnv, "Test Vectors"), not against itself.
    const vectors: Array<[string, number]> = [["", 0x811c9dc5], ["a", 0xe40c292c], ["foobar", 0xbf9cf968]];
    for (const [id, hash] of vectors) for (const n of [1, 7, 16, 256, 0x7fffffff]) expect(bucketOf(id, n), `${id} mod ${n}`).toBe(hash % n);
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[bucketOf(`dev-${i}`, 8)]++;
    for (const c of counts) expect(c).toBeGreaterThan(700);
    expect(bucketCountFor(0)).toBe(1);
    expect(bucketCountFor(500 << 20)).toBe(125);
    expect(bucketCountFor(100 * 2 ** 30)).toBe(256);
  });
});

describe("compareConfigurationStreams", () => {
  it("compares by id and copied content, ignoring etags and metrics results", async () => {
    const c1 = { id: "adm", content: { deviceContent: { "properties.desired.x": 1 } }, targetCondition: "*", priority: 1, etag: "1" };
    const r = await compareConfigurationStreams(from([c1, { id: "gone", content: {} }, { id: "changed", priority: 1 }]), from([{ ...c1, etag: "9", systemMetrics: { results: { a: 1 } } }, { id: "changed", priority: 2 }, { id: "new" }]));
    expect(r).toEqual({ source: 3, clone: 3, missing: ["gone"], extra: ["new"], different: ["changed"], unreadable: [] });
  });
});
