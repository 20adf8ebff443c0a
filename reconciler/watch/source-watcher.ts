// A source root's watch, turning its events into source-relative RelPaths. chokidar watches the root
// directory itself (depth 0, nothing below it enters chokidar's state); the directories below it
// have one fs.watch each, added by tsync's own walk (dir-tree.ts, which says why: chokidar's
// per-directory cost does not fit the memory bound at 100k directories). Nothing is kept per file.
//
// Byte names: fs.watch and chokidar hand us strings decoded as UTF-8, so a name that is not valid
// UTF-8 arrives with U+FFFD and cannot be mapped back to its bytes. Such an event is widened to the
// directory it happened in, and the engine re-scans that directory by bytes. Directories with
// non-UTF-8 names are not watched inside; only the audits (and polling rescans) cover them.
//
// Watch exhaustion (ENOSPC), descriptor exhaustion (EMFILE) or any other watcher failure switch the
// source to polling: every watch is closed (its inotify watches are given back) and the daemon gets
// a `rescan` every `rescanIntervalMs`. One warning, naming the sysctl; never a crash.
import { watch as chokidarWatch, type FSWatcher, type ChokidarOptions } from "chokidar";
import { lstatSync } from "node:fs";
import { resolve } from "node:path";
import { STAGING_DIR } from "../model/snapshot.js";
import { ROOT, ancestorsOf, fromBytes, joinRel, type RelPath } from "../model/paths.js";
import type { Matcher } from "../model/paths.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { WatcherMode } from "./status.js";
import { DirTree, type DirNode } from "./dir-tree.js";

export interface SourceWatcherHooks {
  /** A path under the source changed (file, dir or link; created, modified or removed). */
  event(path: RelPath): void;
  /** Polling mode: compare the whole tree now. */
  rescan(): void;
  /** The watcher switched mode (the reason is one line, for logs and the status file). */
  mode(mode: WatcherMode, reason: string): void;
}

export interface SourceWatcherOptions {
  /** Absolute path of the source root. */
  readonly root: string;
  readonly exclude: Matcher;
  readonly clock: Clock;
  /** Polling mode: full rescan period. */
  readonly rescanIntervalMs: number;
  readonly warn: (message: string) => void;
  /** Injected by tests (to reach the real FSWatcher and emit errors on it). */
  readonly watchFn?: (root: string, options: ChokidarOptions) => FSWatcher;
}

export const INOTIFY_SYSCTL = "fs.inotify.max_user_watches";

/** chokidar's absolute string path → RelPath, or undefined when the name did not survive UTF-8 decoding. */
export function toRelPath(root: string, abs: string): RelPath | undefined {
  const rel = abs === root ? "" : abs.startsWith(root.endsWith("/") ? root : root + "/") ? abs.slice(root.length + (root.endsWith("/") ? 0 : 1)) : undefined;
  if (rel === undefined || rel.includes("\uFFFD")) return undefined;
  return fromBytes(Buffer.from(rel, "utf8"));
}

/** The deepest ancestor directory of `abs` (or `abs` itself) whose name decoded cleanly. */
export function nearestCleanDir(root: string, abs: string): RelPath {
  const rel = abs.startsWith(root + "/") ? abs.slice(root.length + 1) : "";
  const parts = rel.split("/");
  const clean: string[] = [];
  for (const p of parts) {
    if (p.includes("\uFFFD")) break;
    clean.push(p);
  }
  return fromBytes(Buffer.from(clean.join("/"), "utf8"));
}

export function isStaging(p: RelPath): boolean {
  return p === STAGING_DIR || p.startsWith(STAGING_DIR + "/");
}

/** Excluded by the sync's rules (the path itself or any directory above it), or tsync's own staging. */
export function isExcluded(exclude: Matcher, p: RelPath, isDir: boolean | undefined): boolean {
  if (p === ROOT) return false;
  if (isStaging(p)) return true;
  for (const a of ancestorsOf(p)) if (exclude(a, true)) return true;
  // Type unknown (chokidar asks first without stats): ignore only what is excluded either way, so a
  // directory-only pattern ("cache/") never hides a file of that name.
  return isDir === undefined ? exclude(p, false) && exclude(p, true) : exclude(p, isDir);
}

/** Directory or not and its inode, from an lstat; undefined when the path is already gone. */
function statOf(abs: string): { isDir: boolean; ino: number } | undefined {
  try {
    const st = lstatSync(abs);
    return { isDir: st.isDirectory(), ino: st.ino };
  } catch {
    return undefined;
  }
}

