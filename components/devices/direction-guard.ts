/**
 * The direction and target guards of a copy or sync: "the original is read-only" must hold even
 * when a user swaps the two hubs. Every run records, next to its checkpoint, which hub it read
 * (the original) and which it wrote (the clone): `runs/<runId>/direction.json`. Before any job, a
 * run is refused when
 *   1. its target is a hub that a recorded run in the same staging container read as an original
 *      (the swapped-arguments case: the copy would overwrite the original's devices), or
 *   2. it is the first generation of its run id, the target already holds devices, and no recorded
 *      run copied this same way (source → target): devices nobody of this migration put there,
 *      which a createOrUpdate import would overwrite.
 * Rule 2 does not apply under importMode create (it fails on an existing device instead of
 * overwriting it). `forceOverwriteTarget` lets both through. A restore from a decommission backup and a rollback's
 * reconcile (`writeBackToOriginal`) write into the original on purpose, each behind its own
 * named command: they are not checked here and record nothing (a recorded "clone → original"
 * would refuse the next forward sync).
 *
 * Rule 2 also allows a new run in an already recorded direction (a new --filter-query derives a
 * new run id; a replaced DeviceMigration gets a new one): those devices were put there by this
 * migration.
 */
import { UserError } from "../errors";
import { listNames, readJsonBlob, writeJsonBlob, type Staging } from "./staging";

export interface DirectionRecord {
  version: 1;
  runId: string;
  /** Host name of the hub the run read (the original). */
  original: string;
  /** Host name of the hub the run wrote (the clone). */
  clone: string;
  recordedAt: string;
}

export function directionBlob(runId: string): string {
  return `runs/${runId}/direction.json`;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** How recorded runs went, for a message: `a → b (run x, run y)`, each direction once. */
export function describeRecords(records: DirectionRecord[]): string {
  const byWay = new Map<string, string[]>();
  for (const r of records) {
    const way = `${r.original.toLowerCase()} → ${r.clone.toLowerCase()}`;
    byWay.set(way, [...(byWay.get(way) ?? []), r.runId]);
  }
  return [...byWay].map(([way, runs]) => `${way} (run${runs.length > 1 ? "s" : ""} ${runs.slice(0, 3).join(", ")}${runs.length > 3 ? ", …" : ""})`).join("; ");
}

export interface DirectionInput {
  runId: string;
  source: string;
  target: string;
  container: string;
  records: DirectionRecord[];
  /** No checkpoint exists for this run id yet. */
  firstGeneration: boolean;
  /** Devices on the target now; only asked for when rule 2 could apply. */
  targetDevices?: number;
}

export type DirectionVerdict = { ok: true; record: boolean } | { ok: false; rule: "target-is-original" | "target-not-empty"; message: string };

const FORCE = "if you mean to overwrite it, pass --force-overwrite-target (DeviceMigration: forceOverwriteTarget: true)";

/** The rules on what the container recorded (pure). */
export function judgeDirection(i: DirectionInput): DirectionVerdict {
  const others = i.records.filter((r) => r.runId !== i.runId || !same(r.original, i.source) || !same(r.clone, i.target));
  const asOriginal = others.filter((r) => same(r.original, i.target));
  if (asOriginal.length > 0)
    return {
      ok: false,
      rule: "target-is-original",
      message:
        `refused before any job: the target ${i.target} is recorded as an ORIGINAL in staging container ${i.container} (${describeRecords(asOriginal)}); ` +
        `this run would copy ${i.source} → ${i.target}, the other way, and overwrite the original's devices. ` +
        `Swap the source and clone arguments back; ${FORCE}`,
    };
  const sameWay = i.records.some((r) => same(r.original, i.source) && same(r.clone, i.target));
  if (i.firstGeneration && !sameWay && (i.targetDevices ?? 0) > 0)
    return {
      ok: false,
      rule: "target-not-empty",
      message:
        `refused before any job: the target ${i.target} already holds ${i.targetDevices} device(s) that no run in staging container ${i.container} put there ` +
        `(recorded runs: ${i.records.length ? describeRecords(i.records) : "none"}); a copy ${i.source} → ${i.target} would overwrite those with the same ids. ` +
        `Check the clone is the hub you meant (a new, empty clone), or use the staging container of the run that filled it; ${FORCE}`,
    };
  return { ok: true, record: !i.records.some((r) => r.runId === i.runId && same(r.original, i.source) && same(r.clone, i.target)) };
}

/** Every direction recorded in the container (a handful of small blobs; the run folders hold only a few each). */
export async function readDirectionRecords(staging: Staging): Promise<DirectionRecord[]> {
  const names = (await listNames(staging, "runs/")).filter((n) => /^runs\/[^/]+\/direction\.json$/.test(n));
  const out: DirectionRecord[] = [];
  for (const n of names) {
    const r = await readJsonBlob<DirectionRecord>(staging, n);
    if (r && typeof r.original === "string" && typeof r.clone === "string") out.push(r);
  }
  return out;
}

export interface GuardOptions {
  runId: string;
  /** Undefined when the run copies from a backup blob. */
  source: string | undefined;
  target: string;
  firstGeneration: boolean;
  force: boolean;
  /** A deliberate write into the original (restore, reconcile): not checked, not recorded. */
  deliberate: boolean;
  /** importMode create never overwrites a device that exists (409001 instead): rule 2 does not apply. */
  createOnly?: boolean;
  /** Devices on the target now (asked only when needed). */
  countTarget: () => Promise<number>;
  log?: (line: string) => void;
}

/** The engine's hook: refuses (UserError on `clone`) or records the run's direction. Reads and one small blob write; no job. */
export async function guardDirection(staging: Staging, o: GuardOptions): Promise<void> {
  if (o.deliberate || !o.source) return;
  const records = await readDirectionRecords(staging);
  const input: DirectionInput = { runId: o.runId, source: o.source, target: o.target, container: staging.options.containerName, records, firstGeneration: o.firstGeneration };
  let verdict = judgeDirection(input);
  // Counting costs reads; only when the records alone do not settle it.
  if (verdict.ok && o.firstGeneration && !o.createOnly && !records.some((r) => same(r.original, o.source!) && same(r.clone, o.target)))
    verdict = judgeDirection({ ...input, targetDevices: await o.countTarget() });
  if (!verdict.ok) {
    if (!o.force) throw new UserError(verdict.message, "clone");
    o.log?.(`devices: --force-overwrite-target: ${verdict.message.replace(/^refused before any job: /, "").split("; if you mean")[0]}; going ahead as asked`);
    // A forced write into a recorded original is not recorded as a migration direction.
    if (verdict.rule === "target-is-original") return;
  } else if (!verdict.record) return;
  const record: DirectionRecord = { version: 1, runId: o.runId, original: o.source, clone: o.target, recordedAt: new Date().toISOString() };
  await writeJsonBlob(staging, directionBlob(o.runId), record);
}

/**
 * Devices on a hub: the registry statistics, and when they say none, one COUNT() query too. The
 * statistics are not documented as real-time, nor is the twin query (eventually consistent):
 * a target counts as empty only when both say so.
 */
export async function countDevices(hub: { call<T>(method: string, path: string, body?: unknown, what?: string): Promise<T> }, statistics: number | undefined): Promise<number> {
  if ((statistics ?? 0) > 0) return statistics!;
  const rows = await hub.call<Array<{ n?: number }>>("POST", "/devices/query", { query: "SELECT COUNT() AS n FROM devices" }, "count the target's devices");
  return Array.isArray(rows) ? (rows[0]?.n ?? 0) : 0;
}
