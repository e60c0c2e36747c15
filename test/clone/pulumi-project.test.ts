/**
 * Pulumi.yaml and every stack file against the rules the Pulumi CLI applies before it runs the
 * program, and the stack values against our own config schema.
 *
 * The CLI rules are ported from pulumi/pulumi (commit 1b59498, Aug 2026):
 * - sdk/go/common/workspace/project.json: `simpleConfigType` is string | integer | boolean | array |
 *   object (`object` added by #20129, CLI v3.186.0);
 * - sdk/go/common/workspace/project.go: `Project.Validate` (no `default` beside `value`, an array
 *   declares `items`, a default matches its type) and `ValidateConfigValue` (the type check; the
 *   `object` branch came with #20132, CLI v3.187.0);
 * - pkg/workspace/config.go: `validateStackConfigValue` (a stack value is checked against its
 *   project type when the key is typed: a YAML mapping/sequence is parsed as JSON, anything else,
 *   including a `secure:` value, is a string).
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, cloneConfigSchema, parseCloneConfig, PROJECT } from "../../components/config";

const root = path.join(__dirname, "..", "..");
const yaml = require("js-yaml") as { load(text: string): any };
const project = yaml.load(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));
const fixtureDir = path.join(root, "test", "fixtures", "clone");
const stackFiles = [
  ...fs.readdirSync(root).filter((f) => /^Pulumi\..+\.yaml$/.test(f)).map((f) => path.join(root, f)),
  ...fs.readdirSync(fixtureDir).filter((f) => /^Pulumi\..+\.yaml$/.test(f)).map((f) => path.join(fixtureDir, f)),
];

/** project.json `simpleConfigType`. */
const SIMPLE_TYPES = ["string", "integer", "boolean", "array", "object"];

interface ItemsType {
  type: string;
  items?: ItemsType;
}

/** Port of `ValidateConfigValue` (project.go). */
function cliAccepts(type: string, items: ItemsType | undefined, value: unknown): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "integer":
      // YAML numbers arrive as floats: whole ones pass; so does a string strconv.Atoi parses.
      if (typeof value === "number") return Number.isInteger(value);
      return typeof value === "string" && /^[+-]?\d+$/.test(value);
    case "boolean":
      return typeof value === "boolean" || value === "true" || value === "false";
    case "object":
      return !!value && typeof value === "object" && !Array.isArray(value);
    default:
      return Array.isArray(value) && !!items && value.every((v) => cliAccepts(items.type, items.items, v));
  }
}

/**
 * What `validateStackConfigValue` checks for a stack file's value: mappings and sequences are
 * object values (JSON), a `secure:` value decrypts to a string, a scalar is its string form.
 */
function stackContent(value: unknown): unknown {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "secure") return "decrypted secret text";
  }
  if (value && typeof value === "object") return value;
  return value === null || value === undefined ? "" : String(value);
}

/** Port of `Project.Validate` for keys namespaced by the project; returns the CLI's error lines. */
function projectErrors(config: Record<string, any>): string[] {
  const errors: string[] = [];
  for (const [key, decl] of Object.entries(config)) {
    if (decl === null || typeof decl !== "object") continue; // shorthand value, untyped
    if (decl.default !== undefined && decl.value !== undefined) errors.push(`project config '${key}' cannot have both a 'default' and 'value' attribute`);
    if (decl.type === undefined) continue;
    if (!SIMPLE_TYPES.includes(decl.type)) errors.push(`#/config/${key}/type: value must be one of ${SIMPLE_TYPES.join(", ")}`);
    if (decl.type === "array" && !decl.items) errors.push(`The configuration key '${key}' declares an array but does not specify the underlying type via the 'items' attribute`);
    if (decl.default !== undefined && !cliAccepts(decl.type, decl.items, decl.default)) {
      errors.push(`The default value specified for configuration key '${key}' is not of the expected type '${decl.type}'`);
    }
  }
  return errors;
}

/** Port of the stack-value check: one CLI error line per value of the wrong type. */
function stackErrors(stackName: string, stackConfig: Record<string, unknown>, config: Record<string, any>): string[] {
  const errors: string[] = [];
  for (const [key, decl] of Object.entries(config)) {
    const full = `${PROJECT}:${key}`;
    if (!(full in stackConfig)) continue;
    if (decl?.type !== undefined && !cliAccepts(decl.type, decl.items, stackContent(stackConfig[full]))) {
      errors.push(`Stack '${stackName}' with configuration key '${full}' must be of type '${decl.type}'`);
    }
  }
  return errors;
}

