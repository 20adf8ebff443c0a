// The local scanner: walk a tree on this machine into a Snapshot. Names are bytes (readdir with
// buffer encoding), symlinks are never followed (lstat), excludes apply during the walk, and a path
// that cannot be read becomes a `problem` entry while the walk goes on. Hashing runs in worker threads.
import type { Stats } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { absBytes, ancestorsOf, compareRel, fromBytes, isInside, joinRel, ROOT, type RelPath } from "../model/paths.js";
import { STAGING_DIR, type Entry, type Snapshot } from "../model/snapshot.js";
import { TransportError } from "../model/errors.js";
import type { ScanOptions } from "./options.js";
import { hashRecords } from "./hash-pool.js";

/** Directories read at once. Each read also lstats its children in parallel, in chunks. */
const DIR_CONCURRENCY = 8;
const STAT_CHUNK = 64;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** "EACCES: permission denied (scandir)": Node's message without the path (shown by the caller). */
export function problemText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const msg = e instanceof Error ? e.message : String(err);
  const cut = e.syscall === undefined ? -1 : msg.indexOf(`, ${e.syscall}`);
  return cut > 0 ? `${msg.slice(0, cut)} (${e.syscall})` : msg;
}

function specialKind(st: Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "of an unknown type";
}

class Walker {
  readonly out = new Map<RelPath, Entry>();
  private readonly queue: RelPath[] = [];

  constructor(
    private readonly root: string,
    private readonly opts: ScanOptions,
  ) {}

  private abs(p: RelPath): Buffer {
    return absBytes(this.root, p);
  }

  /** The entry for `p` from its lstat; undefined when it vanished meanwhile. */
  async entry(p: RelPath, st: Stats): Promise<Entry | undefined> {
    const meta = { mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, ...(this.opts.owners ? { uid: st.uid, gid: st.gid } : {}) };
    if (st.isFile()) return { kind: "file", size: st.size, ...meta, ...(this.opts.links && st.nlink > 1 ? { link: `${st.dev}:${st.ino}` } : {}) };
    if (st.isDirectory()) return { kind: "dir", ...meta };
    if (st.isSymbolicLink()) {
      try {
        return { kind: "symlink", target: fromBytes(await readlink(this.abs(p), { encoding: "buffer" })), ...meta };
      } catch (err) {
        return errCode(err) === "ENOENT" ? undefined : { kind: "problem", error: problemText(err) };
      }
    }
    // Never copied: tsync replicates files, directories and symlinks, and reading a FIFO would hang.
    return { kind: "problem", error: `is ${specialKind(st)}, not a file, directory or symlink` };
  }

  /** Record `p` unless excluded; queue it for reading when it is a directory. */
  async visit(p: RelPath): Promise<void> {
    let st: Stats;
    try {
      st = await lstat(this.abs(p));
    } catch (err) {
      if (errCode(err) !== "ENOENT" && !this.opts.exclude(p, false)) this.out.set(p, { kind: "problem", error: problemText(err) });
      return;
    }
    if (this.opts.exclude(p, st.isDirectory())) return;
    const e = await this.entry(p, st);
    if (e === undefined) return;
    this.out.set(p, e);
    if (e.kind === "dir") this.queue.push(p);
  }

  private async readDir(dir: RelPath): Promise<void> {
    this.opts.signal?.throwIfAborted();
    let names: Buffer[];
    try {
      names = await readdir(this.abs(dir), { encoding: "buffer" });
    } catch (err) {
      const code = errCode(err);
      if (code === "ENOENT" || code === "ENOTDIR") this.out.delete(dir);
      else this.out.set(dir, { kind: "problem", error: problemText(err) });
      return;
    }
    const children: RelPath[] = [];
    for (const name of names) {
      const p = joinRel(dir, fromBytes(name));
      if (p !== STAGING_DIR) children.push(p);
    }
    for (let i = 0; i < children.length; i += STAT_CHUNK)
      await Promise.all(children.slice(i, i + STAT_CHUNK).map((p) => this.visit(p)));
  }

  /** Record the ancestors of `p` as entries alone (their subtrees are not read). */
  async ancestors(p: RelPath): Promise<void> {
    for (const a of ancestorsOf(p)) {
      if (this.out.has(a)) continue;
      try {
        const e = await this.entry(a, await lstat(this.abs(a)));
        if (e !== undefined) this.out.set(a, e);
      } catch {
        // Vanished since reachable() looked: the listed path is then absent too.
      }
    }
  }

