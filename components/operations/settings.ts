/**
 * Settings verification: the clone's ARM description against the original's (live or from a
 * snapshot). A generic JSON diff, with arrays matched by their natural key (endpoints and routes
 * by name, policies by keyName, …), then every difference classified by a rule table: expected
 * (the clone is a different hub in a different place: name, location, keys, relocated endpoints,
 * partitions, generated ids) or unexpected (a setting the clone lost or changed). Pure, so the
 * rules are tested as data.
 */
import type { HubSnapshot } from "./snapshot";
import { maskKeys } from "./snapshot";

export interface SettingDifference {
  /** e.g. `properties.routing.endpoints.storageContainers[archive-storage].containerName`. */
  path: string;
  original?: unknown;
  clone?: unknown;
  expected: boolean;
  /** Why it is expected, or what to check when it is not. */
  reason: string;
}

export interface SettingsReport {
  original: string;
  clone: string;
  /** Leaf settings compared. */
  compared: number;
  expected: SettingDifference[];
  unexpected: SettingDifference[];
  ok: boolean;
}

export type SettingsDocument = Pick<HubSnapshot, "hub" | "consumerGroups" | "certificates">;

/** Arrays whose items are matched by a key field rather than by position. */
const arrayKeys: Array<[RegExp, string]> = [
  [/\.routing\.endpoints\.\w+$/, "name"],
  [/\.routing\.routes$/, "name"],
  [/\.routing\.enrichments$/, "key"],
  [/\.authorizationPolicies$/, "keyName"],
  [/\.ipFilterRules$/, "filterName"],
  [/\.networkRuleSets\.ipRules$/, "filterName"],
  [/^certificates$/, "name"],
];

/**
 * Classification rules, first match wins. `expected: true` rules describe what necessarily or
 * deliberately differs in a clone; anything unmatched is unexpected.
 */
export const settingRules: Array<{ pattern: RegExp; expected: boolean; reason: string }> = [
  { pattern: /^hub\.(name|id|etag|location|systemData)(\.|$)/, expected: true, reason: "the clone is a new hub (name, id, location)" },
  { pattern: /^hub\.properties\.(hostName|locations|state|provisioningState)(\.|$|\[)/, expected: true, reason: "read-only, set by Azure for the new hub" },
  { pattern: /^hub\.identity\.(principalId|tenantId)$/, expected: true, reason: "the clone's system-assigned identity is its own" },
  { pattern: /^hub\.identity\.userAssignedIdentities\[[^\]]+\]\.(principalId|clientId)$/, expected: true, reason: "identity ids are per identity" },
  { pattern: /^hub\.properties\.eventHubEndpoints\.[^.]+\.(partitionIds|path|endpoint)(\.|$|\[)/, expected: true, reason: "built-in endpoint coordinates are generated per hub" },
  { pattern: /^hub\.properties\.eventHubEndpoints\.[^.]+\.partitionCount$/, expected: true, reason: "partitions are fixed at creation; the clone is the way to change them" },
  { pattern: /\.(primaryKey|secondaryKey)$/, expected: true, reason: "keys are regenerated for the clone" },
  { pattern: /^hub\.properties\.routing\.endpoints\.\w+\[[^\]]+\]\.id$/, expected: true, reason: "endpoint ids are generated per hub" },
  {
    pattern: /^hub\.properties\.routing\.endpoints\.\w+\[[^\]]+\]\.(connectionString|endpointUri|subscriptionId|resourceGroup)$/,
    expected: true,
    reason: "relocated endpoint (new resource coordinates): check it points at the relocated resource",
  },
  { pattern: /^hub\.properties\.storageEndpoints\.[^.]+\.connectionString$/, expected: true, reason: "file-upload storage relocated with the clone" },
  { pattern: /^hub\.properties\.privateEndpointConnections/, expected: false, reason: "private endpoints are not cloned: recreate them for the clone" },
  { pattern: /^consumerGroups\./, expected: false, reason: "consumer group missing or extra: readers of the built-in endpoint use it" },
  { pattern: /^certificates\[/, expected: false, reason: "CA certificate missing or different: X.509 CA devices cannot authenticate" },
  { pattern: /^hub\.properties\.routing\./, expected: false, reason: "routing differs: messages would go elsewhere" },
  { pattern: /^hub\.sku\./, expected: false, reason: "tier or units differ: throttles and features change" },
];

