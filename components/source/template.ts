/**
 * ARM/Bicep template → the hub resource's evaluated body plus the consumer groups and
 * certificates declared as child resources.
 *
 * Only what the hub needs is evaluated: other resources (DPS, Stream Analytics, VMs…) may use
 * `reference()` or parameters nobody supplied, and must not stop the read. Variables and
 * parameter defaults are evaluated lazily for the same reason.
 */
import { UserError } from "../errors";
import * as fs from "fs";
import { containsSecret, redact } from "../secrets";
import {
  ExpressionError,
  MissingParameterError,
  MissingSecretValue,
  Scope,
  SecretValue,
  evaluateString,
  isMarker,
  unwrapSecrets,
} from "./arm-expressions";
import { attachmentsFromTemplate, isAttachmentCandidate, targetsHub, type HubAttachments, type TemplateResource } from "./attachments";
import type { ConsumerGroup, DeploymentContext, HubCertificate, ParameterValues } from "./model";

type Obj = Record<string, unknown>;

const HUB = "microsoft.devices/iothubs";
const CONSUMER_GROUP = "microsoft.devices/iothubs/eventhubendpoints/consumergroups";
const CERTIFICATE = "microsoft.devices/iothubs/certificates";
const DEPLOYMENT = "microsoft.resources/deployments";

export interface TemplateHub {
  /** Evaluated hub resource body (name, location, sku, tags, identity, properties). */
  body: Obj;
  /** JSON path of the hub resource in the file. */
  path: string;
  consumerGroups: ConsumerGroup[];
  certificates: HubCertificate[];
  notes: string[];
  /** Event Grid, diagnostic settings, private endpoints, role assignments declared beside the hub. */
  attachments: HubAttachments;
  /** The template has `IotHubs_<name>_name` parameters: a portal export. */
  portalExport: boolean;
  /** Body path (`properties.eventHubEndpoints.events.partitionCount`) → the parameter that is its whole value. */
  parameterAt: Record<string, string>;
}

/** Fields whose whole value is `[parameters('x')]`, so a type error there can name the parameter. */
function parameterPaths(v: unknown, path: string, out: Record<string, string>): void {
  if (typeof v === "string") {
    const m = /^\[\s*parameters\(\s*'([^']+)'\s*\)\s*\]$/i.exec(v);
    if (m) out[path] = m[1];
  } else if (Array.isArray(v)) v.forEach((x, i) => parameterPaths(x, join(path, i), out));
  else if (isObj(v)) for (const [k, x] of Object.entries(v)) parameterPaths(x, join(path, k), out);
}

export interface TemplateReadOptions {
  parameters?: ParameterValues;
  context?: DeploymentContext;
  hubName?: string;
  origin: string;
  /** JSON path of the template inside the file (`arm` for a hub-state file). */
  basePath?: string;
}

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v) && !isMarker(v);
}
function getCI(o: Obj, name: string): unknown {
  if (!o || typeof o !== "object" || Array.isArray(o)) return undefined;
  if (name in o) return o[name];
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : o[k];
}
function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return `${path}['${key}']`;
  return path ? `${path}.${key}` : key;
}

/** Turns an evaluator failure into the one-line error the user sees. */
function toUserError(e: unknown, path: string, origin: string): unknown {
  if (e instanceof ExpressionError) {
    const msg = `${e.message}${e.fix ? `: ${e.fix}` : ""} (in ${origin})`;
    return new UserError(redact(msg), path);
  }
  return e;
}

type Supplied = Map<string, () => { value: unknown; secret: boolean }>;

/** Parameters and variables of one template scope, evaluated on first use. */
class TemplateScope implements Scope {
  private readonly paramCache = new Map<string, unknown>();
  private readonly varCache = new Map<string, unknown>();
  private readonly evaluating = new Set<string>();
  readonly declared: Obj;
  readonly variables: Obj;

