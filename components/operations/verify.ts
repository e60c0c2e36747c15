/**
 * `hubclone verify`: settings (see settings.ts) and devices (the migration engine's streaming
 * verifier, read-only on both hubs), combined into one report with one exit code. Also the
 * cutover gate: the clone must verify, except for the cutover property itself, which a cutover
 * wave sets on the original's twins and a later wave must not count as a difference.
 */
import { verifyDevices, type DeviceDifference, type DeviceFilter, type StagingOptions, type VerifyReport } from "../devices";
import type { LocalEndpoints } from "../devices/local-hub";
import { UserError } from "../errors";
import { countQuery, hubUserError, registryOf, type HubTarget } from "./hubs";
import type { SettingsReport } from "./settings";

/** The engine's verification report without its job ids, plus what the cutover recheck found. */
export type DevicesSummary = Omit<VerifyReport, "jobIds"> & {
  /** Devices whose only difference was the cutover property (not counted as different). */
  cutoverOnly?: number;
};

export interface VerifyResult {
  devices?: DevicesSummary;
  settings?: SettingsReport;
  ok: boolean;
}

export function summariseDevices(r: VerifyReport): DevicesSummary {
  const { jobIds: _jobIds, ...summary } = r;
  return summary;
}

export function verifyExitCode(r: VerifyResult): number {
  return r.ok ? 0 : 2;
}

type Json = null | string | number | boolean | Json[] | { [k: string]: Json };

/** Desired properties without twin metadata and without the cutover property (pure). */
export function desiredWithout(desired: Record<string, unknown> | undefined, property: string): Json {
  const strip = (v: unknown): Json => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === "object") {
      const out: Record<string, Json> = {};
      for (const k of Object.keys(v as object).sort()) if (!k.startsWith("$")) out[k] = strip((v as Record<string, unknown>)[k]);
      return out;
    }
    return v as Json;
  };
  const copy = strip(desired ?? {}) as Record<string, Json>;
  const parts = property.split(".");
  let node: Record<string, Json> | undefined = copy;
  for (let i = 0; i < parts.length - 1 && node; i++) node = node[parts[i]] as Record<string, Json> | undefined;
  if (node && typeof node === "object") delete node[parts[parts.length - 1]];
  // drop objects the removal left empty, so `{}` and absent compare equal
  const prune = (v: Json): Json | undefined => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const out: Record<string, Json> = {};
      for (const [k, x] of Object.entries(v)) {
        const p = prune(x);
        if (p !== undefined) out[k] = p;
      }
      return Object.keys(out).length ? out : undefined;
    }
    return v;
  };
  return prune(copy) ?? {};
}

export interface DeviceVerifyOptions {
  source: HubTarget;
  clone: HubTarget;
  staging: StagingOptions;
  local?: LocalEndpoints;
  maxDifferences?: number;
  /** Ignore a difference that is only this desired property (the cutover gate). */
  ignoreDesiredProperty?: string;
  /** Compare only the devices this selects (on both hubs; modules follow their device). */
  filter?: DeviceFilter;
  log?: (line: string) => void;
  pollIntervalMs?: { min: number; max: number };
}

/**
 * Device verification through the engine. With `ignoreDesiredProperty`, devices whose only
 * differing field is `desired` are rechecked twin by twin (both hubs, read-only), and dropped from
 * the differences when the desired sets match apart from that property. The engine's verifier
 * compares a digest of all desired properties, so this recheck is how the gate tells the cutover
 * property from a real difference. When more devices differ than were listed, the unlisted ones
 * cannot be rechecked and stay differences (the gate refuses, naming --max-differences).
 */
