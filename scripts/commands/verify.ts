/** `hubclone verify`: settings (ARM/snapshots) and devices (engine verifier) of the clone against the original. */
import type { Command } from "commander";
import { UserError } from "../../components/errors";
import { iotHubClient } from "../../components/operations/arm";
import { armUserError } from "../../components/operations/arm-errors";
import { localEndpointsIf, readSnapshotFile, resolveHub, resolveStaging } from "../../components/operations/inputs";
import { compareSettings, describeSettings } from "../../components/operations/settings";
import { takeSnapshot, type HubSnapshot } from "../../components/operations/snapshot";
import { describeDevices, describeMoved, verifyExitCode, verifyWaveAware, type VerifyResult, type WaveAwareDevices } from "../../components/operations/verify";
import { emit, runCommand, withHubPairOptions, type GlobalOptions, type HubPairFlags } from "../cli";

interface Flags extends HubPairFlags {
  devices?: boolean;
  maxDifferences: string;
  ignoreDesired?: string;
  snapshot?: string;
  cloneSnapshot?: string;
  subscription?: string;
  resourceGroup?: string;
  name?: string;
  cloneResourceGroup?: string;
  cloneName?: string;
  expect: string[];
  property: string;
  includeMoved?: boolean;
}

const collect = (v: string, all: string[]) => [...all, v];

async function liveSnapshot(subscription: string | undefined, rg: string | undefined, name: string | undefined, which: string): Promise<HubSnapshot> {
  if (!subscription) throw new UserError(`reading the ${which} from Azure needs --subscription`, "--subscription");
  const client = iotHubClient({ subscriptionId: subscription });
  return takeSnapshot(client, { resourceGroup: rg!, name: name! }).catch((e) => {
    throw armUserError(e, `IoT hub ${name}`, { name, resourceGroup: rg });
  });
}

export function register(program: Command): void {
  withHubPairOptions(
    program.command("verify").description("prove the clone matches: settings (ARM or snapshots; differences classified expected/unexpected) and devices (every device, streaming)"),
    { usedFor: "the verification exports", container: "private container for the exports (deleted after)" },
  )
    .option("--no-devices", "skip the device comparison")
    .option("--max-differences <n>", "list at most this many ids per list (counts stay exact)", "100")
    .option("--ignore-desired <property>", "do not count a difference in this desired property (after cutover waves: iotHubHostName)")
    .option("--property <path>", "the cutover property: devices whose desired.<path> on the original names the clone have moved, and are left out (reported as moved: N)", "iotHubHostName")
    .option("--include-moved", "compare the moved devices too (reported apart; the exit code stays on the devices that still belong to the original, unless a moved device is missing from the clone)")
    .option("--snapshot <file>", "settings: the original as recorded by `hubclone snapshot`")
    .option("--clone-snapshot <file>", "settings: the clone as recorded by `hubclone snapshot` (else read live with --clone-name)")
    .option("--subscription <id>", "settings: subscription for live ARM reads")
    .option("--resource-group <name>", "settings: original's resource group (live, instead of --snapshot)")
    .option("--name <hub>", "settings: original's name (live, instead of --snapshot)")
    .option("--clone-resource-group <name>", "settings: clone's resource group (live)")
    .option("--clone-name <hub>", "settings: clone's name (live)")
    .option("--expect <path>", "settings: declare a difference expected (repeatable), e.g. hub.sku.capacity", collect, [])
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as GlobalOptions & Flags;
        const max = Number(o.maxDifferences);
        if (!Number.isInteger(max) || max < 0) throw new UserError("must be a whole number >= 0", "--max-differences");
        const wantSettings = !!(o.snapshot || o.name || o.cloneSnapshot || o.cloneName);
        if (!wantSettings && o.devices === false) throw new UserError("nothing to verify: give settings inputs (--snapshot/--name and --clone-snapshot/--clone-name) or keep devices", "--no-devices");
        const result: VerifyResult = { ok: true };

        if (wantSettings) {
          const original = o.snapshot ? readSnapshotFile(o.snapshot, "--snapshot") : await liveSnapshot(o.subscription, o.resourceGroup, o.name, "original");
          if (!o.cloneSnapshot && !o.cloneName) throw new UserError("settings need the clone: --clone-snapshot FILE or --clone-name (with --clone-resource-group)", "--clone-name");
          const clone = o.cloneSnapshot
            ? readSnapshotFile(o.cloneSnapshot, "--clone-snapshot")
            : await liveSnapshot(o.subscription, o.cloneResourceGroup ?? o.resourceGroup, o.cloneName, "clone");
          result.settings = compareSettings(original, clone, { expect: o.expect });
          result.ok &&= result.settings.ok;
        }
        if (o.devices !== false) {
          const local = localEndpointsIf(o.local);
          const source = resolveHub(o.sourceConnectionString, "source", o.sourceHub, local);
          const clone = resolveHub(o.cloneConnectionString, "clone", o.cloneHub, local);
          const staging = resolveStaging(o.stagingConnectionString, o.stagingContainer, local);
          result.devices = await verifyWaveAware({ source, clone, staging, local, maxDifferences: max, ignoreDesiredProperty: o.ignoreDesired, property: o.property, includeMoved: o.includeMoved });
          result.ok &&= result.devices.ok;
        }
        emit(o, result, () =>
          [
            ...(result.settings ? [describeSettings(result.settings)] : []),
            ...(result.devices ? [describeDevices(result.devices), describeMoved(result.devices as WaveAwareDevices, o.property)] : []),
            result.ok ? "verify: OK — the clone matches (only expected differences)" : "verify: FAILED — unexpected differences above",
          ].join("\n"),
        );
        return verifyExitCode(result);
      });
    });
}