  constructor(
    readonly template: Obj,
    readonly supplied: Supplied,
    readonly context: DeploymentContext | undefined,
    readonly origin: string,
    readonly path: string,
  ) {
    this.declared = isObj(getCI(template, "parameters")) ? (getCI(template, "parameters") as Obj) : {};
    this.variables = isObj(getCI(template, "variables")) ? (getCI(template, "variables") as Obj) : {};
  }

  private declaration(name: string): [string, Obj] | undefined {
    const k = Object.keys(this.declared).find((x) => x.toLowerCase() === name.toLowerCase());
    return k === undefined ? undefined : [k, (this.declared[k] ?? {}) as Obj];
  }

  isSecure(name: string): boolean {
    const d = this.declaration(name);
    return !!d && /^secure(string|object)$/i.test(String(getCI(d[1], "type") ?? ""));
  }

  parameter(name: string): unknown {
    const key = name.toLowerCase();
    if (this.paramCache.has(key)) return this.paramCache.get(key);
    const d = this.declaration(name);
    if (!d) throw new ExpressionError(`the template uses parameters('${name}') but does not declare it`);
    const [declaredName, decl] = d;
    if (this.evaluating.has(`p:${key}`)) throw new ExpressionError(`parameter '${declaredName}' refers to itself`);
    this.evaluating.add(`p:${key}`);
    try {
      const secure = this.isSecure(declaredName);
      const type = String(getCI(decl, "type") ?? "").toLowerCase();
      const supplied = this.supplied.get(key);
      let value: unknown;
      if (supplied) {
        const s = supplied();
        value = coerce(s.value, type, declaredName, secure || s.secret);
        // Secret: a SecureString/secureObject parameter, a value supplied as secret, or a value
        // that looks like a key or connection string whatever its declared type.
        const looksSecret = typeof value === "string" && containsSecret(value);
        if (secure || s.secret || looksSecret) value = value instanceof SecretValue ? value : new SecretValue(value, declaredName);
      } else if ("defaultValue" in decl) {
        const scope: Scope = { ...this.asScope(), evaluatingParameter: declaredName };
        value = evalDeep(decl.defaultValue, scope, join(join(join(this.path, "parameters"), declaredName), "defaultValue"), this.origin, "definition");
        if (secure && !isMarker(value)) value = new SecretValue(value, declaredName);
      } else if (getCI(decl, "nullable") === true) {
        value = null;
      } else if (secure) {
        value = new MissingSecretValue(declaredName);
      } else {
        throw new MissingParameterError(declaredName);
      }
      this.paramCache.set(key, value);
      return value;
    } finally {
      this.evaluating.delete(`p:${key}`);
    }
  }

  variable(name: string): unknown {
    const key = name.toLowerCase();
    if (this.varCache.has(key)) return this.varCache.get(key);
    if (this.evaluating.has(`v:${key}`)) throw new ExpressionError(`variable '${name}' refers to itself`);
    this.evaluating.add(`v:${key}`);
    try {
      let value: unknown;
      const copies = getCI(this.variables, "copy");
      const loop = Array.isArray(copies) ? (copies as Obj[]).find((c) => String(getCI(c, "name")).toLowerCase() === key) : undefined;
      if (loop) {
        value = expandCopy(loop, this.asScope(), join(join(this.path, "variables"), "copy"), this.origin);
      } else {
        const k = Object.keys(this.variables).find((x) => x.toLowerCase() === key && x.toLowerCase() !== "copy");
        if (k === undefined) throw new ExpressionError(`the template uses variables('${name}') but does not declare it`);
        value = evalDeep(this.variables[k], this.asScope(), join(join(this.path, "variables"), k), this.origin, "definition");
      }
      this.varCache.set(key, value);
      return value;
    } finally {
      this.evaluating.delete(`v:${key}`);
    }
  }

