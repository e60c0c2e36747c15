/**
 * Reading the original hub's settings: any accepted input format → one `HubModel`.
 *
 * Formats (detected automatically): portal export, ARM `GET` body, `az iot hub state export`
 * file, authored/Bicep-compiled template, our snapshot; plus the live hub (same shape as a GET
 * body, through `fromArmResource`). See docs/sources.md.
 */
import * as fs from "fs";
import { UserError } from "../errors";
import { normaliseHubBody } from "./hub-body";
import type { DeploymentContext, HubModel, ParameterValues, SourceFormat } from "./model";
import { looksLikeSnapshot, snapshotSchema } from "./snapshot";
import { isPortalExport, readTemplateHub } from "./template";
import { attachmentsFromArm, type ArmAttachments } from "./attachments";

export type { HubModel, ParameterValues, DeploymentContext, SourceFormat, KeyRef } from "./model";
export type { HubSnapshot } from "./snapshot";
export { snapshotSchema } from "./snapshot";

export interface ReadOptions {
  parameters?: ParameterValues;
  context?: DeploymentContext;
  /** Pick a hub when a template (or a hub list) declares several. */
  hubName?: string;
}

type Obj = Record<string, unknown>;

const ACCEPTED =
  "accepted: a portal export or authored ARM/Bicep-compiled template (JSON with resources), an ARM GET body of a Microsoft.Devices/IotHubs resource (az iot hub show, az resource show), an `az iot hub state export` file, or a hubclone snapshot";

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v);
}
function getCI(o: Obj, name: string): unknown {
  if (!o || typeof o !== "object" || Array.isArray(o)) return undefined;
  if (name in o) return o[name];
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : o[k];
}
function isTemplate(v: unknown): v is Obj {
  if (!isObj(v)) return false;
  const resources = getCI(v, "resources");
  const schema = String(getCI(v, "$schema") ?? "");
  return (Array.isArray(resources) || isObj(resources)) && (/deploymentTemplate/i.test(schema) || "contentVersion" in v || Array.isArray(resources));
}
function isHubType(v: unknown): boolean {
  return typeof v === "string" && v.toLowerCase() === "microsoft.devices/iothubs";
}
function isHubBody(v: unknown): v is Obj {
  return isObj(v) && isHubType(getCI(v, "type")) && ("properties" in v || "sku" in v);
}
/** An Azure REST API example file (`{parameters, responses: {200: {body}}}`): its response body. */
function restExampleBody(v: Obj): Obj | undefined {
  const responses = getCI(v, "responses");
  if (!isObj(responses)) return undefined;
  const ok = (responses["200"] ?? responses["201"]) as Obj | undefined;
  const body = ok && isObj(ok) ? getCI(ok, "body") : undefined;
  return isHubBody(body) ? body : undefined;
}

/** Which input format the document is; UserError listing the accepted ones when none fits. */
export function detectFormat(document: unknown): SourceFormat {
  if (looksLikeSnapshot(document)) return "snapshot";
  if (isObj(document)) {
    const arm = getCI(document, "arm");
    if (isTemplate(arm) && !("resources" in document)) return "hub-state";
    if (isTemplate(document)) return isPortalExport(document) ? "portal-export" : "template";
    if (isHubBody(document) || restExampleBody(document)) return "arm-resource";
  }
  if (Array.isArray(document) && document.length > 0 && document.every(isHubBody)) return "arm-resource";
  throw new UserError(`the file is not a recognisable IoT hub source; ${ACCEPTED}`);
}

/** ARM `GET` body (also the live hub: azure-native getIotHubResource result) → HubModel. */
export function fromArmResource(body: unknown, origin: string): HubModel {
  if (!isObj(body)) throw new UserError(`expected the hub as a JSON object (ARM GET body) in ${origin}`);
  const format: SourceFormat = origin.startsWith("live:") ? "live" : "arm-resource";
  const notes: string[] = [];
  if (getCI(body, "type") !== undefined && !isHubType(getCI(body, "type")))
    throw new UserError(`resource type is '${String(getCI(body, "type"))}', expected Microsoft.Devices/IotHubs (in ${origin})`, "type");
  return normaliseHubBody(body, { format, origin, path: "", notes });
}

