/**
 * Persistence behind an interface, as Azurite does it: the emulator's state lives in memory and every
 * change is also handed to a store, which the folder implementation turns into an append-only log
 * that a killed emulator replays on restart.
 */

/** One state change. `v` is the new value; `null` means deleted. */
export type StateRecord =
  | { k: "hub"; h: string; v: unknown | null }
  | { k: "d"; h: string; id: string; v: unknown | null }
  | { k: "m"; h: string; id: string; m: string; v: unknown | null }
  | { k: "c"; h: string; id: string; v: unknown | null }
  | { k: "j"; h: string; id: string; v: unknown | null }
  | { k: "j2"; h: string; id: string; v: unknown | null };

export interface StateStore {
  /** Replays every persisted record in order. */
  load(apply: (record: StateRecord) => void): Promise<void>;
  /** Queues a record; `raw` is its JSON text when the caller already has it (avoids re-serialising big values). */
  append(record: StateRecord, raw?: string): void;
  /** Makes every queued record durable against a process kill before the caller acknowledges it. */
  flush(): void;
  /** Rewrites the store to exactly these records (the live state), dropping history. */
  compact(records: () => Iterable<string>): Promise<void>;
  close(): void;
}

/** Serialises a record whose value is already JSON text, without parsing and re-stringifying it. */
export function recordLine(record: StateRecord, rawValue?: string): string {
  if (rawValue === undefined) return JSON.stringify(record);
  const { v: _ignored, ...rest } = record as { v: unknown } & Record<string, unknown>;
  const head = JSON.stringify(rest);
  return head.slice(0, -1) + ',"v":' + rawValue + "}";
}
