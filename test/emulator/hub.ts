/**
 * One emulated IoT hub's identity registry: devices, modules, twins, configurations and jobs, with
 * the service's rules (etags, generation ids, keys, edge scopes, import modes, quota). Handlers and
 * the import job both go through these operations so bulk calls and blob imports behave alike.
 *
 * Devices are held as compact JSON strings (parsed on access): a hub at the 1,000,000 device quota
 * must fit in well under 2 GB, and a string costs a fraction of the equivalent object graph.
 */
import * as crypto from "crypto";
import { hubError, HubError, type ErrorBodyFormat } from "./errors";
import { rulesOf, type Profile, type StrictRules } from "./profile";
import { newKey, standardPolicies, type AccessPolicy } from "./auth";
import type { StateStore } from "./persistence/store";

export type ThrottleGroup = "registry" | "jobs" | "query" | "twinRead" | "twinUpdate" | "configurations";
export type OperationGroup = "registry" | "twins" | "modules" | "query" | "jobs" | "configurations" | "statistics";

export interface FaultRule {
  /** Which calls the rule watches; `*` = every data-plane call. */
  group: OperationGroup | "*";
  /** HTTP status to answer with (e.g. 500, 503, 429); omit for a pure delay. */
  status?: number;
  /** Fail exactly the Nth matching call after the rule is set (1-based). */
  nth?: number;
  /** Fail this fraction (0..1) of matching calls. */
  fraction?: number;
  /** Stop after failing this many calls. */
  times?: number;
  /** Delay every matching call by this many milliseconds (a slow response). */
  delayMs?: number;
}

export interface HubOptions {
  sku?: string;
  units?: number;
  /** Devices per second an import/export job processes; null/0 = as fast as possible (tests). ~70 rehearses Azure. */
  jobDevicesPerSecond?: number | null;
  /** Enforce the SKU's documented throttles (429 + Retry-After). Off by default so tests run fast. */
  throttling?: boolean;
  /** Per-minute limits that replace the SKU table for the given groups (implies throttling for them). */
  throttleOverrides?: Partial<Record<ThrottleGroup, number>>;
  faults?: FaultRule[];
  /** Import/export jobs fail once they reach this progress (percent). */
  jobFailAtProgress?: number | null;
  /** Devices plus modules the hub accepts (the service's cap is 1,000,000). */
  deviceQuota?: number;
  /** `azure`: the Azure-strict profile (profile.ts); `default` (or absent): forgiving and fast. */
  profile?: Profile;
  /** Strict profile: real time ÷ timeScale = emulator time for paces, lifetimes, throttles and lag (default 1). */
  timeScale?: number;
  /** Real-time ms an imported device stays invisible (and a deleted one visible) to queries and GETs; strict default 10,000. */
  consistencyLagMs?: number;
  /** Key-less exports start with a non-JSON line for people (strict: on unless false). */
  exportWarningLine?: boolean;
  /** Strict: job GET/list blank outputBlobContainerUri (on unless false). */
  blankJobUris?: boolean;
  /** Strict: job GET/list show the blob names (off unless true). */
  jobBlobNamesOnRead?: boolean;
  /** Error body form (errors.ts); default `code-name`, what the service sends. */
  errorFormat?: ErrorBodyFormat;
  /** Override the tier's scheduled-job device operations per second (before timeScale). */
  jobDeviceOpsPerSecond?: number;
  /**
   * Until this time (ISO), identity-based import/export jobs are refused at create with 400, as while the
   * hub's Storage Blob Data Contributor role assignment propagates (the CLI's own test waits 60 s more:
   * azure-iot-cli-extension test_iothub_storage_int.py IDENTITY_SLEEP_INTERVAL). Any profile.
   */
  storageRoleReadyAt?: string;
}

export interface HubMeta {
  name: string;
  hostName: string;
  createdTimeUtc: string;
  policies: AccessPolicy[];
  options: HubOptions;
}

export interface SymmetricKey {
  primaryKey: string | null;
  secondaryKey: string | null;
}
export interface X509Thumbprint {
  primaryThumbprint: string | null;
  secondaryThumbprint: string | null;
}
export interface Authentication {
  type?: string;
  symmetricKey?: Partial<SymmetricKey> | null;
  x509Thumbprint?: Partial<X509Thumbprint> | null;
}

type Json = Record<string, unknown>;

/** Stored twin. Versions follow the service: `version` counts every twin change, `dv`/`rv` the desired/reported ones. */
interface TwinRec {
  v: number;
  tags?: Json;
  d?: Json;
  dv: number;
  dlu: string;
  rep?: Json;
  rv: number;
  rlu: string;
}

interface DeviceRec {
  id: string;
  g: string;
  e: string;
  s: "enabled" | "disabled";
  r?: string | null;
  su: string;
  a: { t: string; p?: string | null; s?: string | null; tp?: string | null; ts?: string | null };
  edge?: boolean;
  sc?: string;
  ps?: string[];
  tw: TwinRec;
}

interface ModuleRec {
  id: string;
  dev: string;
  g: string;
  e: string;
  a: DeviceRec["a"];
  mb?: string;
  tw: TwinRec;
}

/** One line of devices.txt / one element of a bulk request. */
export interface ExportImportDevice {
  id?: string;
  moduleId?: string | null;
  eTag?: string | null;
  importMode?: string | null;
  status?: string | null;
  statusReason?: string | null;
  authentication?: Authentication | null;
  twinETag?: string | null;
  tags?: Json | null;
  properties?: { desired?: Json | null; reported?: Json | null } | null;
  capabilities?: { iotEdge?: boolean } | null;
  deviceScope?: string | null;
  parentScopes?: string[] | null;
  managedBy?: string | null;
}

export interface ImportError {
  deviceId: string;
  moduleId?: string;
  errorCode: string;
  errorStatus: string;
}

export const EDGE_SYSTEM_MODULES = ["$edgeAgent", "$edgeHub"];
export const DEFAULT_DEVICE_QUOTA = 1_000_000;
const NEVER = "0001-01-01T00:00:00Z";
const ID_PATTERN = /^[A-Za-z0-9\-:.+%_#*?!(),=@$']{1,128}$/;
const IMPORT_MODES = [
  "create",
  "update",
  "updateifmatchetag",
  "createorupdate",
  "createorupdateifmatchetag",
  "delete",
  "deleteifmatchetag",
  "updatetwin",
  "updatetwinifmatchetag",
];

let etagCounter = crypto.randomInt(1, 1_000_000_000);
function nextEtag(): string {
  etagCounter += 1;
  return Buffer.from(String(etagCounter)).toString("base64");
}

/** Generation ids look like .NET ticks (18 digits) and differ per identity and per hub. */
let generationCounter = 0;
function nextGenerationId(): string {
  generationCounter = (generationCounter + 1) % 10000;
  const ticks = BigInt(Date.now()) * 10000n + 621355968000000000n;
  return (ticks + BigInt(generationCounter)).toString();
}

export function twinEtag(version: number): string {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(version));
  return buf.toString("base64");
}

