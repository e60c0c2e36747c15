/**
 * The line transform between the original's export and the clone's import, plus the canonical
 * digests the verifier and the delta-sync manifest use. Pure functions: one ExportImportDevice
 * JSON line in, decisions out; nothing here touches a hub or a blob.
 */
import { createHash } from "crypto";
import { UserError } from "../errors";
import { hashBytes, hashPair } from "./manifest";
import type { DeviceFilter, ImportMode } from "./types";

/** One ExportImportDevice line as exported (only the fields the engine reads are typed). */
export interface ExportLine {
  id: string;
  moduleId?: string;
  eTag?: string;
  twinETag?: string;
  importMode?: string;
  status?: string;
  statusReason?: string;
  authentication?: {
    type?: string;
    symmetricKey?: { primaryKey?: string | null; secondaryKey?: string | null } | null;
    x509Thumbprint?: { primaryThumbprint?: string | null; secondaryThumbprint?: string | null } | null;
  } | null;
  tags?: Record<string, unknown> | null;
  properties?: { desired?: Record<string, unknown> | null; reported?: unknown } | null;
  capabilities?: { iotEdge?: boolean } | null;
  deviceScope?: string | null;
  parentScopes?: string[] | null;
  [extra: string]: unknown;
}

/**
 * An authentication the hub would complete with keys of its own: absent or null (the service then
 * defaults to SAS with generated keys), or SAS without a primary key (an export made without keys).
 * Importing such a line over an existing device rotates its keys (service-behaviours.md §10).
 */
export function keylessAuth(auth: ExportLine["authentication"] | undefined): boolean {
  if (!auth || typeof auth !== "object") return true;
  const type = String(auth.type ?? (auth.symmetricKey ? "sas" : auth.x509Thumbprint ? "selfsigned" : "sas")).toLowerCase();
  return type === "sas" && !auth.symmetricKey?.primaryKey;
}

/** Edge system modules: the hub creates them, an import of them fails (SystemModuleModifyUnauthorizedAccess). */
export const EDGE_SYSTEM_MODULES = new Set(["$edgeAgent", "$edgeHub"]);

/**
 * The reason for a line that is text, not JSON. An export without keys may begin with one such line
 * for the user (the .NET SDK's e2e export test skips "any lines that don't start with a json
 * object"; service-behaviours.md §4): only as the blob's first line is it skipped, anywhere else it
 * is a malformed line like any other.
 */
export const TEXT_LINE = "a text line, not JSON";

export type ParsedLine = { ok: true; line: ExportLine } | { ok: false; reason: string; id?: string };

/** Parses one line; a malformed line is reported (by id when one can be read), never thrown. */
export function parseLine(text: string): ParsedLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    const id = /"id"\s*:\s*"([^"]{1,128})"/.exec(text)?.[1];
    const first = text.trimStart().charAt(0);
    return { ok: false, reason: first === "{" || first === "[" ? "not valid JSON" : TEXT_LINE, id };
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) return { ok: false, reason: "not a JSON object" };
  const o = v as ExportLine;
  if (typeof o.id !== "string" || o.id.length === 0) return { ok: false, reason: "missing id" };
  if (o.moduleId !== undefined && o.moduleId !== null && typeof o.moduleId !== "string") return { ok: false, reason: "moduleId is not a string", id: o.id };
  if (o.moduleId === null) delete o.moduleId;
  return { ok: true, line: o };
}

/** `ms-azure-iot-edge://<edgeDeviceId>-<generationId>` → the edge device id (device ids may contain '-'). */
export function edgeIdFromScope(scope: string | null | undefined): string | undefined {
  if (!scope) return undefined;
  const m = /^ms-azure-iot-edge:\/\/(.+)-[^-]+$/.exec(scope);
  return m?.[1];
}

/**
 * Might this export or import line be an edge device (`"iotEdge":true`, spaced or not)? A cheap
 * test before parsing, where only edge devices matter (their scopes); lines are copied verbatim,
 * so the spacing is the export's.
 */
export function mayBeEdgeDevice(text: string): boolean {
  return /"iotEdge"\s*:\s*true/.test(text);
}

