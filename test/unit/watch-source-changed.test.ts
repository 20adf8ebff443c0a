// A file still being written on the source when a batch sends it (an upload in progress) is not a
// target failure: the path is planned again in the next batch, the target is never marked failed and
// no backoff retry (a full plan of the whole tree) is scheduled.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Change } from "../../reconciler/model/change.js";
import { formatLocation, type Location, type Manifest, type Sync } from "../../reconciler/model/manifest.js";
import type { TargetPlan } from "../../reconciler/model/plan.js";
import { relPath, type RelPath } from "../../reconciler/model/paths.js";
import { FakeClock, flushMicrotasks } from "../../reconciler/watch/clock.js";
import { runDaemon, type WatchSource } from "../../reconciler/watch/daemon.js";
import type { EngineApplyResult, SyncEngine } from "../../reconciler/watch/engine.js";
import type { SourceWatcherHooks } from "../../reconciler/watch/source-watcher.js";
import type { StatusDoc } from "../../reconciler/watch/status.js";

const T1: Location = { host: "www-01", path: "/var/www/site" };
const T2: Location = { host: "www-02", path: "/var/www/site" };
const upload = relPath("uploads/big.mp4");

function sync(): Sync {
  return {
    name: "site",
    source: { path: "/src/site" },
    targets: [T1, T2],
    rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
    delayMs: 1000,
    audit: {},
    onDrift: "heal",
  };
}

test("a source file that changes during its transfer is queued again, the target stays healthy", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const plans: { only?: readonly RelPath[]; targets: string[] }[] = [];
  let growing = true;
  const engine: SyncEngine = {
    async plan(s, opts) {
      const locs = opts.targets ?? s.targets;
      plans.push({ ...(opts.only ? { only: opts.only } : {}), targets: locs.map(formatLocation) });
      const changes: Change[] = opts.only ? [{ kind: "create", path: upload, after: { kind: "file", size: 10, mtimeMs: 0, mode: 0o644 } }] : [];
      return locs.map((target): TargetPlan => ({ sync: s.name, target, state: changes.length ? "drifted" : "in-sync", changes, problems: [] }));
    },
    async apply(): Promise<EngineApplyResult> {
      if (growing) return { ok: false, applied: 0, bytes: 0, error: "create uploads/big.mp4: source changed", sourceChanged: [upload] };
      return { ok: true, applied: 1, bytes: 10 };
    },
  };
  let hooks: SourceWatcherHooks | undefined;
  const watcher: WatchSource = { mode: "inotify", reason: "", start: async () => {}, listen: (h) => void (hooks = h), close: async () => {} };
  const docs: StatusDoc[] = [];
  const logs: string[] = [];
  const ac = new AbortController();
  const manifest: Manifest = { file: "tsync.yaml", digest: "d", settings: { maxProcesses: 5, statusFile: "/s" }, hosts: new Map(), syncs: [sync()], nginx: undefined as never };
  const d = runDaemon({
    manifest,
    engine,
    signal: ac.signal,
    clock,
    log: (l, m) => logs.push(`${l} ${m}`),
    matcherFor: () => () => false,
    random: () => 0,
    schedule: () => ({ stop() {} }),
    watchSource: () => watcher,
    writeStatus: async (_f, data) => void docs.push(JSON.parse(data) as StatusDoc),
  });
  await d.ready;
  hooks!.event(upload);
  await clock.advance(1000);
  await flushMicrotasks();
  assert.deepEqual(plans.map((p) => p.only), [undefined, [upload]]);
  let st = d.status().syncs[0]!;
  assert.deepEqual(st.targets.map((t) => t.state), ["syncing", "syncing"]);
  assert.deepEqual(st.targets.map((t) => t.failures), [0, 0], "no failure counted, no backoff retry");
  assert.equal(st.pendingEvents, 1, "the path waits for the next batch");
  assert.ok(logs.some((l) => /^info .*changed on the source during the transfer \(uploads\/big\.mp4\)/.test(l)), logs.join("\n"));

  growing = false;
  await clock.advance(1000);
  await flushMicrotasks();
  assert.deepEqual(plans.map((p) => p.only), [undefined, [upload], [upload]], "planned again as a live batch, not a full plan");
  st = d.status().syncs[0]!;
  assert.deepEqual(st.targets.map((t) => t.state), ["in-sync", "in-sync"]);
  ac.abort();
  await d.done;
});