  /** languageVersion 2.0 resources are keyed by symbolic name, which `listKeys('name', …)` may use. */
  symbolicResourceId(name: string): string | undefined {
    const resources = getCI(this.template, "resources");
    if (!isObj(resources)) return undefined;
    const key = Object.keys(resources).find((k) => k.toLowerCase() === name.toLowerCase());
    if (key === undefined || !isObj(resources[key])) return undefined;
    const r = resources[key] as Obj;
    const scope = this.asScope();
    const type = evalDeep(getCI(r, "type"), scope, join(join(this.path, "resources"), key), this.origin, "definition");
    const resourceName = evalDeep(getCI(r, "name"), scope, join(join(join(this.path, "resources"), key), "name"), this.origin, "definition");
    return evaluateString(`[resourceId('${String(type).replace(/'/g, "''")}', '${String(resourceName).replace(/'/g, "''")}')]`, scope) as string;
  }

  asScope(extra?: Partial<Scope>): Scope {
    return {
      parameter: (n) => this.parameter(n),
      variable: (n) => this.variable(n),
      context: this.context,
      symbolicResourceId: (n) => this.symbolicResourceId(n),
      ...extra,
    };
  }
}

/**
 * A supplied value (a `--param` string, a parameters-file value) in the declared type, as
 * Resource Manager does it: `az deployment --parameters n=8` passes "8" for an int parameter and
 * ARM deploys 8; a value that is not of the declared type is refused at validation ("The provided
 * value for the template parameter 'n' is not valid"), so it is refused here, naming the parameter.
 */
function coerce(value: unknown, type: string, name = "", secret = false): unknown {
  if (value instanceof SecretValue) return new SecretValue(coerce(value.value, type, name, true), value.parameter);
  if (type === "int" && typeof value === "string" && /^-?\d+$/.test(value.trim())) return Number(value);
  if (type === "int" && (typeof value === "string" || (typeof value === "number" && !Number.isInteger(value)))) {
    throw new ExpressionError(`parameter '${name}' is declared int but was given ${secret ? "a value" : `'${String(value)}'`} that is not a whole number`, `supply a whole number, e.g. --param ${name}=4`);
  }
  if (type === "bool" && typeof value === "string" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
  if (type === "bool" && typeof value === "string") {
    throw new ExpressionError(`parameter '${name}' is declared bool but was given ${secret ? "a value" : `'${value}'`}`, `supply true or false: --param ${name}=true`);
  }
  if ((type === "object" || type === "array" || type === "secureobject") && typeof value === "string") {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

/** `copy: [{name, count, input}]` (variables and properties) → array of evaluated inputs. */
function expandCopy(loop: Obj, scope: Scope, path: string, origin: string, mode: ErrorMode = "definition"): unknown[] {
  const name = String(getCI(loop, "name") ?? "").toLowerCase();
  const count = unwrapSecrets(evalDeep(getCI(loop, "count"), scope, join(path, "count"), origin, mode));
  if (typeof count !== "number" || count < 0 || count > 800)
    throw new UserError(`copy count must be a number from 0 to 800, ARM's limit (in ${origin})`, join(path, "count"));
  const out: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const indexes = new Map(scope.copyIndexes ?? []);
    indexes.set(name, i);
    if (!indexes.has("")) indexes.set("", i);
    out.push(evalDeep(getCI(loop, "input"), { ...scope, copyIndexes: indexes }, join(path, "input"), origin, mode));
  }
  return out;
}

/**
 * How evalDeep reports an evaluator failure:
 * - "user": as a UserError naming this path;
 * - "field": as the ExpressionError, tagged with the innermost resource-field path (the caller converts);
 * - "definition": as the ExpressionError untouched (a parameter default or variable: the resource
 *   field that used it is the path the user needs).
 */
type ErrorMode = "user" | "field" | "definition";

/** Evaluates every expression in a JSON value. */
export function evalDeep(v: unknown, scope: Scope, path: string, origin: string, m: ErrorMode = "user"): unknown {
  const rethrowRaw = m !== "user";
  try {
    if (typeof v === "string") return evaluateString(v, scope);
  } catch (e) {
    if (rethrowRaw && e instanceof ExpressionError) {
      if (m === "field") e.path ??= path;
      throw e;
    }
    throw toUserError(e, path, origin);
  }
  if (Array.isArray(v)) return v.map((x, i) => evalDeep(x, scope, join(path, i), origin, m));
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      if (k.toLowerCase() === "copy" && Array.isArray(x) && x.every((c) => isObj(c) && "input" in c)) {
        for (const loop of x as Obj[]) out[String(getCI(loop, "name"))] = expandCopy(loop, scope, join(path, "copy"), origin, m);
        continue;
      }
      let key = k;
      try {
        const ek = unwrapSecrets(evaluateString(k, scope));
        key = typeof ek === "string" ? ek : String(ek);
      } catch (e) {
        if (rethrowRaw && e instanceof ExpressionError) {
          if (m === "field") e.path ??= join(path, k);
          throw e;
        }
        throw toUserError(e, join(path, k), origin);
      }
      out[key] = evalDeep(x, scope, join(path, k), origin, m);
    }
    return out;
  }
  return v;
}

