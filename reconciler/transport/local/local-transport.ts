// Trees on the machine running tsync. Scanning and hashing live in scan/local.ts; apply runs the same
// Perl helper that SSH targets run, over a local pipe, so both kinds of target share one engine.
import { execFile, spawn } from "node:child_process";
import { closeSync, constants, fstatSync, lstatSync, openSync, promises as fsp, read, readSync, type Stats } from "node:fs";
import { constants as osConstants } from "node:os";
import { dirname, resolve } from "node:path";
import { Readable } from "node:stream";
import type { Change } from "../../model/change.js";
import { SourceChangedError, TransportError, errorMessage } from "../../model/errors.js";
import { absBytes, type RelPath } from "../../model/paths.js";
import { hashLocal, scanLocal } from "../../scan/local.js";
import { writeFileAtomic } from "./atomic-write.js";
import type { Snapshot } from "../../model/snapshot.js";
import { APPLY_COMMAND } from "../apply/helper.js";
import { applyOverStream, type HelperProcess, type StreamApplyOptions } from "../apply/stream.js";
import { STDERR_TAIL_BYTES, wholeFile, type ApplyResult, type ContentSource, type ExecOptions, type ExecResult, type RootProbe, type SourceFile, type Transport } from "../types.js";
import { keepTail } from "../tail.js";
import type { ScanOptions } from "../../scan/options.js";
import { ownerIds } from "../owner-ids.js";

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

const CHUNK = 1 << 20;

/**
 * Why the bytes just read from `abs` may not be one version of the file: it was rewritten in place
 * (size, mtime or ctime moved on the open descriptor) or replaced (the name now holds another inode).
 * Timestamps have the filesystem's granularity: a same-size rewrite within one tick is only caught
 * by the plan's hash (deep plans).
 */
function changedWhileRead(before: Stats, after: Stats, abs: Buffer): string | undefined {
  if (after.size !== before.size) return `source changed while it was read (size ${before.size} → ${after.size})`;
  if (after.mtimeMs !== before.mtimeMs || after.ctimeMs !== before.ctimeMs) return "source changed while it was read (rewritten in place)";
  const now = lstatSync(abs, { throwIfNoEntry: false });
  if (!now || now.ino !== before.ino || now.dev !== before.dev) return "source changed while it was read (replaced or removed)";
  return undefined;
}

function readAt(fd: number, buf: Buffer, pos: number): Promise<number> {
  return new Promise((res, rej) => read(fd, buf, 0, buf.length, pos, (err, n) => (err ? rej(err) : res(n))));
}

/** A large file's chunks, then the changed-while-read check before the stream ends. */
async function* readChunks(fd: number, abs: Buffer, before: Stats): AsyncGenerator<Buffer> {
  for (let pos = 0; ; ) {
    const buf = Buffer.allocUnsafe(CHUNK);
    const n = await readAt(fd, buf, pos);
    if (n === 0) break;
    pos += n;
    yield n === buf.length ? buf : buf.subarray(0, n);
  }
  const why = changedWhileRead(before, fstatSync(fd), abs);
  if (why) throw new SourceChangedError(why);
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP";
}

/** One id from the system databases (id(1), getent(1)): "" when the name is unknown. */
function lookupId(cmd: string, args: string[]): Promise<string> {
  return new Promise((res) => execFile(cmd, args, (err, out) => res(err ? "" : String(out).split(":")[cmd === "id" ? 0 : 2]?.trim() ?? "")));
}

async function localOwnerIds(chown: { readonly user?: string; readonly group?: string }): Promise<NonNullable<RootProbe["owner"]>> {
  const num = (v: string | undefined, cmd: string, args: string[]) => (v === undefined ? Promise.resolve("") : /^\d+$/.test(v) ? Promise.resolve(v) : lookupId(cmd, args));
  const [uid, gid] = await Promise.all([num(chown.user, "id", ["-u", "--", chown.user ?? ""]), num(chown.group, "getent", ["group", "--", chown.group ?? ""])]);
  return ownerIds(chown, uid, gid);
}

