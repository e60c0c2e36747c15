/**
 * The generator the rehearsal, benchmark and `devices generate` share: every kind appears even in
 * a tiny fleet, the edge hierarchy is well formed (parents before children, two levels), lines are
 * deterministic per seed, and a revision changes exactly the selected devices.
 */
import { describe, expect, it } from "vitest";
import { expectedCounts, generateDeviceLines, generateDevices, kindOf } from "../../components/devices/generate";

describe("device generator", () => {
  it("covers every kind in the first 8 devices", () => {
    const kinds = new Set([...generateDevices({ count: 8 })].map((d) => d.kind));
    expect([...kinds].sort()).toEqual(["certificateAuthority", "disabled", "edge", "edgeChild", "nestedEdge", "sas", "selfSigned"]);
  });

  it("counts what it streams", () => {
    for (const count of [1, 8, 49, 50, 51, 1234]) {
      const lines = [...generateDeviceLines({ count })].map((l) => JSON.parse(l) as { id: string; moduleId?: string });
      const e = expectedCounts(count);
      expect(lines.filter((l) => !l.moduleId)).toHaveLength(e.devices);
      expect(lines.filter((l) => l.moduleId)).toHaveLength(e.modules);
      expect(Object.values(e.byKind).reduce((a, b) => a + b, 0)).toBe(count);
    }
  });

  it("builds a two-level edge hierarchy with foreign scopes, parents first", () => {
    const seen = new Map<string, { edge: boolean; scope?: string }>();
    let nested = 0;
    for (const d of generateDevices({ count: 500 })) {
      const rec = d.records[0] as { capabilities: { iotEdge: boolean }; deviceScope?: string; parentScopes?: string[] };
      if (d.parentId) {
        const parent = seen.get(d.parentId);
        expect(parent?.edge).toBe(true);
        expect(rec.parentScopes).toEqual([parent!.scope]);
        if (rec.capabilities.iotEdge) nested++;
        else expect(rec.deviceScope).toBe(parent!.scope);
      }
      if (rec.capabilities.iotEdge) expect(rec.deviceScope).toMatch(new RegExp(`^ms-azure-iot-edge://${d.id}-\\d{18}$`));
      seen.set(d.id, { edge: rec.capabilities.iotEdge, scope: rec.deviceScope });
    }
    expect(nested).toBe(10);
  });

  it("gives each kind its own authentication and status", () => {
    for (const d of generateDevices({ count: 50 })) {
      const r = d.records[0] as { status: string; statusReason?: string; authentication: { type: string; symmetricKey?: { primaryKey: string }; x509Thumbprint?: { primaryThumbprint: string | null } } };
      const expectedType = d.kind === "selfSigned" ? "selfSigned" : d.kind === "certificateAuthority" ? "certificateAuthority" : "sas";
      expect(r.authentication.type).toBe(expectedType);
      if (expectedType === "sas") expect(Buffer.from(r.authentication.symmetricKey!.primaryKey, "base64")).toHaveLength(32);
      if (expectedType === "selfSigned") expect(r.authentication.x509Thumbprint!.primaryThumbprint).toMatch(/^[0-9A-F]{40}$/);
      expect(r.status).toBe(d.kind === "disabled" ? "disabled" : "enabled");
      expect(Boolean(r.statusReason)).toBe(d.kind === "disabled");
    }
  });

  it("is deterministic per seed and changes only the selected devices with a revision", () => {
    const a = [...generateDeviceLines({ count: 300 })];
    expect([...generateDeviceLines({ count: 300 })]).toEqual(a);
    expect([...generateDeviceLines({ count: 300, seed: "other" })]).not.toEqual(a);
    const changed = [...generateDeviceLines({ count: 300, select: (i) => i % 100 === 0, revision: 2 })];
    const ids = new Set(changed.map((l) => (JSON.parse(l) as { id: string }).id));
    expect([...ids]).toEqual(["gen-0000000", "gen-0000100", "gen-0000200"]);
    // Every changed device line differs; a module without desired properties (filter) stays the same.
    for (const l of changed) if (!l.includes('"moduleId"') || l.includes("desired")) expect(a).not.toContain(l);
    expect(kindOf(0).kind).toBe("edge");
  });
});
