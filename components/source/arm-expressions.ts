/**
 * ARM template expression evaluator: `[concat(parameters('a'), '-x')]` → value.
 *
 * Hand-written because no npm package evaluates ARM expressions offline (the official evaluator
 * lives in the .NET `Azure.Deployments.*` assemblies). It covers the functions real IoT hub
 * templates use for hub settings; deploy-time functions (`reference`, `utcNow`, `newGuid`,
 * `providers`) fail with a clear message, and `listKeys(...)` becomes a marker that says
 * "look this key up at deploy time".
 *
 * Pure: no I/O, no globals. Errors are `ExpressionError` (message without the JSON path; the
 * template reader adds the path and the fix).
 */
import { createHash } from "crypto";
import type { DeploymentContext } from "./model";

// ---------------------------------------------------------------------------------------------
// Values

/** A `listKeys(resourceId, apiVersion)` result, possibly followed by `.keys[0].value` etc. */
export class ListKeysValue {
  constructor(
    readonly resourceId: string,
    /** Accessors applied to the result, e.g. `.keys[0].value`, `.primaryKey`. */
    readonly accessPath: string,
    /** The `listKeys(...)` call as written in the template. */
    readonly callText: string,
    /** Once the key was built into a larger string (a connection string): that string with `{key}` for the key. */
    readonly template?: string,
    /** Second argument of listKeys when it is not an api-version (`listkeys(hubId, 'iothubowner')`). */
    readonly policyName?: string,
  ) {}
  /** The key lookup as written: `listKeys(...)` plus the accessors. */
  get expression(): string {
    return this.callText + this.accessPath;
  }
  with(changes: { accessPath?: string; template?: string }): ListKeysValue {
    return new ListKeysValue(this.resourceId, changes.accessPath ?? this.accessPath, this.callText, changes.template ?? this.template, this.policyName);
  }
  /** Which key the accessors pick, in the target service's words. */
  get keyName(): string | undefined {
    const p = this.accessPath.toLowerCase();
    const m = /^\.keys\[(\d+)\]\.value/.exec(p);
    if (m) return `key${Number(m[1]) + 1}`;
    if (p === ".value" && this.policyName) return this.policyName;
    const n = /^\.([a-z0-9]+)/i.exec(this.accessPath);
    if (n) return n[1];
    return this.policyName;
  }
}

/** The value of a SecureString/secureObject parameter (or a string built from one). */
export class SecretValue {
  constructor(
    readonly value: unknown,
    readonly parameter: string,
  ) {}
}

/** A SecureString parameter nobody supplied: fine for a credential field, an error elsewhere. */
export class MissingSecretValue {
  constructor(readonly parameter: string) {}
}

/** Stands for the looked-up key inside `ListKeysValue.template`. */
export const KEY_PLACEHOLDER = "{key}";

export type Marker = ListKeysValue | SecretValue | MissingSecretValue;

export function isMarker(v: unknown): v is Marker {
  return v instanceof ListKeysValue || v instanceof SecretValue || v instanceof MissingSecretValue;
}

/** Evaluator failure; the caller turns it into a `UserError` naming the JSON path. */
export class ExpressionError extends Error {
  /** JSON path of the innermost resource field being evaluated, set by the template reader. */
  path?: string;
  constructor(
    message: string,
    /** What the user can do about it (`--param NAME=VALUE`, …). */
    readonly fix?: string,
  ) {
    super(message);
    this.name = "ExpressionError";
  }
}

/** A parameter without value and without default. */
export class MissingParameterError extends ExpressionError {
  constructor(readonly parameter: string) {
    super(
      `template parameter '${parameter}' has no value and no default`,
      `supply it with --param ${parameter}=VALUE, a parameters file (--parameters FILE), or source.param.${parameter} in stack config`,
    );
  }
}

/** `resourceGroup()`/`subscription()` without a deployment context. */
export class MissingContextError extends ExpressionError {
  constructor(fn: string, viaParameter?: string, what = "the original hub's subscription and resource group") {
    super(
      `${fn} needs ${what}`,
      (viaParameter ? `supply --param ${viaParameter}=VALUE, or ` : "") +
        (what.includes("location")
          ? "give the location of the original's resource group (source.location in stack config, --source-location for the plan)"
          : "give the original's subscription id and resource group (source.subscriptionId and source.resourceGroup in stack config, --source-subscription and --source-resource-group for the plan)"),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing

export type Node =
  | { kind: "string"; value: string }
  | { kind: "number"; value: number }
  | { kind: "call"; name: string; args: Node[]; text: string }
  | { kind: "property"; target: Node; name: string }
  | { kind: "index"; target: Node; index: Node };

/** True when an ARM JSON string is an expression (`[...]`, but not the `[[` escape). */
export function isExpression(s: string): boolean {
  return s.length >= 2 && s.startsWith("[") && !s.startsWith("[[") && s.endsWith("]");
}

/** The literal an ARM string stands for when it is not an expression (`[[x]` → `[x]`). */
export function unescapeLiteral(s: string): string {
  return s.startsWith("[[") ? s.slice(1) : s;
}

type Token =
  | { t: "id"; v: string; at: number }
  | { t: "str"; v: string; at: number }
  | { t: "num"; v: number; at: number }
  | { t: "punct"; v: string; at: number };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let v = "";
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw new ExpressionError(`unterminated string literal at position ${i} of the expression`);
        if (src[j] === "'") {
          if (src[j + 1] === "'") {
            v += "'";
            j += 2;
            continue;
          }
          break;
        }
        v += src[j++];
      }
      out.push({ t: "str", v, at: i });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === "-" && /[0-9]/.test(src[i + 1] ?? ""))) {
      let j = i + 1;
      while (j < src.length && /[0-9.]/.test(src[j])) j++;
      out.push({ t: "num", v: Number(src.slice(i, j)), at: i });
      i = j;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_$]/.test(src[j])) j++;
      out.push({ t: "id", v: src.slice(i, j), at: i });
      i = j;
    } else if ("(),.[]".includes(c)) {
      out.push({ t: "punct", v: c, at: i });
      i++;
    } else {
      throw new ExpressionError(`unexpected character '${c}' at position ${i} of the expression`);
    }
  }
  return out;
}

