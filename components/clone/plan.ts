/**
 * Offline plan: runs the REAL program (index.ts) under Pulumi's mocks with a stack's config
 * (plus overrides) and reports what `pulumi up` would create, with secrets as "[secret]" and
 * deploy-time values as "[computed]". No Azure, no Pulumi CLI.
 *
 * Each plan runs in a forked Node process (`plan-child.ts`): the Pulumi runtime keeps global
 * state (mock monitor, config, registered resources) that cannot be reset reliably, and a fresh
 * process also guarantees one copy of @pulumi/pulumi. Options (which may hold `--param`
 * secrets) travel over the IPC channel, never argv or the environment.
 */
import { fork } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROJECT } from "../config";
import { UserError } from "../errors";
import { containsSecret, redact } from "../secrets";
import { declaredSecureParameters } from "../source/template";

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");

export interface PlanOptions {
  stack?: string;
  template?: string;
  name?: string;
  location?: string;
  resourceGroup?: string;
  partitions?: number;
  sku?: string;
  units?: number;
  parameters?: string;
  /** The original's coordinates (template context; key look-ups on the original). */
  sourceResourceGroup?: string;
  sourceSubscription?: string;
  sourceLocation?: string;
  /** Which hub, when the template declares several. */
  sourceName?: string;
  /** A stack file outside the project (instead of Pulumi.<stack>.yaml). */
  stackFile?: string;
  /** `NAME=VALUE` template parameters (treated as secrets). */
  param?: string[];
  /** Where Pulumi.<stack>.yaml and index.ts live (default: this repository). */
  projectDir?: string;
  /** Base for relative --template/--parameters paths (default: cwd). */
  cwd?: string;
  /** For a live-source stack: an ARM GET body file the mocks return for getIotHubResource. */
  liveSourceFile?: string;
  /**
   * The original's device count for the time estimates: a number (offline), or "live" to read its
   * registry statistics through ARM (the one online step of a plan, only when asked).
   */
  devices?: number | "live";
  /** Subnet (ARM id) for the clone's private endpoints (attachments.privateEndpoints.subnetId). */
  privateEndpointSubnet?: string;
  /** clone.sharedEventRoutes: lifecycle/twin-change routes to endpoints shared with the original. */
  sharedEventRoutes?: string;
  /**
   * The subscription `pulumi up` will deploy into (what the Azure provider reports). Default: the
   * stack's azure-native:subscriptionId, else ARM_SUBSCRIPTION_ID, else unknown offline.
   */
  subscription?: string;
}

export interface PlannedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /**
   * Logical names of the resources this one waits for, in plan order: its explicit `dependsOn`
   * (a component expands to the resources inside it, as the engine does), the resources whose
   * outputs feed its inputs, and an explicit provider. The engine starts it only after all of them.
   */
  dependsOn: string[];
}

export interface PlanResult {
  resources: PlannedResource[];
  warnings: string[];
  errors: string[];
  /** Not part of the JSON contract: for the human-readable table. */
  summary?: { carriedOver: string[]; changed: string[]; dropped: string[] };
  /** Not part of the JSON contract: the invokes the program made (token, and the logical name of an explicit provider), for tests. */
  invokes?: Array<{ token: string; provider?: string }>;
  stack?: string;
  /** Time estimates (pace.ts) when the device count was given or read; absent otherwise. */
  estimates?: import("../devices/pace").Estimates;
}

/** Input holding a resource's own name, per type (azure-native does no auto-naming under mocks). */
export const NAME_INPUT: Record<string, string> = {
  "azure-native:iothub:IotHubResource": "resourceName",
  "azure-native:iothub:IotHubResourceEventHubConsumerGroup": "name",
  "azure-native:iothub:Certificate": "certificateName",
  "azure-native:storage:StorageAccount": "accountName",
  "azure-native:storage:BlobContainer": "containerName",
  "azure-native:servicebus:Namespace": "namespaceName",
  "azure-native:servicebus:Queue": "queueName",
  "azure-native:servicebus:Topic": "topicName",
  "azure-native:servicebus:QueueAuthorizationRule": "authorizationRuleName",
  "azure-native:servicebus:TopicAuthorizationRule": "authorizationRuleName",
  "azure-native:eventhub:Namespace": "namespaceName",
  "azure-native:eventhub:EventHub": "eventHubName",
  "azure-native:eventhub:EventHubAuthorizationRule": "authorizationRuleName",
  "azure-native:cosmosdb:DatabaseAccount": "accountName",
  "azure-native:cosmosdb:SqlResourceSqlDatabase": "databaseName",
  "azure-native:cosmosdb:SqlResourceSqlContainer": "containerName",
  "azure-native:cosmosdb:SqlResourceSqlRoleAssignment": "roleAssignmentId",
  "azure-native:managedidentity:UserAssignedIdentity": "resourceName",
  "azure-native:authorization:RoleAssignment": "roleAssignmentName",
  "azure-native:eventgrid:SystemTopic": "systemTopicName",
  "azure-native:eventgrid:SystemTopicEventSubscription": "eventSubscriptionName",
  "azure-native:monitor:DiagnosticSetting": "name",
  "azure-native:network:PrivateEndpoint": "privateEndpointName",
  "azure-native:network:PrivateDnsZoneGroup": "privateDnsZoneGroupName",
};

