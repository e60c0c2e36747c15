/**
 * Replication lag (service-behaviours.md §11): differences found right after an import are
 * rechecked device by device within a bounded window; lag settles, real differences stay.
 */
import { describe, expect, it } from "vitest";
import { recheckDifferences } from "../../components/devices/consistency";
import type { HubClient } from "../../components/devices/hub-client";
import type { ExportLine } from "../../components/devices/transform";
import type { DeviceComparison } from "../../components/devices/types";

const line = (id: string, extra: Partial<ExportLine> = {}): ExportLine => ({ id, status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: `p-${id}`, secondaryKey: `s-${id}` } }, tags: { a: 1 }, ...extra });
const comparison = (o: Partial<DeviceComparison>): DeviceComparison => ({ source: 3, clone: 3, sourceModules: 0, cloneModules: 0, matched: 0, missingCount: 0, extraCount: 0, differentCount: 0, missing: [], extra: [], different: [], ...o });

describe("recheckDifferences", () => {
  it("drops what settles within the window (a new device appears, a deleted one goes, a stale twin catches up) and keeps real differences", async () => {
    const source = new Map<string, ExportLine>([["new-1", line("new-1")], ["stale", line("stale", { tags: { a: 2 } })], ["real", line("real", { status: "disabled" })]]);
    let round = 0;
    const reads: string[] = [];
    const read = async (key: string): Promise<ExportLine | undefined> => {
      reads.push(`${round}:${key}`);
      if (key === "new-1") return round >= 1 ? line("new-1") : undefined; // visible from the second round
      if (key === "gone") return round >= 2 ? undefined : line("gone"); // still listed for two rounds
      if (key === "stale") return line("stale", { tags: { a: round >= 1 ? 2 : 1 } });
      return line("real"); // enabled on the clone, disabled at the original: real
    };
    const r = comparison({ missingCount: 1, missing: ["new-1"], extraCount: 1, extra: ["gone"], differentCount: 2, different: [{ id: "stale", fields: ["tags"] }, { id: "real", fields: ["status"] }], matched: 0 });
    const logs: string[] = [];
    const out = await recheckDifferences({} as HubClient, r, {
      until: Date.now() + 5_000,
      firstWaitMs: 10,
      source,
      log: (l) => logs.push(l),
      read: async (k) => {
        const v = await read(k);
        if (k === "real") round++; // one round = one pass over the pending keys (real is read last)
        return v;
      },
    });
    expect(out).toMatchObject({ missingCount: 0, missing: [], extraCount: 0, extra: [], differentCount: 1, different: [{ id: "real", fields: ["status"] }], matched: 2 });
    // Settled keys are not read again: new-1 twice (absent, then there), never after.
    expect(reads.filter((x) => x.endsWith(":new-1"))).toHaveLength(2);
    expect(logs.some((l) => /difference\(s\) settled on recheck/.test(l))).toBe(true);
  });

  it("does not recheck a long or truncated list (that is not lag), nor wait past the window", async () => {
    const reads: string[] = [];
    const read = async (k: string) => {
      reads.push(k);
      return undefined;
    };
    const truncated = comparison({ missingCount: 5, missing: ["a", "b"] });
    expect(await recheckDifferences({} as HubClient, truncated, { until: Date.now() + 1000, source: new Map(), read })).toBe(truncated);
    expect(reads).toEqual([]);
    const real = comparison({ missingCount: 1, missing: ["a"] });
    const out = await recheckDifferences({} as HubClient, real, { until: Date.now() + 300, firstWaitMs: 50, source: new Map([["a", line("a")]]), read });
    expect(out.missing).toEqual(["a"]);
    expect(reads.length).toBeGreaterThan(1); // re-read within the window, then given up
  });

  it("leaves devices only on the clone alone when the run deleted none (they were there before: no wait for them to vanish)", async () => {
    const reads: string[] = [];
    const read = async (k: string) => {
      reads.push(k);
      return k === "new-1" ? line("new-1") : line(k);
    };
    const r = comparison({ missingCount: 1, missing: ["new-1"], extraCount: 2, extra: ["before-1", "before-2"] });
    const out = await recheckDifferences({} as HubClient, r, { until: Date.now() + 60_000, firstWaitMs: 30_000, source: new Map([["new-1", line("new-1")]]), read, recheckExtra: false });
    // The lagging new device settled on its first read; the extras were never read nor waited for.
    expect(reads).toEqual(["new-1"]);
    expect(out).toMatchObject({ missingCount: 0, missing: [], extraCount: 2, extra: ["before-1", "before-2"], matched: 1 });
  });
});
