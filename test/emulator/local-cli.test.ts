/**
 * `npm run local -- up | hub create | down` in a scratch folder: the endpoints file has the shape
 * the issue fixes, the product helper reads it, and the real SDK reaches the hubs through it.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "azure-iothub";
import { readLocalEndpoints, useLocalHub } from "../../components/devices/local-hub";

const script = path.resolve(__dirname, "..", "..", "scripts", "local.ts");

function local(cwd: string, ...args: string[]): { stdout: string; status: number; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, ["-r", require.resolve("tsx/cjs"), script, ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
    return { stdout, status: 0, stderr: "" };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; status: number };
    return { stdout: e.stdout, stderr: e.stderr, status: e.status };
  }
}

describe("npm run local", () => {
  let cwd: string;

  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), "iothub-local-cli-"));
  });

  afterAll(() => {
    local(cwd, "down");
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("says how to start the hub when it is not running", () => {
    const res = local(cwd, "hub", "create", "early");
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe('error: the local hub is not running: start it with "npm run local -- up"');
    expect(() => readLocalEndpoints(path.join(cwd, ".local", "endpoints.json"))).toThrow(/npm run local -- up/);
  });

  it("starts in the background, creates hubs, writes endpoints.json and prints them masked", async () => {
    const up = local(cwd, "up", "--hubs", "cli-src,cli-dst", "--json");
    expect(up.status).toBe(0);
    const file = path.join(cwd, ".local", "endpoints.json");
    const endpoints = readLocalEndpoints(file);
    expect(Object.keys(endpoints).sort()).toEqual(["iothub", "storage"]);
    expect(Object.keys(endpoints.iothub).sort()).toEqual(["caFile", "hubs", "port"]);
    expect(path.isAbsolute(endpoints.iothub.caFile)).toBe(true);
    expect(endpoints.storage.connectionString).toMatch(/^DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;/);
    expect(endpoints.iothub.hubs["cli-src"]).toEqual({
      hostName: "cli-src.azure-devices.net",
      connectionString: expect.stringMatching(/^HostName=cli-src\.azure-devices\.net;SharedAccessKeyName=iothubowner;SharedAccessKey=[A-Za-z0-9+/=]{44}$/),
    });

    const created = local(cwd, "hub", "create", "cli-extra", "--sku", "S2", "--units", "2");
    expect(created.status).toBe(0);
    const after = readLocalEndpoints(file);
    expect(Object.keys(after.iothub.hubs).sort()).toEqual(["cli-dst", "cli-extra", "cli-src"]);
    for (const hub of Object.values(endpoints.iothub.hubs)) expect(up.stdout).not.toContain(/SharedAccessKey=([^;]+)/.exec(hub.connectionString)![1]);
    // Printed with the keys masked and the coordinates kept (the real keys are only in the file).
    expect(up.stdout).toContain(`"connectionString": "HostName=cli-src.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=****"`);
    expect(up.stdout).toMatch(/"connectionString": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=\*\*\*\*;BlobEndpoint=http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1;?"/);
    const registry = useLocalHub(Registry.fromConnectionString(after.iothub.hubs["cli-extra"].connectionString), after);
    await registry.create({ deviceId: "via-endpoints-file" });
    expect((await registry.getRegistryStatistics()).responseBody.totalDeviceCount).toBe(1);

    // A second `up` reuses the running processes and keeps the hubs.
    expect(local(cwd, "up").status).toBe(0);
    expect(readLocalEndpoints(file).iothub.port).toBe(after.iothub.port);
    // `up --profile azure`: the hubs play the Azure-strict rules (here: a module configuration must target devices.modules).
    expect(local(cwd, "up", "--hubs", "cli-strict", "--profile", "azure", "--sku", "S2", "--time-scale", "10").status).toBe(0);
    const strictFile = readLocalEndpoints(file);
    const moduleConfig = { id: "m1", content: { moduleContent: { "properties.desired.x": 1 } }, targetCondition: "tags.a='b'" };
    const strict = useLocalHub(Registry.fromConnectionString(strictFile.iothub.hubs["cli-strict"].connectionString), strictFile);
    await expect(strict.addConfiguration(moduleConfig as never)).rejects.toMatchObject({ response: { statusCode: 400 } });
    const forgiving = useLocalHub(Registry.fromConnectionString(strictFile.iothub.hubs["cli-extra"].connectionString), strictFile);
    await forgiving.addConfiguration(moduleConfig as never);
    const badProfile = local(cwd, "up", "--profile", "azur");
    expect(badProfile.status).toBe(1);
    expect(badProfile.stderr.trim()).toMatch(/^error: --profile: --profile 'azur' must be azure/);

    const bad = local(cwd, "hub", "configure", "cli-extra", "--job-speed", "fast");
    expect(bad.stderr.trim()).toBe("error: --job-speed: --job-speed 'fast' must be a positive number");
  });

  it("stops both processes and removes the endpoints file", () => {
    const pid = Number(fs.readFileSync(path.join(cwd, ".local", "emulator", "emulator.pid"), "utf8"));
    const down = local(cwd, "down");
    expect(down.stdout.trim()).toBe("stopped emulator and azurite");
    expect(fs.existsSync(path.join(cwd, ".local", "endpoints.json"))).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