const ASCII = /^[\x00-\x7f]*$/;
/** UTF-8 text of a clean name or path → RelPath (latin1 of its bytes). */
function textToRel(t: string): RelPath {
  return ASCII.test(t) ? (t as RelPath) : fromBytes(Buffer.from(t, "utf8"));
}

function errorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOSPC")
    return `inotify watches exhausted (ENOSPC); raise the limit with \`sysctl -w ${INOTIFY_SYSCTL}=524288\` (and persist it in /etc/sysctl.d/)`;
  if (e?.code === "EMFILE") return `too many open files (EMFILE); raise the descriptor limit (LimitNOFILE= / ulimit -n) or ${INOTIFY_SYSCTL}`;
  return `watcher error: ${e?.message ?? String(err)}${e?.code ? ` (${e.code})` : ""}; if it persists, check ${INOTIFY_SYSCTL}`;
}

export class SourceWatcher {
  #mode: WatcherMode = "inotify";
  #reason = "";
  #fsw: FSWatcher | undefined;
  readonly #tree: DirTree;
  #hooks: SourceWatcherHooks | undefined;
  #queue: RelPath[] = [];
  #rescanTimer: TimerHandle | undefined;
  #closed = false;
  #ready: Promise<void> | undefined;
  #permissionWarnings = 0;
  #resolveReady: (() => void) | undefined;

