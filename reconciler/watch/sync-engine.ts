// The watch daemon's view of the reconciler: the same planner and apply as `tsync plan`/`apply`.
import type { Manifest, Sync } from "../model/manifest.js";
import type { Fleet } from "../run/fleet.js";
import type { TargetPlan } from "../model/plan.js";
import type { SyncEngine } from "./engine.js";
import { planSyncTargets } from "../run/plan-run.js";
import { applyTarget } from "../run/apply-run.js";
import { checkMaxDelete, countDeletes } from "../core/safety.js";
import { makeMatcher } from "../core/ignore.js";
import { errorMessage } from "../model/errors.js";
import type { RelPath } from "../model/paths.js";
import type { FileEntry } from "../model/snapshot.js";
import { writesFile } from "../model/change.js";

/**
 * `manifest` and `fleet` may be getters: after a SIGHUP reload the daemon's new runners plan and
 * apply against the new manifest's syncs and hosts, not the ones the process started with.
 */
export function createSyncEngine(manifest: Manifest | (() => Manifest), fleet: Fleet | (() => Fleet), signal?: AbortSignal, warn?: (message: string) => void): SyncEngine {
  const m = typeof manifest === "function" ? manifest : () => manifest;
  const f = typeof fleet === "function" ? fleet : () => fleet;
  return {
    plan: async (sync, opts) => {
      const limit = sync.rules.maxDelete;
      // A live batch sees only the touched paths, so a percentage of *that* snapshot would refuse an
      // ordinary `rm -r dir` (all of the batch's entries). Judge it against the whole target instead.
      const partialPercent = opts.only !== undefined && limit?.kind === "percent";
      const plans = await planSyncTargets(sync, f(), {
        ...(opts.only ? { only: opts.only } : {}),
        ...(opts.targets ? { locations: opts.targets } : {}),
        deep: opts.deep ?? false,
        ...(partialPercent ? { allowMassDelete: true } : {}),
        ...(warn ? { onWarning: (msg: string) => warn(`sync ${sync.name}: ${msg}`) } : {}),
        ...(signal ? { signal } : {}),
      });
      return partialPercent ? Promise.all(plans.map((tp) => checkWholeTarget(sync, tp, f()))) : plans;
    },
    apply: async (tp) => {
      const o = await applyTarget(m(), f(), tp, signal ? { signal } : {});
      // Problems are not a failure to retry with backoff: the runner reports them from the plan.
      const ok = o.status === "applied" || o.status === "in-sync" || o.status === "problems";
      const moved = ok ? [] : await sourceMoved(tp, o.problems.map((p) => p.path));
      return {
        ok,
        applied: o.applied,
        bytes: o.bytes,
        ...(o.error ? { error: o.error } : {}),
        ...(moved.length ? { sourceChanged: moved } : {}),
        ...(o.hooks ? { hooks: o.hooks } : {}),
      };
    },
  };

  /** All of `failed` when each is a file the plan sends whose source no longer matches the plan, else []. */
  async function sourceMoved(tp: TargetPlan, failed: readonly RelPath[]): Promise<RelPath[]> {
    if (failed.length === 0) return [];
    const sync = m().syncs.find((s) => s.name === tp.sync);
    if (!sync) return [];
    const planned = new Map<RelPath, FileEntry>();
    for (const c of tp.changes) if (writesFile(c)) planned.set(c.path, c.after);
    if (!failed.every((p) => planned.has(p))) return [];
    try {
      const src = f().transport(sync.source.host);
      const now = await src.scan(sync.source.path, { exclude: makeMatcher(sync.rules.exclude), owners: false, hash: "none", only: failed, ...(signal ? { signal } : {}) });
      const moved = failed.filter((p) => {
        const e = now.get(p);
        const want = planned.get(p)!;
        return e?.kind !== "file" || e.size !== want.size || e.mtimeMs !== want.mtimeMs;
      });
      return moved.length === failed.length ? [...failed] : [];
    } catch {
      return [];
    }
  }

  async function checkWholeTarget(sync: Sync, tp: TargetPlan, fl: Fleet): Promise<TargetPlan> {
    if (tp.state === "unreachable" || tp.refused || countDeletes(tp.changes) === 0) return tp;
    try {
      const t = fl.transport(tp.target.host);
      const whole = await fl.limit(() =>
        t.scan(tp.root ?? tp.target.path, { exclude: makeMatcher(sync.rules.exclude), owners: false, hash: "none", ...(signal ? { signal } : {}) }),
      );
      const refused = checkMaxDelete(tp.changes, whole, sync.rules.maxDelete);
      return refused ? { ...tp, refused } : tp;
    } catch (err) {
      return { ...tp, state: "unreachable", changes: [], error: errorMessage(err) };
    }
  }
}
