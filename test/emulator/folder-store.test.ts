/**
 * The folder store's crash contract: flushed records survive, a torn last line (the process died
 * mid-write) is skipped, and compaction leaves exactly the live records.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
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
});