  constructor(private readonly opts: SourceWatcherOptions) {
    this.#tree = new DirTree({
      root: opts.root,
      // Only directories that are not excluded are entered, so their ancestors are not either.
      skip: (rel, isDir) => {
        const p = textToRel(rel);
        return isStaging(p) || opts.exclude(p, isDir);
      },
      event: (d, kind, name) => this.#onDir(d, kind, name),
      error: (err) => this.#fail(err),
    });
  }

  get mode(): WatcherMode {
    return this.#mode;
  }
  get reason(): string {
    return this.#reason;
  }

  /** Directories below the root with a watch of their own. */
  get watchedDirs(): number {
    return this.#tree.size;
  }

  /** Starts watching; resolves when every directory is watched (or polling took over). Call before the initial scan. */
  start(): Promise<void> {
    if (this.#ready) return this.#ready;
    const chokidarReady = new Promise<void>((resolve) => (this.#resolveReady = resolve));
    const { root } = this.opts;
    const rootAbs = resolve(root);
    const options: ChokidarOptions = {
      ignoreInitial: true, // the daemon's initial full plan covers what already exists
      followSymlinks: false, // links are replicated as links, never followed
      atomic: false, // atomic mode hides *.swp and *~ files, which are ordinary files to a sync
      persistent: true,
      // The root directory only: its entries reach us as raw events, the tree below is dir-tree.ts's.
      depth: 0,
      ignored: (abs: string) => resolve(abs) !== rootAbs,
    };
    try {
      const fsw = (this.opts.watchFn ?? chokidarWatch)(root, options);
      this.#fsw = fsw;
      // Attached before anything else: without an error listener chokidar's ENOSPC is an uncaught crash.
      fsw.on("error", (err) => this.#fail(err));
      fsw.on("all", (event, abs) => this.#onRootEvent(event, abs));
      fsw.on("raw", (ev, name, details) => this.#onRaw(ev, name, details));
      fsw.on("ready", () => this.#resolveReady?.());
    } catch (err) {
      this.#fail(err);
    }
    this.#ready = chokidarReady.then(() => this.#walk(this.#tree.root));
    return this.#ready;
  }

  /** Attach the consumer; events that arrived before it are delivered first, in order. */
  listen(hooks: SourceWatcherHooks): void {
    this.#hooks = hooks;
    const queued = this.#queue;
    this.#queue = [];
    for (const p of queued) hooks.event(p);
    if (this.#mode === "polling") hooks.mode("polling", this.#reason);
  }

  /** Events received but not yet delivered (no consumer attached yet). */
  get queued(): number {
    return this.#queue.length;
  }

  #emit(p: RelPath): void {
    if (this.#closed) return;
    if (this.#hooks) this.#hooks.event(p);
    else this.#queue.push(p);
  }

  /** Watches the directories below `d` (the initial walk, or the root again after it reappeared). */
  async #walk(d: DirNode, name?: string, report?: RelPath): Promise<void> {
    if (this.#closed || this.#mode === "polling") return;
    try {
      await this.#tree.walk(d, name, report === undefined ? undefined : (rel) => this.#emit(textToRel(rel)));
    } catch (err) {
      this.#fail(err);
    }
    // The listings held what predates each directory's watch; naming the new directory once more
    // makes the batch that follows the walk re-scan all of it.
    if (report !== undefined) this.#emit(report);
  }

  // chokidar watches only the root: what it reports itself is the root going or coming back.
  #onRootEvent(event: string, abs: string): void {
    if (resolve(abs) !== resolve(this.opts.root)) return;
    if (event === "unlinkDir") this.#tree.clear(), this.#emit(ROOT);
    else if (event === "addDir") void this.#walk(this.#tree.root, undefined, ROOT);
  }

  // The root's own entries, from chokidar's fs.watch of it: chokidar reports none of them itself
  // (they are ignored, to keep them out of its state), so they take the same path as the tree's.
  #onRaw(rawEvent: unknown, name: unknown, details: unknown): void {
    const dir = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
    if (typeof dir !== "string" || resolve(dir) !== resolve(this.opts.root)) return;
    if (typeof rawEvent !== "string" || (name !== null && typeof name !== "string")) return;
    this.#onDir(this.#tree.root, rawEvent, name);
  }

  /** fs.watch's event in directory `d`: `name` (null: `d` itself) was created, removed, renamed or changed. */
  #onDir(d: DirNode, kind: string, name: string | null): void {
    if (this.#closed || this.#mode === "polling") return;
    const tree = this.#tree;
    const dirRel = textToRel(tree.relOf(d));
    // Nameless, or a name that did not survive UTF-8 decoding: the directory, re-scanned by bytes.
    if (name === null || name.includes("\uFFFD")) return this.#emit(dirRel);
    const p = joinRel(dirRel, textToRel(name));
    const st = statOf(tree.absOf(d, name));
    if (kind === "rename" && d.parent && name === d.name) this.#selfCheck(d);
    if (isExcluded(this.opts.exclude, p, st?.isDir)) return;
    this.#emit(p);
    const kid = tree.kid(d, name);
    if (!st) {
      // Gone (removed, or renamed away: the new name is an event of its own). Its directory is not
      // named: a live plan of `p` lists p's ancestors too and restores their times, while naming the
      // directory would re-scan all of it (the whole tree for a file at the root).
      if (kid) tree.remove(kid);
    } else if (st.isDir) {
      // Same inode: a chmod/chown of a watched directory. Otherwise it is new here (created, moved
      // in, or replaced): watch it and what is below it.
      if (kid?.ino !== st.ino) void this.#walk(d, name, p);
    } else if (kid) {
      tree.remove(kid); // a directory replaced by a file or link
    }
  }

  /** inotify names a watched directory's own removal with its basename: is `d` itself gone? */
  #selfCheck(d: DirNode): void {
    const st = statOf(this.#tree.absOf(d));
    if (!st || !st.isDir || st.ino !== d.ino) this.#tree.remove(d);
  }

  #fail(err: unknown): void {
    if (this.#closed) return;
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === "EACCES" || code === "EPERM") {
      // Polling would not read it either: warn (a bounded number of times) and let the scans report
      // each unreadable path as a problem.
      const n = ++this.#permissionWarnings;
      if (n <= 10) this.opts.warn(`${this.opts.root}: cannot watch: ${(err as Error).message}; the audits will report it`);
      if (n === 10) this.opts.warn(`${this.opts.root}: further permission errors of this watcher are not shown`);
      return;
    }
    if (this.#mode === "polling") return;
    this.#mode = "polling";
    this.#reason = errorReason(err);
    this.opts.warn(`${this.opts.root}: switching to polling (full rescan every ${Math.round(this.opts.rescanIntervalMs / 1000)}s): ${this.#reason}`);
    const fsw = this.#fsw;
    this.#fsw = undefined;
    this.#tree.close();
    void fsw?.close().catch(() => {});
    // close() drops every listener; an error emitted after that must not become an uncaught crash.
    fsw?.on("error", () => {});
    this.#hooks?.mode("polling", this.#reason);
    this.#armRescan();
    this.#resolveReady?.();
  }

  #armRescan(): void {
    if (this.#closed) return;
    this.#rescanTimer = this.opts.clock.setTimeout(() => {
      this.#hooks?.rescan();
      this.#armRescan();
    }, this.opts.rescanIntervalMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#tree.close();
    this.opts.clock.clearTimeout(this.#rescanTimer);
    this.#resolveReady?.();
    const fsw = this.#fsw;
    this.#fsw = undefined;
    await fsw?.close();
  }
}
