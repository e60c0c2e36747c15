/**
 * `DeviceMigration`: the device copy as a Pulumi dynamic resource. `create` runs the full copy,
 * a changed `syncGeneration` (or filter) runs `update` as a delta sync, `delete` leaves the
 * clone's devices alone unless `deleteDevicesOnDestroy` is set.
 *
 * Serialization (see ../shared/reference/pulumi-notes.md): Pulumi serializes the provider object
 * into the `__provider` input and later evaluates that text in `@pulumi/pulumi/cmd/dynamic-provider`
 * (via require-from-string, cwd = the project directory, no TypeScript loader). So the
 * serialized object is a thin shim: it captures ONE string — the directory of this module,
 * relative to the project directory — and each method `require()`s the real implementation
 * (`provider-impl.js` next to this file) at call time. Nothing else is captured: no module-scope
 * import, no client, no credential (credentials arrive as secret inputs).
 *
 * How the shim finds the implementation (`loadDeviceMigrationImpl` below):
 *   1. `<project>/<dir>/provider-impl.js`: the program was compiled to CommonJS (tsc → bin/),
 *      which is what `pulumi up` runs when Pulumi.yaml's `main` points at compiled output, and
 *      what the host test does.
 *   2. otherwise `<project>/<dir>/provider-impl.ts` loaded through ts-node in transpile-only mode:
 *      a TypeScript program run by Pulumi's default ts-node path leaves no JS on disk, and
 *      ts-node is always installed next to a Pulumi TypeScript program (peer of @pulumi/pulumi).
 * Relative (not absolute) so a checkout moved elsewhere, or a CI runner, still finds it; both the
 * program and the provider host run with the project directory as cwd.
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

/** Inputs of `DeviceMigration`. Connection strings are secrets; outputs never carry them. */
export interface DeviceMigrationArgs {
  /** `<original>.azure-devices.net`. Changing it replaces the resource. Read-only: only exports run on it. */
  sourceHubHostName: pulumi.Input<string>;
  /** Original hub connection string (secret) with registry read. Omitted = Microsoft Entra ID (DefaultAzureCredential). */
  sourceConnectionString?: pulumi.Input<string>;
  /** `<clone>.azure-devices.net`. Changing it replaces the resource. */
  cloneHubHostName: pulumi.Input<string>;
  /** Clone hub connection string (secret) with registry read+write. Omitted = Microsoft Entra ID. */
  cloneConnectionString?: pulumi.Input<string>;
  /** Staging storage account connection string (secret); required for `keyBased`. */
  stagingConnectionString?: pulumi.Input<string>;
  /** `https://<account>.blob.core.windows.net`: staging for `identityBased` when no connection string is given. */
  stagingAccountUrl?: pulumi.Input<string>;
  /** Private staging container (created when missing). Default `device-migration`. */
  stagingContainerName?: pulumi.Input<string>;
  /** How the hubs reach the staging container. Default `keyBased` (per-job SAS minted at run time). */
  storageAuthenticationType?: pulumi.Input<"keyBased" | "identityBased">;
  /** ARM id of the hubs' user-assigned identity (identityBased only; omitted = system-assigned). */
  userAssignedIdentity?: pulumi.Input<string>;
  /** Default `createOrUpdate`; `create` fails devices that already exist in the clone. */
  importMode?: pulumi.Input<"createOrUpdate" | "create">;
  /** Partial copy: exact device ids and/or a simple query (`tags.env = 'prod' AND status = 'enabled'`). Changing it runs a delta sync. */
  filter?: pulumi.Input<{ deviceIds?: pulumi.Input<pulumi.Input<string>[]>; query?: pulumi.Input<string> }>;
  /** Copy ADM configurations and edge deployments. Default true. */
  includeConfigurations?: pulumi.Input<boolean>;
  /** Bump it (e.g. right before cutover) to run a delta sync. Default 0. */
  syncGeneration?: pulumi.Input<number>;
  /** On a delta sync, also delete from the clone the devices deleted at the original. Default false. */
  deleteMissing?: pulumi.Input<boolean>;
  /** On destroy, delete exactly the devices this resource imported into the clone. Default false (devices stay). */
  deleteDevicesOnDestroy?: pulumi.Input<boolean>;
  /**
   * Copy although the direction guard refuses: the clone is a hub a run in the staging container
   * read as an original, or it already holds devices no run put there. Default false.
   */
  forceOverwriteTarget?: pulumi.Input<boolean>;
  /** The provider's own deadline for one create/update (customTimeouts are not enforced for dynamic providers). Default 240. */
  timeoutMinutes?: pulumi.Input<number>;
  /** Rehearsals/tests: route hub and storage traffic to the local hub described by this file (relative to the project dir), e.g. `.local/endpoints.json`. */
  localEndpointsFile?: pulumi.Input<string>;
}

