/**
 * IoT Hub error codes and the service's current error body format
 * (`{"Message":"{\"errorCode\":…}","ExceptionMessage":"…"}` plus the `iothub-errorcode` header).
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

/** Body and headers the service sends for an error, in its current (JSON-in-Message) format. */
export function errorResponse(err: HubError): { status: number; headers: Record<string, string>; body: string } {
  const trackingId = randomUUID().replace(/-/g, "") + "-G:0-TimeStamp:" + new Date().toISOString();
  const inner = {
    errorCode: err.code,
    trackingId,
    message: err.message,
    timestampUtc: new Date().toISOString(),
  };
  const body = JSON.stringify({ Message: JSON.stringify(inner), ExceptionMessage: "" });
  return {
    status: err.status,
    headers: { "iothub-errorcode": err.codeName, "content-type": "application/json; charset=utf-8" },
    body,
  };
}