/**
 * A field that shapes the walk (type, name, condition, copy count, target resource group): a
 * secret parameter's value is used as is (`--param` values are all secret).
 */
function structural(v: unknown, scope: Scope, path: string, origin: string): unknown {
  return unwrapSecrets(field(v, scope, path, origin));
}

/** Evaluates one field for the user: errors name this field's path. */
function field(v: unknown, scope: Scope, path: string, origin: string): unknown {
  try {
    return evalDeep(v, scope, path, origin, "field");
  } catch (e) {
    throw toUserError(e, e instanceof ExpressionError && e.path ? e.path : path, origin);
  }
}

// ---------------------------------------------------------------------------------------------

interface Found {
  kind: "hub" | "consumerGroup" | "certificate" | "attachment";
  resource: Obj;
  path: string;
  scope: Scope;
  /** Resource type, lower case, parent type prefixed for nested children. */
  type?: string;
  /** For children declared inside the hub's `resources`: the hub's name (lazily). */
  parentName?: () => string;
}

function resourceEntries(resources: unknown, path: string): Array<[Obj, string]> {
  if (Array.isArray(resources)) return resources.filter(isObj).map((r, i) => [r as Obj, join(path, i)]);
  if (isObj(resources)) return Object.entries(resources).filter(([, r]) => isObj(r)).map(([k, r]) => [r as Obj, join(path, k)]);
  return [];
}

/** Static check (no evaluation): does this template (or a nested one) declare hub resources? */
function mentionsHub(template: unknown, depth = 0): boolean {
  if (!isObj(template) || depth > 20) return false;
  return resourceEntries(getCI(template, "resources"), "").some(([r]) => {
    const type = String(getCI(r, "type") ?? "").toLowerCase();
    if (type.startsWith(HUB)) return true;
    if (type === DEPLOYMENT) return mentionsHub(getCI((getCI(r, "properties") ?? {}) as Obj, "template"), depth + 1);
    return false;
  });
}

interface Walk {
  found: Found[];
  notes: string[];
  linked: string[];
  /** Resources of the template the clone does not carry over (named in a warning each). */
  skipped: string[];
  /** Resources that are neither the hub, its children, nor attached to it (a resource-group export has some). */
  others: number;
}

/** `Microsoft.Storage/storageAccounts 'acct' (resources[1])`; the raw name when it cannot be evaluated. */
function describeResource(r: Obj, type: string, scope: Scope, path: string, origin: string): string {
  const raw = getCI(r, "name");
  let name: string;
  try {
    const v = unwrapSecrets(evalDeep(raw, scope, join(path, "name"), origin, "definition"));
    name = typeof v === "string" ? v : JSON.stringify(v);
  } catch {
    name = typeof raw === "string" ? raw : "?";
  }
  const declared = String(getCI(r, "type") ?? type);
  return `${declared.startsWith("[") ? type : declared} '${name}' (${path})`;
}