function unquote(etag: string | null | undefined): string | undefined {
  if (etag === null || etag === undefined) return undefined;
  const t = etag.trim();
  return t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1) : t;
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON merge patch as twins use it: null removes a property, objects merge recursively. */
export function mergePatch(target: Json | undefined, patch: Json): Json | undefined {
  const out: Json = { ...(target ?? {}) };
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue; // $metadata/$version are the service's own
    if (v === null) delete out[k];
    else if (isPlainObject(v)) out[k] = mergePatch(isPlainObject(out[k]) ? (out[k] as Json) : undefined, v) ?? {};
    else out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

function withoutServiceKeys(v: Json | null | undefined): Json | undefined {
  if (!v) return undefined;
  const out: Json = {};
  for (const [k, val] of Object.entries(v)) if (!k.startsWith("$")) out[k] = val;
  return Object.keys(out).length ? out : undefined;
}

function newTwin(now: string): TwinRec {
  return { v: 1, dv: 1, dlu: now, rv: 1, rlu: now };
}

function validKey(key: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return false;
  const bytes = Buffer.from(key, "base64").length;
  return bytes >= 16 && bytes <= 64;
}

function validThumbprint(t: string): boolean {
  return /^[A-Fa-f0-9]{40}$/.test(t) || /^[A-Fa-f0-9]{64}$/.test(t);
}

const ENTRY_KEYS = [
  "id",
  "moduleId",
  "eTag",
  "importMode",
  "status",
  "statusReason",
  "authentication",
  "twinETag",
  "tags",
  "properties",
  "capabilities",
  "deviceScope",
  "parentScopes",
  "managedBy",
];
const AUTH_KEYS = ["type", "symmetricKey", "x509Thumbprint", "primaryKey", "secondaryKey", "primaryThumbprint", "secondaryThumbprint"];

function canonicalKeys(obj: unknown, names: string[], deep: boolean): unknown {
  if (!isPlainObject(obj)) return obj;
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) {
    const name = names.find((n) => n.toLowerCase() === k.toLowerCase()) ?? k;
    out[name] = deep ? canonicalKeys(v, names, deep) : v;
  }
  return out;
}

/**
 * The service deserialises ExportImportDevice case-insensitively (the Node SDK's bulk calls send
 * `etag`, devices.txt has `eTag`): map every casing onto the documented names.
 */
export function canonicalEntry(raw: unknown): ExportImportDevice {
  const entry = canonicalKeys(raw ?? {}, ENTRY_KEYS, false) as ExportImportDevice;
  if (entry.authentication) entry.authentication = canonicalKeys(entry.authentication, AUTH_KEYS, true) as Authentication;
  return entry;
}

export interface HubCounters {
  devices: number;
  enabled: number;
  modules: number;
}

export class Hub {
  readonly devices = new Map<string, string>();
  /** deviceId → moduleId → module JSON. */
  readonly modules = new Map<string, Map<string, string>>();
  readonly configurations = new Map<string, Json>();
  readonly jobs = new Map<string, Json>();
  readonly scheduledJobs = new Map<string, Json>();
  /** Live edge scopes → device id, for parent validation. */
  readonly edgeScopes = new Map<string, string>();
  readonly counters: HubCounters = { devices: 0, enabled: 0, modules: 0 };
  /** Consistency lag: device id → epoch ms until which an imported device is not yet visible to reads. */
  private readonly unseen = new Map<string, number>();
  /** Consistency lag: deleted device id → its last twin and the epoch ms until which queries still return it. */
  private readonly ghosts = new Map<string, { twin: Json; until: number }>();
  private rulesCache?: { options: HubOptions; rules: StrictRules };

  constructor(
    public meta: HubMeta,
    private readonly store: StateStore,
  ) {}

  static create(name: string, options: HubOptions, store: StateStore): Hub {
    const meta: HubMeta = {
      name,
      hostName: `${name}.azure-devices.net`,
      createdTimeUtc: new Date().toISOString(),
      policies: standardPolicies(),
      options: { ...options },
    };
    const hub = new Hub(meta, store);
    hub.persistMeta();
    return hub;
  }

  get name(): string {
    return this.meta.name;
  }

  /** The profile's rules for the current options (recomputed when the options object changes). */
  get rules(): StrictRules {
    if (!this.rulesCache || this.rulesCache.options !== this.meta.options) this.rulesCache = { options: this.meta.options, rules: rulesOf(this.meta.options) };
    return this.rulesCache.rules;
  }

  // ---------------------------------------------------------------- consistency lag

  /** An import just created `id`: reads miss it for the lag (RegistryManagerImportDevicesTests.cs retries GET 404 after import). */
  markUnseen(id: string): void {
    const lag = this.rules.consistencyLagMs;
    if (lag > 0) this.unseen.set(id, Date.now() + lag);
  }

  /** Whether reads (GET, queries, exports) see `id` yet. */
  visible(id: string): boolean {
    const until = this.unseen.get(id);
    if (until === undefined) return true;
    if (Date.now() >= until) {
      this.unseen.delete(id);
      return true;
    }
    return false;
  }

  private remember(id: string, rec: DeviceRec): void {
    const lag = this.rules.consistencyLagMs;
    this.unseen.delete(id);
    if (lag > 0) this.ghosts.set(id, { twin: this.deviceTwinJson(rec), until: Date.now() + lag });
  }

  /** Twins of devices deleted less than the lag ago: queries still return them. */
  private *liveGhosts(): Iterable<Json> {
    const now = Date.now();
    for (const [id, g] of this.ghosts) {
      if (now >= g.until || this.devices.has(id)) this.ghosts.delete(id);
      else yield g.twin;
    }
  }

  get quota(): number {
    return this.meta.options.deviceQuota ?? DEFAULT_DEVICE_QUOTA;
  }

  persistMeta(): void {
    this.store.append({ k: "hub", h: this.name, v: this.meta });
  }

  configure(options: HubOptions): void {
    this.meta.options = { ...this.meta.options, ...options };
    this.persistMeta();
  }

  connectionString(keyName = "iothubowner"): string {
    const policy = this.meta.policies.find((p) => p.keyName === keyName);
    if (!policy) throw new Error(`no policy ${keyName}`);
    return `HostName=${this.meta.hostName};SharedAccessKeyName=${keyName};SharedAccessKey=${policy.primaryKey}`;
  }

  // ---------------------------------------------------------------- replay

  /** Applies a persisted record without re-persisting it. */
  replay(kind: string, id: string, moduleId: string | undefined, value: unknown | null): void {
    switch (kind) {
      case "d":
        if (value === null) this.removeDeviceRaw(id, false);
        else this.setDeviceRaw(value as DeviceRec, false);
        break;
      case "m":
        if (value === null) this.removeModuleRaw(id, moduleId!, false);
        else this.setModuleRaw(value as ModuleRec, false);
        break;
      case "c":
        if (value === null) this.configurations.delete(id);
        else this.configurations.set(id, value as Json);
        break;
      case "j":
        if (value === null) this.jobs.delete(id);
        else this.jobs.set(id, value as Json);
        break;
      case "j2":
        if (value === null) this.scheduledJobs.delete(id);
        else this.scheduledJobs.set(id, value as Json);
        break;
    }
  }

