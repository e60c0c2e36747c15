/**
 * Benchmark of the local IoT Hub: an unthrottled import and then export of N devices (default
 * 1,000,000) through real jobs and Azurite, reporting devices/s for each and the emulator's peak
 * resident memory (VmHWM), which must stay under 2 GB.
 *
 *   npm run bench:emulator -- [--devices 1000000] [--keep]
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import { Readable } from "stream";
import { Registry } from "azure-iothub";
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from "@azure/storage-blob";
import { useLocalHub } from "../components/devices/local-hub";
import { adminCreateHub, AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, startEmulator, stopProcess } from "../test/emulator/launcher";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

function currentRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function* deviceLines(count: number): AsyncGenerator<Buffer> {
  let lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(
      JSON.stringify({
        id: `bench-${String(i).padStart(7, "0")}`,
        importMode: "createOrUpdate",
        status: i % 50 === 0 ? "disabled" : "enabled",
        authentication: { type: "sas", symmetricKey: { primaryKey: randomBytes(32).toString("base64"), secondaryKey: randomBytes(32).toString("base64") } },
        tags: { site: `site-${i % 100}`, wave: i % 10 },
        properties: { desired: { telemetryInterval: 30 } },
      }),
    );
    if (lines.length === 5000) {
      yield Buffer.from(lines.join("\n") + "\n");
      lines = [];
    }
  }
  if (lines.length) yield Buffer.from(lines.join("\n") + "\n");
}

async function waitForJob(registry: Registry, jobId: string, pid: number, onSample: (rss: number) => void): Promise<{ status: string; failureReason?: string }> {
  for (;;) {
    const job = (await registry.getJob(jobId)) as unknown as { status: string; progress: number; failureReason?: string };
    onSample(currentRssMb(pid));
    if (["completed", "failed", "cancelled"].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function main(): Promise<void> {
  const devices = Number(arg("devices") ?? 1_000_000);
  if (!Number.isInteger(devices) || devices <= 0) {
    process.stderr.write("error: --devices must be a positive integer\n");
    process.exitCode = 1;
    return;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "iothub-bench-"));
  const azurite = await startAzurite({ location: path.join(root, "azurite") });
  const emulator = await startEmulator({ stateDir: path.join(root, "emulator"), storageConnectionString: azurite.connectionString });
  let maxSampled = 0;
  const sample = (rss: number) => (maxSampled = Math.max(maxSampled, rss));
  try {
    const hub = await adminCreateHub(emulator, `bench-${randomBytes(3).toString("hex")}`, { deviceQuota: Math.max(1_000_000, devices) });
    const endpoints = { storage: { connectionString: azurite.connectionString }, iothub: { port: emulator.port, caFile: emulator.caFile, hubs: {} } };
    const registry = useLocalHub(Registry.fromConnectionString(hub.connectionString), endpoints);

    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const sasFor = (name: string) =>
      `${service.getContainerClient(name).url}?${generateBlobSASQueryParameters(
        { containerName: name, permissions: ContainerSASPermissions.parse("rwdlac"), expiresOn: new Date(Date.now() + 24 * 3600_000) },
        new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
      ).toString()}`;
    const input = service.getContainerClient("bench-input");
    const output = service.getContainerClient("bench-output");
    await input.create();
    await output.create();

    let t = Date.now();
    await input.getBlockBlobClient("devices.txt").uploadStream(Readable.from(deviceLines(devices)), 8 * 1024 * 1024, 2);
    const uploadSeconds = (Date.now() - t) / 1000;
    process.stdout.write(`generated and uploaded devices.txt (${devices} devices) in ${uploadSeconds.toFixed(1)}s\n`);

    t = Date.now();
    const imported = (await registry.importDevicesFromBlob(sasFor("bench-input"), sasFor("bench-output"))) as unknown as { jobId: string };
    const importJob = await waitForJob(registry, imported.jobId, emulator.pid, sample);
    const importSeconds = (Date.now() - t) / 1000;
    const stats = (await registry.getRegistryStatistics()).responseBody;
    process.stdout.write(`  rss so far: max sampled ${maxSampled} MB, VmHWM ${peakRssMb(emulator.pid)} MB\n`);
    process.stdout.write(`import: ${importJob.status} in ${importSeconds.toFixed(1)}s = ${Math.round(devices / importSeconds)} devices/s; registry holds ${stats.totalDeviceCount}\n`);
    if (importJob.status !== "completed") throw new Error(`import ${importJob.status}: ${importJob.failureReason ?? ""}`);

    t = Date.now();
    const exported = (await registry.exportDevicesToBlob(sasFor("bench-output"), false)) as unknown as { jobId: string };
    const exportJob = await waitForJob(registry, exported.jobId, emulator.pid, sample);
    const exportSeconds = (Date.now() - t) / 1000;
    const props = await output.getBlockBlobClient("devices.txt").getProperties();
    process.stdout.write(`  rss so far: max sampled ${maxSampled} MB, VmHWM ${peakRssMb(emulator.pid)} MB\n`);
    process.stdout.write(`export: ${exportJob.status} in ${exportSeconds.toFixed(1)}s = ${Math.round(devices / exportSeconds)} devices/s; devices.txt ${Math.round((props.contentLength ?? 0) / 1024 / 1024)} MB\n`);
    if (exportJob.status !== "completed") throw new Error(`export ${exportJob.status}: ${exportJob.failureReason ?? ""}`);

    // A full paged query scan (what a verifier does), 10,000 twins per page.
    t = Date.now();
    const query = registry.createQuery("SELECT * FROM devices", 10_000);
    let scanned = 0;
    while (query.hasMoreResults) {
      // next() without arguments re-sends no token in the SDK's promise form: pass it explicitly.
      const { result } = await query.next(query.continuationToken as unknown as string);
      scanned += (result as unknown[]).length;
      sample(currentRssMb(emulator.pid));
    }
    const querySeconds = (Date.now() - t) / 1000;
    process.stdout.write(`query scan: ${scanned} twins in ${querySeconds.toFixed(1)}s = ${Math.round(scanned / querySeconds)} twins/s\n`);

    const peak = peakRssMb(emulator.pid);

    // Crash recovery at scale: kill -9, restart on the same state folder, time until it answers.
    t = Date.now();
    await stopProcess(emulator.pid, true);
    const restarted = await startEmulator({ stateDir: emulator.stateDir, port: emulator.port, storageConnectionString: azurite.connectionString });
    emulator.pid = restarted.pid;
    const restartSeconds = (Date.now() - t) / 1000;
    const afterRestart = (await registry.getRegistryStatistics()).responseBody.totalDeviceCount;
    process.stdout.write(`restart after kill -9: answered in ${restartSeconds.toFixed(1)}s with ${afterRestart} devices (peak RSS ${peakRssMb(restarted.pid)} MB)\n`);
    const report = {
      devices,
      importSeconds: Number(importSeconds.toFixed(1)),
      importDevicesPerSecond: Math.round(devices / importSeconds),
      exportSeconds: Number(exportSeconds.toFixed(1)),
      exportDevicesPerSecond: Math.round(devices / exportSeconds),
      queryScanSeconds: Number(querySeconds.toFixed(1)),
      queryTwinsPerSecond: Math.round(scanned / querySeconds),
      emulatorPeakRssMb: peak,
      restartSeconds: Number(restartSeconds.toFixed(1)),
      devicesAfterRestart: afterRestart,
      restartPeakRssMb: peakRssMb(restarted.pid),
      emulatorMaxSampledRssMb: maxSampled,
      underTwoGb: peak < 2048,
    };
    process.stdout.write(JSON.stringify(report) + "\n");
    if (!report.underTwoGb) process.exitCode = 1;
  } finally {
    await stopProcess(emulator.pid);
    await stopProcess(azurite.pid);
    if (!process.argv.includes("--keep")) fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.message ?? String(err)}\n`);
  process.exitCode = 1;
});
