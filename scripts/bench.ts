/**
 * Benchmark of the device-migration engine on the unthrottled local hub.
 *
 *   npm run bench -- --devices N [--changed 1%] [--sku S1 [--units N]] [--profile azure] [--json] [--keep]
 *
 * Fills an original hub with N generated devices (not measured), then runs the copy in a fresh
 * child process (the client being measured: the same engine the DeviceMigration provider and the
 * CLI run, started as `npm run hubclone` starts it: node with tsx's CommonJS hook) and reports:
 *   clientPeakRssMb  the child's peak resident memory (VmHWM), the bar is ≤ 200 MB and flat in N
 *                    (compiled JavaScript, as the Pulumi provider host runs it, needs ~20 MB less)
 *   clientCpuMs      the child's user+system CPU for the copy
 *   wallMs           the copy's wall time; devicesPerSec = N / wall
 *   transformMBps    export-blob bytes / the engine's own streaming-pass time (durationsMs.transform)
 *   rawCopyMBps      a plain download+upload of the same export blob, same process, same run
 *                    (the machine's limit, median of three; the bar is transformMBps ≥ 0.5 × rawCopyMBps)
 * plus hub API calls by kind (independent of N: jobs, not per-device calls) and a delta sync
 * after 1% (--changed) of the devices changed (imported lines should be ~that share of the lines),
 * and `projection`: the service time the same copy and delta sync would take on a real hub of
 * --sku (pace model, components/devices/pace.ts), computed from the line counts, not from the
 * local hub's clock, so it does not depend on --profile (which only picks the local hub's
 * behaviour and is passed through to `local up`).
 */
import { spawn } from "child_process";
import * as fs from "fs";
import type * as http from "http";
import * as path from "path";
import { Command } from "commander";
import { UserError } from "../components/errors";
import { redact } from "../components/secrets";
import { generateDeviceLines, generatedIdentities, loadDevices } from "../components/devices/generate";
import { checkDeviceQuota, deltaSyncSeconds, fullCopySeconds, parseSku, type HubSku } from "../components/devices/pace";
import { engineLocal, localHubConnectionString, localStagingConnectionString } from "../components/devices/provider-local";
import type { CopyOptions } from "../components/devices/types";
import { runCommand, scriptArgs } from "./cli";
import { sessionProfile, startLocalSession, type SessionProfile } from "./rehearse";


/** What the parent hands the measured child (through the environment: it holds connection strings). */
interface WorkerConfig {
  mode: "copy" | "sync";
  source: string;
  clone: string;
  staging: string;
  endpointsFile: string;
  runId: string;
  /** Also run the engine's verify step (export of the clone, compare): off by default, as the figures below were taken. */
  verify: boolean;
}

interface HubCalls {
  total: number;
  jobCreates: number;
  jobPolls: number;
  other: number;
  storage: number;
}

interface WorkerResult {
  mode: "copy" | "sync";
  wallMs: number;
  cpuMs: number;
  peakRssMb: number;
  exported: number;
  exportedModules: number;
  imported: number;
  failed: number;
  changed: number;
  transformMs: number;
  durationsMs: Record<string, number>;
  hubCalls: HubCalls;
  memoryPeaks: typeof memoryPeaks;
  rssByPhaseMb: Record<string, number>;
  exportBytes?: number;
  rawCopyMs?: number;
  rawCopyRunsMs?: number[];
}

function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (m) return Math.round(Number(m[1]) / 102.4) / 10;
  } catch {
    // not Linux: fall back to the sampled peak
  }
  return Math.round(sampledPeak / 104857.6) / 10;
}
let sampledPeak = 0;
/** Peaks of the V8 heap and of Buffer/ArrayBuffer (off-heap) memory, to say where the RSS goes. */
const memoryPeaks = { heapUsedMb: 0, externalMb: 0, arrayBuffersMb: 0 };
/** Sampled RSS peak per engine phase (from its progress events): which step sets the peak. */
const rssByPhaseMb: Record<string, number> = {};
let currentPhase = "start";
function sampleMemory(): void {
  const m = process.memoryUsage();
  sampledPeak = Math.max(sampledPeak, m.rss);
  rssByPhaseMb[currentPhase] = Math.max(rssByPhaseMb[currentPhase] ?? 0, Math.round(m.rss / 1048576));
  memoryPeaks.heapUsedMb = Math.max(memoryPeaks.heapUsedMb, Math.round(m.heapUsed / 1048576));
  memoryPeaks.externalMb = Math.max(memoryPeaks.externalMb, Math.round(m.external / 1048576));
  memoryPeaks.arrayBuffersMb = Math.max(memoryPeaks.arrayBuffersMb, Math.round(m.arrayBuffers / 1048576));
}

