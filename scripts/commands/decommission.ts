/** `hubclone decommission`: verified, backed-up removal of the original hub's devices; `--restore` is the way back. */
import type { Command } from "commander";
import { checkConfirmation, checkRestoreConfirmation, describeDecommission, restoreCommand, runDecommission, runRestore } from "../../components/operations/decommission";
import { localEndpointsIf, resolveHub, resolveStaging } from "../../components/operations/inputs";
import { emit, runCommand, withHubPairOptions, type GlobalOptions, type HubPairFlags } from "../cli";
import { describeCopy } from "./devices";

interface Flags extends HubPairFlags {
  confirm?: string;
  property: string;
  restore?: string;
}

export function register(program: Command): void {
  withHubPairOptions(
    program.command("decommission").description("delete the original's devices after the clone verifies, with a full backup export (keys included) first; needs --confirm <original hub name>"),
    { usedFor: "verification and the backup", container: "private container for the backup" },
  )
    .option("--confirm <hub>", "the original hub's exact name: without it nothing is done")
    .option("--property <path>", "cutover property not counted as a difference", "iotHubHostName")
    .option("--restore <backup blob>", "the way back: import the devices of this backup (as decommission printed it) into the original again; needs --confirm too, not the clone")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as GlobalOptions & Flags;
        const local = localEndpointsIf(o.local);
        const original = resolveHub(o.sourceConnectionString, "source", o.sourceHub, local);
        if (o.restore !== undefined) {
          checkRestoreConfirmation(original, o.confirm); // before any call is made
          const staging = resolveStaging(o.stagingConnectionString, o.stagingContainer, local);
          const r = await runRestore({ original, confirm: o.confirm, staging, backupBlob: o.restore, local, log: o.json ? undefined : (line) => process.stderr.write(line + "\n") });
          emit(o, r, () => describeCopy(`restore of ${original.name} from ${o.restore}`, r));
          return r.failed > 0 || r.mismatchCount > 0 ? 1 : 0;
        }
        checkConfirmation(original, o.confirm); // before any call is made
        const clone = resolveHub(o.cloneConnectionString, "clone", o.cloneHub, local);
        const staging = resolveStaging(o.stagingConnectionString, o.stagingContainer, local);
        const r = await runDecommission({
          original,
          clone,
          confirm: o.confirm,
          staging,
          local,
          property: o.property,
          log: o.json ? undefined : (line) => process.stderr.write(line + "\n"),
        });
        const how = { local: !!o.local, sourceHub: o.sourceHub, stagingFromFlag: !!o.stagingConnectionString };
        emit(o, { ...r, restoreCommand: restoreCommand(r, how) }, () => describeDecommission(r, how));
        return r.deleted.failed ? 1 : 0;
      });
    });
}
