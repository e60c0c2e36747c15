/**
 * `hubclone plan` (`npm run plan -- …`): what `pulumi up` would create, computed offline by
 * running the real program under Pulumi's mocks (components/clone/plan.ts).
 */
import type { Command } from "commander";
import { NAME_INPUT, planSteps, runPlan, type PlannedResource, type PlanResult } from "../../components/clone/plan";
import { checkDeviceQuota, describeEstimates } from "../../components/devices/pace";
import { UserError } from "../../components/errors";
import { redact } from "../../components/secrets";
import { emit, runCommand, type GlobalOptions } from "../cli";

interface PlanFlags {
  stack?: string;
  template?: string;
  name?: string;
  location?: string;
  resourceGroup?: string;
  partitions?: string;
  sku?: string;
  units?: string;
  parameters?: string;
  param: string[];
  liveSource?: string;
  sourceResourceGroup?: string;
  sourceSubscription?: string;
  sourceLocation?: string;
  sourceName?: string;
  stackFile?: string;
  devices?: string;
  privateEndpointSubnet?: string;
  sharedEventRoutes?: string;
  subscription?: string;
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UserError(`'${v}' is not a whole number`, flag);
  return Number(v);
}

/** The few inputs a reviewer looks at first, per resource. */
function keyInputs(inputs: Record<string, unknown>): string {
  const show = (v: unknown) => (typeof v === "object" ? JSON.stringify(v) : String(v));
  const parts: string[] = [];
  for (const k of ["resourceGroupName", "location"]) if (inputs[k] !== undefined) parts.push(`${k === "resourceGroupName" ? "rg" : k}=${show(inputs[k])}`);
  const sku = inputs.sku as { name?: string; capacity?: number } | undefined;
  if (sku?.name) parts.push(`sku=${sku.name}${sku.capacity ? `x${sku.capacity}` : ""}`);
  const events = (inputs.properties as any)?.eventHubEndpoints?.events;
  if (events?.partitionCount) parts.push(`partitions=${events.partitionCount}`);
  if (inputs.scope !== undefined) parts.push(`scope=${show(inputs.scope)}`);
  return parts.join(" ");
}

function ownName(type: string, inputs: Record<string, unknown>): string {
  const own = NAME_INPUT[type];
  if (own) return typeof inputs[own] === "string" ? (inputs[own] as string) : "-";
  for (const k of ["resourceName", "accountName", "namespaceName", "queueName", "topicName", "eventHubName", "containerName", "databaseName", "certificateName", "authorizationRuleName", "name"]) {
    if (typeof inputs[k] === "string") return inputs[k] as string;
  }
  return "-";
}

/** redact() applied to every string value of a JSON-able value. */
export function redactStrings<T>(value: T): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map(redactStrings) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactStrings(v)])) as T;
  }
  return value;
}

export function renderTable(r: PlanResult): string {
  const lines: string[] = [];
  const hub = r.resources.find((x) => x.type === "azure-native:iothub:IotHubResource");
  lines.push(`Plan${r.stack ? ` (stack ${r.stack})` : ""}: ${r.resources.length} resources to create${hub ? `, clone ${ownName(hub.type, hub.inputs)}` : ""}`);
  lines.push("");
  // Rows in the order the engine can follow (by step, then as planned); AFTER names the rows a
  // resource waits for by their number, so the whole order fits on one screen.
  const steps = planSteps(r.resources);
  const order = r.resources.map((_, i) => i).sort((a, b) => steps[a] - steps[b] || a - b);
  const rowOf = new Map(order.map((i, row) => [i, row + 1]));
  const indexOf = new Map<string, number[]>();
  r.resources.forEach((x, i) => indexOf.set(x.name, [...(indexOf.get(x.name) ?? []), i]));
  const after = (x: PlannedResource) =>
    [...new Set((x.dependsOn ?? []).flatMap((d) => indexOf.get(d) ?? []).map((i) => rowOf.get(i)!))].sort((a, b) => a - b).join(",") || "-";
  const rows = order.map((i) => {
    const x = r.resources[i];
    return [String(rowOf.get(i)), x.type, x.name, ownName(x.type, x.inputs), after(x), keyInputs(x.inputs)];
  });
  const head = ["#", "TYPE", "LOGICAL NAME", "AZURE NAME", "AFTER", "KEY INPUTS"];
  const width = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((row) => row[i].length))));
  const fmt = (row: string[]) => row.map((c, i) => (i < row.length - 1 ? c.padEnd(width[i]) : c)).join("  ").trimEnd();
  lines.push(fmt(head));
  for (const row of rows) lines.push(fmt(row));
  if (r.summary) {
    lines.push("", "Changed:", ...r.summary.changed.map((s) => `  ${s}`));
    lines.push("Carried over:", ...r.summary.carriedOver.map((s) => `  ${s}`));
    if (r.summary.dropped.length) lines.push("Dropped:", ...r.summary.dropped.map((s) => `  ${s}`));
  }
  if (r.warnings.length) lines.push("", "Warnings:", ...r.warnings.map((w) => `  - ${w}`));
  if (r.estimates) lines.push("", describeEstimates(r.estimates));
  else if (r.resources.some((x) => x.type.startsWith("pulumi-nodejs:dynamic")))
    lines.push("", "Time estimates: pass --devices N (the original's device count), or --devices live to read it from the original's registry statistics (ARM).");
  lines.push("", "Rows are in the order `pulumi up` can follow: AFTER lists the rows (#) a resource waits for; rows that wait for nothing pending may run at once.");
  lines.push("Secrets show as [secret]; values known only at deploy time as [computed]. `--json` prints every input and each resource's dependsOn.");
  return lines.join("\n");
}

