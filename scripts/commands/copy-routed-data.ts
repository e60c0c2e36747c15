/** `hubclone copy-routed-data`: move what a storage routing endpoint already wrote to the relocated account. */
import type { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import { UserError } from "../../components/errors";
import { readLocalEndpoints } from "../../components/devices/local-hub";
import { copyRoutedData, type CopyRoutedResult } from "../../components/operations/copy-routed-data";
import { emit, runCommand, type GlobalOptions } from "../cli";

interface Flags {
  sourceConnectionString?: string;
  sourceAccountUrl?: string;
  sourceContainer: string;
  targetConnectionString?: string;
  targetAccountUrl?: string;
  targetContainer: string;
  prefix?: string;
  concurrency: string;
  syncLimitMb?: string;
  dryRun?: boolean;
}

export function register(program: Command): void {
  program
    .command("copy-routed-data")
    .description("copy the blobs a storage routing endpoint wrote from the original account to the relocated one (server-side, resumable)")
    .option("--source-connection-string <cs>", "original storage account (env HUBCLONE_SOURCE_STORAGE)")
    .option("--source-account-url <url>", "original account URL, Entra ID instead of a key (user delegation SAS)")
    .requiredOption("--source-container <name>", "the endpoint's container in the original account")
    .option("--target-connection-string <cs>", "relocated storage account (env HUBCLONE_TARGET_STORAGE)")
    .option("--target-account-url <url>", "relocated account URL, Entra ID instead of a key")
    .requiredOption("--target-container <name>", "the relocated endpoint's container")
    .option("--prefix <path>", "only blobs under this prefix (e.g. the hub name of the fileNameFormat)")
    .option("--concurrency <n>", "parallel copies", "8")
    .option("--sync-limit-mb <n>", "blobs above this size use the asynchronous copy (max 256)")
    .option("--dry-run", "count what would be copied, copy nothing")
    .action(async (_o, cmd: Command) => {
      await runCommand(async () => {
        const o = cmd.optsWithGlobals() as GlobalOptions & Flags;
        const local = o.local ? readLocalEndpoints() : undefined;
        const src = o.sourceConnectionString ?? process.env.HUBCLONE_SOURCE_STORAGE ?? local?.storage.connectionString;
        const dst = o.targetConnectionString ?? process.env.HUBCLONE_TARGET_STORAGE ?? local?.storage.connectionString;
        const concurrency = Number(o.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UserError("must be a whole number from 1 to 64", "--concurrency");
        const syncLimit = o.syncLimitMb === undefined ? undefined : Number(o.syncLimitMb);
        if (syncLimit !== undefined && !(syncLimit > 0 && syncLimit <= 256)) throw new UserError("must be a number of MiB from 1 to 256", "--sync-limit-mb");
        let bar: SingleBar | undefined;
        const result: CopyRoutedResult = await copyRoutedData({
          source: { connectionString: o.sourceAccountUrl ? undefined : src, accountUrl: o.sourceAccountUrl, containerName: o.sourceContainer },
          target: { connectionString: o.targetAccountUrl ? undefined : dst, accountUrl: o.targetAccountUrl, containerName: o.targetContainer },
          prefix: o.prefix,
          concurrency,
          syncCopyLimitBytes: syncLimit === undefined ? undefined : syncLimit * 1024 * 1024,
          dryRun: o.dryRun,
          onProgress: (p) => {
            if (o.json || !process.stderr.isTTY) return;
            if (!bar) {
              bar = new SingleBar({ format: "routed data {bar} {value}/{total} blobs | {copied} copied, {skipped} skipped, {failed} failed", stream: process.stderr }, Presets.shades_classic);
              bar.start(p.total, 0, { copied: 0, skipped: 0, failed: 0 });
            }
            bar.update(p.done, { copied: p.copied, skipped: p.skipped, failed: p.failed });
          },
        }).finally(() => bar?.stop());
        emit(o, result, () =>
          [
            `${result.dryRun ? "would copy" : "copied"} ${result.copied} of ${result.listed} blob(s) (${result.listedBytes} bytes listed) ${result.source} -> ${result.target}`,
            `  skipped (already copied): ${result.skipped}; asynchronous copies: ${result.copiedAsync}; bytes copied: ${result.bytesCopied}`,
            ...result.failed.slice(0, 20).map((f) => `  FAILED ${f.name}: ${f.error}`),
            ...(result.failed.length > 20 ? [`  … and ${result.failed.length - 20} more failures`] : []),
            ...(result.failed.length ? ["  rerun the same command to retry: finished blobs are skipped"] : []),
          ].join("\n"),
        );
        return result.failed.length ? 1 : 0;
      });
    });
}