/**
 * Position of each resource in the order the engine can follow: 1 for a resource that waits for
 * nothing in the plan, else one more than the latest of what it waits for. Resources with the
 * same step may run at once. Pure, for the table and tests.
 */
export function planSteps(resources: Array<{ name: string; dependsOn: string[] }>): number[] {
  const byName = new Map<string, number[]>();
  resources.forEach((r, i) => byName.set(r.name, [...(byName.get(r.name) ?? []), i]));
  const steps: number[] = new Array(resources.length).fill(0);
  const visiting = new Set<number>();
  const step = (i: number): number => {
    if (steps[i]) return steps[i];
    // A cycle cannot come from Pulumi (it would deadlock); guard anyway so a plan never hangs.
    if (visiting.has(i)) return 1;
    visiting.add(i);
    let s = 1;
    for (const d of resources[i].dependsOn) for (const j of byName.get(d) ?? []) if (j !== i) s = Math.max(s, step(j) + 1);
    visiting.delete(i);
    return (steps[i] = s);
  };
  return resources.map((_, i) => step(i));
}

export const SECRET = "[secret]";
export const COMPUTED = "[computed]";

// Pulumi's wire-format markers (runtime/rpc.ts): stable constants of the gRPC protocol.
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SIG_SECRET = "1b47061264138c4ac30d75fd1eb44270";
const SIG_RESOURCE = "5cf8f73096256a8f31e491e813e4eb8e";
const SIG_OUTPUT = "d0e6a833031e9bbcd3f4e8bde6ca49a4";

/** Fields that hold credentials wherever they appear (endpoint, policy and storage inputs). */
const CREDENTIAL_FIELDS = new Set(["connectionString", "primaryKey", "secondaryKey", "primaryMasterKey", "secondaryMasterKey", "password", "sasToken"]);

export interface RenderOptions {
  /** Secret values known to the caller (e.g. `--param` values): masked wherever they occur. */
  secretValues?: string[];
}

/**
 * Serialized resource inputs → printable JSON with secrets and unknowns masked.
 *
 * Secrecy is tracked by Pulumi per top-level input: azure-native folds a nested object input
 * (the hub's `properties`) through one apply, so one secret inside marks the whole object
 * secret. Printing "[secret]" for all of `properties` would hide what a reviewer needs, so
 * inside such a folded secret the credential fields are masked by name, any text that looks
 * like a credential is masked, and known secret values are masked everywhere.
 */
export function renderInputs(value: unknown, options: RenderOptions = {}, inSecret = false, key = ""): unknown {
  const known = (options.secretValues ?? []).filter((v) => v.length >= 4);
  const maskText = (t: string): unknown => {
    if (t === "") return t; // an empty credential field carries nothing
    if (known.some((v) => t.includes(v))) return SECRET;
    if (inSecret && (CREDENTIAL_FIELDS.has(key) || containsSecret(t))) return SECRET;
    return t;
  };
  if (value === UNKNOWN) return COMPUTED;
  if (typeof value === "string") return maskText(value);
  if (Array.isArray(value)) return value.map((v) => renderInputs(v, options, inSecret, key));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    const sig = o[SIG_KEY];
    if (sig === SIG_SECRET || (sig === SIG_OUTPUT && o.secret)) {
      const inner = o.value;
      if (inner === undefined) return COMPUTED;
      // A folded secret object: show its structure, mask its credentials.
      if (inner && typeof inner === "object") return renderInputs(inner, options, true, key);
      return inner === UNKNOWN ? COMPUTED : SECRET;
    }
    if (sig === SIG_OUTPUT) return o.value === undefined ? COMPUTED : renderInputs(o.value, options, inSecret, key);
    if (sig === SIG_RESOURCE) return (o.id as string) || (o.urn as string);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      if (k === "__provider") {
        // A dynamic provider's serialized code is not an input anyone reviews.
        out[k] = "[dynamic provider]";
      } else if (inSecret && CREDENTIAL_FIELDS.has(k) && v !== "" && v !== UNKNOWN) {
        out[k] = SECRET;
      } else {
        out[k] = renderInputs(v, options, inSecret, k);
      }
    }
    return out;
  }
  return value;
}

