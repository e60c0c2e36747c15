/**
 * The local IoT Hub for tests. The vitest global setup (test/global-setup.ts) starts Azurite and one
 * shared emulator; these helpers create uniquely named hubs on it, tune their behaviour, and hand out
 * real SDK clients wired to it.
 *
 * Restart tests: `restartEmulator()` kills the emulator with SIGKILL, which would break every other
 * test file running in parallel against the shared one. A file that restarts therefore first calls
 * `await isolateEmulator()` (in beforeAll, before creating hubs): from then on this file's hubs,
 * clients and restarts use a private emulator (same CA, same Azurite).
 */
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import { inject } from "vitest";
import { JobClient, Registry } from "azure-iothub";
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type ContainerClient,
} from "@azure/storage-blob";
import { useLocalHub, type LocalEndpoints } from "../../components/devices/local-hub";
import type { HubOptions } from "../emulator/hub";
import {
  adminConfigureHub,
  adminCreateHub,
  adminReportProperties,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  emulatorPidFile,
  startEmulator,
  stopProcess,
  type AdminTarget,
} from "../emulator/launcher";

export type { HubOptions, FaultRule, ThrottleGroup, OperationGroup } from "../emulator/hub";
export type { LocalEndpoints } from "../../components/devices/local-hub";

export interface ProvidedLocalHub extends LocalEndpoints {
  emulator: { stateDir: string; adminKey: string; root: string };
}

declare module "vitest" {
  export interface ProvidedContext {
    localHub: ProvidedLocalHub;
  }
}

export interface TestHub {
  name: string;
  hostName: string;
  /** iothubowner */
  connectionString: string;
  /** Every standard policy: iothubowner, service, device, registryRead, registryReadWrite. */
  connectionStrings: Record<string, string>;
}

interface Target {
  port: number;
  caFile: string;
  adminKey: string;
  stateDir: string;
  isolated: boolean;
  pid?: number;
}

let provided: ProvidedLocalHub | undefined;
let target: Target | undefined;
const hubs: Record<string, { hostName: string; connectionString: string }> = {};

function shared(): ProvidedLocalHub {
  if (!provided) {
    provided = inject("localHub");
    if (!provided) throw new Error("The local hub is not running: test/global-setup.ts must be in vitest globalSetup");
  }
  return provided;
}

function current(): Target {
  if (!target) {
    const p = shared();
    target = { port: p.iothub.port, caFile: p.iothub.caFile, adminKey: p.emulator.adminKey, stateDir: p.emulator.stateDir, isolated: false };
  }
  return target;
}

function admin(): AdminTarget {
  const t = current();
  return { port: t.port, caFile: t.caFile, adminKey: t.adminKey };
}

/** Endpoints of the emulator this test file uses, listing the hubs it created. */
export function localEndpoints(): LocalEndpoints {
  const p = shared();
  const t = current();
  return { storage: { connectionString: p.storage.connectionString }, iothub: { port: t.port, caFile: t.caFile, hubs: { ...hubs } } };
}

/** Azurite blob connection string (the staging storage account for import/export jobs). */
export function stagingConnectionString(): string {
  return shared().storage.connectionString;
}

function uniqueName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^-+|-+$/g, "").slice(0, 36) || "hub";
  return `${clean}-${randomBytes(5).toString("hex")}`;
}

/**
 * Time scale the strict-profile test hubs run at: the tier's paces, job lifetimes, throttles and
 * consistency lag in the same proportions as Azure, this many times faster.
 */
export const STRICT_TEST_TIME_SCALE = 100;

/**
 * A new hub with a unique name (`<prefix>-<random>`); unthrottled and instant jobs unless `opts` say
 * otherwise. `IOTHUB_TEST_PROFILE=azure` in the environment makes every test hub Azure-strict.
 */
export async function createTestHub(prefix: string, opts: HubOptions = {}): Promise<TestHub> {
  const envProfile = process.env.IOTHUB_TEST_PROFILE === "azure" ? { profile: "azure" as const, timeScale: STRICT_TEST_TIME_SCALE } : {};
  const created = await adminCreateHub(admin(), uniqueName(prefix), { ...envProfile, ...opts });
  hubs[created.name] = { hostName: created.hostName, connectionString: created.connectionString };
  return { name: created.name, hostName: created.hostName, connectionString: created.connectionString, connectionStrings: created.connectionStrings };
}

/**
 * A hub on the Azure-strict profile (`--profile azure`): every rule of docs/local-hub.md's fidelity
 * table on, limits of `sku` (default S1), at STRICT_TEST_TIME_SCALE unless `opts.timeScale` says otherwise.
 */
