import { describe, expect, it } from "vitest";
import { DEVICE, DROPPED, HAS_PARENT, MALFORMED, MODULE, transformBatch, type TransformBatch } from "../../components/devices/transform-batch";
import { lineChunks, TransformPool } from "../../components/devices/transform-pool";
import { digestPair, hashPair, manifestLine } from "../../components/devices/manifest";
import { lineKey, parseLine, reparentEntry, transformLine } from "../../components/devices/transform";

/** An export with every case the splitter and the transform must get right. */
function exportText(): string {
  const lines: string[] = [];
  for (let i = 0; i < 400; i++) {
    lines.push(JSON.stringify({ id: `dev-${i}`, eTag: "MQ==", status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: `k${i}`, secondaryKey: "s" } }, tags: { site: "Zürich – 東京 🚀", n: i }, properties: { desired: { a: i, $version: 3 }, reported: { x: 1 } }, ...(i % 5 === 0 ? { deviceScope: "ms-azure-iot-edge://gw-1-637000000000000001" } : {}) }));
    if (i % 7 === 0) lines.push(JSON.stringify({ id: `dev-${i}`, moduleId: "$edgeAgent" }));
    if (i % 9 === 0) lines.push(JSON.stringify({ id: `dev-${i}`, moduleId: "custom", status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: "m", secondaryKey: "n" } } }));
    if (i === 123) lines.push(`{"id":"broken-${i}", "status":`);
    if (i === 200) lines.push("   ");
  }
  // A BOM, CRLF line ends, and no newline after the last line.
  return "\ufeff" + lines.join("\r\n");
}

/** Byte chunks cut at awkward places (inside multi-byte characters, inside "\r\n"). */
function chunks(text: string, size: number): Uint8Array[] {
  const all = Buffer.from(text, "utf8");
  const out: Uint8Array[] = [];
  for (let o = 0; o < all.length; o += size) out.push(new Uint8Array(all.subarray(o, Math.min(all.length, o + size))));
  return out;
}

async function* from(list: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of list) yield c;
}

/** The batches flattened: per line kind, key hashes, and the three sections' text. */
async function run(useWorker: boolean, size: number, batch?: number): Promise<{ kinds: number[]; hashes: number[]; sections: string[]; errors: string[]; worker: number }> {
  const pool = new TransformPool("createOrUpdate", false, useWorker);
  const kinds: number[] = [];
  const hashes: number[] = [];
  const sections = ["", "", ""];
  const errors: string[] = [];
  try {
    for await (const b of pool.map(from(chunks(exportText(), size)), { chunk: batch })) {
      const n = b.kinds.length;
      const text = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.length);
      const at = (j: number) => (j < 0 ? 0 : b.ends[j]);
      sections[0] += text.toString("utf8", 0, at(n - 1));
      sections[1] += text.toString("utf8", at(n - 1), at(2 * n - 1));
      sections[2] += text.toString("utf8", at(2 * n - 1), at(3 * n - 1));
      for (const [i, id, reason] of b.errors) errors.push(`${kinds.length + i}:${id}:${reason}`);
      kinds.push(...b.kinds);
      hashes.push(...b.hashes);
      pool.recycle(b);
    }
  } finally {
    await pool.close();
  }
  return { kinds, hashes, sections, errors, worker: pool.stats.worker };
}

describe("transform pool (the transform pass's worker thread)", () => {
  it("splits, parses and transforms the raw export exactly as the per-line functions do, in the worker and without it, whatever the chunk size", async () => {
    const lines = exportText().replace(/^\ufeff/, "").split("\r\n").filter((l) => l.trim());
    // The expectation from the per-line functions the in-thread engine path uses.
    const want = { kinds: [] as number[], imports: "", reparents: "", manifest: "", hashes: [] as number[], errors: [] as string[] };
    lines.forEach((text, i) => {
      const p = parseLine(text);
      if (!p.ok) {
        want.kinds.push(MALFORMED);
        want.errors.push(`${i}:${p.id ?? ""}:${p.reason}`);
        return;
      }
      const t = transformLine(p.line);
      if (!t) return void want.kinds.push(DROPPED);
      want.kinds.push((t.isModule ? MODULE : DEVICE) | (t.parentId ? HAS_PARENT : 0));
      want.hashes.push(...hashPair(lineKey(p.line)), ...digestPair(t.contentHash));
      want.imports += t.importLine + "\n";
      if (t.parentId) want.reparents += reparentEntry(t.parentId, t.importLine) + "\n";
      want.manifest += manifestLine(p.line.id, p.line.moduleId, t.contentHash) + "\n";
    });
    expect(want.errors).toHaveLength(1);
    expect(want.kinds.filter((k) => k === DROPPED).length).toBeGreaterThan(0);
    expect(want.reparents.length).toBeGreaterThan(0);

    // Download chunks cut lines, CRLFs and multi-byte characters; batches (`batch` bytes, whole lines) differ in size.
    for (const [useWorker, size, batch] of [[true, 7, 300], [true, 4096, 5000], [true, 4096, undefined], [false, 7, 1000], [false, 100_000, undefined]] as const) {
      const got = await run(useWorker, size, batch);
      if (useWorker) expect(got.worker, "batches transformed in the worker thread").toBeGreaterThan(0);
      else expect(got.worker).toBe(0);
      expect(got.kinds).toEqual(want.kinds);
      expect(got.errors).toEqual(want.errors);
      expect(got.sections[0]).toBe(want.imports);
      expect(got.sections[1]).toBe(want.reparents);
      expect(got.sections[2]).toBe(want.manifest);
      // hashes of dropped/malformed lines are zero-filled; compare the copied lines' ones in order
      const copied = got.kinds.flatMap((k, i) => (k === MALFORMED || k === DROPPED ? [] : got.hashes.slice(4 * i, 4 * i + 4)));
      expect(copied).toEqual(want.hashes);
    }
  }, 60_000);

  it("in-thread batches carry the line keys when asked (a sync with keys to resend)", () => {
    const b: TransformBatch = transformBatch(Buffer.from(`${JSON.stringify({ id: "a" })}\n${JSON.stringify({ id: "a", moduleId: "m" })}`), "createOrUpdate", true);
    expect(b.keys).toEqual(["a", "a/m"]);
  });

  it("cuts the download into batches of whole lines (a line longer than a batch stays whole; the BOM goes)", async () => {
    const text = "\ufeff" + ["short", "x".repeat(5000), "é".repeat(300) + "\r", "", "tail"].join("\n");
    const out: Buffer[] = [];
    for await (const c of lineChunks(from(chunks(text, 333)), 1000)) out.push(Buffer.from(c));
    expect(Buffer.concat(out).toString("utf8")).toBe(text.slice(1));
    for (const c of out.slice(0, -1)) expect(c[c.length - 1]).toBe(10);
    expect(out.some((c) => c.includes("x".repeat(5000)))).toBe(true);
    expect(out.length).toBeGreaterThan(1);
    expect(out[out.length - 1].toString().endsWith("\n\ntail")).toBe(true);
  });
});