/** One import failure as recorded in the outputs (no secrets: ids and codes only). */
export interface DeviceMigrationFailure {
  deviceId: string;
  moduleId?: string;
  errorCode: string;
  errorStatus: string;
}

/** The non-secret inputs after defaults: echoed into outputs, since `diff` and `delete` only see outputs. */
export interface DeviceMigrationSettings {
  sourceHubHostName: string;
  cloneHubHostName: string;
  stagingContainerName: string;
  stagingAccountUrl?: string;
  storageAuthenticationType: "keyBased" | "identityBased";
  userAssignedIdentity?: string;
  importMode: "createOrUpdate" | "create";
  filter?: { deviceIds?: string[]; query?: string };
  includeConfigurations: boolean;
  syncGeneration: number;
  deleteMissing: boolean;
  deleteDevicesOnDestroy: boolean;
  forceOverwriteTarget?: boolean;
  timeoutMinutes: number;
  localEndpointsFile?: string;
}

/**
 * What the provider returns from create/update (see provider-impl.ts). Holds a secret only in the
 * two connection-string fields, and only with deleteDevicesOnDestroy (declared secret outputs).
 */
export interface DeviceMigrationOutputs extends DeviceMigrationSettings {
  runId: string;
  /** Engine sync generation: 1 after the full copy, +1 per delta sync. */
  generation: number;
  lastOperation: "copy" | "sync" | "settings";
  exported: number;
  exportedModules: number;
  imported: number;
  failed: number;
  verified: number;
  mismatchCount: number;
  reparented: number;
  deleted: number;
  configurations: { exported: number; imported: number; failed: number };
  /** First failures (at most 10). */
  failures: DeviceMigrationFailure[];
  /** First verification differences (at most 10). */
  mismatches: Array<{ id: string; moduleId?: string; fields: string[] }>;
  jobIds: Record<string, string>;
  durationsMs: Record<string, number>;
  completedAt: string;
  /** Secret, only with deleteDevicesOnDestroy: what `pulumi destroy` needs to delete the imported devices. */
  cloneConnectionString?: string;
  stagingConnectionString?: string;
}

/** The output names, so the constructor can declare each one (Pulumi only keeps outputs that appear in props). */
export const deviceMigrationOutputNames = [
  "runId", "generation", "lastOperation", "exported", "exportedModules", "imported", "failed", "verified",
  "mismatchCount", "reparented", "deleted", "configurations", "failures", "mismatches", "jobIds", "durationsMs",
  "completedAt", "succeeded", "syncSequence",
] as const;

/** Outputs that carry credentials (only with deleteDevicesOnDestroy): always secret in state. */
export const deviceMigrationSecretOutputNames = ["cloneConnectionString", "stagingConnectionString"];

/**
 * Loads the provider implementation at call time (see the file comment for the resolution
 * order). A function declaration on purpose: Pulumi serializes it by value into `__provider`,
 * and it uses only `require` and `process`, which the provider host supplies.
 */
export function loadDeviceMigrationImpl(implDir: string): typeof import("./provider-impl") {
  const nodePath = require("path") as typeof import("path");
  const fs = require("fs") as typeof import("fs");
  const dir = nodePath.resolve(process.cwd(), implDir);
  const compiled = nodePath.join(dir, "provider-impl.js");
  if (fs.existsSync(compiled)) return require(compiled);
  const source = nodePath.join(dir, "provider-impl.ts");
  if (!fs.existsSync(source)) {
    throw new Error(`DeviceMigration: provider implementation not found in ${dir} (run the program from its project directory)`);
  }
  // No JS on disk: the program ran through ts-node. The host has no TS loader, so register
  // one (transpile-only: types were checked when the program ran).
  const g = globalThis as { __hubcloneTsNode?: boolean };
  if (!g.__hubcloneTsNode && !(require as NodeRequire).extensions[".ts"]) {
    require("ts-node").register({ transpileOnly: true, compilerOptions: { module: "commonjs" } });
    g.__hubcloneTsNode = true;
  }
  return require(source);
}

