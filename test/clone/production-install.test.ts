/**
 * A production install (`npm ci --omit=dev`) must be able to deploy: everything the program loads
 * when `pulumi up` runs it is a runtime dependency. Checked statically here on every test run; the
 * real install (copy, `npm ci --omit=dev`, the program type-checked and run by ts-node as the
 * language host does, the provider implementation loaded as the provider host does) is
 * `npm run check:production-install`, a CI step.
 *
 * What loads at deploy time: index.ts and every module it imports; components/devices/provider-impl.ts,
 * which the DeviceMigration provider `require()`s by path in the provider host; `ts-node` and
 * `typescript`, which the nodejs language host loads index.ts with (and type-checks with, unless
 * tsconfig sets `noCheck`: @pulumi/pulumi cmd/run/run.js), so also the `@types/*` tsconfig names.
 */
import { builtinModules } from "module";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";

const root = path.join(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));
const tsconfig = JSON.parse(fs.readFileSync(path.join(root, "tsconfig.json"), "utf8"));

/** Runtime (non-type-only) module specifiers of one TypeScript file. */
function specifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out: string[] = [];
  // `import x from "m"`, `import { a } from "m"`, `export … from "m"`, `import "m"` — not `import type`/`export type`.
  for (const m of code.matchAll(/^\s*(import|export)\s+(?!type\s)([^;]*?\sfrom\s+)?["']([^"']+)["']/gm)) out.push(m[3]);
  // `require("m")` (also inside functions: the dynamic provider requires at call time); not `typeof import("m")`.
  for (const m of code.matchAll(/(?<![\w.])require\(\s*["']([^"']+)["']\s*\)/g)) out.push(m[1]);
  return out;
}

/** The module graph from the entry files: local files walked, packages collected by name. */
function runtimePackages(entries: string[]): Map<string, string> {
  const packages = new Map<string, string>(); // package → first file that loads it
  const seen = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of specifiers(fs.readFileSync(file, "utf8"))) {
      if (spec.startsWith(".")) {
        const base = path.resolve(path.dirname(file), spec);
        const hit = [`${base}.ts`, path.join(base, "index.ts"), base].find((f) => fs.existsSync(f) && fs.statSync(f).isFile() && f.endsWith(".ts"));
        if (hit) walk(hit);
        continue;
      }
      const name = spec.startsWith("node:") ? spec : spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
      if (!packages.has(name)) packages.set(name, path.relative(root, file));
    }
  };
  entries.forEach(walk);
  return packages;
}

const isBuiltin = (name: string) => name.startsWith("node:") || builtinModules.includes(name);

/**
 * Packages required inside a try with a fallback, so their absence in a production install is
 * handled: package → the file and what it falls back to.
 */
const OPTIONAL: Record<string, { file: string; fallback: string }> = {
  // Bundles the transform worker; without it the worker loads through ts-node (a dependency), and
  // without any worker the batches run in the engine's thread (same output, slower).
  esbuild: { file: "components/devices/transform-pool.ts", fallback: "ts-node" },
};

/** Findings for a package set against package.json + package-lock.json (one line each). */
function installFindings(packages: Map<string, string>, manifest: any, lockfile: any): string[] {
  const out: string[] = [];
  for (const [name, from] of packages) {
    if (isBuiltin(name)) continue;
    if (!manifest.dependencies?.[name]) {
      out.push(`${name} (loaded by ${from}) is not in dependencies${manifest.devDependencies?.[name] ? " (it is a devDependency: npm ci --omit=dev leaves it out)" : ""}`);
    } else if (lockfile.packages?.[`node_modules/${name}`]?.dev) {
      out.push(`${name} is marked dev in package-lock.json: run npm install`);
    }
  }
  return out;
}

const deployTime = () => {
  const packages = runtimePackages([path.join(root, "index.ts"), path.join(root, "components", "devices", "provider-impl.ts")]);
  // The language host's loader and compiler, and the type packages tsconfig makes it check against.
  packages.set("ts-node", "the Pulumi language host (typescript: true)");
  packages.set("typescript", "the Pulumi language host (typescript: true)");
  for (const t of tsconfig.compilerOptions.types ?? []) packages.set(`@types/${t}`, "tsconfig.json compilerOptions.types (type checked at deploy time)");
  return packages;
};

describe("a production install can deploy", () => {
  it("the program's module graph reaches the SDKs and the dynamic providers' requires", () => {
    const packages = deployTime();
    // The graph is really walked: the azure-native modules of the clone and the SDKs the device
    // copy requires inside its provider methods are found.
    expect([...packages.keys()]).toEqual(expect.arrayContaining(["@pulumi/pulumi", "@pulumi/azure-native", "@pulumi/random", "azure-iothub", "@azure/storage-blob", "zod"]));
    expect(packages.has("vitest")).toBe(false);
  });

  it("everything it loads is a runtime dependency, not dev-only in the lock file (optional ones have their fallback)", () => {
    const packages = deployTime();
    for (const [name, o] of Object.entries(OPTIONAL)) {
      expect(packages.get(name), name).toBe(o.file);
      expect(fs.readFileSync(path.join(root, o.file), "utf8"), name).toMatch(new RegExp(`try \\{[^}]*require\\("${name}"\\)`));
      expect(pkg.dependencies[o.fallback], `${name}'s fallback`).toBeDefined();
      packages.delete(name);
    }
    expect(installFindings(packages, pkg, lock)).toEqual([]);
  });

  it("TypeScript and ts-node satisfy @pulumi/pulumi's peer ranges (typescript < 7, ts-node < 12)", () => {
    const peer = JSON.parse(fs.readFileSync(path.join(root, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8")).peerDependencies ?? {};
    expect(peer).toHaveProperty("typescript");
    expect(peer).toHaveProperty("ts-node");
    const major = (v: string) => Number(/(\d+)/.exec(v)![1]);
    expect(major(pkg.dependencies.typescript)).toBeLessThan(7);
    expect(major(pkg.dependencies["ts-node"])).toBeLessThan(12);
  });

  it("the rule does fail: a program file importing a devDependency, and an unlisted package", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubclone-graph-"));
    try {
      fs.writeFileSync(path.join(dir, "index.ts"), 'import * as fs from "fs";\nimport type { X } from "typeonly";\nimport { helper } from "./lib";\nexport const y = helper(fs);\n');
      fs.writeFileSync(path.join(dir, "lib.ts"), 'export function helper(x: unknown) {\n  const v = require("vitest");\n  // require("commented-out")\n  return require("left-pad") ?? v ?? x;\n}\n');
      const found = runtimePackages([path.join(dir, "index.ts")]);
      expect([...found.keys()].sort()).toEqual(["fs", "left-pad", "vitest"]);
      expect(installFindings(found, pkg, lock)).toEqual([
        expect.stringMatching(/^vitest \(loaded by .*lib\.ts\) is not in dependencies \(it is a devDependency/),
        expect.stringMatching(/^left-pad \(loaded by .*lib\.ts\) is not in dependencies$/),
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
