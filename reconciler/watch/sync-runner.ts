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
import type { AuditStatus, SyncStatus, TargetStatus, TargetStatusState, WatcherMode } from "./status.js";

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
  /** When the target was paused (`tsync pause`), or undefined: a paused target is sent nothing. */
  readonly pausedSince?: (loc: Location) => number | undefined;
  /**
   * Called after each full plan (initial, retry, rescan, catch-up, audit) once its listings are
   * dropped: a full garbage collection (reclaim.ts), so the next one starts from the live heap.
   */
  readonly reclaim?: () => void;
}

/** Which targets a `tsync wait` (or another question) is about. */
export type TargetSelector = (loc: Location) => boolean;

/** What a job covers: every event up to `upTo` (the runner's event sequence), taken at `takenAt`. */
interface Cover {
  readonly upTo: number;
  readonly takenAt: number;
  /** Orders jobs against `tsync wait` requests (clock time cannot: both may fall in one millisecond). */
  readonly epoch: number;
}

let epochs = 0;
/** The epoch a `tsync wait` starts at: a full plan with a higher one began after it. */
export function currentEpoch(): number {
  return epochs;
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
  /** Paused when last looked: its resume is a full plan. */
  wasPaused?: boolean;
  readonly totals: { bytesSent: number; changesApplied: number; batches: number; failures: number; driftFound: number; driftHealed: number };
  hookRuns: number;
  hookFailures: number;
  lastHookFailure?: { at: number; error: string };
  /** Events (the runner's sequence) that have reached this target; behind while below the runner's. */
  appliedSeq: number;
  /** Set while events are not yet on this target: no later than the oldest of them arrived. */
  behindSince?: number;
  /** The epoch of the last full plan that fully succeeded here: a `tsync wait` before it is answered. */
  caughtUpEpoch?: number;
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
  #catchUpQueued = false;
  #stopped = false;
  /** Counts source events; each target's appliedSeq says how many of them reached it. */
  #seq = 0;

  constructor(readonly sync: Sync, private readonly d: RunnerDeps) {
    this.#targets = sync.targets.map((loc) => ({ loc, key: formatLocation(loc), phase: "syncing", drift: 0, problems: 0, hookRuns: 0, hookFailures: 0, appliedSeq: 0, totals: { bytesSent: 0, changesApplied: 0, batches: 0, failures: 0, driftFound: 0, driftHealed: 0 }, backoff: new Backoff(d.backoff, d.random) }));
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
    this.#seq++;
    const now = this.d.clock.now();
    for (const t of this.#targets) t.behindSince ??= now;
    this.#batcher.add(path);
    this.d.notify(false);
  }

  #paused(t: TargetRt): number | undefined {
    return this.d.pausedSince?.(t.loc);
  }

  #cover(): Cover {
    return { upTo: this.#seq, takenAt: this.d.clock.now(), epoch: ++epochs };
  }

  /** `t` now has every event up to `c.upTo`; what came later arrived after `c.takenAt`. */
  #covered(t: TargetRt, c: Cover): void {
    t.appliedSeq = Math.max(t.appliedSeq, c.upTo);
    t.behindSince = t.appliedSeq >= this.#seq ? undefined : Math.max(t.behindSince ?? c.takenAt, c.takenAt);
  }

  watcherMode(mode: WatcherMode, reason: string): void {
    this.#watcher = { mode, reason };
    this.d.notify(true);
  }

  /**
   * For `tsync wait`: a full plan of the selected targets not caught up since epoch `since`
   * (at most one waits in the queue). A full plan scans the source after `since`, so whatever changed
   * before it is compared, whether or not its event has arrived yet: a barrier, not a guess.
   */
  catchUp(since: number, select: TargetSelector): void {
    const need = () => this.#healthy().filter((t) => select(t.loc) && (t.caughtUpEpoch ?? -1) <= since);
    if (this.#stopped || this.#catchUpQueued || need().length === 0) return;
    this.#catchUpQueued = true;
    void this.#queue.run(async () => {
      this.#catchUpQueued = false;
      await this.#full("catch-up for tsync wait", need());
    });
  }

  /** The selected, unpaused targets not caught up since epoch `since`, each with why. */
  behind(since: number, select: TargetSelector): { target: string; why: string }[] {
    const out: { target: string; why: string }[] = [];
    for (const t of this.#targets) {
      if (!select(t.loc) || this.#paused(t) !== undefined || (t.caughtUpEpoch ?? -1) > since) continue;
      const pending = this.#seq - t.appliedSeq;
      const why =
        t.phase === "unreachable" || t.phase === "failed"
          ? `${t.phase}: ${t.lastError ?? "?"}${t.retryAt !== undefined ? ` (retry at ${iso(t.retryAt)})` : ""}`
          : `being compared with the source${pending > 0 ? ` (${plural(pending, "event")} not yet applied)` : ""}`;
      out.push({ target: t.key, why });
    }
    return out;
  }

  /** The selected paused targets (a wait does not wait for them) and since when. */
  pausedTargets(select: TargetSelector): { target: string; since: number }[] {
    return this.#targets.flatMap((t) => {
      const since = select(t.loc) ? this.#paused(t) : undefined;
      return since === undefined ? [] : [{ target: t.key, since }];
    });
  }

  /** Targets no longer paused: one full plan catches them up with what they missed. */
  resumed(): void {
    const back = this.#targets.filter((t) => t.wasPaused && this.#paused(t) === undefined);
    for (const t of back) t.wasPaused = false;
    if (back.length > 0 && !this.#stopped) void this.#queue.run(() => this.#full("resume", back.filter((t) => this.#paused(t) === undefined)));
    this.d.notify(true);
  }

  /**
   * After a reload, the runner of the same sync name hands over what its status reported, so a
   * reload does not read as "last audit never": the last audit, and per target (same location) the
   * last sync and the hook counters.
   */
  inherit(prev: SyncRunner): void {
    this.#lastAudit ??= prev.#lastAudit;
    this.#lastSyncAt ??= prev.#lastSyncAt;
    for (const t of this.#targets) {
      const o = prev.#targets.find((x) => x.key === t.key);
      if (!o) continue;
      t.lastSyncAt ??= o.lastSyncAt;
      t.hookRuns += o.hookRuns;
      t.hookFailures += o.hookFailures;
      t.lastHookFailure ??= o.lastHookFailure;
      for (const k of Object.keys(t.totals) as (keyof TargetRt["totals"])[]) t.totals[k] += o.totals[k];
    }
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

  /** Initial plan+apply of every target (but paused ones: their resume is a full plan). Resolves when done. */
  initial(): Promise<void> {
    for (const t of this.#targets) if (this.#paused(t) !== undefined) t.wasPaused = true;
    return this.#queue.run(() => this.#full("initial", this.#targets.filter((t) => this.#paused(t) === undefined)));
  }

  /** Called when a target was paused: nothing more is sent to it until resumed(). */
  paused(): void {
    for (const t of this.#targets) if (this.#paused(t) !== undefined) t.wasPaused = true;
    this.d.notify(true);
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

  /** Targets jobs go to: reachable, and not paused. */
  #healthy(): TargetRt[] {
    return this.#targets.filter((t) => t.phase !== "unreachable" && t.phase !== "failed" && this.#paused(t) === undefined);
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
  async #applyOne(tp: TargetPlan, full: boolean, cover: Cover): Promise<Outcome> {
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
      this.#noteHooks(t, res);
      t.totals.batches++;
      t.totals.bytesSent += res.bytes;
      t.totals.changesApplied += res.applied;
      if (!res.ok && this.#stopping()) {
        this.#say("info", `${t.key}: stopped at a file boundary: ${res.applied} of ${plural(tp.changes.length, "change")} applied, the rest is left for the next start`);
        return { ...no, applied: res.applied, bytes: res.bytes };
      }
      if (!res.ok && res.sourceChanged?.length) {
        // Files still being written on the source (an upload in progress): not the target's fault.
        // Their events may already be spent, so they are queued again rather than waiting for a retry.
        const n = res.sourceChanged.length;
        this.#say("info", `${t.key}: ${plural(n, "file")} changed on the source during the transfer (${shown(res.sourceChanged[0]!)}${n > 1 ? ", …" : ""}); sending again in the next batch`);
        this.#covered(t, cover);
        for (const p of res.sourceChanged) this.event(p);
        this.#succeed(t, false);
        t.phase = "syncing";
        this.d.notify(true);
        return { ok: true, changes: tp.changes.length, applied: res.applied, bytes: res.bytes };
      }
      if (!res.ok) return this.#fail(t, "failed", res.error ?? "apply failed"), { ...no, applied: res.applied, bytes: res.bytes };
    }
    this.#covered(t, cover);
    if (full) t.caughtUpEpoch = cover.epoch;
    this.#succeed(t, full);
    return { ok: true, changes: tp.changes.length, applied: res.applied, bytes: res.bytes };
  }

  /** Hook failures are the target's news, not its failure: replication goes on and nothing is retried. */
  #noteHooks(t: TargetRt, res: EngineApplyResult): void {
    for (const h of res.hooks ?? []) {
      t.hookRuns++;
      if (h.ok) {
        this.#say("info", `${t.key}: onChange \`${oneLine(h.run)}\` ok (${plural(h.changes, "changed path")})`);
        continue;
      }
      t.hookFailures++;
      t.lastHookFailure = { at: this.d.clock.now(), error: oneLine(h.error ?? "failed") };
      this.#say("error", h.error ?? `${t.key}: onChange \`${oneLine(h.run)}\` failed`);
      if (h.stderrTail) for (const l of h.stderrTail.trimEnd().split("\n").slice(-20)) this.#say("debug", `${t.key}: onChange stderr: ${l}`);
    }
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
    t.totals.failures++;
    t.lastError = oneLine(error);
    this.#lastError = `${t.key}: ${t.lastError}`;
    this.d.clock.clearTimeout(t.retryTimer);
    const delay = t.backoff.next();
    t.retryAt = this.d.clock.now() + delay;
    this.#say("warn", `${t.key} ${phase}: ${t.lastError}; retry #${t.backoff.failures} in ${(delay / 1000).toFixed(1)}s`);
    t.retryTimer = this.d.clock.setTimeout(() => {
      t.retryTimer = undefined;
      // Recovery is a full plan: the events the target missed meanwhile are not replayed. A paused
      // target waits for its resume, which is a full plan too.
      if (!this.#stopped && this.#paused(t) === undefined) void this.#queue.run(() => this.#full("retry", [t]));
    }, delay);
    this.d.notify(true);
  }

  /** Full plan + apply of `targets` (initial, retry, polling rescan). */
  async #full(why: string, targets: readonly TargetRt[]): Promise<void> {
    if (targets.length === 0) return;
    try {
      const cover = this.#cover();
      const plans = await this.#plan({}, targets);
      if (!plans) return;
      const outs = await Promise.all(plans.map((tp) => this.#applyOne(tp, true, cover)));
      this.#report(why, outs, cover.takenAt);
    } finally {
      this.d.reclaim?.();
    }
  }

  async #batch(paths: RelPath[]): Promise<void> {
    // The batch holds every event added so far (the batcher took them all): that is what it covers.
    const cover = this.#cover();
    await this.#queue.run(async () => {
      const targets = this.#healthy();
      if (targets.length === 0) return this.#say("debug", `batch of ${plural(paths.length, "path")} skipped: no healthy target (their retry is a full plan)`);
      for (const p of paths) this.#say("debug", `event ${shown(p)}`);
      const t0 = this.d.clock.now();
      const plans = await this.#plan({ only: paths }, targets);
      if (!plans) return;
      const outs = await Promise.all(plans.map((tp) => this.#applyOne(tp, false, cover)));
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
      try {
        await this.#audit(kind);
      } finally {
        this.d.reclaim?.();
      }
    });
  }

  async #audit(kind: "quick" | "deep"): Promise<void> {
    const cover = this.#cover();
    const at = cover.takenAt;
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
    for (const tp of drifted) {
      const t = this.#byLocation(tp.target);
      if (t) t.totals.driftFound += tp.changes.length;
    }
    if (this.sync.onDrift === "heal") {
      const outs = await Promise.all(plans.map((tp) => this.#applyOne(tp, true, cover)));
      for (const [i, tp] of plans.entries()) {
        const t = this.#byLocation(tp.target);
        if (t && outs[i]!.ok && drifted.includes(tp)) t.totals.driftHealed += tp.changes.length;
      }
      if (drift > 0) result = outs.every((o) => o.ok) ? "healed" : "failed";
    } else {
      for (const tp of plans) {
        const t = this.#byLocation(tp.target);
        if (!t || tp.state === "unreachable" || tp.refused) {
          if (tp.state === "unreachable" || tp.refused) await this.#applyOne(tp, false, cover); // records the failure
          continue;
        }
        t.drift = tp.changes.length;
        this.#noteProblems(t, tp, true);
        t.phase = this.#phase(t);
      }
    }
    const unreachable = plans.filter((tp) => tp.state === "unreachable").length;
    if (result === "in-sync" && unreachable > 0) result = "failed";
    const durationMs = this.d.clock.now() - at;
    this.#lastAudit = { at: iso(at)!, kind, drift, result, durationMs, ...(unreachable ? { error: `${plural(unreachable, "target")} unreachable` } : {}) };
    this.#say(drift || unreachable ? "warn" : "info", `audit ${kind}: ${plural(drift, "change")} of drift on ${drifted.length}/${plans.length} targets: ${result} in ${durationMs} ms`);
    this.d.notify(true);
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
      targets: this.#targets.map((t) => this.#targetStatus(t)),
    };
  }

  #targetStatus(t: TargetRt): TargetStatus {
    const paused = this.#paused(t);
    const pending = this.#seq - t.appliedSeq;
    // Events not yet on a target leave it behind, whatever its last apply said.
    const state: TargetStatusState = paused !== undefined ? "paused" : t.phase === "in-sync" && t.behindSince !== undefined ? "syncing" : t.phase;
    return {
        target: t.key,
        state,
        totals: { ...t.totals },
        failures: t.backoff.failures,
        problems: t.problems,
        drift: t.drift,
        ...(t.lastSyncAt !== undefined ? { lastSyncAt: iso(t.lastSyncAt) } : {}),
        ...(t.lastError && t.phase !== "in-sync" ? { lastError: t.lastError } : {}),
        ...(t.retryAt !== undefined ? { retryAt: iso(t.retryAt) } : {}),
        ...(this.sync.onChange?.length ? { hookRuns: t.hookRuns, hookFailures: t.hookFailures } : {}),
        ...(t.lastHookFailure ? { lastHookFailure: { at: iso(t.lastHookFailure.at)!, error: t.lastHookFailure.error } } : {}),
        ...(pending > 0 ? { pendingEvents: pending } : {}),
        ...(t.behindSince !== undefined ? { behindSince: iso(t.behindSince) } : {}),
        ...(paused !== undefined ? { pausedSince: iso(paused) } : {}),
    };
  }
}
