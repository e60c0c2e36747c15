import { describe, expect, it } from "vitest";
import { validateCopyOptions } from "../../components/devices/engine";
import type { CopyOptions } from "../../components/devices/types";

const base: CopyOptions = {
  source: { connectionString: "HostName=a.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=eA==" },
  clone: { connectionString: "HostName=b.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=eA==" },
  staging: { connectionString: "UseDevelopmentStorage=true", containerName: "staging" },
  runId: "run-1",
};

describe("validateCopyOptions: copying from a backup blob (decommission --restore)", () => {
  it("needs no source hub, only the backup's blob", () => {
    expect(() => validateCopyOptions({ ...base, source: undefined as never, fromBackup: { devicesBlob: "backups/h-1/devices.txt" } })).not.toThrow();
    expect(() => validateCopyOptions({ ...base, source: undefined as never })).toThrow(/^source: give the original hub/);
  });
  it("names the field of a bad blob name, and calls the hub restored into the target", () => {
    expect(() => validateCopyOptions({ ...base, fromBackup: { devicesBlob: "" } })).toThrow(/^fromBackup\.devicesBlob: must name the backup's devices blob/);
    expect(() => validateCopyOptions({ ...base, fromBackup: { devicesBlob: "a b.txt" } })).toThrow(/^fromBackup\.devicesBlob: /);
    expect(() => validateCopyOptions({ ...base, fromBackup: { devicesBlob: "d.txt", configurationsBlob: "c d.txt" } })).toThrow(/^fromBackup\.configurationsBlob: /);
    expect(() => validateCopyOptions({ ...base, clone: undefined as never, fromBackup: { devicesBlob: "d.txt" } })).toThrow(/^target: give the target hub's connectionString/);
  });
});