/** Parses the inside of `[...]` (without the brackets). */
export function parseExpression(src: string): Node {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos];
  const expectPunct = (v: string) => {
    const t = tokens[pos];
    if (!t || t.t !== "punct" || t.v !== v)
      throw new ExpressionError(`expected '${v}' at position ${t ? t.at : src.length} of the expression`);
    pos++;
  };
  const parsePrimary = (): Node => {
    const t = tokens[pos];
    if (!t) throw new ExpressionError("unexpected end of the expression");
    if (t.t === "str") {
      pos++;
      return { kind: "string", value: t.v };
    }
    if (t.t === "num") {
      pos++;
      return { kind: "number", value: t.v };
    }
    if (t.t === "id") {
      pos++;
      const start = t.at;
      const nx = peek();
      if (!nx || nx.t !== "punct" || nx.v !== "(") {
        // Bare true/false/null are not ARM syntax but appear in hand-written templates.
        const lower = t.v.toLowerCase();
        if (lower === "true" || lower === "false" || lower === "null") return { kind: "call", name: lower, args: [], text: t.v };
        throw new ExpressionError(`'${t.v}' must be a function call (${t.v}(...))`);
      }
      pos++;
      const args: Node[] = [];
      if (!(peek()?.t === "punct" && peek()!.v === ")")) {
        for (;;) {
          args.push(parseChain());
          const sep = peek();
          if (sep?.t === "punct" && sep.v === ",") {
            pos++;
            continue;
          }
          break;
        }
      }
      const close = peek();
      expectPunct(")");
      return { kind: "call", name: t.v, args, text: src.slice(start, close!.at + 1) };
    }
    throw new ExpressionError(`unexpected '${t.v}' at position ${t.at} of the expression`);
  };
  const parseChain = (): Node => {
    let node = parsePrimary();
    for (;;) {
      const t = peek();
      if (t?.t === "punct" && t.v === ".") {
        pos++;
        const id = tokens[pos];
        if (!id || id.t !== "id") throw new ExpressionError(`expected a property name after '.' at position ${t.at}`);
        pos++;
        node = { kind: "property", target: node, name: id.v };
      } else if (t?.t === "punct" && t.v === "[") {
        pos++;
        const index = parseChain();
        expectPunct("]");
        node = { kind: "index", target: node, index };
      } else {
        return node;
      }
    }
  };
  const node = parseChain();
  if (pos !== tokens.length) throw new ExpressionError(`unexpected '${tokens[pos].v}' at position ${tokens[pos].at} of the expression`);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Scope

/** What expressions can see: parameters, variables, the deployment context, loop indexes. */
export interface Scope {
  /** Parameter value by name (case-insensitive lookup done by the scope). Throws MissingParameterError. */
  parameter(name: string): unknown;
  /** Variable value by name. */
  variable(name: string): unknown;
  context?: DeploymentContext;
  /** `copyIndex()` values: "" for the innermost resource loop, loop names for named loops. */
  copyIndexes?: Map<string, number>;
  /** `lambdaVariables('x')` values. */
  lambdaVariables?: Map<string, unknown>;
  /** When set, resourceGroup()/subscription() errors suggest `--param <name>=VALUE`. */
  evaluatingParameter?: string;
  /** languageVersion 2.0: resource id of a resource by its symbolic name (`listKeys('archive', …)`). */
  symbolicResourceId?: (name: string) => string | undefined;
}

class Lambda {
  constructor(
    readonly params: string[],
    readonly body: Node,
    readonly scope: Scope,
  ) {}
}

