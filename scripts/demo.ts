/**
 * `npm run demo`: what this project does, on a fresh machine after `npm ci`, with no Azure:
 *   1. the offline plan of the dev stack (`hubclone plan --stack dev`: the real program under
 *      Pulumi mocks — every resource `pulumi up` would create, DeviceMigration included);
 *   2. a rehearsal of 10,000 devices of every kind on the local hub (scripts/rehearse.ts).
 * Exit 0 only when both succeed.
 *
 *   npm run demo -- [--devices N] [--keep]
 */
import { spawn } from "child_process";
import * as path from "path";
import { Command } from "commander";
import { UserError } from "../components/errors";
import { redact } from "../components/secrets";
import { runCommand, scriptArgs } from "./cli";
import { describeReport, rehearse } from "./rehearse";

const projectDir = path.resolve(__dirname, "..");

/** Runs the plan command as `npm run plan -- --stack dev` would, streaming its output. */
function plan(stack: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, scriptArgs(path.join(projectDir, "scripts", "hubclone.ts"), ["plan", "--stack", stack]), { cwd: projectDir, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

const program = new Command("demo")
  .description("offline plan of the dev stack, then a rehearsal of 10,000 devices on the local hub")
  .option("--devices <n>", "devices for the rehearsal", "10000")
  .option("--keep", "leave the local hub running after the rehearsal")
  .action((o: { devices: string; keep?: boolean }) =>
    runCommand(async () => {
      const devices = Number(o.devices);
      if (!Number.isInteger(devices) || devices < 1 || devices > 1_000_000) throw new UserError("must be a whole number between 1 and 1000000", "--devices");
      const say = (l: string) => process.stdout.write(l + "\n");
      say("== 1/2 plan of the dev stack (offline, Pulumi mocks) ==");
      const planCode = await plan("dev");
      if (planCode !== 0) {
        say(`plan failed (exit ${planCode}); the rehearsal still runs`);
      }
      say(`\n== 2/2 rehearsal: ${devices.toLocaleString("en-US")} devices, original → clone on the local hub ==`);
      const report = await rehearse({ devices, keep: o.keep, print: (l) => process.stderr.write(redact(l) + "\n") });
      say(describeReport(report));
      const ok = planCode === 0 && report.failed.length === 0 && report.mismatches.length === 0;
      say(ok ? "\ndemo: OK" : "\ndemo: FAILED");
      return ok ? 0 : 1;
    }),
  );

void program.parseAsync(process.argv);
