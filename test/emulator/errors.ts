/**
 * IoT Hub error codes and the service's error body formats (see errorResponse) plus the
 * `iothub-errorcode` header.
 * Codes come from the service's published ErrorCode enum and troubleshooting docs.
 */
import { randomUUID } from "crypto";

export const ErrorCodes = {
  ArgumentInvalid: 400004,
  ArgumentNull: 400005,
  IotHubFormatError: 400006,
  BlobContainerValidationError: 400008,
  DeviceDefinedMultipleTimes: 400011,
  InvalidOperation: 400003,
  IotHubNotFound: 401001,
  IotHubUnauthorizedAccess: 401002,
  SystemModuleModifyUnauthorizedAccess: 401100,
  IotHubQuotaExceeded: 403002,
  JobQuotaExceeded: 403003,
  DeviceNotFound: 404001,
  JobNotFound: 404002,
  // ConfigurationNotFound/ModuleNotFound numbers follow the service's 4040xx numbering (404010 is documented for modules).
  ModuleNotFound: 404010,
  ConfigurationNotFound: 404011,
  DeviceAlreadyExists: 409001,
  ConfigurationAlreadyExists: 409005,
  ModuleAlreadyExistsOnDevice: 409301,
  PreconditionFailed: 412001,
  ThrottlingException: 429001,
  ThrottlingBacklogTimeout: 429003,
  ThrottlingMaxActiveJobCountExceeded: 429004,
  ServerError: 500001,
  ServiceUnavailable: 503001,
} as const;

export type ErrorCodeName = keyof typeof ErrorCodes;

export function statusOfCode(code: number): number {
  return Math.floor(code / 1000);
}

export class HubError extends Error {
  readonly status: number;
  readonly code: number;
  constructor(
    readonly codeName: ErrorCodeName | string,
    message: string,
    code?: number,
    status?: number,
  ) {
    super(message);
    this.code = code ?? (ErrorCodes as Record<string, number>)[codeName] ?? 500001;
    this.status = status ?? statusOfCode(this.code);
  }
}

export function hubError(name: ErrorCodeName, message: string): HubError {
  return new HubError(name, message, ErrorCodes[name]);
}

/**
 * Which body the service sends. `code-name` is what the registry, module, configuration and job
 * endpoints answer today: `{"Message":"ErrorCode:DeviceNotFound;<message>","ExceptionMessage":"Tracking ID:…-G:0-TimeStamp:MM/DD/YYYY HH:mm:ss"}`.
 * Sources: learn.microsoft.com/azure/iot-hub (2023 tutorial output of `az iot hub device-identity show`
 * for a deleted device), azure-iot-sdk-csharp previews/v2 `ErrorPayload2.cs` (a 2022 capture of the same
 * form), azure-iot-sdk-node `e2etests/test/registry.js` (expects DeviceNotFoundError, which the Node
 * SDK's `Http.parseErrorBody` only produces from this form), and a throttled CRUD call in
 * Azure-Samples/Iot-Telemetry-Simulator#39 (`ErrorCode:ThrottlingBacklogTimeout;…`).
 * `json` (`{"Message":"{\"errorCode\":404001,…}","ExceptionMessage":""}`) is the form the C# SDKs also
 * parse (ErrorPayload.cs; seen from direct-method calls); a hub can be switched to it so the engine is
 * tested against both.
 */
export type ErrorBodyFormat = "code-name" | "json";

/** .NET's invariant short date-time, as the service prints it in Tracking IDs. */
function serviceTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** Body and headers the service sends for an error (plus the `iothub-errorcode` header naming the code). */
export function errorResponse(err: HubError, format: ErrorBodyFormat = "code-name"): { status: number; headers: Record<string, string>; body: string } {
  const now = new Date();
  const tracking = randomUUID().replace(/-/g, "");
  let body: string;
  if (format === "json") {
    const inner = {
      errorCode: err.code,
      trackingId: `${tracking}-G:0-TimeStamp:${now.toISOString()}`,
      message: err.message,
      timestampUtc: now.toISOString(),
    };
    body = JSON.stringify({ Message: JSON.stringify(inner), ExceptionMessage: "" });
  } else {
    // The Node SDK splits Message on ';' and keeps the second part as the message: no ';' in ours.
    body = JSON.stringify({
      Message: `ErrorCode:${err.codeName};${err.message.replace(/;/g, ",")}`,
      ExceptionMessage: `Tracking ID:${tracking}-G:0-TimeStamp:${serviceTimestamp(now)}`,
    });
  }
  return {
    status: err.status,
    headers: { "iothub-errorcode": err.codeName, "content-type": "application/json; charset=utf-8" },
    body,
  };
}