/** Counts every HTTP(S) request this process makes, by kind (measurement harness only). */
function countRequests(): HubCalls {
  const calls: HubCalls = { total: 0, jobCreates: 0, jobPolls: 0, other: 0, storage: 0 };
  // The real module objects (an `import * as` namespace is a copy under tsx): the SDKs call
  // `https.request` / `http.request` through them at request time.
  for (const mod of [require("http"), require("https")] as Array<typeof http>) {
    const original = mod.request;
    (mod as { request: unknown }).request = function (this: unknown, ...args: unknown[]) {
      const o = (typeof args[0] === "object" && !(args[0] instanceof URL) ? args[0] : args[1]) as { host?: string; hostname?: string; path?: string; method?: string } | undefined;
      const u = args[0] instanceof URL ? args[0] : typeof args[0] === "string" ? new URL(args[0]) : undefined;
      const host = (u?.hostname ?? o?.hostname ?? o?.host ?? "").toLowerCase();
      const p = u?.pathname ?? o?.path ?? "";
      const method = (o?.method ?? "GET").toUpperCase();
      if (/\.azure-devices\.net$/.test(host)) {
        calls.total++;
        if (method === "POST" && p.startsWith("/jobs/create")) calls.jobCreates++;
        else if (method === "GET" && p.startsWith("/jobs/")) calls.jobPolls++;
        else calls.other++;
      } else calls.storage++;
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof http.request;
  }
  return calls;
}

/** The measured client: one copy or sync, then (copy only) a raw copy of the same export blob. */
async function worker(): Promise<void> {
  const cfg = JSON.parse(process.env.HUBCLONE_BENCH_WORKER ?? "{}") as WorkerConfig;
  const calls = countRequests();
  const timer = setInterval(sampleMemory, 50);
  timer.unref();
  // Loaded after the request counter is in place.
  const engine = require("../components/devices/index") as typeof import("../components/devices/index");
  const { loadLocalEndpoints } = require("../components/devices/provider-local") as typeof import("../components/devices/provider-local");
  const local = engineLocal(loadLocalEndpoints(cfg.endpointsFile));
  const staging = { connectionString: cfg.staging, containerName: "bench-staging", authentication: "keyBased" as const };
  const o: CopyOptions = {
    source: { connectionString: cfg.source },
    clone: { connectionString: cfg.clone },
    staging,
    runId: cfg.runId,
    local,
    verify: cfg.verify,
    pollIntervalMs: { min: 200, max: 2_000 },
    onProgress: (p) => {
      sampleMemory();
      currentPhase = p.phase;
    },
  };
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const r = cfg.mode === "copy" ? await engine.copyDevices(o) : await engine.syncDevices(o);
  const wallMs = Date.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const result: WorkerResult = {
    mode: cfg.mode,
    wallMs,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    peakRssMb: peakRssMb(),
    exported: r.exported,
    exportedModules: r.exportedModules,
    imported: r.imported,
    failed: r.failed,
    changed: r.sync.changed,
    transformMs: r.durationsMs.transform ?? 0,
    durationsMs: r.durationsMs,
    hubCalls: { ...calls },
    memoryPeaks: { ...memoryPeaks },
    rssByPhaseMb: { ...rssByPhaseMb },
  };
  if (cfg.mode === "copy") {
    // The same export (keys included), then a plain download → upload of that blob: the
    // machine's limit for the streaming pass, measured in this process.
    const exp = await engine.exportDevices(o.source, staging, { local, blobName: "bench/raw/devices.txt", pollIntervalMs: { min: 200, max: 2_000 } });
    const { BlobServiceClient } = require("@azure/storage-blob") as typeof import("@azure/storage-blob");
    const container = BlobServiceClient.fromConnectionString(cfg.staging).getContainerClient(staging.containerName);
    const props = await container.getBlobClient(exp.blobName).getProperties();
    // Three copies, the median kept: one sample of the machine's limit swung ±30% between runs.
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t1 = Date.now();
      const download = await container.getBlobClient(exp.blobName).download();
      await container.getBlockBlobClient("bench/raw/copy.txt").uploadStream(download.readableStreamBody as unknown as import("stream").Readable, 4 << 20, 2);
      runs.push(Date.now() - t1);
    }
    result.rawCopyRunsMs = runs;
    result.rawCopyMs = [...runs].sort((a, b) => a - b)[1];
    result.exportBytes = props.contentLength ?? 0;
    // The export holds every key: remove it.
    await container.getBlobClient(exp.blobName).deleteIfExists();
    await container.getBlobClient("bench/raw/copy.txt").deleteIfExists();
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

function runWorker(cfg: WorkerConfig, heapMb?: number): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const flags = heapMb ? [`--max-old-space-size=${heapMb}`] : [];
    const child = spawn(process.execPath, [...flags, ...scriptArgs(__filename, ["--worker"])], {
      env: { ...process.env, HUBCLONE_BENCH_WORKER: JSON.stringify(cfg) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c));
    child.stderr.on("data", (c: Buffer) => (err += c));
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(redact(`bench worker (${cfg.mode}) failed (${code}): ${err.trim().slice(-2000)}`)));
      resolve(JSON.parse(out.trim().split("\n").pop()!) as WorkerResult);
    });
  });
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/** `--changed 1%` (or `1`): a share of the devices in (0, 100]. */
export function parseChangedPercent(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(v);
  const pct = m ? Number(m[1]) : NaN;
  if (!(pct > 0 && pct <= 100)) throw new UserError(`'${v}' is not a share of the devices: give a percentage in (0, 100], e.g. 1%`, "--changed");
  return pct;
}