/**
 * The parent edge device of a line, by id (scopes differ between hubs): an edge device's parent is
 * its first parentScope; a leaf device's parent is its deviceScope (the edge device it sits under).
 */
export function parentIdOf(line: ExportLine): string | undefined {
  if (line.moduleId) return undefined;
  const fromParents = edgeIdFromScope(line.parentScopes?.[0]);
  if (fromParents) return fromParents;
  if (line.capabilities?.iotEdge) return undefined;
  return edgeIdFromScope(line.deviceScope);
}

/**
 * Drops `$metadata`/`$version` (hub bookkeeping that differs per hub) from desired properties.
 * They only occur at the top of the twin section (user property names cannot start with `$`), so
 * a shallow copy suffices — this runs once per exported line.
 */
export function stripTwinMetadata(value: unknown): unknown {
  if (!value || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const k in value as Record<string, unknown>) if (k.charCodeAt(0) !== 36 /* $ */) out[k] = (value as Record<string, unknown>)[k];
  return out;
}

/** JSON with sorted keys, so equal content gives equal digests whatever the key order. */
export function canonicalJson(value: unknown): string {
  // JSON.stringify does the walking natively; the replacer only reorders objects whose keys are not sorted yet.
  return JSON.stringify(value, (_k, v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? sortedKeys(v as Record<string, unknown>) : v)) ?? "null";
}

function sortedKeys(o: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(o);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1] < keys[i];
  if (sorted) return o;
  const r: Record<string, unknown> = {};
  for (const k of keys.sort()) r[k] = o[k];
  return r;
}

type OneShotHash = (algorithm: string, data: string, encoding: "base64") => string;
const oneShot = (require("crypto") as { hash?: OneShotHash }).hash;

/** 96-bit SHA-1 prefix: a change detector and a one-way digest of keys (never stored in clear). One-shot hashing where Node has it (2.5× faster per line). */
export function digest(text: string): string {
  return (oneShot ? oneShot("sha1", text, "base64") : createHash("sha1").update(text).digest("base64")).slice(0, 16);
}

/**
 * Change detector for the delta manifest: 64 bits from two 32-bit multiplicative hashes, ~4× cheaper
 * than a crypto digest on the per-line hot path. Not one-way in theory, but the input carries
 * 256-bit random keys, which 64 bits cannot give back.
 */
export function contentDigest(text: string): string {
  return hexPair(hashPair(text));
}

/** A hash pair as the 16 hex digits `contentDigest` gives. */
export function hexPair([a, b]: readonly [number, number]): string {
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

/** `deviceId` or `deviceId/moduleId`: the identity of a line in manifests, buckets and reports. */
export function lineKey(line: { id: string; moduleId?: string }): string {
  return line.moduleId ? `${line.id}/${line.moduleId}` : line.id;
}

function emptyToUndefined<T extends Record<string, unknown>>(o: T | null | undefined): T | undefined {
  return o && Object.keys(o).length > 0 ? o : undefined;
}

/**
 * The fields the verifier compares, normalised (missing = empty) and digested per field so no
 * key or thumbprint is ever kept in clear outside the blob that already holds it.
 */
export function comparableFields(line: ExportLine): Record<string, string> {
  const auth = line.authentication ?? undefined;
  const type = (auth?.type ?? (auth?.symmetricKey ? "sas" : auth?.x509Thumbprint ? "selfSigned" : "none")).toLowerCase();
  const fields: Record<string, string> = {
    auth: type,
    keys: digest(JSON.stringify([auth?.symmetricKey?.primaryKey ?? null, auth?.symmetricKey?.secondaryKey ?? null])),
    thumbprints: digest(JSON.stringify([auth?.x509Thumbprint?.primaryThumbprint?.toUpperCase() ?? null, auth?.x509Thumbprint?.secondaryThumbprint?.toUpperCase() ?? null])),
    status: (line.status ?? "enabled").toLowerCase(),
    statusReason: line.statusReason ?? "",
    tags: contentDigest(canonicalJson(emptyToUndefined(line.tags ?? undefined) ?? {})),
    desired: contentDigest(canonicalJson(stripTwinMetadata(line.properties?.desired ?? {}))),
  };
  if (!line.moduleId) {
    fields.iotEdge = String(line.capabilities?.iotEdge === true);
    fields.parent = parentIdOf(line) ?? "";
  }
  return fields;
}

/** Names of the fields that differ between two `comparableFields` results. */
export function differingFields(a: Record<string, string>, b: Record<string, string>): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].filter((n) => a[n] !== b[n]).sort();
}

