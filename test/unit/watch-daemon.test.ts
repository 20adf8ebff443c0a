import { test } from "node:test";
import assert from "node:assert/strict";
import type { Change } from "../../reconciler/model/change.js";
import type { Diagnostic } from "../../reconciler/model/diagnostics.js";
import { formatLocation, type Location, type Manifest, type Sync } from "../../reconciler/model/manifest.js";
import type { TargetPlan } from "../../reconciler/model/plan.js";
import { isInside, relPath, type RelPath } from "../../reconciler/model/paths.js";
import type { FileEntry } from "../../reconciler/model/snapshot.js";
import { FakeClock, flushMicrotasks } from "../../reconciler/watch/clock.js";
import { runDaemon, type AuditScheduler, type WatchSource } from "../../reconciler/watch/daemon.js";
import type { SyncEngine } from "../../reconciler/watch/engine.js";
import type { SourceWatcherHooks } from "../../reconciler/watch/source-watcher.js";
import { allInSync, type StatusDoc } from "../../reconciler/watch/status.js";
import type { PauseStore, Pauses } from "../../reconciler/watch/pauses.js";

type Tree = Map<RelPath, string>;
const file = (content: string): FileEntry => ({ kind: "file", size: content.length, mtimeMs: 0, mode: 0o644, hash: content });

/** In-memory engine: trees of files (path → content), plans by comparison, applies by copying. */
class FakeEngine implements SyncEngine {
  source: Tree = new Map();
  targets = new Map<string, Tree>();
  down = new Set<string>();
  failApply = new Set<string>();
  refuse = new Set<string>();
  /** Target key → paths there that the scan reports as problems (a FIFO, an unreadable directory). */
  problems = new Map<string, RelPath[]>();
  calls: { op: "plan" | "apply"; target?: string; only?: readonly RelPath[]; deep?: boolean; targets?: string[] }[] = [];
  gate: Promise<void> | undefined;

  tree(key: string): Tree {
    let t = this.targets.get(key);
    if (!t) this.targets.set(key, (t = new Map()));
    return t;
  }
  async plan(sync: Sync, opts: { only?: readonly RelPath[]; deep?: boolean; targets?: readonly Location[] }): Promise<TargetPlan[]> {
    const locs = opts.targets ?? sync.targets;
    this.calls.push({ op: "plan", ...(opts.only ? { only: opts.only } : {}), ...(opts.deep ? { deep: true } : {}), targets: locs.map(formatLocation) });
    const inScope = (p: RelPath) => !opts.only || opts.only.some((o) => o === p || isInside(p, o));
    return locs.map((target) => {
      const key = formatLocation(target);
      const problems = (this.problems.get(key) ?? []).filter(inScope).map((path) => ({ side: "target" as const, path, error: "is a FIFO, not a file, directory or symlink" }));
      const base = { sync: sync.name, target, problems };
      if (this.down.has(key)) return { ...base, state: "unreachable", changes: [], error: `${key}: connect ECONNREFUSED` };
      const dst = this.tree(key);
      const changes: Change[] = [];
      for (const [p, c] of this.source)
        if (inScope(p) && dst.get(p) !== c)
          changes.push(dst.has(p) ? { kind: "update", path: p, before: file(dst.get(p)!), after: file(c) } : { kind: "create", path: p, after: file(c) });
      for (const [p, c] of dst) if (inScope(p) && !this.source.has(p)) changes.push({ kind: "delete", path: p, before: file(c) });
      return { ...base, state: changes.length ? "drifted" : "in-sync", changes, ...(this.refuse.has(key) ? { refused: "maxDelete: would delete 100%" } : {}) };
    });
  }
  async apply(tp: TargetPlan) {
    const key = formatLocation(tp.target);
    this.calls.push({ op: "apply", target: key });
    if (this.gate) await this.gate;
    if (this.failApply.has(key)) return { ok: false, applied: 0, bytes: 0, error: `${key}: No space left on device` };
    const dst = this.tree(key);
    for (const c of tp.changes) {
      if (c.kind === "delete") dst.delete(c.path);
      else if (c.kind === "create" || c.kind === "update") dst.set(c.path, c.after.hash!);
    }
    return { ok: true, applied: tp.changes.length, bytes: 0 };
  }
  plans() {
    return this.calls.filter((c) => c.op === "plan");
  }
}

