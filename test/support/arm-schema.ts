/**
 * Microsoft's published IoT Hub resource-manager spec (2023-06-30, the version azure-native's
 * iothub module uses) as request-body validators, built with well-kept libraries instead of our
 * own reading of the spec:
 * - @apidevtools/json-schema-ref-parser parses the OpenAPI file and bundles the definitions
 *   (it fails loudly on a $ref it cannot resolve);
 * - json-schema-traverse walks every schema and turns each `readOnly` property into the `false`
 *   schema, so SENDING a read-only field fails (ajv only annotates readOnly, it never rejects it);
 * - ajv validates types, required fields, enums (all closed: the harshest reading of
 *   `modelAsString`), patterns, minItems/maxItems; ajv-formats checks int32/int64/duration/uri.
 * OpenAPI 2.0 objects leave `additionalProperties` open, so unknown fields are not rejected here.
 */
import * as fs from "fs";
import * as path from "path";
import $RefParser from "@apidevtools/json-schema-ref-parser";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import traverse from "json-schema-traverse";

export const CORPUS = path.resolve(__dirname, "..", "..", "..", "shared", "corpus");
export const IOTHUB_SPEC = path.join(CORPUS, "specs", "specification", "iothub", "resource-manager", "Microsoft.Devices", "stable", "2023-06-30", "iothub.json");

export interface BodyValidators {
  hub: ValidateFunction;
  certificate: ValidateFunction;
  consumerGroup: ValidateFunction;
  /** The spec's rule for a hub's name (Resource.name pattern, a path parameter in requests). */
  hubName: ValidateFunction;
  /** The spec's `certificateName` path parameter. */
  certificateName: ValidateFunction;
}

type Schema = Record<string, unknown>;

/** Every property schema marked readOnly becomes `false`: present in a request body = invalid. */
export function forbidReadOnly(root: Schema): number {
  let count = 0;
  traverse(root, {
    allKeys: false,
    cb: (schema: Schema) => {
      const props = schema.properties as Record<string, Schema | boolean> | undefined;
      if (!props || typeof props !== "object") return;
      for (const [k, v] of Object.entries(props)) {
        if (v && typeof v === "object" && v.readOnly === true) {
          (props as Record<string, unknown>)[k] = false;
          count++;
        }
      }
    },
  });
  return count;
}

export async function loadValidators(specFile = IOTHUB_SPEC): Promise<BodyValidators> {
  const spec = (await $RefParser.parse(specFile)) as Schema;
  // Only the schemas requests use: `paths` holds x-ms-examples file links the bodies never need.
  const doc = (await $RefParser.bundle({ definitions: spec.definitions, parameters: spec.parameters } as never)) as unknown as Schema;
  const nameSchema = JSON.parse(JSON.stringify((spec.definitions as Record<string, Schema>).Resource.properties as Schema)).name as Schema;
  const certNameSchema = (spec.parameters as Record<string, Schema>).certificateName;
  const removed = forbidReadOnly(doc);
  if (removed < 10) throw new Error(`expected the spec to mark many properties readOnly, found ${removed}`);
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  addFormats(ajv);
  // Autorest-only format names: accepted as strings (ajv would otherwise only warn on them).
  for (const f of ["date-time-rfc1123", "arm-id", "unixtime"]) ajv.addFormat(f, true);
  ajv.addSchema(doc, "iothub.json");
  const get = (name: string) => {
    const v = ajv.getSchema(`iothub.json#/definitions/${name}`);
    if (!v) throw new Error(`no definition ${name} in ${specFile}`);
    return v;
  };
  const { readOnly: _r, ...hubName } = nameSchema;
  return {
    hub: get("IotHubDescription"),
    certificate: get("CertificateDescription"),
    consumerGroup: get("EventHubConsumerGroupBodyDescription"),
    hubName: ajv.compile({ type: hubName.type, pattern: hubName.pattern }),
    certificateName: ajv.compile({ type: certNameSchema.type, pattern: certNameSchema.pattern }),
  };
}

export function specPresent(): boolean {
  return fs.existsSync(IOTHUB_SPEC);
}

/** One line per error: `/properties/routing/routes/0/source must be equal to one of the allowed values`. */
export function errorLines(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""}${e.params && "allowedValues" in e.params ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")})` : ""}`);
}

type Inputs = Record<string, unknown>;

/**
 * azure-native IotHubResource inputs → the PUT body Resource Manager receives: the name and
 * resource group are URL parts, and `identity.userAssignedIdentities` is a list in azure-native
 * but a map `{id: {}}` in the API.
 */
export function hubBody(inputs: Inputs): Inputs {
  const { resourceName: _n, resourceGroupName: _g, identity, ...body } = inputs;
  if (identity && typeof identity === "object") {
    const id = { ...(identity as Inputs) };
    if (Array.isArray(id.userAssignedIdentities)) {
      id.userAssignedIdentities = Object.fromEntries((id.userAssignedIdentities as string[]).map((x) => [x, {}]));
    }
    body.identity = id;
  }
  return body;
}

/** azure-native Certificate / consumer group inputs → their PUT bodies (`{properties}`). */
export function childBody(inputs: Inputs): Inputs {
  return { properties: inputs.properties };
}

/** The value at an ajv instancePath (`/properties/routing/routes/0/name`). */
function at(body: unknown, pointer: string): unknown {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), body);
}

/**
 * Errors that matter: a format/pattern error on a plan placeholder ("[computed]": known only at
 * deploy time, "[secret]": masked by the plan) is not about the body's shape, and is left out.
 * Every other error stays, including a placeholder where an object or number belongs.
 */
export function realErrors(errors: ErrorObject[] | null | undefined, body: unknown): ErrorObject[] {
  return (errors ?? []).filter((e) => {
    if (e.keyword !== "format" && e.keyword !== "pattern") return true;
    const v = at(body, e.instancePath);
    return !(typeof v === "string" && /\[(computed|secret)\]/.test(v));
  });
}
