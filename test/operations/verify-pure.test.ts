import { describe, expect, it } from "vitest";
import { desiredWithout, differenceSummary, verifyExitCode, type DevicesSummary } from "../../components/operations/verify";
import { cutoverExitCode, cutoverPatch, reportingQuery, validateCutover, waveLifetimeSeconds, type CutoverResult } from "../../components/operations/cutover";
import { backupBlobName, checkConfirmation } from "../../components/operations/decommission";
import { hubTarget } from "../../components/operations/hubs";

const summary = (o: Partial<DevicesSummary>): DevicesSummary => ({
  source: 10, clone: 10, sourceModules: 0, cloneModules: 0, matched: 10, missingCount: 0, extraCount: 0, differentCount: 0,
  missing: [], extra: [], different: [], configurations: { source: 0, clone: 0, missing: [], extra: [], different: [] }, ok: true, ...o,
});

describe("verify helpers (pure)", () => {
  it("desiredWithout drops twin metadata and the cutover property, and prunes what it emptied", () => {
    expect(desiredWithout({ a: 1, iotHubHostName: "x", $version: 4, $metadata: {} }, "iotHubHostName")).toEqual({ a: 1 });
    expect(desiredWithout({ conn: { hostName: "x" } }, "conn.hostName")).toEqual({});
    expect(desiredWithout({ conn: { hostName: "x", port: 1 } }, "conn.hostName")).toEqual({ conn: { port: 1 } });
    expect(JSON.stringify(desiredWithout({ b: 1, a: { d: 1, c: 2 } }, "x"))).toBe('{"a":{"c":2,"d":1},"b":1}');
    expect(desiredWithout(undefined, "x")).toEqual({});
  });

  it("differenceSummary names counts, first ids, what was not listed and configurations", () => {
    expect(differenceSummary(summary({ missingCount: 1, missing: ["a"], differentCount: 3, different: [{ id: "b", fields: ["tags"] }] }))).toBe(
      "1 missing, 0 extra, 3 different; e.g. a missing, b tags; 2 different not listed or rechecked",
    );
    expect(differenceSummary(summary({ configurations: { source: 1, clone: 0, missing: ["adm"], extra: [], different: [] } }))).toBe(
      "0 missing, 0 extra, 0 different; 1 configuration(s) differ",
    );
    expect(verifyExitCode({ ok: true })).toBe(0);
    expect(verifyExitCode({ ok: false })).toBe(2);
  });
});

describe("cutover and decommission inputs (pure)", () => {
  it("sizes a wave's job lifetime on the wave: at least an hour, twice its time at the tier's job pace (unknown tier: S1's 10/s)", () => {
    expect(waveLifetimeSeconds(0)).toBe(3600);
    expect(waveLifetimeSeconds(10_000)).toBe(3600);
    expect(waveLifetimeSeconds(1_000_000)).toBe(200_000);
    expect(waveLifetimeSeconds(1_000_000, { name: "S3" })).toBe(40_000);
  });

  const o = hubTarget("HostName=contoso-hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5", "--source-connection-string");
  const c = hubTarget("HostName=contoso-hub-neu.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5", "--clone-connection-string");

  it("builds the job patch and the reporting query", () => {
    expect(cutoverPatch("iotHubHostName", "h")).toEqual({ etag: "*", properties: { desired: { iotHubHostName: "h" } } });
    expect(cutoverPatch("conn.hostName", "h")).toEqual({ etag: "*", properties: { desired: { conn: { hostName: "h" } } } });
    expect(reportingQuery("tags.wave = 1", "iotHubHostName", "h")).toBe("SELECT * FROM devices WHERE (tags.wave = 1) AND properties.reported.iotHubHostName = 'h'");
  });

  it("rejects bad inputs with the option named", () => {
    expect(() => validateCutover({ original: o, clone: c, property: "bad property" })).toThrow(/^--property: /);
    expect(() => validateCutover({ original: o, clone: c, query: "  " })).toThrow(/^--query: is empty/);
    expect(() => validateCutover({ original: o, clone: c, query: "SELECT * FROM devices WHERE x = 1" })).toThrow(/^--query: takes only the WHERE condition/);
    expect(() => validateCutover({ original: o, clone: o })).toThrow(/^--clone-connection-string: the original and the clone are the same hub/);
    expect(() => hubTarget("HostName=x;DeviceId=d;SharedAccessKeyName=k;SharedAccessKey=v", "--f")).toThrow(/^--f: is a device connection string/);
    expect(() => hubTarget(undefined, "--f")).toThrow(/^--f: is required/);
  });

  it("decommission's confirmation is exact and the backup name is stable", () => {
    expect(() => checkConfirmation(o, undefined)).toThrow(/nothing done: decommission deletes every device of contoso-hub; to proceed pass --confirm contoso-hub/);
    expect(() => checkConfirmation(o, "contoso-hub ")).toThrow(/is not the original hub's name/);
    expect(() => checkConfirmation(o, "contoso-hub")).not.toThrow();
    expect(backupBlobName("contoso-hub", new Date("2026-01-02T03:04:05.678Z"))).toBe("backups/contoso-hub-2026-01-02T03-04-05-678Z/devices.txt");
  });

  it("a wave's exit code counts its pin job: a device the pin missed can bounce back", () => {
    const job = { status: "completed", targeted: 4, updated: 4, failed: 0 };
    const r = (o: Partial<CutoverResult>): CutoverResult => ({
      direction: "cutover", jobHub: "o", jobId: "j", condition: "c", property: "p", value: "v", pending: 0, ...job,
      pin: { jobHub: "c", jobId: "pin", ...job }, ...o,
    });
    expect(cutoverExitCode(r({}))).toBe(0);
    expect(cutoverExitCode(r({ failed: 1, updated: 3 }))).toBe(1);
    expect(cutoverExitCode(r({ status: "failed" }))).toBe(1);
    expect(cutoverExitCode(r({ pin: { jobHub: "c", jobId: "pin", ...job, failed: 1, updated: 3 } }))).toBe(1);
    expect(cutoverExitCode(r({ pin: { jobHub: "c", jobId: "pin", ...job, status: "failed" } }))).toBe(1);
    expect(cutoverExitCode(r({ status: "cancelled" }))).toBe(1);
  });
});
