/**
 * DeviceMigration's pure parts: field-level check failures (one per bad field, never echoing a
 * secret), defaults, and the diff rules (host change = replace, syncGeneration/filter = update).
 */
import { describe, expect, it } from "vitest";
import { check, diff, stagingAccountUrlOf, validateDeviceMigrationInputs } from "../../components/devices/provider-impl";
import { containsSecret } from "../../components/secrets";

const HUB_KEY = Buffer.alloc(32, 7).toString("base64");
const ACCOUNT_KEY = Buffer.alloc(64, 3).toString("base64");
const good = {
  sourceHubHostName: "orig.azure-devices.net",
  sourceConnectionString: `HostName=orig.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${HUB_KEY}`,
  cloneHubHostName: "clone.azure-devices.net",
  cloneConnectionString: `HostName=clone.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${HUB_KEY}`,
  stagingConnectionString: `DefaultEndpointsProtocol=https;AccountName=stagingacct;AccountKey=${ACCOUNT_KEY};EndpointSuffix=core.windows.net`,
};

describe("DeviceMigration check", () => {
  it("accepts good inputs and fills the defaults", async () => {
    const r = await check({}, { ...good });
    expect(r.failures).toEqual([]);
    expect(r.inputs).toMatchObject({
      stagingContainerName: "device-migration",
      storageAuthenticationType: "keyBased",
      importMode: "createOrUpdate",
      includeConfigurations: true,
      syncGeneration: 0,
      deleteMissing: false,
      deleteDevicesOnDestroy: false,
      timeoutMinutes: 240, // the stack default (devices.timeoutMinutes): inside a hosted CI job's 6 h
    });
  });

  it("names each bad field once, with the fix", () => {
    const findings = validateDeviceMigrationInputs({
      sourceHubHostName: "https://orig.azure-devices.net",
      cloneHubHostName: "",
      sourceConnectionString: "HostName=orig.azure-devices.net;DeviceId=d1;SharedAccessKey=" + HUB_KEY,
      stagingConnectionString: "AccountName=x;SharedAccessSignature=sv=2020&sig=abc",
      stagingContainerName: "Bad_Name",
      importMode: "update",
      storageAuthenticationType: "sas",
      filter: { deviceIds: [], query: " ", extra: 1 },
      syncGeneration: -1,
      timeoutMinutes: 0,
      deleteMissing: "yes",
    });
    // Exactly these findings, in this order, each with its fix (nothing extra, nothing missing).
    expect(findings).toEqual([
      { field: "sourceHubHostName", message: '"https://orig.azure-devices.net" is not a host name; give only <hub>.azure-devices.net (no scheme, port or path)' },
      { field: "cloneHubHostName", message: "is required: the hub's host name, e.g. myhub.azure-devices.net" },
      { field: "sourceConnectionString", message: "is not an IoT hub connection string (it needs HostName, SharedAccessKeyName and SharedAccessKey); copy it from the hub's shared access policies" },
      { field: "storageAuthenticationType", message: '"sas" is not supported; use keyBased or identityBased' },
      { field: "stagingContainerName", message: "must be 3-63 lowercase letters, digits or single hyphens, starting and ending with a letter or digit" },
      { field: "importMode", message: '"update" is not supported; use createOrUpdate (default) or create' },
      { field: "filter.extra", message: "is not a filter option; use deviceIds or query" },
      { field: "filter.deviceIds", message: "must be a non-empty list of device ids (omit it to copy every device)" },
      { field: "filter.query", message: "must be a non-empty condition, e.g. tags.env = 'prod' AND status = 'enabled'" },
      { field: "deleteMissing", message: "must be true or false" },
      { field: "syncGeneration", message: "must be a whole number ≥ 0; increase it to run a delta sync" },
      { field: "timeoutMinutes", message: "must be a whole number of minutes between 1 and 10080 (a week)" },
    ]);
    for (const f of findings) {
      expect(containsSecret(f.message)).toBe(false);
      expect(f.message).not.toContain(HUB_KEY);
      expect(f.message).not.toContain(ACCOUNT_KEY);
    }
  });

  it("rejects a connection string for another hub without printing it", () => {
    const f = validateDeviceMigrationInputs({ ...good, cloneConnectionString: good.sourceConnectionString });
    expect(f).toHaveLength(1);
    expect(f[0].field).toBe("cloneConnectionString");
    expect(f[0].message).toContain("orig.azure-devices.net");
    expect(f[0].message).not.toContain(HUB_KEY);
  });

  it("refuses the same hub as source and clone, and a keyBased run without staging key", () => {
    const f = validateDeviceMigrationInputs({ sourceHubHostName: "a.azure-devices.net", cloneHubHostName: "A.azure-devices.net" });
    expect(f.map((x) => x.field).sort()).toEqual(["cloneHubHostName", "stagingConnectionString"]);
  });

  it("lets identityBased run with an account URL and no key", () => {
    const f = validateDeviceMigrationInputs({
      sourceHubHostName: "a.azure-devices.net",
      cloneHubHostName: "b.azure-devices.net",
      storageAuthenticationType: "identityBased",
      stagingAccountUrl: "https://acct.blob.core.windows.net",
    });
    expect(f).toEqual([]);
  });

  it("rejects a syncGeneration that goes down", () => {
    const f = validateDeviceMigrationInputs({ ...good, syncGeneration: 1 }, { syncGeneration: 2 });
    expect(f).toEqual([{ field: "syncGeneration", message: expect.stringContaining("set it to 3") }]);
  });

  it("skips values unknown during preview", () => {
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const f = validateDeviceMigrationInputs({ ...good, cloneHubHostName: unknown, cloneConnectionString: unknown, stagingConnectionString: unknown });
    expect(f).toEqual([]);
  });

  it("derives the (non-secret) staging account URL", () => {
    expect(stagingAccountUrlOf(good.stagingConnectionString)).toBe("https://stagingacct.blob.core.windows.net");
    expect(stagingAccountUrlOf(`DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`)).toBe(
      "http://127.0.0.1:10000/devstoreaccount1",
    );
  });
});

describe("DeviceMigration diff", () => {
  const olds = {
    sourceHubHostName: "orig.azure-devices.net", cloneHubHostName: "clone.azure-devices.net", stagingContainerName: "device-migration",
    storageAuthenticationType: "keyBased", importMode: "createOrUpdate", includeConfigurations: true, syncGeneration: 0,
    deleteMissing: false, deleteDevicesOnDestroy: false, timeoutMinutes: 240, succeeded: true, runId: "dm-clone-1",
  };
  const news = { ...good };

  it("no change when only defaults and secrets are (re)given", async () => {
    expect(await diff("dm-clone-1", olds, { ...news, cloneConnectionString: good.cloneConnectionString.replace(HUB_KEY, "rotated") })).toEqual({
      changes: false, replaces: [], deleteBeforeReplace: false,
    });
  });
  it("syncGeneration and filter changes are updates", async () => {
    expect(await diff("x", olds, { ...news, syncGeneration: 1 })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(await diff("x", olds, { ...news, filter: { query: "tags.env = 'prod'" } })).toMatchObject({ changes: true, replaces: [] });
  });
  it("host name changes replace (delete first)", async () => {
    expect(await diff("x", olds, { ...news, cloneHubHostName: "clone2.azure-devices.net" })).toEqual({
      changes: true, replaces: ["cloneHubHostName"], deleteBeforeReplace: true,
    });
  });
  it("an unfinished run is resumed by the next update", async () => {
    expect((await diff("x", { ...olds, succeeded: false }, news)).changes).toBe(true);
  });
});
