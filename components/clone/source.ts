/**
 * Where the original's settings come from, per stack config: a file (template, export, ARM
 * body, state export, snapshot) read at program start, or the live hub read at deploy time
 * through `getIotHubResourceOutput` (read-only).
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as iothub from "@pulumi/azure-native/iothub";
import type { CloneConfig } from "../config";
import { fromArmResource, loadParametersFile, mergeParameters, readHubFile } from "../source";
import type { DeploymentContext, HubModel, ParameterValues } from "../source/model";
import { redact } from "../secrets";

/** Template parameters from the parameters file and `source.param` (secret when the config key is). */
export function sourceParameters(config: CloneConfig, secretKeys: Set<string>, baseDir = process.cwd()): ParameterValues {
  const sets: ParameterValues[] = [];
  if (config.source.parameters) sets.push(loadParametersFile(path.resolve(baseDir, config.source.parameters)));
  if (config.source.param) {
    const values: Record<string, unknown> = { ...config.source.param };
    sets.push({ values, secret: secretKeys.has("source") ? new Set(Object.keys(values)) : new Set() });
  }
  return sets.length ? mergeParameters(...sets) : { values: {}, secret: new Set() };
}

export function deploymentContext(config: CloneConfig): DeploymentContext | undefined {
  const { subscriptionId, resourceGroup, location } = config.source;
  if (!resourceGroup) return undefined;
  // No invented subscription id: a template whose names or key look-ups depend on subscription()
  // must get the real one (a made-up id would silently change uniqueString() names).
  return { ...(subscriptionId ? { subscriptionId } : {}), resourceGroup, ...(location ? { location } : {}) };
}

/** Reads the original from the configured file. Throws UserError with the JSON path and the fix. */
export function readSourceFile(config: CloneConfig, secretKeys: Set<string>, baseDir = process.cwd()): HubModel {
  const file = path.resolve(baseDir, config.source.template!);
  const model = readHubFile(file, {
    parameters: sourceParameters(config, secretKeys, baseDir),
    context: deploymentContext(config),
    hubName: config.source.name,
  });
  // The config names the original's coordinates when the file does not (portal exports).
  return {
    ...model,
    resourceGroup: model.resourceGroup ?? config.source.resourceGroup,
    subscriptionId: model.subscriptionId ?? config.source.subscriptionId,
  };
}

/** Reads the live original hub (an ARM GET through azure-native; nothing is written). */
export function readLiveSource(config: CloneConfig, opts: pulumi.InvokeOutputOptions): pulumi.Output<HubModel> {
  const { resourceGroup, name } = config.source;
  const hub = iothub.getIotHubResourceOutput({ resourceGroupName: resourceGroup!, resourceName: name! }, opts);
  return hub.apply(async (body) => {
    const model = fromArmResource(body, `live:${resourceGroup}/${name}`);
    const live: HubModel = { ...model, format: "live" as const, resourceGroup: model.resourceGroup ?? resourceGroup, subscriptionId: model.subscriptionId ?? config.source.subscriptionId };
    return withLiveAttachments(live, body as unknown as Record<string, unknown>);
  });
}

/**
 * The live hub's attachments, listed through ARM (components/operations/attachments.ts). Not
 * listed in an offline plan (no Azure there: the plan says so and points at a snapshot); a
 * listing that fails leaves them unknown with the reason, and the plan warns.
 */
async function withLiveAttachments(model: HubModel, body: Record<string, unknown>): Promise<HubModel> {
  const id = typeof body.id === "string" ? body.id : undefined;
  const subscriptionId = model.subscriptionId ?? (id ? /^\/subscriptions\/([^/]+)/i.exec(id)?.[1] : undefined);
  if (process.env.HUBCLONE_OFFLINE_PLAN === "1") {
    return { ...model, notes: [...model.notes, "offline plan: the live hub's attachments (Event Grid, diagnostics, private endpoints, roles) are not listed; plan from a snapshot to see them"] };
  }
  if (!id || !subscriptionId || !model.resourceGroup) return model;
  try {
    const { attachmentClients, listHubAttachments } = await import("../operations/attachments");
    const { attachmentsFromArm } = await import("../source/attachments");
    const arm = await listHubAttachments(attachmentClients({ subscriptionId }), { id, resourceGroup: model.resourceGroup, name: model.name, body });
    return { ...model, attachments: attachmentsFromArm(arm, model.name) };
  } catch (e) {
    return { ...model, notes: [...model.notes, `the live hub's attachments could not be listed (${redact(String((e as Error)?.message ?? e).split("\n")[0])})`] };
  }
}
