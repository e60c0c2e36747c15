/**
 * Bad inputs against the local hub: each gives ONE clear UserError line naming the field and the
 * fix, with no key, SAS or connection string in it, and leaves no blob holding a key behind.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { blobServiceClient, createTestHub, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";
import { copyDevices, deleteDevices, type CopyOptions } from "../../components/devices";
import { UserError } from "../../components/errors";
import { containsSecret } from "../../components/secrets";
import { copyOptions, logSink, seedEveryKind, uniqueContainer } from "./engine-fixtures";
import { keysOf, leakedLiterals } from "../support/leaks";

async function userError(run: Promise<unknown>): Promise<UserError> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  const e = err as UserError;
  expect(e.message.split("\n")).toHaveLength(1);
  expect(containsSecret(e.message), e.message).toBe(false);
  expect(e.message).not.toMatch(/SharedAccessKey=|AccountKey=|sig=/);
  // The literal keys this file uses, whatever form redact() would miss.
  expect(leakedLiterals(e.message, literals)).toEqual([]);
  return e;
}

/** Every key this file puts in a connection string: the hubs' (added when created), the staging account's, the wrong ones. */
const literals: string[] = [...keysOf(stagingConnectionString()), ...[7, 9].map((n) => Buffer.alloc(32, n).toString("base64"))];

async function keyBlobs(container: string): Promise<string[]> {
  const names: string[] = [];
  const client = blobServiceClient().getContainerClient(container);
  if (!(await client.exists())) return names;
  for await (const b of client.listBlobsFlat()) {
    const text = (await client.getBlobClient(b.name).downloadToBuffer()).toString("utf8");
    if (/primaryKey/.test(text)) names.push(b.name);
  }
  return names;
}

