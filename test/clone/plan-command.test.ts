/**
 * `npm run plan` end to end: the CLI process, its exit code, its exact JSON shape, and that a
 * secret passed with --param never reaches stdout or stderr (success, table and failure paths).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";

const root = path.join(__dirname, "..", "..");
const fixtures = path.join(root, "test", "fixtures", "clone");

function hubclone(...args: string[]) {
  const r = spawnSync(process.execPath, ["--require", require.resolve("tsx/cjs"), path.join(root, "scripts", "hubclone.ts"), ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 180_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("hubclone plan", () => {
  it("--stack dev --json prints exactly resources/warnings/errors with the clone, exit 0", () => {
    const r = hubclone("plan", "--stack", "dev", "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(["resources", "warnings", "errors"]);
    expect(out.errors).toEqual([]);
    const hub = out.resources.find((x: any) => x.type === "azure-native:iothub:IotHubResource");
    expect(hub).toMatchObject({ name: "ContosoTestHub29358clone", inputs: { location: "eastus", resourceName: "ContosoTestHub29358clone" } });
    for (const res of out.resources) expect(Object.keys(res)).toEqual(["type", "name", "inputs"]);
  });

  it("the table names the clone, its changes and the warnings", () => {
    const r = hubclone("plan", "--stack", "dev");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/azure-native:iothub:IotHubResource\s+ContosoTestHub29358clone\s+ContosoTestHub29358clone\s+rg=ContosoResourcesEast location=eastus sku=S1x1 partitions=2/);
    expect(r.stdout).toContain("location: westus → eastus");
    expect(r.stdout).toContain("dropped operationsMonitoringProperties");
  });

  it("validation failure: one line per finding on stderr, no stack trace, exit 1, nothing planned", () => {
    const r = hubclone("plan", "--stack", "dev", "--partitions", "64", "--location", "mars", "--json");
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toEqual([expect.stringMatching(/^error: iothub-clone:clone\.location: 'mars'/), expect.stringMatching(/^error: iothub-clone:clone\.partitions: 64/)]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(JSON.parse(r.stdout).resources).toEqual([]);
  });

  describe("a secret passed with --param never appears in any output", () => {
    const queue = "Endpoint=sb://orders-sb.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=Zm9yLXRlc3RzLW9ubHktcXVldWU=;EntityPath=orders";
    const upload = "DefaultEndpointsProtocol=https;AccountName=secureuploads;AccountKey=Zm9yLXRlc3RzLW9ubHktdXBsb2Fk;EndpointSuffix=core.windows.net";
    const params = ["--param", `IotHubs_secure_hub_orders_connectionString=${queue}`, "--param", `IotHubs_secure_hub_connectionString=${upload}`];
    const base = ["plan", "--template", path.join(fixtures, "securestring-export.json"), "--resource-group", "rg", ...params];
    const leaks = (text: string) => ["Zm9yLXRlc3RzLW9ubHktcXVldWU=", "Zm9yLXRlc3RzLW9ubHktdXBsb2Fk"].filter((s) => text.includes(s));

    it("--json: used (endpoint key is [secret]) but not printed", () => {
      const r = hubclone(...base, "--json");
      expect(r.code).toBe(0);
      expect(leaks(r.stdout + r.stderr)).toEqual([]);
      const hub = JSON.parse(r.stdout).resources.find((x: any) => x.type === "azure-native:iothub:IotHubResource");
      expect(hub.inputs.properties.routing.endpoints.serviceBusQueues[0].connectionString).toBe("[secret]");
      expect(hub.inputs.properties.storageEndpoints.$default.connectionString).toBe("[secret]");
    });

    it("a --param value that ends up in a name (logical name, summary) is masked there too", () => {
      const hubName = "confidential-plant-hub";
      const named = [...base, "--param", `IotHubs_secure_hub_name=${hubName}`];
      const json = hubclone(...named, "--json");
      expect(json.code).toBe(0);
      const hub = JSON.parse(json.stdout).resources.find((x: any) => x.type === "azure-native:iothub:IotHubResource");
      // The name the parameter gives, masked: "[secret]" + the clone suffix. Were --param ignored,
      // the template's default "secure-hub" would name it ("secure-hubclone").
      expect(hub).toMatchObject({ name: "[secret]clone", inputs: { resourceName: "[secret]" } });
      const table = hubclone(...named);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/azure-native:iothub:IotHubResource\s+\[secret\]clone\s+\[secret\]\s/);
      expect(table.stdout + json.stdout).not.toContain("secure-hub");
      for (const out of [json.stdout + json.stderr, table.stdout + table.stderr]) expect(out).not.toContain(hubName);
    });

    it("table and failure output", () => {
      const table = hubclone(...base);
      expect(table.code).toBe(0);
      expect(leaks(table.stdout + table.stderr)).toEqual([]);
      const failed = hubclone(...base, "--location", "nowhere");
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain("iothub-clone:clone.location");
      expect(leaks(failed.stdout + failed.stderr)).toEqual([]);
    });
  });

  it("a key pasted into stack config in clear text is refused with the command that stores it as a secret", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubclone-stack-"));
    const key = Buffer.alloc(32, 7).toString("base64");
    const stack = path.join(dir, "Pulumi.plain.yaml");
    fs.writeFileSync(
      stack,
      [
        "config:",
        "  iothub-clone:source:",
        `    template: ${path.join(root, "examples", "ContosoTestHub29358-export.json")}`,
        "    resourceGroup: ContosoResources",
        "  iothub-clone:clone:",
        "    location: eastus",
        "  iothub-clone:devices:",
        "    enabled: false",
        "  iothub-clone:endpoints:",
        "    archive:",
        `      connectionString: "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=${key}"`,
        "",
      ].join("\n"),
    );
    try {
      const r = hubclone("plan", "--stack-file", stack, "--json");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("iothub-clone:endpoints.archive.connectionString: is stored in clear text");
      expect(r.stderr).toContain("pulumi config set --path --secret");
      expect(r.stdout + r.stderr).not.toContain(key);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