  /** Live state as log lines, for compaction. */
  *snapshotLines(): Iterable<string> {
    yield JSON.stringify({ k: "hub", h: this.name, v: this.meta });
    const h = JSON.stringify(this.name);
    for (const [id, json] of this.devices) yield `{"k":"d","h":${h},"id":${JSON.stringify(id)},"v":${json}}`;
    for (const [deviceId, mods] of this.modules)
      for (const [moduleId, json] of mods)
        yield `{"k":"m","h":${h},"id":${JSON.stringify(deviceId)},"m":${JSON.stringify(moduleId)},"v":${json}}`;
    for (const [id, c] of this.configurations) yield JSON.stringify({ k: "c", h: this.name, id, v: c });
    for (const [id, j] of this.jobs) yield JSON.stringify({ k: "j", h: this.name, id, v: j });
    for (const [id, j] of this.scheduledJobs) yield JSON.stringify({ k: "j2", h: this.name, id, v: j });
  }

  // ---------------------------------------------------------------- raw storage

  private setDeviceRaw(rec: DeviceRec, persist = true): void {
    const json = JSON.stringify(rec);
    const old = this.devices.get(rec.id);
    if (old) {
      const prev = JSON.parse(old) as DeviceRec;
      if (prev.s === "enabled") this.counters.enabled -= 1;
      if (prev.sc && prev.edge) this.edgeScopes.delete(prev.sc);
    } else {
      this.counters.devices += 1;
    }
    if (rec.s === "enabled") this.counters.enabled += 1;
    if (rec.edge && rec.sc) this.edgeScopes.set(rec.sc, rec.id);
    this.devices.set(rec.id, json);
    if (persist) this.store.append({ k: "d", h: this.name, id: rec.id, v: undefined }, json);
  }

  private removeDeviceRaw(id: string, persist = true): void {
    const old = this.devices.get(id);
    if (!old) return;
    const prev = JSON.parse(old) as DeviceRec;
    if (persist) this.remember(id, prev);
    if (prev.s === "enabled") this.counters.enabled -= 1;
    if (prev.edge && prev.sc) this.edgeScopes.delete(prev.sc);
    this.counters.devices -= 1;
    this.devices.delete(id);
    const mods = this.modules.get(id);
    if (mods) {
      this.counters.modules -= mods.size;
      this.modules.delete(id);
    }
    if (persist) this.store.append({ k: "d", h: this.name, id, v: null });
  }

  private setModuleRaw(rec: ModuleRec, persist = true): void {
    let mods = this.modules.get(rec.dev);
    if (!mods) {
      mods = new Map();
      this.modules.set(rec.dev, mods);
    }
    const json = JSON.stringify(rec);
    if (!mods.has(rec.id)) this.counters.modules += 1;
    mods.set(rec.id, json);
    if (persist) this.store.append({ k: "m", h: this.name, id: rec.dev, m: rec.id, v: undefined }, json);
  }

  private removeModuleRaw(deviceId: string, moduleId: string, persist = true): void {
    const mods = this.modules.get(deviceId);
    if (!mods || !mods.has(moduleId)) return;
    mods.delete(moduleId);
    this.counters.modules -= 1;
    if (mods.size === 0) this.modules.delete(deviceId);
    if (persist) this.store.append({ k: "m", h: this.name, id: deviceId, m: moduleId, v: null });
  }

  private getDeviceRec(id: string): DeviceRec | undefined {
    const json = this.devices.get(id);
    return json ? (JSON.parse(json) as DeviceRec) : undefined;
  }

  private getModuleRec(deviceId: string, moduleId: string): ModuleRec | undefined {
    const json = this.modules.get(deviceId)?.get(moduleId);
    return json ? (JSON.parse(json) as ModuleRec) : undefined;
  }

  private checkQuota(adding: number): void {
    if (this.counters.devices + this.counters.modules + adding > this.quota) {
      throw hubError(
        "IotHubQuotaExceeded",
        `Total number of devices and modules on IotHub ${this.name} exceeded the allocated quota. Max allowed: ${this.quota}.`,
      );
    }
  }

  // ---------------------------------------------------------------- validation

  private checkId(id: unknown, what = "deviceId"): string {
    if (typeof id !== "string" || !ID_PATTERN.test(id)) {
      throw hubError(
        "ArgumentInvalid",
        `The ${what} '${String(id)}' is invalid: use up to 128 ASCII letters, digits or - : . + % _ # * ? ! ( ) , = @ $ '`,
      );
    }
    return id;
  }

  private normaliseAuth(input: Authentication | null | undefined, existing: DeviceRec["a"] | undefined): DeviceRec["a"] {
    const type = (input?.type ?? "sas").toString();
    const lower = type.toLowerCase();
    if (lower === "sas") {
      let p = input?.symmetricKey?.primaryKey ?? null;
      let s = input?.symmetricKey?.secondaryKey ?? null;
      for (const [name, key] of [["primaryKey", p], ["secondaryKey", s]] as const) {
        if (key && !validKey(key)) {
          throw hubError("ArgumentInvalid", `authentication.symmetricKey.${name} must be base64 of 16 to 64 bytes`);
        }
      }
      // Keys left empty are generated. The default profile keeps an existing sas device's keys on an
      // update; the strict profile regenerates them as the service does (ExportImportDevice.cs: "access
      // keys are auto-generated"; ImportExportDevicesSample.cs: re-imported credentials "will be newly generated").
      const keep = !this.rules.regenerateKeysWhenOmitted && existing?.t === "sas";
      if (!p) p = keep && existing.p ? existing.p : newKey();
      if (!s) s = keep && existing.s ? existing.s : newKey();
      return { t: "sas", p, s };
    }
    if (lower === "selfsigned") {
      const tp = input?.x509Thumbprint?.primaryThumbprint ?? null;
      const ts = input?.x509Thumbprint?.secondaryThumbprint ?? null;
      if (!tp && !ts) throw hubError("ArgumentInvalid", "authentication.x509Thumbprint needs a primaryThumbprint for type selfSigned");
      for (const t of [tp, ts]) if (t && !validThumbprint(t)) throw hubError("ArgumentInvalid", `Thumbprint '${t}' must be 40 or 64 hex characters`);
      return { t: "selfSigned", tp, ts };
    }
    if (lower === "certificateauthority") return { t: "certificateAuthority" };
    if (lower === "none") return { t: "none" };
    throw hubError("ArgumentInvalid", `authentication.type '${type}' is not one of sas, selfSigned, certificateAuthority, none`);
  }

  private normaliseStatus(status: unknown): "enabled" | "disabled" {
    if (status === undefined || status === null || status === "") return "enabled";
    const s = String(status).toLowerCase();
    if (s === "enabled" || s === "disabled") return s;
    throw hubError("ArgumentInvalid", `status '${String(status)}' must be enabled or disabled`);
  }

