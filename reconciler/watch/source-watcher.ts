// One chokidar watcher per local source root, turning its events into source-relative RelPaths.
//
// Byte names: chokidar (and fs.watch) hand us strings decoded as UTF-8, so a name that is not valid
// UTF-8 arrives with U+FFFD and cannot be mapped back to its bytes; chokidar emits no add/change for
// it at all. Such an event is widened to the nearest directory whose name is intact (raw events
// still name the watched directory), and the engine re-scans that directory by bytes. Directories
// with non-UTF-8 names are not watched inside; only the audits (and polling rescans) cover them.
//
// Watch exhaustion (ENOSPC), descriptor exhaustion (EMFILE) or any other watcher failure switch the
// source to polling: the watcher is closed (its inotify watches are given back) and the daemon gets
// a `rescan` every `rescanIntervalMs`. One warning, naming the sysctl; never a crash.
import { watch as chokidarWatch, type FSWatcher, type ChokidarOptions } from "chokidar";
import { lstatSync, type Stats } from "node:fs";
import { join } from "node:path";
import { STAGING_DIR } from "../model/snapshot.js";
import { ROOT, ancestorsOf, fromBytes, joinRel, parentOf, type RelPath } from "../model/paths.js";
import type { Matcher } from "../model/paths.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { WatcherMode } from "./status.js";

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

/** Directory or not, from an lstat; undefined when the path is already gone. */
function kindOf(abs: string): boolean | undefined {
  try {
    return lstatSync(abs).isDirectory();
  } catch {
    return undefined;
  }
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
  #hooks: SourceWatcherHooks | undefined;
  #queue: RelPath[] = [];
  #rescanTimer: TimerHandle | undefined;
  #closed = false;
  #ready: Promise<void> | undefined;
  #permissionWarnings = 0;
  #resolveReady: (() => void) | undefined;

  constructor(private readonly opts: SourceWatcherOptions) {}

  get mode(): WatcherMode {
    return this.#mode;
  }
  get reason(): string {
    return this.#reason;
  }

  /** Starts watching; resolves when the watch is in place (or polling took over). Call before the initial scan. */
  start(): Promise<void> {
    if (this.#ready) return this.#ready;
    this.#ready = new Promise<void>((resolve) => (this.#resolveReady = resolve));
    const { root, exclude } = this.opts;
    const options: ChokidarOptions = {
      ignoreInitial: true, // the daemon's initial full plan covers what already exists
      followSymlinks: false, // links are replicated as links, never followed
      atomic: false, // atomic mode hides *.swp and *~ files, which are ordinary files to a sync
      persistent: true,
      ignored: (abs: string, stats?: Stats) => {
        const p = toRelPath(root, abs);
        return p !== undefined && isExcluded(exclude, p, stats ? stats.isDirectory() : undefined);
      },
    };
    try {
      const fsw = (this.opts.watchFn ?? chokidarWatch)(root, options);
      this.#fsw = fsw;
      // Attached before anything else: without an error listener chokidar's ENOSPC is an uncaught crash.
      fsw.on("error", (err) => this.#fail(err));
      fsw.on("all", (event, abs) => this.#onEvent(event, abs));
      fsw.on("raw", (ev, name, details) => this.#onRaw(ev, name, details));
      fsw.on("ready", () => this.#resolveReady?.());
    } catch (err) {
      this.#fail(err);
    }
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

  #onEvent(event: string, abs: string): void {
    const p = toRelPath(this.opts.root, abs);
    if (p === undefined) return this.#emit(nearestCleanDir(this.opts.root, abs));
    const isDir = event === "addDir" || event === "unlinkDir";
    if (isExcluded(this.opts.exclude, p, isDir)) return;
    this.#emit(p);
    // A removal also touches its directory (entry list, mtime); renames arrive as unlink + add.
    if ((event === "unlink" || event === "unlinkDir") && p !== ROOT) this.#emit(parentOf(p));
  }

  // Raw backend events fill two gaps: chokidar reports no add/change for names that are not UTF-8,
  // and drops a "change" whose size/mtime/inode did not move (chmod, chown): a sync must see those.
  #onRaw(rawEvent: unknown, name: unknown, details: unknown): void {
    const dir = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
    if (typeof name !== "string" || typeof dir !== "string") return;
    const lossy = name.includes("\uFFFD");
    // A directory's chmod/chown arrives as "rename" (Node maps IN_ATTRIB|IN_ISDIR to it) and chokidar
    // emits nothing for it, so both kinds are passed on; the duplicates of chokidar's own add/unlink
    // events are harmless (the batcher dedupes by path, the planner re-scans what is named).
    if (!lossy && rawEvent !== "change" && rawEvent !== "rename") return;
    const { root, exclude } = this.opts;
    const dirRel = toRelPath(root, dir);
    if (lossy || dirRel === undefined) {
      const p = dirRel ?? nearestCleanDir(root, dir);
      if (!isExcluded(exclude, p, true)) this.#emit(p);
      return;
    }
    const p = joinRel(dirRel, fromBytes(Buffer.from(name, "utf8")));
    if (!isExcluded(exclude, p, kindOf(join(dir, name)))) this.#emit(p);
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
    this.opts.clock.clearTimeout(this.#rescanTimer);
    this.#resolveReady?.();
    const fsw = this.#fsw;
    this.#fsw = undefined;
    await fsw?.close();
  }
}