// ---------------------------------------------------------------------------------------------
// Filter: ids, or a small client-side predicate evaluated while streaming (the hub's query
// language is not available on an export blob). Grammar: [SELECT * FROM devices WHERE] term
// (AND term)*, term = path (= | !=) literal | deviceId IN [ 'a', 'b' ].

type Term = { path: string[]; op: "=" | "!="; value: unknown } | { path: string[]; op: "in"; values: unknown[] };

export interface CompiledFilter {
  /** Does a device line pass? (Module lines follow their device.) */
  matches(line: ExportLine): boolean;
  /** True when only explicit ids are filtered (then modules can be decided without their device). */
  idsOnly: boolean;
  ids?: Set<string>;
}

function literal(raw: string, field: string): unknown {
  const t = raw.trim();
  if (/^'.*'$/.test(t) || /^".*"$/.test(t)) return t.slice(1, -1);
  if (t === "true" || t === "false") return t === "true";
  if (t === "null") return null;
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  throw new UserError(`cannot read the value ${JSON.stringify(t)}; quote strings ('value'), or use a number, true, false or null`, field);
}

export function compileFilter(filter: DeviceFilter | undefined, field = "filter"): CompiledFilter | undefined {
  if (!filter || (!filter.deviceIds?.length && !filter.query?.trim())) return undefined;
  const ids = filter.deviceIds?.length ? new Set(filter.deviceIds) : undefined;
  const terms: Term[] = [];
  const q = filter.query?.trim();
  if (q) {
    const where = q.replace(/^select\s+\*\s+from\s+devices(\s+where\s+)?/i, "").trim();
    if (!where) throw new UserError("the query has no condition; write e.g. tags.site = 'berlin' AND status = 'enabled'", `${field}.query`);
    for (const part of where.split(/\s+and\s+/i)) {
      const inMatch = /^([A-Za-z0-9_.$-]+)\s+in\s+\[(.*)\]$/i.exec(part.trim());
      if (inMatch) {
        terms.push({ path: inMatch[1].split("."), op: "in", values: inMatch[2].split(",").map((v) => literal(v, `${field}.query`)) });
        continue;
      }
      const m = /^([A-Za-z0-9_.$-]+)\s*(=|!=|<>)\s*(.+)$/.exec(part.trim());
      if (!m) throw new UserError(`cannot read the condition ${JSON.stringify(part.trim())}; supported: path = 'value', path != 'value', deviceId IN ['a','b'], joined with AND`, `${field}.query`);
      terms.push({ path: m[1].split("."), op: m[2] === "=" ? "=" : "!=", value: literal(m[3], `${field}.query`) });
    }
  }
  const read = (line: ExportLine, path: string[]): unknown => {
    const [head, ...rest] = path;
    let v: unknown;
    if (head === "deviceId" || head === "id") v = line.id;
    else if (head === "status") v = line.status ?? "enabled";
    else if (head === "properties" && rest[0] === "desired") return dig(line.properties?.desired, rest.slice(1));
    else v = (line as Record<string, unknown>)[head];
    return dig(v, rest);
  };
  return {
    idsOnly: terms.length === 0,
    ids,
    matches(line) {
      if (ids && !ids.has(line.id)) return false;
      for (const t of terms) {
        const v = read(line, t.path);
        if (t.op === "in" ? !t.values.some((x) => x === v) : t.op === "=" ? v !== t.value : v === t.value) return false;
      }
      return true;
    },
  };
}

