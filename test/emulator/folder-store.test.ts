/**
 * The folder store's crash contract: flushed records survive, a torn last line (the process died
 * mid-write) is skipped, and compaction leaves exactly the live records.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { Emulator } from "./emulator";
import { FolderStore } from "./persistence/folder";
import type { StateRecord } from "./persistence/store";

const dirs: string[] = [];
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iothub-store-"));
  dirs.push(dir);
  return dir;
}

async function loadAll(dir: string): Promise<StateRecord[]> {
  const out: StateRecord[] = [];
  await new FolderStore(dir).load((r) => out.push(r));
  return out;
}

afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe("FolderStore", () => {
  it("replays flushed records in order, including values given as raw JSON", async () => {
    const dir = scratch();
    const store = new FolderStore(dir);
    store.append({ k: "d", h: "hub", id: "a", v: undefined }, '{"id":"a","n":1}');
    store.append({ k: "d", h: "hub", id: "a", v: null });
    store.append({ k: "c", h: "hub", id: "cfg", v: { id: "cfg" } });
    store.flush();
    expect(await loadAll(dir)).toEqual([
      { k: "d", h: "hub", id: "a", v: { id: "a", n: 1 } },
      { k: "d", h: "hub", id: "a", v: null },
      { k: "c", h: "hub", id: "cfg", v: { id: "cfg" } },
    ]);
  });

  it("skips a torn last line and keeps appending after it", async () => {
    const dir = scratch();
    const store = new FolderStore(dir);
    store.append({ k: "d", h: "hub", id: "a", v: { id: "a" } });
    store.flush();
    store.close();
    fs.appendFileSync(path.join(dir, "state.log"), '{"k":"d","h":"hub","id":"b","v":{"id"');
    const reopened = new FolderStore(dir);
    const ids: string[] = [];
    await reopened.load((r) => ids.push((r as { id: string }).id));
    expect(ids).toEqual(["a"]);
    reopened.append({ k: "d", h: "hub", id: "c", v: { id: "c" } });
    reopened.flush();
    expect((await loadAll(dir)).map((r) => (r as { id: string }).id)).toEqual(["a", "c"]);
  });

  it("compacts to the live records only", async () => {
    const dir = scratch();
    const store = new FolderStore(dir);
    for (let i = 0; i < 100; i++) store.append({ k: "d", h: "hub", id: `d${i % 3}`, v: { i } });
    store.flush();
    await store.compact(() => ['{"k":"d","h":"hub","id":"d0","v":{"i":99}}']);
    store.append({ k: "d", h: "hub", id: "d1", v: { i: 100 } });
    store.flush();
    expect(await loadAll(dir)).toEqual([
      { k: "d", h: "hub", id: "d0", v: { i: 99 } },
      { k: "d", h: "hub", id: "d1", v: { i: 100 } },
    ]);
  });

  it("compacts more than 1 MiB of records in chunks without losing, gluing or reordering a line", async () => {
    const dir = scratch();
    const store = new FolderStore(dir);
    store.append({ k: "d", h: "hub", id: "history", v: { old: true } });
    store.flush();
    // ~3.3 MiB of live records: three full 1 MiB chunks and a partial last one.
    const live = Array.from({ length: 3300 }, (_, i) => JSON.stringify({ k: "d", h: "hub", id: `dev-${i}`, v: { pad: "x".repeat(1000), i } }));
    expect(live.join("\n").length).toBeGreaterThan(3 * 1024 * 1024);
    await store.compact(() => live);
    expect(fs.readFileSync(path.join(dir, "state.log"), "utf8")).toBe(live.join("\n") + "\n");
    expect(fs.existsSync(path.join(dir, "state.log.compact"))).toBe(false);
    // Appends after the compaction land on a line of their own.
    store.append({ k: "d", h: "hub", id: "after", v: { i: -1 } });
    store.close();
    const ids = (await loadAll(dir)).map((r) => (r as { id: string }).id);
    expect(ids).toEqual([...live.map((_, i) => `dev-${i}`), "after"]);
  });

  it("the emulator compacts its log on start to the live state: deleted devices and superseded versions are gone", async () => {
    const dir = scratch();
    let emulator = await Emulator.open({ stateDir: dir, log: () => undefined });
    const hub = emulator.createHub("compact-hub");
    hub.createDevice({ deviceId: "kept" });
    for (let i = 1; i <= 5; i++) hub.updateTwin("kept", { tags: { round: i } }, "*", "patch");
    hub.createDevice({ deviceId: "deleted" });
    hub.deleteDevice("deleted", "*");
    emulator.store.flush();
    emulator.close();
    const logFile = path.join(dir, "data", "state.log");
    const history = fs.readFileSync(logFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { k: string; id?: string; v: unknown });
    expect(history.filter((r) => r.k === "d").length).toBeGreaterThanOrEqual(8);

    emulator = await Emulator.open({ stateDir: dir, log: () => undefined });
    try {
      const lines = fs.readFileSync(logFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { k: string; h: string; id?: string; v: unknown });
      // One line for the hub and one per live device: no deletion record, no older version.
      expect(lines.map((r) => [r.k, r.id ?? r.h])).toEqual([
        ["hub", "compact-hub"],
        ["d", "kept"],
      ]);
      expect(lines.every((r) => r.v !== null)).toBe(true);
      expect(JSON.stringify(lines[1].v)).toContain('"round":5');
      expect(emulator.hub("compact-hub")!.getTwin("kept")).toMatchObject({ tags: { round: 5 } });
      expect(() => emulator.hub("compact-hub")!.getDevice("deleted")).toThrow(/not registered/);
    } finally {
      emulator.close();
    }
  });
});