/** Reads a parsed document of any accepted format. `origin` names it in messages (usually the file). */
export function readHub(document: unknown, origin: string, options: ReadOptions = {}): HubModel {
  const format = detectFormat(document);
  switch (format) {
    case "snapshot":
      return fromSnapshot(document, origin);
    case "hub-state": {
      const doc = document as Obj;
      const model = fromTemplate(getCI(doc, "arm") as Obj, origin, options, "hub-state", "arm");
      const skipped = Object.keys(doc).filter((k) => k.toLowerCase() !== "arm");
      if (skipped.length) model.notes.push(`hub-state file: ${skipped.join(", ")} not read here (devices move through the device migration)`);
      return model;
    }
    case "portal-export":
    case "template":
      return fromTemplate(document as Obj, origin, options, format, "");
    case "arm-resource":
    case "live":
      return fromArmDocument(document, origin, options);
  }
}

function fromArmDocument(document: unknown, origin: string, options: ReadOptions): HubModel {
  if (Array.isArray(document)) {
    const hubs = document as Obj[];
    const names = hubs.map((h) => String(getCI(h, "name")));
    const pick = options.hubName
      ? hubs.find((h) => String(getCI(h, "name")).toLowerCase() === options.hubName!.toLowerCase())
      : hubs.length === 1
        ? hubs[0]
        : undefined;
    if (!pick)
      throw new UserError(
        options.hubName
          ? `no IoT hub named '${options.hubName}' in ${origin}; it lists: ${names.join(", ")}`
          : `${origin} lists ${hubs.length} IoT hubs (${names.join(", ")}): choose one with source.name in stack config (--source-name for the plan)`,
        "hubName",
      );
    return fromArmResource(pick, origin);
  }
  const doc = document as Obj;
  const example = restExampleBody(doc);
  if (example) {
    const model = normaliseHubBody(example, { format: "arm-resource", origin, path: "responses.200.body" });
    model.notes.push("read the response body of an Azure REST API example file");
    return model;
  }
  return fromArmResource(doc, origin);
}

function fromTemplate(template: Obj, origin: string, options: ReadOptions, format: SourceFormat, basePath: string): HubModel {
  const t = readTemplateHub(template, { ...options, origin, basePath });
  try {
    const model = normaliseHubBody(t.body, {
      format,
      origin,
      path: t.path,
      consumerGroups: t.consumerGroups,
      certificates: t.certificates,
      notes: t.notes,
    });
    return { ...model, attachments: t.attachments };
  } catch (e) {
    // A value of the wrong type that is a parameter's whole value: name the parameter, which is
    // what the user supplies (ARM passes a string parameter to the API as it is).
    const param = e instanceof UserError && e.field ? t.parameterAt[e.field] : undefined;
    if (param && e instanceof UserError) {
      throw new UserError(`${e.message.slice(e.field!.length + 2)}; it is template parameter '${param}': supply a value of that type with --param ${param}=VALUE`, e.field);
    }
    throw e;
  }
}

