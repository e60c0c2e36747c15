/**
 * What a rollback must not lose. Once a wave has moved, the clone owns its devices and its
 * backends may change them (a desired property, a tag, a disabled device). Pointing the devices
 * back at the original without a word would silently drop those changes. So before a rollback's
 * jobs, the wave's moved devices are compared (the engine's verifier, read-only on both hubs,
 * the cutover property not counted) and, when some changed on the clone, the rollback refuses,
 * listing them, unless told what to do:
 *   --reconcile              copy those devices from the clone back into the original with the
 *                            device engine: the one deliberate write of device data into the
 *                            original besides decommission (and its restore);
 *   --discard-clone-changes  go back without them (they stay on the clone, not on the original).
 */
import { createHash } from "crypto";
import { copyDevices, type CopyResult, type DeviceFilter, type StagingOptions } from "../devices";
import type { LocalEndpoints } from "../devices/local-hub";
import { UserError } from "../errors";
import { withoutZeroProgress } from "./progress";
import { countQuery, hubUserError, registryOf, retryTransient, type HubTarget } from "./hubs";
import { movedFilter, verifyDeviceSets, type DevicesSummary } from "./verify";

export interface CloneChangeOptions {
  original: HubTarget;
  clone: HubTarget;
  /** The wave's WHERE condition (undefined = every device). */
  query?: string;
  property?: string;
  staging?: StagingOptions;
  local?: LocalEndpoints;
  reconcile?: boolean;
  discardCloneChanges?: boolean;
  pollIntervalMs?: { min: number; max: number };
  log?: (line: string) => void;
}

export type CloneChanges =
  /** Nothing of the wave had moved: nothing on the clone to lose. */
  | { kind: "none-moved" }
  | { kind: "unchanged"; moved: number }
  | { kind: "reconciled"; moved: number; changed: number; ids: string[]; copy: Pick<CopyResult, "runId" | "exported" | "imported" | "failed" | "verified" | "mismatchCount"> }
  | { kind: "discarded"; moved: number; changed: number; ids: string[] };

/** Ids listed in messages; counts stay exact. */
export const IDS_SHOWN = 10;

/** Ids of the devices that changed (a module's change counts for its device), in order, deduplicated (pure). */
export function changedDeviceIds(d: DevicesSummary): string[] {
  return [...new Set([...d.different.map((x) => x.id), ...d.extra])];
}

/** Devices of the wave on the clone that changed there: different, or only on the clone (pure). */
export function changedCount(d: DevicesSummary): number {
  return d.differentCount + d.extraCount;
}

function idList(ids: string[], total: number): string {
  return ids.slice(0, IDS_SHOWN).join(", ") + (total > Math.min(ids.length, IDS_SHOWN) ? `, … (${total - Math.min(ids.length, IDS_SHOWN)} more)` : "");
}

/** The refusal: exact counts, the first ids with what changed, and the two ways on (pure). */
export function cloneChangesRefusal(d: DevicesSummary): string {
  const n = changedCount(d);
  const shown = [...d.different.map((x) => `${x.id}${x.moduleId ? `/${x.moduleId}` : ""} (${x.fields.join("+")})`), ...d.extra.map((id) => `${id} (only on the clone)`)];
  return (
    `refused: ${n} of the wave's ${d.clone} moved devices changed on the clone since they moved (${d.differentCount} different, ${d.extraCount} only on the clone): ` +
    `${idList(shown, n)}; pointing them back at the original would lose those changes. ` +
    `Pass --reconcile to copy them into the original first (a write to the original hub), or --discard-clone-changes to go back without them`
  );
}

/** The wave's device ids on the clone (the rollback job's own selection): one query page per 1,000 devices. */
async function waveIdsOnClone(o: CloneChangeOptions, condition: string): Promise<string[]> {
  const q = registryOf(o.clone, o.local).createQuery(`SELECT deviceId FROM devices WHERE ${condition}`, 1000);
  const ids: string[] = [];
  while (q.hasMoreResults) {
    const page = await retryTransient(() => q.next()).catch((e) => Promise.reject(hubUserError(e, o.clone, "--clone-connection-string", "list the wave's devices")));
    for (const r of page.result as Array<{ deviceId: string }>) ids.push(r.deviceId);
  }
  return ids;
}

/** A reconcile run id: the same wave and hubs, the same run (a rerun resumes it). */
export function reconcileRunId(o: { original: HubTarget; clone: HubTarget }, ids: string[] | undefined, condition: string): string {
  const h = createHash("sha256").update([o.clone.hostName, o.original.hostName, condition, ...(ids ?? [])].join("|").toLowerCase()).digest("hex").slice(0, 16);
  return `reconcile-${h}`;
}

/**
 * The check before a rollback's jobs (two export jobs and a few queries; nothing written), and
 * with --reconcile, the copy clone → original of the changed devices.
 */