function withLambdaVars(scope: Scope, names: string[], values: unknown[]): Scope {
  const vars = new Map(scope.lambdaVariables ?? []);
  names.forEach((n, i) => vars.set(n.toLowerCase(), values[i]));
  return { ...scope, lambdaVariables: vars };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** Evaluates an ARM JSON string: expressions are evaluated, other strings returned as literals. */
export function evaluateString(s: string, scope: Scope): unknown {
  if (!isExpression(s)) return unescapeLiteral(s);
  return evaluate(parseExpression(s.slice(1, -1)), scope);
}

export function evaluate(node: Node, scope: Scope): unknown {
  switch (node.kind) {
    case "string":
      return node.value;
    case "number":
      return node.value;
    case "property":
      return access(evaluate(node.target, scope), node.name, true);
    case "index":
      return access(evaluate(node.target, scope), evaluate(node.index, scope), false);
    case "call":
      return call(node, scope);
  }
}

function access(target: unknown, key: unknown, dotted: boolean): unknown {
  if (target instanceof ListKeysValue) {
    const part = typeof key === "number" ? `[${key}]` : dotted ? `.${String(key)}` : `['${String(key)}']`;
    return target.with({ accessPath: target.accessPath + part });
  }
  if (target instanceof MissingSecretValue) return target;
  if (target instanceof SecretValue) {
    const inner = access(target.value, key, dotted);
    return new SecretValue(inner, target.parameter);
  }
  if (Array.isArray(target)) {
    if (typeof key !== "number" || !Number.isInteger(key)) throw new ExpressionError(`an array can only be indexed by an integer, not '${String(key)}'`);
    if (key < 0 || key >= target.length) throw new ExpressionError(`index ${key} is outside the array (length ${target.length})`);
    return target[key];
  }
  if (target && typeof target === "object") {
    const obj = target as Record<string, unknown>;
    const name = String(key);
    if (name in obj) return obj[name];
    const found = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
    if (found !== undefined) return obj[found];
    throw new ExpressionError(`the object has no property '${name}' (it has: ${Object.keys(obj).join(", ") || "none"})`);
  }
  if (typeof target === "string" && typeof key === "number") return target[key];
  throw new ExpressionError(`cannot read '${String(key)}' of ${target === null ? "null" : typeof target}`);
}

/** The marker an argument list carries, by priority (a missing secret beats a key lookup). */
function markerOf(values: unknown[]): Marker | undefined {
  const deep = (v: unknown): Marker | undefined => {
    if (isMarker(v)) return v;
    if (Array.isArray(v)) return markerOf(v);
    return undefined;
  };
  const found = values.map(deep).filter((m): m is Marker => m !== undefined);
  return (
    found.find((m) => m instanceof MissingSecretValue) ??
    found.find((m) => m instanceof ListKeysValue) ??
    found.find((m) => m instanceof SecretValue)
  );
}

/** Replaces secret markers by their values (for computing the string that stays secret). */
export function unwrapSecrets(v: unknown): unknown {
  if (v instanceof SecretValue) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  return v;
}

/**
 * String functions over a marker yield a marker: a connection string built around
 * `listKeys(...)` is still "look this key up", one built from a secret parameter is still secret.
 */
function propagate(args: unknown[], compute: (plain: unknown[]) => unknown): unknown {
  const m = markerOf(args);
  if (!m) return compute(args);
  if (m instanceof ListKeysValue) {
    // Same computation with the key as a placeholder: the transform substitutes the real key at deploy time.
    const placeholder = (v: unknown): unknown =>
      v instanceof ListKeysValue ? (v.template ?? KEY_PLACEHOLDER) : isMarker(v) ? "" : Array.isArray(v) ? v.map(placeholder) : v;
    let template: string | undefined;
    try {
      const t = compute(args.map(placeholder).map(unwrapSecrets));
      template = typeof t === "string" ? t : undefined;
    } catch {
      template = undefined;
    }
    return m.with({ template });
  }
  if (m instanceof MissingSecretValue) return m;
  return new SecretValue(compute(args.map(unwrapSecrets)), m.parameter);
}

function noMarkers(fn: string, args: unknown[]): void {
  const m = markerOf(args);
  if (m instanceof ListKeysValue) throw new ExpressionError(`${fn}() cannot use a listKeys() result offline`);
  if (m instanceof MissingSecretValue)
    throw new MissingParameterError(m.parameter);
}

function str(v: unknown, fn: string): string {
  if (typeof v === "string") return v;
  throw new ExpressionError(`${fn}() expects a string, got ${describe(v)}`);
}
function num(v: unknown, fn: string): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && /^-?\d+$/.test(v.trim())) return Number(v);
  throw new ExpressionError(`${fn}() expects an integer, got ${describe(v)}`);
}
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (isMarker(v)) return "a deploy-time value";
  // Never quote strings: the value may come from a secure parameter.
  if (typeof v === "string") return "a string";
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}
function arity(fn: string, args: unknown[] | Node[], min: number, max = min): void {
  if (args.length < min || args.length > max)
    throw new ExpressionError(
      `${fn}() takes ${min === max ? min : `${min} to ${max === Infinity ? "any number of" : max}`} argument(s), got ${args.length}`,
    );
}

/** ARM `string()`: strings as is, everything else as compact JSON. */
function toArmString(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return String(v);
  if (v === null || v === undefined) return "";
  return JSON.stringify(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  return ak.length === Object.keys(bo).length && ak.every((k) => k in bo && deepEqual(ao[k], bo[k]));
}

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v === "string" || Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v as object).length === 0;
  return false;
}

/** ARM `union`: objects merged (nested objects merged deeply), arrays concatenated without duplicates. */
function union(values: unknown[]): unknown {
  if (values.every(Array.isArray)) {
    const out: unknown[] = [];
    for (const arr of values as unknown[][]) for (const x of arr) if (!out.some((y) => deepEqual(x, y))) out.push(x);
    return out;
  }
  if (values.every((v) => v !== null && typeof v === "object" && !Array.isArray(v))) {
    const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
      const out = { ...a };
      for (const [k, v] of Object.entries(b)) {
        const prev = out[k];
        out[k] =
          prev && v && typeof prev === "object" && typeof v === "object" && !Array.isArray(prev) && !Array.isArray(v)
            ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
            : v;
      }
      return out;
    };
    return (values as Record<string, unknown>[]).reduce((acc, v) => merge(acc, v), {});
  }
  throw new ExpressionError("union() expects all objects or all arrays");
}

/** .NET-style composite format: `{0}`, `{1:D}` (format specifiers other than plain are ignored). */
function formatString(fmt: string, args: unknown[]): string {
  return fmt.replace(/\{\{|\}\}|\{(\d+)(?:[,:][^}]*)?\}/g, (m, idx?: string) => {
    if (m === "{{") return "{";
    if (m === "}}") return "}";
    const i = Number(idx);
    if (i >= args.length) throw new ExpressionError(`format() string refers to {${i}} but only ${args.length} value(s) were given`);
    return toArmString(args[i]);
  });
}

