// Trees on the machine running tsync. Scanning and hashing live in scan/local.ts; apply runs the same
// Perl helper that SSH targets run, over a local pipe, so both kinds of target share one engine.
import { spawn } from "node:child_process";
import { closeSync, constants, createReadStream, fstatSync, openSync, promises as fsp, readSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import type { Change } from "../../model/change.js";
import { TransportError, errorMessage } from "../../model/errors.js";
import { absBytes, type RelPath } from "../../model/paths.js";
import { hashLocal, scanLocal } from "../../scan/local.js";
import { writeFileAtomic } from "./atomic-write.js";
import type { Snapshot } from "../../model/snapshot.js";
import { APPLY_COMMAND } from "../apply/helper.js";
import { applyOverStream, type HelperProcess, type StreamApplyOptions } from "../apply/stream.js";
import type { ApplyResult, ContentSource, Transport } from "../types.js";
import type { ScanOptions } from "../../scan/options.js";

const HOST = "local";
const NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;
const SMALL_FILE = 256 * 1024;

/** Starts the apply helper as a local process (`exec` makes the pid perl's own). */
export function spawnApplyHelper(): HelperProcess & { pid: number | undefined } {
  const child = spawn("sh", ["-c", APPLY_COMMAND], { stdio: ["pipe", "pipe", "pipe"] });
  const done = new Promise<number>((res) => {
    child.on("error", () => res(127));
    child.on("close", (code, signal) => res(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)));
  });
  return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, done, pid: child.pid };
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP";
}

export class LocalTransport implements Transport {
  readonly host = HOST;

  constructor(private readonly applyDefaults: Pick<StreamApplyOptions, "fsync" | "lockWaitMs"> = {}) {}

  scan(root: string, opts: ScanOptions): Promise<Snapshot> {
    return scanLocal(root, opts);
  }

  hash(root: string, paths: readonly RelPath[], signal?: AbortSignal): Promise<Map<RelPath, string>> {
    return hashLocal(root, paths, signal);
  }

  async readFile(root: string, path: RelPath, signal?: AbortSignal): Promise<Buffer | undefined> {
    let fh: fsp.FileHandle;
    try {
      // Only a regular file is "the file": a symlink at the path is not followed.
      fh = await fsp.open(absBytes(root, path), NO_FOLLOW);
    } catch (err) {
      if (isGone(err)) return undefined;
      throw new TransportError(HOST, "read", `${root}: ${errorMessage(err)}`);
    }
    try {
      if (!(await fh.stat()).isFile()) return undefined;
      return await fh.readFile({ signal });
    } finally {
      await fh.close();
    }
  }

  contentSource(root: string): ContentSource {
    return {
      async open(path: RelPath): Promise<Readable> {
        // A source file swapped for a symlink since the scan must not ship whatever it points at.
        const fd = openSync(absBytes(root, path), NO_FOLLOW);
        try {
          const st = fstatSync(fd);
          if (!st.isFile()) throw new Error("no longer a regular file");
          // Small files are read synchronously: per-file async opens cost ~250 µs each, 5x the write.
          if (st.size <= SMALL_FILE) {
            const buf = Buffer.allocUnsafe(st.size + 1);
            let n = 0;
            for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, n)) > 0; ) n += r;
            closeSync(fd);
            return Readable.from([buf.subarray(0, n)]);
          }
        } catch (err) {
          closeSync(fd);
          throw err;
        }
        return createReadStream("", { fd, highWaterMark: 1 << 20 }); // the path is ignored when fd is given
      },
    };
  }

  apply(root: string, changes: readonly Change[], content: ContentSource, opts: StreamApplyOptions = {}): Promise<ApplyResult> {
    return applyOverStream(spawnApplyHelper(), resolve(root), changes, content, { ...this.applyDefaults, ...opts });
  }

  run(command: string, signal?: AbortSignal): Promise<{ code: number; output: string }> {
    return new Promise((res, rej) => {
      const child = spawn("sh", ["-c", command], { stdio: ["ignore", "pipe", "pipe"], signal });
      const out: Buffer[] = [];
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.on("data", (d: Buffer) => out.push(d));
      child.on("error", (err) => rej(new TransportError(HOST, "run", `${command}: ${errorMessage(err)}`)));
      child.on("close", (code, sig) =>
        res({ code: code ?? 128 + (sig ? (osConstants.signals[sig] ?? 0) : 0), output: Buffer.concat(out).toString("utf8") }),
      );
    });
  }

  async writeFile(absPath: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    try {
      await writeFileAtomic(absPath, data, signal ? { signal } : {});
    } catch (err) {
      throw new TransportError(HOST, "write", `${absPath}: ${errorMessage(err)}`);
    }
  }

  async close(): Promise<void> {}
}