export async function verifyDeviceSets(o: DeviceVerifyOptions): Promise<DevicesSummary> {
  const report = await verifyDevices({
    source: { connectionString: o.source.connectionString },
    clone: { connectionString: o.clone.connectionString },
    staging: o.staging,
    local: o.local,
    maxDifferences: o.maxDifferences ?? 100,
    filter: o.filter,
    log: o.log,
    pollIntervalMs: o.pollIntervalMs,
  });
  const summary = summariseDevices(report);
  if (!o.ignoreDesiredProperty || report.differentCount === 0) return summary;

  const src = registryOf(o.source, o.local);
  const cln = registryOf(o.clone, o.local);
  const keep: DeviceDifference[] = [];
  let cutoverOnly = 0;
  for (const d of report.different) {
    if (d.moduleId || d.fields.length !== 1 || d.fields[0] !== "desired") {
      keep.push(d);
      continue;
    }
    const [a, b] = await Promise.all([
      src.getTwin(d.id).catch((e) => {
        throw hubUserError(e, o.source, "--source-connection-string", `read twin ${d.id}`);
      }),
      cln.getTwin(d.id).catch((e) => {
        throw hubUserError(e, o.clone, "--clone-connection-string", `read twin ${d.id}`);
      }),
    ]);
    const desiredA = desiredWithout((a.responseBody as { properties?: { desired?: Record<string, unknown> } }).properties?.desired, o.ignoreDesiredProperty);
    const desiredB = desiredWithout((b.responseBody as { properties?: { desired?: Record<string, unknown> } }).properties?.desired, o.ignoreDesiredProperty);
    if (JSON.stringify(desiredA) === JSON.stringify(desiredB)) cutoverOnly++;
    else keep.push(d);
  }
  const unlisted = report.differentCount - report.different.length;
  const differentCount = keep.length + unlisted;
  return {
    ...summary,
    different: keep,
    differentCount,
    cutoverOnly,
    ok: summary.missingCount + summary.extraCount + differentCount === 0 && configurationsOk(summary.configurations),
  };
}

function configurationsOk(c: VerifyReport["configurations"]): boolean {
  return c.missing.length + c.extra.length + c.different.length + (c.unreadable?.length ?? 0) === 0;
}

/** One-line summary of what differs, for refusals: counts, the first few ids, and what was not listed. */
/**
 * Devices the original does not yet tell to use the clone (the cutover property). Devices it
 * does tell have moved: the clone owns them, and its backends may have changed them since.
 */
export function notMovedFilter(property: string, cloneHostName: string): DeviceFilter {
  return { query: `properties.desired.${property} != '${cloneHostName}'` };
}

export function movedFilter(property: string, cloneHostName: string): DeviceFilter {
  return { query: `properties.desired.${property} = '${cloneHostName}'` };
}

export function differenceSummary(d: DevicesSummary): string {
  const first = [...d.missing.map((id) => `${id} missing`), ...d.extra.map((id) => `${id} extra`), ...d.different.map((x) => `${x.id}${x.moduleId ? `/${x.moduleId}` : ""} ${x.fields.join("+")}`)].slice(0, 5);
  const unlisted = d.differentCount - d.different.length;
  const c = d.configurations;
  const configs = c.missing.length + c.extra.length + c.different.length + (c.unreadable?.length ?? 0);
  return (
    `${d.missingCount} missing, ${d.extraCount} extra, ${d.differentCount} different` +
    (first.length ? `; e.g. ${first.join(", ")}` : "") +
    (unlisted > 0 ? `; ${unlisted} different not listed or rechecked` : "") +
    (configs ? `; ${configs} configuration(s) differ` : "")
  );
}

export function describeDevices(d: DevicesSummary): string {
  const lines = [
    `devices: original ${d.source} (${d.sourceModules} modules), clone ${d.clone} (${d.cloneModules} modules): ${d.matched} identical, ${d.missingCount} missing, ${d.extraCount} extra, ${d.differentCount} different` +
      (d.cutoverOnly ? ` (${d.cutoverOnly} differ only in the cutover property: not counted)` : ""),
  ];
  if (d.missing.length) lines.push(`  missing in the clone: ${d.missing.join(", ")}${d.missingCount > d.missing.length ? ", …" : ""}`);
  if (d.extra.length) lines.push(`  extra in the clone: ${d.extra.join(", ")}${d.extraCount > d.extra.length ? ", …" : ""}`);
  for (const x of d.different) lines.push(`  different: ${x.id}${x.moduleId ? `/${x.moduleId}` : ""} (${x.fields.join(", ")})`);
  if (d.differentCount > d.different.length) lines.push(`  … ${d.differentCount - d.different.length} more different (raise --max-differences to list them)`);
  const c = d.configurations;
  if (c.missing.length + c.extra.length + c.different.length)
    lines.push(`  configurations: missing ${c.missing.join(", ") || "-"}; extra ${c.extra.join(", ") || "-"}; different ${c.different.join(", ") || "-"}`);
  for (const u of c.unreadable ?? []) lines.push(`  configurations: cannot read ${u}`);
  return lines.join("\n");
}

