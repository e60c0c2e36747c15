/**
 * The small things that would trip a user (issue 14, item 4), each on its own: an empty wave, an
 * unquoted value, the restore command as printed, a policy name the hub does not know, and
 * progress that does not sit at 0%.
 */
import { randomBytes } from "crypto";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { copyDevices } from "../../components/devices";
import { guardedCutover, unquotedValue, validateCutover, waveStatus } from "../../components/operations/cutover";
import { restoreCommand } from "../../components/operations/decommission";
import { hubTarget, type HubTarget } from "../../components/operations/hubs";
import { ProgressView, startedLine } from "../../scripts/commands/devices";
import { createTestHub, localEndpoints, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";

const poll = { min: 20, max: 100 };

describe("unquoted values in --query (pure)", () => {
  const hubs = { original: hubTarget("HostName=a.azure-devices.net;SharedAccessKeyName=x;SharedAccessKey=eA==", "o"), clone: hubTarget("HostName=b.azure-devices.net;SharedAccessKeyName=x;SharedAccessKey=eA==", "c") };
  it("names the bare word and shows the quoted condition", () => {
    expect(() => validateCutover({ ...hubs, query: "tags.building = north" })).toThrow(
      `--query: compares with north, which is not quoted: quote the value and the whole condition, e.g. --query "tags.building = 'north'"`,
    );
    expect(unquotedValue("tags.wave = 1 AND status != disabled")).toEqual({ path: "status", op: "!=", value: "disabled" });
  });
  it("leaves alone quoted strings, numbers, booleans, null and property comparisons", () => {
    for (const q of ["tags.building = 'north'", "tags.wave = 1", "tags.ok = true", "tags.x = null", "status = 'enabled' OR status = 'disabled'", "properties.reported.v = properties.desired.v", "tags.name = 'a = b'", "deviceId IN ['x', 'y']"])
      expect(unquotedValue(q), q).toBeUndefined();
  });
});

describe("the restore command decommission prints runs as printed", () => {
  const r = { hub: "contoso", backup: { account: "acct", container: "hubclone-staging", blob: "backups/contoso-x/devices.txt", devices: 1, modules: 0, configurations: 0, jobId: "j" } };
  it("with --local and a hub by name: every flag, no environment needed", () => {
    expect(restoreCommand(r, { local: true, sourceHub: "contoso" })).toBe(
      "npm run hubclone -- --local decommission --restore backups/contoso-x/devices.txt --staging-container hubclone-staging --source-hub contoso --confirm contoso",
    );
  });
  it("against Azure: the secrets are named as the environment variables to set, never printed", () => {
    expect(restoreCommand(r, {})).toBe(
      "HUBCLONE_SOURCE_CONNECTION_STRING=… HUBCLONE_STAGING_CONNECTION_STRING=… npm run hubclone -- decommission --restore backups/contoso-x/devices.txt --staging-container hubclone-staging --confirm contoso" +
        "   (set HUBCLONE_SOURCE_CONNECTION_STRING and HUBCLONE_STAGING_CONNECTION_STRING to the original's and the staging account's connection strings, or pass them as flags)",
    );
    expect(restoreCommand(r, { local: true, sourceHub: "contoso", stagingFromFlag: true })).toMatch(/^HUBCLONE_STAGING_CONNECTION_STRING=… npm run hubclone -- --local decommission/);
  });
});

describe("progress that the service reports at 0% until the end", () => {
  afterEach(() => vi.restoreAllMocks());
  it("is one 'started' line per step, not a line (or bar) stuck at 0%", () => {
    expect(startedLine("devices: import 0% (0/1,300)")).toBe("devices: import started (1,300 devices)");
    expect(startedLine("devices: export 0%")).toBe("devices: export started");
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => (written.push(String(s)), true));
    for (const tty of [false, true]) {
      written.length = 0;
      const view = new ProgressView(false, tty);
      for (let i = 0; i < 5; i++) view.update({ phase: "import", percent: 0, done: 0, total: 13, unit: "devices", message: "devices: import 0% (0/13)" });
      view.stop();
      expect(written, `tty ${tty}`).toEqual(["devices: import started (13 devices)\n"]);
    }
  });
});

describe("on the local hub", () => {
  let original: TestHub;
  let clone: TestHub;
  let o: HubTarget;
  let c: HubTarget;
  beforeAll(async () => {
    original = await createTestHub("st-orig");
    clone = await createTestHub("st-clone");
    for (let i = 0; i < 2; i++) {
      await registryFor(original).create({ deviceId: `s-${i}`, status: "enabled" } as never);
      await registryFor(original).updateTwin(`s-${i}`, { tags: { building: "north" } }, "*");
    }
    o = hubTarget(original.connectionString, "o");
    c = hubTarget(clone.connectionString, "c");
    const copy = await copyDevices({ source: { connectionString: original.connectionString }, clone: { connectionString: clone.connectionString }, staging: { connectionString: stagingConnectionString(), containerName: `st-${randomBytes(5).toString("hex")}` }, runId: "st", local: localEndpoints(), pollIntervalMs: poll });
    expect(copy.failed).toBe(0);
  });

  it("a wave whose query selects no device is refused, also with --force, unless --allow-empty", async () => {
    const base = { original: o, clone: c, local: localEndpoints(), query: "tags.building = 'south'", pollIntervalMs: poll };
    const message = `--query: no device matches "tags.building = 'south'" on ${original.name}: check the query (tag names, values, quotes); nothing was scheduled. Pass --allow-empty to schedule the wave anyway`;
    await expect(guardedCutover({ ...base, force: true })).rejects.toThrow(message);
    await expect(guardedCutover({ ...base, force: true, rollback: true })).rejects.toThrow(/^--query: no device matches .* on st-clone-/);
    expect(((await registryFor(original).getTwin("s-0")).responseBody as unknown as { properties: { desired: Record<string, unknown> } }).properties.desired.iotHubHostName).toBeUndefined();
    const empty = await guardedCutover({ ...base, force: true, allowEmpty: true });
    expect(empty.result).toMatchObject({ status: "completed", targeted: 0, updated: 0 });
  });

  it("a connection string naming a policy the hub does not have says so", async () => {
    const wrong = hubTarget(original.connectionString.replace(/SharedAccessKeyName=[^;]+/, "SharedAccessKeyName=iothubowners"), "--source-connection-string");
    await expect(waveStatus({ original: wrong, clone: c, local: localEndpoints(), query: "tags.building = 'north'" })).rejects.toThrow(
      `--source-connection-string: the hub ${original.hostName} has no shared access policy named 'iothubowners' (the service says so): fix SharedAccessKeyName in the connection string`,
    );
    // the device engine the same way
    await expect(
      copyDevices({
        source: { connectionString: wrong.connectionString },
        clone: { connectionString: clone.connectionString },
        staging: { connectionString: stagingConnectionString(), containerName: `st-${randomBytes(5).toString("hex")}` },
        runId: "st-policy",
        local: localEndpoints(),
        pollIntervalMs: poll,
      }),
    ).rejects.toThrow(`source.connectionString: the hub ${original.hostName} has no shared access policy named 'iothubowners'`);
  });
});
