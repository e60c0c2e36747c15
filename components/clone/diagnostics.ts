/**
 * The original's diagnostic settings on the clone: same destinations (Log Analytics workspace,
 * storage account, event hub, partner) and the same log categories and metrics. No ordering
 * constraint: logs of the clone do not reach the original's consumers as device events would.
 */
import * as pulumi from "@pulumi/pulumi";
import * as monitor from "@pulumi/azure-native/monitor";
import type { DiagnosticSettingPlan } from "./attachments-plan";

export interface HubDiagnosticsArgs {
  settings: DiagnosticSettingPlan[];
  hubId: pulumi.Input<string>;
}

export class HubDiagnostics extends pulumi.ComponentResource {
  constructor(name: string, args: HubDiagnosticsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iothub-clone:index:HubDiagnostics", name, {}, opts);
    for (const s of args.settings) {
      new monitor.DiagnosticSetting(
        `${name}-${s.name}`,
        { ...(s.inputs as Partial<monitor.DiagnosticSettingArgs>), name: s.name, resourceUri: args.hubId },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }
}
