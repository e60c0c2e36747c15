/**
 * Shared access signature verification as the service does it: the token names a policy (`skn`),
 * its signature is HMAC-SHA256 with that policy's key over `sr + "\n" + se`, it must not be expired,
 * and the policy's rights must cover the operation. Anything else is 401 IotHubUnauthorizedAccess.
 */
import * as crypto from "crypto";
import { hubError } from "./errors";

export type Right = "RegistryRead" | "RegistryWrite" | "ServiceConnect" | "DeviceConnect";

export interface AccessPolicy {
  keyName: string;
  primaryKey: string;
  secondaryKey: string;
  rights: Right[];
}

/** The policies every new hub gets, with the rights the portal shows for them. */
export const STANDARD_POLICIES: Array<{ keyName: string; rights: Right[] }> = [
  { keyName: "iothubowner", rights: ["RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect"] },
  { keyName: "service", rights: ["ServiceConnect"] },
  { keyName: "device", rights: ["DeviceConnect"] },
  { keyName: "registryRead", rights: ["RegistryRead"] },
  { keyName: "registryReadWrite", rights: ["RegistryRead", "RegistryWrite"] },
];

export function newKey(): string {
  return crypto.randomBytes(32).toString("base64");
}

export function standardPolicies(): AccessPolicy[] {
  return STANDARD_POLICIES.map((p) => ({ keyName: p.keyName, rights: [...p.rights], primaryKey: newKey(), secondaryKey: newKey() }));
}

export function signature(key: string, sr: string, se: string): string {
  return crypto.createHmac("sha256", Buffer.from(key, "base64")).update(sr + "\n" + se).digest("base64");
}

/** Token in the SDK's form; used by tests and tools that need a token with a chosen expiry or policy. */
export function createSasToken(hostName: string, keyName: string, key: string, expiryEpochSeconds: number): string {
  const sig = encodeURIComponent(signature(key, hostName, String(expiryEpochSeconds)));
  return `SharedAccessSignature sr=${hostName}&sig=${sig}&se=${expiryEpochSeconds}&skn=${encodeURIComponent(keyName)}`;
}

function timingSafeEqualString(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}

/**
 * Verifies the Authorization header for `hostName` and returns the policy it proves.
 * `anyOf` lists rights of which at least one is needed (e.g. twin reads accept RegistryRead or ServiceConnect).
 */
export function authorize(header: string | undefined, hostName: string, policies: AccessPolicy[], anyOf: Right[], nowMs = Date.now()): AccessPolicy {
  const unauthorized = (why: string) => hubError("IotHubUnauthorizedAccess", why);
  if (!header) throw unauthorized("Authorization header missing");
  const m = /^SharedAccessSignature\s+(.+)$/.exec(header.trim());
  if (!m) throw unauthorized("Authorization header must be a SharedAccessSignature");
  const fields = new Map<string, string>();
  for (const part of m[1].split("&")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get("sr");
  const sig = fields.get("sig");
  const se = fields.get("se");
  const skn = fields.get("skn");
  if (!sr || !sig || !se) throw unauthorized("Malformed SharedAccessSignature: sr, sig and se are required");
  const resource = decodeURIComponent(sr).toLowerCase();
  // A token scoped to the hub, or to a path under it, is accepted for the hub (the service matches by prefix).
  if (resource !== hostName.toLowerCase() && !resource.startsWith(hostName.toLowerCase() + "/")) {
    throw unauthorized(`The token's resource (sr) does not match IotHub '${hostName}'`);
  }
  const expiry = Number(se);
  if (!Number.isFinite(expiry)) throw unauthorized("Malformed SharedAccessSignature: se is not a number");
  if (expiry * 1000 <= nowMs) throw unauthorized("Unauthorized: the shared access token has expired (se is in the past)");
  if (!skn) throw unauthorized("Service tokens must name a shared access policy (skn)");
  const keyName = decodeURIComponent(skn);
  const policy = policies.find((p) => p.keyName === keyName);
  if (!policy) throw unauthorized(`Authorization rule '${keyName}' does not exist on IotHub '${hostName}'`);
  const given = decodeURIComponent(sig);
  const ok = [policy.primaryKey, policy.secondaryKey].some(
    (key) => timingSafeEqualString(signature(key, sr, se), given) || timingSafeEqualString(signature(key, decodeURIComponent(sr), se), given),
  );
  if (!ok) throw unauthorized("Unauthorized: the SharedAccessSignature's signature does not match");
  if (!anyOf.some((r) => policy.rights.includes(r))) {
    throw unauthorized(`Authorization rule '${keyName}' does not allow access for this operation (needs ${anyOf.join(" or ")})`);
  }
  return policy;
}
