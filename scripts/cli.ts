import type { Command } from "commander";
import { UserError } from "../components/errors";
import { redact } from "../components/secrets";

/** Options every command accepts (declared once on the root program). */
export interface GlobalOptions {
  json?: boolean;
  local?: boolean;
}

/**
 * Runs a command body: a UserError becomes one redacted line on stderr and exit code 1, with
 * no stack trace; anything else is a bug and is reported with its stack (still redacted).
 */
export async function runCommand(body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    process.exitCode = typeof code === "number" ? code : 0;
  } catch (err) {
    process.exitCode = 1;
    if (err instanceof UserError) {
      process.stderr.write(`error: ${redact(err.message)}\n`);
    } else {
      const e = err as Error;
      process.stderr.write(`error: ${redact(e?.stack ?? String(err))}\n`);
    }
  }
}

/** Prints a result: JSON on stdout for machines, or the human text. */
export function emit(opts: GlobalOptions, result: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(redact(JSON.stringify(result, null, 2)) + "\n");
  else process.stdout.write(redact(human()) + "\n");
}

/** Flags of the commands that work on the original and the clone together (verify, cutover, decommission). */
export interface HubPairFlags {
  sourceConnectionString?: string;
  cloneConnectionString?: string;
  sourceHub?: string;
  cloneHub?: string;
  stagingConnectionString?: string;
  stagingContainer?: string;
}

/** Declares the HubPairFlags options once, so the three commands name and document them alike. */
export function withHubPairOptions(cmd: Command, staging: { usedFor: string; container: string }): Command {
  return cmd
    .option("--source-connection-string <cs>", "original hub (env HUBCLONE_SOURCE_CONNECTION_STRING)")
    .option("--source-hub <name>", "with --local: the original hub by name")
    .option("--clone-hub <name>", "with --local: the clone hub by name")
    .option("--clone-connection-string <cs>", "clone hub (env HUBCLONE_CLONE_CONNECTION_STRING)")
    .option("--staging-connection-string <cs>", `storage for ${staging.usedFor} (env HUBCLONE_STAGING_CONNECTION_STRING; --local: Azurite)`)
    .option("--staging-container <name>", staging.container, "hubclone-staging");
}

/**
 * `node` arguments that run one of the project's TypeScript scripts the way `npm run` does: the
 * CommonJS hook of tsx in this process (the tsx command adds a second process and a module-hooks
 * thread, about 20 MB, for ES-module support the project does not use).
 */
export function scriptArgs(file: string, args: string[] = []): string[] {
  return ["--require", require.resolve("tsx/cjs"), file, ...args];
}