// --- uniqueString / guid -----------------------------------------------------------------------

function rotl32(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The 64-bit MurmurHash variant ARM's `uniqueString` uses: MurmurHash3's x86 constants over
 * 8-byte blocks split into two 32-bit lanes, seed 0, lanes mixed with the length at the end.
 * Written from the published description of the algorithm; checked in tests against published
 * `uniqueString` outputs (see test/source/arm-expressions.test.ts).
 */
export function murmurHash64(data: Uint8Array, seed = 0): bigint {
  const C1 = 0x239b961b;
  const C2 = 0xab0e9789;
  let h1 = seed >>> 0;
  let h2 = seed >>> 0;
  const len = data.length;
  const le = (at: number, n: number) => {
    let v = 0;
    for (let j = 0; j < n; j++) v |= data[at + j] << (8 * j);
    return v >>> 0;
  };
  let i = 0;
  for (; i + 7 < len; i += 8) {
    let k1 = le(i, 4);
    let k2 = le(i + 4, 4);
    k1 = Math.imul(rotl32(Math.imul(k1, C1) >>> 0, 15), C2) >>> 0;
    h1 = (h1 ^ k1) >>> 0;
    h1 = (Math.imul((rotl32(h1, 19) + h2) >>> 0, 5) + 0x561ccd1b) >>> 0;
    k2 = Math.imul(rotl32(Math.imul(k2, C2) >>> 0, 17), C1) >>> 0;
    h2 = (h2 ^ k2) >>> 0;
    h2 = (Math.imul((rotl32(h2, 13) + h1) >>> 0, 5) + 0x0bcaa747) >>> 0;
  }
  const tail = len - i;
  if (tail > 0) {
    const k1 = Math.imul(rotl32(Math.imul(le(i, Math.min(tail, 4)), C1) >>> 0, 15), C2) >>> 0;
    h1 = (h1 ^ k1) >>> 0;
    if (tail > 4) {
      const k2 = Math.imul(rotl32(Math.imul(le(i + 4, tail - 4), C2) >>> 0, 17), C1) >>> 0;
      h2 = (h2 ^ k2) >>> 0;
    }
  }
  h1 = (h1 ^ len) >>> 0;
  h2 = (h2 ^ len) >>> 0;
  h1 = (h1 + h2) >>> 0;
  h2 = (h2 + h1) >>> 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h1 = (h1 + h2) >>> 0;
  h2 = (h2 + h1) >>> 0;
  return (BigInt(h2) << 32n) | BigInt(h1);
}

/** ARM `uniqueString(a, b, …)`: arguments joined by '-', hashed, first 13 base-32 characters. */
export function uniqueString(...parts: string[]): string {
  let h = murmurHash64(Buffer.from(parts.join("-"), "utf8"));
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let out = "";
  for (let i = 0; i < 13; i++) {
    out += alphabet[Number(h >> 59n)];
    h = (h << 5n) & 0xffffffffffffffffn;
  }
  return out;
}

/**
 * ARM `guid(a, b, …)`: a name-based (version 5, SHA-1) UUID of the '-'-joined arguments under
 * ARM's fixed namespace. NOT verified against a published ARM output (none found offline): treat
 * names derived from guid() as approximate.
 */
export function armGuid(...parts: string[]): string {
  const ns = Buffer.from("11fb06fb712d4ddd98c7e71bb817dfe4", "hex");
  // Namespace bytes in RFC 4122 (network) order, as the UUID string spells them.
  const hash = createHash("sha1").update(ns).update(Buffer.from(parts.join("-"), "utf8")).digest();
  const b = Buffer.from(hash.subarray(0, 16));
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// --- resource ids ----------------------------------------------------------------------------

function needContext(scope: Scope, fn: string): DeploymentContext {
  if (!scope.context) throw new MissingContextError(fn, scope.evaluatingParameter);
  return scope.context;
}

function looksLikeType(s: string): boolean {
  return /^[A-Za-z0-9]+\.[A-Za-z0-9.]+\/[A-Za-z0-9]/.test(s);
}

/** `resourceId([subscriptionId], [resourceGroupName], type, name1, name2, …)`. */
export function buildResourceId(args: string[], context: () => DeploymentContext, level: "rg" | "sub" | "tenant" = "rg"): string {
  const typeAt = args.findIndex(looksLikeType);
  if (typeAt < 0) throw new ExpressionError("resourceId() needs a resource type such as 'Microsoft.Devices/IotHubs'");
  const before = args.slice(0, typeAt);
  const type = args[typeAt].replace(/\/+$/, "");
  const names = args.slice(typeAt + 1).flatMap((n) => n.split("/"));
  const [namespace, ...types] = type.split("/");
  if (names.length !== types.length)
    throw new ExpressionError(`resourceId() for type '${type}' needs ${types.length} name segment(s), got ${names.length}`);
  let segments = `providers/${namespace}`;
  types.forEach((t, i) => (segments += `/${t}/${names[i]}`));
  if (level === "tenant") return `/${segments}`;
  let sub: string;
  let rg: string | undefined;
  const contextSubscription = (): string => {
    const id = context().subscriptionId;
    if (!id) throw new MissingContextError(level === "sub" ? "subscriptionResourceId()" : "resourceId()", undefined, "the original hub's subscription id");
    return id;
  };
  if (level === "sub") {
    sub = before.length >= 1 ? before[0] : contextSubscription();
    return `/subscriptions/${sub}/${segments}`;
  }
  if (before.length >= 2) [sub, rg] = before;
  else if (before.length === 1) [sub, rg] = [contextSubscription(), before[0]];
  else [sub, rg] = [contextSubscription(), context().resourceGroup];
  return `/subscriptions/${sub}/resourceGroups/${rg}/${segments}`;
}

/** `environment()` for the public cloud (AzureCloud). */
export const azureCloudEnvironment = {
  name: "AzureCloud",
  gallery: "https://gallery.azure.com/",
  graph: "https://graph.windows.net/",
  portal: "https://portal.azure.com",
  graphAudience: "https://graph.windows.net/",
  activeDirectoryDataLake: "https://datalake.azure.net/",
  batch: "https://batch.core.windows.net/",
  media: "https://rest.media.azure.net",
  sqlManagement: "https://management.core.windows.net:8443/",
  vmImageAliasDoc: "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
  resourceManager: "https://management.azure.com/",
  authentication: {
    loginEndpoint: "https://login.microsoftonline.com/",
    audiences: ["https://management.core.windows.net/", "https://management.azure.com/"],
    tenant: "common",
    identityProvider: "AAD",
  },
  suffixes: {
    acrLoginServer: ".azurecr.io",
    azureDatalakeAnalyticsCatalogAndJob: "azuredatalakeanalytics.net",
    azureDatalakeStoreFileSystem: "azuredatalakestore.net",
    azureFrontDoorEndpointSuffix: "azurefd.net",
    keyvaultDns: ".vault.azure.net",
    sqlServerHostname: ".database.windows.net",
    storage: "core.windows.net",
  },
};

// --- function table ----------------------------------------------------------------------------

type Fn = (args: unknown[], scope: Scope, node: Extract<Node, { kind: "call" }>) => unknown;
type LazyFn = (args: Node[], scope: Scope, node: Extract<Node, { kind: "call" }>) => unknown;

const eager: Record<string, Fn> = {
  parameters: (a, s) => (arity("parameters", a, 1), s.parameter(str(a[0], "parameters"))),
  variables: (a, s) => (arity("variables", a, 1), s.variable(str(a[0], "variables"))),
  concat: (a) => {
    if (a.length > 0 && a.every((x) => Array.isArray(x) || x === null)) return (a as unknown[][]).flatMap((x) => x ?? []);
    return propagate(a, (p) => p.map(toArmString).join(""));
  },
  format: (a) => (arity("format", a, 1, Infinity), propagate(a, (p) => formatString(str(p[0], "format"), p.slice(1)))),
  tolower: (a) => (arity("toLower", a, 1), propagate(a, (p) => str(p[0], "toLower").toLowerCase())),
  toupper: (a) => (arity("toUpper", a, 1), propagate(a, (p) => str(p[0], "toUpper").toUpperCase())),
  trim: (a) => (arity("trim", a, 1), propagate(a, (p) => str(p[0], "trim").trim())),
  string: (a) => (arity("string", a, 1), propagate(a, (p) => toArmString(p[0]))),
  replace: (a) =>
    (arity("replace", a, 3), propagate(a, (p) => str(p[0], "replace").split(str(p[1], "replace")).join(str(p[2], "replace")))),
  substring: (a) =>
    (arity("substring", a, 2, 3),
    propagate(a, (p) => {
      const s = str(p[0], "substring");
      const start = num(p[1], "substring");
      const len = p.length > 2 ? num(p[2], "substring") : s.length - start;
      if (start < 0 || len < 0 || start + len > s.length)
        throw new ExpressionError(`substring() range ${start}+${len} is outside the string (length ${s.length})`);
      return s.substr(start, len);
    })),
  base64: (a) => (arity("base64", a, 1), propagate(a, (p) => Buffer.from(str(p[0], "base64"), "utf8").toString("base64"))),
  base64tostring: (a) => (arity("base64ToString", a, 1), Buffer.from(str(a[0], "base64ToString"), "base64").toString("utf8")),
  uri: (a) => (arity("uri", a, 2), new URL(str(a[1], "uri"), str(a[0], "uri")).toString()),
  int: (a) => {
    arity("int", a, 1);
    noMarkers("int", a);
    const n = typeof a[0] === "number" ? a[0] : Number.parseInt(str(a[0], "int"), 10);
    if (Number.isNaN(n)) throw new ExpressionError(`int() cannot convert ${describe(a[0])}`);
    return Math.trunc(n);
  },
  float: (a) => (arity("float", a, 1), noMarkers("float", a), Number(a[0])),
  bool: (a) => {
    arity("bool", a, 1);
    noMarkers("bool", a);
    if (typeof a[0] === "boolean") return a[0];
    if (typeof a[0] === "number") return a[0] !== 0;
    const s = str(a[0], "bool").toLowerCase();
    if (s === "true" || s === "1") return true;
    if (s === "false" || s === "0") return false;
    throw new ExpressionError("bool() can only convert 'true', 'false', '1' or '0'");
  },
  json: (a) => {
    arity("json", a, 1);
    try {
      return JSON.parse(str(a[0], "json"));
    } catch {
      throw new ExpressionError("json() was given text that is not valid JSON");
    }
  },
  true: () => true,
  false: () => false,
  null: () => null,
  createobject: (a) => {
    if (a.length % 2 !== 0) throw new ExpressionError("createObject() takes key/value pairs");
    const out: Record<string, unknown> = {};
    for (let i = 0; i < a.length; i += 2) out[str(a[i], "createObject")] = a[i + 1];
    return out;
  },
  createarray: (a) => [...a],
  array: (a) => (arity("array", a, 1), Array.isArray(a[0]) ? a[0] : [a[0]]),
  length: (a) => {
    arity("length", a, 1);
    noMarkers("length", a);
    const v = a[0];
    if (typeof v === "string" || Array.isArray(v)) return v.length;
    if (v && typeof v === "object") return Object.keys(v).length;
    throw new ExpressionError(`length() expects a string, array or object, got ${describe(v)}`);
  },
  empty: (a) => (arity("empty", a, 1), noMarkers("empty", a), isEmpty(a[0])),
  equals: (a) => (arity("equals", a, 2), noMarkers("equals", a), deepEqual(a[0], a[1])),
  not: (a) => (arity("not", a, 1), noMarkers("not", a), !a[0]),
  greater: (a) => (arity("greater", a, 2), (a[0] as number) > (a[1] as number)),
  less: (a) => (arity("less", a, 2), (a[0] as number) < (a[1] as number)),
  greaterorequals: (a) => (arity("greaterOrEquals", a, 2), (a[0] as number) >= (a[1] as number)),
  lessorequals: (a) => (arity("lessOrEquals", a, 2), (a[0] as number) <= (a[1] as number)),
  add: (a) => (arity("add", a, 2), num(a[0], "add") + num(a[1], "add")),
  sub: (a) => (arity("sub", a, 2), num(a[0], "sub") - num(a[1], "sub")),
  mul: (a) => (arity("mul", a, 2), num(a[0], "mul") * num(a[1], "mul")),
  div: (a) => (arity("div", a, 2), Math.trunc(num(a[0], "div") / num(a[1], "div"))),
  mod: (a) => (arity("mod", a, 2), num(a[0], "mod") % num(a[1], "mod")),
  min: (a) => Math.min(...(a.length === 1 && Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]))),
  max: (a) => Math.max(...(a.length === 1 && Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]))),
  range: (a) => {
    arity("range", a, 2);
    const count = num(a[1], "range");
    // ARM's own limit; also keeps a damaged template from exhausting memory.
    if (count < 0 || count > 10000) throw new ExpressionError("range() count must be between 0 and 10000");
    return Array.from({ length: count }, (_, i) => num(a[0], "range") + i);
  },
  union: (a) => (arity("union", a, 1, Infinity), noMarkers("union", a), union(a)),
  intersection: (a) => {
    if (a.every(Array.isArray)) return (a[0] as unknown[]).filter((x) => (a as unknown[][]).every((arr) => arr.some((y) => deepEqual(x, y))));
    const [first, ...rest] = a as Record<string, unknown>[];
    return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((o) => k in o && deepEqual(o[k], v))));
  },
  split: (a) => {
    arity("split", a, 2);
    noMarkers("split", a);
    const s = str(a[0], "split");
    const delims = Array.isArray(a[1]) ? (a[1] as string[]) : [str(a[1], "split")];
    let parts = [s];
    for (const d of delims) parts = parts.flatMap((p) => p.split(d));
    return parts;
  },
  join: (a) => (arity("join", a, 2), (a[0] as unknown[]).map(toArmString).join(str(a[1], "join"))),
  first: (a) => {
    arity("first", a, 1);
    const v = a[0];
    if (typeof v === "string") return v.slice(0, 1);
    if (Array.isArray(v)) return v[0];
    throw new ExpressionError(`first() expects a string or array, got ${describe(v)}`);
  },
  last: (a) => {
    arity("last", a, 1);
    const v = a[0];
    if (typeof v === "string") return v.slice(-1);
    if (Array.isArray(v)) return v[v.length - 1];
    throw new ExpressionError(`last() expects a string or array, got ${describe(v)}`);
  },
  take: (a) =>
    (arity("take", a, 2),
    propagate(a, (p) => {
      const v = p[0];
      const n = Math.max(0, num(p[1], "take"));
      if (typeof v === "string" || Array.isArray(v)) return v.slice(0, n);
      throw new ExpressionError(`take() expects a string or array, got ${describe(v)}`);
    })),
  skip: (a) => {
    arity("skip", a, 2);
    const v = a[0];
    const n = Math.max(0, num(a[1], "skip"));
    if (typeof v === "string" || Array.isArray(v)) return v.slice(n);
    throw new ExpressionError(`skip() expects a string or array, got ${describe(v)}`);
  },
  contains: (a) => {
    arity("contains", a, 2);
    noMarkers("contains", a);
    const [c, x] = a;
    if (typeof c === "string") return c.includes(toArmString(x));
    if (Array.isArray(c)) return c.some((y) => deepEqual(y, x));
    if (c && typeof c === "object") return Object.keys(c).some((k) => k.toLowerCase() === String(x).toLowerCase());
    throw new ExpressionError(`contains() expects a string, array or object, got ${describe(c)}`);
  },
  startswith: (a) => (arity("startsWith", a, 2), str(a[0], "startsWith").toLowerCase().startsWith(str(a[1], "startsWith").toLowerCase())),
  endswith: (a) => (arity("endsWith", a, 2), str(a[0], "endsWith").toLowerCase().endsWith(str(a[1], "endsWith").toLowerCase())),
  indexof: (a) => {
    arity("indexOf", a, 2);
    if (Array.isArray(a[0])) return a[0].findIndex((y) => deepEqual(y, a[1]));
    return str(a[0], "indexOf").toLowerCase().indexOf(str(a[1], "indexOf").toLowerCase());
  },
  lastindexof: (a) => {
    arity("lastIndexOf", a, 2);
    if (Array.isArray(a[0])) {
      for (let i = a[0].length - 1; i >= 0; i--) if (deepEqual(a[0][i], a[1])) return i;
      return -1;
    }
    return str(a[0], "lastIndexOf").toLowerCase().lastIndexOf(str(a[1], "lastIndexOf").toLowerCase());
  },
  padleft: (a) => (arity("padLeft", a, 2, 3), toArmString(a[0]).padStart(num(a[1], "padLeft"), a.length > 2 ? str(a[2], "padLeft") : " ")),
  items: (a) => {
    arity("items", a, 1);
    const o = a[0] as Record<string, unknown>;
    return Object.keys(o)
      .sort((x, y) => x.localeCompare(y))
      .map((k) => ({ key: k, value: o[k] }));
  },
  objectkeys: (a) => Object.keys(a[0] as object),
  uniquestring: (a) => {
    arity("uniqueString", a, 1, Infinity);
    noMarkers("uniqueString", a);
    return uniqueString(...a.map((x) => str(x, "uniqueString")));
  },
  guid: (a) => (arity("guid", a, 1, Infinity), noMarkers("guid", a), armGuid(...a.map((x) => str(x, "guid")))),
  resourceid: (a, s) => (noMarkers("resourceId", a), buildResourceId(a.map((x) => str(x, "resourceId")), () => needContext(s, "resourceId()"))),
  subscriptionresourceid: (a, s) =>
    (noMarkers("subscriptionResourceId", a),
    buildResourceId(a.map((x) => str(x, "subscriptionResourceId")), () => needContext(s, "subscriptionResourceId()"), "sub")),
  tenantresourceid: (a) => buildResourceId(a.map((x) => str(x, "tenantResourceId")), () => ({}) as DeploymentContext, "tenant"),
  extensionresourceid: (a) => {
    arity("extensionResourceId", a, 3, Infinity);
    const [scopeId, ...rest] = a.map((x) => str(x, "extensionResourceId"));
    return scopeId.replace(/\/$/, "") + buildResourceId(rest, () => ({}) as DeploymentContext, "tenant");
  },
  resourcegroup: (_a, s) => {
    const c = needContext(s, "resourceGroup()");
    return {
      get id(): string {
        if (c.subscriptionId) return `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}`;
        throw new MissingContextError("resourceGroup().id", s.evaluatingParameter, "the original hub's subscription id");
      },
      name: c.resourceGroup,
      type: "Microsoft.Resources/resourceGroups",
      get location(): string {
        if (c.location) return c.location;
        throw new MissingContextError("resourceGroup().location", s.evaluatingParameter, "the location of the original's resource group");
      },
      properties: { provisioningState: "Succeeded" },
    };
  },
  subscription: (_a, s) => {
    const c = needContext(s, "subscription()");
    if (!c.subscriptionId) throw new MissingContextError("subscription()", s.evaluatingParameter, "the original hub's subscription id");
    return { id: `/subscriptions/${c.subscriptionId}`, subscriptionId: c.subscriptionId, displayName: c.subscriptionId };
  },
  deployment: (_a, s) => ({ name: s.context?.deploymentName ?? "hubclone", properties: { templateLink: undefined } }),
  environment: () => azureCloudEnvironment,
  copyindex: (a, s) => {
    const name = typeof a[0] === "string" ? a[0].toLowerCase() : "";
    const offset = typeof a[0] === "number" ? a[0] : typeof a[1] === "number" ? a[1] : 0;
    const idx = s.copyIndexes?.get(name);
    if (idx === undefined) throw new ExpressionError(`copyIndex(${name ? `'${name}'` : ""}) used outside a copy loop`);
    return idx + offset;
  },
  lambdavariables: (a, s) => {
    const name = str(a[0], "lambdaVariables").toLowerCase();
    if (!s.lambdaVariables?.has(name)) throw new ExpressionError(`lambdaVariables('${name}') used outside its lambda`);
    return s.lambdaVariables.get(name);
  },
  trygetproperty: (a) => tryGet(a),
  tryget: (a) => tryGet(a),
  map: (a, s) => {
    const [arr, fn] = a;
    const l = asLambda(fn, "map");
    return (arr as unknown[]).map((x, i) => evaluate(l.body, withLambdaVars(l.scope, l.params, [x, i])));
  },
  filter: (a) => {
    const [arr, fn] = a;
    const l = asLambda(fn, "filter");
    return (arr as unknown[]).filter((x, i) => evaluate(l.body, withLambdaVars(l.scope, l.params, [x, i])));
  },
  reduce: (a) => {
    const [arr, init, fn] = a;
    const l = asLambda(fn, "reduce");
    return (arr as unknown[]).reduce((acc, x, i) => evaluate(l.body, withLambdaVars(l.scope, l.params, [acc, x, i])), init);
  },
  toobject: (a) => {
    const [arr, keyFn, valueFn] = a;
    const k = asLambda(keyFn, "toObject");
    const v = valueFn ? asLambda(valueFn, "toObject") : undefined;
    const out: Record<string, unknown> = {};
    for (const x of arr as unknown[])
      out[String(evaluate(k.body, withLambdaVars(k.scope, k.params, [x])))] = v ? evaluate(v.body, withLambdaVars(v.scope, v.params, [x])) : x;
    return out;
  },
};