  /**
   * Parent scope rules: a scope must belong to a live edge device of this hub (scopes from another hub
   * never do). The service rejects such a child with a 400; which of its 400xxx codes it uses is not
   * documented, so the emulator answers 400004 ArgumentInvalid.
   */
  private resolveScopes(id: string, isEdge: boolean, ownScope: string | undefined, deviceScope: unknown, parentScopes: unknown): { sc?: string; ps?: string[] } {
    const parents = Array.isArray(parentScopes) ? (parentScopes.filter((p) => typeof p === "string" && p) as string[]) : [];
    const check = (scope: string) => {
      const owner = this.edgeScopes.get(scope);
      if (!owner || owner === id) {
        throw hubError("ArgumentInvalid", `Device '${id}': scope '${scope}' does not belong to an edge device in IotHub ${this.name}`);
      }
    };
    if (parents.length > 1) throw hubError("ArgumentInvalid", `Device '${id}': at most one parent scope is allowed`);
    if (isEdge) {
      // The service owns an edge device's scope; a supplied deviceScope is ignored.
      for (const p of parents) check(p);
      return { sc: ownScope, ps: parents.length ? parents : undefined };
    }
    const scope = typeof deviceScope === "string" && deviceScope ? deviceScope : parents[0];
    if (!scope) return {};
    check(scope);
    if (parents.length && parents[0] !== scope) {
      throw hubError("ArgumentInvalid", `Device '${id}': parentScopes must equal deviceScope for a non-edge device`);
    }
    return { sc: scope, ps: [scope] };
  }

  // ---------------------------------------------------------------- device operations

  /** Builds the stored record for a create or full update of a device identity. */
  private buildDevice(id: string, input: ExportImportDevice & { statusReason?: string | null }, existing: DeviceRec | undefined, now: string): DeviceRec {
    const status = this.normaliseStatus(input.status);
    const a = this.normaliseAuth(input.authentication ?? undefined, existing?.a);
    const g = existing?.g ?? nextGenerationId();
    const edge = input.capabilities?.iotEdge === true;
    const ownScope = edge ? (existing?.edge && existing.sc ? existing.sc : `ms-azure-iot-edge://${id}-${g}`) : undefined;
    const { sc, ps } = this.resolveScopes(id, edge, ownScope, input.deviceScope, input.parentScopes);
    const rec: DeviceRec = {
      id,
      g,
      e: nextEtag(),
      s: status,
      su: existing && existing.s === status ? existing.su : existing ? now : NEVER,
      a,
      tw: existing?.tw ?? newTwin(now),
    };
    if (input.statusReason !== undefined && input.statusReason !== null) rec.r = String(input.statusReason);
    else if (existing?.r && input.statusReason === undefined) rec.r = existing.r;
    if (edge) rec.edge = true;
    if (sc) rec.sc = sc;
    if (ps) rec.ps = ps;
    return rec;
  }

  private ensureSystemModules(rec: DeviceRec, now: string): void {
    if (!rec.edge) return;
    for (const moduleId of EDGE_SYSTEM_MODULES) {
      if (this.getModuleRec(rec.id, moduleId)) continue;
      this.setModuleRaw({ id: moduleId, dev: rec.id, g: nextGenerationId(), e: nextEtag(), a: { t: "sas", p: newKey(), s: newKey() }, mb: "iotEdge", tw: newTwin(now) });
    }
  }

  createDevice(input: ExportImportDevice & { deviceId?: string }): Json {
    const id = this.checkId(input.deviceId ?? input.id);
    if (this.devices.has(id)) throw hubError("DeviceAlreadyExists", `A device with ID '${id}' is already registered.`);
    const edge = input.capabilities?.iotEdge === true;
    this.checkQuota(edge ? 1 + EDGE_SYSTEM_MODULES.length : 1);
    const now = new Date().toISOString();
    const rec = this.buildDevice(id, input, undefined, now);
    this.setDeviceRaw(rec);
    this.ensureSystemModules(rec, now);
    return this.deviceJson(rec);
  }

  /** PUT with If-Match: replaces the identity (not the twin) if the etag matches. */
  updateDevice(input: ExportImportDevice & { deviceId?: string }, ifMatch: string | undefined): Json {
    const id = this.checkId(input.deviceId ?? input.id);
    const existing = this.getDeviceRec(id);
    if (!existing) throw hubError("DeviceNotFound", `Device ${id} not registered in IotHub ${this.name}`);
    this.checkEtag(ifMatch, existing.e, id);
    const now = new Date().toISOString();
    const rec = this.buildDevice(id, input, existing, now);
    if (rec.edge && !existing.edge) this.checkQuota(EDGE_SYSTEM_MODULES.length);
    this.setDeviceRaw(rec);
    this.ensureSystemModules(rec, now);
    return this.deviceJson(rec);
  }

  private checkEtag(ifMatch: string | undefined | null, current: string, id: string): void {
    const want = unquote(ifMatch);
    if (want !== undefined && want !== "*" && want !== current) {
      throw hubError("PreconditionFailed", `Precondition failed: the ETag '${want}' of '${id}' does not match the current '${current}'`);
    }
  }

  getDevice(id: string): Json {
    const rec = this.visible(id) ? this.getDeviceRec(id) : undefined;
    if (!rec) throw hubError("DeviceNotFound", `Device ${id} not registered in IotHub ${this.name}`);
    return this.deviceJson(rec);
  }

  deleteDevice(id: string, ifMatch: string | undefined): void {
    const rec = this.getDeviceRec(id);
    if (!rec) throw hubError("DeviceNotFound", `Device ${id} not registered in IotHub ${this.name}`);
    this.checkEtag(ifMatch, rec.e, id);
    this.removeDeviceRaw(id);
  }

  /** Up to `max` devices in registry order (GET /devices). */
  listDevices(max = 1000): Json[] {
    const out: Json[] = [];
    for (const json of this.devices.values()) {
      if (out.length >= max) break;
      out.push(this.deviceJson(JSON.parse(json) as DeviceRec));
    }
    return out;
  }

  statistics(): Json {
    return {
      totalDeviceCount: this.counters.devices,
      enabledDeviceCount: this.counters.enabled,
      disabledDeviceCount: this.counters.devices - this.counters.enabled,
    };
  }

  private authJson(a: DeviceRec["a"], includeKeys = true): Json {
    return {
      symmetricKey: {
        primaryKey: a.t === "sas" && includeKeys ? (a.p ?? null) : null,
        secondaryKey: a.t === "sas" && includeKeys ? (a.s ?? null) : null,
      },
      x509Thumbprint: { primaryThumbprint: a.tp ?? null, secondaryThumbprint: a.ts ?? null },
      type: a.t,
    };
  }

  private deviceJson(rec: DeviceRec): Json {
    return {
      deviceId: rec.id,
      generationId: rec.g,
      etag: rec.e,
      connectionState: "Disconnected",
      status: rec.s,
      statusReason: rec.r ?? null,
      connectionStateUpdatedTime: NEVER,
      statusUpdatedTime: rec.su,
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authentication: this.authJson(rec.a),
      capabilities: { iotEdge: rec.edge === true },
      ...(rec.sc ? { deviceScope: rec.sc } : {}),
      parentScopes: rec.ps ?? [],
    };
  }

  // ---------------------------------------------------------------- twins

