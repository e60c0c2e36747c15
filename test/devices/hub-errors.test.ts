/**
 * One classifier for the service's error bodies (issue 15 item 1): the "ErrorCode:Name;message"
 * form azure-iothub's parser reads, the JSON-in-JSON form with a numeric code, plain JSON (an
 * importErrors.log line), the iothub-errorcode header, and real errors from the SDK against the
 * local hub, whichever form it answers with.
 */
import { describe, expect, it } from "vitest";
import { classifyHubError, kindOfCode, waitHintMs } from "../../components/devices/hub-errors";
import { backoffDelay, hubErrorCode, isJobQuotaExceeded } from "../../components/devices/retry";
import { serviceMessage } from "../../components/operations/cutover";
import { createTestHub, registryFor } from "../support/local-hub";

/** An error shaped as azure-iothub's rest client builds it (rest_api_client.js translateError). */
function sdkError(status: number, body: string, headers: Record<string, string> = {}): Error {
  const e = new Error("x") as Error & { response: unknown; responseBody: string };
  e.response = { statusCode: status, headers };
  e.responseBody = body;
  return e;
}
const named = (name: string, msg: string) => JSON.stringify({ Message: `ErrorCode:${name};${msg}`, ExceptionMessage: "Tracking ID:abc-G:1-TimeStamp:12/07/2026 04:00:00" });
const nested = (code: number, msg: string) => JSON.stringify({ Message: JSON.stringify({ errorCode: code, trackingId: "abc", message: msg, timestampUtc: "2026-12-07T04:00:00Z" }), ExceptionMessage: "" });

