import { describe, expect, it } from "vitest";
import {
  cosmosAccountFromUri,
  messagingFromConnectionString,
  parseArmId,
  segment,
  storageFromConnectionString,
  storageFromUri,
} from "../../components/clone/coordinates";
import { withEntityPath } from "../../components/clone/key-lookups";

describe("endpoint coordinates from what the source kept", () => {
  it("storage: masked connection string, BlobEndpoint form, blob URI", () => {
    expect(storageFromConnectionString("DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=****;EndpointSuffix=core.chinacloudapi.cn")).toEqual({
      accountName: "acct1",
      endpointSuffix: "core.chinacloudapi.cn",
    });
    expect(storageFromConnectionString("BlobEndpoint=https://acct2.blob.core.windows.net/;SharedAccessSignature=****")).toEqual({ accountName: "acct2", endpointSuffix: "core.windows.net" });
    expect(storageFromUri("https://plantarchive.blob.core.windows.net/")).toEqual({ accountName: "plantarchive", endpointSuffix: "core.windows.net" });
    expect(storageFromConnectionString("****")).toBeUndefined();
  });

  it("Service Bus / Event Hubs: namespace (port allowed), rule and entity", () => {
    expect(messagingFromConnectionString("Endpoint=sb://fleet-eh.servicebus.windows.net:5671/;SharedAccessKeyName=iothubroutes_x;SharedAccessKey=****;EntityPath=device-lifecycle")).toEqual({
      namespace: "fleet-eh",
      ruleName: "iothubroutes_x",
      entityPath: "device-lifecycle",
    });
    expect(messagingFromConnectionString("SharedAccessKey=****")).toBeUndefined();
  });

  it("Cosmos DB account from its URI", () => {
    expect(cosmosAccountFromUri("https://fleet-cosmos.documents.azure.com:443/")).toBe("fleet-cosmos");
  });

  it("ARM ids from listKeys(...), keywords in any case", () => {
    const id = parseArmId("/subscriptions/s1/resourcegroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns/queues/q/authorizationRules/send")!;
    expect(id).toMatchObject({ subscriptionId: "s1", resourceGroup: "rg1", provider: "Microsoft.ServiceBus" });
    expect([segment(id, "namespaces"), segment(id, "queues"), segment(id, "AUTHORIZATIONRULES")]).toEqual(["ns", "q", "send"]);
    expect(parseArmId("not-an-id")).toBeUndefined();
  });

  it("a namespace rule's connection string gets the entity appended once", () => {
    expect(withEntityPath("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=k", "q")).toBe(
      "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=k;EntityPath=q",
    );
    expect(withEntityPath("Endpoint=sb://ns/;EntityPath=q", "q")).toBe("Endpoint=sb://ns/;EntityPath=q");
  });
});