function fromSnapshot(document: unknown, origin: string): HubModel {
  const parsed = snapshotSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "");
    throw new UserError(`${issue.message} (snapshot ${origin}; take a new one with \`hubclone snapshot\`)`, field || undefined);
  }
  const snap = parsed.data;
  const model = normaliseHubBody(snap.hub as Obj, { format: "snapshot", origin, path: "hub" });
  for (const [endpoint, groups] of Object.entries(snap.consumerGroups))
    for (const name of groups)
      if (!model.consumerGroups.some((c) => c.eventHubEndpoint === endpoint && c.name === name))
        model.consumerGroups.push({ eventHubEndpoint: endpoint, name, origin: "snapshot" });
  model.certificates = snap.certificates.map((c) => ({ ...c }));
  if (snap.attachments) model.attachments = attachmentsFromArm(snap.attachments as ArmAttachments, model.name);
  model.notes.push(`snapshot captured ${snap.capturedAt}`, ...snap.missedByExport.map((m) => `captured beyond an ARM export: ${m}`));
  return model;
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read ${what} ${file} (${code ?? "error"}): check the path`);
  }
  const clean = text.replace(/^\uFEFF/, "");
  try {
    return JSON.parse(clean);
  } catch {
    // ARM accepts comments and trailing commas in templates; retry without them.
  }
  try {
    return JSON.parse(stripJsonComments(clean));
  } catch (e) {
    // JSON.parse messages quote the offending text, which could be a key: keep only the position.
    const pos = /position (\d+)/.exec(String((e as Error).message));
    const where = pos ? ` at line ${lineOf(text, Number(pos[1]))}` : "";
    throw new UserError(`${what} ${file} is not valid JSON${where}: fix the file or export it again`);
  }
}

/**
 * Removes `//` and `/* *\/` comments and trailing commas outside strings. Hand-written: no runtime
 * dependency parses JSON-with-comments, and ARM templates may contain both.
 */
export function stripJsonComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      // Keep line breaks so error line numbers still match the file.
      const comment = text.slice(i, end < 0 ? text.length : end + 2);
      out += comment.replace(/[^\n]/g, "");
      i = end < 0 ? text.length : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return dropTrailingCommas(out);
}

function dropTrailingCommas(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === "," && /^\s*[}\]]/.test(text.slice(i + 1, i + 200))) {
      continue;
    } else out += c;
  }
  return out;
}

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split("\n").length;
}

/** Reads a source file of any accepted format. */
export function readHubFile(file: string, options: ReadOptions = {}): HubModel {
  return readHub(readJsonFile(file, "source file"), file, options);
}

/** ARM parameters file (`{"parameters": {"x": {"value": …}}}`) → values. */
export function loadParametersFile(file: string): ParameterValues {
  const doc = readJsonFile(file, "parameters file");
  if (!isObj(doc)) throw new UserError(`parameters file ${file} must be a JSON object with "parameters"`);
  const params = isObj(getCI(doc, "parameters")) ? (getCI(doc, "parameters") as Obj) : doc;
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(params)) {
    if (name.startsWith("$") || name === "contentVersion") continue;
    if (isObj(spec) && "reference" in spec)
      throw new UserError(
        `parameter '${name}' in ${file} is a Key Vault reference, which the offline reader cannot resolve: pass its value with --param ${name}=VALUE (or as a secret source.param.${name} in stack config)`,
        `parameters.${name}`,
      );
    if (!isObj(spec) || !("value" in spec))
      throw new UserError(`parameter '${name}' in ${file} must be {"value": …}`, `parameters.${name}`);
    values[name] = spec.value;
  }
  return { values, secret: new Set() };
}

/** `["NAME=VALUE", …]` → values; VALUE is JSON when it parses (numbers, booleans, objects), else a string. */
export function parseParamArgs(args: string[]): ParameterValues {
  const values: Record<string, unknown> = {};
  args.forEach((arg, i) => {
    const eq = arg.indexOf("=");
    if (eq <= 0)
      // Never echo the argument: it may be a secret typed without its name.
      throw new UserError(`--param #${i + 1} must be NAME=VALUE`, "--param");
    const name = arg.slice(0, eq).trim();
    const raw = arg.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    values[name] = value;
  });
  return { values, secret: new Set() };
}

/** Later sets win; a name secret in any set stays secret. */
export function mergeParameters(...sets: ParameterValues[]): ParameterValues {
  const values: Record<string, unknown> = {};
  const secret = new Set<string>();
  for (const set of sets) {
    for (const [name, value] of Object.entries(set.values)) {
      const existing = Object.keys(values).find((k) => k.toLowerCase() === name.toLowerCase());
      if (existing !== undefined && existing !== name) delete values[existing];
      values[name] = value;
    }
    for (const name of set.secret) secret.add(name);
  }
  for (const name of [...secret]) {
    const actual = Object.keys(values).find((k) => k.toLowerCase() === name.toLowerCase());
    if (actual && actual !== name) secret.add(actual);
  }
  return { values, secret };
}