describe("engine bad inputs", () => {
  let source: TestHub;
  let clone: TestHub;
  beforeAll(async () => {
    source = await createTestHub("err-src");
    clone = await createTestHub("err-cln");
    literals.push(...keysOf(source.connectionString, clone.connectionString));
    literals.push(...(await seedEveryKind(source)).keys);
  });

  it("wrong key on the original (401) names source.connectionString", async () => {
    const wrong = source.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 7).toString("base64")}`);
    const o = copyOptions(source, clone, uniqueContainer(), "wrong-key");
    const e = await userError(copyDevices({ ...o, source: { connectionString: wrong } }));
    expect(e.field).toBe("source.connectionString");
    expect(e.message).toMatch(/rejected the credentials.*401.*copy the policy's current connection string/);
  });

  it("wrong key on the clone names clone.connectionString", async () => {
    const wrong = clone.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 9).toString("base64")}`);
    const e = await userError(copyDevices({ ...copyOptions(source, clone, uniqueContainer(), "wrong-clone"), clone: { connectionString: wrong } }));
    expect(e.field).toBe("clone.connectionString");
  });

  it("an expired SAS staging connection string, and one with no key, name staging.connectionString", async () => {
    const base = stagingConnectionString();
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(base)?.[1] ?? "http://127.0.0.1:10000/devstoreaccount1";
    const expired = `BlobEndpoint=${blobEndpoint};SharedAccessSignature=sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2020-01-01T00:00:00Z&st=2019-01-01T00:00:00Z&spr=https,http&sig=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG%3D`;
    const o = copyOptions(source, clone, uniqueContainer(), "sas");
    const e = await userError(copyDevices({ ...o, staging: { connectionString: expired, containerName: o.staging.containerName } }));
    expect(e.field).toBe("staging.connectionString");
    expect(e.message).toMatch(/expired at 2020-01-01T00:00:00.000Z/);
    const live = expired.replace("se=2020-01-01T00:00:00Z", "se=2099-01-01T00:00:00Z");
    const e2 = await userError(copyDevices({ ...o, staging: { connectionString: live, containerName: o.staging.containerName } }));
    expect(e2.message).toMatch(/no AccountKey/);
  });

  it("malformed device lines in the export stop the run before anything is imported, and their blobs are deleted", async () => {
    const container = uniqueContainer();
    let corrupted = false;
    const o = copyOptions(source, clone, container, "malformed", {
      hooks: {
        // Just before the transform: append two broken lines to the original's export blob.
        afterCheckpoint: async (phase) => {
          if (phase !== "transform" || corrupted) return;
          const c = blobServiceClient().getContainerClient(container);
          const blob = c.getBlockBlobClient("runs/malformed/g1/source/devices.txt");
          const text = (await blob.downloadToBuffer()).toString("utf8") + '{"id":"broken-1","status":\n{"eTag":"x"}\n';
          await blob.upload(text, Buffer.byteLength(text));
          corrupted = true;
        },
      },
    });
    const e = await userError(copyDevices(o));
    expect(corrupted).toBe(true);
    expect(e.field).toBe("source");
    expect(e.message).toMatch(/^source: 2 malformed device line\(s\) in the original's export \(first: export line 20: not valid JSON, device broken-1\); nothing was imported/);
    expect(await keyBlobs(container)).toEqual([]);
  });

  it("the clone's device quota (403002) is one clear error naming clone, and the staging blobs are deleted", async () => {
    const small = await createTestHub("err-quota", { deviceQuota: 5 });
    const container = uniqueContainer();
    const e = await userError(copyDevices(copyOptions(source, small, container, "quota")));
    expect(e.field).toBe("clone");
    expect(e.message).toMatch(/403002 IotHubQuotaExceeded/);
    expect(await keyBlobs(container)).toEqual([]);
  });

  it("a missing blob to delete from names fromBlob", async () => {
    const o = copyOptions(source, clone, uniqueContainer(), "x");
    const e = await userError(deleteDevices({ connectionString: clone.connectionString }, o.staging, { fromBlob: "nope/devices.txt" }, { local: o.local }));
    expect(e.field).toBe("fromBlob");
    const e2 = await userError(deleteDevices({ connectionString: clone.connectionString }, o.staging, { importedByRun: "never-ran" }, { local: o.local }));
    expect(e2.field).toBe("importedByRun");
  });

  const bad: Array<[string, (o: CopyOptions) => CopyOptions, string]> = [
    ["runId", (o) => ({ ...o, runId: "has space" }), "runId"],
    ["importMode", (o) => ({ ...o, importMode: "update" as never }), "importMode"],
    ["same hub twice", (o) => ({ ...o, clone: o.source }), "clone"],
    ["no source", (o) => ({ ...o, source: {} }), "source"],
    ["not a hub connection string", (o) => ({ ...o, source: { connectionString: "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b" } }), "source.connectionString"],
    ["a device connection string", (o) => ({ ...o, source: { connectionString: "HostName=a.azure-devices.net;DeviceId=d;SharedAccessKey=abc=" } }), "source.connectionString"],
    ["container name", (o) => ({ ...o, staging: { ...o.staging, containerName: "Bad_Name" } }), "staging.containerName"],
    ["filter query", (o) => ({ ...o, filter: { query: "tags.x LIKE 'a%'" } }), "filter.query"],
    ["deadline", (o) => ({ ...o, deadlineMs: -1 }), "deadlineMs"],
    ["identity staging without account URL", (o) => ({ ...o, staging: { containerName: "ok-name", authentication: "identityBased" } }), "staging.accountUrl"],
  ];
  /** What a run could have created: its staging container and blobs, jobs and devices on either hub. */
  async function footprint(container: string) {
    const c = blobServiceClient().getContainerClient(container);
    const exists = /^[a-z0-9-]{3,63}$/.test(container) && (await c.exists());
    const blobs: string[] = [];
    if (exists) for await (const b of c.listBlobsFlat()) blobs.push(b.name);
    const jobs = async (hub: TestHub) => (await new Promise<unknown[]>((res, rej) => registryFor(hub).listJobs(((err: Error | null, v?: unknown[]) => (err ? rej(err) : res(v ?? []))) as never))).length;
    const devices = async (hub: TestHub) => (await registryFor(hub).list()).responseBody.length;
    return { container: exists, blobs, sourceJobs: await jobs(source), cloneJobs: await jobs(clone), cloneDevices: await devices(clone) };
  }
  for (const [name, mutate, field] of bad) {
    it(`rejects ${name} before anything is created (${field})`, async () => {
      const sink = logSink();
      const o = mutate(copyOptions(source, clone, uniqueContainer(), "bad", { log: sink.log }));
      const before = await footprint(o.staging.containerName);
      expect(before.container).toBe(false);
      const e = await userError(copyDevices(o));
      expect(e.field).toBe(field);
      expect(e.message.startsWith(`${field}: `)).toBe(true);
      // Nothing created: no staging container (nor blob), no job on either hub, no device on the clone.
      expect(await footprint(o.staging.containerName)).toEqual(before);
    });
  }
});