describe("Pulumi.yaml", () => {
  it("names the project and the nodejs runtime", () => {
    expect(project.name).toBe(PROJECT);
    expect(project.runtime.name).toBe("nodejs");
  });

  it("declares every key the program reads, each typed `object` with a description", () => {
    expect(Object.keys(project.config).sort()).toEqual([...CONFIG_KEYS].sort());
    for (const key of CONFIG_KEYS) {
      const decl = project.config[key];
      expect(typeof decl.description, key).toBe("string");
      // Each key is an object to zod as well (its fields are checked there).
      const schema = cloneConfigSchema.shape[key] as any;
      const inner = schema.def.type === "default" ? schema.def.innerType : schema;
      expect(["object", "record"], key).toContain(inner.def.type);
      expect(decl.type, key).toBe("object");
    }
  });

  it("passes the CLI's project checks (types it knows, defaults of the declared type)", () => {
    expect(projectErrors(project.config)).toEqual([]);
  });

  it("says in its comment that the CLI checks the types (no stale 'cannot be typed')", () => {
    const text = fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8");
    expect(text).not.toMatch(/has no `object` type/);
    expect(text).toMatch(/type: object/);
  });
});

describe("the CLI rules as ported can fail", () => {
  it("a project key of an unknown type, an untyped array and a default of the wrong type", () => {
    expect(projectErrors({ a: { type: "map" }, b: { type: "array" }, c: { type: "object", default: [] }, d: { type: "object", default: {}, value: {} } })).toEqual([
      "#/config/a/type: value must be one of string, integer, boolean, array, object",
      "The configuration key 'b' declares an array but does not specify the underlying type via the 'items' attribute",
      "The default value specified for configuration key 'c' is not of the expected type 'object'",
      "project config 'd' cannot have both a 'default' and 'value' attribute",
    ]);
  });

  it("a stack value that is a scalar, a list or a whole-key secret is not an object", () => {
    const stack = {
      [`${PROJECT}:clone`]: "eastus",
      [`${PROJECT}:endpoints`]: [{ relocate: true }],
      [`${PROJECT}:devices`]: { secure: "v1:abc" },
      [`${PROJECT}:source`]: { template: "x.json", param: { key: { secure: "v1:def" } } },
    };
    expect(stackErrors("bad", stack, project.config)).toEqual([
      `Stack 'bad' with configuration key '${PROJECT}:clone' must be of type 'object'`,
      `Stack 'bad' with configuration key '${PROJECT}:endpoints' must be of type 'object'`,
      `Stack 'bad' with configuration key '${PROJECT}:devices' must be of type 'object'`,
    ]);
  });

  it("integers and booleans as the CLI reads them from YAML", () => {
    expect(cliAccepts("integer", undefined, 4)).toBe(true);
    expect(cliAccepts("integer", undefined, "4")).toBe(true);
    expect(cliAccepts("integer", undefined, 4.5)).toBe(false);
    expect(cliAccepts("boolean", undefined, "true")).toBe(true);
    expect(cliAccepts("boolean", undefined, "yes")).toBe(false);
    expect(cliAccepts("array", { type: "string" }, ["a", 1])).toBe(false);
  });
});

describe.each(stackFiles.map((f) => [path.relative(root, f), f]))("%s", (_name, file) => {
  const stack = yaml.load(fs.readFileSync(file, "utf8"));
  const stackName = /^Pulumi\.(.+)\.yaml$/.exec(path.basename(file))![1];
  const config: Record<string, unknown> = stack.config ?? {};
  const own = Object.fromEntries(
    Object.entries(config)
      .filter(([k]) => k.startsWith(`${PROJECT}:`))
      .map(([k, v]) => [k.slice(PROJECT.length + 1), v]),
  );

  it("every value has the type Pulumi.yaml declares (the CLI's check before the program runs)", () => {
    expect(Object.keys(own).length).toBeGreaterThan(0);
    expect(stackErrors(stackName, config, project.config)).toEqual([]);
  });

  it("sets every project key that has no default (else: 'Stack is missing configuration value')", () => {
    for (const [key, decl] of Object.entries<any>(project.config)) {
      if (decl.default === undefined && decl.value === undefined) expect(own, key).toHaveProperty(key);
    }
  });

  it("uses only declared keys, and its values pass the config schema", () => {
    for (const key of Object.keys(own)) expect(CONFIG_KEYS as readonly string[]).toContain(key);
    expect(() => parseCloneConfig(own)).not.toThrow();
  });

  it("points at files that exist (relative to the project)", () => {
    for (const f of [(own.source as any)?.template, (own.source as any)?.parameters].filter(Boolean)) expect(fs.existsSync(path.join(root, f)), f).toBe(true);
  });
});
