/**
 * Runs DeviceMigration the way the real Pulumi engine does, for provider-host.test.ts:
 *  1. compiles the devices component + engine to CommonJS with tsc (the project's own tsconfig)
 *     into a bin/ folder inside the project, so node resolves the project's node_modules;
 *  2. obtains `__provider` through the real path: a plain node process (not vitest, whose module
 *     rewriting breaks closure serialization, pulumi#10480) sets Pulumi mocks, constructs
 *     `new DeviceMigration(...)` from the compiled JS, and records the `__provider` input that
 *     `dynamic.Resource` serialized;
 *  3. starts `@pulumi/pulumi/cmd/dynamic-provider` (the host `pulumi up` launches) with the
 *     project directory as cwd, reads its port from the first stdout line, and talks to its
 *     ResourceProvider gRPC service with the generated stubs shipped in @pulumi/pulumi/proto.
 * Nothing here imitates the host: requests go through the same code `pulumi up` would hit.
 */
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const projectDir = path.resolve(__dirname, "..", "..");
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [projectDir] }));
/** Modules resolved from @pulumi/pulumi's own location, so the stubs and Struct share one google-protobuf. */
const fromPulumi = (id: string) => require(require.resolve(id, { paths: [pulumiDir] }));

export interface CompiledProgram {
  /** Relative to projectDir, e.g. bin/provider-host-123. */
  outDirRel: string;
  outDir: string;
  /** Compiled device-migration.js. */
  deviceMigrationJs: string;
  cleanup(): void;
}

/** tsc → CommonJS for the DeviceMigration entry points (and everything they import); `compile: false` only makes the scratch folder. */
export function compileDevices(tag: string, compile = true): CompiledProgram {
  const outDirRel = path.join("bin", `provider-host-${tag}-${process.pid}`);
  const outDir = path.join(projectDir, outDirRel);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const deviceMigrationJs = path.join(outDir, "components", "devices", "device-migration.js");
  const cleanup = () => fs.rmSync(outDir, { recursive: true, force: true });
  if (!compile) return { outDirRel, outDir, deviceMigrationJs, cleanup };
  const tsconfig = path.join(outDir, "tsconfig.json");
  const entries = ["device-migration.ts", "provider-impl.ts", "index.ts", "local-hub.ts", "transform.ts", "generate.ts"]
    .map((f) => path.join(projectDir, "components", "devices", f))
    .filter((f) => fs.existsSync(f));
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(projectDir, "tsconfig.json"),
      compilerOptions: { outDir, rootDir: projectDir, sourceMap: false, noEmit: false, incremental: false },
      files: entries,
      include: [],
    }),
  );
  const tsc = require.resolve("typescript/bin/tsc", { paths: [projectDir] });
  const r = spawnSync(process.execPath, [tsc, "-p", tsconfig], { cwd: projectDir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}\n${r.stderr}`);
  if (!fs.existsSync(deviceMigrationJs)) throw new Error(`tsc emitted no ${deviceMigrationJs}`);
  return { outDirRel, outDir, deviceMigrationJs, cleanup };
}

/**
 * `__provider` exactly as `pulumi up` would store it: constructed through `new DeviceMigration`
 * under Pulumi mocks in a plain node process, from the compiled JS — or, with `viaTsNode`, from
 * the TypeScript source loaded by ts-node (what Pulumi does for a `typescript: true` project that
 * is not compiled first; the provider host then finds no JS and loads the source through ts-node).
 */
export function serializedProvider(p: CompiledProgram, viaTsNode = false): string {
  const outFile = path.join(p.outDir, viaTsNode ? "provider-ts.txt" : "provider.txt");
  const script = path.join(p.outDir, viaTsNode ? "serialize-provider-ts.js" : "serialize-provider.js");
  const deviceMigration = viaTsNode ? path.join(projectDir, "components", "devices", "device-migration.ts") : p.deviceMigrationJs;
  const register = viaTsNode ? `require("ts-node").register({ transpileOnly: true });` : "";
  fs.writeFileSync(
    script,
    `
${register}
const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
(async () => {
  await pulumi.runtime.setMocks({
    newResource(args) {
      if (args.type === "pulumi-nodejs:dynamic/hubclone:DeviceMigration") fs.writeFileSync(${JSON.stringify(outFile)}, String(args.inputs.__provider));
      return { id: args.name + "-id", state: args.inputs };
    },
    call(args) { return args.inputs; },
  }, "hubclone", "test", false);
  const { DeviceMigration } = require(${JSON.stringify(deviceMigration)});
  new DeviceMigration("devices", { sourceHubHostName: "orig.azure-devices.net", cloneHubHostName: "clone.azure-devices.net" });
})().catch((e) => { console.error(e); process.exit(1); });
`,
  );
  const r = spawnSync(process.execPath, [script], { cwd: projectDir, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0 || !fs.existsSync(outFile)) throw new Error(`serializing the provider failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return fs.readFileSync(outFile, "utf8");
}