export async function checkCloneChanges(o: CloneChangeOptions): Promise<CloneChanges> {
  o = { ...o, log: withoutZeroProgress(o.log) };
  if (o.reconcile && o.discardCloneChanges) throw new UserError("and --reconcile contradict each other: keep the clone's changes (--reconcile) or lose them (--discard-clone-changes)", "--discard-clone-changes");
  const property = o.property ?? "iotHubHostName";
  const condition = o.query?.trim();
  const movedSql = `SELECT * FROM devices WHERE ${condition ? `(${condition}) AND ` : ""}properties.desired.${property} = '${o.clone.hostName}'`;
  const moved = await countQuery(registryOf(o.original, o.local), movedSql).catch((e) => Promise.reject(hubUserError(e, o.original, "--source-connection-string", "count the wave's moved devices")));
  if (moved === 0) return { kind: "none-moved" };
  if (!o.staging) throw new UserError("a rollback compares the wave's moved devices first and needs a staging container (or pass --discard-clone-changes)", "--staging-connection-string");

  // Moved devices of the wave: the original names the clone (its pin names the clone too).
  const filter: DeviceFilter = { ...movedFilter(property, o.clone.hostName), ...(condition ? { deviceIds: await waveIdsOnClone(o, condition) } : {}) };
  if (filter.deviceIds && filter.deviceIds.length === 0) return { kind: "none-moved" };
  o.log?.(`rollback: comparing the wave's ${moved} moved device(s) on ${o.clone.name} with ${o.original.name}`);
  const d = await verifyDeviceSets({
    source: o.original,
    clone: o.clone,
    staging: o.staging,
    local: o.local,
    maxDifferences: 10_000,
    ignoreDesiredProperty: property,
    filter,
    pollIntervalMs: o.pollIntervalMs,
    log: o.log,
  });
  const changed = changedCount(d);
  if (changed === 0) return { kind: "unchanged", moved: d.clone };
  const ids = changedDeviceIds(d);
  if (o.discardCloneChanges) return { kind: "discarded", moved: d.clone, changed, ids };
  if (!o.reconcile) throw new UserError(cloneChangesRefusal(d), "rollback");

  // Every changed device listed: copy exactly those; else the whole moved wave (unchanged ones are re-imported as they are).
  const allListed = ids.length >= changed;
  const copyFilter: DeviceFilter = allListed ? { deviceIds: ids } : filter;
  o.log?.(`rollback --reconcile: copying ${allListed ? changed : d.clone} device(s) from ${o.clone.name} INTO THE ORIGINAL ${o.original.name} (a deliberate write to the original)`);
  const copy = await copyDevices({
    source: { connectionString: o.clone.connectionString },
    clone: { connectionString: o.original.connectionString },
    staging: o.staging,
    runId: reconcileRunId(o, copyFilter.deviceIds, condition ?? "*"),
    filter: copyFilter,
    includeConfigurations: false,
    writeBackToOriginal: true,
    local: o.local,
    pollIntervalMs: o.pollIntervalMs,
    log: o.log,
  });
  if (copy.failed > 0 || copy.mismatchCount > 0)
    throw new UserError(
      `reconcile copied ${copy.imported} of the changed devices into ${o.original.name} but ${copy.failed} failed and ${copy.mismatchCount} do not verify ` +
        `(${[...copy.failures.map((f) => `${f.deviceId} ${f.errorCode}`), ...copy.mismatches.map((m) => `${m.id} ${m.fields.join("+")}`)].slice(0, 5).join(", ")}); nothing was pointed back: fix those devices and run the rollback with --reconcile again`,
      "rollback",
    );
  return {
    kind: "reconciled",
    moved: d.clone,
    changed,
    ids,
    copy: { runId: copy.runId, exported: copy.exported, imported: copy.imported, failed: copy.failed, verified: copy.verified, mismatchCount: copy.mismatchCount },
  };
}

export function describeCloneChanges(c: CloneChanges, o: { original: string; clone: string }): string {
  switch (c.kind) {
    case "none-moved":
      return "clone-side changes: none to keep (no device of the wave had moved)";
    case "unchanged":
      return `clone-side changes: none (the wave's ${c.moved} moved devices on ${o.clone} match ${o.original})`;
    case "reconciled":
      return (
        `clone-side changes: ${c.changed} device(s) changed on ${o.clone} were copied INTO THE ORIGINAL ${o.original} (--reconcile, run ${c.copy.runId}: ` +
        `${c.copy.imported} imported, ${c.copy.verified} verified): ${idList(c.ids, c.changed)}`
      );
    case "discarded":
      return (
        `clone-side changes DISCARDED (--discard-clone-changes): ${c.changed} device(s) changed on ${o.clone} go back to ${o.original}'s older values: ${idList(c.ids, c.changed)}; ` +
        `their changes stay on ${o.clone} only until a sync overwrites them`
      );
  }
}