class FakeWatcher implements WatchSource {
  mode: "inotify" | "polling" = "inotify";
  reason = "";
  hooks: SourceWatcherHooks | undefined;
  queued: RelPath[] = [];
  started = false;
  closed = false;
  constructor(private readonly order: string[]) {}
  async start() {
    this.order.push("watch");
    this.started = true;
  }
  listen(h: SourceWatcherHooks) {
    this.hooks = h;
    for (const p of this.queued) h.event(p);
  }
  emit(...paths: string[]) {
    for (const p of paths) this.hooks ? this.hooks.event(relPath(p)) : this.queued.push(relPath(p));
  }
  async close() {
    this.closed = true;
  }
}

const W1 = { host: "www-01", path: "/var/www/site" };
const W2 = { host: "www-02", path: "/var/www/site" };
const K1 = "www-01:/var/www/site", K2 = "www-02:/var/www/site";

function makeSync(over: Partial<Sync> = {}): Sync {
  return {
    name: "site",
    source: { path: "/src/site" },
    targets: [W1, W2],
    rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
    delayMs: 1000,
    audit: { quick: "*/5 * * * *", deep: "0 3 * * *" },
    onDrift: "heal",
    ...over,
  };
}
function makeManifest(syncs: Sync[], digest = "d1"): Manifest {
  return { file: "tsync.yaml", digest, settings: { maxProcesses: 5, statusFile: "/run/tsync.status" }, hosts: new Map(), syncs, nginx: undefined as never };
}

function rig(opts: { sync?: Partial<Sync>; reload?: () => Manifest | Diagnostic[]; pauses?: PauseStore } = {}) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const engine = new FakeEngine();
  engine.source = new Map([[relPath("index.php"), "v1"], [relPath("wp/a.css"), "a1"]]);
  const order: string[] = [];
  const watchers: FakeWatcher[] = [];
  const crons: { expr: string; run: () => Promise<void>; stopped: boolean }[] = [];
  const schedule: AuditScheduler = (expr, run) => {
    const c = { expr, run, stopped: false };
    crons.push(c);
    return { stop: () => void (c.stopped = true) };
  };
  const logs: string[] = [];
  const files = new Map<string, StatusDoc[]>();
  const ac = new AbortController();
  const origPlan = engine.plan.bind(engine);
  engine.plan = async (s, o) => (order.push("plan"), origPlan(s, o));
  const d = runDaemon({
    manifest: makeManifest([makeSync(opts.sync)]),
    engine,
    signal: ac.signal,
    clock,
    log: (level, m) => logs.push(`${level} ${m}`),
    matcherFor: () => () => false,
    random: () => 0,
    schedule,
    watchSource: () => {
      const w = new FakeWatcher(order);
      watchers.push(w);
      return w;
    },
    writeStatus: async (f, data) => void (files.get(f) ?? files.set(f, []).get(f)!).push(JSON.parse(data)),
    pid: 4242,
    reclaim: () => void order.push("reclaim"),
    ...(opts.reload ? { reload: opts.reload } : {}),
    ...(opts.pauses ? { pauses: opts.pauses } : {}),
  });
  const lastStatus = () => files.get("/run/tsync.status")!.at(-1)!;
  const target = (k: string) => Object.fromEntries(engine.tree(k));
  return { clock, engine, order, watchers, crons, logs, d, ac, lastStatus, target };
}

const SRC = { "index.php": "v1", "wp/a.css": "a1" };

test("startup: watch first, then the initial full apply of every target; status in sync", async () => {
  const r = rig();
  r.engine.tree(K2).set(relPath("stale.html"), "x");
  await r.d.ready;
  assert.deepEqual(r.order.slice(0, 2), ["watch", "plan"]);
  assert.deepEqual(r.engine.plans()[0], { op: "plan", targets: [K1, K2] });
  assert.deepEqual(r.target(K1), SRC);
  assert.deepEqual(r.target(K2), SRC, "extra file deleted");
  await flushMicrotasks();
  const st = r.lastStatus();
  assert.equal(st.state, "running");
  assert.equal(st.pid, 4242);
  assert.deepEqual(st.syncs[0]!.targets.map((t) => [t.target, t.state]), [[K1, "in-sync"], [K2, "in-sync"]]);
  assert.deepEqual(r.crons.map((c) => c.expr), ["*/5 * * * *", "0 3 * * *"]);
  r.ac.abort();
  await r.d.done;
});

