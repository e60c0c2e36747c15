/** `hubclone cutover`: move a wave of devices to the clone (or back, with --rollback) through one twin-update job. */
import type { Command } from "commander";
import { UserError } from "../../components/errors";
import { cutoverExitCode, describeCutover, describeWaveStatus, guardedCutover, waveStatus } from "../../components/operations/cutover";
import { localEndpointsIf, resolveHub, resolveStaging } from "../../components/operations/inputs";
import { describeCloneChanges } from "../../components/operations/rollback";
import { describeDevices } from "../../components/operations/verify";
import { emit, runCommand, withHubPairOptions, type GlobalOptions, type HubPairFlags } from "../cli";

interface Flags extends HubPairFlags {
  query?: string;
  property: string;
  rollback?: boolean;
  wait: boolean;
  force?: boolean;
  status?: boolean;
  maxExecutionSeconds?: string;
  reconcile?: boolean;
  discardCloneChanges?: boolean;
}

export function register(program: Command): void {
  withHubPairOptions(
    program.command("cutover").description("point a wave of devices at the clone: one scheduled twin update setting properties.desired.<property> on the original (--rollback: on the clone, back to the original)"),
    { usedFor: "the pre-cutover verification", container: "private container for the verification exports" },
  )
    .option("--query <condition>", "WHERE condition selecting the wave, e.g. \"tags.wave = 1\" (default: every device)")
    .option("--property <path>", "desired property the device firmware watches", "iotHubHostName")
    .option("--rollback", "schedule the job on the clone with the original's host name; first compares the wave's moved devices: refused if they changed on the clone (see --reconcile), or if the original no longer has them (unless --force)")
    .option("--reconcile", "rollback: copy the moved devices changed on the clone INTO THE ORIGINAL first (a deliberate write to the original), then point them back")
    .option("--discard-clone-changes", "rollback: point the devices back although they changed on the clone; those changes are not carried to the original (listed)")
    .option("--no-wait", "schedule the job and return; do not follow it")
    .option("--force", "cut over even if the clone does not verify")
    .option("--status", "watch a wave: count devices in it, told to move, and reporting the new hub; writes nothing")
    .option("--max-execution-seconds <n>", "job lifetime on the hub (default: sized on the wave, twice its time at S1's 50 twin updates/s, at least 3600)")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as GlobalOptions & Flags;
        const local = localEndpointsIf(o.local);
        const original = resolveHub(o.sourceConnectionString, "source", o.sourceHub, local);
        const clone = resolveHub(o.cloneConnectionString, "clone", o.cloneHub, local);
        const maxExec = o.maxExecutionSeconds === undefined ? undefined : Number(o.maxExecutionSeconds);
        if (maxExec !== undefined && (!Number.isInteger(maxExec) || maxExec < 60)) throw new UserError("must be a whole number of seconds >= 60", "--max-execution-seconds");
        if (o.status) {
          const w = await waveStatus({ original, clone, query: o.query, property: o.property, rollback: o.rollback, local });
          emit(o, w, () => describeWaveStatus(w));
          return 0;
        }
        if ((o.reconcile || o.discardCloneChanges) && !o.rollback) throw new UserError("applies to a rollback only: add --rollback", o.reconcile ? "--reconcile" : "--discard-clone-changes");
        // A rollback compares the wave's moved devices (export jobs): it needs the staging container too.
        const staging = o.force && !o.rollback ? undefined : resolveStaging(o.stagingConnectionString, o.stagingContainer, local);
        const { gate, result } = await guardedCutover({
          original,
          clone,
          staging,
          force: o.force,
          query: o.query,
          property: o.property,
          rollback: o.rollback,
          reconcile: o.reconcile,
          discardCloneChanges: o.discardCloneChanges,
          wait: o.wait,
          local,
          maxExecutionTimeInSeconds: maxExec,
          onProgress: o.json ? undefined : (line) => process.stderr.write(line + "\n"),
        });
        const verification =
          gate.kind === "verified" ? { ok: true, devices: gate.devices.source, cutoverOnly: gate.devices.cutoverOnly ?? 0 } : gate.kind === "forced" ? "skipped (--force)" : "not required (rollback)";
        const cloneChanges = gate.kind === "rollback" ? gate.cloneChanges : undefined;
        emit(o, { ...result, verification, ...(cloneChanges ? { cloneChanges } : {}) }, () =>
          [
            gate.kind === "verified" ? `verification: OK\n${describeDevices(gate.devices)}` : `verification: ${verification}`,
            ...(cloneChanges ? [describeCloneChanges(cloneChanges, { original: original.name, clone: clone.name })] : []),
            describeCutover(result),
          ].join("\n"),
        );
        return cutoverExitCode(result);
      });
    });
}