function tryGet(a: unknown[]): unknown {
  let cur = a[0];
  for (const key of a.slice(1)) {
    if (cur === null || cur === undefined) return null;
    if (Array.isArray(cur)) cur = typeof key === "number" ? cur[key] : undefined;
    else if (typeof cur === "object") {
      const o = cur as Record<string, unknown>;
      const k = Object.keys(o).find((x) => x.toLowerCase() === String(key).toLowerCase());
      cur = k === undefined ? undefined : o[k];
    } else return null;
  }
  return cur === undefined ? null : cur;
}

function asLambda(v: unknown, fn: string): Lambda {
  if (v instanceof Lambda) return v;
  throw new ExpressionError(`${fn}() expects a lambda(...) as its function argument`);
}

const deployTimeOnly: Record<string, string> = {
  reference: "reference() reads a deployed resource, which the offline reader cannot do",
  utcnow: "utcNow() returns the deployment time, so the value is not reproducible",
  newguid: "newGuid() returns a fresh value at each deployment",
  providers: "providers() asks Azure for API versions",
  pickzones: "pickZones() asks Azure for zone information",
  managementgroup: "managementGroup() needs a management-group deployment",
  tenant: "tenant() needs the tenant of the deployment",
  deployer: "deployer() needs the identity running the deployment",
  getsecret: "getSecret() reads Key Vault",
};