/** Extra expected paths the user declares (`--expect <path-prefix>`), e.g. `hub.sku.capacity`. */
export interface CompareOptions {
  expect?: string[];
}

export function classify(path: string, o: CompareOptions = {}): { expected: boolean; reason: string } {
  for (const prefix of o.expect ?? []) if (path === prefix || path.startsWith(prefix + ".") || path.startsWith(prefix + "[")) return { expected: true, reason: `declared expected (--expect ${prefix})` };
  for (const r of settingRules) if (r.pattern.test(path)) return { expected: r.expected, reason: r.reason };
  return { expected: false, reason: "setting differs from the original" };
}

function keyFor(path: string): string | undefined {
  for (const [re, key] of arrayKeys) if (re.test(path)) return key;
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** Leaf-level diff; returns the number of leaves compared and the differing paths. */
function diff(a: unknown, b: unknown, path: string, out: Array<{ path: string; a: unknown; b: unknown }>): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const key = keyFor(path);
    if (key) {
      const am = new Map(a.map((x) => [String((x as Record<string, unknown>)?.[key]), x]));
      const bm = new Map(b.map((x) => [String((x as Record<string, unknown>)?.[key]), x]));
      let n = 0;
      for (const k of new Set([...am.keys(), ...bm.keys()])) n += diff(am.get(k), bm.get(k), `${path}[${k}]`, out);
      return n;
    }
    if (a.every((x) => !isObject(x) && !Array.isArray(x)) && b.every((x) => !isObject(x) && !Array.isArray(x))) {
      // Lists of scalars (consumer groups, allowed FQDNs, endpoint names): order does not matter.
      const as = [...a].map(String).sort(), bs = [...b].map(String).sort();
      if (JSON.stringify(as) !== JSON.stringify(bs)) out.push({ path, a, b });
      return 1;
    }
  }
  if (isObject(a) && isObject(b)) {
    let n = 0;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) n += diff(a[k], b[k], path ? `${path}.${k}` : k, out);
    return n;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, a, b });
  return 1;
}

/**
 * Compares clone to original. Both are masked first, so a key that differs only in its secret
 * part is not reported at all (it is expected by construction); what remains of a connection
 * string difference is its coordinates (relocation).
 */
export function compareSettings(original: SettingsDocument, clone: SettingsDocument, o: CompareOptions = {}): SettingsReport {
  const norm = (d: SettingsDocument) =>
    maskKeys({
      hub: d.hub,
      consumerGroups: d.consumerGroups,
      certificates: d.certificates.map((c) => ({ name: c.name, certificate: c.certificate, isVerified: c.isVerified })),
    });
  const raw: Array<{ path: string; a: unknown; b: unknown }> = [];
  const compared = diff(norm(original), norm(clone), "", raw);
  const expected: SettingDifference[] = [];
  const unexpected: SettingDifference[] = [];
  for (const d of raw) {
    const c = classify(d.path, o);
    const entry: SettingDifference = { path: d.path, ...(d.a !== undefined ? { original: d.a } : {}), ...(d.b !== undefined ? { clone: d.b } : {}), ...c };
    (c.expected ? expected : unexpected).push(entry);
  }
  return { original: String(original.hub?.name), clone: String(clone.hub?.name), compared, expected, unexpected, ok: unexpected.length === 0 };
}

export function describeSettings(r: SettingsReport): string {
  const show = (v: unknown) => (v === undefined ? "(absent)" : JSON.stringify(v));
  const lines = [
    `settings: ${r.original} -> ${r.clone}: ${r.compared} compared, ${r.expected.length} expected difference(s), ${r.unexpected.length} unexpected`,
  ];
  for (const d of r.unexpected) lines.push(`  UNEXPECTED ${d.path}: ${show(d.original)} -> ${show(d.clone)} (${d.reason})`);
  for (const d of r.expected) lines.push(`  expected   ${d.path} (${d.reason})`);
  return lines.join("\n");
}
