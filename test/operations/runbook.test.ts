/**
 * docs/runbook.md, walked: every block of the runbook that starts with `$ npm run hubclone -- --local`
 * runs, in the runbook's order, as a child process against this file's local hubs (the runbook's
 * `contoso-hub` and `contoso-hub-neu`), and what it prints must contain the quoted lines in order
 * (ids, timestamps and durations normalised; a line ending in `…` matches by its start), with the
 * quoted exit code. The few rehearsal steps that are not hubclone commands (`az iot hub
 * device-twin update` on the clone, `az storage blob upload-batch` of routed data) are done here
 * through the emulator and Azurite, as the runbook says. Blocks marked [recorded] need Azure and are
 * not run. RUNBOOK_RECORD=<file> writes what the commands printed, to refresh the quotes.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { blobServiceClient, createTestHub, localEndpoints, registryFor, type TestHub } from "../support/local-hub";

const root = path.join(__dirname, "..", "..");
const tsx = path.join(root, "node_modules", ".bin", "tsx");

export interface RunbookStep {
  /** The command line as quoted, without `$ `. */
  command: string;
  expected: string[];
  exit: number;
  line: number;
}

/** The runbook's runnable blocks, in order (pure). */
export function runbookSteps(markdown: string): RunbookStep[] {
  const steps: RunbookStep[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== "```") continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== "```") end++;
    const body = lines.slice(start, end);
    i = end;
    if (!body[0]?.startsWith("$ npm run hubclone -- --local ") && !body[0]?.startsWith("$ az ")) continue;
    const exitLine = body.findIndex((l) => /^\[exit \d+\]$/.test(l));
    steps.push({
      command: body[0].slice(2),
      expected: body.slice(1, exitLine < 0 ? body.length : exitLine),
      exit: exitLine < 0 ? 0 : Number(/\d+/.exec(body[exitLine])![0]),
      line: start,
    });
  }
  return steps;
}

/** Shell-like words: single and double quotes group (pure). */
export function words(command: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(command))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** What differs from run to run: job ids, timestamps, durations, derived run ids (pure). */
export function normalise(line: string): string {
  return line
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
    .replace(/hubclone-(cutover|rollback)(-pin)?-\d{14}-[0-9a-f]{6}/g, "hubclone-$1$2-<ts>")
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z/g, "<ts>")
    .replace(/\b(cli|restore|reconcile)-[0-9a-f]{16}\b/g, "$1-<hash>")
    .replace(/\b\d+ ms\b/g, "<n> ms")
    .replace(/\s+$/, "");
}

/** Each expected line found in `actual`, in order (pure); returns the first expected line not found. */
export function missingLine(expected: string[], actual: string[]): string | undefined {
  let at = 0;
  for (const raw of expected) {
    const e = normalise(raw);
    const prefix = e.endsWith(" …") ? e.slice(0, -2) : e.endsWith("…") ? e.slice(0, -1) : undefined;
    const found = actual.findIndex((a, i) => i >= at && (prefix !== undefined ? normalise(a).startsWith(prefix) : normalise(a) === e));
    if (found < 0) return raw;
    at = found + 1;
  }
  return undefined;
}

describe("runbook parsing (pure)", () => {
  it("finds the local commands with their quoted output and exit code, and normalises what changes per run", () => {
    const md = ["x", "```", "$ npm run hubclone -- --local verify --query \"tags.a = 'b'\"", "verify: OK", "[exit 0]", "```", "```", "npm run hubclone -- snapshot", "```"].join("\n");
    expect(runbookSteps(md)).toEqual([{ command: "npm run hubclone -- --local verify --query \"tags.a = 'b'\"", expected: ["verify: OK"], exit: 0, line: 2 }]);
    expect(words("npm run hubclone -- --local cutover --query \"tags.building = 'north'\"")).toEqual(["npm", "run", "hubclone", "--", "--local", "cutover", "--query", "tags.building = 'north'"]);
    expect(normalise("job hubclone-cutover-pin-20261126035510-10b35a on x, 1109 ms")).toBe("job hubclone-cutover-pin-<ts> on x, <n> ms");
    expect(missingLine(["a", "c …"], ["a", "b", "c and more"])).toBeUndefined();
    expect(missingLine(["c", "a"], ["a", "b", "c"])).toBe("a");
  });
});

