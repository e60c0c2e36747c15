/**
 * Shared setup for the engine tests: a source hub holding every device kind (written through the
 * real SDK, not through the engine), an independent registry dump to compare hubs, and option
 * builders. Not a test file itself.
 */
import { randomBytes } from "crypto";
import type { Registry } from "azure-iothub";
import { localEndpoints, registryFor, stagingConnectionString, type TestHub } from "../support/local-hub";
import type { CopyOptions } from "../../components/devices";

const key = () => randomBytes(32).toString("base64");
const thumb = () => randomBytes(20).toString("hex").toUpperCase();

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

/** Every kind: sas, selfSigned, CA, none, disabled with reason, edge with custom modules, a 3-level edge hierarchy with leaves, tags and desired properties; plus ADM, edge and layered deployments. */
export async function seedEveryKind(hub: TestHub): Promise<{ deviceIds: string[]; keys: string[] }> {
  const r = registryFor(hub);
  const keys: string[] = [];
  const sasAuth = () => {
    const k = { primaryKey: key(), secondaryKey: key() };
    keys.push(k.primaryKey, k.secondaryKey);
    return { type: "sas", symmetricKey: k };
  };
  const devices: Array<Record<string, unknown>> = [
    { deviceId: "sas-1", status: "enabled", authentication: sasAuth() },
    { deviceId: "self-1", status: "enabled", authentication: { type: "selfSigned", x509Thumbprint: { primaryThumbprint: thumb(), secondaryThumbprint: thumb() } } },
    { deviceId: "ca-1", status: "enabled", authentication: { type: "certificateAuthority" } },
    { deviceId: "none-1", status: "enabled", authentication: { type: "none" } },
    { deviceId: "disabled-1", status: "disabled", statusReason: "reported stolen 2026-01-02", authentication: sasAuth() },
  ];
  for (const d of devices) await p((cb) => r.create(d as never, cb as never));
  // Edge hierarchy: gw-top → gw-mid → gw-low, leaves under the top and the lowest level.
  const created = async (d: Record<string, unknown>) => p<{ deviceScope?: string }>((cb) => r.create(d as never, cb as never));
  const top = await created({ deviceId: "gw-top", status: "enabled", capabilities: { iotEdge: true }, authentication: sasAuth() });
  const mid = await created({ deviceId: "gw-mid", status: "enabled", capabilities: { iotEdge: true }, authentication: sasAuth(), parentScopes: [top.deviceScope] });
  const low = await created({ deviceId: "gw-low", status: "enabled", capabilities: { iotEdge: true }, authentication: sasAuth(), parentScopes: [mid.deviceScope] });
  await created({ deviceId: "leaf-top", status: "enabled", authentication: sasAuth(), deviceScope: top.deviceScope, parentScopes: [top.deviceScope] });
  await created({ deviceId: "leaf-low", status: "enabled", authentication: sasAuth(), deviceScope: low.deviceScope, parentScopes: [low.deviceScope] });
  // Custom modules with keys and module twins.
  for (const [dev, mod] of [["gw-top", "filter"], ["gw-top", "telemetry"], ["gw-low", "opc"]]) {
    await p((cb) => r.addModule({ deviceId: dev, moduleId: mod, authentication: sasAuth() } as never, cb as never));
    await p((cb) => r.updateModuleTwin(dev, mod, { properties: { desired: { interval: 5, mod } } }, "*", cb as never));
  }
  // Tags and desired properties.
  for (const id of ["sas-1", "self-1", "disabled-1", "gw-top", "leaf-low"]) {
    await p((cb) => r.updateTwin(id, { tags: { site: "berlin", id }, properties: { desired: { fw: { version: "1.2", url: `https://fw/${id}` } } } }, "*", cb as never));
  }
  // Configurations: ADM, an edge deployment, a layered deployment.
  await p((cb) => r.addConfiguration({ id: "adm-fw", schemaVersion: "1.0", labels: { kind: "adm" }, content: { deviceContent: { "properties.desired.fw.version": "1.3" } }, targetCondition: "tags.site='berlin'", priority: 5, metrics: { queries: { done: "SELECT deviceId FROM devices WHERE properties.reported.fw.version='1.3'" } } } as never, cb as never));
  await p((cb) => r.addConfiguration({ id: "edge-base", schemaVersion: "1.0", content: { modulesContent: { $edgeAgent: { "properties.desired": { schemaVersion: "1.1", runtime: { type: "docker" }, systemModules: {}, modules: {} } }, $edgeHub: { "properties.desired": { schemaVersion: "1.1", routes: {} } } } }, targetCondition: "capabilities.iotEdge=true", priority: 1 } as never, cb as never));
  await p((cb) => r.addConfiguration({ id: "edge-layer-sim", schemaVersion: "1.0", content: { modulesContent: { $edgeAgent: { "properties.desired.modules.sim": { type: "docker", settings: { image: "sim:1" } } } } }, targetCondition: "tags.site='berlin'", priority: 10 } as never, cb as never));
  return { deviceIds: [...devices.map((d) => String(d.deviceId)), "gw-top", "gw-mid", "gw-low", "leaf-top", "leaf-low"], keys };
}

