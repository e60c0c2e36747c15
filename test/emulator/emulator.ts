/**
 * The emulator's state: the hubs (by name), their pacing, the persistence store and the job runner.
 * The HTTP layer (server.ts) resolves a hub from the Host header and hands requests to handlers.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Hub, type HubOptions } from "./hub";
import { HubPacing } from "./faults";
import { FolderStore } from "./persistence/folder";
import { MemoryStore } from "./persistence/memory";
import type { StateStore } from "./persistence/store";
import { JobRunner } from "./job-runner";
import { ScheduledJobs } from "./scheduled-jobs";

export interface EmulatorConfig {
  /** Folder for persisted state, TLS material and the admin key; omit for an in-memory emulator. */
  stateDir?: string;
  /** Azurite connection string: lets identity-based jobs reach storage (Azurite has no Azure AD). */
  storageConnectionString?: string;
  log?: (line: string) => void;
}

const HUB_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{1,48}[A-Za-z0-9])$/;

export class Emulator {
  readonly hubs = new Map<string, Hub>();
  readonly pacing = new Map<string, HubPacing>();
  readonly jobs: JobRunner;
  readonly scheduledJobs: ScheduledJobs;
  adminKey = "";

  private constructor(
    readonly config: EmulatorConfig,
    readonly store: StateStore,
  ) {
    this.jobs = new JobRunner(this);
    this.scheduledJobs = new ScheduledJobs(this);
  }

  static async open(config: EmulatorConfig): Promise<Emulator> {
    const store = config.stateDir ? new FolderStore(path.join(config.stateDir, "data")) : new MemoryStore();
    const emulator = new Emulator(config, store);
    emulator.adminKey = config.stateDir ? loadAdminKey(config.stateDir) : crypto.randomBytes(24).toString("base64url");
    await store.load((rec) => {
      if (rec.k === "hub") {
        if (rec.v === null) {
          emulator.hubs.delete(rec.h.toLowerCase());
          return;
        }
        const existing = emulator.hubs.get(rec.h.toLowerCase());
        if (existing) existing.meta = rec.v as Hub["meta"];
        else emulator.hubs.set(rec.h.toLowerCase(), new Hub(rec.v as Hub["meta"], store));
        return;
      }
      const hub = emulator.hubs.get(rec.h.toLowerCase());
      if (!hub) return;
      hub.replay(rec.k, rec.id, rec.k === "m" ? rec.m : undefined, rec.v);
    });
    for (const hub of emulator.hubs.values()) emulator.pacing.set(hub.name.toLowerCase(), new HubPacing(hub.meta.options));
    // Drop history so the next restart replays only live state.
    await store.compact(function* () {
      for (const hub of emulator.hubs.values()) yield* hub.snapshotLines();
    });
    emulator.jobs.resumeAfterRestart();
    emulator.scheduledJobs.resumeAfterRestart();
    return emulator;
  }

  log(line: string): void {
    (this.config.log ?? ((l: string) => process.stderr.write(l + "\n")))(line);
  }

  hub(name: string): Hub | undefined {
    return this.hubs.get(name.toLowerCase());
  }

  createHub(name: string, options: HubOptions = {}): Hub {
    if (!HUB_NAME.test(name)) throw new Error(`hub name '${name}' must be 3-50 letters, digits or hyphens`);
    if (this.hub(name)) throw new Error(`hub '${name}' already exists`);
    const hub = Hub.create(name, options, this.store);
    this.hubs.set(name.toLowerCase(), hub);
    this.pacing.set(name.toLowerCase(), new HubPacing(hub.meta.options));
    this.store.flush();
    return hub;
  }

  configureHub(name: string, options: HubOptions): Hub {
    const hub = this.hub(name);
    if (!hub) throw new Error(`hub '${name}' does not exist`);
    hub.configure(options);
    this.pacing.get(name.toLowerCase())!.reset(hub.meta.options);
    this.store.flush();
    return hub;
  }

  deleteHub(name: string): void {
    const hub = this.hub(name);
    if (!hub) return;
    this.jobs.cancelAll(hub);
    this.hubs.delete(name.toLowerCase());
    this.pacing.delete(name.toLowerCase());
    this.store.append({ k: "hub", h: hub.name, v: null });
    this.store.flush();
  }

  close(): void {
    this.jobs.stop();
    this.scheduledJobs.stop();
    this.store.close();
  }
}

function loadAdminKey(stateDir: string): string {
  const file = path.join(stateDir, "admin-key");
  if (fs.existsSync(file)) return fs.readFileSync(file, "utf8").trim();
  fs.mkdirSync(stateDir, { recursive: true });
  const key = crypto.randomBytes(24).toString("base64url");
  fs.writeFileSync(file, key, { mode: 0o600 });
  return key;
}
