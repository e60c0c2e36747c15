/**
 * Azure Resource Manager clients for the operations, built in one place so tests can hand every
 * client the same recorded-response transport (`httpClient`) and a fake credential.
 */
import type { TokenCredential } from "@azure/core-auth";
import type { HttpClient } from "@azure/core-rest-pipeline";
import { IotHubClient } from "@azure/arm-iothub";
import { IotDpsClient } from "@azure/arm-deviceprovisioningservices";
import { DefaultAzureCredential } from "@azure/identity";

export interface ArmOptions {
  subscriptionId: string;
  /** Default: DefaultAzureCredential (az login, workload identity/OIDC in CI, managed identity). */
  credential?: TokenCredential;
  /** Transport override: tests serve recorded responses through it. */
  httpClient?: HttpClient;
  /** ARM endpoint (sovereign clouds); default https://management.azure.com. */
  endpoint?: string;
}

function clientOptions(o: ArmOptions) {
  return {
    ...(o.httpClient ? { httpClient: o.httpClient } : {}),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    // Recorded tests must not wait on retry back-off; real runs keep the SDK's default retries.
    ...(o.httpClient ? { retryOptions: { maxRetries: 0 } } : {}),
  };
}

export function iotHubClient(o: ArmOptions): IotHubClient {
  return new IotHubClient(o.credential ?? new DefaultAzureCredential(), o.subscriptionId, clientOptions(o));
}

export function dpsClient(o: ArmOptions): IotDpsClient {
  return new IotDpsClient(o.credential ?? new DefaultAzureCredential(), o.subscriptionId, clientOptions(o));
}

/**
 * Runs an SDK call and returns the response body exactly as ARM sent it (parsed JSON), not the
 * SDK's deserialized model: the snapshot must be a faithful ARM GET body (dates as strings, no
 * client-side defaults), which the deserialized model is not.
 */
export async function rawBody<T = unknown>(call: (onResponse: (r: { bodyAsText?: string | null }) => void) => Promise<unknown>): Promise<T> {
  let text: string | null | undefined;
  await call((r) => {
    text = r.bodyAsText;
  });
  if (text == null) throw new Error("ARM returned no body");
  return JSON.parse(text) as T;
}