test("events that arrive during the initial apply are queued and sent afterwards", async () => {
  const r = rig();
  r.engine.gate = new Promise<void>((res) => setImmediate(() => {
    r.engine.source.set(relPath("late.txt"), "L");
    r.watchers[0]!.emit("late.txt");
    res();
  }));
  await r.d.ready;
  r.engine.gate = undefined;
  await r.clock.tick(100);
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", only: ["late.txt"], targets: [K1, K2] });
  assert.equal(r.target(K1)["late.txt"], "L");
  r.ac.abort();
  await r.d.done;
});

test("an event batch plans only the touched paths and applies to every target", async () => {
  const r = rig();
  await r.d.ready;
  r.engine.source.set(relPath("index.php"), "v2");
  r.engine.source.delete(relPath("wp/a.css"));
  r.watchers[0]!.emit("index.php", "wp/a.css", "wp", "index.php");
  await r.clock.tick(99);
  assert.equal(r.engine.plans().length, 1, "not before the settle time");
  await r.clock.tick(1);
  assert.deepEqual(r.engine.plans()[1], { op: "plan", only: ["index.php", "wp", "wp/a.css"], targets: [K1, K2] });
  assert.deepEqual(r.target(K1), { "index.php": "v2" });
  assert.deepEqual(r.target(K2), { "index.php": "v2" });
  assert.ok(r.logs.some((l) => /^info sync site: batch of 3 paths: 4 changes, 0 bytes, 2\/2 targets ok/.test(l)), r.logs.join("\n"));
  r.ac.abort();
  await r.d.done;
});

test("a failing target is retried with backoff while the other continues, then caught up with a full plan", async () => {
  const r = rig();
  await r.d.ready;
  r.engine.down.add(K2);
  r.engine.source.set(relPath("one.txt"), "1");
  r.watchers[0]!.emit("one.txt");
  await r.clock.tick(100);
  assert.equal(r.target(K1)["one.txt"], "1");
  let st = r.d.status().syncs[0]!.targets[1]!;
  assert.equal(st.state, "unreachable");
  assert.equal(st.lastError, `${K2}: connect ECONNREFUSED`);
  assert.equal(st.failures, 1);
  // Live batches skip the failing target.
  r.engine.source.set(relPath("two.txt"), "2");
  r.watchers[0]!.emit("two.txt");
  await r.clock.tick(100);
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", only: ["two.txt"], targets: [K1] });
  // Backoff (random 0 → full delays): failed at t=100, retry at t=1100 fails, next at t=3100.
  await r.clock.tick(899);
  assert.deepEqual(r.engine.plans().at(-1)!.only, ["two.txt"], "not retried before 1 s");
  await r.clock.tick(1);
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", targets: [K2] });
  assert.equal(r.d.status().syncs[0]!.targets[1]!.failures, 2);
  const plansBefore = r.engine.plans().length;
  await r.clock.tick(1999);
  assert.equal(r.engine.plans().length, plansBefore, "second retry waits 2 s");
  r.engine.down.delete(K2);
  await r.clock.tick(1);
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", targets: [K2] }, "recovery is a full plan");
  assert.deepEqual(r.target(K2), { ...SRC, "one.txt": "1", "two.txt": "2" });
  st = r.d.status().syncs[0]!.targets[1]!;
  assert.equal(st.state, "in-sync");
  assert.equal(st.failures, 0);
  assert.ok(r.logs.some((l) => l.includes(`${K2} recovered after 2 failures`)));
  r.ac.abort();
  await r.d.done;
});

test("an apply error marks the target failed and retries it; a refused plan is never applied", async () => {
  const r = rig();
  r.engine.refuse.add(K2);
  r.engine.tree(K2).set(relPath("keep.txt"), "k");
  await r.d.ready;
  assert.equal(r.target(K2)["keep.txt"], "k");
  assert.equal(r.engine.calls.filter((c) => c.op === "apply" && c.target === K2).length, 0);
  assert.match(r.d.status().syncs[0]!.targets[1]!.lastError!, /^refused: maxDelete/);
  r.engine.failApply.add(K1);
  r.engine.source.set(relPath("x"), "x");
  r.watchers[0]!.emit("x");
  await r.clock.tick(100);
  const t1 = r.d.status().syncs[0]!.targets[0]!;
  assert.equal(t1.state, "failed");
  assert.equal(t1.lastError, `${K1}: No space left on device`);
  r.ac.abort();
  await r.d.done;
});

