// The local scanner: walk a tree on this machine into a Snapshot. Names are bytes (readdir with
// latin1 encoding), symlinks are never followed (lstat), excludes apply during the walk, and a path
// that cannot be read becomes a `problem` entry while the walk goes on. Hashing runs in worker threads.
import { lstatSync, readdirSync, readlinkSync, statSync, type Stats } from "node:fs";
import { absBytes, ancestorsOf, compareRel, fromBytes, isInside, joinRel, ROOT, type RelPath } from "../model/paths.js";
import { STAGING_DIR, type Entry, type Snapshot } from "../model/snapshot.js";
import { TransportError } from "../model/errors.js";
import type { ScanOptions } from "./options.js";
import { hashRecords } from "./hash-pool.js";
import { hashTreeFiles } from "./hash-cache.js";
import { tooManyEntries } from "./limits.js";

/**
 * Entries walked between two yields to the event loop. The walk uses synchronous calls: per-entry
 * fs.promises.lstat (a promise, a threadpool hop and a Buffer path per call) made a no-change plan of
 * 300,000 files against a local target cost 54 s of CPU; with lstatSync it was 24 s. The daemon still
 * has to answer its SSH sessions and inotify events meanwhile: a slice of 2,000 lstats is a few ms.
 */
const YIELD_EVERY = 2000;

const ASCII = /^[\x00-\x7f]*$/;

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
  private readonly rootSlash: string;
  private sinceYield = 0;

  constructor(
    private readonly root: string,
    private readonly opts: ScanOptions,
  ) {
    this.rootSlash = root.endsWith("/") ? root : root + "/";
  }

  /** The absolute path for a syscall: a string when the name is ASCII (the same bytes, no Buffer.concat), else bytes. */
  private abs(p: RelPath): string | Buffer {
    return p !== "" && ASCII.test(p) ? this.rootSlash + p : absBytes(this.root, p);
  }

  /** The entry for `p` from its lstat; undefined when it vanished meanwhile. */
  entry(p: RelPath, st: Stats): Entry | undefined {
    const mode = st.mode & 0o7777;
    const mtimeMs = st.mtimeMs;
    const owners = this.opts.owners;
    if (st.isFile()) {
      const file = owners ? { kind: "file" as const, size: st.size, mode, mtimeMs, uid: st.uid, gid: st.gid } : { kind: "file" as const, size: st.size, mode, mtimeMs };
      return this.opts.links && st.nlink > 1 ? { ...file, link: `${st.dev}:${st.ino}` } : file;
    }
    if (st.isDirectory()) return owners ? { kind: "dir", mode, mtimeMs, uid: st.uid, gid: st.gid } : { kind: "dir", mode, mtimeMs };
    if (st.isSymbolicLink()) {
      try {
        const target = fromBytes(readlinkSync(this.abs(p), { encoding: "buffer" }));
        return owners ? { kind: "symlink", target, mode, mtimeMs, uid: st.uid, gid: st.gid } : { kind: "symlink", target, mode, mtimeMs };
      } catch (err) {
        return errCode(err) === "ENOENT" ? undefined : { kind: "problem", error: problemText(err) };
      }
    }
    // Never copied: tsync replicates files, directories and symlinks, and reading a FIFO would hang.
    return { kind: "problem", error: `is ${specialKind(st)}, not a file, directory or symlink` };
  }

  /** Record `p` unless excluded; queue it for reading when it is a directory. */
  visit(p: RelPath): void {
    let st: Stats | undefined;
    try {
      st = lstatSync(this.abs(p), { throwIfNoEntry: false });
    } catch (err) {
      if (!this.opts.exclude(p, false)) this.out.set(p, { kind: "problem", error: problemText(err) });
      return;
    }
    if (st === undefined || this.opts.exclude(p, st.isDirectory())) return;
    const e = this.entry(p, st);
    if (e === undefined) return;
    this.out.set(p, e);
    if (e.kind === "dir") this.queue.push(p);
  }

  private readDir(dir: RelPath): void {
    let names: string[];
    try {
      // latin1: each name byte becomes one code unit, i.e. the RelPath form, with no Buffer per name.
      names = readdirSync(this.abs(dir), { encoding: "latin1" });
    } catch (err) {
      const code = errCode(err);
      if (code === "ENOENT" || code === "ENOTDIR") this.out.delete(dir);
      else this.out.set(dir, { kind: "problem", error: problemText(err) });
      return;
    }
    const max = this.opts.maxEntries;
    // Checked before the names are stat'ed, so that one directory of millions stops here too.
    if (max !== undefined && this.out.size + names.length > max) throw new Error(tooManyEntries(this.out.size + names.length, max));
    for (const name of names) {
      const p = joinRel(dir, name);
      if (p !== STAGING_DIR) this.visit(p);
    }
    this.sinceYield += names.length + 1;
  }

  /** Record the ancestors of `p` as entries alone (their subtrees are not read). */
  ancestors(p: RelPath): void {
    for (const a of ancestorsOf(p)) {
      if (this.out.has(a)) continue;
      let st: Stats | undefined;
      try {
        st = lstatSync(this.abs(a), { throwIfNoEntry: false });
      } catch {
        // Unreadable since reachable() looked: like a vanished one, the listed path is then absent too.
      }
      const e = st === undefined ? undefined : this.entry(a, st);
      if (e !== undefined) this.out.set(a, e);
    }
  }

  enqueue(dir: RelPath): void {
    this.queue.push(dir);
  }

  /** Read every queued directory (and those found below), yielding to the event loop between slices. */
  async drain(): Promise<void> {
    while (this.queue.length > 0) {
      this.opts.signal?.throwIfAborted();
      this.readDir(this.queue.pop()!);
      if (this.sinceYield >= YIELD_EVERY) {
        this.sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Whether `p` is reachable from the root through real directories (not symlinks) and not excluded. */
  reachable(p: RelPath): boolean {
    if (p === STAGING_DIR || isInside(p, STAGING_DIR as RelPath)) return false;
    for (const a of ancestorsOf(p)) {
      if (this.opts.exclude(a, true)) return false;
      try {
        if (lstatSync(this.abs(a), { throwIfNoEntry: false })?.isDirectory() !== true) return false;
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
    st = statSync(Buffer.from(root, "utf8"));
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
  walker.out.set(ROOT, walker.entry(ROOT, st)!);
  for (const p of only) {
    if (p === ROOT) walker.enqueue(ROOT);
    else if (walker.reachable(p)) {
      walker.visit(p);
      // An absent path (deleted on this side) still needs its parents; an excluded one does not.
      if (walker.out.has(p) || !opts.exclude(p, false)) walker.ancestors(p);
    }
  }
  await walker.drain();
  if (opts.hash === "all") await attachHashes(root, walker.out, opts);
  return walker.out;
}

/** Hash every file of `snap` and set each hash whose file still had the size and mtime scanned. */
async function attachHashes(root: string, snap: Map<RelPath, Entry>, opts: ScanOptions): Promise<void> {
  const files: RelPath[] = [];
  for (const [p, e] of snap) if (e.kind === "file") files.push(p);
  const hashOpts = { whole: opts.only === undefined || opts.only.includes(ROOT), ...(opts.hashCache ? { cache: opts.hashCache } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  for (const [p, hash, size, mtimeMs] of await hashTreeFiles(root, files, hashOpts)) {
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