  private twinProperties(tw: TwinRec): Json {
    return {
      desired: { ...(tw.d ?? {}), $metadata: { $lastUpdated: tw.dlu }, $version: tw.dv },
      reported: { ...(tw.rep ?? {}), $metadata: { $lastUpdated: tw.rlu }, $version: tw.rv },
    };
  }

  private deviceTwinJson(rec: DeviceRec): Json {
    return {
      deviceId: rec.id,
      etag: twinEtag(rec.tw.v),
      deviceEtag: rec.e,
      status: rec.s,
      statusReason: rec.r ?? null,
      statusUpdateTime: rec.su,
      connectionState: "Disconnected",
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authenticationType: rec.a.t,
      x509Thumbprint: { primaryThumbprint: rec.a.tp ?? null, secondaryThumbprint: rec.a.ts ?? null },
      modelId: "",
      version: rec.tw.v,
      tags: rec.tw.tags ?? {},
      properties: this.twinProperties(rec.tw),
      capabilities: { iotEdge: rec.edge === true },
      ...(rec.sc ? { deviceScope: rec.sc } : {}),
      parentScopes: rec.ps ?? [],
    };
  }

  private moduleTwinJson(rec: ModuleRec): Json {
    return {
      deviceId: rec.dev,
      moduleId: rec.id,
      etag: twinEtag(rec.tw.v),
      deviceEtag: rec.e,
      status: "enabled",
      statusUpdateTime: NEVER,
      connectionState: "Disconnected",
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authenticationType: rec.a.t,
      x509Thumbprint: { primaryThumbprint: rec.a.tp ?? null, secondaryThumbprint: rec.a.ts ?? null },
      modelId: "",
      version: rec.tw.v,
      properties: this.twinProperties(rec.tw),
    };
  }

  /** All device twins, for queries and scheduled jobs. Parses lazily so a scan holds one twin at a time. */
  *deviceTwins(): Iterable<Json> {
    for (const json of this.devices.values()) yield this.deviceTwinJson(JSON.parse(json) as DeviceRec);
  }

  *moduleTwins(): Iterable<Json> {
    for (const mods of this.modules.values()) for (const json of mods.values()) yield this.moduleTwinJson(JSON.parse(json) as ModuleRec);
  }

  /**
   * Device twins as a query sees them: with a consistency lag (strict profile, or consistencyLagMs),
   * devices imported a moment ago are missing and devices deleted a moment ago are still there
   * (iot-hub-devguide-query-language: "Query results can have a few minutes of delay").
   */
  *queryDeviceTwins(): Iterable<Json> {
    const lagged = this.unseen.size > 0 || this.ghosts.size > 0;
    for (const json of this.devices.values()) {
      const rec = JSON.parse(json) as DeviceRec;
      if (lagged && !this.visible(rec.id)) continue;
      yield this.deviceTwinJson(rec);
    }
    if (this.ghosts.size) yield* this.liveGhosts();
  }

  *queryModuleTwins(): Iterable<Json> {
    for (const [deviceId, mods] of this.modules) {
      if (this.unseen.size && !this.visible(deviceId)) continue;
      for (const json of mods.values()) yield this.moduleTwinJson(JSON.parse(json) as ModuleRec);
    }
  }

  getTwin(id: string): Json {
    const rec = this.visible(id) ? this.getDeviceRec(id) : undefined;
    if (!rec) throw hubError("DeviceNotFound", `Device ${id} not registered in IotHub ${this.name}`);
    return this.deviceTwinJson(rec);
  }

  private applyTwinChange(tw: TwinRec, tags: Json | undefined | null, desired: Json | undefined | null, mode: "patch" | "replace", now: string): TwinRec {
    const next: TwinRec = { ...tw };
    let changed = false;
    if (tags !== undefined && tags !== null) {
      next.tags = mode === "patch" ? mergePatch(tw.tags, tags) : withoutServiceKeys(tags);
      changed = true;
    } else if (mode === "replace") {
      next.tags = undefined;
      changed = true;
    }
    if (desired !== undefined && desired !== null) {
      next.d = mode === "patch" ? mergePatch(tw.d, desired) : withoutServiceKeys(desired);
      next.dv = tw.dv + 1;
      next.dlu = now;
      changed = true;
    } else if (mode === "replace") {
      next.d = undefined;
      next.dv = tw.dv + 1;
      next.dlu = now;
      changed = true;
    }
    if (changed) next.v = tw.v + 1;
    if (!next.tags) delete next.tags;
    if (!next.d) delete next.d;
    return next;
  }

  /** Replaces the supplied parts of a twin (import semantics); parts not supplied stay. */
  private replaceTwinParts(tw: TwinRec, tags: Json | undefined, desired: Json | undefined, now: string): TwinRec {
    const next: TwinRec = { ...tw };
    if (tags !== undefined) next.tags = withoutServiceKeys(tags);
    if (desired !== undefined) {
      next.d = withoutServiceKeys(desired);
      next.dv = tw.dv + 1;
      next.dlu = now;
    }
    if (tags !== undefined || desired !== undefined) next.v = tw.v + 1;
    if (!next.tags) delete next.tags;
    if (!next.d) delete next.d;
    return next;
  }

  private twinInput(body: unknown): { tags?: Json | null; desired?: Json | null } {
    if (!isPlainObject(body)) throw hubError("ArgumentInvalid", "The twin patch must be a JSON object");
    const props = body.properties;
    if (props !== undefined && props !== null && !isPlainObject(props)) throw hubError("ArgumentInvalid", "properties must be an object");
    if (isPlainObject(props) && props.reported !== undefined) {
      throw hubError("ArgumentInvalid", "Reported properties can only be updated by the device");
    }
    const tags = body.tags;
    if (tags !== undefined && tags !== null && !isPlainObject(tags)) throw hubError("ArgumentInvalid", "tags must be an object");
    const desired = isPlainObject(props) ? props.desired : undefined;
    if (desired !== undefined && desired !== null && !isPlainObject(desired)) throw hubError("ArgumentInvalid", "properties.desired must be an object");
    return { tags: tags as Json | undefined, desired: desired as Json | undefined };
  }

  updateTwin(id: string, body: unknown, ifMatch: string | undefined, mode: "patch" | "replace"): Json {
    const rec = this.getDeviceRec(id);
    if (!rec) throw hubError("DeviceNotFound", `Device ${id} not registered in IotHub ${this.name}`);
    const want = unquote(ifMatch);
    if (want !== undefined && want !== "*" && want !== twinEtag(rec.tw.v)) {
      throw hubError("PreconditionFailed", `Precondition failed: twin ETag '${want}' of '${id}' is not current`);
    }
    const input = this.twinInput(body);
    rec.tw = this.applyTwinChange(rec.tw, input.tags, input.desired, mode, new Date().toISOString());
    this.setDeviceRaw(rec);
    return this.deviceTwinJson(rec);
  }

