// The only thing the watch daemon needs from the planner and the transports. The daemon is written
// against this so it can be tested with an in-memory fake and wired to the real engine by cli/.
import type { Sync, Location } from "../model/manifest.js";
import type { TargetPlan } from "../model/plan.js";
import type { RelPath } from "../model/paths.js";
import type { HookOutcome } from "../run/hooks.js";

export interface EngineApplyResult {
  readonly ok: boolean;
  readonly applied: number;
  readonly bytes: number;
  readonly error?: string;
  /**
   * Set when every change that failed did so because its source file no longer matches the plan (a
   * file still being written: an upload in progress). Not a target failure: the daemon plans these
   * paths again in its next batch.
   */
  readonly sourceChanged?: readonly RelPath[];
  /** The onChange hooks run after the changes landed (a failure is reported, never retried). */
  readonly hooks?: readonly HookOutcome[];
}

export interface SyncEngine {
  /** Plan one sync for its targets (all, or `targets`). `only`: limit to these source-relative paths
   *  (a live batch); `deep`: hash every file on both sides (deep audit). Never throws for operational
   *  errors: an unreachable target comes back with state "unreachable" and `error`. */
  plan(sync: Sync, opts: { only?: readonly RelPath[]; deep?: boolean; targets?: readonly Location[] }): Promise<TargetPlan[]>;
  /** Apply one target's plan. Never throws for operational errors. */
  apply(tp: TargetPlan): Promise<EngineApplyResult>;
}
