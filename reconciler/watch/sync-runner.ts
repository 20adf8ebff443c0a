// One sync inside the daemon: its batcher, its serial job queue, its targets' health and retries,
// its audits. Everything that touches a sync's targets (initial apply, live batch, audit, retry,
// polling rescan) runs through one queue, so an audit and a batch never interleave on a target.
import { formatLocation, type Location, type Sync } from "../model/manifest.js";
import type { TargetPlan } from "../model/plan.js";
import { displayPath, type RelPath } from "../model/paths.js";
import { Backoff, type BackoffPolicy } from "./backoff.js";
import { Batcher } from "./batcher.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { EngineApplyResult, SyncEngine } from "./engine.js";
import type { AuditStatus, SyncStatus, TargetStatusState, WatcherMode } from "./status.js";

export type LogLevel = "error" | "warn" | "info" | "debug";
export type Log = (level: LogLevel, message: string) => void;
/** Starts a periodic job; the default wraps croner with `protect` so runs of one job never overlap. */
export type AuditScheduler = (expr: string, run: () => Promise<void>, onError: (err: unknown) => void) => { stop(): void };

export interface RunnerDeps {
  readonly engine: SyncEngine;
  readonly clock: Clock;
  readonly log: Log;
  /** Something in the status changed (`stateChange`: write the status file now). */
  readonly notify: (stateChange: boolean) => void;
  readonly schedule: AuditScheduler;
  readonly backoff: BackoffPolicy;
  readonly random: () => number;
  /**
   * The daemon's stop (SIGTERM/SIGINT), which the engine's scans and applies also get: work it cuts
   * short is neither a failure nor a sync; the next start's full plan catches up.
   */
  readonly signal?: AbortSignal;
}

interface TargetRt {
  readonly loc: Location;
  readonly key: string;
  phase: TargetStatusState;
  drift: number;
  problems: number;
  lastSyncAt?: number;
  lastError?: string;
  readonly backoff: Backoff;
  retryTimer?: TimerHandle;
  retryAt?: number;
}

interface Outcome {
  readonly ok: boolean;
  readonly changes: number;
  readonly applied: number;
  readonly bytes: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const oneLine = (s: string) => s.replace(/[\r\n]+/g, " ");
const errText = (e: unknown) => oneLine(e instanceof Error ? e.message : String(e));
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
/** A change's path for a log line; the root is "." (an empty name reads as a truncated line). */
const shown = (p: RelPath) => (p === "" ? "." : displayPath(p));

/** Runs jobs one at a time; after stop() the jobs still waiting are skipped. */
class SerialQueue {
  #tail: Promise<void> = Promise.resolve();
  #stopped = false;
  waiting = 0;
  constructor(private readonly onError: (err: unknown) => void) {}
  run(job: () => Promise<void>): Promise<void> {
    this.waiting++;
    this.#tail = this.#tail.then(async () => {
      this.waiting--;
      if (this.#stopped) return;
      try {
        await job();
      } catch (err) {
        this.onError(err);
      }
    });
    return this.#tail;
  }
  /** Skip what waits, let the running job finish. */
  stop(): Promise<void> {
    this.#stopped = true;
    return this.#tail;
  }
}

export class SyncRunner {
  readonly #targets: TargetRt[];
  readonly #queue: SerialQueue;
  readonly #batcher: Batcher;
  readonly #crons: { stop(): void }[] = [];
  #watcher: { mode: WatcherMode; reason?: string };
  #lastSyncAt?: number;
  #lastAudit?: AuditStatus;
  #lastError?: string;
  #rescanQueued = false;
  #stopped = false;

  constructor(readonly sync: Sync, private readonly d: RunnerDeps) {
    this.#targets = sync.targets.map((loc) => ({ loc, key: formatLocation(loc), phase: "syncing", drift: 0, problems: 0, backoff: new Backoff(d.backoff, d.random) }));
    this.#queue = new SerialQueue((err) => this.#error(`internal error: ${errText(err)}`));
    this.#batcher = new Batcher({ delayMs: sync.delayMs, clock: d.clock, onBatch: (paths) => this.#batch(paths), onError: (err) => this.#error(errText(err)) });
    this.#watcher = sync.source.host === undefined ? { mode: "inotify" } : { mode: "none", reason: `source on ${sync.source.host} is remote: audits only` };
  }

