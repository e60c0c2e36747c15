import { describe, expect, it } from "vitest";
import { bucketCountFor, bucketOf, compareConfigurationStreams, compareDeviceStreams } from "../../components/devices/verify";
import { compileFilter } from "../../components/devices/transform";

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
    const filter = compileFilter({ query: "tags.t = 'a'" });
    const r = await compareDeviceStreams({
      sourceLines: from([sas("a"), { id: "a", moduleId: "m" }, sas("b"), { id: "b", moduleId: "m" }]),
      cloneLines: from([sas("a"), { id: "a", moduleId: "m" }, sas("x")]),
      sizeHint: 0,
      cap: 10,
      filter,
    });
    expect(r).toMatchObject({ source: 1, sourceModules: 1, clone: 1, cloneModules: 1, matched: 1, missingCount: 0, extraCount: 0, differentCount: 0 });
  });

  it("bucket choice is stable and spreads ids; bucket count grows with export size", () => {
    expect(bucketOf("device-1", 16)).toBe(bucketOf("device-1", 16));
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
    expect(r).toEqual({ source: 3, clone: 3, missing: ["gone"], extra: ["new"], different: ["changed"] });
  });
});
