/**
 * The one entry point from "original + config" to "validated desired state": transform, then
 * validate. Pure; the HubClone component and the tests both call it.
 */
import type { CloneConfig } from "../config";
import type { HubModel } from "../source/model";
import { planAttachments, silenceSharedEventRoutes } from "./attachments-plan";
import { transformHub } from "./transform";
import type { ClonePlan } from "./types";
import { validateClonePlan } from "./validation";

export function buildClonePlan(model: HubModel, config: CloneConfig): ClonePlan {
  const plan = transformHub(model, config);
  silenceSharedEventRoutes(plan, config);
  plan.attachments = planAttachments(model, config, plan);
  const seen = new Set(plan.errors.map((f) => `${f.field}|${f.message}`));
  if (config.devices.enabled && !plan.original.resourceGroup) {
    plan.errors.push({
      field: "iothub-clone:source.resourceGroup",
      message: "the device copy reads the original's keys (read-only) and needs its resource group: set source.resourceGroup (and source.subscriptionId), or devices.enabled: false",
    });
  }
  if (config.devices.enabled && config.devices.storageAuthenticationType === "identityBased" && !plan.identity.reused.length) {
    plan.errors.push({
      field: "iothub-clone:devices.storageAuthenticationType",
      message:
        "identityBased staging needs a user-assigned identity on the original that the clone reuses (the original is never modified to add one): use keyBased, or give the original a user-assigned identity first",
    });
  }
  for (const f of validateClonePlan(plan)) {
    if (!seen.has(`${f.field}|${f.message}`)) plan.errors.push(f);
  }
  return plan;
}
