// `tsync watch`: watchers first, then the initial full apply, then live batches, audits and retries
// until the AbortSignal fires. All effects go through injected parts (engine, clock, log, watcher and
// scheduler factories) so the whole daemon runs in unit tests with fakes.
import { Cron } from "croner";
import { formatDiagnostic, type Diagnostic } from "../model/diagnostics.js";
import type { Manifest, Sync } from "../model/manifest.js";
import type { Matcher } from "../model/paths.js";
import { visible } from "../model/text.js";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { realClock, type Clock } from "./clock.js";
import type { SyncEngine } from "./engine.js";
import { SourceWatcher, type SourceWatcherHooks } from "./source-watcher.js";
import { STATUS_FORMAT_VERSION, StatusWriter, type StatusDoc, type WatcherMode } from "./status.js";
import { SyncRunner, type AuditScheduler, type Log } from "./sync-runner.js";

export type { AuditScheduler, Log, LogLevel } from "./sync-runner.js";

/** What the daemon needs from a source watcher (SourceWatcher, or a fake in tests). */
export interface WatchSource {
  start(): Promise<void>;
  listen(hooks: SourceWatcherHooks): void;
  close(): Promise<void>;
  readonly mode: WatcherMode;
  readonly reason: string;
}

export interface DaemonOptions {
  readonly manifest: Manifest;
  readonly engine: SyncEngine;
  /** Aborting it (SIGTERM/SIGINT) stops the daemon cleanly; `done` resolves afterwards. */
  readonly signal: AbortSignal;
  readonly log: Log;
  /** The exclude matcher of a sync (the same one the scanner uses). */
  readonly matcherFor: (sync: Sync) => Matcher;
  readonly clock?: Clock;
  /** Default: the manifest's settings.statusFile; null: write none. */
  readonly statusFile?: string | null;
  /** SIGHUP: load the manifest again. Diagnostics with an error keep the running manifest. */
  readonly reload?: () => Manifest | readonly Diagnostic[] | Promise<Manifest | readonly Diagnostic[]>;
  /** Polling fallback period. Default 60 s. */
  readonly rescanIntervalMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
  readonly schedule?: AuditScheduler;
  readonly watchSource?: (sync: Sync, exclude: Matcher, warn: (message: string) => void) => WatchSource;
  readonly writeStatus?: (file: string, data: string) => Promise<void>;
  readonly pid?: number;
}

export interface Daemon {
  /** Resolves when watchers are up and the initial apply of every sync has finished. */
  readonly ready: Promise<void>;
  /** Resolves after shutdown: in-flight work finished, watchers closed, final status written. */
  readonly done: Promise<void>;
  /** Reload the manifest (SIGHUP). Resolves true when the new one is running. */
  reload(): Promise<boolean>;
  status(): StatusDoc;
}

export const cronScheduler: AuditScheduler = (expr, run, onError) => {
  const job = new Cron(expr, { protect: true, catch: (err: unknown) => onError(err) }, async () => {
    await run();
  });
  return { stop: () => job.stop() };
};

/** `2026-01-01T00:00:00.000Z info  sync site: …`: the log line format for logFile/stderr. */
export function createLineLogger(write: (line: string) => void, opts: { clock?: Clock; verbose?: boolean; quiet?: boolean } = {}): Log {
  const clock = opts.clock ?? realClock;
  return (level, message) => {
    if (level === "debug" && !opts.verbose) return;
    if (level === "info" && opts.quiet) return;
    // One line each, and nothing from a target (remote stderr, names) may drive a terminal tailing the log.
    write(`${new Date(clock.now()).toISOString()} ${level.padEnd(5)} ${visible(message.replace(/[\r\n]+/g, " "))}`);
  };
}

function isDiagnostics(x: Manifest | readonly Diagnostic[]): x is readonly Diagnostic[] {
  return Array.isArray(x);
}

