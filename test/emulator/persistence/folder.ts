/**
 * Append-only log in a folder. Records are buffered and written with one synchronous write before
 * the emulator answers a request (or a job checkpoints), so a kill -9 loses nothing acknowledged:
 * the kernel keeps written pages even when the process dies. On start the log is replayed (a torn
 * last line is ignored) and then compacted to the live state.
 */
import * as fs from "fs";
import * as path from "path";
import * as readline from "readline";
import { recordLine, type StateRecord, type StateStore } from "./store";

export class FolderStore implements StateStore {
  private readonly file: string;
  private fd: number | undefined;
  private buffer: string[] = [];
  private bufferedChars = 0;

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, "state.log");
  }

  async load(apply: (record: StateRecord) => void): Promise<void> {
    if (!fs.existsSync(this.file)) return;
    const lines = readline.createInterface({ input: fs.createReadStream(this.file, { encoding: "utf8" }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      let record: StateRecord;
      try {
        record = JSON.parse(line) as StateRecord;
      } catch {
        continue; // torn write from a killed process: the change was never acknowledged
      }
      apply(record);
    }
    this.dropTornTail();
  }

  /** Cuts a torn last line off the log so that the next append starts on a line of its own. */
  private dropTornTail(): void {
    const size = fs.statSync(this.file).size;
    if (size === 0) return;
    const fd = fs.openSync(this.file, "r");
    try {
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, size - 1);
      if (last[0] === 0x0a) return;
      // Scan back for the last newline; everything after it is the unacknowledged fragment.
      const chunk = Buffer.alloc(64 * 1024);
      let end = size;
      while (end > 0) {
        const start = Math.max(0, end - chunk.length);
        const n = fs.readSync(fd, chunk, 0, end - start, start);
        const i = chunk.subarray(0, n).lastIndexOf(0x0a);
        if (i >= 0) {
          fs.truncateSync(this.file, start + i + 1);
          return;
        }
        end = start;
      }
      fs.truncateSync(this.file, 0);
    } finally {
      fs.closeSync(fd);
    }
  }

  private open(): number {
    if (this.fd === undefined) this.fd = fs.openSync(this.file, "a");
    return this.fd;
  }

  append(record: StateRecord, raw?: string): void {
    const line = recordLine(record, raw);
    this.buffer.push(line);
    this.bufferedChars += line.length;
    if (this.bufferedChars > 4 * 1024 * 1024) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    const text = this.buffer.join("\n") + "\n";
    this.buffer = [];
    this.bufferedChars = 0;
    fs.writeSync(this.open(), text);
  }

  async compact(records: () => Iterable<string>): Promise<void> {
    this.flush();
    const tmp = this.file + ".compact";
    const out = fs.createWriteStream(tmp, { encoding: "utf8" });
    let chunk: string[] = [];
    let chars = 0;
    const write = (text: string) =>
      new Promise<void>((resolve, reject) => {
        if (out.write(text)) resolve();
        else {
          out.once("drain", resolve);
          out.once("error", reject);
        }
      });
    for (const line of records()) {
      chunk.push(line);
      chars += line.length;
      if (chars > 1024 * 1024) {
        await write(chunk.join("\n") + "\n");
        chunk = [];
        chars = 0;
      }
    }
    if (chunk.length) await write(chunk.join("\n") + "\n");
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    fs.renameSync(tmp, this.file);
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