  /**
   * What a connected device (or module) does with a reported-properties patch. No device ever
   * connects to the emulator, so tests simulate it through the admin API.
   */
  reportProperties(deviceId: string, moduleId: string | undefined, patch: unknown): Json {
    if (!isPlainObject(patch)) throw hubError("ArgumentInvalid", "The reported properties patch must be a JSON object");
    const now = new Date().toISOString();
    const apply = (tw: TwinRec): TwinRec => ({ ...tw, rep: mergePatch(tw.rep, patch), rv: tw.rv + 1, rlu: now, v: tw.v + 1 });
    if (moduleId) {
      const rec = this.getModuleRec(deviceId, moduleId);
      if (!rec) throw this.moduleMissing(deviceId, moduleId);
      rec.tw = apply(rec.tw);
      if (!rec.tw.rep) delete rec.tw.rep;
      this.setModuleRaw(rec);
      return this.moduleTwinJson(rec);
    }
    const rec = this.getDeviceRec(deviceId);
    if (!rec) throw hubError("DeviceNotFound", `Device ${deviceId} not registered in IotHub ${this.name}`);
    rec.tw = apply(rec.tw);
    if (!rec.tw.rep) delete rec.tw.rep;
    this.setDeviceRaw(rec);
    return this.deviceTwinJson(rec);
  }

  getModuleTwin(deviceId: string, moduleId: string): Json {
    const rec = this.getModuleRec(deviceId, moduleId);
    if (!rec) throw this.moduleMissing(deviceId, moduleId);
    return this.moduleTwinJson(rec);
  }

  updateModuleTwin(deviceId: string, moduleId: string, body: unknown, ifMatch: string | undefined, mode: "patch" | "replace"): Json {
    const rec = this.getModuleRec(deviceId, moduleId);
    if (!rec) throw this.moduleMissing(deviceId, moduleId);
    const want = unquote(ifMatch);
    if (want !== undefined && want !== "*" && want !== twinEtag(rec.tw.v)) {
      throw hubError("PreconditionFailed", `Precondition failed: twin ETag '${want}' of '${deviceId}/${moduleId}' is not current`);
    }
    const input = this.twinInput(body);
    if (input.tags) throw hubError("ArgumentInvalid", "Module twins have no tags");
    rec.tw = this.applyTwinChange(rec.tw, undefined, input.desired, mode, new Date().toISOString());
    this.setModuleRaw(rec);
    return this.moduleTwinJson(rec);
  }

  // ---------------------------------------------------------------- modules

  private moduleMissing(deviceId: string, moduleId: string): HubError {
    if (!this.devices.has(deviceId)) return hubError("DeviceNotFound", `Device ${deviceId} not registered in IotHub ${this.name}`);
    return hubError("ModuleNotFound", `Module ${moduleId} on device ${deviceId} not found in IotHub ${this.name}`);
  }

  private moduleJson(rec: ModuleRec, includeKeys = true): Json {
    return {
      moduleId: rec.id,
      managedBy: rec.mb ?? null,
      deviceId: rec.dev,
      generationId: rec.g,
      etag: rec.e,
      connectionState: "Disconnected",
      connectionStateUpdatedTime: NEVER,
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authentication: this.authJson(rec.a, includeKeys),
    };
  }

  listModules(deviceId: string): Json[] {
    if (!this.devices.has(deviceId)) throw hubError("DeviceNotFound", `Device ${deviceId} not registered in IotHub ${this.name}`);
    return [...(this.modules.get(deviceId)?.values() ?? [])].map((j) => this.moduleJson(JSON.parse(j) as ModuleRec));
  }

  getModule(deviceId: string, moduleId: string): Json {
    const rec = this.getModuleRec(deviceId, moduleId);
    if (!rec) throw this.moduleMissing(deviceId, moduleId);
    return this.moduleJson(rec);
  }

  /** PUT module: create when absent and no If-Match; otherwise update with etag check. */
  putModule(deviceId: string, moduleId: string, input: Json, ifMatch: string | undefined, opts: { allowSystem?: boolean } = {}): Json {
    this.checkId(moduleId, "moduleId");
    if (EDGE_SYSTEM_MODULES.includes(moduleId) && !opts.allowSystem) {
      throw hubError("SystemModuleModifyUnauthorizedAccess", `Module ${moduleId} is a system module and cannot be modified`);
    }
    if (!this.devices.has(deviceId)) throw hubError("DeviceNotFound", `Device ${deviceId} not registered in IotHub ${this.name}`);
    const existing = this.getModuleRec(deviceId, moduleId);
    const now = new Date().toISOString();
    if (!existing) {
      if (ifMatch !== undefined) throw this.moduleMissing(deviceId, moduleId);
      this.checkQuota(1);
    } else {
      if (ifMatch === undefined) throw hubError("ModuleAlreadyExistsOnDevice", `Module ${moduleId} already exists on device ${deviceId}`);
      const want = unquote(ifMatch);
      if (want !== "*" && want !== existing.e) throw hubError("PreconditionFailed", `Precondition failed: ETag of module ${deviceId}/${moduleId} is not current`);
    }
    const rec: ModuleRec = {
      id: moduleId,
      dev: deviceId,
      g: existing?.g ?? nextGenerationId(),
      e: nextEtag(),
      a: this.normaliseAuth((input.authentication as Authentication | undefined) ?? undefined, existing?.a),
      tw: existing?.tw ?? newTwin(now),
    };
    const managedBy = input.managedBy ?? existing?.mb;
    if (typeof managedBy === "string" && managedBy) rec.mb = managedBy;
    this.setModuleRaw(rec);
    return this.moduleJson(rec);
  }

  deleteModule(deviceId: string, moduleId: string, ifMatch: string | undefined): void {
    const rec = this.getModuleRec(deviceId, moduleId);
    if (!rec) throw this.moduleMissing(deviceId, moduleId);
    if (EDGE_SYSTEM_MODULES.includes(moduleId)) {
      throw hubError("SystemModuleModifyUnauthorizedAccess", `Module ${moduleId} is a system module and cannot be deleted`);
    }
    const want = unquote(ifMatch);
    if (want !== undefined && want !== "*" && want !== rec.e) throw hubError("PreconditionFailed", `Precondition failed: ETag of module ${deviceId}/${moduleId} is not current`);
    this.removeModuleRaw(deviceId, moduleId);
  }

  // ---------------------------------------------------------------- import / export

  static isImportMode(mode: string): boolean {
    return IMPORT_MODES.includes(mode.toLowerCase());
  }

  /**
   * Applies one ExportImportDevice (bulk element or devices.txt line) with its import mode.
   * Returns the error to report for this entry, or undefined when it succeeded.
   */
  importEntry(raw: ExportImportDevice, opts: { job?: boolean } = {}): ImportError | undefined {
    const entry = canonicalEntry(raw);
    const deviceId = typeof entry.id === "string" ? entry.id : String(entry.id ?? "");
    const moduleId = typeof entry.moduleId === "string" && entry.moduleId ? entry.moduleId : undefined;
    try {
      const mode = (entry.importMode ?? "createOrUpdate").toString().toLowerCase();
      if (!IMPORT_MODES.includes(mode)) throw hubError("ArgumentInvalid", `importMode '${entry.importMode}' is not valid`);
      // Strict: status on every line of an import file, delete lines included (ExportImportDevice.cs
      // L118 `Required = Required.Always`; the REST docs call it optional — the harsher reading wins).
      if (opts.job && this.rules.requireStatus && (entry.status === undefined || entry.status === null || entry.status === "")) {
        throw hubError("ArgumentNull", `Line for '${deviceId}${moduleId ? "/" + moduleId : ""}': status is required on every import line (enabled or disabled)`);
      }
      this.checkId(deviceId);
      if (moduleId) this.importModule(deviceId, moduleId, entry, mode);
      else {
        const existed = this.devices.has(deviceId);
        this.importDevice(deviceId, entry, mode);
        if (opts.job && !existed && this.devices.has(deviceId)) this.markUnseen(deviceId);
      }
      return undefined;
    } catch (err) {
      if (!(err instanceof HubError)) throw err;
      return { deviceId, ...(moduleId ? { moduleId } : {}), errorCode: String(err.code), errorStatus: err.message };
    }
  }