export function runDaemon(opts: DaemonOptions): Daemon {
  const clock = opts.clock ?? realClock;
  const log = opts.log;
  const startedAt = new Date(clock.now()).toISOString();
  let manifest = opts.manifest;
  let state: StatusDoc["state"] = "starting";
  let runners: SyncRunner[] = [];
  let watchers: WatchSource[] = [];
  let stopping = false;
  let reloading: Promise<boolean> = Promise.resolve(true);

  const snapshot = (): StatusDoc => ({
    formatVersion: STATUS_FORMAT_VERSION,
    pid: opts.pid ?? process.pid,
    startedAt,
    updatedAt: new Date(clock.now()).toISOString(),
    state,
    manifestFile: manifest.file,
    manifestDigest: manifest.digest,
    syncs: runners.map((r) => r.status()),
  });
  const statusFile = opts.statusFile === undefined ? manifest.settings.statusFile : opts.statusFile ?? undefined;
  const writer = statusFile
    ? new StatusWriter({ file: statusFile, clock, snapshot, onError: (m) => log("error", m), ...(opts.writeStatus ? { write: opts.writeStatus } : {}) })
    : undefined;
  const notify = (stateChange: boolean) => writer?.notify(stateChange);

  const deps = {
    engine: opts.engine,
    clock,
    log,
    notify,
    schedule: opts.schedule ?? cronScheduler,
    backoff: opts.backoff ?? DEFAULT_BACKOFF,
    random: opts.random ?? Math.random,
    signal: opts.signal,
  };
  const makeWatcher =
    opts.watchSource ??
    ((sync: Sync, exclude: Matcher, warn: (m: string) => void) =>
      new SourceWatcher({ root: sync.source.path, exclude, clock, rescanIntervalMs: opts.rescanIntervalMs ?? 60_000, warn }));

  async function start(m: Manifest): Promise<void> {
    const rs = m.syncs.map((s) => new SyncRunner(s, deps));
    const ws: { runner: SyncRunner; watcher: WatchSource }[] = [];
    for (const r of rs) {
      if (r.sync.source.host !== undefined) {
        log("info", `sync ${r.sync.name}: source is on ${r.sync.source.host} (remote): no live events, periodic audits only`);
        continue;
      }
      const warn = (msg: string) => log("warn", `sync ${r.sync.name}: ${msg}`);
      ws.push({ runner: r, watcher: makeWatcher(r.sync, opts.matcherFor(r.sync), warn) });
    }
    runners = rs;
    watchers = ws.map((w) => w.watcher);
    notify(true);
    // Watch before scanning (SPEC §4): whatever changes during the initial plan is queued as events.
    await Promise.all(ws.map((w) => w.watcher.start()));
    const initial = rs.map((r) => r.initial());
    for (const { runner, watcher } of ws) {
      watcher.listen({ event: (p) => runner.event(p), rescan: () => runner.rescan(), mode: (mode, reason) => runner.watcherMode(mode, reason) });
      if (watcher.mode !== "inotify") runner.watcherMode(watcher.mode, watcher.reason);
    }
    log("info", `watching ${ws.length} of ${rs.length} syncs; initial apply of ${rs.length} syncs`);
    await Promise.all(initial);
    if (stopping) return;
    for (const r of rs) r.startAudits();
  }

  async function stopAll(): Promise<void> {
    const ws = watchers;
    // Close watchers first: no new events while in-flight work finishes.
    await Promise.all(ws.map((w) => w.close().catch((err: unknown) => log("warn", `closing a watcher: ${(err as Error).message}`))));
    await Promise.all(runners.map((r) => r.stop()));
  }

  const ready = (async () => {
    await start(manifest);
    if (!stopping) {
      state = "running";
      notify(true);
      log("info", `initial apply done; live sync running`);
    }
  })();
  ready.catch(() => {});

  const aborted = new Promise<void>((resolve) => {
    if (opts.signal.aborted) resolve();
    else opts.signal.addEventListener("abort", () => resolve(), { once: true });
  });

  const done = (async () => {
    await aborted;
    stopping = true;
    state = "stopping";
    log("info", "stopping: finishing in-flight work");
    notify(true);
    await reloading.catch(() => false);
    await stopAll();
    await ready.catch((err: unknown) => log("error", `startup failed: ${(err as Error).message}`));
    state = "stopped";
    writer?.close();
    await writer?.flush();
    log("info", "stopped");
  })();

  async function doReload(): Promise<boolean> {
    if (stopping || !opts.reload) return false;
    await ready.catch(() => {});
    let next: Manifest | readonly Diagnostic[];
    try {
      next = await opts.reload();
    } catch (err) {
      log("error", `reload: ${(err as Error).message}; keeping the running manifest`);
      return false;
    }
    if (isDiagnostics(next)) {
      for (const d of next) log(d.severity === "error" ? "error" : "warn", `reload: ${formatDiagnostic(d)}`);
      log("error", `reload: the new manifest is invalid; keeping the running one (${manifest.file})`);
      return false;
    }
    if (stopping) return false;
    log("info", `reload: applying ${next.file} (digest ${next.digest.slice(0, 12)})`);
    await stopAll();
    manifest = next;
    await start(next);
    notify(true);
    return true;
  }

  return {
    ready,
    done,
    status: snapshot,
    reload() {
      reloading = reloading.catch(() => false).then(doReload);
      return reloading;
    },
  };
}