type Props = Record<string, unknown>;

export interface ProviderHost {
  /** Every stdout/stderr line the host printed (provider console.log lands here). */
  output: string[];
  check(olds: Props, news: Props): Promise<{ inputs: Props; failures: Array<{ property: string; reason: string }> }>;
  diff(id: string, olds: Props, news: Props): Promise<{ changes: number; replaces: string[]; deleteBeforeReplace: boolean }>;
  create(props: Props): Promise<{ id: string; properties: Props }>;
  update(id: string, olds: Props, news: Props): Promise<{ properties: Props }>;
  delete(id: string, props: Props): Promise<void>;
  stop(): Promise<void>;
}

const URN = "urn:pulumi:test::hubclone::pulumi-nodejs:dynamic/hubclone:DeviceMigration::devices";

/** A gRPC error from the host, with the ErrorResourceInitFailed details when the provider sent them. */
export class HostError extends Error {
  constructor(message: string, readonly initFailed?: { id: string; properties: Props; reasons: string[] }) {
    super(message);
  }
}

export async function startProviderHost(env: NodeJS.ProcessEnv = process.env): Promise<ProviderHost> {
  const grpc = fromPulumi("@grpc/grpc-js");
  const provrpc = require(path.join(pulumiDir, "proto", "provider_grpc_pb"));
  const provproto = require(path.join(pulumiDir, "proto", "provider_pb"));
  const statusproto = require(path.join(pulumiDir, "proto", "status_pb"));
  const structproto = fromPulumi("google-protobuf/google/protobuf/struct_pb");

  const child: ChildProcess = spawn(process.execPath, [path.join(pulumiDir, "cmd", "dynamic-provider", "index.js"), "127.0.0.1:1"], {
    cwd: projectDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  let resolvePort: (p: number) => void;
  let rejectPort: (e: Error) => void;
  const port = new Promise<number>((res, rej) => ((resolvePort = res), (rejectPort = rej)));
  let first = true;
  let buffered = "";
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    let i: number;
    while ((i = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      if (first && /^\d+$/.test(line.trim())) {
        first = false;
        resolvePort(Number(line.trim()));
      } else output.push(line);
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", (c: Buffer) => output.push(...c.toString("utf8").split("\n").filter(Boolean)));
  child.on("exit", (code) => rejectPort(new Error(`provider host exited (${code}) before printing its port:\n${output.join("\n")}`)));
  const client = new provrpc.ResourceProviderClient(`127.0.0.1:${await port}`, grpc.credentials.createInsecure());

  const struct = (v: Props) => structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(v)));
  const call = <T>(method: string, req: unknown, map: (resp: any) => T): Promise<T> =>
    new Promise((resolve, reject) => {
      client[method](req, (err: any, resp: any) => {
        if (!err) return resolve(map(resp));
        let initFailed: HostError["initFailed"];
        const bin = err.metadata?.get?.("grpc-status-details-bin")?.[0];
        if (bin) {
          const status = statusproto.Status.deserializeBinary(bin);
          for (const any of status.getDetailsList()) {
            const detail = provproto.ErrorResourceInitFailed.deserializeBinary(any.getValue());
            initFailed = { id: detail.getId(), properties: detail.getProperties()?.toJavaScript() ?? {}, reasons: detail.getReasonsList() };
          }
        }
        reject(new HostError(String(err.details ?? err.message), initFailed));
      });
    });

  return {
    output,
    check(olds, news) {
      const req = new provproto.CheckRequest();
      req.setUrn(URN);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      return call("check", req, (r) => ({
        inputs: r.getInputs().toJavaScript(),
        failures: r.getFailuresList().map((f: any) => ({ property: f.getProperty(), reason: f.getReason() })),
      }));
    },
    diff(id, olds, news) {
      const req = new provproto.DiffRequest();
      req.setId(id);
      req.setUrn(URN);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      return call("diff", req, (r) => ({ changes: r.getChanges(), replaces: r.getReplacesList(), deleteBeforeReplace: r.getDeletebeforereplace() }));
    },
    create(props) {
      const req = new provproto.CreateRequest();
      req.setUrn(URN);
      req.setProperties(struct(props));
      return call("create", req, (r) => ({ id: r.getId(), properties: r.getProperties().toJavaScript() }));
    },
    update(id, olds, news) {
      const req = new provproto.UpdateRequest();
      req.setId(id);
      req.setUrn(URN);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      return call("update", req, (r) => ({ properties: r.getProperties().toJavaScript() }));
    },
    delete(id, props) {
      const req = new provproto.DeleteRequest();
      req.setId(id);
      req.setUrn(URN);
      req.setProperties(struct(props));
      return call("delete", req, () => undefined);
    },
    async stop() {
      client.close();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/** The diff answer values of pulumirpc.DiffResponse.DiffChanges. */
export const DIFF = { UNKNOWN: 0, NONE: 1, SOME: 2 } as const;