describe("classifyHubError", () => {
  const cases: Array<[string, number, string, number, string]> = [
    ["notFound", 404, "DeviceNotFound", 404001, "Device d-1 not registered"],
    ["notFound", 404, "ModuleNotFound", 404010, "Module m not found"],
    ["alreadyExists", 409, "DeviceAlreadyExists", 409001, "A device with ID 'd' is already registered."],
    ["alreadyExists", 409, "ModuleAlreadyExistsOnDevice", 409301, "Module m already exists"],
    ["preconditionFailed", 412, "PreconditionFailed", 412002, "Precondition failed"],
    ["deviceQuota", 403, "IotHubQuotaExceeded", 403002, "Total number of devices on IotHub exceeded the allocated quota"],
    ["jobQuota", 403, "JobQuotaExceeded", 403003, "Failed to create job"],
    ["jobQuota", 429, "ThrottlingMaxActiveJobCountExceeded", 429004, "Max active jobs exceeded"],
    ["throttled", 429, "ThrottlingBacklogTimeout", 429003, "The request has been throttled. Wait 10 seconds and try again."],
  ];
  it("reads the same kind from both body forms, and from the code or name alone", () => {
    for (const [kind, status, name, code, msg] of cases) {
      const a = classifyHubError(sdkError(status, named(name, msg)));
      const b = classifyHubError(sdkError(status, nested(code, msg)));
      expect(a, name).toMatchObject({ kind, status, name, message: msg });
      expect(b, name).toMatchObject({ kind, status, code: String(code), message: msg });
      expect(kindOfCode(code), name).toBe(kind);
      expect(kindOfCode(String(code)), name).toBe(kind);
      expect(kindOfCode(name), name).toBe(kind);
      // Plain JSON (importErrors.log lines), and the header with an empty body.
      expect(classifyHubError({ deviceId: "d", errorCode: code, errorStatus: msg }).kind, name).toBe(kind);
      expect(classifyHubError(sdkError(status, "", { "iothub-errorcode": name })).kind, name).toBe(kind);
    }
  });

  it("does not confuse the two 403s (device quota vs a busy job slot), whatever the SDK's class name says", () => {
    const quota = Object.assign(sdkError(403, nested(403002, "quota")), { name: "TooManyDevicesError" });
    const slot = Object.assign(sdkError(403, named("JobQuotaExceeded", "busy")), { name: "TooManyDevicesError" });
    expect(classifyHubError(quota).kind).toBe("deviceQuota");
    expect(isJobQuotaExceeded(quota)).toBe(false);
    expect(isJobQuotaExceeded(slot)).toBe(true);
    // 403001: the SDK team reads it as "another job is running", the docs as IotHubSuspended.
    expect(classifyHubError(sdkError(403, nested(403001, "Failed to create job since there is another job running"))).kind).toBe("jobQuota");
    expect(classifyHubError(sdkError(403, nested(403001, "IotHub is suspended"))).kind).toBe("suspended");
    // An unknown 403 is a rights problem, not a quota.
    expect(classifyHubError(sdkError(403, "{}")).kind).toBe("forbidden");
  });

  it("falls back on the SDK's error class, then the HTTP status, for bodies it cannot read", () => {
    expect(classifyHubError(Object.assign(new Error("gone"), { name: "DeviceNotFoundError" })).kind).toBe("notFound");
    expect(classifyHubError(sdkError(404, "<html>not found</html>")).kind).toBe("notFound");
    expect(classifyHubError(sdkError(412, "")).kind).toBe("preconditionFailed");
    expect(classifyHubError(sdkError(500, "oops")).kind).toBe("other");
    expect(classifyHubError(undefined).kind).toBe("other");
    expect(hubErrorCode(sdkError(404, nested(404001, "x")))).toBe("404001");
    expect(hubErrorCode(sdkError(404, named("DeviceNotFound", "x")))).toBe("DeviceNotFound");
  });

  it("takes the wait a 429 asks for in its text when there is no Retry-After", () => {
    expect(waitHintMs("The request has been throttled. Wait 10 seconds and try again.")).toBe(10_000);
    expect(waitHintMs("retry after 2 minutes")).toBe(120_000);
    expect(waitHintMs("no hint")).toBeUndefined();
    const throttled = sdkError(429, named("ThrottlingBacklogTimeout", "The request has been throttled. Wait 10 seconds and try again. Operation type: CRUD"));
    expect(classifyHubError(throttled).waitMs).toBe(10_000);
    // No Retry-After header: the text's 10 s, not a sub-second jittered backoff.
    expect(backoffDelay(1, throttled, { random: () => 0 })).toBe(10_000);
    // Retry-After wins when present.
    expect(backoffDelay(1, sdkError(429, named("ThrottlingException", "Wait 10 seconds"), { "retry-after": "3" }), { random: () => 0 })).toBe(3000);
  });

  it("gives the cutover the service's message from either form", () => {
    expect(serviceMessage(sdkError(400, nested(400020, "Syntax error in query")))).toBe("400020 Syntax error in query");
    expect(serviceMessage(sdkError(400, named("InvalidQuery", "Syntax error in query")))).toBe("InvalidQuery Syntax error in query");
  });
});

describe("classifyHubError on the local hub's answers through the real SDK", () => {
  function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
  }
  it("classifies a missing device, module and configuration, an existing device and a stale etag", async () => {
    const hub = await createTestHub("errs");
    const r = registryFor(hub);
    const caught = (f: Promise<unknown>) => f.then(() => undefined, (e: unknown) => e);
    expect(classifyHubError(await caught(p((cb) => r.get("nope", cb as never)))).kind).toBe("notFound");
    expect(classifyHubError(await caught(p((cb) => r.getModule("nope", "m", cb as never)))).kind).toBe("notFound");
    expect(classifyHubError(await caught(p((cb) => r.getConfiguration("nope", cb as never)))).kind).toBe("notFound");
    await p((cb) => r.create({ deviceId: "d-1" } as never, cb as never));
    expect(classifyHubError(await caught(p((cb) => r.create({ deviceId: "d-1" } as never, cb as never)))).kind).toBe("alreadyExists");
    // (Registry.update always sends If-Match "*"; updateTwin sends the etag it is given.)
    const stale = await caught(p((cb) => r.updateTwin("d-1", { tags: { a: 1 } }, "AAAAAAAAAAk=", cb as never)));
    expect(classifyHubError(stale).kind).toBe("preconditionFailed");
  });
});
