import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { UserError } from "../../components/errors";
import { containsSecret } from "../../components/secrets";
import { readHub, readHubFile } from "../../components/source";

const context = { subscriptionId: "0f1e2d3c-4b5a-6978-8a9b-aabbccddeeff", resourceGroup: "rg-orig", location: "westeurope" };

/** A minimal template around one hub resource. */
function template(hub: Record<string, unknown>, parameters: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    $schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    contentVersion: "1.0.0.0",
    parameters,
    resources: [{ type: "Microsoft.Devices/IotHubs", apiVersion: "2023-06-30", name: "hub1", location: "westus", sku: { name: "S1", capacity: 1 }, ...hub }],
    ...extra,
  };
}

/** Runs the read and returns the UserError it must throw. */
function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    const err = e as UserError;
    expect(err.message.split("\n")).toHaveLength(1);
    return err;
  }
  throw new Error("expected a UserError");
}

describe("template reading from inline documents: errors name the JSON path and the fix; edge cases", () => {
  it("missing parameter in a routing endpoint connection string", () => {
    const doc = template(
      {
        properties: {
          routing: {
            endpoints: { storageContainers: [{ name: "s", containerName: "c", connectionString: "[parameters('storageConnection')]" }] },
          },
        },
      },
      { storageConnection: { type: "string" } },
    );
    const err = userError(() => readHub(doc, "t.json"));
    expect(err.field).toBe("resources[0].properties.routing.endpoints.storageContainers[0].connectionString");
    expect(err.message).toBe(
      "resources[0].properties.routing.endpoints.storageContainers[0].connectionString: template parameter 'storageConnection' has no value and no default: supply it with --param storageConnection=VALUE, a parameters file (--parameters FILE), or source.param.storageConnection in stack config (in t.json)",
    );
  });

  it("resourceGroup() without a context, in a parameter default, suggests the parameter", () => {
    const doc = template({ location: "[parameters('location')]" }, { location: { type: "string", defaultValue: "[resourceGroup().location]" } });
    const err = userError(() => readHub(doc, "t.json"));
    expect(err.field).toBe("resources[0].location");
    expect(err.message).toMatch(/--param location=VALUE/);
    expect(err.message).toMatch(/source\.subscriptionId and source\.resourceGroup/);
    expect(readHub(doc, "t.json", { context }).location).toBe("westeurope");
  });

  it("resourceGroup().location when the context has no location", () => {
    const doc = template({ location: "[parameters('location')]" }, { location: { type: "string", defaultValue: "[resourceGroup().location]" } });
    const err = userError(() => readHub(doc, "t.json", { context: { subscriptionId: context.subscriptionId, resourceGroup: "rg-orig" } }));
    expect(err.message).toMatch(/^resources\[0\]\.location: resourceGroup\(\)\.location needs the location of the original's resource group: supply --param location=VALUE/);
    expect(readHub(doc, "t.json", { context: { subscriptionId: context.subscriptionId, resourceGroup: "rg-orig" }, parameters: { values: { location: "westus2" }, secret: new Set() } }).location).toBe("westus2");
  });

  it("reference() and utcNow() in a position the hub needs", () => {
    const doc = template({ properties: { comments: "[reference('x').comment]" } });
    expect(userError(() => readHub(doc, "t.json")).message).toMatch(/^resources\[0\]\.properties\.comments: reference\(\) reads a deployed resource.*--param NAME=VALUE/);
    const now = template({ name: "[concat('hub', parameters('stamp'))]" }, { stamp: { type: "string", defaultValue: "[utcNow()]" } });
    const err = userError(() => readHub(now, "t.json"));
    expect(err.field).toBe("resources[0].name");
    expect(err.message).toMatch(/utcNow\(\) returns the deployment time.*: supply --param stamp=VALUE \(its default uses utcNow\(\)\)/);
  });

  it("but deploy-time functions elsewhere in the template do not matter", () => {
    const doc = template({}, {}, {});
    (doc.resources as unknown[]).push({
      type: "Microsoft.Devices/provisioningServices",
      apiVersion: "2021-10-15",
      name: "[concat('dps-', utcNow())]",
      properties: { iotHubs: [{ connectionString: "[reference('hub1').hostName]" }] },
    });
    expect(readHub(doc, "t.json").name).toBe("hub1");
  });

  it("circular variables are an error", () => {
    const doc = template({ name: "[variables('a')]" }, {}, { variables: { a: "[variables('b')]", b: "[variables('a')]" } });
    expect(userError(() => readHub(doc, "t.json")).message).toMatch(/^resources\[0\]\.name: variable '.*' refers to itself/);
  });

  it("several hubs without a choice; an unknown choice", () => {
    const doc = template({});
    (doc.resources as unknown[]).push({ type: "Microsoft.Devices/IotHubs", apiVersion: "2023-06-30", name: "hub2", location: "eastus", sku: { name: "S1", capacity: 1 } });
    expect(userError(() => readHub(doc, "t.json")).message).toMatch(/declares 2 IoT hubs \(hub1, hub2\): choose one with source\.name in stack config/);
    expect(userError(() => readHub(doc, "t.json", { hubName: "hub3" })).message).toMatch(/no IoT hub named 'hub3'.*hub1, hub2/);
    expect(readHub(doc, "t.json", { hubName: "HUB2" }).location).toBe("eastus");
  });

  it("a template without a hub; a hub without sku; a route without name", () => {
    expect(userError(() => readHub({ contentVersion: "1.0.0.0", resources: [{ type: "Microsoft.Storage/storageAccounts", name: "s" }] }, "t.json")).message).toMatch(
      /no Microsoft\.Devices\/IotHubs resource found in t\.json/,
    );
    const noSku = template({ sku: undefined });
    expect(userError(() => readHub(noSku, "t.json")).field).toBe("resources[0].sku");
    const badRoute = template({ properties: { routing: { routes: [{ source: "DeviceMessages", endpointNames: ["events"] }] } } });
    expect(userError(() => readHub(badRoute, "t.json")).field).toBe("resources[0].properties.routing.routes[0].name");
    const badCount = template({ properties: { eventHubEndpoints: { events: { partitionCount: "many" } } } });
    expect(userError(() => readHub(badCount, "t.json")).message).toMatch(/partitionCount: must be a number, got a string/);
  });

  it("an unsupplied SecureString parameter in a non-credential field", () => {
    const doc = template({ properties: { routing: { endpoints: { storageContainers: [{ name: "[parameters('epName')]", containerName: "c" }] } } } }, { epName: { type: "securestring" } });
    const err = userError(() => readHub(doc, "t.json"));
    expect(err.field).toBe("resources[0].properties.routing.endpoints.storageContainers[0].name");
    expect(err.message).toMatch(/SecureString parameter 'epName' has no value: supply --param epName=VALUE/);
  });

  it("no secret value ever appears in an error message", () => {
    const secret = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=dGhpcy1pcy1hLXNlY3JldC1rZXk=";
    const doc = template(
      { properties: { eventHubEndpoints: { events: { partitionCount: "[parameters('conn')]" } }, comments: "[int(parameters('conn'))]" } },
      { conn: { type: "securestring" } },
    );
    for (const d of [doc, template({ properties: { eventHubEndpoints: { events: { partitionCount: "[parameters('conn')]" } } } }, { conn: { type: "securestring" } })]) {
      const err = userError(() => readHub(d, "t.json", { parameters: { values: { conn: secret }, secret: new Set() } }));
      expect(err.message).not.toContain("dGhpcy1pcy1hLXNlY3JldC1rZXk");
      expect(containsSecret(err.message)).toBe(false);
    }
  });

  it("files: missing, not JSON (without quoting the content)", () => {
    expect(userError(() => readHubFile("/nonexistent/hub.json")).message).toMatch(/cannot read source file \/nonexistent\/hub\.json \(ENOENT\)/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubsrc-"));
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, '{\n  "connectionString": "AccountKey=c2VjcmV0"\n  oops\n}');
    const err = userError(() => readHubFile(bad));
    expect(err.message).toMatch(/is not valid JSON at line \d/);
    expect(err.message).not.toContain("c2VjcmV0");
    fs.rmSync(dir, { recursive: true });
  });

  it("a hub only in a linked template says to read that file", () => {
    const doc = {
      contentVersion: "1.0.0.0",
      resources: [{ type: "Microsoft.Resources/deployments", name: "hubModule", properties: { templateLink: { uri: "https://example.org/hub.json" } } }],
    };
    expect(userError(() => readHub(doc, "main.json")).message).toMatch(/no Microsoft\.Devices\/IotHubs resource found in main\.json; the hub may be in the linked template of resources\[0\]: read that file instead/);
  });

  it("hubs declared in a copy loop are told apart by their evaluated names", () => {
    const doc = {
      contentVersion: "1.0.0.0",
      parameters: { regions: { type: "array", defaultValue: ["westus", "eastus"] } },
      resources: [
        {
          copy: { name: "hubs", count: "[length(parameters('regions'))]" },
          type: "Microsoft.Devices/IotHubs",
          name: "[format('hub-{0}', parameters('regions')[copyIndex()])]",
          location: "[parameters('regions')[copyIndex('hubs')]]",
          sku: { name: "S1", capacity: "[add(copyIndex(), 1)]" },
        },
      ],
    };
    expect(userError(() => readHub(doc, "t.json")).message).toMatch(/declares 2 IoT hubs \(hub-westus, hub-eastus\)/);
    expect(readHub(doc, "t.json", { hubName: "hub-eastus" })).toMatchObject({ location: "eastus", sku: { capacity: 2 } });
  });

  it("property copy loops inside the hub's properties expand into arrays", () => {
    const doc = template(
      { properties: { copy: [{ name: "ipFilterRules", count: "[length(parameters('masks'))]", input: { filterName: "[concat('r', copyIndex('ipFilterRules'))]", action: "Accept", ipMask: "[parameters('masks')[copyIndex('ipFilterRules')]]" } }] } },
      { masks: { type: "array", defaultValue: ["192.0.2.1", "198.51.100.0/24"] } },
    );
    expect(readHub(doc, "t.json").properties.ipFilterRules).toEqual([
      { filterName: "r0", action: "Accept", ipMask: "192.0.2.1" },
      { filterName: "r1", action: "Accept", ipMask: "198.51.100.0/24" },
    ]);
  });

  it("a nested deployment parameter given as a Key Vault reference", () => {
    const doc = {
      contentVersion: "1.0.0.0",
      resources: [
        {
          type: "Microsoft.Resources/deployments",
          name: "inner",
          properties: {
            expressionEvaluationOptions: { scope: "inner" },
            parameters: { hubName: { reference: { keyVault: { id: "kv" }, secretName: "s" } } },
            template: {
              parameters: { hubName: { type: "string" } },
              resources: [{ type: "Microsoft.Devices/IotHubs", name: "[parameters('hubName')]", location: "westus", sku: { name: "S1", capacity: 1 } }],
            },
          },
        },
      ],
    };
    expect(userError(() => readHub(doc, "t.json")).message).toMatch(/Key Vault reference: pass the value with --param hubName=VALUE/);
  });
});

describe("a subscription id is never invented", () => {
  const doc = template({ name: "[concat('hub', uniqueString(resourceGroup().id))]" });

  it("uniqueString(resourceGroup().id) without the original's subscription names source.subscriptionId", () => {
    const err = userError(() => readHub(doc, "t.json", { context: { resourceGroup: "rg-orig" } }));
    expect(err.message).toContain("source.subscriptionId");
    expect(err.message).toContain("resources[0].name");
  });

  it("the same template reads once the subscription is given, with the name derived from it", () => {
    const a = readHub(doc, "t.json", { context });
    const b = readHub(doc, "t.json", { context: { ...context, subscriptionId: "11111111-2222-3333-4444-555555555555" } });
    expect(a.name).toMatch(/^hub[a-z0-9]{13}$/);
    expect(b.name).not.toBe(a.name);
  });

  it("resourceGroup().name alone needs no subscription", () => {
    const model = readHub(template({ name: "[concat('hub-', resourceGroup().name)]" }), "t.json", { context: { resourceGroup: "rg-orig" } });
    expect(model.name).toBe("hub-rg-orig");
  });
});
