// The local scanner: walk a tree on this machine into a Snapshot. Names are bytes (readdir with
// latin1 encoding), symlinks are never followed (lstat), excludes apply during the walk, and a path
// that cannot be read becomes a `problem` entry while the walk goes on. Hashing runs in worker threads.
import { lstatSync, readdirSync, readlinkSync, statSync, type Stats } from "node:fs";
import { absBytes, ancestorsOf, compareRel, fromBytes, isInside, joinRel, ROOT, type RelPath } from "../model/paths.js";
import { STAGING_DIR, type Snapshot } from "../model/snapshot.js";
import { DIR, FILE, Listing, ListingBuilder, PROBLEM, SYMLINK, type Rec } from "../model/listing.js";
import { TransportError } from "../model/errors.js";
import type { ScanOptions } from "./options.js";
import { hashRecords } from "./hash-pool.js";
import { hashCacheMisses, hashTreeFiles } from "./hash-cache.js";
import { loadHashCache } from "./hash-cache-file.js";
import type { HashRecord } from "./hash-worker.js";
import { tooManyEntries } from "./limits.js";
import { findLocal } from "./local-find.js";

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

const problem = (error: string): Rec => ({ kind: PROBLEM, mode: 0, mtimeMs: 0, size: 0, text: error });

class Walker {
  readonly out: ListingBuilder;
  /** Directories to read, with their record's index (so a failed read can replace or drop it). */
  private readonly queue: [RelPath, number][] = [];
  /** Ancestors recorded as entries alone (partial scans only). */
  private readonly above = new Set<RelPath>();
  private readonly rootSlash: string;
  private sinceYield = 0;

  constructor(
    private readonly root: string,
    private readonly opts: ScanOptions,
  ) {
    this.rootSlash = root.endsWith("/") ? root : root + "/";
    // visit() asks opts.exclude about every path before adding it, and reads no excluded directory.
    this.out = new ListingBuilder(opts.exclude.key);
  }

  /** The absolute path for a syscall: a string when the name is ASCII (the same bytes, no Buffer.concat), else bytes. */
  private abs(p: RelPath): string | Buffer {
    return p !== "" && ASCII.test(p) ? this.rootSlash + p : absBytes(this.root, p);
  }

  /** The record for `p` from its lstat; undefined when it vanished meanwhile. */
  entry(p: RelPath, st: Stats): Rec | undefined {
    const mode = st.mode & 0o7777;
    const mtimeMs = st.mtimeMs;
    const own = this.opts.owners ? { uid: st.uid, gid: st.gid } : {};
    if (st.isFile()) return { kind: FILE, size: st.size, mode, mtimeMs, ...own, ...(this.opts.links && st.nlink > 1 ? { link: `${st.dev}:${st.ino}` } : {}) };
    if (st.isDirectory()) return { kind: DIR, size: 0, mode, mtimeMs, ...own };
    if (st.isSymbolicLink()) {
      try {
        const text = fromBytes(readlinkSync(this.abs(p), { encoding: "buffer" }));
        return { kind: SYMLINK, size: 0, text, mode, mtimeMs, ...own };
      } catch (err) {
        return errCode(err) === "ENOENT" ? undefined : problem(problemText(err));
      }
    }
    // Never copied: tsync replicates files, directories and symlinks, and reading a FIFO would hang.
    return problem(`is ${specialKind(st)}, not a file, directory or symlink`);
  }

  /** Record `p` unless excluded; queue it for reading when it is a directory. */
  visit(p: RelPath): boolean {
    let st: Stats | undefined;
    try {
      st = lstatSync(this.abs(p), { throwIfNoEntry: false });
    } catch (err) {
      if (this.opts.exclude(p, false)) return false;
      this.out.add(p, problem(problemText(err)));
      return true;
    }
    if (st === undefined || this.opts.exclude(p, st.isDirectory())) return false;
    const e = this.entry(p, st);
    if (e === undefined) return false;
    const i = this.out.add(p, e);
    if (e.kind === DIR) this.queue.push([p, i]);
    return true;
  }

  private readDir(dir: RelPath, index: number): void {
    let names: string[];
    try {
      // latin1: each name byte becomes one code unit, i.e. the RelPath form, with no Buffer per name.
      names = readdirSync(this.abs(dir), { encoding: "latin1" });
    } catch (err) {
      const code = errCode(err);
      if (code === "ENOENT" || code === "ENOTDIR") this.out.drop(index);
      else this.out.setProblem(index, problemText(err));
      return;
    }
    const max = this.opts.maxEntries;
    // Checked before the names are stat'ed, so that one directory of millions stops here too.
    if (max !== undefined && this.out.count + names.length > max) throw new Error(tooManyEntries(this.out.count + names.length, max));
    // Sorted (by bytes: latin1 code units), so the listing comes out in tree order without comparing paths.
    names.sort();
    this.out.enter(dir, index);
    for (const name of names) {
      const p = joinRel(dir, name);
      if (p !== STAGING_DIR) this.visit(p);
    }
    this.sinceYield += names.length + 1;
  }

  /** Record the ancestors of `p` as entries alone (their subtrees are not read). */
  ancestors(p: RelPath): void {
    for (const a of ancestorsOf(p)) {
      if (this.above.has(a)) continue;
      let st: Stats | undefined;
      try {
        st = lstatSync(this.abs(a), { throwIfNoEntry: false });
      } catch {
        // Unreadable since reachable() looked: like a vanished one, the listed path is then absent too.
      }
      const e = st === undefined ? undefined : this.entry(a, st);
      if (e === undefined) continue;
      this.above.add(a);
      this.out.add(a, e);
    }
  }