test("audit with onDrift heal: drift on a target is found and fixed, and logged", async () => {
  const r = rig();
  await r.d.ready;
  r.engine.tree(K1).set(relPath("index.php"), "hacked");
  await r.crons[0]!.run();
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", targets: [K1, K2] });
  assert.deepEqual(r.target(K1), SRC);
  const s = r.d.status().syncs[0]!;
  assert.equal(s.lastAudit!.kind, "quick");
  assert.equal(s.lastAudit!.drift, 1);
  assert.equal(s.lastAudit!.result, "healed");
  assert.ok(r.logs.some((l) => l === `warn sync site: audit quick: ${K1} drifted: update index.php`), r.logs.join("\n"));
  await r.crons[1]!.run();
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", deep: true, targets: [K1, K2] });
  assert.equal(r.d.status().syncs[0]!.lastAudit!.result, "in-sync");
  r.ac.abort();
  await r.d.done;
});

test("memory: each full plan (initial, audit, even a failed one) is followed by one collection; a live batch is not", async () => {
  const r = rig();
  await r.d.ready;
  assert.deepEqual(r.order, ["watch", "plan", "reclaim"]);
  r.engine.source.set(relPath("index.php"), "v2");
  r.watchers[0]!.emit("index.php");
  await r.clock.tick(100);
  assert.deepEqual(r.order.slice(3), ["plan"], "a batch's listings are small: no collection");
  await r.crons[0]!.run();
  assert.deepEqual(r.order.slice(4), ["plan", "reclaim"]);
  r.engine.plan = async () => {
    throw new Error("boom");
  };
  await r.crons[0]!.run();
  assert.deepEqual(r.order.slice(6), ["reclaim"], "a plan that threw still leaves garbage behind");
  r.ac.abort();
  await r.d.done;
});

test("audit with onDrift report: drift is recorded, not fixed", async () => {
  const r = rig({ sync: { onDrift: "report" } });
  await r.d.ready;
  r.engine.tree(K2).set(relPath("evil.php"), "x");
  const applies = r.engine.calls.filter((c) => c.op === "apply").length;
  await r.crons[0]!.run();
  assert.equal(r.engine.calls.filter((c) => c.op === "apply").length, applies, "nothing applied");
  assert.equal(r.target(K2)["evil.php"], "x");
  const s = r.d.status().syncs[0]!;
  assert.deepEqual(s.lastAudit && { drift: s.lastAudit.drift, result: s.lastAudit.result }, { drift: 1, result: "reported" });
  assert.deepEqual(s.targets.map((t) => [t.state, t.drift]), [["in-sync", 0], ["drifted", 1]]);
  // A live batch does not clear reported drift; the next clean audit does.
  r.engine.tree(K2).delete(relPath("evil.php"));
  await r.crons[0]!.run();
  assert.equal(r.d.status().syncs[0]!.targets[1]!.state, "in-sync");
  r.ac.abort();
  await r.d.done;
});

test("an audit and a live batch of the same sync never interleave", async () => {
  const r = rig();
  await r.d.ready;
  let release!: () => void;
  r.engine.gate = new Promise<void>((res) => (release = res));
  r.engine.source.set(relPath("b.txt"), "b");
  r.watchers[0]!.emit("b.txt");
  await r.clock.tick(100); // batch planned, its applies are held
  const audit = r.crons[0]!.run();
  await flushMicrotasks();
  const n = r.engine.plans().length;
  assert.deepEqual(r.engine.plans().at(-1)!.only, ["b.txt"], "audit has not planned yet");
  assert.equal(r.d.status().syncs[0]!.queueDepth, 1);
  release();
  r.engine.gate = undefined;
  await audit;
  assert.equal(r.engine.plans().length, n + 1);
  assert.equal(r.engine.plans().at(-1)!.only, undefined);
  r.ac.abort();
  await r.d.done;
});