const isPrime = (n: number) => {
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return n >= 2;
};

/**
 * Every step-th device changes: the largest prime ≤ 100/pct other than 2 and 5, so the changed
 * devices cycle through every kind of the generator's 50-device block (1% → every 97th).
 */
export function changedStep(pct: number): number {
  const max = Math.floor(100 / pct);
  for (let n = max; n >= 3; n--) if (n !== 5 && isPrime(n)) return n;
  return Math.max(1, max);
}

/**
 * The projected service time on a real hub of `sku` for the lines this bench moved: the full copy
 * and the final delta sync as DeviceMigration runs them (re-parent and verify included), the
 * frozen window before cutover compared with a full re-copy (pure; pace.ts).
 */
export function projection(sku: HubSku, lines: number, changedLines: number) {
  return {
    sku: sku.name,
    units: sku.capacity ?? 1,
    lines,
    changedLines,
    fullCopySeconds: fullCopySeconds({ lines }),
    deltaSyncSeconds: deltaSyncSeconds({ lines, changedLines }),
    basis: "pace model (docs/devices.md): Microsoft's measured ~4 h per 1,000,000 devices, taken per import or export job; re-parent and verify passes included",
  };
}

export interface BenchOptions {
  keep?: boolean;
  heapMb?: number;
  verify?: boolean;
  /** Share of devices changed before the delta sync, in percent (default 1). */
  changedPercent?: number;
  /** Tier of the projection (default S1); also passed to `local up` when given. */
  sku?: HubSku;
  /** The local hub's profile (`local up --profile/--sku/--time-scale`); the projection ignores it. */
  profile?: SessionProfile;
}