  enqueue(dir: RelPath): void {
    this.queue.push(dir);
  }

  /** Read every queued directory (and those found below), a few at a time. */
  drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      let active = 0;
      let failed = false;
      const next = () => {
        if (failed) return;
        while (active < DIR_CONCURRENCY && this.queue.length > 0) {
          const dir = this.queue.pop()!;
          active++;
          this.readDir(dir).then(
            () => {
              active--;
              next();
            },
            (err) => {
              failed = true;
              reject(err);
            },
          );
        }
        if (active === 0 && this.queue.length === 0) resolve();
      };
      next();
    });
  }

  /** Whether `p` is reachable from the root through real directories (not symlinks) and not excluded. */
  async reachable(p: RelPath): Promise<boolean> {
    if (p === STAGING_DIR || isInside(p, STAGING_DIR as RelPath)) return false;
    for (const a of ancestorsOf(p)) {
      if (this.opts.exclude(a, true)) return false;
      try {
        if (!(await lstat(this.abs(a))).isDirectory()) return false;
      } catch {
        return false;
      }
    }
    return true;
  }
}

/** The listed paths without those already inside another listed directory (or the root). */
function outermost(only: readonly RelPath[]): RelPath[] {
  const sorted = [...new Set(only)].sort(compareRel);
  if (sorted.includes(ROOT)) return [ROOT];
  return sorted.filter((p) => !ancestorsOf(p).some((a) => sorted.includes(a)));
}

/**
 * Snapshot of the tree at `root`. The root path itself may be a symlink (a web root often is); nothing
 * below it is followed. A missing root gives an empty snapshot; a root that is not a directory throws. With `opts.only`, just the listed
 * paths and the subtrees of those that are directories, plus the root and every ancestor as entries
 * alone (a partial plan creates missing parents and restores their times); a listed path that does
 * not exist, or is reached only through a symlink or an excluded directory, is absent.
 */
export async function scanLocal(root: string, opts: ScanOptions): Promise<Snapshot> {
  opts.signal?.throwIfAborted();
  const walker = new Walker(root, opts);
  let st: Stats;
  try {
    st = await stat(Buffer.from(root, "utf8"));
  } catch (err) {
    const code = errCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") return walker.out;
    walker.out.set(ROOT, { kind: "problem", error: problemText(err) });
    return walker.out;
  }
  // A root that is a file (a typo, a mount gone wrong) cannot be synced into or from; planning it as
  // an entry made both roots "differ in kind", which the planner leaves alone: "in sync" forever.
  // The same words as an SSH listing of such a root.
  if (!st.isDirectory()) throw new TransportError("local", "scan", `cannot list ${root}: cannot enter the root directory (it is ${st.isFile() ? "a regular file" : specialKind(st)})`);
  const only = opts.only === undefined ? [ROOT] : outermost(opts.only);
  walker.out.set(ROOT, (await walker.entry(ROOT, st))!);
  for (const p of only) {
    if (p === ROOT) walker.enqueue(ROOT);
    else if (await walker.reachable(p)) {
      await walker.visit(p);
      // An absent path (deleted on this side) still needs its parents; an excluded one does not.
      if (walker.out.has(p) || !opts.exclude(p, false)) await walker.ancestors(p);
    }
  }
  await walker.drain();
  if (opts.hash === "all") await attachHashes(root, walker.out, opts.signal);
  return walker.out;
}

/** Hash every file of `snap` and set each hash whose file still had the size and mtime scanned. */
async function attachHashes(root: string, snap: Map<RelPath, Entry>, signal: AbortSignal | undefined): Promise<void> {
  const files: RelPath[] = [];
  for (const [p, e] of snap) if (e.kind === "file") files.push(p);
  for (const [p, hash, size, mtimeMs] of await hashRecords(root, files, signal)) {
    const e = snap.get(p as RelPath);
    if (e?.kind === "file" && e.size === size && e.mtimeMs === mtimeMs) snap.set(p as RelPath, { ...e, hash });
  }
}

/** BLAKE2b-512 hex of each file in `paths`; a file that cannot be read or changed while read is left out. */
export async function hashLocal(root: string, paths: readonly RelPath[], signal?: AbortSignal): Promise<Map<RelPath, string>> {
  const out = new Map<RelPath, string>();
  for (const [p, hash] of await hashRecords(root, paths, signal)) out.set(p as RelPath, hash);
  return out;
}