test("reload: an invalid manifest is reported and the old one kept; a valid one replaces it", async () => {
  let next: Manifest | Diagnostic[] = [{ severity: "error", code: "schema", message: 'must be a duration like "1s"', path: "syncs.site.delay", file: "tsync.yaml", start: { line: 12, col: 7, offset: 0 } }];
  const r = rig({ reload: () => next });
  await r.d.ready;
  assert.equal(await r.d.reload(), false);
  assert.ok(r.logs.includes('error reload: tsync.yaml:12:7: syncs.site.delay: must be a duration like "1s"'));
  assert.equal(r.watchers[0]!.closed, false);
  assert.equal(r.d.status().manifestDigest, "d1");
  next = makeManifest([makeSync({ name: "blog", targets: [W1] })], "d2");
  assert.equal(await r.d.reload(), true);
  assert.equal(r.watchers[0]!.closed, true);
  assert.equal(r.crons.filter((c) => !c.stopped).length, 2);
  const st = r.d.status();
  assert.equal(st.manifestDigest, "d2");
  assert.deepEqual(st.syncs.map((s) => s.name), ["blog"]);
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", targets: [K1] }, "the new manifest starts with a full apply");
  r.ac.abort();
  await r.d.done;
});

test("shutdown: stops taking events, lets the batch in flight finish, writes a final status", async () => {
  const r = rig();
  await r.d.ready;
  let release!: () => void;
  r.engine.gate = new Promise<void>((res) => (release = res));
  r.engine.source.set(relPath("f"), "F");
  r.watchers[0]!.emit("f");
  await r.clock.tick(100);
  r.watchers[0]!.emit("g");
  r.ac.abort();
  let done = false;
  void r.d.done.then(() => (done = true));
  await flushMicrotasks();
  assert.equal(done, false, "waits for the batch in flight");
  assert.equal(r.watchers[0]!.closed, true);
  release();
  await r.d.done;
  assert.equal(r.target(K1)["f"], "F", "the in-flight batch completed");
  assert.equal(r.lastStatus().state, "stopped");
  assert.ok(r.crons.every((c) => c.stopped));
  assert.ok(r.logs.some((l) => l.includes("1 pending event left for the next start")));
  assert.equal(r.clock.pendingTimers, 0, "no timer left behind");
});

test("polling fallback: the watcher's rescans become full plans, and the status says why", async () => {
  const r = rig();
  await r.d.ready;
  r.watchers[0]!.hooks!.mode("polling", "inotify watches exhausted (ENOSPC)");
  r.engine.source.set(relPath("unseen"), "u");
  r.watchers[0]!.hooks!.rescan();
  r.watchers[0]!.hooks!.rescan(); // at most one waiting rescan
  await flushMicrotasks();
  assert.deepEqual(r.engine.plans().slice(1), [{ op: "plan", targets: [K1, K2] }]);
  assert.equal(r.target(K2)["unseen"], "u");
  assert.deepEqual(r.lastStatus().syncs[0]!.watcher, { mode: "polling", reason: "inotify watches exhausted (ENOSPC)" });
  r.ac.abort();
  await r.d.done;
});

test("a remote source gets no watcher: initial apply and audits only", async () => {
  const r = rig({ sync: { source: { host: "master", path: "/var/www/site" } } });
  await r.d.ready;
  assert.equal(r.watchers.length, 0);
  assert.ok(r.logs.some((l) => l.includes("source is on master (remote): no live events, periodic audits only")));
  assert.deepEqual(r.d.status().syncs[0]!.watcher, { mode: "none", reason: "source on master is remote: audits only" });
  assert.deepEqual(r.target(K1), SRC);
  r.ac.abort();
  await r.d.done;
});

test("croner scheduler: a valid expression schedules and stops; an invalid one is logged, the daemon runs on", async () => {
  const { cronScheduler } = await import("../../reconciler/watch/daemon.js");
  const job = cronScheduler("*/5 * * * *", async () => {}, () => {});
  job.stop();
  assert.throws(() => cronScheduler("not a cron", async () => {}, () => {}));
  const clock = new FakeClock();
  const logs: string[] = [];
  const engine = new FakeEngine();
  const ac = new AbortController();
  const d = runDaemon({
    manifest: makeManifest([makeSync({ source: { host: "master", path: "/s" }, audit: { quick: "61 * * * *" } })]),
    engine, signal: ac.signal, clock, log: (l, m) => logs.push(`${l} ${m}`), matcherFor: () => () => false, statusFile: null,
  });
  await d.ready;
  assert.ok(logs.some((l) => /^error sync site: audit quick: cannot schedule "61 \* \* \* \*"/.test(l)), logs.join("\n"));
  ac.abort();
  await d.done;
});

