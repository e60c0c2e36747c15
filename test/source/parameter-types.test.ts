/**
 * Template parameters meet the types the API wants: a string parameter holding digits where a
 * number belongs is passed on as ARM does (Microsoft's own routing tutorial template declares
 * `d2c_partitions` as a string and deploys), anything else is refused naming the parameter; an
 * `int` parameter given text is refused the way ARM's parameter validation refuses it.
 */
import { describe, expect, it } from "vitest";
import { readHub } from "../../components/source";

const template = (partitionsType: string) => ({
  $schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  contentVersion: "1.0.0.0",
  parameters: { hubName: { type: "string" }, partitions: { type: partitionsType } },
  resources: [
    {
      type: "Microsoft.Devices/IotHubs",
      apiVersion: "2023-06-30",
      name: "[parameters('hubName')]",
      location: "westus2",
      sku: { name: "S1", capacity: 1 },
      properties: { eventHubEndpoints: { events: { partitionCount: "[parameters('partitions')]", retentionTimeInDays: 1 } } },
    },
    { type: "Microsoft.Storage/storageAccounts", apiVersion: "2023-01-01", name: "[concat(parameters('hubName'), 'logs')]", location: "westus2" },
  ],
});
const read = (type: string, partitions: string) =>
  readHub(template(type), "t.json", { parameters: { values: { hubName: "plant", partitions }, secret: new Set() } });

describe("template parameter types", () => {
  it("string parameter '8' where partitionCount wants a number: 8, as ARM passes it", () => {
    expect(read("string", "8").properties.eventHubEndpoints?.events.partitionCount).toBe(8);
  });

  it("string parameter 'eight': refused naming the field and the parameter", () => {
    expect(() => read("string", "eight")).toThrow(
      "resources[0].properties.eventHubEndpoints.events.partitionCount: must be a number, got a string (in t.json); it is template parameter 'partitions': supply a value of that type with --param partitions=VALUE",
    );
  });

  it("int parameter: '8' converted, 'eight' refused naming the parameter", () => {
    expect(read("int", "8").properties.eventHubEndpoints?.events.partitionCount).toBe(8);
    expect(() => read("int", "eight")).toThrow(/parameter 'partitions' is declared int but was given 'eight' that is not a whole number: supply a whole number, e.g. --param partitions=4/);
  });

  it("the template's other resources are named in a note", () => {
    expect(read("int", "4").notes).toContain(
      "template resource Microsoft.Storage/storageAccounts 'plantlogs' (resources[1]) is not carried over by the clone: create it for the clone separately if the clone needs it",
    );
  });
});