/** Functions whose result is built from their arguments' text: a secret argument makes a secret result. */
const secretPropagating = new Set(["concat", "format", "tolower", "toupper", "trim", "string", "replace", "substring", "base64", "take"]);

const lazy: Record<string, LazyFn> = {
  if: (a, s) => {
    arity("if", a, 3);
    const cond = unwrapSecrets(evaluate(a[0], s));
    noMarkers("if", [cond]);
    return evaluate(cond ? a[1] : a[2], s);
  },
  and: (a, s) => {
    for (const n of a) {
      const v = unwrapSecrets(evaluate(n, s));
      noMarkers("and", [v]);
      if (!v) return false;
    }
    return true;
  },
  or: (a, s) => {
    for (const n of a) {
      const v = unwrapSecrets(evaluate(n, s));
      noMarkers("or", [v]);
      if (v) return true;
    }
    return false;
  },
  coalesce: (a, s) => {
    for (const n of a) {
      const v = evaluate(n, s);
      if (v !== null && v !== undefined) return v;
    }
    return null;
  },
  lambda: (a, s) => {
    if (a.length < 2) throw new ExpressionError("lambda() needs parameter names and a body");
    const params = a.slice(0, -1).map((n) => {
      if (n.kind !== "string") throw new ExpressionError("lambda() parameter names must be string literals");
      return n.value;
    });
    return new Lambda(params, a[a.length - 1], s);
  },
};