function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("HUBCLONE_")) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [path.join(root, "scripts", "hubclone.ts"), ...args], { cwd, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The routed data the rehearsal copies: a day of hourly batches in the endpoint's file name format (deterministic). */
export function routedBatches(hub: string): Array<{ name: string; body: string }> {
  return Array.from({ length: 24 }, (_, h) => ({
    name: `${hub}/0/2026/11/26/${String(h).padStart(2, "0")}/00.json`,
    body: JSON.stringify({ hour: h, messages: Array.from({ length: 10 }, (_, i) => ({ deviceId: `gen-${String(i).padStart(7, "0")}`, t: 20 + i })) }) + "\n",
  }));
}

const runbook = fs.readFileSync(path.join(root, "docs", "runbook.md"), "utf8");
const steps = runbookSteps(runbook);

describe("the runbook's local steps, in order, on the local hub", () => {
  let original: TestHub;
  let clone: TestHub;
  let cwd: string;
  const record: string[] = [];
  // The runbook's hub names → this file's hubs (the clone's name first: it contains the original's).
  const names = (s: string) => s.replace(/contoso-hub-neu/g, "\u0001").replace(/contoso-hub/g, original.name).replace(/\u0001/g, clone.name);
  const back = (s: string) => s.split(clone.name).join("contoso-hub-neu").split(original.name).join("contoso-hub");

  beforeAll(async () => {
    original = await createTestHub("contoso-hub");
    clone = await createTestHub("contoso-hub-neu");
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-"));
    fs.mkdirSync(path.join(cwd, ".local"));
    fs.writeFileSync(path.join(cwd, ".local", "endpoints.json"), JSON.stringify(localEndpoints()));
  });

  it("has runnable steps", () => {
    expect(steps.length).toBeGreaterThan(20);
  });

  it(
    "every step prints what the runbook quotes, with its exit code",
    async () => {
      let backup: string | undefined;
      for (const step of steps) {
        // The backup blob decommission printed (its name holds the time of the run).
        const argv = words(names(step.command)).map((w) => (backup && /^backups\/.+\/devices\.txt$/.test(w) ? backup : w));
        if (argv[0] === "az" && argv[3] === "device-twin") {
          // `az iot hub device-twin update --hub-name H --device-id D --desired '{…}'` / `--tags '{…}'`
          const flag = (f: string) => argv[argv.indexOf(f) + 1];
          const hub = flag("--hub-name") === clone.name ? clone : original;
          const patch = argv.includes("--desired") ? { properties: { desired: JSON.parse(flag("--desired")) } } : { tags: JSON.parse(flag("--tags")) };
          await registryFor(hub).updateTwin(flag("--device-id"), patch, "*");
          record.push("$ " + step.command, "");
          continue;
        }
        if (argv[0] === "az" && argv[3] === "upload-batch") {
          const container = blobServiceClient().getContainerClient(argv[argv.indexOf("-d") + 1]);
          await container.createIfNotExists();
          for (const b of routedBatches(original.name)) await container.getBlockBlobClient(b.name).upload(b.body, Buffer.byteLength(b.body));
          record.push("$ " + step.command, "");
          continue;
        }
        const r = await run(argv.slice(4), cwd);
        backup = /\bblob (backups\/\S+\/devices\.txt)/.exec(r.stdout)?.[1] ?? backup;
        const actual = [...r.stderr.split("\n"), ...r.stdout.split("\n")].filter((l) => l !== "").map(back);
        record.push("$ " + step.command, ...actual, `[exit ${r.code}]`, "");
        if (process.env.RUNBOOK_RECORD) continue;
        const missing = missingLine(step.expected, actual);
        expect(missing, `docs/runbook.md line ${step.line}: ${step.command}\n--- printed:\n${actual.join("\n")}`).toBeUndefined();
        expect(r.code, `docs/runbook.md line ${step.line}: ${step.command}\n${actual.join("\n")}`).toBe(step.exit);
      }
      if (process.env.RUNBOOK_RECORD) fs.writeFileSync(process.env.RUNBOOK_RECORD, record.join("\n"));
    },
    900_000,
  );
});