test("regression (issue 18 item 5): a target with problems is not in sync, and a live batch that does not see them keeps them", async () => {
  const r = rig();
  r.engine.problems.set(K2, [relPath("pipe")]);
  await r.d.ready;
  await flushMicrotasks();
  const states = () => r.lastStatus().syncs[0]!.targets.map((t) => [t.target, t.state, t.problems]);
  assert.deepEqual(states(), [[K1, "in-sync", 0], [K2, "problems", 1]]);
  assert.equal(allInSync(r.lastStatus()), false);
  assert.ok(r.logs.some((l) => l === `warn sync site: ${K2}: 1 path tsync cannot fix; first: target pipe: is a FIFO, not a file, directory or symlink`), r.logs.join("\n"));
  const k2 = r.lastStatus().syncs[0]!.targets[1]!;
  assert.equal(k2.failures, 0, "not a failure to retry with backoff");
  assert.equal(k2.retryAt, undefined);
  r.engine.source.set(relPath("index.php"), "v2");
  r.watchers[0]!.emit("index.php");
  await r.clock.tick(1000);
  await flushMicrotasks();
  assert.deepEqual(states(), [[K1, "in-sync", 0], [K2, "problems", 1]]);
  r.engine.problems.delete(K2);
  await r.crons[0]!.run();
  await flushMicrotasks();
  assert.deepEqual(states(), [[K1, "in-sync", 0], [K2, "in-sync", 0]], "the next full plan clears them");
  r.ac.abort();
  await r.d.done;
});

/** A pause store in memory: what was saved is what the next daemon loads. */
function memoryPauses(initial: Pauses = {}): PauseStore & { saved: Pauses } {
  const store = { saved: initial, load: () => store.saved, save: async (p: Pauses) => void (store.saved = p) };
  return store;
}

test("wait is a barrier: a change whose event has not arrived yet is still on every target when it answers", async () => {
  const r = rig();
  await r.d.ready;
  // Written to the source, but the watcher has not delivered the event (inotify latency, a burst).
  r.engine.source.set(relPath("deploy.txt"), "v9");
  const answer = r.d.wait({ timeoutMs: 5000 });
  await r.clock.tick(100);
  const a = await answer;
  assert.deepEqual(a, { ok: true, targets: 2, behind: [], paused: [] });
  assert.equal(r.target(K1)["deploy.txt"], "v9");
  assert.equal(r.target(K2)["deploy.txt"], "v9");
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", targets: [K1, K2] }, "a full plan, not the paths of events seen");
  r.ac.abort();
  await r.d.done;
});

