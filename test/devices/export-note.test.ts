/**
 * An export may begin with a text line for the user (keys excluded: "the credentials will be newly
 * generated"; service-behaviours.md §4). The transform skips that first line only; a text line
 * anywhere else still stops the run as malformed, before anything is imported.
 */
import { describe, expect, it } from "vitest";
import { copyDevices, exportDevices } from "../../components/devices";
import { blobServiceClient, createTestHub, localEndpoints, registryFor, stagingConnectionString } from "../support/local-hub";
import { copyOptions, uniqueContainer } from "./engine-fixtures";

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}
const NOTE = "Exported devices have their keys removed. If these devices are imported again, the credentials will be newly generated.";

describe("a note from the hub as the export's first line", () => {
  it("is skipped as the first line (with and without a filter), and is a malformed line anywhere else", async () => {
    const source = await createTestHub("note-src");
    const r = registryFor(source);
    for (let i = 0; i < 4; i++) await p((cb) => r.create({ deviceId: `n-${i}` } as never, cb as never));
    const container = uniqueContainer();
    const staging = { connectionString: stagingConnectionString(), containerName: container };
    const exp = await exportDevices({ connectionString: source.connectionString }, staging, { blobName: "exports/n/devices.txt", includeConfigurations: false, local: localEndpoints(), pollIntervalMs: { min: 30, max: 200 } });
    const c = blobServiceClient().getContainerClient(container);
    const lines = (await c.getBlobClient(exp.blobName).downloadToBuffer()).toString("utf8").trim().split("\n");
    const put = async (name: string, text: string) => c.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    await put("backups/first/devices.txt", [NOTE, ...lines].join("\n") + "\n");
    await put("backups/second/devices.txt", [lines[0], NOTE, ...lines.slice(1)].join("\n") + "\n");

    for (const [runId, filter] of [["note-all", undefined], ["note-filtered", { query: "status = 'enabled'" }]] as const) {
      const clone = await createTestHub(`${runId}-cln`);
      const logs: string[] = [];
      const result = await copyDevices({ ...copyOptions(source, clone, container, runId, { includeConfigurations: false, log: (l) => logs.push(l), filter }), fromBackup: { devicesBlob: "backups/first/devices.txt" } });
      expect(result, runId).toMatchObject({ exported: 4, imported: 4, failed: 0, mismatchCount: 0 });
      expect(logs.some((l) => l.includes("skipped the export's first line: a note from the hub"))).toBe(true);
    }

    const clone = await createTestHub("note-bad-cln");
    await expect(copyDevices({ ...copyOptions(source, clone, container, "note-bad", { includeConfigurations: false }), fromBackup: { devicesBlob: "backups/second/devices.txt" } })).rejects.toThrow(
      /^source: 1 malformed device line\(s\) in the original's export \(first: export line 2: a text line, not JSON\); nothing was imported/,
    );
    expect(await p<unknown[]>((cb) => registryFor(clone).list(cb as never))).toEqual([]);
  });
});

describe("lines without keys", () => {
  it("stop a copy from a key-less backup before anything is imported, unless new keys are explicitly allowed", async () => {
    const source = await createTestHub("kl-src");
    const r = registryFor(source);
    for (let i = 0; i < 3; i++) await p((cb) => r.create({ deviceId: `k-${i}` } as never, cb as never));
    const container = uniqueContainer();
    const staging = { connectionString: stagingConnectionString(), containerName: container };
    const exp = await exportDevices({ connectionString: source.connectionString }, staging, { blobName: "exports/kl/devices.txt", includeKeys: false, includeConfigurations: false, local: localEndpoints(), pollIntervalMs: { min: 30, max: 200 } });
    const clone = await createTestHub("kl-cln");
    const refused = copyDevices({ ...copyOptions(source, clone, container, "kl", { includeConfigurations: false }), fromBackup: { devicesBlob: exp.blobName } });
    await expect(refused).rejects.toThrow(/^fromBackup\.devicesBlob: 3 device or module line\(s\) of the backup carry no keys.*importing them makes the hub generate new keys.*set the option allowNewKeys/);
    expect(await p<unknown[]>((cb) => registryFor(clone).list(cb as never))).toEqual([]);
    // Asked for: imported, with keys of the hub's making (the verifier then reports the keys as different).
    const allowed = await copyDevices({ ...copyOptions(source, clone, container, "kl2", { includeConfigurations: false }), fromBackup: { devicesBlob: exp.blobName }, allowNewKeys: true });
    expect(allowed).toMatchObject({ imported: 3, failed: 0 });
    expect(await p<unknown[]>((cb) => registryFor(clone).list(cb as never))).toHaveLength(3);
  });
});
