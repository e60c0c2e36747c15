/** `hubclone dps link`: link the clone to the Device Provisioning Service, optionally move enrollments. */
import type { Command } from "commander";
import { UserError } from "../../components/errors";
import { dpsClient, iotHubClient } from "../../components/operations/arm";
import { armUserError } from "../../components/operations/arm-errors";
import { describeDpsLink, dpsConnectionString, linkCloneToDps, moveEnrollments, provisioningClient, type MoveResult } from "../../components/operations/dps";
import { emit, runCommand, type GlobalOptions } from "../cli";

interface LinkFlags {
  subscription: string;
  dpsResourceGroup: string;
  dpsName: string;
  cloneHub: string;
  cloneResourceGroup?: string;
  moveEnrollments?: boolean;
  originalHub?: string;
  allocationWeight?: string;
  policy?: string;
}

export function register(program: Command): void {
  const dps = program.command("dps").description("Device Provisioning Service: link the clone, move enrollments");
  dps
    .command("link")
    .description("add the clone to the DPS's linked hubs; with --move-enrollments point enrollment groups and individual enrollments at it")
    .requiredOption("--subscription <id>", "subscription of the DPS and the clone")
    .requiredOption("--dps-resource-group <name>", "resource group of the Device Provisioning Service")
    .requiredOption("--dps-name <name>", "name of the Device Provisioning Service")
    .requiredOption("--clone-hub <name>", "name of the clone hub")
    .option("--clone-resource-group <name>", "resource group of the clone (default: the DPS's)")
    .option("--policy <name>", "clone hub policy DPS registers devices with", "iothubowner")
    .option("--allocation-weight <n>", "allocation weight of the clone among linked hubs")
    .option("--move-enrollments", "point enrollments at the clone (needs --original-hub)")
    .option("--original-hub <name>", "original hub name or host name, replaced by the clone in enrollments")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as GlobalOptions & LinkFlags;
        if (o.local) throw new UserError("dps link talks to Azure Resource Manager and DPS, which the local hub does not emulate: drop --local", "--local");
        if (o.moveEnrollments && !o.originalHub) throw new UserError("--move-enrollments needs the hub devices move away from: add --original-hub <name>", "--original-hub");
        const weight = o.allocationWeight === undefined ? undefined : Number(o.allocationWeight);
        if (weight !== undefined && !(Number.isInteger(weight) && weight >= 0)) throw new UserError("must be a whole number >= 0", "--allocation-weight");
        const arm = { subscriptionId: o.subscription };
        const target = { dpsResourceGroup: o.dpsResourceGroup, dpsName: o.dpsName };
        const link = await linkCloneToDps(dpsClient(arm), iotHubClient(arm), {
          ...target,
          cloneHub: o.cloneHub,
          cloneResourceGroup: o.cloneResourceGroup,
          policyName: o.policy,
          allocationWeight: weight,
        }).catch((e) => {
          throw armUserError(e, `DPS ${o.dpsName} or hub ${o.cloneHub}`, { name: o.dpsName, resourceGroup: o.dpsResourceGroup });
        });
        let moved: MoveResult | undefined;
        if (o.moveEnrollments) {
          const host = (n: string) => (n.includes(".") ? n : `${n}.azure-devices.net`);
          const svc = provisioningClient(await dpsConnectionString(dpsClient(arm), target));
          moved = await moveEnrollments(svc, host(o.originalHub!), link.cloneHostName);
        }
        emit(o, { link, enrollments: moved }, () => describeDpsLink(link, moved));
        return moved?.failed.length ? 1 : 0;
      });
    });
}