  enqueue(dir: RelPath, index: number): void {
    this.queue.push([dir, index]);
  }

  /** Read every queued directory (and those found below), yielding to the event loop between slices. */
  async drain(): Promise<void> {
    while (this.queue.length > 0) {
      this.opts.signal?.throwIfAborted();
      const [dir, index] = this.queue.pop()!;
      this.readDir(dir, index);
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

/**
 * The walker's words for a path find listed as a problem (an unlistable directory, a special file):
 * lstat's or readdir's error, or what kind of file it is; undefined when it reads fine by now.
 */
function describeProblem(root: string, p: RelPath): string | undefined {
  const abs = absBytes(root, p);
  try {
    const st = lstatSync(abs);
    if (st.isDirectory()) readdirSync(abs);
    return st.isFile() || st.isDirectory() || st.isSymbolicLink() ? undefined : `is ${specialKind(st)}, not a file, directory or symlink`;
  } catch (err) {
    return problemText(err);
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
    if (code !== "ENOENT" && code !== "ENOTDIR") walker.out.add(ROOT, problem(problemText(err)));
    return walker.out.finish();
  }
  // A root that is a file (a typo, a mount gone wrong) cannot be synced into or from; planning it as
  // an entry made both roots "differ in kind", which the planner leaves alone: "in sync" forever.
  // The same words as an SSH listing of such a root.
  if (!st.isDirectory()) throw new TransportError("local", "scan", `cannot list ${root}: cannot enter the root directory (it is ${st.isFile() ? "a regular file" : specialKind(st)})`);
  const whole = opts.only === undefined || opts.only.includes(ROOT);
  if (whole) {
    // A deep scan of a source looks its files up in the hash cache as find lists them.
    const table = opts.hash === "all" && opts.hashCache ? loadHashCache(opts.hashCache, root) : undefined;
    const found = await findLocal(root, opts, (p) => describeProblem(root, p), table);
    if (found === "gone") return new ListingBuilder().finish();
    if (found !== "unenterable") {
      if (found.cached === undefined) return opts.hash === "all" ? await attachHashes(root, found.listing, opts) : found.listing;
      const records = await hashCacheMisses(root, table!, found.cached, opts.hashCache!, opts.signal);
      return withRecords(found.listing, records);
    }
  }
  const only = whole ? [ROOT] : outermost(opts.only!);
  const rootIndex = walker.out.add(ROOT, walker.entry(ROOT, st)!);
  for (const p of only) {
    if (p === ROOT) walker.enqueue(ROOT, rootIndex);
    else if (walker.reachable(p)) {
      // An absent path (deleted on this side) still needs its parents; an excluded one does not.
      if (walker.visit(p) || !opts.exclude(p, false)) walker.ancestors(p);
    }
  }
  await walker.drain();
  const listing = walker.out.finish();
  return opts.hash === "all" ? await attachHashes(root, listing, opts) : listing;
}

/** Hash every file of `snap` and set each hash whose file still had the size and mtime scanned. */
async function attachHashes(root: string, snap: Listing, opts: ScanOptions): Promise<Listing> {
  const files: RelPath[] = [];
  const at: number[] = [];
  for (let i = 0; i < snap.size; i++) {
    if (snap.kinds[i] !== FILE) continue;
    files.push(snap.pathAt(i));
    at.push(i);
  }
  const hashes = new Map<number, string>();
  const hashOpts = { whole: opts.only === undefined || opts.only.includes(ROOT), ...(opts.hashCache ? { cache: opts.hashCache } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  // Records come back as two runs in the order asked (the cache's hits, then the files read), less
  // the files that could not be hashed: a cursor that wraps around once finds each in linear time.
  let j = 0;
  for (const [p, hash, size, mtimeMs] of await hashTreeFiles(root, files, hashOpts)) {
    let k = j;
    while (k < files.length && files[k] !== p) k++;
    if (k === files.length) for (k = 0; k < j && files[k] !== p; k++);
    if (files[k] !== p) continue;
    j = k + 1;
    const i = at[k]!;
    if (snap.sizeAt(i) === size && snap.mtimes[i] === mtimeMs) hashes.set(i, hash);
  }
  return snap.withHashesAt(hashes);
}

/** The listing with the hashes of `records` set where the file still had the size and mtime listed. */
function withRecords(snap: Listing, records: readonly HashRecord[]): Listing {
  const hashes = new Map<number, string>();
  for (const [p, hash, size, mtimeMs] of records) {
    const i = snap.indexOf(p as RelPath);
    if (i >= 0 && snap.kinds[i] === FILE && snap.sizeAt(i) === size && snap.mtimes[i] === mtimeMs) hashes.set(i, hash);
  }
  return snap.withHashesAt(hashes);
}

/** BLAKE2b-512 hex of each file in `paths`; a file that cannot be read or changed while read is left out. */
export async function hashLocal(root: string, paths: readonly RelPath[], signal?: AbortSignal): Promise<Map<RelPath, string>> {
  const out = new Map<RelPath, string>();
  for (const [p, hash] of await hashRecords(root, paths, signal)) out.set(p as RelPath, hash);
  return out;
}
