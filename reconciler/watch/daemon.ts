// `tsync watch`: watchers first, then the initial full apply, then live batches, audits and retries
// until the AbortSignal fires. All effects go through injected parts (engine, clock, log, watcher and
// scheduler factories) so the whole daemon runs in unit tests with fakes.
import { Cron } from "croner";
import { formatDiagnostic, type Diagnostic } from "../model/diagnostics.js";
import { formatLocation, type Location, type Manifest, type Sync } from "../model/manifest.js";
import type { Matcher } from "../model/paths.js";
import { visible } from "../model/text.js";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { realClock, type Clock } from "./clock.js";
import type { SyncEngine } from "./engine.js";
import { SourceWatcher, type SourceWatcherHooks } from "./source-watcher.js";
import { STATUS_FORMAT_VERSION, StatusWriter, type StatusDoc, type WatcherMode } from "./status.js";
import { SyncRunner, currentEpoch, type AuditScheduler, type Log, type TargetSelector } from "./sync-runner.js";
import { matchesPause, type PauseStore } from "./pauses.js";
import { reclaimMemory } from "./reclaim.js";

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
  /** Where `tsync pause` is remembered across restarts; absent: only in memory. */
  readonly pauses?: PauseStore;
  /** After each full plan: default a full garbage collection (reclaim.ts). */
  readonly reclaim?: () => void;
}

export interface WaitRequest {
  /** Only these syncs / only targets on these hosts ("local": local targets); absent or empty: all. */
  readonly syncs?: readonly string[];
  readonly targets?: readonly string[];
  readonly timeoutMs: number;
}

export interface WaitAnswer {
  readonly ok: boolean;
  /** Targets waited for. */
  readonly targets: number;
  /** Not caught up at the timeout, each with why. */
  readonly behind: readonly { readonly sync: string; readonly target: string; readonly why: string }[];
  /** Paused targets: not waited for. */
  readonly paused: readonly { readonly sync: string; readonly target: string; readonly since: string }[];
  /** The request itself was wrong (an unknown sync, a host with no target). */
  readonly error?: string;
}

export interface PauseAnswer {
  readonly ok: boolean;
  /** The targets it now applies to. */
  readonly targets: readonly string[];
  readonly error?: string;
}