  #say(level: LogLevel, msg: string): void {
    this.d.log(level, `sync ${this.sync.name}: ${msg}`);
  }

  #error(msg: string): void {
    this.#lastError = msg;
    this.#say("error", msg);
    this.d.notify(true);
  }

  /** A source event (from the watcher, possibly queued since before the initial scan). */
  event(path: RelPath): void {
    if (this.#stopped) return;
    this.#batcher.add(path);
    this.d.notify(false);
  }

  watcherMode(mode: WatcherMode, reason: string): void {
    this.#watcher = { mode, reason };
    this.d.notify(true);
  }

  /** Polling mode: compare the whole tree; at most one rescan waits in the queue. */
  rescan(): void {
    if (this.#stopped || this.#rescanQueued) return;
    this.#rescanQueued = true;
    void this.#queue.run(async () => {
      this.#rescanQueued = false;
      await this.#full("rescan", this.#healthy());
    });
  }

  /** Initial plan+apply of every target. Resolves when done. */
  initial(): Promise<void> {
    return this.#queue.run(() => this.#full("initial", this.#targets));
  }

  startAudits(): void {
    for (const kind of ["quick", "deep"] as const) {
      const expr = this.sync.audit[kind];
      if (!expr) continue;
      try {
        this.#crons.push(this.d.schedule(expr, () => this.audit(kind), (err) => this.#error(`audit ${kind}: ${errText(err)}`)));
      } catch (err) {
        this.#error(`audit ${kind}: cannot schedule "${expr}": ${errText(err)}`);
      }
    }
    if (this.sync.source.host !== undefined && this.#crons.length === 0)
      this.#say("warn", `source on ${this.sync.source.host} is remote and no audit is scheduled: targets are only synced at startup`);
  }

  #healthy(): TargetRt[] {
    return this.#targets.filter((t) => t.phase !== "unreachable" && t.phase !== "failed");
  }

  #byLocation(loc: Location): TargetRt | undefined {
    const key = formatLocation(loc);
    return this.#targets.find((t) => t.key === key);
  }

  async #plan(opts: { only?: readonly RelPath[]; deep?: boolean }, targets: readonly TargetRt[]): Promise<TargetPlan[] | undefined> {
    try {
      const plans = await this.d.engine.plan(this.sync, { ...opts, targets: targets.map((t) => t.loc) });
      if (this.#stopping()) return undefined;
      return plans;
    } catch (err) {
      if (this.#stopping()) return undefined;
      // The engine promises not to throw; if it does, the targets get a full plan when retried.
      for (const t of targets) this.#fail(t, "failed", `plan failed: ${errText(err)}`);
      return undefined;
    }
  }

  /** Apply one target's plan and record the outcome. `full`: the plan covered the whole tree. */
  async #applyOne(tp: TargetPlan, full: boolean): Promise<Outcome> {
    const no: Outcome = { ok: false, changes: tp.changes.length, applied: 0, bytes: 0 };
    const t = this.#byLocation(tp.target);
    if (this.#stopping()) return no;
    if (!t) {
      this.#error(`engine planned an unknown target ${formatLocation(tp.target)}`);
      return no;
    }
    this.#noteProblems(t, tp, full);
    if (tp.state === "unreachable") return this.#fail(t, "unreachable", tp.error ?? "unreachable"), no;
    if (tp.refused) return this.#fail(t, "failed", `refused: ${tp.refused}`), no;
    if (tp.error) return this.#fail(t, "failed", tp.error), no;
    let res: EngineApplyResult = { ok: true, applied: 0, bytes: 0 };
    if (tp.changes.length > 0) {
      t.phase = "syncing";
      this.d.notify(true);
      try {
        res = await this.d.engine.apply(tp);
      } catch (err) {
        res = { ok: false, applied: 0, bytes: 0, error: errText(err) };
      }
      if (!res.ok && this.#stopping()) {
        this.#say("info", `${t.key}: stopped at a file boundary: ${res.applied} of ${plural(tp.changes.length, "change")} applied, the rest is left for the next start`);
        return { ...no, applied: res.applied, bytes: res.bytes };
      }
      if (!res.ok && res.sourceChanged?.length) {
        // Files still being written on the source (an upload in progress): not the target's fault.
        // Their events may already be spent, so they are queued again rather than waiting for a retry.
        const n = res.sourceChanged.length;
        this.#say("info", `${t.key}: ${plural(n, "file")} changed on the source during the transfer (${shown(res.sourceChanged[0]!)}${n > 1 ? ", …" : ""}); sending again in the next batch`);
        for (const p of res.sourceChanged) this.#batcher.add(p);
        this.#succeed(t, false);
        t.phase = "syncing";
        this.d.notify(true);
        return { ok: true, changes: tp.changes.length, applied: res.applied, bytes: res.bytes };
      }
      if (!res.ok) return this.#fail(t, "failed", res.error ?? "apply failed"), { ...no, applied: res.applied, bytes: res.bytes };
    }
    this.#succeed(t, full);
    return { ok: true, changes: tp.changes.length, applied: res.applied, bytes: res.bytes };
  }

  /**
   * A live batch plans only its paths, so it sees only their problems: it may add to the count but
   * not clear it; the next full plan (initial, retry, audit) sets it.
   */
  #noteProblems(t: TargetRt, tp: TargetPlan, full: boolean): void {
    if (tp.state === "unreachable") return;
    t.problems = full ? tp.problems.length : Math.max(t.problems, tp.problems.length);
    const first = tp.problems[0];
    if (first) this.#say("warn", `${t.key}: ${plural(tp.problems.length, "path")} tsync cannot fix; first: ${first.side} ${shown(first.path)}: ${oneLine(first.error)}`);
  }

  #phase(t: TargetRt): TargetStatusState {
    return t.drift > 0 ? "drifted" : t.problems > 0 ? "problems" : "in-sync";
  }

  #stopping(): boolean {
    return this.d.signal?.aborted ?? false;
  }

  #succeed(t: TargetRt, full: boolean): void {
    const now = this.d.clock.now();
    if (t.backoff.failures > 0) this.#say("info", `${t.key} recovered after ${plural(t.backoff.failures, "failure")}`);
    t.backoff.reset();
    this.d.clock.clearTimeout(t.retryTimer);
    t.retryTimer = undefined;
    t.retryAt = undefined;
    if (full) t.drift = 0;
    t.phase = this.#phase(t);
    t.lastSyncAt = this.#lastSyncAt = now;
    this.d.notify(true);
  }

  #fail(t: TargetRt, phase: "unreachable" | "failed", error: string): void {
    t.phase = phase;
    t.lastError = oneLine(error);
    this.#lastError = `${t.key}: ${t.lastError}`;
    this.d.clock.clearTimeout(t.retryTimer);
    const delay = t.backoff.next();
    t.retryAt = this.d.clock.now() + delay;
    this.#say("warn", `${t.key} ${phase}: ${t.lastError}; retry #${t.backoff.failures} in ${(delay / 1000).toFixed(1)}s`);
    t.retryTimer = this.d.clock.setTimeout(() => {
      t.retryTimer = undefined;
      // Recovery is a full plan: the events the target missed meanwhile are not replayed.
      if (!this.#stopped) void this.#queue.run(() => this.#full("retry", [t]));
    }, delay);
    this.d.notify(true);
  }

  /** Full plan + apply of `targets` (initial, retry, polling rescan). */
  async #full(why: string, targets: readonly TargetRt[]): Promise<void> {
    if (targets.length === 0) return;
    const t0 = this.d.clock.now();
    const plans = await this.#plan({}, targets);
    if (!plans) return;
    const outs = await Promise.all(plans.map((tp) => this.#applyOne(tp, true)));
    this.#report(why, outs, t0);
  }

  async #batch(paths: RelPath[]): Promise<void> {
    await this.#queue.run(async () => {
      const targets = this.#healthy();
      if (targets.length === 0) return this.#say("debug", `batch of ${plural(paths.length, "path")} skipped: no healthy target (their retry is a full plan)`);
      for (const p of paths) this.#say("debug", `event ${shown(p)}`);
      const t0 = this.d.clock.now();
      const plans = await this.#plan({ only: paths }, targets);
      if (!plans) return;
      const outs = await Promise.all(plans.map((tp) => this.#applyOne(tp, false)));
      this.#report(`batch of ${plural(paths.length, "path")}`, outs, t0);
    });
  }

  #report(what: string, outs: readonly Outcome[], t0: number): void {
    const ok = outs.filter((o) => o.ok).length;
    const changes = outs.reduce((n, o) => n + o.changes, 0);
    const bytes = outs.reduce((n, o) => n + o.bytes, 0);
    const ms = this.d.clock.now() - t0;
    this.#say(ok === outs.length ? "info" : "warn", `${what}: ${plural(changes, "change")}, ${bytes} bytes, ${ok}/${outs.length} targets ok in ${ms} ms`);
  }

  /** One audit run: plan (deep: hash everything); drift is healed or only reported per `onDrift`. */
  audit(kind: "quick" | "deep"): Promise<void> {
    return this.#queue.run(async () => {
      const at = this.d.clock.now();
      const targets = this.#healthy();
      const plans = targets.length ? await this.#plan({ deep: kind === "deep" }, targets) : [];
      if (!plans) {
        this.#lastAudit = { at: iso(at)!, kind, drift: 0, result: "failed", error: "plan failed" };
        return;
      }
      const drifted = plans.filter((tp) => tp.state !== "unreachable" && !tp.refused && tp.changes.length > 0);
      const drift = drifted.reduce((n, tp) => n + tp.changes.length, 0);
      for (const tp of drifted) {
        const list = tp.changes.slice(0, 5).map((c) => `${c.kind} ${shown(c.path)}`).join(", ");
        const more = tp.changes.length > 5 ? `, … ${tp.changes.length - 5} more` : "";
        this.#say("warn", `audit ${kind}: ${formatLocation(tp.target)} drifted: ${list}${more}`);
        for (const c of tp.changes) this.#say("debug", `audit ${kind}: ${formatLocation(tp.target)}: ${c.kind} ${shown(c.path)}`);
      }
      let result: AuditStatus["result"] = drift === 0 ? "in-sync" : "reported";
      if (this.sync.onDrift === "heal") {
        const outs = await Promise.all(plans.map((tp) => this.#applyOne(tp, true)));
        if (drift > 0) result = outs.every((o) => o.ok) ? "healed" : "failed";
      } else {
        for (const tp of plans) {
          const t = this.#byLocation(tp.target);
          if (!t || tp.state === "unreachable" || tp.refused) {
            if (tp.state === "unreachable" || tp.refused) await this.#applyOne(tp, false); // records the failure
            continue;
          }
          t.drift = tp.changes.length;
          this.#noteProblems(t, tp, true);
          t.phase = this.#phase(t);
        }
      }
      const unreachable = plans.filter((tp) => tp.state === "unreachable").length;
      if (result === "in-sync" && unreachable > 0) result = "failed";
      this.#lastAudit = { at: iso(at)!, kind, drift, result, ...(unreachable ? { error: `${plural(unreachable, "target")} unreachable` } : {}) };
      this.#say(drift || unreachable ? "warn" : "info", `audit ${kind}: ${plural(drift, "change")} of drift on ${drifted.length}/${plans.length} targets: ${result} in ${this.d.clock.now() - at} ms`);
      this.d.notify(true);
    });
  }

  /** Stop taking events and timers; the running job finishes; waiting jobs are skipped. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const c of this.#crons) c.stop();
    for (const t of this.#targets) this.d.clock.clearTimeout(t.retryTimer);
    // The batcher stops synchronously (timer cleared, pending counted); its batch in flight is either
    // the running job (finishes) or waiting in the queue (skipped).
    const batcherStopped = this.#batcher.stop();
    await this.#queue.stop();
    const dropped = await batcherStopped;
    if (dropped > 0) this.#say("info", `${plural(dropped, "pending event")} left for the next start's full plan`);
  }

  status(): SyncStatus {
    return {
      name: this.sync.name,
      source: formatLocation(this.sync.source),
      watcher: this.#watcher,
      pendingEvents: this.#batcher.pending,
      queueDepth: this.#queue.waiting,
      ...(this.#lastSyncAt !== undefined ? { lastSyncAt: iso(this.#lastSyncAt) } : {}),
      ...(this.#lastAudit ? { lastAudit: this.#lastAudit } : {}),
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
      targets: this.#targets.map((t) => ({
        target: t.key,
        state: t.phase,
        failures: t.backoff.failures,
        problems: t.problems,
        drift: t.drift,
        ...(t.lastSyncAt !== undefined ? { lastSyncAt: iso(t.lastSyncAt) } : {}),
        ...(t.lastError && t.phase !== "in-sync" ? { lastError: t.lastError } : {}),
        ...(t.retryAt !== undefined ? { retryAt: iso(t.retryAt) } : {}),
      })),
    };
  }
}