/** Independent dump (through the SDK, not the engine) of everything a copy touches: identities, twins, modules, configurations. */
export async function dumpRegistry(hub: TestHub | string): Promise<Record<string, unknown>> {
  const r: Registry = registryFor(hub);
  const devices = (await p<Array<Record<string, unknown>>>((cb) => r.list(cb as never))).sort((a, b) => String(a.deviceId).localeCompare(String(b.deviceId)));
  const out: Record<string, unknown> = {};
  for (const d of devices) {
    const id = String(d.deviceId);
    const twin = await p<Record<string, unknown>>((cb) => r.getTwin(id, cb as never));
    const modules = (await p<Array<Record<string, unknown>>>((cb) => r.getModulesOnDevice(id, cb as never))).sort((a, b) => String(a.moduleId).localeCompare(String(b.moduleId)));
    const moduleTwins: Record<string, unknown> = {};
    for (const m of modules) {
      const t = await p<Record<string, unknown>>((cb) => r.getModuleTwin(id, String(m.moduleId), cb as never));
      moduleTwins[String(m.moduleId)] = { tags: t.tags, desired: (t.properties as { desired?: unknown })?.desired };
    }
    out[id] = { device: strip(d), twin: { etag: twin.etag, version: twin.version, tags: twin.tags, properties: twin.properties }, modules: modules.map(strip), moduleTwins };
  }
  const configs = (await p<Array<Record<string, unknown>>>((cb) => r.getConfigurations(cb as never))).sort((a, b) => String(a.id).localeCompare(String(b.id)));
  out.$configurations = configs;
  return out;
}

/** Fields that move by themselves (connection state, activity timestamps) are not writes. */
function strip(d: Record<string, unknown>): Record<string, unknown> {
  const { connectionState: _a, connectionStateUpdatedTime: _b, lastActivityTime: _c, cloudToDeviceMessageCount: _d, ...rest } = d;
  void _a; void _b; void _c; void _d;
  return rest;
}

/** Just what a copy must reproduce, with parents by id (scopes differ per hub). */
export async function copiedView(hub: TestHub): Promise<Record<string, unknown>> {
  const dump = await dumpRegistry(hub);
  const scopeOwner = new Map<string, string>();
  for (const [id, v] of Object.entries(dump)) {
    const d = (v as { device?: Record<string, unknown> }).device;
    if (d && (d.capabilities as { iotEdge?: boolean })?.iotEdge && d.deviceScope) scopeOwner.set(String(d.deviceScope), id);
  }
  const view: Record<string, unknown> = {};
  for (const [id, v] of Object.entries(dump)) {
    if (id === "$configurations") {
      view[id] = (v as Array<Record<string, unknown>>).map((c) => ({ id: c.id, content: c.content, targetCondition: c.targetCondition, priority: c.priority, labels: c.labels }));
      continue;
    }
    const { device: d, twin, modules, moduleTwins } = v as { device: Record<string, unknown>; twin: { tags?: unknown; properties?: { desired?: Record<string, unknown> } }; modules: Array<Record<string, unknown>>; moduleTwins: Record<string, unknown> };
    const edge = (d.capabilities as { iotEdge?: boolean })?.iotEdge === true;
    const parentScope = edge ? (d.parentScopes as string[] | undefined)?.[0] : (d.deviceScope as string | undefined);
    const desired = { ...(twin.properties?.desired ?? {}) };
    delete desired.$metadata;
    delete desired.$version;
    view[id] = {
      status: d.status,
      statusReason: d.statusReason ?? "",
      authentication: d.authentication,
      edge,
      parent: parentScope ? scopeOwner.get(parentScope) ?? `unknown scope ${parentScope}` : null,
      tags: twin.tags ?? {},
      desired,
      modules: modules.filter((m) => !String(m.moduleId).startsWith("$")).map((m) => ({ id: m.moduleId, authentication: m.authentication, desired: stripMeta((moduleTwins[String(m.moduleId)] as { desired?: Record<string, unknown> }).desired) })),
    };
  }
  return view;
}

function stripMeta(d: Record<string, unknown> | undefined): Record<string, unknown> {
  const o = { ...(d ?? {}) };
  delete o.$metadata;
  delete o.$version;
  return o;
}

export function uniqueContainer(prefix = "stg"): string {
  return `${prefix}-${randomBytes(6).toString("hex")}`;
}

export interface LogSink {
  lines: string[];
  log: (l: string) => void;
}
export function logSink(): LogSink {
  const lines: string[] = [];
  return { lines, log: (l) => lines.push(l) };
}

export function copyOptions(source: TestHub, clone: TestHub, container: string, runId: string, extra: Partial<CopyOptions> = {}): CopyOptions {
  return {
    source: { connectionString: source.connectionString },
    clone: { connectionString: clone.connectionString },
    staging: { connectionString: stagingConnectionString(), containerName: container },
    runId,
    local: localEndpoints(),
    pollIntervalMs: { min: 30, max: 200 },
    // Differences are rechecked for 2 s (not the 10 minutes a real hub may need), so a test that
    // expects a real difference waits briefly, and a local hub with replication lag still settles.
    consistencyWindowMs: 2000,
    ...extra,
  };
}