  private importDevice(id: string, entry: ExportImportDevice, mode: string): void {
    const existing = this.getDeviceRec(id);
    const now = new Date().toISOString();
    const missing = () => hubError("DeviceNotFound", `Device ${id} not registered in IotHub ${this.name}`);
    const etagMismatch = (which: string) => hubError("PreconditionFailed", `Precondition failed: ${which} of '${id}' does not match`);
    switch (mode) {
      case "delete":
        if (!existing) throw missing();
        this.removeDeviceRaw(id);
        return;
      case "deleteifmatchetag":
        if (!existing) throw missing();
        if (unquote(entry.eTag) !== existing.e) throw etagMismatch("eTag");
        this.removeDeviceRaw(id);
        return;
      case "updatetwin":
      case "updatetwinifmatchetag": {
        if (!existing) throw missing();
        if (mode === "updatetwinifmatchetag" && unquote(entry.twinETag) !== twinEtag(existing.tw.v)) throw etagMismatch("twinETag");
        existing.tw = this.replaceTwinParts(existing.tw, entry.tags ?? {}, entry.properties?.desired ?? {}, now);
        this.setDeviceRaw(existing); // the identity (and its etag) is untouched
        return;
      }
      case "create":
        if (existing) throw hubError("DeviceAlreadyExists", `A device with ID '${id}' is already registered.`);
        break;
      case "update":
        if (!existing) throw missing();
        break;
      case "updateifmatchetag":
        if (!existing) throw missing();
        if (unquote(entry.eTag) !== existing.e) throw etagMismatch("eTag");
        break;
      case "createorupdateifmatchetag":
        if (existing && unquote(entry.eTag) !== existing.e) throw etagMismatch("eTag");
        break;
      case "createorupdate":
        break;
    }
    const edge = entry.capabilities?.iotEdge === true;
    if (!existing) this.checkQuota(edge ? 1 + EDGE_SYSTEM_MODULES.length : 1);
    else if (edge && !existing.edge) this.checkQuota(EDGE_SYSTEM_MODULES.length);
    const rec = this.buildDevice(id, entry, existing, now);
    // Import carries the twin: tags and desired properties in the line replace the twin's (reported cannot be imported).
    if (entry.tags != null || entry.properties?.desired != null) {
      rec.tw = this.replaceTwinParts(rec.tw, entry.tags ?? undefined, entry.properties?.desired ?? undefined, now);
    }
    this.setDeviceRaw(rec);
    this.ensureSystemModules(rec, now);
  }

  private importModule(deviceId: string, moduleId: string, entry: ExportImportDevice, mode: string): void {
    if (EDGE_SYSTEM_MODULES.includes(moduleId)) {
      throw hubError("SystemModuleModifyUnauthorizedAccess", `Module ${moduleId} is a system module and cannot be imported`);
    }
    this.checkId(moduleId, "moduleId");
    if (!this.devices.has(deviceId)) throw hubError("DeviceNotFound", `Device ${deviceId} not registered in IotHub ${this.name}`);
    const existing = this.getModuleRec(deviceId, moduleId);
    const now = new Date().toISOString();
    const missing = () => hubError("ModuleNotFound", `Module ${moduleId} on device ${deviceId} not found in IotHub ${this.name}`);
    const mismatch = () => hubError("PreconditionFailed", `Precondition failed: ETag of module ${deviceId}/${moduleId} does not match`);
    switch (mode) {
      case "delete":
        if (!existing) throw missing();
        this.removeModuleRaw(deviceId, moduleId);
        return;
      case "deleteifmatchetag":
        if (!existing) throw missing();
        if (unquote(entry.eTag) !== existing.e) throw mismatch();
        this.removeModuleRaw(deviceId, moduleId);
        return;
      case "updatetwin":
      case "updatetwinifmatchetag":
        if (!existing) throw missing();
        if (mode === "updatetwinifmatchetag" && unquote(entry.twinETag) !== twinEtag(existing.tw.v)) throw mismatch();
        existing.tw = this.replaceTwinParts(existing.tw, undefined, entry.properties?.desired ?? {}, now);
        this.setModuleRaw(existing);
        return;
      case "create":
        if (existing) throw hubError("ModuleAlreadyExistsOnDevice", `Module ${moduleId} already exists on device ${deviceId}`);
        break;
      case "update":
        if (!existing) throw missing();
        break;
      case "updateifmatchetag":
        if (!existing) throw missing();
        if (unquote(entry.eTag) !== existing.e) throw mismatch();
        break;
      case "createorupdateifmatchetag":
        if (existing && unquote(entry.eTag) !== existing.e) throw mismatch();
        break;
    }
    if (!existing) this.checkQuota(1);
    const rec: ModuleRec = {
      id: moduleId,
      dev: deviceId,
      g: existing?.g ?? nextGenerationId(),
      e: nextEtag(),
      a: this.normaliseAuth(entry.authentication ?? undefined, existing?.a),
      tw: existing?.tw ?? newTwin(now),
    };
    if (entry.managedBy) rec.mb = entry.managedBy;
    if (entry.properties?.desired) {
      rec.tw = this.replaceTwinParts(rec.tw, undefined, entry.properties.desired, now);
    }
    this.setModuleRaw(rec);
  }