export function createStrictHub(prefix: string, opts: HubOptions = {}): Promise<TestHub> {
  return createTestHub(prefix, { profile: "azure", sku: "S1", timeScale: STRICT_TEST_TIME_SCALE, ...opts });
}

/** Changes a hub's behaviour: faults, throttles, job speed, quota, SKU. Options given replace earlier ones of the same key. */
export async function configureHub(name: string, opts: HubOptions): Promise<void> {
  await adminConfigureHub(admin(), name, opts);
}

/** Simulates a connected device (or module) patching its reported properties (null deletes). */
export async function reportProperties(hub: TestHub | string, deviceId: string, patch: object, moduleId?: string): Promise<void> {
  await adminReportProperties(admin(), typeof hub === "string" ? hub : hub.name, deviceId, patch, moduleId);
}

/**
 * Moves this test file onto a private emulator (own port and state, shared CA and Azurite), so that
 * `restartEmulator()` cannot disturb other files. Call once in beforeAll, before `createTestHub`.
 */
export async function isolateEmulator(): Promise<void> {
  if (target?.isolated) return;
  const p = shared();
  const stateDir = path.join(p.emulator.root, "private", `${process.pid}-${randomBytes(3).toString("hex")}`);
  fs.mkdirSync(path.join(stateDir, "tls"), { recursive: true });
  for (const f of fs.readdirSync(path.join(p.emulator.stateDir, "tls"))) {
    fs.copyFileSync(path.join(p.emulator.stateDir, "tls", f), path.join(stateDir, "tls", f));
  }
  // Detached so that a restart from this worker can replace it; it still exits with this worker.
  const handle = await startEmulator({ stateDir, storageConnectionString: p.storage.connectionString, detached: true, parentPid: process.pid });
  target = { port: handle.port, caFile: p.iothub.caFile, adminKey: handle.adminKey, stateDir, isolated: true, pid: handle.pid };
  for (const k of Object.keys(hubs)) delete hubs[k];
}

/** The emulator's log so far (one line per failed request, plus startup and job failures). */
export function emulatorLog(): string {
  const file = path.join(current().stateDir, "emulator.log");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}

/** Stops this file's private emulator (the global teardown also does, if a file forgets). */
export async function stopIsolatedEmulator(): Promise<void> {
  if (!target?.isolated) return;
  const pid = Number(fs.readFileSync(emulatorPidFile(target.stateDir), "utf8"));
  await stopProcess(pid);
  target = undefined;
}

/** kill -9 the emulator and start it again on the same port and state folder; resolves when it answers. */
export async function restartEmulator(): Promise<void> {
  const t = current();
  if (!t.isolated) {
    throw new Error("restartEmulator() needs `await isolateEmulator()` in this file's beforeAll (the shared emulator serves other test files)");
  }
  const pid = Number(fs.readFileSync(emulatorPidFile(t.stateDir), "utf8"));
  await stopProcess(pid, true);
  const handle = await startEmulator({ stateDir: t.stateDir, port: t.port, storageConnectionString: stagingConnectionString(), detached: true, parentPid: process.pid });
  t.pid = handle.pid;
}

function connectionStringOf(hub: TestHub | string): string {
  return typeof hub === "string" ? hub : hub.connectionString;
}

/** azure-iothub Registry for a hub (or any connection string / SAS-token client target of the local emulator). */
export function registryFor(hub: TestHub | string): Registry {
  return useLocalHub(Registry.fromConnectionString(connectionStringOf(hub)), localEndpoints());
}

export function jobClientFor(hub: TestHub | string): JobClient {
  return useLocalHub(JobClient.fromConnectionString(connectionStringOf(hub)), localEndpoints());
}

/** Registry authenticated by a ready-made SharedAccessSignature (e.g. an expired one). */
export function registryForSas(token: string): Registry {
  return useLocalHub(Registry.fromSharedAccessSignature(token), localEndpoints());
}

export function blobServiceClient(): BlobServiceClient {
  return BlobServiceClient.fromConnectionString(stagingConnectionString());
}

export interface StagingContainer {
  name: string;
  client: ContainerClient;
  /** Container SAS URI (read, write, delete, list, add, create) valid for a day, for import/export jobs. */
  sasUri: string;
}

/** A new Azurite container with a SAS URI, for import/export jobs. */
export async function createStagingContainer(prefix = "staging", permissions = "rwdlac"): Promise<StagingContainer> {
  const name = uniqueName(prefix).slice(0, 63);
  const client = blobServiceClient().getContainerClient(name);
  await client.create();
  const sas = generateBlobSASQueryParameters(
    { containerName: name, permissions: ContainerSASPermissions.parse(permissions), startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + 24 * 3600_000) },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  ).toString();
  return { name, client, sasUri: `${client.url}?${sas}` };
}
