/** Identity registry: device CRUD, bulk import-mode operations, listing and statistics. */
import { hubError } from "../errors";
import type { ExportImportDevice, ImportError } from "../hub";
import { cost1, ifMatch, ok, type Route } from "./context";

const DEVICE = /^\/devices\/([^/]+)$/;

export const registryRoutes: Route[] = [
  {
    method: "GET",
    pattern: DEVICE,
    group: "registry",
    throttle: cost1("registry"),
    rights: ["RegistryRead"],
    handle: (ctx) => {
      const device = ctx.hub.getDevice(ctx.params[0]);
      return ok(device, 200, { etag: `"${String(device.etag)}"` });
    },
  },
  {
    method: "PUT",
    pattern: DEVICE,
    group: "registry",
    throttle: cost1("registry"),
    rights: ["RegistryWrite"],
    handle: (ctx) => {
      const body = (ctx.body ?? {}) as ExportImportDevice & { deviceId?: string };
      if (typeof body !== "object" || Array.isArray(body)) throw hubError("ArgumentInvalid", "The device must be a JSON object");
      const id = ctx.params[0];
      if (body.deviceId !== undefined && body.deviceId !== id) {
        throw hubError("ArgumentInvalid", `The deviceId in the body ('${String(body.deviceId)}') does not match the URI ('${id}')`);
      }
      const match = ifMatch(ctx);
      const device = match === undefined ? ctx.hub.createDevice({ ...body, deviceId: id }) : ctx.hub.updateDevice({ ...body, deviceId: id }, match);
      return ok(device, 200, { etag: `"${String(device.etag)}"` });
    },
  },
  {
    method: "DELETE",
    pattern: DEVICE,
    group: "registry",
    throttle: cost1("registry"),
    rights: ["RegistryWrite"],
    handle: (ctx) => {
      ctx.hub.deleteDevice(ctx.params[0], ifMatch(ctx));
      return { status: 204 };
    },
  },
  {
    method: "GET",
    pattern: /^\/devices\/?$/,
    group: "registry",
    throttle: cost1("registry"),
    rights: ["RegistryRead"],
    handle: (ctx) => {
      const top = Number(ctx.query.get("top") ?? 1000);
      return ok(ctx.hub.listDevices(Math.max(1, Math.min(1000, Number.isFinite(top) ? top : 1000))));
    },
  },
  {
    method: "POST",
    pattern: /^\/devices\/?$/,
    group: "registry",
    throttle: (ctx) => ({ group: "registry", cost: Array.isArray(ctx.body) ? Math.max(1, ctx.body.length) : 1 }),
    rights: ["RegistryWrite"],
    handle: (ctx) => {
      const entries = ctx.body;
      if (!Array.isArray(entries)) throw hubError("ArgumentInvalid", "The bulk request body must be an array of devices");
      if (entries.length === 0 || entries.length > 100) {
        throw hubError("ArgumentInvalid", `A bulk registry operation takes 1 to 100 devices; got ${entries.length}`);
      }
      const errors: ImportError[] = [];
      const seen = new Set<string>();
      for (const entry of entries as ExportImportDevice[]) {
        const key = `${String(entry?.id)}\u0000${entry?.moduleId ?? ""}`;
        if (seen.has(key)) {
          errors.push({ deviceId: String(entry.id), errorCode: "400011", errorStatus: `Device ${String(entry.id)} is defined more than once in the request` });
          continue;
        }
        seen.add(key);
        const error = ctx.hub.importEntry(entry ?? {});
        if (error) errors.push(error);
      }
      // The service answers 400 with the same result shape when any device failed.
      const body = {
        isSuccessful: errors.length === 0,
        errors: errors.map((e) => ({ deviceId: e.deviceId, ...(e.moduleId ? { moduleId: e.moduleId } : {}), errorCode: e.errorCode, errorStatus: e.errorStatus })),
        warnings: [],
      };
      return ok(body, errors.length === 0 ? 200 : 400);
    },
  },
  {
    method: "GET",
    pattern: /^\/statistics\/devices$/,
    group: "statistics",
    throttle: cost1("registry"),
    rights: ["RegistryRead"],
    handle: (ctx) => ok(ctx.hub.statistics()),
  },
];