test("wait times out naming the target still behind and why; --target narrows it; a bad selection is one line", async () => {
  const r = rig();
  await r.d.ready;
  r.engine.down.add(K2);
  r.engine.source.set(relPath("new.txt"), "n");
  const answer = r.d.wait({ timeoutMs: 3000 });
  for (let i = 0; i < 40; i++) await r.clock.tick(100);
  const a = await answer;
  assert.equal(a.ok, false);
  assert.equal(a.behind.length, 1);
  assert.equal(a.behind[0]!.target, K2);
  assert.match(a.behind[0]!.why, /^unreachable: www-02:\/var\/www\/site: connect ECONNREFUSED \(retry at /);
  const only = r.d.wait({ timeoutMs: 3000, targets: ["www-01"] });
  await r.clock.tick(100);
  assert.deepEqual(await only, { ok: true, targets: 1, behind: [], paused: [] });
  assert.equal((await r.d.wait({ timeoutMs: 1, syncs: ["nope"] })).error, "no sync nope in tsync.yaml");
  assert.equal((await r.d.wait({ timeoutMs: 1, targets: ["www-09"] })).error, "no target of the selected syncs is on www-09 in tsync.yaml");
  r.ac.abort();
  await r.d.done;
});

test("pause holds one target back while the other proceeds; status says paused since when and how far behind; resume catches up with one full plan", async () => {
  const store = memoryPauses();
  const r = rig({ pauses: store });
  await r.d.ready;
  assert.deepEqual(await r.d.pause("www-02"), { ok: true, targets: [K2] });
  assert.deepEqual(Object.keys(store.saved), ["www-02"]);
  assert.equal((await r.d.pause("www-09")).error, 'no target is on "www-09" in tsync.yaml (name a host, HOST:/path, or a local target\'s path)');
  r.engine.source.set(relPath("a.txt"), "A");
  r.engine.source.set(relPath("b.txt"), "B");
  r.watchers[0]!.emit("a.txt", "b.txt");
  await r.clock.tick(100);
  assert.equal(r.target(K1)["a.txt"], "A");
  assert.equal(r.target(K2)["a.txt"], undefined, "nothing sent to the paused target");
  const t2 = r.d.status().syncs[0]!.targets[1]!;
  assert.equal(t2.state, "paused");
  assert.equal(t2.pausedSince, "2026-01-01T00:00:00.000Z");
  assert.equal(t2.pendingEvents, 2);
  assert.ok(allInSync(r.d.status()), "paused on purpose is not a failure (as /healthz)");
  // wait does not wait for a paused target, and says so.
  const w = r.d.wait({ timeoutMs: 1000 });
  await r.clock.tick(100);
  assert.deepEqual(await w, { ok: true, targets: 1, behind: [], paused: [{ sync: "site", target: K2, since: "2026-01-01T00:00:00.000Z" }] });
  assert.equal((await r.d.resume("www-03")).error, '"www-03" is not paused (paused: www-02)');
  assert.deepEqual(await r.d.resume("www-02"), { ok: true, targets: [K2] });
  await r.clock.tick(0);
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", targets: [K2] });
  assert.equal(r.target(K2)["b.txt"], "B");
  const back = r.d.status().syncs[0]!.targets[1]!;
  assert.equal(back.state, "in-sync");
  assert.equal(back.pendingEvents, undefined);
  assert.deepEqual(store.saved, {});
  r.ac.abort();
  await r.d.done;
});

test("a pause survives a restart: the new daemon's initial apply leaves the target alone", async () => {
  const r = rig({ pauses: memoryPauses({ [K2]: "2025-12-31T23:00:00.000Z" }) });
  r.engine.source.set(relPath("late.txt"), "L");
  await r.d.ready;
  assert.deepEqual(r.engine.plans()[0], { op: "plan", targets: [K1] });
  assert.equal(r.target(K2)["late.txt"], undefined);
  assert.equal(r.d.status().syncs[0]!.targets[1]!.state, "paused");
  assert.equal(r.d.status().syncs[0]!.targets[1]!.pausedSince, "2025-12-31T23:00:00.000Z");
  // A retry or an audit does not touch it either.
  await r.crons[0]!.run();
  assert.deepEqual(r.engine.plans().at(-1), { op: "plan", targets: [K1] });
  r.ac.abort();
  await r.d.done;
});

test("status is honest: events not yet applied make a target syncing (not in sync), with how many and since when", async () => {
  const r = rig();
  await r.d.ready;
  r.engine.source.set(relPath("x.txt"), "x");
  r.watchers[0]!.emit("x.txt");
  await r.clock.tick(50);
  const st = r.d.status();
  assert.deepEqual(st.syncs[0]!.targets.map((t) => [t.state, t.pendingEvents, t.behindSince]), [
    ["syncing", 1, "2026-01-01T00:00:00.000Z"],
    ["syncing", 1, "2026-01-01T00:00:00.000Z"],
  ]);
  assert.equal(allInSync(st), false);
  await r.clock.tick(50);
  assert.deepEqual(r.d.status().syncs[0]!.targets.map((t) => [t.state, t.pendingEvents, t.behindSince]), [
    ["in-sync", undefined, undefined],
    ["in-sync", undefined, undefined],
  ]);
  r.ac.abort();
  await r.d.done;
});

test("a reload keeps the last audit and each target's last sync (it used to read \"last audit never\")", async () => {
  const next = makeManifest([makeSync()], "d2");
  const r = rig({ reload: () => next });
  await r.d.ready;
  await r.crons[0]!.run();
  const before = r.d.status().syncs[0]!;
  assert.equal(before.lastAudit!.result, "in-sync");
  assert.equal(await r.d.reload(), true);
  const after = r.d.status().syncs[0]!;
  assert.deepEqual(after.lastAudit, before.lastAudit);
  assert.ok(after.targets.every((t) => t.lastSyncAt !== undefined));
  r.ac.abort();
  await r.d.done;
});