type ConfigMap = Record<string, unknown>;

/** Replaces `secure:` values (undecryptable offline) with a placeholder; reports whether any was found. */
function stripSecure(v: unknown): { value: unknown; secret: boolean } {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.secure === "string") return { value: "offline-plan-secret", secret: true };
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) {
      const r = stripSecure(x);
      out[k] = r.value;
      secret ||= r.secret;
    }
    return { value: out, secret };
  }
  if (Array.isArray(v)) {
    let secret = false;
    const out = v.map((x) => {
      const r = stripSecure(x);
      secret ||= r.secret;
      return r.value;
    });
    return { value: out, secret };
  }
  return { value: v, secret: false };
}

export function stackNames(projectDir = PROJECT_DIR): string[] {
  return fs
    .readdirSync(projectDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s);
}

/** The config the program will see: stack file + command-line overrides. Values are objects here. */
/** String values the plan must never print: template parameters and endpoint credentials from config. */
export function secretValuesOf(config: ConfigMap, secretKeys: Set<string>, secretParams?: string[]): string[] {
  const out: string[] = [];
  const leaves = (v: unknown) => {
    if (typeof v === "string") out.push(v);
    else if (v && typeof v === "object") Object.values(v as Record<string, unknown>).forEach(leaves);
  };
  const source = config[`${PROJECT}:source`] as { param?: Record<string, unknown> } | undefined;
  if (secretKeys.has(`${PROJECT}:source`)) leaves(source?.param);
  else {
    // --param values: SecureString/secureObject parameters and values that look like keys.
    const secure = new Set((secretParams ?? []).map((p) => p.toLowerCase()));
    for (const [k, v] of Object.entries(source?.param ?? {})) if (secure.has(k.toLowerCase()) || (typeof v === "string" && containsSecret(v))) leaves(v);
  }
  for (const ep of Object.values((config[`${PROJECT}:endpoints`] as Record<string, Record<string, unknown>>) ?? {})) {
    for (const k of ["connectionString", "primaryKey", "secondaryKey"]) leaves(ep?.[k]);
  }
  // Webhook URLs carry their key (attachments.eventGrid.webhookEndpointUrls).
  leaves((config[`${PROJECT}:attachments`] as { eventGrid?: { webhookEndpointUrls?: unknown } } | undefined)?.eventGrid?.webhookEndpointUrls);
  return out;
}

