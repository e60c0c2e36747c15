/**
 * Runs copyDevices in its own process so a test can kill it (SIGKILL) for real mid-run.
 * Options arrive as JSON in HUBCLONE_TEST_COPY_OPTIONS; every log line goes to stdout.
 */
import { copyDevices, type CopyOptions } from "../../components/devices";

const o = JSON.parse(process.env.HUBCLONE_TEST_COPY_OPTIONS ?? "{}") as CopyOptions;
copyDevices({ ...o, log: (l) => process.stdout.write(l + "\n") }).then(
  (r) => process.stdout.write(`RESULT ${JSON.stringify(r)}\n`),
  (e: Error) => {
    process.stdout.write(`ERROR ${e.message}\n`);
    process.exit(1);
  },
);
