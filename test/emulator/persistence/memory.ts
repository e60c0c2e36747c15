import type { StateRecord, StateStore } from "./store";

/** Keeps nothing: for in-process emulators in unit tests where restarts are not exercised. */
export class MemoryStore implements StateStore {
  async load(_apply: (record: StateRecord) => void): Promise<void> {}
  append(_record: StateRecord, _raw?: string): void {}
  flush(): void {}
  async compact(_records: () => Iterable<string>): Promise<void> {}
  close(): void {}
}
