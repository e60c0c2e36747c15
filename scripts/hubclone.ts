#!/usr/bin/env node
/**
 * The one CLI: `npm run hubclone -- <command>`. Each command lives in scripts/commands/<name>.ts
 * and exports `register(program)`; they are discovered here so areas can add commands without
 * touching a shared list.
 */
import { Command } from "commander";
import * as fs from "fs";
import * as path from "path";

export function buildProgram(): Command {
  const program = new Command("hubclone")
    .description("Clone an Azure IoT hub: plan, copy devices, verify, cut over, decommission.")
    .option("--json", "print machine-readable JSON")
    .option("--local", "route *.azure-devices.net to the local hub described in .local/endpoints.json")
    // No usage dump after a usage error: commander's own line names the option (one line, like every user error).
    .exitOverride();
  const dir = path.join(__dirname, "commands");
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith(".d.ts")).sort() : [];
  for (const file of files) {
    const mod = require(path.join(dir, file)) as { register?: (p: Command) => void };
    mod.register?.(program);
  }
  return program;
}

if (require.main === module) {
  const program = buildProgram();
  program.parseAsync(process.argv).catch((err: { exitCode?: number; code?: string }) => {
    // commander already printed its usage error; keep its exit code, no stack.
    process.exitCode = typeof err?.exitCode === "number" ? err.exitCode : 1;
  });
}