export interface Daemon {
  /** Resolves when watchers are up and the initial apply of every sync has finished. */
  readonly ready: Promise<void>;
  /** Resolves after shutdown: in-flight work finished, watchers closed, final status written. */
  readonly done: Promise<void>;
  /** Reload the manifest (SIGHUP). Resolves true when the new one is running. */
  reload(): Promise<boolean>;
  status(): StatusDoc;
  /**
   * Resolves once every selected target has had a full plan, started after this call, fully applied
   * (or at the timeout, with the targets still behind): what was on the source when `wait` began is
   * on them. Paused targets are not waited for.
   */
  wait(req: WaitRequest): Promise<WaitAnswer>;
  /** Stop sending to the targets `what` names (a host, HOST:/path, or a local target's path). */
  pause(what: string): Promise<PauseAnswer>;
  /** Undo pauses: `what` as given to pause (a host also resumes its HOST:/path entries); absent: all. */
  resume(what?: string): Promise<PauseAnswer>;
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
  const pauses = new Map<string, number>(Object.entries(opts.pauses?.load() ?? {}).map(([k, v]) => [k, Date.parse(v)]));
  const pausedSince = (loc: Location): number | undefined => {
    let since: number | undefined;
    for (const [what, at] of pauses) if (matchesPause(what, loc) && (since === undefined || at < since)) since = at;
    return since;
  };

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
    pausedSince,
    reclaim: opts.reclaim ?? reclaimMemory,
  };
  const makeWatcher =
    opts.watchSource ??
    ((sync: Sync, exclude: Matcher, warn: (m: string) => void) =>
      new SourceWatcher({ root: sync.source.path, exclude, clock, rescanIntervalMs: opts.rescanIntervalMs ?? 60_000, warn }));

  async function start(m: Manifest): Promise<void> {
    const prev = runners;
    const rs = m.syncs.map((s) => new SyncRunner(s, deps));
    for (const r of rs) {
      const old = prev.find((p) => p.sync.name === r.sync.name);
      if (old) r.inherit(old);
    }
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

  function selector(req: { syncs?: readonly string[]; targets?: readonly string[] }): TargetSelector {
    return (loc) => !req.targets?.length || req.targets.includes(loc.host ?? "local");
  }

  async function wait(req: WaitRequest): Promise<WaitAnswer> {
    const since = currentEpoch();
    const unknown = (req.syncs ?? []).filter((n) => !manifest.syncs.some((s) => s.name === n));
    if (unknown.length) return { ok: false, targets: 0, behind: [], paused: [], error: `no sync ${unknown.join(", ")} in ${manifest.file}` };
    const select = selector(req);
    const chosen = () => runners.filter((r) => !req.syncs?.length || req.syncs.includes(r.sync.name));
    const count = chosen().reduce((n, r) => n + r.sync.targets.filter(select).length, 0);
    if (count === 0) return { ok: false, targets: 0, behind: [], paused: [], error: `no target of the selected syncs is on ${(req.targets ?? []).join(", ")} in ${manifest.file}` };
    const deadline = clock.now() + req.timeoutMs;
    for (;;) {
      const rs = chosen();
      const paused = rs.flatMap((r) => r.pausedTargets(select).map((p) => ({ sync: r.sync.name, target: p.target, since: new Date(p.since).toISOString() })));
      const behind = rs.flatMap((r) => r.behind(since, select).map((b) => ({ sync: r.sync.name, ...b })));
      if (behind.length === 0) return { ok: true, targets: count - paused.length, behind, paused };
      if (stopping || clock.now() >= deadline) {
        const why = stopping ? "the daemon is stopping" : undefined;
        return { ok: false, targets: count - paused.length, behind: why ? behind.map((b) => ({ ...b, why })) : behind, paused };
      }
      for (const r of rs) r.catchUp(since, select);
      await new Promise<void>((res) => clock.setTimeout(res, Math.max(1, Math.min(100, deadline - clock.now()))));
    }
  }

  const targetsOf = (what: string) => manifest.syncs.flatMap((s) => s.targets.filter((t) => matchesPause(what, t)).map(formatLocation));

  async function savePauses(): Promise<void> {
    try {
      await opts.pauses?.save(Object.fromEntries([...pauses].map(([k, v]) => [k, new Date(v).toISOString()])));
    } catch (err) {
      log("error", `cannot remember the pauses: ${(err as Error).message}`);
    }
  }

  async function pause(what: string): Promise<PauseAnswer> {
    const targets = targetsOf(what);
    if (targets.length === 0) return { ok: false, targets, error: `no target is on "${what}" in ${manifest.file} (name a host, HOST:/path, or a local target's path)` };
    if (!pauses.has(what)) pauses.set(what, clock.now());
    await savePauses();
    log("info", `paused ${what}: ${targets.join(", ")} get nothing until \`tsync resume ${what}\` (events keep counting)`);
    for (const r of runners) r.paused();
    return { ok: true, targets };
  }

  async function resume(what?: string): Promise<PauseAnswer> {
    const gone = [...pauses.keys()].filter((k) => what === undefined || k === what || k.startsWith(`${what}:`));
    if (gone.length === 0) return { ok: false, targets: [], error: what === undefined ? "nothing is paused" : `"${what}" is not paused (paused: ${[...pauses.keys()].join(", ") || "nothing"})` };
    const before = new Set(manifest.syncs.flatMap((s) => s.targets.filter((t) => pausedSince(t) !== undefined).map(formatLocation)));
    for (const k of gone) pauses.delete(k);
    await savePauses();
    const back = [...before].filter((key) => !manifest.syncs.some((s) => s.targets.some((t) => formatLocation(t) === key && pausedSince(t) !== undefined)));
    log("info", `resumed ${gone.join(", ")}: catching up ${back.join(", ") || "nothing (still paused by another entry)"} with a full plan`);
    for (const r of runners) r.resumed();
    return { ok: true, targets: back };
  }

  return {
    ready,
    done,
    wait,
    pause,
    resume,
    status: snapshot,
    reload() {
      reloading = reloading.catch(() => false).then(doReload);
      return reloading;
    },
  };
}
