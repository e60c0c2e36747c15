/**
 * Eventual consistency after an import (service-behaviours.md §11): a device just imported may be
 * missing from an export or a query for minutes, a deleted one may still be listed; even a point
 * GET can answer 404 for a while (the .NET SDK's e2e import test retries for 15 minutes). A
 * difference found right after an import is therefore rechecked, device by device, for a bounded
 * window before it is reported: never a false mismatch, never an endless wait.
 */
import { classifyHubError } from "./hub-errors";
import type { HubClient } from "./hub-client";
import { sleep } from "./retry";
import { comparableFields, differingFields, type ExportLine } from "./transform";
import type { DeviceComparison } from "./types";

/** Default window: Microsoft support's "up to 10 minutes" for query lag (§11). */
export const CONSISTENCY_WINDOW_MS = 10 * 60_000;
/**
 * Differences beyond this many are not rechecked one by one (they are not lag). Each recheck is a
 * registry read (GET device: 100 per minute per unit on S1, the quotas doc), so the list stays short.
 */
export const RECHECK_LIMIT = 100;

/** The clone's current state of one device or module, as an export line would carry it; undefined when the hub says it does not exist. */
export async function readLine(hub: HubClient, key: string): Promise<ExportLine | undefined> {
  const slash = key.indexOf("/");
  const id = slash < 0 ? key : key.slice(0, slash);
  const moduleId = slash < 0 ? undefined : key.slice(slash + 1);
  const path = moduleId ? `/devices/${encodeURIComponent(id)}/modules/${encodeURIComponent(moduleId)}` : `/devices/${encodeURIComponent(id)}`;
  const twinPath = moduleId ? `/twins/${encodeURIComponent(id)}/modules/${encodeURIComponent(moduleId)}` : `/twins/${encodeURIComponent(id)}`;
  try {
    const d = await hub.call<Record<string, unknown>>("GET", path, undefined, "recheck a device");
    const t = await hub.call<Record<string, unknown>>("GET", twinPath, undefined, "recheck a twin");
    return {
      id,
      ...(moduleId ? { moduleId } : {}),
      status: d.status as string | undefined,
      statusReason: d.statusReason as string | undefined,
      authentication: d.authentication as ExportLine["authentication"],
      tags: t.tags as ExportLine["tags"],
      properties: { desired: (t.properties as { desired?: Record<string, unknown> } | undefined)?.desired },
      capabilities: d.capabilities as ExportLine["capabilities"],
      deviceScope: d.deviceScope as string | undefined,
      parentScopes: d.parentScopes as string[] | undefined,
    };
  } catch (err) {
    if (classifyHubError(err).kind === "notFound") return undefined;
    throw err;
  }
}

export interface RecheckOptions {
  /** The window ends at this epoch ms. */
  until: number;
  /** First wait (ms), doubled up to a minute. */
  firstWaitMs?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** The original's lines of the keys to recheck (absent: the key is not at the original). */
  source: Map<string, ExportLine>;
  read?: (key: string) => Promise<ExportLine | undefined>;
  /**
   * Whether devices found only on the clone are rechecked (default true). An extra device can be
   * lag only when this run deleted devices (a deleted one may still be returned); otherwise it was
   * on the target before (a forced overwrite) and waiting for it to vanish would only use up the window.
   */
  recheckExtra?: boolean;
}

/**
 * Rechecks the listed differences of `r` on `clone` until each one agrees with the original or the
 * window ends; returns `r` without the ones that settled. Only for complete lists (counts equal to
 * the listed keys, at most RECHECK_LIMIT): a long list is a real difference, not lag.
 */
export async function recheckDifferences<R extends DeviceComparison>(clone: HubClient, r: R, o: RecheckOptions): Promise<R> {
  const listed = r.missing.length + r.extra.length + r.different.length;
  const total = r.missingCount + r.extraCount + r.differentCount;
  if (total === 0 || listed !== total || total > RECHECK_LIMIT) return r;
  const read = o.read ?? ((k: string) => readLine(clone, k));
  const keyOf = (d: { id: string; moduleId?: string }) => (d.moduleId ? `${d.id}/${d.moduleId}` : d.id);
  const rechecked = new Set<string>([...r.missing, ...(o.recheckExtra === false ? [] : r.extra), ...r.different.map(keyOf)]);
  const pending = new Set<string>(rechecked);
  const settled = (key: string, now: ExportLine | undefined): boolean => {
    const want = o.source.get(key);
    if (!want) return now === undefined; // extra: gone now
    if (!now) return false; // missing: not visible yet
    return differingFields(comparableFields(want), comparableFields(now)).length === 0;
  };
  let wait = o.firstWaitMs ?? 15_000;
  for (;;) {
    for (const key of [...pending]) {
      try {
        if (settled(key, await read(key))) pending.delete(key);
      } catch (err) {
        // A throttled or failing read leaves the difference standing (reported as found), never fails the verification.
        o.log?.(`devices: verify: could not recheck ${key} (${(err as Error).message.split("\n")[0].slice(0, 120)}); keeping it as a difference`);
        break;
      }
    }
    if (pending.size === 0 || Date.now() + wait > o.until) break;
    o.log?.(`devices: verify: ${pending.size} difference(s) may be the hub's replication lag; rechecking in ${Math.round(wait / 1000)} s (until ${new Date(o.until).toISOString()})`);
    await sleep(wait, o.signal);
    wait = Math.min(60_000, wait * 2);
  }
  const gone = (k: string) => rechecked.has(k) && !pending.has(k);
  const out = { ...r };
  out.missing = r.missing.filter((k) => !gone(k));
  out.extra = r.extra.filter((k) => !gone(k));
  out.different = r.different.filter((d) => !gone(keyOf(d)));
  const settledMissing = r.missing.length - out.missing.length;
  const settledDifferent = r.different.length - out.different.length;
  out.missingCount = r.missingCount - settledMissing;
  out.extraCount = r.extraCount - (r.extra.length - out.extra.length);
  out.differentCount = r.differentCount - settledDifferent;
  out.matched = r.matched + r.missing.concat(r.different.map(keyOf)).filter((k) => gone(k) && !k.includes("/")).length;
  // Settled keys are synced after all: the next sync need not send them again.
  const bad = (out as { badKeys?: unknown }).badKeys;
  const settledKeys = new Set([...r.missing, ...r.extra, ...r.different.map(keyOf)].filter(gone));
  if (Array.isArray(bad)) (out as { badKeys?: string[] }).badKeys = (bad as string[]).filter((k) => !settledKeys.has(k));
  if (rechecked.size - pending.size > 0) o.log?.(`devices: verify: ${rechecked.size - pending.size} difference(s) settled on recheck (replication lag)`);
  return out;
}
