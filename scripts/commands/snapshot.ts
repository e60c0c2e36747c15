/** `hubclone snapshot`: a reviewable record of the live hub through ARM (keys masked). */
import type { Command } from "commander";
import * as fs from "fs";
import { UserError } from "../../components/errors";
import { iotHubClient } from "../../components/operations/arm";
import { attachmentClients } from "../../components/operations/attachments";
import { armUserError } from "../../components/operations/arm-errors";
import { describeSnapshot, takeSnapshot } from "../../components/operations/snapshot";
import { emit, runCommand, type GlobalOptions } from "../cli";

export function register(program: Command): void {
  program
    .command("snapshot")
    .description("record the live hub through Azure Resource Manager: settings, consumer groups, certificates, policies, endpoints (keys masked)")
    .requiredOption("--subscription <id>", "subscription of the original hub")
    .requiredOption("--resource-group <name>", "resource group of the original hub")
    .requiredOption("--name <hub>", "name of the original hub")
    .option("--out <file>", "write the snapshot here (commit it: the clone program reads it); default: print it")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as GlobalOptions & { subscription: string; resourceGroup: string; name: string; out?: string };
        if (!/^[0-9a-f-]{36}$/i.test(o.subscription)) throw new UserError("must be a subscription id (a GUID)", "--subscription");
        if (o.local) throw new UserError("snapshot reads Azure Resource Manager, which the local hub does not emulate: drop --local", "--local");
        const client = iotHubClient({ subscriptionId: o.subscription });
        const attached = attachmentClients({ subscriptionId: o.subscription });
        const snapshot = await takeSnapshot(client, { resourceGroup: o.resourceGroup, name: o.name }, new Date(), attached).catch((e) => {
          throw armUserError(e, `IoT hub ${o.name}`, o);
        });
        const text = JSON.stringify(snapshot, null, 2) + "\n";
        if (o.out) {
          fs.writeFileSync(o.out, text);
          emit(o, { out: o.out, hub: snapshot.hub.name, capturedAt: snapshot.capturedAt, missedByExport: snapshot.missedByExport }, () =>
            describeSnapshot(snapshot, o.out),
          );
        } else {
          // Written directly, not through emit(): the document is already masked by takeSnapshot,
          // and emit's generic redaction would also blank the non-secret remainder of masked
          // connection strings (account and namespace names the clone needs) and enrichment keys.
          process.stdout.write(text);
        }
      });
    });
}
