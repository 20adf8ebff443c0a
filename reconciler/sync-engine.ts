// The watch daemon's view of the reconciler: the same planner and apply as `tsync plan`/`apply`.
import type { Manifest, Sync } from "./manifest/model.js";
import type { Fleet } from "./fleet.js";
import type { TargetPlan } from "./plan-model.js";
import type { SyncEngine } from "./watch/engine.js";
import { planSyncTargets } from "./plan-run.js";
import { applyTarget } from "./apply-run.js";
import { checkMaxDelete, countDeletes } from "./safety.js";
import { makeMatcher } from "./ignore.js";
import { errorMessage } from "./errors.js";

/**
 * `manifest` and `fleet` may be getters: after a SIGHUP reload the daemon's new runners plan and
 * apply against the new manifest's syncs and hosts, not the ones the process started with.
 */
export function createSyncEngine(manifest: Manifest | (() => Manifest), fleet: Fleet | (() => Fleet), signal?: AbortSignal): SyncEngine {
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
        ...(signal ? { signal } : {}),
      });
      return partialPercent ? Promise.all(plans.map((tp) => checkWholeTarget(sync, tp, f()))) : plans;
    },
    apply: async (tp) => {
      const o = await applyTarget(m(), f(), tp, signal ? { signal } : {});
      const ok = o.status === "applied" || o.status === "in-sync";
      return { ok, applied: o.applied, bytes: o.bytes, ...(o.error ? { error: o.error } : {}) };
    },
  };

  async function checkWholeTarget(sync: Sync, tp: TargetPlan, fl: Fleet): Promise<TargetPlan> {
    if (tp.state === "unreachable" || tp.refused || countDeletes(tp.changes) === 0) return tp;
    try {
      const t = fl.transport(tp.target.host);
      const whole = await fl.limit(() =>
        t.scan(tp.target.path, { exclude: makeMatcher(sync.rules.exclude), owners: false, hash: "none", ...(signal ? { signal } : {}) }),
      );
      const refused = checkMaxDelete(tp.changes, whole, sync.rules.maxDelete);
      return refused ? { ...tp, refused } : tp;
    } catch (err) {
      return { ...tp, state: "unreachable", changes: [], error: errorMessage(err) };
    }
  }
}
