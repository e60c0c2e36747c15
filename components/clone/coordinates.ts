/**
 * Where a routing endpoint's target lives, worked out from what the source kept: a masked
 * connection string (its non-secret parts name the account/namespace/entity), an ARM resource
 * id from `listKeys(...)`, or an endpoint URI. Pure string handling, no Pulumi.
 */

/** `A=1;B=2` → {A: "1", B: "2"} (keys case-preserved, first `=` splits). */
export function parseConnectionString(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function pick(cs: Record<string, string>, key: string): string | undefined {
  const k = Object.keys(cs).find((x) => x.toLowerCase() === key.toLowerCase());
  return k ? cs[k] : undefined;
}

export interface StorageCoordinates {
  accountName: string;
  endpointSuffix: string;
}

/** Account name of a storage connection string or blob URI (`https://acct.blob.core.windows.net`). */
export function storageFromConnectionString(text: string): StorageCoordinates | undefined {
  const cs = parseConnectionString(text);
  const accountName = pick(cs, "AccountName");
  if (accountName) return { accountName, endpointSuffix: pick(cs, "EndpointSuffix") ?? "core.windows.net" };
  const blob = pick(cs, "BlobEndpoint");
  return blob ? storageFromUri(blob) : undefined;
}

export function storageFromUri(uri: string): StorageCoordinates | undefined {
  const m = /^https?:\/\/([a-z0-9]+)\.blob\.(.+?)\/?$/i.exec(uri.trim());
  return m ? { accountName: m[1].toLowerCase(), endpointSuffix: m[2].replace(/\/.*$/, "") } : undefined;
}

export interface MessagingCoordinates {
  namespace: string;
  /** Queue, topic or event hub name (`EntityPath`). */
  entityPath?: string;
  ruleName?: string;
}

/** `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=…;EntityPath=q`. */
export function messagingFromConnectionString(text: string): MessagingCoordinates | undefined {
  const cs = parseConnectionString(text);
  const endpoint = pick(cs, "Endpoint");
  const ns = endpoint ? messagingNamespaceFromUri(endpoint) : undefined;
  if (!ns) return undefined;
  return { namespace: ns, entityPath: pick(cs, "EntityPath"), ruleName: pick(cs, "SharedAccessKeyName") };
}

export function messagingNamespaceFromUri(uri: string): string | undefined {
  const m = /^(?:sb|https?|amqps?):\/\/([a-z0-9-]+)\.servicebus\./i.exec(uri.trim());
  return m ? m[1] : undefined;
}

/** `https://acct.documents.azure.com:443/` → `acct`. */
export function cosmosAccountFromUri(uri: string): string | undefined {
  const m = /^https:\/\/([a-z0-9-]+)\.documents\./i.exec(uri.trim());
  return m ? m[1] : undefined;
}

export interface ArmId {
  subscriptionId?: string;
  resourceGroup?: string;
  provider: string;
  /** type/name pairs after the provider, e.g. [["namespaces","ns"],["queues","q"],["authorizationRules","r"]]. */
  segments: Array<[string, string]>;
}

/** Parses `/subscriptions/s/resourceGroups/rg/providers/Microsoft.X/a/b/c/d`. Case-insensitive keywords. */
export function parseArmId(id: string): ArmId | undefined {
  const parts = id.trim().replace(/^\/+|\/+$/g, "").split("/");
  let i = 0;
  const out: ArmId = { provider: "", segments: [] };
  if (parts[i]?.toLowerCase() === "subscriptions") {
    out.subscriptionId = parts[i + 1];
    i += 2;
  }
  if (parts[i]?.toLowerCase() === "resourcegroups") {
    out.resourceGroup = parts[i + 1];
    i += 2;
  }
  if (parts[i]?.toLowerCase() !== "providers" || !parts[i + 1]) return undefined;
  out.provider = parts[i + 1];
  i += 2;
  while (i + 1 < parts.length) {
    out.segments.push([parts[i], parts[i + 1]]);
    i += 2;
  }
  return out.segments.length ? out : undefined;
}

/** Name of the segment of the given type (case-insensitive), e.g. segment(id, "queues"). */
export function segment(id: ArmId, type: string): string | undefined {
  return id.segments.find(([t]) => t.toLowerCase() === type.toLowerCase())?.[1];
}

/** Builds an ARM id; `sub` may be a placeholder resolved at deploy time by the caller. */
export function armId(sub: string, rg: string, provider: string, ...pairs: string[]): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}/providers/${provider}/${pairs.join("/")}`;
}