/**
 * The provider object Pulumi serializes. `implDir` is the only captured value.
 * Exported so the host test can serialize exactly what `DeviceMigration` serializes.
 */
export function makeDeviceMigrationProvider(implDir: string): pulumi.dynamic.ResourceProvider {
  return {
    async check(olds: any, news: any) {
      return loadDeviceMigrationImpl(implDir).check(olds, news);
    },
    async diff(id: string, olds: any, news: any) {
      return loadDeviceMigrationImpl(implDir).diff(id, olds, news);
    },
    async create(inputs: any) {
      return loadDeviceMigrationImpl(implDir).create(inputs);
    },
    async read(id: string, props: any) {
      return loadDeviceMigrationImpl(implDir).read(id, props);
    },
    async update(id: string, olds: any, news: any) {
      return loadDeviceMigrationImpl(implDir).update(id, olds, news);
    },
    async delete(id: string, props: any) {
      return loadDeviceMigrationImpl(implDir).delete(id, props);
    },
  };
}

/** This module's directory relative to the project directory (the cwd of program and provider host). */
export function deviceMigrationImplDir(): string {
  return path.relative(process.cwd(), __dirname) || ".";
}

export class DeviceMigration extends pulumi.dynamic.Resource {
  declare readonly runId: pulumi.Output<string>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly lastOperation: pulumi.Output<string>;
  declare readonly exported: pulumi.Output<number>;
  declare readonly exportedModules: pulumi.Output<number>;
  declare readonly imported: pulumi.Output<number>;
  declare readonly failed: pulumi.Output<number>;
  declare readonly verified: pulumi.Output<number>;
  declare readonly mismatchCount: pulumi.Output<number>;
  declare readonly reparented: pulumi.Output<number>;
  declare readonly deleted: pulumi.Output<number>;
  declare readonly configurations: pulumi.Output<DeviceMigrationOutputs["configurations"]>;
  declare readonly failures: pulumi.Output<DeviceMigrationFailure[]>;
  declare readonly mismatches: pulumi.Output<DeviceMigrationOutputs["mismatches"]>;
  declare readonly jobIds: pulumi.Output<Record<string, string>>;
  declare readonly durationsMs: pulumi.Output<Record<string, number>>;
  declare readonly completedAt: pulumi.Output<string>;
  /** False when the last create/update stopped early; the next `pulumi up` resumes it. */
  declare readonly succeeded: pulumi.Output<boolean>;
  /** Delta syncs started so far. */
  declare readonly syncSequence: pulumi.Output<number>;
  declare readonly sourceHubHostName: pulumi.Output<string>;
  declare readonly cloneHubHostName: pulumi.Output<string>;
  declare readonly syncGeneration: pulumi.Output<number>;

  constructor(name: string, args: DeviceMigrationArgs, opts?: pulumi.CustomResourceOptions) {
    const props: Record<string, unknown> = {
      ...args,
      // Secret inputs stay secret in state even when the caller passed plain strings.
      sourceConnectionString: args.sourceConnectionString === undefined ? undefined : pulumi.secret(args.sourceConnectionString),
      cloneConnectionString: args.cloneConnectionString === undefined ? undefined : pulumi.secret(args.cloneConnectionString),
      stagingConnectionString: args.stagingConnectionString === undefined ? undefined : pulumi.secret(args.stagingConnectionString),
    };
    for (const key of deviceMigrationOutputNames) props[key] = undefined;
    super(makeDeviceMigrationProvider(deviceMigrationImplDir()), name, props, {
      ...opts,
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...deviceMigrationSecretOutputNames],
    }, "hubclone", "DeviceMigration");
  }
}
