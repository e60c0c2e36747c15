/**
 * Configurations: the three content kinds (deviceContent and moduleContent: twin paths; modulesContent:
 * an edge deployment) copied and verified, both casings of an export line read, and a line that
 * cannot be read reported by the verifier instead of skipped (issue 11 §1, issue 15 item 2).
 */
import { describe, expect, it } from "vitest";
import { readConfigurationLine, transformConfigurationLine } from "../../components/devices/transform";
import { compareConfigurationStreams } from "../../components/devices/verify";
import { copyDevices } from "../../components/devices";
import { createTestHub, registryFor } from "../support/local-hub";
import { copiedView, copyOptions, uniqueContainer } from "./engine-fixtures";

async function* from(lines: string[]): AsyncGenerator<string> {
  yield* lines;
}

const adm = { id: "adm-fw", schemaVersion: "1.0", labels: { kind: "adm" }, content: { deviceContent: { "properties.desired.fw.version": "1.3" } }, targetCondition: "tags.site='berlin'", priority: 5, metrics: { queries: { done: "SELECT deviceId FROM devices WHERE properties.reported.fw.version='1.3'" } } };
const moduleAdm = { id: "adm-mod", schemaVersion: "1.0", content: { moduleContent: { "properties.desired.interval": 10 } }, targetCondition: "FROM devices.modules WHERE moduleId='filter'", priority: 3 };
const edge = { id: "edge-base", schemaVersion: "1.0", content: { modulesContent: { $edgeAgent: { "properties.desired": { schemaVersion: "1.1", runtime: { type: "docker" }, systemModules: {}, modules: {} } }, $edgeHub: { "properties.desired": { schemaVersion: "1.1", routes: {} } } } }, targetCondition: "capabilities.iotEdge=true", priority: 1 };

/** The same configuration as the .NET model would serialise it: PascalCase schema keys, the user's keys untouched. */
function pascal(c: Record<string, unknown>): Record<string, unknown> {
  const up = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.charAt(0).toUpperCase() + k.slice(1), v]));
  const out = up(c);
  if (out.Content) out.Content = up(out.Content as Record<string, unknown>);
  if (out.Metrics) out.Metrics = up(out.Metrics as Record<string, unknown>);
  return { ...out, ETag: "MQ==", CreatedTimeUtc: "2026-12-01T00:00:00Z", SystemMetrics: { Results: {} } };
}

describe("configuration lines", () => {
  it("reads PascalCase and camelCase lines alike, for all three content kinds, leaving the user's keys alone", () => {
    for (const c of [adm, moduleAdm, edge]) {
      const camel = transformConfigurationLine(JSON.stringify(c));
      const upper = transformConfigurationLine(JSON.stringify(pascal(c)));
      if (!("hash" in camel) || !("hash" in upper)) throw new Error(`unread: ${c.id}`);
      expect(upper.hash, c.id).toBe(camel.hash);
      expect(JSON.parse(upper.line), c.id).toEqual({ importMode: "createOrUpdateIfMatchETag", ...c });
    }
    const r = readConfigurationLine(JSON.stringify(pascal(edge)));
    expect(r.ok && Object.keys((r.config.content as Record<string, Record<string, unknown>>).modulesContent)).toEqual(["$edgeAgent", "$edgeHub"]);
  });

  it("names what it cannot read", () => {
    expect(transformConfigurationLine("{not json")).toEqual({ error: "not valid JSON", id: undefined });
    expect(transformConfigurationLine('{"id":"x","content":"text"}')).toEqual({ error: "content is not an object", id: "x" });
    expect(transformConfigurationLine('{"Labels":{}}')).toEqual({ error: "missing id", id: undefined });
  });

  it("the verifier compares a PascalCase export with a camelCase one, and reports an unreadable line instead of skipping it", async () => {
    const src = [adm, moduleAdm, edge].map((c) => JSON.stringify(pascal(c)));
    const cln = [adm, moduleAdm, edge].map((c) => JSON.stringify({ ...c, etag: "Mg==", createdTimeUtc: "2026-12-02T00:00:00Z" }));
    expect(await compareConfigurationStreams(from(src), from(cln))).toEqual({ source: 3, clone: 3, missing: [], extra: [], different: [], unreadable: [] });
    const broken = await compareConfigurationStreams(from([...src, '{"Id":"half"']), from(cln));
    expect(broken.unreadable).toEqual(["original configuration line 4 (half): not valid JSON"]);
    const changed = await compareConfigurationStreams(from(src), from(cln.map((l) => l.replace('"properties.desired.interval":10', '"properties.desired.interval":11'))));
    expect(changed.different).toEqual(["adm-mod"]);
  });
});

describe("copying configurations of every content kind", () => {
  function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
  }
  async function copyConfigurations(name: string, configs: Array<Record<string, unknown>>) {
    const source = await createTestHub(`${name}-src`);
    const clone = await createTestHub(`${name}-cln`);
    const r = registryFor(source);
    await p((cb) => r.create({ deviceId: "d-1" } as never, cb as never));
    for (const c of configs) await p((cb) => r.addConfiguration(c as never, cb as never));
    const result = await copyDevices(copyOptions(source, clone, uniqueContainer(), name));
    expect(result).toMatchObject({ failed: 0, mismatchCount: 0, configurations: { exported: configs.length, imported: configs.length, failed: 0 } });
    const view = await copiedView(clone);
    expect(view.$configurations).toEqual((await copiedView(source)).$configurations);
    expect((view.$configurations as Array<{ id: string }>).map((c) => c.id).sort()).toEqual(configs.map((c) => c.id).sort());
  }

  it("copies deviceContent and modulesContent (edge deployment) configurations to the clone and verifies them", async () => {
    await copyConfigurations("cfg", [adm, edge]);
  });

  // Needs the local hub to model moduleContent as twin paths (issue 15 item 2, the emulator's side).
  it("copies a moduleContent configuration (module twin paths) to the clone and verifies it", async () => {
    await copyConfigurations("cfgmod", [moduleAdm]);
  });
});
