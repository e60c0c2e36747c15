/**
 * Runs Azurite's blob service in this process (its own entry point reads process.argv), and exits
 * when the process that started it is gone: a test run killed before its teardown must not leave
 * Azurite behind. Usage: azurite-main.ts [--parent-pid N] <azurite blob options…>
 */
import * as path from "path";

const args = process.argv.slice(2);
const i = args.indexOf("--parent-pid");
const parentPid = i >= 0 ? Number(args[i + 1]) : 0;
if (i >= 0) args.splice(i, 2);

const main = require.resolve(path.join("azurite", "dist", "src", "blob", "main.js"));
process.argv = [process.argv[0], main, ...args];
require(main);

if (parentPid > 0) {
  setInterval(() => {
    try {
      process.kill(parentPid, 0);
    } catch {
      process.exit(0);
    }
  }, 2000);
}
