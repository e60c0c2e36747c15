/**
 * Every template of the shared corpus either plans or fails with one actionable line per
 * problem (never a crash or a stack trace). Reads ../shared/corpus when present.
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { runPlan } from "../../components/clone/plan";

const dir = path.resolve(__dirname, "..", "..", "..", "shared", "corpus", "arm-templates");
const present = fs.existsSync(dir);
if (!present) console.log(`corpus tests skipped: ${dir} not found`);

/**
 * Per template, pinned: whether it plans as it is (and the clone's name), or the one error it gives
 * (naming the field and what to supply) and the options that make it plan. A template that
 * regresses from planning to an error, or whose error changes, fails here.
 */
type Pin = { plans: string } | { fails: RegExp | RegExp[]; with: { param?: string[]; sourceName?: string }; plans: string };
const PINNED: Record<string, Pin> = {
  "avm-bicep-registry-iot-hub-module.json": { fails: /^resources\.iotHub\.name: template parameter 'name' has no value and no default: supply it with --param name=VALUE/, with: { param: ["name=avm-hub", "skuName=S2", "skuCapacity=2"] }, plans: "avm-hubclone" },
  "azure-iot-cli-hub-state-export-blank-hub.json": { plans: "test-hubclone" },
  "docs-managed-identity-user-assigned-nested-deployment.json": { fails: /^resources\[0\]\.properties\.template\.resources\[1\]\.name: template parameter 'iotHubName' has no value and no default: supply it with --param iotHubName=VALUE/, with: { param: ["iotHubName=uami-hub"] }, plans: "uami-hubclone" },
  "docs-portal-export-2018-04-01-contosotesthub29358-readonly-props.json": { plans: "ContosoTestHub29358clone" },
  // Its file-upload container and connection string are SecureString parameters: never read as empty.
  "docs-portal-export-2021-07-01-contosohub-securestring-params.json": {
    fails: [
      /^storageEndpoints\.\$default\.containerName: SecureString parameter 'IotHubs_ContosoHub_containerName' was not supplied, .*supply it with --param IotHubs_ContosoHub_containerName=VALUE .*clone\.fileUpload: false/,
      /^storageEndpoints\.\$default\.connectionString: SecureString parameter 'IotHubs_ContosoHub_connectionString' was not supplied, .*supply it with --param IotHubs_ContosoHub_connectionString=VALUE/,
    ],
    with: { param: ["IotHubs_ContosoHub_containerName=uploads", "IotHubs_ContosoHub_connectionString=DefaultEndpointsProtocol=https;AccountName=contosouploads;AccountKey=Y29ycHVzLXRlc3Qta2V5;EndpointSuffix=core.windows.net"] },
    plans: "ContosoHubclone",
  },
  "docs-rm-template-powershell-2016-02-03-two-consumergroups-listkeys-output.json": { fails: /^resources\[0\]\.name: template parameter 'hubName' has no value and no default: supply it with --param hubName=VALUE/, with: { param: ["hubName=ps-hub"] }, plans: "ps-hubclone" },
  "industrial-iot-azuredeploy-uami-twin-lifecycle-routes-dps.json": { plans: "iothub-jea35cclone" },
  "pcs-remote-monitoring-basic-eventhub-route-twin-lifecycle-dps.json": { fails: /^resources\[8\]\.name: template parameter 'solutionName' has no value and no default: supply it with --param solutionName=VALUE/, with: { param: ["solutionName=rm1"] }, plans: "iothub-a55p3clone" },
  "quickstart-iothub-auto-route-messages-storage.json": { plans: "contosoHubtgtbc27745qk6clone" },
  "quickstart-iothub-device-provisioning-dps-linked-hub.json": { fails: /^resources\[0\]\.name: template parameter 'iotHubName' has no value and no default: supply it with --param iotHubName=VALUE/, with: { param: ["iotHubName=dps-linked-hub"] }, plans: "dps-linked-hubclone" },
  "quickstart-iothub-with-consumergroup-create.json": { fails: /^resources\[0\]\.name: template parameter 'iotHubName' has no value and no default: supply it with --param iotHubName=VALUE/, with: { param: ["iotHubName=cg-hub"] }, plans: "cg-hubclone" },
  "sdk-csharp-e2e-test-resources-uami-dps-2hubs.json": { fails: /^resources: .* declares 2 IoT hubs \(source-rg-hub, source-rg-hubfar\): choose one with source\.name in stack config \(--source-name for the plan\)$/, with: { sourceName: "source-rg-hub", param: ["StorageAccountName=e2estore", "UserAssignedManagedIdentityName=e2e-id"] }, plans: "source-rg-hubclone" },
  "sdk-csharp-routing-message-enrichments.json": { fails: /^resources\[1\]\.name: utcNow\(\) returns the deployment time, so the value is not reproducible: supply --param randomValue=VALUE/, with: { param: ["randomValue=e1"] }, plans: "ContosoTestHubMsgEne1clone" },
  "sdk-csharp-routing-tutorial-storage-sbqueue-consumergroup.json": { fails: /^resources\[3\]\.name: utcNow\(\) returns the deployment time, so the value is not reproducible: supply --param randomValue=VALUE/, with: { param: ["randomValue=t1", "d2c_partitions=4"] }, plans: "ContosoTestHubt1clone" },
};

describe.skipIf(!present)("corpus templates", () => {
  const files = present ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort() : [];

  it("has templates to plan, each pinned (a new template must say whether it plans)", () => {
    expect(files.length).toBeGreaterThan(0);
    expect(files).toEqual(Object.keys(PINNED).sort());
  });

  for (const file of files) {
    it(`${file}: plans, or fails with the pinned one-line error and plans with what it asks for`, async () => {
      const pin = PINNED[file];
      expect(pin, `${file} is not pinned`).toBeDefined();
      // The original's coordinates a user would give for an authored template.
      const options = {
        template: path.join(dir, file),
        resourceGroup: "clone-rg",
        sourceResourceGroup: "source-rg",
        sourceSubscription: "00000000-0000-0000-0000-000000000001",
        sourceLocation: "westus",
      };
      const r = await runPlan(options);
      let planned = r;
      if ("fails" in pin) {
        expect(r.resources).toEqual([]);
        expect(r.errors).toEqual((Array.isArray(pin.fails) ? pin.fails : [pin.fails]).map((f) => expect.stringMatching(f)));
        for (const e of r.errors) {
          expect(e).not.toContain("\n");
          expect(e).not.toMatch(/\bat \S+ \(/); // no stack frame
        }
        // Actionable: doing what the error says (plus the template's other required values) plans.
        planned = await runPlan({ ...options, ...pin.with });
      }
      expect(planned.errors).toEqual([]);
      const hubs = planned.resources.filter((x) => x.type === "azure-native:iothub:IotHubResource");
      expect(hubs).toHaveLength(1);
      expect(hubs[0].inputs.resourceGroupName).toBe("clone-rg");
      // A name given with --param shows as typed: only SecureString/secureObject values are masked.
      expect(hubs[0].inputs.resourceName).toBe(pin.plans);
    });
  }
});
