/**
 * Turns the Azure SDK's failures that a user can fix (no credential, no access, wrong name) into
 * one-line `UserError`s naming the option to change; anything else stays a bug with its stack.
 */
import { UserError } from "../errors";

export function armUserError(err: unknown, what: string, fields: { name?: string; resourceGroup?: string }): unknown {
  const e = err as { name?: string; statusCode?: number; code?: string; message?: string };
  if (e?.name === "CredentialUnavailableError" || e?.name === "AggregateAuthenticationError" || e?.name === "AuthenticationRequiredError")
    return new UserError("no Azure credential found: run `az login` (or set AZURE_CLIENT_ID/AZURE_TENANT_ID for workload identity)", "credential");
  if (e?.statusCode === 404 || e?.code === "ResourceNotFound" || e?.code === "ResourceGroupNotFound")
    return new UserError(`${what} not found: check --resource-group ${fields.resourceGroup ?? ""} and --name ${fields.name ?? ""}`.trim(), "--name");
  if (e?.statusCode === 403 || e?.code === "AuthorizationFailed")
    return new UserError(`not allowed to read ${what}: grant the signed-in identity Reader (and listKeys: IoT Hub Data Reader or Contributor) on it`, "credential");
  if (e?.statusCode === 401) return new UserError("ARM rejected the credential: run `az login` again or check the tenant", "credential");
  return err;
}
