/** `hubclone cutover`: move a wave of devices to the clone (or back, with --rollback) through one twin-update job. */
import type { Command } from "commander";
import { UserError } from "../../components/errors";
import { cutoverExitCode, describeCutover, describeWaveStatus, guardedCutover, waveStatus } from "../../components/operations/cutover";
import { parseSku } from "../../components/devices/pace";
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
  sku?: string;
  units?: string;
  sourceSku?: string;
  sourceUnits?: string;
  allowEmpty?: boolean;
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
    .option("--allow-empty", "schedule the wave even when its query selects no device (otherwise refused, also with --force)")
    .option("--no-wait", "schedule the job and return; do not follow it")
    // `--query tags.building = north` unquoted in the shell arrives as extra words: caught below with a message.
    .allowExcessArguments(true)
    .option("--force", "cut over even if the clone does not verify")
    .option("--status", "watch a wave: count devices in it, told to move, and reporting the new hub; writes nothing")
    .option("--max-execution-seconds <n>", "job lifetime on the hub (default: twice the wave's time at the hub tier's job pace, at least 3600)")
    // The tiers come from flags, not ARM: the cutover works with connection strings alone (no ARM
    // credential or resource group needed), and a tier not given is taken as S1, the slowest.
    .option("--sku <tier>", "the clone's tier (F1, S1-S3): sizes the jobs that run there (default: S1's pace, the slowest)")
    .option("--units <n>", "the clone's units (S2/S3 job pace scales with them)")
    .option("--source-sku <tier>", "the original's tier: sizes the jobs that run there (default: S1's pace)")
    .option("--source-units <n>", "the original's units")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as GlobalOptions & Flags;
        if (cmd.args.length > 0)
          throw new UserError(
            o.query !== undefined
              ? `got "${o.query}" followed by "${cmd.args.join(" ")}": quote the whole condition, e.g. --query "${[o.query, ...cmd.args].join(" ").replace(/= *([A-Za-z_][\w-]*)$/, "= '$1'")}"`
              : `unexpected argument(s) "${cmd.args.join(" ")}": options only (quote values that contain spaces)`,
            o.query !== undefined ? "--query" : "cutover",
          );
        const local = localEndpointsIf(o.local);
        const original = resolveHub(o.sourceConnectionString, "source", o.sourceHub, local);
        const clone = resolveHub(o.cloneConnectionString, "clone", o.cloneHub, local);
        const maxExec = o.maxExecutionSeconds === undefined ? undefined : Number(o.maxExecutionSeconds);
        if (maxExec !== undefined && (!Number.isInteger(maxExec) || maxExec < 60)) throw new UserError("must be a whole number of seconds >= 60", "--max-execution-seconds");
        if (o.units !== undefined && o.sku === undefined) throw new UserError("needs --sku (units of which tier?)", "--units");
        if (o.sourceUnits !== undefined && o.sourceSku === undefined) throw new UserError("needs --source-sku (units of which tier?)", "--source-units");
        const cloneSku = o.sku === undefined ? undefined : parseSku(o.sku, o.units, "--sku", "--units");
        const originalSku = o.sourceSku === undefined ? undefined : parseSku(o.sourceSku, o.sourceUnits, "--source-sku", "--source-units");
        for (const [sku, flag] of [[cloneSku, "--sku"], [originalSku, "--source-sku"]] as const)
          if (sku && sku.name.startsWith("B")) throw new UserError(`${sku.name} is a basic tier: it has no device twins or scheduled jobs, so a cutover cannot run there`, flag);
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
          allowEmpty: o.allowEmpty,
          wait: o.wait,
          local,
          maxExecutionTimeInSeconds: maxExec,
          cloneSku,
          originalSku,
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
