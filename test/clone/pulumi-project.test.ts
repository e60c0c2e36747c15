/**
 * Pulumi.yaml and the stack files against the rules the Pulumi CLI applies before running the
 * program (pulumi/pulumi sdk/go/common/workspace: project.json schema, Project.Validate,
 * mergeConfig), and the stack values against our own config schema.
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, parseCloneConfig, PROJECT } from "../../components/config";

const root = path.join(__dirname, "..", "..");
const yaml = require("js-yaml") as { load(text: string): any };
const project = yaml.load(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));
const stacks = fs.readdirSync(root).filter((f) => /^Pulumi\..+\.yaml$/.test(f));

describe("Pulumi.yaml", () => {
  it("names the project and the nodejs runtime", () => {
    expect(project.name).toBe(PROJECT);
    expect(project.runtime.name).toBe("nodejs");
  });

  it("declares every key the program reads, each with a description and a type Pulumi accepts", () => {
    expect(Object.keys(project.config).sort()).toEqual([...CONFIG_KEYS].sort());
    for (const [key, decl] of Object.entries<any>(project.config)) {
      expect(typeof decl.description, key).toBe("string");
      // Pulumi's simple config types; `object` is rejected when the project loads.
      if (decl.type !== undefined) expect(["string", "integer", "boolean", "array"], key).toContain(decl.type);
      if (decl.type === "array") expect(decl.items, key).toBeDefined();
      expect(decl.default !== undefined && decl.value !== undefined, key).toBe(false);
    }
  });
});

describe.each(stacks)("%s", (file) => {
  const stack = yaml.load(fs.readFileSync(path.join(root, file), "utf8"));
  const own = Object.fromEntries(
    Object.entries<any>(stack.config ?? {})
      .filter(([k]) => k.startsWith(`${PROJECT}:`))
      .map(([k, v]) => [k.slice(PROJECT.length + 1), v]),
  );

  it("sets every project key that has no default (else: 'Stack is missing configuration value')", () => {
    for (const [key, decl] of Object.entries<any>(project.config)) {
      if (decl.default === undefined && decl.value === undefined) expect(own, key).toHaveProperty(key);
    }
  });

  it("uses only declared keys, and its values pass the config schema", () => {
    for (const key of Object.keys(own)) expect(CONFIG_KEYS as readonly string[]).toContain(key);
    expect(() => parseCloneConfig(own)).not.toThrow();
  });

  it("points at files that exist", () => {
    for (const f of [own.source?.template, own.source?.parameters].filter(Boolean)) expect(fs.existsSync(path.join(root, f)), f).toBe(true);
  });
});