export function planConfig(opts: PlanOptions): { config: ConfigMap; secretKeys: Set<string>; notes: string[]; secretParams: string[] } {
  const projectDir = opts.projectDir ?? PROJECT_DIR;
  const cwd = opts.cwd ?? process.cwd();
  const config: ConfigMap = {};
  const secretKeys = new Set<string>();
  const notes: string[] = [];
  const secretParams: string[] = [];
  if (opts.stack || opts.stackFile) {
    const file = opts.stackFile ? path.resolve(cwd, opts.stackFile) : path.join(projectDir, `Pulumi.${opts.stack}.yaml`);
    if (!fs.existsSync(file)) {
      throw new UserError(`no Pulumi.${opts.stack}.yaml in ${projectDir}: use one of ${stackNames(projectDir).join(", ") || "(none)"} or --template FILE`, "--stack");
    }
    // js-yaml is what @pulumi/pulumi itself parses YAML with.
    const yaml = require("js-yaml") as { load(text: string): unknown };
    let doc: { config?: Record<string, unknown> };
    try {
      doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as typeof doc;
    } catch (e) {
      throw new UserError(`not valid YAML (${(e as Error).message.split("\n")[0]}): fix the stack file`, path.basename(file));
    }
    for (const [k, v] of Object.entries(doc.config ?? {})) {
      const key = k.includes(":") ? k : `${PROJECT}:${k}`;
      const r = stripSecure(v);
      config[key] = r.value;
      if (r.secret) {
        secretKeys.add(key);
        notes.push(`${key}: holds secrets that cannot be decrypted offline; planned with placeholders`);
      }
    }
  } else if (!opts.template) {
    throw new UserError("give --stack NAME (a Pulumi.<stack>.yaml) or --template FILE", "plan");
  }
  const obj = (k: string) => {
    const key = `${PROJECT}:${k}`;
    const cur = config[key];
    const o = cur && typeof cur === "object" && !Array.isArray(cur) ? { ...(cur as Record<string, unknown>) } : {};
    config[key] = o;
    return o;
  };
  const source = obj("source");
  const clone = obj("clone");
  if (opts.template) {
    source.template = path.resolve(cwd, opts.template);
    // A template replaces a live source: keep resourceGroup/subscriptionId as template context.
    if (!opts.stack && !opts.stackFile) {
      const devices = obj("devices");
      if (devices.enabled === undefined) {
        devices.enabled = false;
        notes.push("device migration is not planned with --template alone (no stack): use --stack to plan it");
      }
    }
  }
  if (opts.sourceResourceGroup) source.resourceGroup = opts.sourceResourceGroup;
  if (opts.sourceSubscription) source.subscriptionId = opts.sourceSubscription;
  if (opts.sourceLocation) source.location = opts.sourceLocation;
  if (opts.sourceName) source.name = opts.sourceName;
  if (opts.parameters) source.parameters = path.resolve(cwd, opts.parameters);
  if (opts.param?.length) {
    const params = { ...((source.param as Record<string, unknown>) ?? {}) };
    for (const kv of opts.param) {
      const i = kv.indexOf("=");
      if (i <= 0) throw new UserError(`'${redact(kv)}' is not NAME=VALUE`, "--param");
      params[kv.slice(0, i)] = kv.slice(i + 1);
    }
    source.param = params;
    // Only SecureString/secureObject parameters (and values that look like keys) are secret: an
    // ordinary name or SKU shows as typed. A template that cannot be read: all are secret.
    const declared = typeof source.template === "string" ? declaredSecureParameters(source.template) : undefined;
    if (declared === undefined) secretKeys.add(`${PROJECT}:source`);
    else secretParams.push(...declared);
  }
  if (opts.name) clone.name = opts.name;
  if (opts.location) clone.location = opts.location;
  if (opts.resourceGroup) clone.resourceGroup = opts.resourceGroup;
  if (opts.sku) clone.sku = opts.sku;
  if (opts.partitions !== undefined) clone.partitions = opts.partitions;
  if (opts.units !== undefined) clone.units = opts.units;
  if (opts.sharedEventRoutes !== undefined) {
    if (!["disabledUntilCutover", "enabled"].includes(opts.sharedEventRoutes))
      throw new UserError(`'${opts.sharedEventRoutes}' is not one of disabledUntilCutover, enabled`, "--shared-event-routes");
    clone.sharedEventRoutes = opts.sharedEventRoutes;
  }
  if (opts.privateEndpointSubnet) {
    const attachments = obj("attachments");
    const pe = attachments.privateEndpoints && typeof attachments.privateEndpoints === "object" ? { ...(attachments.privateEndpoints as Record<string, unknown>) } : {};
    attachments.privateEndpoints = { ...pe, subnetId: opts.privateEndpointSubnet };
  }
  return { config, secretKeys, notes, secretParams };
}

/** Runs the plan in a fresh Node process. Rejects only on a crash of the child (a bug). */
export function runPlan(opts: PlanOptions, timeoutMs = 180_000): Promise<PlanResult> {
  const child = fork(path.join(__dirname, "plan-child.ts"), [], {
    cwd: opts.projectDir ?? PROJECT_DIR,
    execArgv: ["--require", require.resolve("tsx/cjs")],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      if (!settled) reject(new Error(`plan did not finish within ${timeoutMs / 1000}s`));
      settled = true;
    }, timeoutMs);
    child.on("message", (m: { result?: PlanResult }) => {
      if (m.result && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve(m.result);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(new Error(`plan process exited with code ${code}: ${redact(stderr.slice(-2000))}`));
      }
    });
    child.send({ opts: { ...opts, cwd: opts.cwd ?? process.cwd() } });
  });
}