export function register(program: Command): void {
  program
    .command("plan")
    .description("Show what `pulumi up` would create for a stack or a template, offline (the real program under Pulumi's mocks).")
    .option("--stack <name>", "plan the stack's config (Pulumi.<name>.yaml)")
    .option("--template <file>", "the original hub's template/export/ARM body (overrides the stack's source)")
    .option("--name <name>", "the clone's name")
    .option("--location <region>", "the clone's region")
    .option("--resource-group <rg>", "the clone's resource group")
    .option("--partitions <n>", "partitions of the built-in endpoint (2-32)")
    .option("--sku <sku>", "F1, B1-B3, S1-S3")
    .option("--units <n>", "IoT hub units")
    .option("--parameters <file>", "ARM parameters file for the template")
    .option("--param <name=value>", "template parameter (repeatable; treated as a secret)", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option("--source-resource-group <rg>", "the original's resource group (template resourceGroup(); key look-ups)")
    .option("--source-subscription <id>", "the original's subscription id (template subscription())")
    .option("--source-location <region>", "location of the original's resource group (template resourceGroup().location)")
    .option("--source-name <hub>", "which hub of a template that declares several")
    .option("--stack-file <file>", "a stack config file outside the project")
    .option("--live-source <file>", "for a stack that reads the live hub: its `az iot hub show` output")
    .option("--devices <n|live>", "the original's device count for the time estimates (offline), or `live`: read it from the original's registry statistics through ARM (your Azure login)")
    .option("--private-endpoint-subnet <id>", "subnet (ARM id, clone's region) for the clone's private endpoints")
    .option("--shared-event-routes <mode>", "disabledUntilCutover (default) | enabled: lifecycle/twin-change routes to endpoints shared with the original")
    .option("--subscription <id>", "the subscription `pulumi up` will deploy into (default: azure-native:subscriptionId, else ARM_SUBSCRIPTION_ID)")
    .action(async (flags: PlanFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      await runCommand(async () => {
        let devices: number | "live" | undefined;
        if (flags.devices === "live") devices = "live";
        else if (flags.devices !== undefined) {
          devices = int("--devices", flags.devices);
          checkDeviceQuota(devices!, "--devices");
        }
        const result = await runPlan({
          devices,
          stack: flags.stack,
          template: flags.template,
          name: flags.name,
          location: flags.location,
          resourceGroup: flags.resourceGroup,
          partitions: int("--partitions", flags.partitions),
          sku: flags.sku,
          units: int("--units", flags.units),
          parameters: flags.parameters,
          param: flags.param,
          liveSourceFile: flags.liveSource,
          sourceResourceGroup: flags.sourceResourceGroup,
          sourceSubscription: flags.sourceSubscription,
          sourceLocation: flags.sourceLocation,
          sourceName: flags.sourceName,
          stackFile: flags.stackFile,
          privateEndpointSubnet: flags.privateEndpointSubnet,
          sharedEventRoutes: flags.sharedEventRoutes,
          subscription: flags.subscription,
        });
        const json = redactStrings({ resources: result.resources, warnings: result.warnings, errors: result.errors, ...(result.estimates ? { estimates: result.estimates } : {}) });
        // Redacted value by value (emit() redacts the JSON text, which would also mask harmless
        // fields such as an enrichment's "key" and turn "[secret]" into "****").
        if (globals.json) process.stdout.write(JSON.stringify(json, null, 2) + "\n");
        else if (!result.errors.length) emit(globals, json, () => renderTable(result));
        if (result.errors.length) {
          for (const e of result.errors) process.stderr.write(`error: ${redact(e)}\n`);
          return 1;
        }
        return 0;
      });
    });
}
