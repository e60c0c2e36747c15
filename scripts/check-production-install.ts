/**
 * `npm run check:production-install`: proves that a production install (`npm ci --omit=dev`) can
 * deploy. The project's tracked files (as they are in the working tree) are copied to a temp
 * directory and installed without devDependencies; then, with only those packages:
 * 1. every stack's program is loaded the way the Pulumi nodejs language host loads it for
 *    `typescript: true` — ts-node WITH type checking, its default unless tsconfig sets `noCheck`
 *    (@pulumi/pulumi cmd/run/run.js) — and run under Pulumi's mocks (the offline plan), one
 *    process per stack;
 * 2. the device-migration provider's implementation is loaded the way the dynamic-provider host
 *    does it (plain node; `loadDeviceMigrationImpl` registers ts-node transpile-only).
 * Exit 1 with the failing step's output otherwise. Takes a few minutes (an install and type checks),
 * so it is a CI step, not part of `npm test`; test/clone/production-install.test.ts checks the
 * same dependency rules statically on every test run.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const root = path.resolve(__dirname, "..");

function run(cmd: string, args: string[], cwd: string, input?: string): { ok: boolean; out: string } {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // no loader of the dev tree (tsx) may leak into the production process
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", input, maxBuffer: 64 * 1024 * 1024 });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

/** Registers ts-node as the language host does: its fixed options, then the project's compilerOptions. */
const HOST_TS_NODE = `
const path = require("path");
const tsconfig = JSON.parse(require("fs").readFileSync("tsconfig.json", "utf8"));
require("ts-node").register({
  compiler: require.resolve("typescript"),
  transpileOnly: tsconfig.compilerOptions.noCheck,
  project: path.resolve("tsconfig.json"),
  compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true", ...tsconfig.compilerOptions },
});`;

function main(): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubclone-prod-"));
  const step = (name: string, r: { ok: boolean; out: string }) => {
    console.log(`${r.ok ? "ok  " : "FAIL"} ${name}`);
    if (!r.ok) console.log(r.out.split("\n").slice(-40).join("\n"));
    return r.ok;
  };
  try {
    const files = run("git", ["ls-files", "-z"], root).out.split("\0").filter((f) => f && fs.existsSync(path.join(root, f)));
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.copyFileSync(path.join(root, f), path.join(dir, f));
    }
    if (!step("npm ci --omit=dev", run("npm", ["ci", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund"], dir))) return 1;
    const dev = ["vitest", "tsx", "azurite"].filter((p) => fs.existsSync(path.join(dir, "node_modules", p)));
    if (!step("no devDependency installed", { ok: dev.length === 0, out: `found: ${dev.join(", ")}` })) return 1;

    const stacks = fs.readdirSync(dir).map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter((s): s is string => !!s);
    let ok = true;
    for (const stack of stacks) {
      const program = `${HOST_TS_NODE}
require("./components/clone/plan-child").runPlanInProcess({ stack: ${JSON.stringify(stack)}, projectDir: process.cwd() }).then((r) => {
  console.log(JSON.stringify({ errors: r.errors, resources: r.resources.length }));
  process.exit(r.errors.length || !r.resources.length ? 1 : 0);
}, (e) => { console.error(e && e.stack || e); process.exit(1); });`;
      ok = step(`stack ${stack}: program type-checks and runs (ts-node as the language host, mocks)`, run(process.execPath, ["-"], dir, program)) && ok;
    }
    const provider = `
// The dynamic-provider host has no TypeScript loader: loadDeviceMigrationImpl registers one like this.
require("ts-node").register({ transpileOnly: true, compilerOptions: { module: "commonjs" } });
const impl = require(require("path").resolve("components/devices/provider-impl.ts"));
for (const m of ["check", "diff", "create", "update", "read", "deleteResource"]) if (typeof impl[m] !== "function") throw new Error("provider-impl lacks " + m);
console.log("provider-impl loaded");`;
    ok = step("device-migration provider implementation loads (plain node, as the provider host)", run(process.execPath, ["-"], dir, provider)) && ok;
    return ok ? 0 : 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) process.exitCode = main();
