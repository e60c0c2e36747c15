/**
 * Identity registry, twins, modules and auth of the local IoT Hub, driven only through the real
 * azure-iothub SDK (the wire the clone uses against Azure).
 */
import * as https from "https";
import { beforeAll, describe, expect, it } from "vitest";
import type { Registry } from "azure-iothub";
import { createSasToken } from "./auth";
import { containsSecret } from "../../components/secrets";
import { localHubAgent } from "../../components/devices/local-hub";
import { parseServiceError } from "../support/service-errors";
import { keysOf, leakedLiterals } from "../support/leaks";
import { createTestHub, emulatorLog, localEndpoints, registryFor, registryForSas, type TestHub } from "../support/local-hub";

/** The SDK error's status, service error code header and parsed current-format body. */
async function failure(p: Promise<unknown>): Promise<{ name: string; status: number; code: string; errorCode?: number; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; response?: { statusCode: number; headers: Record<string, string> }; responseBody?: string };
    const inner = parseServiceError(e.responseBody);
    return { name: e.name, status: e.response?.statusCode ?? 0, code: e.response?.headers["iothub-errorcode"] ?? "", errorCode: inner.errorCode, message: inner.message };
  }
  throw new Error("expected the call to fail");
}

async function bulkFailure(p: Promise<unknown>): Promise<{ isSuccessful: boolean; errors: Array<{ deviceId: string; errorCode: string; errorStatus: string }> }> {
  try {
    await p;
  } catch (err) {
    const e = err as { response?: { statusCode: number }; responseBody?: string };
    expect(e.response?.statusCode).toBe(400);
    return JSON.parse(e.responseBody ?? "{}");
  }
  throw new Error("expected the bulk call to fail");
}

/** Device fields the SDK's Device class does not declare. */
function wire(result: { responseBody: unknown }): { deviceId: string; generationId: string; deviceScope?: string; parentScopes?: string[] } {
  return result.responseBody as { deviceId: string; generationId: string; deviceScope?: string; parentScopes?: string[] };
}

const KEY_A = Buffer.alloc(32, 1).toString("base64");
const KEY_B = Buffer.alloc(32, 2).toString("base64");
const THUMB_A = "A".repeat(40);