function walk(resources: unknown, scope: Scope, tscope: TemplateScope, path: string, origin: string, w: Walk, parent?: { type: string; name: () => string }): void {
  for (const [r, rpath] of resourceEntries(resources, path)) {
    if (getCI(r, "existing") === true) continue;
    const rawType = structural(getCI(r, "type") ?? "", scope, join(rpath, "type"), origin);
    if (typeof rawType !== "string") continue;
    let type = rawType.toLowerCase();
    // Children nested in the hub's `resources` may use the short type (`eventHubEndpoints/ConsumerGroups`).
    if (parent && !type.startsWith("microsoft.")) type = `${parent.type}/${type}`;
    let kind: Found["kind"] | "deployment" | undefined =
      type === HUB ? "hub" : type === CONSUMER_GROUP ? "consumerGroup" : type === CERTIFICATE ? "certificate" : type === DEPLOYMENT ? "deployment" : undefined;
    if (!kind && isAttachmentCandidate(type, getCI(r, "scope") !== undefined)) kind = "attachment";
    if (!kind) {
      w.skipped.push(describeResource(r, type, scope, rpath, origin));
      w.others++;
      continue;
    }
    if (kind === "deployment" && !mentionsHub(getCI((getCI(r, "properties") ?? {}) as Obj, "template"))) {
      const link = getCI((getCI(r, "properties") ?? {}) as Obj, "templateLink");
      if (link) w.linked.push(rpath);
      w.skipped.push(describeResource(r, type, scope, rpath, origin));
      continue;
    }

    for (const iterScope of copies(r, scope, rpath, origin)) {
      const cond = getCI(r, "condition");
      if (cond !== undefined && !structural(cond, iterScope, join(rpath, "condition"), origin)) continue;
      if (kind === "deployment") {
        walkDeployment(r, iterScope, tscope, rpath, origin, w);
        continue;
      }
      const found: Found = { kind, type, resource: r, path: rpath, scope: iterScope, ...(parent ? { parentName: parent.name } : {}) };
      w.found.push(found);
      if (kind === "attachment" && getCI(r, "resources") !== undefined) {
        // Nested children (a system topic's subscriptions, a private endpoint's DNS zone groups).
        let cached: string | undefined;
        const ownName = () => (cached ??= String(structural(getCI(r, "name"), iterScope, join(rpath, "name"), origin)));
        walk(getCI(r, "resources"), iterScope, tscope, join(rpath, "resources"), origin, w, { type, name: ownName });
      }
      if (kind === "hub" && getCI(r, "resources") !== undefined) {
        let cached: string | undefined;
        const hubName = () => (cached ??= String(structural(getCI(r, "name"), iterScope, join(rpath, "name"), origin)));
        walk(getCI(r, "resources"), iterScope, tscope, join(rpath, "resources"), origin, w, { type: HUB, name: hubName });
      }
    }
  }
}

function copies(r: Obj, scope: Scope, path: string, origin: string): Scope[] {
  const copy = getCI(r, "copy");
  if (!isObj(copy)) return [scope];
  const count = structural(getCI(copy, "count"), scope, join(join(path, "copy"), "count"), origin);
  if (typeof count !== "number" || count < 0 || count > 800)
    throw new UserError(`copy count must be a number from 0 to 800, ARM's limit (in ${origin})`, join(join(path, "copy"), "count"));
  const name = String(getCI(copy, "name") ?? "").toLowerCase();
  return Array.from({ length: count }, (_, i) => {
    const indexes = new Map(scope.copyIndexes ?? []);
    indexes.set("", i);
    if (name) indexes.set(name, i);
    return { ...scope, copyIndexes: indexes };
  });
}

