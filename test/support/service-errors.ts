/**
 * Reads an IoT Hub error body in either of the service's forms (test/emulator/errors.ts):
 * `{"Message":"ErrorCode:DeviceNotFound;…"}` or `{"Message":"{\"errorCode\":404001,…}"}`. For the
 * first form the number is the documented one for the name (the emulator's ErrorCodes table).
 */
import { ErrorCodes } from "../emulator/errors";

export interface ParsedServiceError {
  form: "code-name" | "json" | "unknown";
  name?: string;
  errorCode?: number;
  message: string;
  exceptionMessage?: string;
}

export function parseServiceError(body: string | undefined): ParsedServiceError {
  let outer: { Message?: string; ExceptionMessage?: string };
  try {
    outer = JSON.parse(body ?? "{}") as typeof outer;
  } catch {
    return { form: "unknown", message: String(body) };
  }
  const m = /^ErrorCode:([A-Za-z0-9]+);([\s\S]*)$/.exec(outer.Message ?? "");
  if (m) return { form: "code-name", name: m[1], errorCode: (ErrorCodes as Record<string, number>)[m[1]], message: m[2], exceptionMessage: outer.ExceptionMessage };
  try {
    const inner = JSON.parse(outer.Message ?? "") as { errorCode?: number; message?: string };
    return { form: "json", errorCode: inner.errorCode, message: inner.message ?? "", exceptionMessage: outer.ExceptionMessage };
  } catch {
    return { form: "unknown", message: outer.Message ?? "" };
  }
}