export async function bench(devices: number, print: (l: string) => void, o: BenchOptions = {}): Promise<Record<string, unknown>> {
  const { keep = false, heapMb, verify = false } = o;
  checkDeviceQuota(devices, "--devices", generatedIdentities);
  print(`bench: starting the local hub${o.profile?.profile ? ` (profile ${o.profile.profile})` : ""}`);
  const session = await startLocalSession("bench", process.cwd(), o.profile);
  try {
    const e = session.endpoints;
    const source = localHubConnectionString(e, session.sourceHub);
    const clone = localHubConnectionString(e, session.cloneHub);
    const staging = localStagingConnectionString(e);
    const endpointsFile = path.resolve(".local", "endpoints.json");

    print(`bench: filling ${session.sourceHub} with ${devices} devices (not measured)`);
    const f0 = Date.now();
    const load = await loadDevices({ connectionString: source }, { connectionString: staging, containerName: "bench-load" }, generateDeviceLines({ count: devices }), { local: engineLocal(e) });
    if (load.failed > 0) throw new Error(`filling the original failed for ${load.failed} lines (first: ${JSON.stringify(load.failures[0])})`);
    const fillMs = Date.now() - f0;

    print(`bench: copying (measured, in a fresh process)`);
    const runId = `bench-${session.cloneHub}`;
    const copy = await runWorker({ mode: "copy", source, clone, staging, endpointsFile, runId, verify }, heapMb);
    if (copy.failed > 0) throw new Error(`the copy failed for ${copy.failed} lines`);

    const pct = o.changedPercent ?? 1;
    const step = changedStep(pct);
    print(`bench: changing ${pct}% of the devices at the original (every ${step}th), then a delta sync`);
    // Every step-th device (1%: every 97th), cycling through every kind of the generator's 50-device block.
    const changed = (i: number) => i % step === 0;
    const changedDevices = Math.floor((devices - 1) / step) + 1;
    const change = await loadDevices({ connectionString: source }, { connectionString: staging, containerName: "bench-load" },
      generateDeviceLines({ count: devices, select: changed, revision: 1 }), { local: engineLocal(e) });
    if (change.failed > 0) throw new Error(`changing devices failed for ${change.failed} lines`);
    const sync = await runWorker({ mode: "sync", source, clone, staging, endpointsFile, runId, verify }, heapMb);

    const exportMB = (copy.exportBytes ?? 0) / (1 << 20);
    const sourceLines = copy.exported + copy.exportedModules;
    return {
      devices,
      ...(heapMb ? { clientHeapCapMb: heapMb } : {}),
      ...(verify ? { verify: true } : {}),
      clientPeakRssMb: copy.peakRssMb,
      clientMemoryPeaksMb: copy.memoryPeaks,
      clientRssByPhaseMb: copy.rssByPhaseMb,
      clientCpuMs: copy.cpuMs,
      wallMs: copy.wallMs,
      devicesPerSec: Math.round(devices / (copy.wallMs / 1000)),
      transformMBps: copy.transformMs > 0 ? round(exportMB / (copy.transformMs / 1000)) : null,
      rawCopyMBps: copy.rawCopyMs ? round(exportMB / (copy.rawCopyMs / 1000)) : null,
      rawCopyRunsMs: copy.rawCopyRunsMs,
      transformVsRawCopy: copy.transformMs > 0 && copy.rawCopyMs ? round(copy.rawCopyMs / copy.transformMs, 2) : null,
      exportMB: round(exportMB),
      modules: copy.exportedModules,
      importedLines: copy.imported,
      hubCalls: copy.hubCalls,
      durationsMs: copy.durationsMs,
      fillMs,
      delta: {
        changedDevices,
        changedLines: change.devices + change.modules,
        importedLines: sync.imported,
        importedPercentOfLines: round((100 * sync.imported) / sourceLines, 2),
        wallMs: sync.wallMs,
        clientPeakRssMb: sync.peakRssMb,
        clientRssByPhaseMb: sync.rssByPhaseMb,
        hubCalls: sync.hubCalls,
      },
      projection: projection(o.sku ?? { name: "S1", capacity: 1 }, sourceLines, change.devices + change.modules),
    };
  } finally {
    if (keep) print(`bench: local hub left running (${session.sourceHub}, ${session.cloneHub})`);
    else await session.stop();
  }
}

if (require.main === module) {
  if (process.argv.includes("--worker")) {
    worker().catch((err) => {
      process.stderr.write(redact(err instanceof Error ? err.stack ?? err.message : String(err)) + "\n");
      process.exit(1);
    });
  } else {
    const program = new Command("bench")
      .description("benchmark the device-migration engine on the unthrottled local hub")
      .requiredOption("--devices <n>", "devices to generate and copy")
      .option("--json", "print the figures as JSON")
      .option("--keep", "leave the local hub running")
      .option("--heap-mb <n>", "run the measured client with --max-old-space-size=N (tells live memory from uncollected garbage)")
      .option("--verify", "also run the engine's verify step (the clone exported again and compared), as DeviceMigration does by default")
      .option("--changed <percent>", "share of the devices changed before the delta sync", "1%")
      .option("--sku <tier>", "tier of the projected service time (F1, B1-B3, S1-S3; default S1); with --profile azure also the local hubs' tier")
      .option("--units <n>", "units of that tier")
      .option("--profile <profile>", "azure: the Azure-strict local hub; default: forgiving and fast")
      .option("--time-scale <n>", "strict profile: N times faster than real time")
      .action((o: { devices: string; json?: boolean; keep?: boolean; heapMb?: string; verify?: boolean; changed: string; sku?: string; units?: string; profile?: string; timeScale?: string }) =>
        runCommand(async () => {
          const n = Number(o.devices);
          if (!Number.isInteger(n) || n < 1) throw new UserError("must be a whole number ≥ 1", "--devices");
          checkDeviceQuota(n, "--devices", generatedIdentities);
          const changedPercent = parseChangedPercent(o.changed);
          if (o.units !== undefined && o.sku === undefined) throw new UserError("needs --sku (units of which tier?)", "--units");
          const sku = o.sku === undefined ? undefined : parseSku(o.sku, o.units);
          const heap = o.heapMb === undefined ? undefined : Number(o.heapMb);
          if (heap !== undefined && (!Number.isInteger(heap) || heap < 16)) throw new UserError("must be a whole number of MB ≥ 16", "--heap-mb");
          const r = await bench(n, o.json ? () => undefined : (l) => process.stderr.write(l + "\n"), { keep: o.keep, heapMb: heap, verify: o.verify, changedPercent, sku, profile: sessionProfile(o) });
          process.stdout.write(redact(o.json ? JSON.stringify(r) : JSON.stringify(r, null, 2)) + "\n");
        }),
      );
    void program.parseAsync(process.argv);
  }
}