function walkDeployment(r: Obj, scope: Scope, tscope: TemplateScope, path: string, origin: string, w: Walk): void {
  const props = (getCI(r, "properties") ?? {}) as Obj;
  const template = getCI(props, "template") as Obj;
  const tpath = join(join(path, "properties"), "template");
  const evalOptions = getCI(props, "expressionEvaluationOptions");
  const inner = isObj(evalOptions) && String(getCI(evalOptions, "scope") ?? "").toLowerCase() === "inner";
  let context = scope.context;
  const rg = getCI(r, "resourceGroup");
  const sub = getCI(r, "subscriptionId");
  if (rg !== undefined || sub !== undefined) {
    const rgName = rg === undefined ? context?.resourceGroup : String(structural(rg, scope, join(path, "resourceGroup"), origin));
    const subId = sub === undefined ? context?.subscriptionId : String(structural(sub, scope, join(path, "subscriptionId"), origin));
    context = rgName ? { ...(context ?? {}), resourceGroup: rgName, subscriptionId: subId, location: rg === undefined ? context?.location : undefined } : undefined;
  }
  if (!inner) {
    // Outer scope (the default): the nested template's expressions see the parent's parameters and variables.
    walk(getCI(template, "resources"), { ...scope, context }, tscope, join(tpath, "resources"), origin, w);
    return;
  }
  const supplied: Supplied = new Map();
  const params = getCI(props, "parameters");
  if (isObj(params)) {
    for (const [name, spec] of Object.entries(params)) {
      const ppath = join(join(join(path, "properties"), "parameters"), name);
      supplied.set(name.toLowerCase(), () => {
        if (isObj(spec) && "reference" in spec)
          throw new ExpressionError(
            `nested deployment parameter '${name}' is a Key Vault reference`,
            `pass the value with --param ${name}=VALUE`,
          );
        const value = field(isObj(spec) ? getCI(spec, "value") : spec, scope, join(ppath, "value"), origin);
        return { value, secret: value instanceof SecretValue };
      });
    }
  }
  const innerScope = new TemplateScope(template, supplied, context, origin, tpath);
  walk(getCI(template, "resources"), innerScope.asScope(), innerScope, join(tpath, "resources"), origin, w);
}

function resourceName(f: Found, origin: string): string {
  const path = join(f.path, "name");
  const name = structural(getCI(f.resource, "name"), f.scope, path, origin);
  if (typeof name !== "string" || name === "") throw new UserError(`is required but missing (in ${origin})`, path);
  return name;
}

/** True when the template looks like a portal export (`IotHubs_<name>_name` parameter). */
export function isPortalExport(template: Obj): boolean {
  const params = getCI(template, "parameters");
  return isObj(params) && Object.keys(params).some((k) => /^iothubs_.+_name$/i.test(k));
}