function call(node: Extract<Node, { kind: "call" }>, scope: Scope): unknown {
  const name = node.name.toLowerCase();
  if (name in lazy) return lazy[name](node.args, scope, node);
  if (name === "listkeys") return listKeys(node, scope);
  if (name.startsWith("list") && name.length > 4) {
    throw new ExpressionError(`${node.name}() reads secrets from a deployed resource; only listKeys() is understood offline`);
  }
  if (name in deployTimeOnly)
    throw new ExpressionError(
      `${deployTimeOnly[name]}`,
      scope.evaluatingParameter
        ? `supply --param ${scope.evaluatingParameter}=VALUE (its default uses ${node.name}()), or read the live hub instead`
        : "replace the value with a parameter and supply it (--param NAME=VALUE), or read the live hub instead",
    );
  const fn = eager[name];
  if (!fn) throw new ExpressionError(`function '${node.name}' is not supported by the offline reader`);
  const evaluated = node.args.map((a) => evaluate(a, scope));
  // Only string-building functions carry secrecy into their result; the others (empty, equals,
  // length, …) look at the value itself.
  const args = secretPropagating.has(name) ? evaluated : evaluated.map(unwrapSecrets);
  try {
    return fn(args, scope, node);
  } catch (e) {
    if (e instanceof ExpressionError) throw e;
    // A built-in tripping over a value of the wrong shape (TypeError, URL errors): the user's input, not a bug.
    throw new ExpressionError(`${node.name}() cannot use these arguments (${args.map(describe).join(", ")})`);
  }
}

/** `listKeys(resourceId, apiVersionOrPolicy)`: only the resource id is needed offline. */
function listKeys(node: Extract<Node, { kind: "call" }>, scope: Scope): ListKeysValue {
  if (node.args.length < 1) throw new ExpressionError("listKeys() needs a resource id");
  const id = evaluate(node.args[0], scope);
  if (typeof id !== "string") throw new ExpressionError(`listKeys() needs a resource id string, got ${describe(id)}`);
  const resourceId = !id.includes("/") && scope.symbolicResourceId ? (scope.symbolicResourceId(id) ?? id) : id;
  let policyName: string | undefined;
  if (node.args[1]) {
    // The api-version may be `providers(...).apiVersions[0]`, which needs Azure: not needed here.
    try {
      const second = evaluate(node.args[1], scope);
      if (typeof second === "string" && !/^\d{4}-\d{2}-\d{2}/.test(second)) policyName = second;
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
    }
  }
  return new ListKeysValue(resourceId, "", node.text, undefined, policyName);
}

/** Names of the functions the evaluator understands (for docs and tests). */
export const supportedFunctions = [...Object.keys(eager), ...Object.keys(lazy), "listkeys"].sort();
