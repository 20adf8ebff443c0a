// The watch daemon's view of the reconciler: the same planner and apply as `tsync plan`/`apply`.
import type { Manifest } from "./manifest/model.js";
import type { Fleet } from "./fleet.js";
import type { SyncEngine } from "./watch/engine.js";
import { planSyncTargets } from "./plan-run.js";
import { applyTarget } from "./apply-run.js";

export function createSyncEngine(manifest: Manifest, fleet: Fleet, signal?: AbortSignal): SyncEngine {
  return {
    plan: (sync, opts) =>
      planSyncTargets(sync, fleet, {
        ...(opts.only ? { only: opts.only } : {}),
        ...(opts.targets ? { locations: opts.targets } : {}),
        deep: opts.deep ?? false,
        ...(signal ? { signal } : {}),
      }),
    apply: async (tp) => {
      const o = await applyTarget(manifest, fleet, tp, signal ? { signal } : {});
      const ok = o.status === "applied" || o.status === "in-sync";
      return { ok, applied: o.applied, bytes: o.bytes, ...(o.error ? { error: o.error } : {}) };
    },
  };
}