export function readTemplateHub(template: Obj, options: TemplateReadOptions): TemplateHub {
  const origin = options.origin;
  const base = options.basePath ?? "";
  const supplied: Supplied = new Map();
  const values = options.parameters?.values ?? {};
  for (const [name, value] of Object.entries(values)) {
    const secret = options.parameters?.secret.has(name) ?? false;
    supplied.set(name.toLowerCase(), () => ({ value, secret }));
  }
  const scope = new TemplateScope(template, supplied, options.context, origin, base);
  const notes: string[] = [];
  for (const name of Object.keys(values))
    if (!Object.keys(scope.declared).some((d) => d.toLowerCase() === name.toLowerCase()))
      notes.push(`parameter '${name}' was supplied but the template does not declare it; ignored`);

  const w: Walk = { found: [], notes, linked: [], skipped: [], others: 0 };
  walk(getCI(template, "resources"), scope.asScope(), scope, join(base, "resources"), origin, w);

  const hubs = w.found.filter((f) => f.kind === "hub");
  if (hubs.length === 0) {
    const linked = w.linked.length ? `; the hub may be in the linked template of ${w.linked.join(", ")}: read that file instead` : "";
    throw new UserError(`no Microsoft.Devices/IotHubs resource found in ${origin}${linked}`, join(base, "resources"));
  }
  const named = hubs.map((h) => ({ hub: h, name: resourceName(h, origin) }));
  let chosen = named[0];
  if (options.hubName) {
    const match = named.find((n) => n.name.toLowerCase() === options.hubName!.toLowerCase());
    if (!match)
      throw new UserError(
        `no IoT hub named '${options.hubName}' in ${origin}; it declares: ${named.map((n) => n.name).join(", ")}`,
        "hubName",
      );
    chosen = match;
  } else if (named.length > 1) {
    throw new UserError(
      `${origin} declares ${named.length} IoT hubs (${named.map((n) => n.name).join(", ")}): choose one with source.name in stack config (--source-name for the plan)`,
      join(base, "resources"),
    );
  }

  const hub = chosen.hub;
  const body: Obj = { name: chosen.name };
  for (const key of ["location", "sku", "tags", "identity", "properties"]) {
    const k = Object.keys(hub.resource).find((x) => x.toLowerCase() === key);
    if (k === undefined) continue;
    body[key] = field(hub.resource[k], hub.scope, join(hub.path, k), origin);
  }

  const consumerGroups: ConsumerGroup[] = [];
  const certificates: HubCertificate[] = [];
  const attachmentResources: TemplateResource[] = [];
  const attachmentNotes: string[] = [];
  const unrelated: TemplateResource[] = [];
  for (const f of w.found) {
    if (f.kind === "hub") continue;
    if (f.kind === "attachment") {
      const r = readAttachmentResource(f, origin, chosen.name);
      if (typeof r === "string") attachmentNotes.push(r);
      else if (r.unrelated) unrelated.push(r);
      else attachmentResources.push(r);
      continue;
    }
    const name = resourceName(f, origin);
    let segments = name.split("/");
    const expected = f.kind === "consumerGroup" ? 3 : 2;
    if (f.parentName && segments.length === expected - 1) segments = [f.parentName(), ...segments];
    if (segments.length !== expected) {
      notes.push(`${join(f.path, "name")}: '${name}' is not a ${f.kind === "consumerGroup" ? "<hub>/<endpoint>/<group>" : "<hub>/<certificate>"} name; ignored`);
      continue;
    }
    if (segments[0].toLowerCase() !== chosen.name.toLowerCase()) {
      notes.push(`template resource ${f.kind === "consumerGroup" ? "consumer group" : "certificate"} '${name}' (${f.path}) belongs to another hub and is not carried over`);
      continue;
    }
    if (f.kind === "consumerGroup") {
      const [, endpoint, group] = segments;
      if (!consumerGroups.some((c) => c.eventHubEndpoint === endpoint && c.name.toLowerCase() === group.toLowerCase()))
        consumerGroups.push({ eventHubEndpoint: endpoint, name: group, origin: "template" });
    } else {
      const props = getCI(f.resource, "properties");
      const ev = isObj(props) ? (field(props, f.scope, join(f.path, "properties"), origin) as Obj) : {};
      const cert = getCI(ev, "certificate");
      const verified = unwrapSecrets(getCI(ev, "isVerified"));
      const plainCert = cert instanceof SecretValue ? cert.value : cert;
      if (cert instanceof MissingSecretValue) notes.push(`${join(f.path, "properties.certificate")}: parameter '${cert.parameter}' not supplied; the certificate body must be supplied before deploying`);
      certificates.push({
        name: segments[1],
        ...(typeof plainCert === "string" && plainCert ? { certificate: plainCert } : {}),
        ...(typeof verified === "boolean" ? { isVerified: verified } : {}),
      });
    }
  }

  const parameterAt: Record<string, string> = {};
  for (const key of ["sku", "properties"]) {
    const k = Object.keys(hub.resource).find((x) => x.toLowerCase() === key);
    if (k !== undefined) parameterPaths(hub.resource[k], join(hub.path, k), parameterAt);
  }
  // Attachment candidates that belong to something else than this hub are not carried over either.
  const attachments = attachmentsFromTemplate(attachmentResources, chosen.name, w.others, attachmentNotes, unrelated);
  for (const r of unrelated) w.skipped.push(`${r.type} '${r.name}' (${r.path})`);
  for (const other of named.filter((n) => n !== chosen)) w.skipped.push(`Microsoft.Devices/IotHubs '${other.name}' (${other.hub.path}, another hub)`);
  for (const s of w.skipped) notes.push(`template resource ${s} is not carried over by the clone: create it for the clone separately if the clone needs it`);
  return { body, path: hub.path, consumerGroups, certificates, notes, attachments, portalExport: isPortalExport(template), parameterAt };
}

