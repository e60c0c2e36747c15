/**
 * Every reader of export blobs accepts "\r\n" as well as "\n" (issue 15 item 4: a Microsoft
 * client's import/export test splits the service's export on "\r\n"): the transform, the verifier,
 * the configurations reader, the rehearsal's device-file loader and a decommission backup restored
 * through the engine, each fed CRLF input.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { exportDevices } from "../../components/devices";
import { LineSplitter } from "../../components/devices/staging";
import { transformBatch } from "../../components/devices/transform-batch";
import { runRestore } from "../../components/operations/decommission";
import { hubTarget } from "../../components/operations/hubs";
import { fileLines } from "../../scripts/rehearse";
import { blobServiceClient, createTestHub, localEndpoints, stagingConnectionString } from "../support/local-hub";
import { copiedView, seedEveryKind, uniqueContainer } from "./engine-fixtures";

const lines = [
  JSON.stringify({ id: "d-1", status: "enabled", authentication: { type: "sas", symmetricKey: { primaryKey: "a", secondaryKey: "b" } }, tags: { a: 1 } }),
  JSON.stringify({ id: "d-2", status: "disabled", statusReason: "x", properties: { desired: { r: 1 } } }),
  JSON.stringify({ id: "gw", moduleId: "m", properties: { desired: {} } }),
];

describe("line endings: CRLF and LF read alike", () => {
  it("the transform gives the same import lines, manifest and digests for CRLF and LF input", () => {
    const view = (text: string) => {
      const b = transformBatch(Buffer.from(text), "createOrUpdate");
      return { kinds: [...b.kinds], bytes: Buffer.from(b.bytes).toString("utf8"), hashes: [...b.hashes], errors: b.errors };
    };
    const lf = view(lines.join("\n") + "\n");
    expect(lf.kinds).toHaveLength(3);
    expect(view(lines.join("\r\n") + "\r\n")).toEqual(lf);
    expect(view(lines.join("\r\n"))).toEqual(lf); // no final line end
  });

  it("the line splitter of every blob reader drops the CR, also when a chunk ends between CR and LF", () => {
    const text = Buffer.from(lines.join("\r\n") + "\r\n");
    for (let cut = 1; cut < text.length; cut += 7) {
      const s = new LineSplitter();
      const got = [...s.push(text.subarray(0, cut)), ...s.push(text.subarray(cut)), ...s.end()];
      expect(got, `cut at ${cut}`).toEqual(lines);
    }
  });

  it("the rehearsal's device-file loader reads a CRLF file", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "crlf-")), "devices.jsonl");
    fs.writeFileSync(file, lines.join("\r\n") + "\r\n\r\n");
    const got: string[] = [];
    for await (const l of fileLines(file)) got.push(l);
    expect(got).toEqual(lines);
  });

  it("a backup in the other line ending than the hub's export (devices and configurations) restores through the engine and verifies", async () => {
    const source = await createTestHub("crlf-src");
    const target = await createTestHub("crlf-dst");
    await seedEveryKind(source);
    const container = uniqueContainer();
    const staging = { connectionString: stagingConnectionString(), containerName: container };
    const local = localEndpoints();
    const exp = await exportDevices({ connectionString: source.connectionString }, staging, { blobName: "exports/src/devices.txt", includeConfigurations: true, local, pollIntervalMs: { min: 30, max: 200 } });
    expect(exp.configurations).toBeGreaterThan(0);
    // The local hub writes CRLF, as the service does (the client's test splits on "\r\n"); the backup gets LF,
    // so the restore reads one ending and the verification the other.
    const c = blobServiceClient().getContainerClient(container);
    for (const name of ["devices.txt", "configurations.txt"]) {
      const text = (await c.getBlobClient(`exports/src/${name}`).downloadToBuffer()).toString("utf8");
      expect(text.split("\n").slice(0, -1).every((l) => l.endsWith("\r"))).toBe(true);
      const lf = text.replace(/\r\n/g, "\n");
      await c.getBlockBlobClient(`backups/crlf/${name}`).upload(lf, Buffer.byteLength(lf));
    }
    const t = hubTarget(target.connectionString, "--original-connection-string");
    const restored = await runRestore({ original: t, confirm: t.name, staging, backupBlob: "backups/crlf/devices.txt", local, pollIntervalMs: { min: 30, max: 200 } });
    expect(restored).toMatchObject({ failed: 0, mismatchCount: 0, exported: exp.devices });
    expect(restored.configurations).toMatchObject({ exported: exp.configurations, failed: 0 });
    expect(await copiedView(target)).toEqual(await copiedView(source));
  });
});
