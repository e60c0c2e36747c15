/**
 * The hub's child resources are registered one after another (IoT Hub answers 409 to concurrent
 * operations on one hub): each consumer group and certificate depends on the one before it, the
 * first on the hub. In-process under Pulumi's mocks, reading the dependencies each registration
 * request carries to the engine (what `pulumi up` orders by).
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parseCloneConfig } from "../../components/config";

const root = path.resolve(__dirname, "..", "..");

interface Registration {
  type: string;
  name: string;
  dependencies: string[];
}

describe("child resources of the hub are chained with dependsOn", () => {
  const regs: Registration[] = [];
  beforeAll(async () => {
    await pulumi.runtime.setMocks(
      {
        newResource: (a) => ({ id: `${a.name}-id`, state: { ...a.inputs, name: a.inputs.resourceName ?? a.inputs.name ?? a.name } }),
        call: () => ({ value: [], keys: [], primaryConnectionString: "x" }),
      },
      "iothub-clone",
      "order",
      false,
    );
    const monitor = pulumi.runtime.getMonitor() as any;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, cb: any) => {
      regs.push({ type: req.getType(), name: req.getName(), dependencies: req.getDependenciesList() });
      return register(req, cb);
    };
    const { HubClone } = await import("../../components/clone/hub-clone");
    const config = parseCloneConfig({
      source: { template: "test/fixtures/clone/first-contact-export.json", resourceGroup: "plant-rg", subscriptionId: "00000000-0000-0000-0000-000000000001" },
      clone: { resourceGroup: "plant-clone-rg", location: "westus2", fileUpload: false },
      devices: { enabled: false },
    });
    new HubClone("clone", { config, baseDir: root });
    const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
    await settings.waitForRPCs();
  });

  it("hub → dashboard → analytics → plant-root-ca → plant-line-ca", () => {
    const urnOf = (r: Registration) => `urn:pulumi:order::iothub-clone::iothub-clone:index:HubClone$${r.type}::${r.name}`;
    const hub = regs.find((r) => r.type === "azure-native:iothub:IotHubResource")!;
    const children = regs.filter((r) => r.type === "azure-native:iothub:IotHubResourceEventHubConsumerGroup" || r.type === "azure-native:iothub:Certificate");
    expect(children.map((c) => c.name)).toEqual([
      "plant-hubclone-events-dashboard",
      "plant-hubclone-events-analytics",
      "plant-hubclone-cert-plant-root-ca",
      "plant-hubclone-cert-plant-line-ca",
    ]);
    let previous = hub;
    for (const c of children) {
      expect(c.dependencies, `${c.name} waits for ${previous.name}`).toContain(urnOf(previous));
      previous = c;
    }
  });
});
