/**
 * Resilience against the local hub: throttling and 503 bursts, a job failing half-way, JobQuotaExceeded,
 * and the process killed mid-export, mid-transform and mid-import (by hooks that stop the run as a
 * kill would, and once by SIGKILL on a child process), each followed by a rerun. Every case ends
 * with the clone equal to the original, no device lost or duplicated, one job per step (attached,
 * not restarted), and the original's registry identical before and after.
 */
import { spawn } from "child_process";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { blobServiceClient, configureHub, createStagingContainer, createTestHub, registryFor, type TestHub } from "../support/local-hub";
import { copyDevices, type CopyOptions, type CopyResult } from "../../components/devices";
import { copiedView, copyOptions, dumpRegistry, logSink, seedEveryKind, uniqueContainer } from "./engine-fixtures";

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

interface Job {
  jobId: string;
  type: string;
  status: string;
  inputBlobName?: string;
  outputBlobName?: string;
}
async function jobs(hub: TestHub): Promise<Job[]> {
  return p<Job[]>((cb) => registryFor(hub).listJobs(cb as never));
}

/** A source with every kind plus `extra` plain devices (so jobs take a few progress steps). */
async function sourceHub(prefix: string, extra: number): Promise<TestHub> {
  const hub = await createTestHub(prefix);
  await seedEveryKind(hub);
  const r = registryFor(hub);
  const devs = Array.from({ length: extra }, (_, i) => ({ deviceId: `bulk-${String(i).padStart(4, "0")}`, status: "enabled" }));
  for (let i = 0; i < extra; i += 100) await p((cb) => r.addDevices(devs.slice(i, i + 100) as never, cb as never));
  return hub;
}

async function expectExactCopy(source: TestHub, clone: TestHub, before: Record<string, unknown>, r: CopyResult, devices: number): Promise<void> {
  expect(r).toMatchObject({ exported: devices, failed: 0, mismatchCount: 0, verified: devices });
  expect(await copiedView(clone)).toEqual(await copiedView(source));
  expect(await dumpRegistry(source)).toEqual(before);
}

/** Jobs of one run per step: the runId is in every blob name the engine gives a job. */
function runJobs(all: Job[], runId: string, kind: "import" | "export"): Job[] {
  return all.filter((j) => j.type === kind && String(kind === "import" ? j.inputBlobName : j.outputBlobName).startsWith(`runs/${runId}/`));
}