/** The cutover property goes into queries: a dotted path only (the same rule as cutover's --property). */
export function checkProperty(property: string): string {
  if (!/^[A-Za-z_$][\w-]*(\.[A-Za-z_$][\w-]*)*$/.test(property)) throw new UserError("must be a property path like iotHubHostName or connection.hostName", "--property");
  return property;
}

/** Both filters at once: the engine's client-side filter joins terms with AND (pure). */
export function andFilter(a: DeviceFilter | undefined, b: DeviceFilter): DeviceFilter {
  const query = [a?.query?.trim(), b.query?.trim()].filter(Boolean).join(" AND ");
  const ids = a?.deviceIds ?? b.deviceIds;
  return { ...(ids ? { deviceIds: ids } : {}), ...(query ? { query } : {}) };
}

/**
 * The hub-query form of a device filter (its grammar is a subset of the hub's: path = 'v',
 * path != 'v', IN [..], AND), ids in chunks of 100 so no query grows past the service's length
 * limit (pure).
 */
export function filterConditions(f: DeviceFilter | undefined): string[] {
  const q = f?.query?.trim().replace(/^select\s+\*\s+from\s+devices(\s+where\s+)?/i, "");
  const ids = f?.deviceIds ?? [];
  if (!ids.length) return [q ?? ""];
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const list = ids.slice(i, i + 100).map((id) => `'${id.replace(/'/g, "''")}'`).join(", ");
    out.push(`deviceId IN [${list}]${q ? ` AND ${q}` : ""}`);
  }
  return out;
}

/** Devices of the original that cutover waves have moved (its desired property names the clone), within `filter`. */
export async function countMoved(original: HubTarget, property: string, cloneHostName: string, filter: DeviceFilter | undefined, local?: LocalEndpoints): Promise<number> {
  const registry = registryOf(original, local);
  let n = 0;
  for (const where of filterConditions(filter)) {
    const sql = `SELECT * FROM devices WHERE ${where ? `${where} AND ` : ""}properties.desired.${property} = '${cloneHostName}'`;
    n += await countQuery(registry, sql).catch((e) => Promise.reject(hubUserError(e, original, "--source-connection-string", "count the devices cutover moved")));
  }
  return n;
}

export interface WaveAwareVerifyOptions extends DeviceVerifyOptions {
  /** The cutover property (default iotHubHostName). */
  property?: string;
  /** Compare the moved devices too (reported apart; the exit code stays on the others). */
  includeMoved?: boolean;
}

export type WaveAwareDevices = DevicesSummary & {
  /** Devices cutover waves moved to the clone: left out of the comparison above. */
  moved: number;
  /** With includeMoved: the moved devices compared (they belong to the clone; in `ok` only when missing from it). */
  movedDevices?: DevicesSummary;
};

/**
 * Verification that knows about waves: devices the original points at the clone are the clone's
 * now (its backends may change them) and are left out, counted as `moved`; `ok` is about the
 * devices that still belong to the original. With includeMoved they are compared as well, apart.
 */
export async function verifyWaveAware(o: WaveAwareVerifyOptions): Promise<WaveAwareDevices> {
  const property = checkProperty(o.property ?? "iotHubHostName");
  const moved = await countMoved(o.source, property, o.clone.hostName, o.filter, o.local);
  const staying = await verifyDeviceSets({ ...o, filter: andFilter(o.filter, notMovedFilter(property, o.clone.hostName)) });
  if (!o.includeMoved || moved === 0) return { ...staying, moved };
  const movedDevices = await verifyDeviceSets({ ...o, ignoreDesiredProperty: property, filter: andFilter(o.filter, movedFilter(property, o.clone.hostName)) });
  // A moved device missing from the clone is not a change its backends made: it cannot connect anywhere.
  return { ...staying, moved, movedDevices, ok: staying.ok && movedDevices.missingCount === 0 };
}

export function describeMoved(d: WaveAwareDevices, property = "iotHubHostName"): string {
  const head = `moved: ${d.moved} (devices whose desired.${property} on the original names the clone: the clone's now`;
  if (!d.movedDevices) return `${head}; left out, --include-moved compares them)`;
  const m = d.movedDevices;
  return (
    `${head}; compared, not counted in the result): ${m.matched} identical, ${m.missingCount} missing, ${m.extraCount} extra, ${m.differentCount} different` +
    (m.different.length ? `; e.g. ${m.different.slice(0, 5).map((x) => `${x.id} ${x.fields.join("+")}`).join(", ")}` : "") +
    (m.missing.length ? `; missing ${m.missing.slice(0, 5).join(", ")}` : "")
  );
}
