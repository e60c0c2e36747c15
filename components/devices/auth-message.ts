/**
 * A 401 whose body says the connection string's policy (SharedAccessKeyName) does not exist on
 * the hub: the user's fix is the policy name, not the key, so the message should say that. The
 * service does not always tell (then the generic "rejected the credentials" stays); the local
 * hub says "Authorization rule '<name>' does not exist on IotHub '<hub>'" (test/emulator/auth.ts).
 */
export function unknownPolicyName(err: unknown): string | undefined {
  const e = err as { responseBody?: unknown; message?: unknown } | undefined;
  const text = `${typeof e?.responseBody === "string" ? e.responseBody : ""} ${typeof e?.message === "string" ? e.message : ""}`;
  const m = /Authorization rule '([^']+)' does not exist/i.exec(text) ?? /(?:access )?policy '([^']+)' (?:does not exist|was not found|not found)/i.exec(text);
  return m?.[1];
}

export function unknownPolicyMessage(hostName: string, policy: string): string {
  return `the hub ${hostName} has no shared access policy named '${policy}' (the service says so): fix SharedAccessKeyName in the connection string, or copy the connection string of an existing policy (iothubowner, or registryReadWrite + service)`;
}