describe("engine resilience", () => {
  let source: TestHub;
  let before: Record<string, unknown>;
  const devices = 10 + 200;

  beforeAll(async () => {
    source = await sourceHub("flt-src", 200);
    before = await dumpRegistry(source);
  });

  it("rides out 429 and 503 bursts on both hubs, honouring Retry-After", async () => {
    const clone = await createTestHub("flt-burst");
    await configureHub(source.name, { faults: [{ group: "jobs", status: 429, times: 2 }, { group: "statistics", status: 503, times: 1 }] });
    await configureHub(clone.name, { faults: [{ group: "jobs", status: 503, times: 2 }, { group: "jobs", status: 429, nth: 6, times: 1 }] });
    const sink = logSink();
    try {
      const r = await copyDevices(copyOptions(source, clone, uniqueContainer(), "burst", { log: sink.log }));
      await expectExactCopy(source, clone, before, r, devices);
    } finally {
      await configureHub(source.name, { faults: [] });
    }
    expect(sink.lines.filter((l) => /HTTP 429.*retry/.test(l)).length).toBeGreaterThanOrEqual(3);
    expect(sink.lines.filter((l) => /HTTP 503.*retry/.test(l)).length).toBeGreaterThanOrEqual(3);
  });

  for (const importMode of ["createOrUpdate", "create"] as const) {
    it(`a job that fails half-way is started again and the copy completes (importMode ${importMode})`, async () => {
      const clone = await createTestHub("flt-half", { jobDevicesPerSecond: 2000, jobFailAtProgress: 50 });
      let cleared = false;
      const sink = logSink();
      const r = await copyDevices(
        copyOptions(source, clone, uniqueContainer(), `half-${importMode}`, {
          importMode,
          log: sink.log,
          hooks: {
            // A checkpoint is written right after a job is seen failing: clear the fault there, so the retry can finish.
            afterCheckpoint: async (phase) => {
              if (cleared || phase !== "import") return;
              if ((await jobs(clone)).some((j) => j.type === "import" && j.status === "failed")) {
                await configureHub(clone.name, { jobFailAtProgress: null });
                cleared = true;
              }
            },
          },
        }),
      );
      expect(cleared).toBe(true);
      expect(sink.lines.some((l) => /import job .* failed: Injected failure at \d+%.*starting it again \(attempt 2\/3\)/.test(l))).toBe(true);
      // Under create, the retry meets the first attempt's devices: "already exists" is ours, not a failure.
      await expectExactCopy(source, clone, before, r, devices);
      const imports = runJobs(await jobs(clone), `half-${importMode}`, "import").filter((j) => j.inputBlobName?.endsWith("import/devices.txt"));
      expect(imports.map((j) => j.status).sort()).toEqual(["completed", "failed"]);
    });
  }

  it("waits for another job holding the hub's job slot (JobQuotaExceeded) instead of failing", async () => {
    const clone = await createTestHub("flt-quota", { jobDevicesPerSecond: 400 });
    // Someone else's export on the clone, running about a second.
    const other = await createStagingContainer("other");
    const r0 = registryFor(clone);
    const filler = Array.from({ length: 400 }, (_, i) => ({ deviceId: `pre-${i}`, status: "enabled" }));
    for (let i = 0; i < filler.length; i += 100) await p((cb) => r0.addDevices(filler.slice(i, i + 100) as never, cb as never));
    const foreign = await p<{ jobId: string }>((cb) => r0.exportDevicesToBlob(other.sasUri, false, cb as never));
    const sink = logSink();
    const r = await copyDevices(copyOptions(source, clone, uniqueContainer(), "quota", { log: sink.log, filter: { deviceIds: ["sas-1", "self-1", "ca-1", "none-1", "disabled-1"] }, forceOverwriteTarget: true }));
    expect(sink.lines.some((l) => l.includes(`another export job (${foreign.jobId}) holds the hub's job slot; waiting`))).toBe(true);
    expect(r).toMatchObject({ exported: 5, failed: 0, mismatchCount: 0, verified: 5 });
    expect((await jobs(clone)).find((j) => j.jobId === foreign.jobId)?.status).toBe("completed");
  });

  describe("killed mid-run, then rerun", () => {
    const cases: Array<{ name: string; hooks: (stop: () => never) => CopyOptions["hooks"]; step: "export" | "import" }> = [
      { name: "mid-export (job created, its id not yet recorded)", step: "export", hooks: (stop) => ({ afterJobCreated: (s) => (s === "sourceExport" ? stop() : undefined) }) },
      { name: "mid-export (job recorded and running)", step: "export", hooks: (stop) => ({ afterCheckpoint: (_ph, st) => (st.jobId && _ph === "export-source" ? stop() : undefined) }) },
      { name: "mid-transform (after 100 lines)", step: "import", hooks: (stop) => ({ transformHookEveryLines: 100, onTransformLines: (n) => (n === 100 ? stop() : undefined) }) },
      { name: "mid-import (job created, its id not yet recorded)", step: "import", hooks: (stop) => ({ afterJobCreated: (s) => (s === "import" ? stop() : undefined) }) },
      { name: "mid-import (job recorded and running)", step: "import", hooks: (stop) => ({ afterCheckpoint: (ph, st) => (st.jobId && ph === "import" ? stop() : undefined) }) },
      { name: "mid-re-parent", step: "import", hooks: (stop) => ({ afterJobCreated: (s) => (s === "reparent" ? stop() : undefined) }) },
    ];
    for (const [i, c] of cases.entries()) {
      it(c.name, async () => {
        const clone = await createTestHub(`kill-${i}`, { jobDevicesPerSecond: 1000 });
        const container = uniqueContainer();
        const runId = `kill-${i}`;
        let killed = false;
        const stop = (): never => {
          killed = true;
          throw new Error("killed");
        };
        await expect(copyDevices(copyOptions(source, clone, container, runId, { hooks: c.hooks(stop) }))).rejects.toThrow("killed");
        expect(killed).toBe(true);
        const r = await copyDevices(copyOptions(source, clone, container, runId));
        await expectExactCopy(source, clone, before, r, devices);
        // Attached, not restarted: one job per step of this run on each hub.
        const srcJobs = runJobs(await jobs(source), runId, "export");
        expect(srcJobs).toHaveLength(1);
        const imports = runJobs(await jobs(clone), runId, "import");
        expect(imports.map((j) => j.inputBlobName).sort()).toEqual([`runs/${runId}/g1/import/devices.txt`, `runs/${runId}/g1/reparent/devices.txt`]);
        expect(imports.every((j) => j.status === "completed")).toBe(true);
      });
    }

    it("a recorded job the hub no longer knows (history expired) is found again by its blob name or run again", async () => {
      const clone = await createTestHub("kill-gone");
      const container = uniqueContainer();
      const stop = (): never => {
        throw new Error("killed");
      };
      await expect(copyDevices(copyOptions(source, clone, container, "gone", { hooks: { afterCheckpoint: (ph, st) => (st.jobId && ph === "import" ? stop() : undefined) } }))).rejects.toThrow("killed");
      const blob = blobServiceClient().getContainerClient(container).getBlockBlobClient("runs/gone/checkpoint.json");
      const ck = JSON.parse((await blob.downloadToBuffer()).toString("utf8"));
      ck.jobs.import = "00000000-0000-0000-0000-000000000000";
      const text = JSON.stringify(ck);
      await blob.upload(text, Buffer.byteLength(text));
      const sink = logSink();
      const r = await copyDevices(copyOptions(source, clone, container, "gone", { log: sink.log }));
      expect(sink.lines.some((l) => l.includes("job 00000000-0000-0000-0000-000000000000 is unknown to the hub; starting import again"))).toBe(true);
      await expectExactCopy(source, clone, before, r, devices);
      expect(runJobs(await jobs(clone), "gone", "import").filter((j) => j.inputBlobName?.endsWith("g1/import/devices.txt"))).toHaveLength(1);
    });

    it("a rerun with other options (a new filter) drops the unfinished generation and copies with the new options", async () => {
      const clone = await createTestHub("kill-opts");
      const container = uniqueContainer();
      const stop = (): never => {
        throw new Error("killed");
      };
      await expect(copyDevices(copyOptions(source, clone, container, "opts", { filter: { deviceIds: ["sas-1"] }, hooks: { afterCheckpoint: (ph) => (ph === "import" ? stop() : undefined) } }))).rejects.toThrow("killed");
      const sink = logSink();
      const r = await copyDevices(copyOptions(source, clone, container, "opts", { log: sink.log, filter: { deviceIds: ["self-1", "ca-1"] } }));
      expect(sink.lines.some((l) => /abandoning unfinished generation 1 of run opts/.test(l))).toBe(true);
      expect(r).toMatchObject({ exported: 2, imported: 2, failed: 0, mismatchCount: 0, verified: 2 });
      const ids = (await p<Array<{ deviceId: string }>>((cb) => registryFor(clone).list(cb as never))).map((d) => d.deviceId).sort();
      expect(ids).toEqual(["ca-1", "self-1"]);
    });

    it("a real SIGKILL of the process while its import job runs", async () => {
      const clone = await createTestHub("kill-proc", { jobDevicesPerSecond: 150 });
      const container = uniqueContainer();
      const opts = copyOptions(source, clone, container, "kill-proc");
      // tsx as a loader in the same process (its CLI would fork a grandchild that SIGKILL misses).
      const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "engine-child.ts")], {
        env: { ...process.env, HUBCLONE_TEST_COPY_OPTIONS: JSON.stringify(opts) },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      const killedAt = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /import job (\S+) started \(import\)/.exec(out);
          if (m && child.exitCode === null) {
            child.kill("SIGKILL");
            resolve(m[1]);
          }
        });
        child.on("exit", () => reject(new Error(`child exited before its import started:\n${out}`)));
      });
      await new Promise((r) => child.once("exit", r));
      expect((await jobs(clone)).find((j) => j.jobId === killedAt)?.status).not.toBe("completed");
      const sink = logSink();
      const r = await copyDevices({ ...opts, log: sink.log });
      // Killed before or after its id reached the checkpoint: resumed by id, or found by its blob name.
      expect(sink.lines.some((l) => l.includes(`resuming import job ${killedAt}`) || l.includes(`attaching to import job ${killedAt}`))).toBe(true);
      // The killed run's lock lapsed by itself; the rerun waited for it rather than racing it.
      expect(sink.lines.some((l) => l.includes("holds its lock; waiting"))).toBe(true);
      await expectExactCopy(source, clone, before, r, devices);
      expect(runJobs(await jobs(clone), "kill-proc", "import").filter((j) => j.inputBlobName?.endsWith("g1/import/devices.txt"))).toHaveLength(1);
    }, 90_000);
  });
});