describe("local IoT Hub: identity registry", () => {
  let hub: TestHub;
  let registry: Registry;

  beforeAll(async () => {
    hub = await createTestHub("registry");
    registry = registryFor(hub);
  });

  it("creates a device with generated keys, a generation id and an etag, and reads it back", async () => {
    const { responseBody: created } = await registry.create({ deviceId: "crud-1" });
    expect(created.generationId).toMatch(/^\d{18}$/);
    expect(created.etag).toBeTruthy();
    expect(Buffer.from(created.authentication!.symmetricKey!.primaryKey!, "base64")).toHaveLength(32);
    expect(created.authentication!.symmetricKey!.primaryKey).not.toBe(created.authentication!.symmetricKey!.secondaryKey);
    const { responseBody: read } = await registry.get("crud-1");
    expect(read.etag).toBe(created.etag);
    expect(read.authentication!.symmetricKey!.primaryKey).toBe(created.authentication!.symmetricKey!.primaryKey);
  });

  it("keeps supplied keys, updates status and statusReason with a new etag, and deletes", async () => {
    const { responseBody: created } = await registry.create({
      deviceId: "crud-2",
      authentication: { symmetricKey: { primaryKey: KEY_A, secondaryKey: KEY_B } },
    });
    expect(created.authentication!.symmetricKey).toEqual({ primaryKey: KEY_A, secondaryKey: KEY_B });
    const { responseBody: updated } = await registry.update({ deviceId: "crud-2", status: "disabled", statusReason: "decommissioned", authentication: { symmetricKey: { primaryKey: KEY_A, secondaryKey: KEY_B } } } as never);
    expect(updated.status).toBe("disabled");
    expect((updated as unknown as { statusReason: string }).statusReason).toBe("decommissioned");
    expect(updated.etag).not.toBe(created.etag);
    expect(updated.generationId).toBe(created.generationId);
    await registry.delete("crud-2");
    const missing = await failure(registry.get("crud-2"));
    expect(missing).toMatchObject({ status: 404, code: "DeviceNotFound", errorCode: 404001 });
  });

  it("answers 409 DeviceAlreadyExists for a second create and 412 for a stale etag", async () => {
    await registry.create({ deviceId: "crud-3" });
    const dup = await failure(registry.create({ deviceId: "crud-3" }));
    expect(dup).toMatchObject({ name: "DeviceAlreadyExistsError", status: 409, code: "DeviceAlreadyExists", errorCode: 409001 });
    const { responseBody: device } = await registry.get("crud-3");
    await registry.updateTwin("crud-3", { tags: { a: 1 } }, "*");
    // Twin etags and device etags are separate: a twin change leaves the device etag valid.
    const { responseBody: twin } = await registry.getTwin("crud-3");
    await registry.updateTwin("crud-3", { tags: { a: 2 } }, twin.etag);
    const stale = await failure(registry.updateTwin("crud-3", { tags: { a: 3 } }, twin.etag));
    expect(stale).toMatchObject({ name: "InvalidEtagError", status: 412, errorCode: 412001 });
    // The device etag read before the twin changes is still the current one ...
    expect(device.etag).toBeTruthy();
    expect((await registry.get("crud-3")).responseBody.etag).toBe(device.etag);
    // ... so an identity update conditioned on it succeeds (the SDK's update sends If-Match *, so by hand),
    // and once that update has moved the etag, the same If-Match is refused with 412.
    const putIfMatch = (etag: string) => {
      const key = /SharedAccessKey=([^;]+)/.exec(hub.connectionString)![1];
      const token = createSasToken(hub.hostName, "iothubowner", key, Math.floor(Date.now() / 1000) + 600);
      const body = JSON.stringify({ deviceId: "crud-3", status: "disabled", statusReason: "etag check" });
      return new Promise<number>((resolve, reject) => {
        const req = https.request(
          { host: hub.hostName, method: "PUT", path: "/devices/crud-3?api-version=2021-04-12", agent: localHubAgent(localEndpoints()), headers: { authorization: token, "content-type": "application/json", "if-match": `"${etag}"` } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    };
    expect(await putIfMatch(String(device.etag))).toBe(200);
    expect(await putIfMatch(String(device.etag))).toBe(412);
  });

  it("stores x509 self-signed and CA devices without keys", async () => {
    const { responseBody: selfSigned } = await registry.create({
      deviceId: "x509-1",
      authentication: { x509Thumbprint: { primaryThumbprint: THUMB_A } },
    } as never);
    expect(selfSigned.authentication).toMatchObject({ type: "selfSigned", x509Thumbprint: { primaryThumbprint: THUMB_A }, symmetricKey: { primaryKey: null } });
    const { responseBody: ca } = await registry.create({ deviceId: "x509-2", authentication: { type: "certificateAuthority" } } as never);
    expect((ca.authentication as { type?: string }).type).toBe("certificateAuthority");
    const bad = await failure(registry.create({ deviceId: "x509-3", authentication: { type: "selfSigned", x509Thumbprint: { primaryThumbprint: "xyz" } } } as never));
    expect(bad).toMatchObject({ status: 400, errorCode: 400004 });
  });

  it("rejects invalid device ids with 400 ArgumentInvalid", async () => {
    const bad = await failure(registry.create({ deviceId: "has space" }));
    expect(bad).toMatchObject({ name: "ArgumentError", status: 400, code: "ArgumentInvalid" });
  });

  it("gives edge devices a hub-generated immutable scope and system modules, and validates children's parent scopes", async () => {
    const edge = wire(
      await registry.create({
        deviceId: "edge-1",
        capabilities: { iotEdge: true },
        deviceScope: "ms-azure-iot-edge://edge-1-123",
      } as never),
    );
    expect(edge.deviceScope).toBe(`ms-azure-iot-edge://edge-1-${edge.generationId}`);
    const { responseBody: modules } = await registry.getModulesOnDevice("edge-1");
    expect(modules.map((m) => m.moduleId).sort()).toEqual(["$edgeAgent", "$edgeHub"]);
    const updated = wire(await registry.update({ deviceId: "edge-1", capabilities: { iotEdge: true }, deviceScope: "ms-azure-iot-edge://other-1" } as never));
    expect(updated.deviceScope).toBe(edge.deviceScope);

    const leaf = wire(await registry.create({ deviceId: "leaf-1", deviceScope: edge.deviceScope } as never));
    expect(leaf.deviceScope).toBe(edge.deviceScope);
    expect(leaf.parentScopes).toEqual([edge.deviceScope]);
    const childEdge = wire(await registry.create({ deviceId: "edge-2", capabilities: { iotEdge: true }, parentScopes: [edge.deviceScope] } as never));
    expect(childEdge.parentScopes).toEqual([edge.deviceScope]);

    // A scope copied from another hub names no edge device here.
    const orphan = await failure(registry.create({ deviceId: "leaf-2", deviceScope: "ms-azure-iot-edge://edge-1-637000000000000000" } as never));
    expect(orphan).toMatchObject({ status: 400, errorCode: 400004 });
    const system = await failure(registry.removeModule("edge-1", "$edgeAgent"));
    expect(system).toMatchObject({ status: 401, errorCode: 401100 });
  });

  it("manages custom modules and module twins", async () => {
    await registry.create({ deviceId: "mod-host" });
    const { responseBody: added } = await registry.addModule({ deviceId: "mod-host", moduleId: "sensor" } as never);
    expect((added as { authentication: { symmetricKey: { primaryKey: string } } }).authentication.symmetricKey.primaryKey).toBeTruthy();
    const dup = await failure(registry.addModule({ deviceId: "mod-host", moduleId: "sensor" } as never));
    expect(dup).toMatchObject({ status: 409, errorCode: 409301 });
    const { responseBody: twin } = await registry.getModuleTwin("mod-host", "sensor");
    const { responseBody: patched } = await registry.updateModuleTwin("mod-host", "sensor", { properties: { desired: { rate: 5 } } }, twin.etag);
    expect(patched.properties.desired.rate).toBe(5);
    // (The SDK's promise form of removeModule(module) loses its callback; the (deviceId, moduleId) form works.)
    await registry.removeModule("mod-host", "sensor");
    const gone = await failure(registry.getModule("mod-host", "sensor"));
    expect(gone).toMatchObject({ status: 404, errorCode: 404010 });
  });

  it("patches twins with merge semantics and versions", async () => {
    await registry.create({ deviceId: "twin-1" });
    const { responseBody: t0 } = await registry.getTwin("twin-1");
    const { responseBody: t1 } = await registry.updateTwin("twin-1", { tags: { site: "paris", floor: 2 }, properties: { desired: { telemetry: { interval: 10 } } } }, t0.etag);
    expect(t1.tags).toEqual({ site: "paris", floor: 2 });
    expect(t1.properties.desired.telemetry).toEqual({ interval: 10 });
    const { responseBody: t2 } = await registry.updateTwin("twin-1", { tags: { floor: null }, properties: { desired: { telemetry: { unit: "s" } } } }, t1.etag);
    expect(t2.tags).toEqual({ site: "paris" });
    expect(t2.properties.desired.telemetry).toEqual({ interval: 10, unit: "s" });
    expect((t2 as unknown as { version: number }).version).toBe((t1 as unknown as { version: number }).version + 1);
    expect(t2.properties.desired.$version).toBe(t1.properties.desired.$version + 1);
  });

  it("runs bulk operations with every failure reported per device, in any import-mode casing", async () => {
    const { responseBody: ok } = await registry.addDevices([{ deviceId: "bulk-1" }, { deviceId: "bulk-2" }, { deviceId: "bulk-3" }]);
    expect(ok).toMatchObject({ isSuccessful: true, errors: [] });

    // One failing device fails the call (400) but the others are applied.
    const partial = await bulkFailure(registry.addDevices([{ deviceId: "bulk-1" }, { deviceId: "bulk-4" }]));
    expect(partial.errors).toEqual([expect.objectContaining({ deviceId: "bulk-1", errorCode: "409001" })]);
    expect((await registry.get("bulk-4")).responseBody.deviceId).toBe("bulk-4");

    // updateDevices(force=false) sends UpdateIfMatchETag: only the device with a stale etag fails.
    const { responseBody: b3 } = await registry.get("bulk-3");
    const stale = await bulkFailure(
      registry.updateDevices([{ deviceId: "bulk-2", etag: "stale", status: "disabled" } as never, { deviceId: "bulk-3", etag: b3.etag, status: "disabled" } as never], false),
    );
    expect(stale.errors).toEqual([expect.objectContaining({ deviceId: "bulk-2", errorCode: "412001" })]);
    expect((await registry.get("bulk-3")).responseBody.status).toBe("disabled");
    expect((await registry.get("bulk-2")).responseBody.status).toBe("enabled");

    const { responseBody: removed } = await registry.removeDevices([{ deviceId: "bulk-3" }, { deviceId: "bulk-4" }], true);
    expect(removed.isSuccessful).toBe(true);
    const missing = await bulkFailure(registry.removeDevices([{ deviceId: "bulk-3" }], true));
    expect(missing.errors).toEqual([expect.objectContaining({ deviceId: "bulk-3", errorCode: "404001" })]);
    await expect(registry.addDevices(Array.from({ length: 101 }, (_, i) => ({ deviceId: `too-many-${i}` })))).rejects.toThrow(/invalid size/);
  });

  it("lists devices and reports statistics", async () => {
    await registry.create({ deviceId: "stats-disabled", status: "disabled" });
    const stats = (await registry.getRegistryStatistics()).responseBody;
    const { responseBody: all } = await registry.list();
    expect(stats.totalDeviceCount).toBe(all.length);
    expect(stats.enabledDeviceCount + stats.disabledDeviceCount).toBe(stats.totalDeviceCount);
    expect(stats.disabledDeviceCount).toBeGreaterThanOrEqual(1);
  });
});

describe("local IoT Hub: shared access signatures", () => {
  let hub: TestHub;

  beforeAll(async () => {
    hub = await createTestHub("auth");
  });

  it("refuses a wrong key with 401 IotHubUnauthorizedAccess", async () => {
    const wrong = hub.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${KEY_A}`);
    const err = await failure(registryFor(wrong).get("anything"));
    expect(err).toMatchObject({ name: "UnauthorizedError", status: 401, code: "IotHubUnauthorizedAccess", errorCode: 401002 });
  });

  it("refuses an expired token and accepts the same policy's fresh one", async () => {
    const key = /SharedAccessKey=([^;]+)/.exec(hub.connectionString)![1];
    const expired = createSasToken(hub.hostName, "iothubowner", key, Math.floor(Date.now() / 1000) - 10);
    const err = await failure(registryForSas(expired).getRegistryStatistics());
    expect(err).toMatchObject({ status: 401, errorCode: 401002 });
    expect(err.message).toMatch(/expired/);
    const fresh = createSasToken(hub.hostName, "iothubowner", key, Math.floor(Date.now() / 1000) + 600);
    const { responseBody } = await registryForSas(fresh).getRegistryStatistics();
    expect(responseBody.totalDeviceCount).toBe(0);
  });

  it("lets registryRead read but not write, and service read twins but not the registry", async () => {
    const reader = registryFor(hub.connectionStrings.registryRead);
    await expect(reader.list()).resolves.toBeTruthy();
    const write = await failure(reader.create({ deviceId: "not-allowed" }));
    expect(write).toMatchObject({ status: 401, errorCode: 401002 });
    await registryFor(hub.connectionStrings.registryReadWrite).create({ deviceId: "allowed" });
    const service = registryFor(hub.connectionStrings.service);
    await expect(service.getTwin("allowed")).resolves.toBeTruthy();
    expect(await failure(service.get("allowed"))).toMatchObject({ status: 401 });
    expect(await failure(registryFor(hub.connectionStrings.device).getTwin("allowed"))).toMatchObject({ status: 401 });
  });

  it("logs exactly one line per failed request, without secrets", async () => {
    const registry = registryFor(hub);
    await failure(registry.get("log-probe-7f3a"));
    const wrong = hub.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${KEY_B}`);
    await failure(registryFor(wrong).get("log-probe-8c1d"));
    await new Promise((r) => setTimeout(r, 100)); // the log is written by the emulator process
    const lines = emulatorLog().split("\n");
    expect(lines.filter((l) => l.includes("log-probe-7f3a"))).toEqual([expect.stringMatching(/GET \/devices\/log-probe-7f3a -> 404 DeviceNotFound \(404001\)/)]);
    expect(lines.filter((l) => l.includes("log-probe-8c1d"))).toEqual([expect.stringMatching(/-> 401 IotHubUnauthorizedAccess/)]);
    expect(lines.some((l) => containsSecret(l))).toBe(false);
    expect(leakedLiterals(lines.join("\n"), [KEY_B, ...keysOf(hub.connectionString)])).toEqual([]);
  });

  it("does not accept one hub's token on another hub", async () => {
    const other = await createTestHub("auth-other");
    const key = /SharedAccessKey=([^;]+)/.exec(hub.connectionString)![1];
    const forged = other.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${key}`);
    expect(await failure(registryFor(forged).list())).toMatchObject({ status: 401 });
  });
});

describe("local IoT Hub: malformed requests", () => {
  // Requests the SDK never sends badly, so they are made by hand; the answers must still be the service's.
  async function raw(hub: TestHub, method: string, urlPath: string, body?: string): Promise<{ status: number; code: string | undefined }> {
    const key = /SharedAccessKey=([^;]+)/.exec(hub.connectionString)![1];
    const token = createSasToken(hub.hostName, "iothubowner", key, Math.floor(Date.now() / 1000) + 600);
    const agent = localHubAgent(localEndpoints());
    return new Promise((resolve, reject) => {
      const req = https.request({ host: hub.hostName, method, path: urlPath, agent, headers: { authorization: token, "content-type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, code: res.headers["iothub-errorcode"] as string | undefined }));
      });
      req.on("error", reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  it("answers invalid JSON, bad percent-encoding, unknown paths and missing api-version without crashing", async () => {
    const hub = await createTestHub("malformed");
    expect(await raw(hub, "PUT", "/devices/x?api-version=2021-04-12", "{not json")).toEqual({ status: 400, code: "IotHubFormatError" });
    expect(await raw(hub, "GET", "/devices/%E0%A4%A?api-version=2021-04-12")).toEqual({ status: 400, code: "ArgumentInvalid" });
    expect((await raw(hub, "GET", "/nothing/here?api-version=2021-04-12")).status).toBe(404);
    expect((await raw(hub, "GET", "/devices/x")).status).toBe(400);
    expect((await raw(hub, "PATCH", "/devices/x?api-version=2021-04-12", "{}")).status).toBe(405);
    expect(emulatorLog()).not.toMatch(/crashed/);
  });

  it("validates configuration content paths", async () => {
    const registry = registryFor(await createTestHub("config-paths"));
    const bad = await failure(registry.addConfiguration({ id: "bad", content: { deviceContent: { "tags.x": 1 } } } as never));
    expect(bad).toMatchObject({ status: 400, errorCode: 400004 });
  });
});
