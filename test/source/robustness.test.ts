/**
 * Damaged inputs never crash the reader: every mutation of a valid source either still reads or
 * fails with a UserError (one line). Deterministic (seeded), so a failure reproduces.
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { UserError } from "../../components/errors";
import { readHub } from "../../components/source";

const context = { subscriptionId: "0f1e2d3c-4b5a-6978-8a9b-aabbccddeeff", resourceGroup: "rg-orig", location: "westeurope" };
const root = path.join(__dirname, "..", "..");
const sources: Array<[string, Record<string, unknown>]> = [
  ["examples/fleet-hub-export.json", {}],
  ["examples/ContosoTestHub29358-export.json", {}],
  ["test/fixtures/source/arm-get-body.json", {}],
  ["test/fixtures/source/bicep-v2-modules.json", { hubName: "bicep-hub" }],
  ["test/fixtures/source/casing-variants.json", {}],
  ["test/fixtures/source/nested-outer-secure.json", { hubName: "orders-hub" }],
  ["test/fixtures/source/hub-state.json", {}],
  ["test/fixtures/source/snapshot.json", {}],
];

/** Small seeded PRNG (mulberry32) so every run mutates the same way. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = unknown;
const replacements: Json[] = [null, 42, -1, true, "", "x", "[", "[concat(", "[parameters('nope')]", "[variables('nope')]", "[reference('x')]", "[listKeys('x', '1').keys[5].value]", "****", [], {}, [1, "a"], { a: 1 }];

function paths(v: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function mutate(doc: Json, at: Array<string | number>, value: Json | undefined): Json {
  if (doc === undefined) return value;
  const copy = JSON.parse(JSON.stringify(doc));
  if (at.length === 0) return value;
  let cur = copy;
  for (const k of at.slice(0, -1)) cur = cur[k];
  const last = at[at.length - 1];
  if (value === undefined) {
    if (Array.isArray(cur)) cur.splice(last as number, 1);
    else delete cur[last];
  } else cur[last] = value;
  return copy;
}

describe("robustness: mutated sources read or fail with a UserError", () => {
  for (const [file, values] of sources) {
    it(file, () => {
      const doc = JSON.parse(fs.readFileSync(path.join(root, file), "utf8"));
      const all = paths(doc);
      const random = rng(all.length);
      let read = 0;
      let rejected = 0;
      for (let i = 0; i < 300; i++) {
        const at = all[Math.floor(random() * all.length)];
        const r = random();
        const value = r < 0.3 ? undefined : replacements[Math.floor(random() * replacements.length)];
        const mutant = mutate(doc, at, value);
        try {
          readHub(mutant, "mutant.json", { context, parameters: { values, secret: new Set() } });
          read++;
        } catch (e) {
          if (!(e instanceof UserError)) throw new Error(`mutation at ${JSON.stringify(at)} → ${JSON.stringify(value)} crashed: ${(e as Error).stack}`);
          expect(e.message).not.toContain("\n");
          rejected++;
        }
      }
      expect(read + rejected).toBe(300);
      expect(read).toBeGreaterThan(0);
    });
  }
});