export class LocalTransport implements Transport {
  readonly host = HOST;

  constructor(private readonly applyDefaults: Pick<StreamApplyOptions, "fsync" | "lockWaitMs"> = {}) {}

  async probeRoot(root: string, chown?: { readonly user?: string; readonly group?: string }): Promise<RootProbe> {
    const privileged = process.getuid?.() === 0;
    const owner = chown ? await localOwnerIds(chown) : undefined;
    const base = { privileged, ...(owner ? { owner } : {}) };
    if (!lstatSync(root, { throwIfNoEntry: false })?.isSymbolicLink()) return { path: root, ...base };
    const link = await fsp.readlink(root);
    // A dangling link leads to where apply would create the root (readlink -f, like an SSH target).
    const path = await fsp.realpath(root).catch(() => resolve(dirname(root), link));
    return { path, link, ...base };
  }

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
      async open(path: RelPath): Promise<SourceFile> {
        const abs = absBytes(root, path);
        // A source file swapped for a symlink since the scan must not ship whatever it points at.
        const fd = openSync(abs, NO_FOLLOW);
        let st: Stats;
        try {
          st = fstatSync(fd);
          if (!st.isFile()) throw new Error("no longer a regular file");
        } catch (err) {
          closeSync(fd);
          throw err;
        }
        // Small files are read synchronously: per-file async opens cost ~250 µs each, 5x the write.
        if (st.size > SMALL_FILE) {
          const stream = Readable.from(readChunks(fd, abs, st));
          // On close, not in the generator: a stream destroyed before its first read never runs it.
          stream.once("close", () => closeSync(fd));
          return { stream, sparse: st.blocks * 512 < st.size };
        }
        const buf = Buffer.allocUnsafe(st.size + 1);
        let n = 0;
        let why: string | undefined;
        try {
          for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, n)) > 0; ) n += r;
          why = changedWhileRead(st, fstatSync(fd), abs);
        } finally {
          closeSync(fd);
        }
        if (why) throw new SourceChangedError(why);
        return wholeFile(buf.subarray(0, n));
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

  exec(command: string, o: ExecOptions): Promise<ExecResult> {
    return new Promise((res, rej) => {
      // Its own process group (detached), so a timeout kills whatever the command started too.
      const child = spawn("sh", ["-c", command], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ["pipe", "ignore", "pipe"], detached: true });
      const tail = keepTail(child.stderr, STDERR_TAIL_BYTES);
      let timedOut = false;
      const kill = (sig: NodeJS.Signals) => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, sig);
        } catch {
          // the whole group is gone
        }
      };
      let killed = false;
      const stop = () => {
        if (killed) return;
        killed = true;
        kill("SIGTERM");
        // Also after the shell itself has exited: a child that ignores TERM is still in the group.
        setTimeout(() => kill("SIGKILL"), 5000).unref();
      };
      const timer = setTimeout(() => ((timedOut = true), stop()), o.timeoutMs);
      o.signal?.addEventListener("abort", stop, { once: true });
      child.stdin.on("error", () => {}); // a command that does not read its input closes the pipe early
      child.stdin.end(o.stdin);
      child.on("error", (err) => {
        clearTimeout(timer);
        rej(new TransportError(HOST, "exec", `cannot run \`${command}\` in ${o.cwd}: ${errorMessage(err)}`));
      });
      child.on("exit", () => {
        // A daemon the command left behind (setsid) may hold stderr open: do not wait for it.
        setTimeout(() => child.stderr.destroy(), 1000).unref();
      });
      child.on("close", (code, sig) => {
        clearTimeout(timer);
        o.signal?.removeEventListener("abort", stop);
        res({ code: code ?? 128 + (sig ? (osConstants.signals[sig] ?? 0) : 0), timedOut, stderrTail: tail() });
      });
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