/**
 * Evaluates one attachment resource. A resource the reader cannot evaluate (a `reference()` to
 * something outside the file, a parameter nobody supplied) must not stop the hub's read: it comes
 * back as a line saying it was left out and why.
 */
function readAttachmentResource(f: Found, origin: string, hubName: string): (TemplateResource & { unrelated?: boolean }) | string {
  let scope: unknown;
  let name = "";
  let fullType = f.type ?? "";
  try {
    fullType = f.type ?? String(structural(getCI(f.resource, "type"), f.scope, join(f.path, "type"), origin));
    name = resourceName(f, origin);
    // A child nested in its parent's `resources` may leave the parent's name out of its own.
    const expected = fullType.split("/").length - 1;
    if (f.parentName && name.split("/").length === expected - 1) name = `${f.parentName()}/${name}`;
    const opt = (key: string) => {
      const v = getCI(f.resource, key);
      return v === undefined ? undefined : unwrapSecrets(field(v, f.scope, join(f.path, key), origin));
    };
    scope = opt("scope");
    // An extension resource scoped to something else (a role on a storage account) is not the
    // hub's: not evaluated further (its properties may use reference(), which cannot be read offline).
    if (typeof scope === "string" && !targetsHub(scope, hubName)) return { type: fullType, name, path: f.path, scope, properties: {}, unrelated: true };
    const location = opt("location");
    const tags = opt("tags");
    const identity = opt("identity");
    // Properties keep SecretValue markers unwrapped to plain values: attachments hold no keys the
    // reader masks (a webhook URL with a key is made secret by the clone's plan).
    const properties = opt("properties");
    return {
      type: fullType,
      name,
      path: f.path,
      ...(typeof scope === "string" ? { scope } : {}),
      ...(typeof location === "string" ? { location } : {}),
      ...(isObj(tags) ? { tags: tags as Record<string, string> } : {}),
      ...(isObj(identity) ? { identity } : {}),
      properties: isObj(properties) ? properties : {},
    };
  } catch (e) {
    // Does it concern the hub at all? Only then is the failure the clone's business.
    const mentionsHub = targetsHub(scope, hubName) || JSON.stringify(f.resource).toLowerCase().includes("microsoft.devices/iothubs") || name.split("/")[0].toLowerCase() === hubName.toLowerCase();
    if (!mentionsHub) return { type: fullType || "(type unknown)", name: name || "?", path: f.path, properties: {}, unrelated: true };
    const msg = e instanceof Error ? e.message : String(e);
    return `${f.path}: could not be read (${redact(msg)}); left out of the clone`;
  }
}

/**
 * Names of the SecureString/secureObject parameters a template file declares (also inside an
 * `az iot hub state` file's `arm`), so a plan masks only their values; undefined when the file
 * cannot be read as a template (the caller then treats every supplied value as secret).
 */
export function declaredSecureParameters(file: string): string[] | undefined {
  try {
    const doc = JSON.parse(fs.readFileSync(file, "utf8").replace(/^\uFEFF/, "")) as Obj;
    const template = isObj(getCI(doc, "arm")) && getCI(doc, "resources") === undefined ? (getCI(doc, "arm") as Obj) : doc;
    const params = getCI(template, "parameters");
    if (!isObj(params)) return [];
    return Object.entries(params)
      .filter(([, d]) => isObj(d) && /^secure(string|object)$/i.test(String(getCI(d, "type") ?? "")))
      .map(([k]) => k);
  } catch {
    return undefined;
  }
}
