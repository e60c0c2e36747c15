/**
 * The forked side of the offline plan (see plan.ts): configures Pulumi's mocks, loads the real
 * program, waits for every registration and sends back what was recorded. One plan per process.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { PROJECT } from "../config";
import { UserError } from "../errors";
import { redact } from "../secrets";
import { COMPUTED, NAME_INPUT, planConfig, renderInputs, secretValuesOf, type PlanOptions, type PlanResult, type PlannedResource } from "./plan";


const MOCK_KEY = "bW9jay1rZXktbm90LXJlYWw="; // "mock-key-not-real": never a real credential

/** Invoke results: shapes of the real functions, values obviously fake (and wrapped secret by the program). */
function invokeResult(token: string, inputs: Record<string, any>, live?: unknown, sourceName?: string, subscription?: string): Record<string, unknown> {
  switch (token) {
    case "azure-native:storage:listStorageAccountKeys":
      return { keys: [{ keyName: "key1", value: MOCK_KEY, permissions: "FULL" }] };
    case "azure-native:servicebus:listQueueKeys":
    case "azure-native:servicebus:listTopicKeys":
    case "azure-native:servicebus:listNamespaceKeys":
    case "azure-native:eventhub:listEventHubKeys":
    case "azure-native:eventhub:listNamespaceKeys": {
      const entity = inputs.queueName ?? inputs.topicName ?? inputs.eventHubName;
      const cs = `Endpoint=sb://${inputs.namespaceName}.servicebus.windows.net/;SharedAccessKeyName=${inputs.authorizationRuleName};SharedAccessKey=${MOCK_KEY}${entity ? `;EntityPath=${entity}` : ""}`;
      return { keyName: inputs.authorizationRuleName, primaryKey: MOCK_KEY, secondaryKey: MOCK_KEY, primaryConnectionString: cs, secondaryConnectionString: cs };
    }
    case "azure-native:cosmosdb:listDatabaseAccountKeys":
      return { primaryMasterKey: MOCK_KEY, secondaryMasterKey: MOCK_KEY, primaryReadonlyMasterKey: MOCK_KEY, secondaryReadonlyMasterKey: MOCK_KEY };
    case "azure-native:iothub:listIotHubResourceKeys":
      return { value: [{ keyName: "iothubowner", primaryKey: MOCK_KEY, secondaryKey: MOCK_KEY, rights: "RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect" }] };
    case "azure-native:managedidentity:getUserAssignedIdentity":
      return { id: COMPUTED, name: inputs.resourceName, principalId: COMPUTED, clientId: COMPUTED, tenantId: COMPUTED };
    case "azure-native:authorization:getClientConfig":
      // The subscription the provider would use: known offline only when given or configured.
      return { subscriptionId: subscription ?? COMPUTED, tenantId: COMPUTED, clientId: COMPUTED, objectId: COMPUTED };
    case "azure-native:iothub:getIotHubResource":
      // Any other hub than the original is the clone, which an offline plan treats as not yet
      // created (what ARM answers on a first run).
      if (sourceName === undefined || String(inputs.resourceName).toLowerCase() !== sourceName.toLowerCase()) {
        // As a provider error arrives through gRPC: the SDK rejects with `new Error(err.details)`.
        const notFound = `ResourceNotFound: the IoT hub '${inputs.resourceName}' does not exist (offline plan: the clone is not created yet)`;
        throw Object.assign(new Error(notFound), { details: notFound });
      }
      if (live) return live as Record<string, unknown>;
      throw new UserError(
        `the stack reads the live hub ${inputs.resourceGroupName}/${inputs.resourceName}, which an offline plan cannot reach: pass its \`az iot hub show\` output with --live-source FILE (or plan a file with --template FILE)`,
        "source",
      );
    default:
      throw new Error(`offline plan has no mock for ${token}`);
  }
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Outputs Azure assigns (not inputs) that the program reads, per type. */
function deployTimeOutputs(type: string, inputs: Record<string, any>): Record<string, unknown> {
  switch (type) {
    case "random:index/randomString:RandomString":
    case "random:index/randomUuid:RandomUuid":
      return { result: COMPUTED };
    case "azure-native:managedidentity:UserAssignedIdentity":
      return { principalId: COMPUTED, clientId: COMPUTED, tenantId: COMPUTED };
    case "azure-native:cosmosdb:DatabaseAccount":
      return { documentEndpoint: COMPUTED };
    case "azure-native:iothub:IotHubResource": {
      const props = inputs.properties;
      const add = (p: Record<string, any>) => ({
        ...p,
        hostName: COMPUTED,
        eventHubEndpoints: { events: { ...(p?.eventHubEndpoints?.events ?? {}), endpoint: COMPUTED, path: COMPUTED } },
      });
      // A secret input stays secret in state: wrap the same way.
      if (props && props[SIG_KEY]) return { properties: { ...props, value: add(props.value) } };
      return { properties: add(props ?? {}) };
    }
    default:
      return {};
  }
}

interface Recorded {
  type: string;
  name: string;
  custom: boolean;
  raw: Record<string, unknown>;
  /** URNs the SDK sent as this registration's dependencies (explicit dependsOn + input dependencies). */
  dependencies: string[];
  /** `<provider urn>::<id>` of an explicit provider, or "" for the default one. */
  provider: string;
}

async function valueOf<T>(o: unknown): Promise<T | undefined> {
  if (o === undefined) return undefined;
  // Output.promise() is the SDK's own accessor; unknown values resolve to undefined.
  const out = o as { promise?: () => Promise<T> };
  return out.promise ? out.promise() : (o as T);
}

function errorLines(err: unknown): string[] {
  const e = err as Error & { findings?: Array<{ field: string; message: string }> };
  if (e instanceof UserError || e instanceof pulumi.RunError || e?.name === "UserError" || e?.name === "ValidationError" || e?.name === "RunError") {
    // The SDK re-wraps an error met while serializing outputs; the user's line is what matters.
    return redact(e.message)
      .split("\n")
      .map((l) => l.replace(/^error serializing property "[^"]*": /, ""))
      .filter(Boolean);
  }
  // Invoke failures come back wrapped: keep the UserError's line.
  const m = /UserError: ([^\n]+)|(source: [^\n]+)/.exec(e?.message ?? "");
  if (m) return [redact(m[1] ?? m[2])];
  throw err;
}

export async function runPlanInProcess(opts: PlanOptions): Promise<PlanResult> {
  // No Azure offline: the live source does not list the hub's attachments (clone/source.ts).
  process.env.HUBCLONE_OFFLINE_PLAN = "1";
  const result: PlanResult = { resources: [], warnings: [], errors: [], stack: opts.stack };
  let cfg: ReturnType<typeof planConfig>;
  try {
    cfg = planConfig(opts);
  } catch (e) {
    result.errors = errorLines(e);
    return result;
  }
  result.warnings.push(...cfg.notes);
  const live = opts.liveSourceFile ? JSON.parse(fs.readFileSync(opts.liveSourceFile, "utf8")) : undefined;
  const configured = cfg.config["azure-native:subscriptionId"];
  const subscription = opts.subscription ?? (typeof configured === "string" ? configured : undefined) ?? process.env.ARM_SUBSCRIPTION_ID;
  const invokes: NonNullable<PlanResult["invokes"]> = [];
  const configStrings: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg.config)) configStrings[k] = typeof v === "string" ? v : JSON.stringify(v);
  pulumi.runtime.setAllConfig(configStrings, [...cfg.secretKeys]);
  const invokeErrors: string[] = [];
  const lines = (e: unknown): string[] => {
    try {
      return errorLines(e);
    } catch (err) {
      if (invokeErrors.length) return [...invokeErrors];
      throw err;
    }
  };

  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const key = NAME_INPUT[args.type];
        const name = key && args.inputs[key] !== undefined ? args.inputs[key] : args.name;
        // Full state so every apply runs; values Azure assigns at deploy time are the "[computed]"
        // marker, which keeps the known part of strings built from them readable.
        return { id: COMPUTED, state: { ...args.inputs, name, ...deployTimeOutputs(args.type, args.inputs) } };
      },
      call(args) {
        // A provider reference is `<urn>::<id>`; its logical name ends the URN.
        const ref = (args as { provider?: string }).provider;
        const urn = ref ? ref.slice(0, ref.lastIndexOf("::")) : "";
        invokes.push({ token: args.token, ...(urn ? { provider: urn.slice(urn.lastIndexOf("::") + 2) } : {}) });
        try {
          return invokeResult(args.token, args.inputs, live, (cfg.config[`${PROJECT}:source`] as { name?: string } | undefined)?.name, subscription);
        } catch (e) {
          // The SDK re-wraps invoke failures; keep the user's line to report it as such.
          if (e instanceof UserError) invokeErrors.push(e.message);
          throw e;
        }
      },
    },
    PROJECT,
    opts.stack ?? "offline",
    // Not a preview: with preview mocks one unknown nested value (an identity id) turns the
    // hub's whole `properties` input unknown, hiding everything a reviewer needs to see.
    false,
  );

  // Record each registration's serialized inputs, where secrets and unknowns are still marked
  // at the exact nested position (the deserialized mock inputs lift secrecy to the top level).
  const recorded: Recorded[] = [];
  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, cb: (err: any, innerResponse: any) => void) => {
    recorded.push({
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      raw: req.getObject()?.toJavaScript() ?? {},
      dependencies: req.getDependenciesList() ?? [],
      provider: req.getProvider() ?? "",
    });
    return register(req, cb);
  };

  // Pulumi logs failed registrations (log.error → console.error without an engine) and carries
  // on; a plan must not silently miss resources, so such lines make the plan fail.
  const runtimeErrors: string[] = [];
  const consoleError = console.error;
  console.error = (...a: unknown[]) => {
    const line = a.map(String).join(" ");
    if (line.startsWith("error: [runtime]")) runtimeErrors.push(line.replace(/^error: \[runtime\] /, "").split("\n")[0]);
    else consoleError(...a);
  };
  const addErrors = (found: string[]) => {
    for (const line of found) if (!result.errors.includes(line)) result.errors.push(line);
  };
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  process.on("unhandledRejection", onRejection);
  // The device count of the estimates: given, read from ARM when asked, else none (offline).
  // Set on the module the program itself loads (the project's, which may not be this checkout).
  const estimatesModule = (() => {
    try {
      return require(path.join(opts.projectDir ?? process.cwd(), "components", "clone", "estimates")) as typeof import("./estimates");
    } catch {
      return require("./estimates") as typeof import("./estimates");
    }
  })();
  if (typeof opts.devices === "number") {
    const n = opts.devices;
    estimatesModule.setDeviceCountReader(async () => n);
  } else if (opts.devices === "live") {
    estimatesModule.setDeviceCountReader((o) => estimatesModule.readRegistryDeviceCount(o));
  }
  let program: Record<string, unknown> | undefined;
  try {
    program = require(path.join(opts.projectDir ?? process.cwd(), "index.ts"));
  } catch (e) {
    addErrors(lines(e));
  }
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  try {
    await settings.waitForRPCs();
    if (program) {
      const summary = await valueOf<{ carriedOver: string[]; changed: string[]; dropped: string[]; warnings: string[] }>(program.summary);
      if (summary) {
        result.summary = { carriedOver: summary.carriedOver, changed: summary.changed, dropped: summary.dropped };
        result.warnings.push(...summary.warnings);
      }
      const estimates = await valueOf<PlanResult["estimates"]>(program.estimates);
      if (estimates) result.estimates = estimates;
    }
  } catch (e) {
    addErrors(lines(e));
  }
  // Some failures (an input Output rejecting while a registration serializes) surface a few
  // ticks after the RPC queue drains: let them, so a plan never silently misses a resource.
  for (let i = 0; i < 5; i++) {
    await settings.waitForRPCs().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
  }
  process.off("unhandledRejection", onRejection);
  for (const r of rejections) {
    addErrors(lines(r));
  }
  console.error = consoleError;
  if (pulumi.log.hasErrors() && !result.errors.length) {
    // Not a user error: the program (or a mock) failed. Report it as such, one line each.
    result.errors.push(...(runtimeErrors.length ? runtimeErrors : ["the program logged an error"]).map((l) => `program: ${l}`));
  }

  if (result.errors.length) {
    const secretValues = secretValuesOf(cfg.config, cfg.secretKeys, cfg.secretParams).filter((v) => v.length >= 4);
    result.errors = result.errors.map((t) => secretValues.reduce((acc, v) => acc.split(v).join("[secret]"), redact(t)));
    result.warnings = result.warnings.map((t) => secretValues.reduce((acc, v) => acc.split(v).join("[secret]"), redact(t)));
    // Nothing would be created: the program stops before registering the clone.
    result.resources = [];
    return result;
  }
  const secretValues = secretValuesOf(cfg.config, cfg.secretKeys, cfg.secretParams);
  const mask = (t: string) => secretValues.filter((v) => v.length >= 4).reduce((acc, v) => acc.split(v).join("[secret]"), redact(t));
  // Waits on what the plan shows, in plan order (the SDK sends the URNs of the resources, with a
  // component in dependsOn expanded to the resources inside it). A URN ends in
  // `::<parent types $ joined>$<type>::<name>`: matched on type and name, as names repeat across types.
  const key = (type: string, name: string) => `${type}\u0000${name}`;
  const urnKey = (urn: string) => {
    const parts = urn.split("::");
    return key(parts[parts.length - 2]?.split("$").pop() ?? "", parts[parts.length - 1] ?? "");
  };
  const waitsFor = (r: Recorded): string[] => {
    const deps = new Set(r.dependencies.map(urnKey));
    // An explicit provider is created before the resources it serves (a default provider is not a planned resource).
    if (r.provider) deps.add(urnKey(r.provider.slice(0, r.provider.lastIndexOf("::"))));
    deps.delete(key(r.type, r.name));
    return recorded.filter((x) => deps.has(key(x.type, x.name))).map((x) => x.name);
  };
  result.resources = recorded.map(
    // The logical name too: a hub name built from a --param value carries that value.
    (r): PlannedResource => ({
      type: r.type,
      name: mask(r.name),
      inputs: renderInputs(r.raw, { secretValues }) as Record<string, unknown>,
      dependsOn: waitsFor(r).map(mask),
    }),
  );
  result.warnings = result.warnings.map(mask);
  result.invokes = invokes;
  if (result.summary) {
    const s = result.summary;
    result.summary = { carriedOver: s.carriedOver.map(mask), changed: s.changed.map(mask), dropped: s.dropped.map(mask) };
  }
  return result;
}

if (require.main === module) {
  process.once("message", (m: { opts: PlanOptions }) => {
    runPlanInProcess(m.opts).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (err) => {
        process.stderr.write(redact((err as Error)?.stack ?? String(err)) + "\n");
        process.exit(2);
      },
    );
  });
}