function dig(v: unknown, path: string[]): unknown {
  let cur = v;
  for (const p of path) {
    if (!cur || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// The import line.

export interface TransformedLine {
  key: string;
  /** The JSON line for the clone's import (edge scopes stripped: the clone's scopes don't exist yet). */
  importLine: string;
  /** Digest of everything copied (not importMode): equal digest = nothing to sync. */
  contentHash: string;
  /** Set when the device sits under an edge device: re-parented in the second pass. */
  parentId?: string;
  isModule: boolean;
}

/** What of an export line the clone gets, before an import mode is chosen. */
export interface ProjectedLine {
  /** The import line's JSON without `importMode` (the change detector hashes its bytes after the "{"). */
  content: string;
  parentId?: string;
  isModule: boolean;
}

/**
 * Export line → what the clone gets. Keeps keys, thumbprints, status, statusReason, tags, desired
 * properties, capabilities and custom modules; drops reported properties (cannot be imported),
 * etags (belong to the original), `$metadata`/`$version` and the edge scopes (rebuilt on the clone).
 * Returns undefined for lines that must not be imported ($edgeAgent/$edgeHub).
 */
export function projectLine(line: ExportLine): ProjectedLine | undefined {
  if (line.moduleId && EDGE_SYSTEM_MODULES.has(line.moduleId)) return undefined;
  const device = !line.moduleId;
  const out: Record<string, unknown> = { id: line.id };
  if (line.moduleId) out.moduleId = line.moduleId;
  out.status = line.status ?? "enabled";
  // Every copied field is written even when empty, so a value cleared at the original is cleared
  // on the clone by the next sync: whether the service keeps or wipes a field a line leaves out is
  // not documented (shared/reference/service-behaviours.md §10), an explicit empty value is right
  // under both readings.
  if (line.statusReason) out.statusReason = line.statusReason;
  else if (device) out.statusReason = "";
  if (line.authentication) out.authentication = line.authentication;
  const tags = emptyToUndefined(line.tags ?? undefined);
  if (tags) out.tags = tags;
  else if (device || isObject(line.tags)) out.tags = {}; // module lines: only when the export carries module tags
  out.properties = { desired: stripTwinMetadata(line.properties?.desired ?? {}) };
  const parentId = parentIdOf(line);
  if (device) {
    out.capabilities = line.capabilities || { iotEdge: false };
    if (!parentId) {
      // No parent at the original: say so, or a parent removed there stays on the clone. The
      // forms the Azure CLI sends to remove one (azext_iot operations/hub.py _update_device_parent):
      // an edge device's parentScopes [], a leaf device's deviceScope "". An edge device's own
      // scope is the service's; its parentScopes only when the export carries that field (the
      // service has not always exported it, §6: absent must not read as "no parent").
      if (line.capabilities?.iotEdge !== true) out.deviceScope = "";
      else if (line.parentScopes !== undefined) out.parentScopes = [];
    }
  }
  // Serialised once, in a fixed field order, so equal exports hash equally without a canonical
  // re-serialisation (this is the transform's hot path; a key order the service changed inside
  // tags/desired only costs a needless re-import).
  return { content: JSON.stringify(out), parentId, isModule: !device };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return Boolean(v) && typeof v === "object" && !Array.isArray(v);
}

/**
 * The change detector of a projected line, over the UTF-8 bytes of its content after the opening
 * "{" (as the transform writes them after the mode prefix) and its parent.
 */
export function contentPair(bytes: Uint8Array, start: number, end: number, parentId: string | undefined): [number, number] {
  return hashPair(`\t${parentId ?? ""}`, hashBytes(bytes, start, end));
}

/** The import line: the mode goes first (field order is free in JSON), then the projected content. */
export function importLineOf(content: string, importMode: ImportMode | "update"): string {
  return `{"importMode":${JSON.stringify(importMode)},${content.slice(1)}`;
}

/** Export line → import line (undefined for $edgeAgent/$edgeHub), with its key and change digest. */
export function transformLine(line: ExportLine, importMode: ImportMode | "update" = "createOrUpdate"): TransformedLine | undefined {
  const p = projectLine(line);
  if (!p) return undefined;
  const tail = Buffer.from(p.content.slice(1), "utf8");
  return { key: lineKey(line), importLine: importLineOf(p.content, importMode), contentHash: hexPair(contentPair(tail, 0, tail.length, p.parentId)), parentId: p.parentId, isModule: p.isModule };
}

/**
 * An entry of the re-parent list: `parentId \t importLine`. Tab-separated rather than JSON, so the
 * transform copies the import line's bytes instead of escaping them again; a device id cannot hold
 * a tab (IoT Hub allows letters, digits and - . + % _ # * ? ! ( ) , : = @ $ ').
 */
export function reparentEntry(parentId: string, importLine: string): string {
  return `${parentId}\t${importLine}`;
}

export function parseReparentEntry(text: string): { parentId: string; importLine: string } | undefined {
  const tab = text.indexOf("\t");
  if (tab <= 0) return undefined;
  return { parentId: text.slice(0, tab), importLine: text.slice(tab + 1) };
}

/**
 * The second-pass line for a child: the same device with the clone's scopes. A leaf device lives
 * in its parent's scope; an edge child keeps its own (hub-assigned) scope and lists the parent's.
 */
export function reparentLine(importLine: string, parentScopeOnClone: string, ownScopeOnClone: string | undefined): string {
  const o = JSON.parse(importLine) as Record<string, unknown>;
  o.importMode = "update";
  const isEdge = (o.capabilities as { iotEdge?: boolean } | undefined)?.iotEdge === true;
  o.deviceScope = isEdge ? ownScopeOnClone : parentScopeOnClone;
  if (o.deviceScope === undefined) delete o.deviceScope;
  o.parentScopes = [parentScopeOnClone];
  return JSON.stringify(o);
}

/** The content kinds a configuration can hold; every one is copied and compared verbatim. */
export const CONFIGURATION_CONTENT_KINDS = ["deviceContent", "moduleContent", "modulesContent"] as const;

/**
 * Reads one configuration line of an export in either casing: the REST schema is camelCase, and
 * reports say the export blob is PascalCase (the .NET SDK's Configuration model; no real blob is
 * published, service-behaviours.md §2). Only the schema's own keys are renamed: the twin paths
 * and module ids inside the content are the user's.
 */
export function readConfigurationLine(text: string): { ok: true; config: Record<string, unknown> } | { ok: false; reason: string; id?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not valid JSON", id: /"id"\s*:\s*"([^"]{1,128})"/i.exec(text)?.[1] };
  }
  if (!isObject(raw)) return { ok: false, reason: "not a JSON object" };
  const config = camelKeys(raw);
  if (typeof config.id !== "string" || !config.id) return { ok: false, reason: "missing id" };
  if (isObject(config.content)) {
    config.content = camelKeys(config.content);
  } else if (config.content !== undefined && config.content !== null) return { ok: false, reason: "content is not an object", id: config.id };
  if (isObject(config.metrics)) config.metrics = camelKeys(config.metrics);
  return { ok: true, config };
}

/** Top-level keys with a lowercase first letter (camelCase wins when a line has both spellings). */
function camelKeys(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const c = k === "ETag" ? "etag" : k.charAt(0).toLowerCase() + k.slice(1);
    if (c === k || !(c in o)) out[c] = v;
  }
  return out;
}

/**
 * A configuration line (ADM: deviceContent or moduleContent; edge deployment: modulesContent) for
 * the clone, content kept verbatim so layered stays layered, and its digest for the verifier.
 * The import mode is the only one the SDKs know for configurations (ConfigurationImportMode.cs:
 * createOrUpdateIfMatchETag), without an etag (the SDK's e2e import test sends none).
 */
export function transformConfigurationLine(text: string): { id: string; line: string; hash: string } | { error: string; id?: string } {
  const r = readConfigurationLine(text);
  if (!r.ok) return { error: r.reason, id: r.id };
  const c = r.config;
  const keep: Record<string, unknown> = { id: c.id };
  for (const k of ["schemaVersion", "labels", "content", "targetCondition", "priority", "metrics"]) if (c[k] !== undefined) keep[k] = c[k];
  const metrics = keep.metrics as { queries?: unknown } | undefined;
  if (metrics) keep.metrics = { queries: metrics.queries ?? {} };
  return { id: c.id as string, line: JSON.stringify({ importMode: "createOrUpdateIfMatchETag", ...keep }), hash: digest(canonicalJson(keep)) };
}