  /** devices.txt lines for one device: the device line, then one line per module (system modules included, as the service exports them). */
  exportLines(deviceJson: string, excludeKeys: boolean): string[] {
    const rec = JSON.parse(deviceJson) as DeviceRec;
    if (this.unseen.size && !this.visible(rec.id)) return []; // consistency lag: not in exports yet either
    const rules = this.rules;
    const auth = (a: DeviceRec["a"]) => (excludeKeys && rules.nullAuthenticationWithoutKeys ? null : this.authJson(a, !excludeKeys));
    const line: Json = {
      id: rec.id,
      eTag: rec.e,
      status: rec.s,
      ...(rec.r ? { statusReason: rec.r } : {}),
      authentication: auth(rec.a),
      twinETag: twinEtag(rec.tw.v),
      tags: rec.tw.tags ?? {},
      properties: this.twinProperties(rec.tw),
      capabilities: { iotEdge: rec.edge === true },
      ...(rec.sc ? { deviceScope: rec.sc } : {}),
      ...(rec.ps && !rules.omitParentScopesInExport ? { parentScopes: rec.ps } : {}),
    };
    const out = [JSON.stringify(line)];
    const mods = this.modules.get(rec.id);
    if (mods) {
      for (const json of mods.values()) {
        const m = JSON.parse(json) as ModuleRec;
        out.push(
          JSON.stringify({
            id: rec.id,
            moduleId: m.id,
            eTag: m.e,
            status: "enabled",
            authentication: auth(m.a),
            twinETag: twinEtag(m.tw.v),
            properties: this.twinProperties(m.tw),
            ...(m.mb ? { managedBy: m.mb } : {}),
          }),
        );
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- configurations

  putConfiguration(id: string, body: unknown, ifMatch: string | undefined): Json {
    if (!/^[a-z0-9\-:+%_#*?!(),=@;$']{1,128}$/.test(id)) {
      throw hubError("ArgumentInvalid", `Configuration id '${id}' must be lowercase letters, digits or - : + % _ # * ? ! ( ) , = @ ; $ ' (max 128)`);
    }
    if (!isPlainObject(body)) throw hubError("ArgumentInvalid", "The configuration must be a JSON object");
    const existing = this.configurations.get(id);
    const now = new Date().toISOString();
    const want = unquote(ifMatch);
    if (existing) {
      if (want === undefined) throw new HubError("ConfigurationAlreadyExists", `Configuration '${id}' already exists`, 409005);
      if (want !== "*" && want !== existing.etag) throw hubError("PreconditionFailed", `Precondition failed: ETag of configuration '${id}' is not current`);
    } else if (want !== undefined && want !== "*") {
      throw new HubError("ConfigurationNotFound", `Configuration '${id}' not found`, 404011);
    }
    const content = isPlainObject(body.content) ? body.content : {};
    const kind = this.checkConfigurationContent(id, content, body);
    if (existing && JSON.stringify(existing.content) !== JSON.stringify(body.content ?? existing.content)) {
      // The service keeps a configuration's content immutable after creation; only labels, metrics, priority and target condition change.
      throw hubError("ArgumentInvalid", `Configuration '${id}': content cannot be changed after creation`);
    }
    const config: Json = {
      id,
      schemaVersion: body.schemaVersion ?? "1.0",
      labels: body.labels ?? {},
      content,
      contentType: body.contentType ?? "assignment",
      targetCondition: body.targetCondition ?? "",
      createdTimeUtc: existing?.createdTimeUtc ?? now,
      lastUpdatedTimeUtc: now,
      priority: typeof body.priority === "number" ? body.priority : 0,
      // Edge deployments also count what edgeAgent reported (iot-edge/module-deployment-monitoring); ADM (device or module twins) does not.
      systemMetrics: { results: kind === "edge" ? { appliedCount: 0, targetedCount: 0, reportedSuccessfulCount: 0, reportedFailedCount: 0 } : { appliedCount: 0, targetedCount: 0 }, queries: {} },
      metrics: { results: {}, queries: isPlainObject(body.metrics) && isPlainObject(body.metrics.queries) ? body.metrics.queries : {} },
      etag: nextEtag(),
    };
    this.configurations.set(id, config);
    this.store.append({ k: "c", h: this.name, id, v: config });
    return config;
  }

  /**
   * The three content kinds, as the service models them (learn.microsoft.com/azure/iot-hub/iot-hub-automatic-device-management,
   * iot-edge/module-deployment-monitoring; REST ConfigurationContent: deviceContent, moduleContent, modulesContent):
   * - `deviceContent`: device twin paths (`properties.desired…`): automatic device configuration;
   * - `moduleContent`: module twin paths, same shape: automatic module configuration (targets `FROM devices.modules WHERE …`);
   * - `modulesContent`: module id → that module's twin paths: an IoT Edge deployment (base or layered).
   * One kind per configuration. Returns the kind.
   */
  private checkConfigurationContent(id: string, content: Json, body: Json): "device" | "module" | "edge" | "empty" {
    const nonEmpty = (v: unknown): v is Json => isPlainObject(v) && Object.keys(v).length > 0;
    const kinds = (["deviceContent", "moduleContent", "modulesContent"] as const).filter((k) => nonEmpty(content[k]));
    if (kinds.length > 1) throw hubError("ArgumentInvalid", `Configuration '${id}': content may hold only one of deviceContent, moduleContent, modulesContent (got ${kinds.join(", ")})`);
    const twinPaths = (what: string, twin: Json) => {
      for (const key of Object.keys(twin)) {
        if (!/^properties\.desired(\..+)?$/.test(key)) throw hubError("ArgumentInvalid", `Configuration '${id}': ${what} key '${key}' must be properties.desired or a path below it`);
      }
    };
    for (const k of ["deviceContent", "moduleContent", "modulesContent"]) {
      if (content[k] !== undefined && content[k] !== null && !isPlainObject(content[k])) throw hubError("ArgumentInvalid", `Configuration '${id}': content.${k} must be an object`);
    }
    if (kinds[0] === "deviceContent") {
      twinPaths("deviceContent", content.deviceContent as Json);
      return "device";
    }
    if (kinds[0] === "moduleContent") {
      twinPaths("moduleContent", content.moduleContent as Json);
      const target = typeof body.targetCondition === "string" ? body.targetCondition.trim() : "";
      // Strict: a module configuration targets module twins (the CLI and portal write `FROM devices.modules WHERE …`).
      if (this.rules.moduleConfigurationTarget && !/^from\s+devices\.modules\s+where\s+\S/i.test(target)) {
        throw hubError("ArgumentInvalid", `Configuration '${id}': a moduleContent configuration's targetCondition must be 'FROM devices.modules WHERE …' (got '${target}')`);
      }
      return "module";
    }
    if (kinds[0] === "modulesContent") {
      for (const [moduleId, twin] of Object.entries(content.modulesContent as Json)) {
        if (!isPlainObject(twin)) throw hubError("ArgumentInvalid", `Configuration '${id}': content for module '${moduleId}' must be an object`);
        twinPaths(`module '${moduleId}'`, twin);
      }
      return "edge";
    }
    return "empty";
  }

  getConfiguration(id: string): Json {
    const c = this.configurations.get(id);
    if (!c) throw new HubError("ConfigurationNotFound", `Configuration '${id}' not found`, 404011);
    return c;
  }

  deleteConfiguration(id: string, ifMatch: string | undefined): void {
    const c = this.getConfiguration(id);
    const want = unquote(ifMatch);
    if (want !== undefined && want !== "*" && want !== c.etag) throw hubError("PreconditionFailed", `Precondition failed: ETag of configuration '${id}' is not current`);
    this.configurations.delete(id);
    this.store.append({ k: "c", h: this.name, id, v: null });
  }

  // ---------------------------------------------------------------- jobs

  saveJob(job: Json): void {
    this.jobs.set(String(job.jobId), job);
    this.store.append({ k: "j", h: this.name, id: String(job.jobId), v: job });
  }

  saveScheduledJob(job: Json): void {
    this.scheduledJobs.set(String(job.jobId), job);
    this.store.append({ k: "j2", h: this.name, id: String(job.jobId), v: job });
  }
}
