// Carries a Plan out: each target in parallel (bounded by maxProcesses), content before nginx, one
// target's failure never stopping the others. Results, not exceptions.
import type { Location, Manifest, Sync } from "../model/manifest.js";
import { formatLocation } from "../model/manifest.js";
import type { Plan, TargetPlan, NginxPlan } from "../model/plan.js";
import type { Change } from "../model/change.js";
import type { ApplyProblem, ContentSource } from "../transport/types.js";
import { sendCounts, sharedContent } from "./shared-content.js";
import type { Fleet } from "./fleet.js";
import { applyNginx, planNginx } from "../nginx/deploy.js";
import { downHosts } from "../nginx/routing.js";
import { planSyncTargets, statesAfterApply } from "./plan-run.js";
import { isImplied, visibleChanges, worstHostStates, type TargetState } from "../model/plan.js";
import { checkJustified, checkSourceUnchanged, checkTargetUnchanged } from "./stale.js";
import { TransportError, errorHint, errorMessage } from "../model/errors.js";
import { displayPath, ROOT, type RelPath } from "../model/paths.js";
import { escapeText } from "../model/text.js";
import { probeTarget } from "./target-root.js";
import { landed, runHooks, type HookOutcome } from "./hooks.js";

/**
 * `problems`: every planned change is applied (or none was needed) but the target has problems apply
 * cannot fix (an unreadable path, a FIFO where the source has a file): not in sync, so not ok.
 * `failed` also covers a bug in tsync itself ("internal error"), which is never called unreachable.
 */
export type ApplyStatus = "in-sync" | "applied" | "partial" | "refused" | "stale" | "unreachable" | "failed" | "problems";

export interface TargetOutcome {
  readonly plan: TargetPlan;
  readonly status: ApplyStatus;
  readonly applied: number;
  readonly bytes: number;
  readonly problems: readonly ApplyProblem[];
  /** One line naming host, path and cause. */
  readonly error?: string;
  /** What to do about `error` when known (from the plan, or from the error apply met). */
  readonly hint?: string;
  /** The onChange hooks run after the changes landed; any not ok makes the apply not ok. */
  readonly hooks?: readonly HookOutcome[];
}

export interface NginxOutcome {
  readonly status: "unchanged" | "applied" | "failed" | "refused";
  readonly plan?: NginxPlan;
  readonly error?: string;
}

export interface ApplyReport {
  readonly targets: readonly TargetOutcome[];
  readonly nginx?: NginxOutcome;
  /** Every target converged (or was already in sync) and nginx, if any, is in place. */
  readonly ok: boolean;
}

export interface RunApplyOptions {
  /**
   * The plan came from a file: every target must be one of the manifest's, and every change one that a
   * fresh plan (made as the saved one was: `deep` as it says) makes too, before anything is touched.
   */
  readonly saved?: { readonly deep: boolean };
  /** Lift maxDelete for the fresh plan a saved one is checked against (apply --allow-mass-delete). */
  readonly allowMassDelete?: boolean;
  readonly onProgress?: (tp: TargetPlan, change: Change, bytes: number) => void;
  readonly signal?: AbortSignal;
}

function outcome(plan: TargetPlan, status: ApplyStatus, error?: string, hint?: string): TargetOutcome {
  return { plan, status, applied: 0, bytes: 0, problems: [], ...(error ? { error } : {}), ...(hint !== undefined ? { hint } : {}) };
}

/** What the plan found and no apply can change, as one line; undefined when there is none. */
function unresolved(tp: TargetPlan, where: string): string | undefined {
  const first = tp.problems[0];
  if (!first) return undefined;
  const n = tp.problems.length;
  return `${where}: ${n} path${n === 1 ? "" : "s"} apply cannot fix; first: ${first.side} ${displayPath(first.path || ("." as RelPath))}: ${escapeText(first.error)}`;
}

const sameLocation = (a: Location, b: Location) => a.host === b.host && a.path === b.path;

/** A plan of these saved targets of one sync made now, the way `plan --out` made the saved one. */
function planFresh(sync: Sync, fleet: Fleet, locations: readonly Location[], opts: RunApplyOptions): Promise<TargetPlan[]> {
  return planSyncTargets(sync, fleet, {
    locations,
    deep: opts.saved?.deep ?? false,
    hashContent: true,
    allowMassDelete: opts.allowMassDelete ?? false,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

/**
 * `fresh`: the plan this saved target is checked against, when the caller made it for several
 * targets at once (one source scan per sync); made here otherwise. `content`: the sync's source
 * content shared by the targets applied together (sharedContent); the source's own otherwise.
 */
export async function applyTarget(manifest: Manifest, fleet: Fleet, tp: TargetPlan, opts: RunApplyOptions = {}, fresh?: Promise<TargetPlan | undefined>, content?: ContentSource): Promise<TargetOutcome> {
  const where = formatLocation(tp.target);
  const sync = manifest.syncs.find((x) => x.name === tp.sync);
  // A saved plan names its own targets: only the manifest's may be touched (the digest binds the
  // manifest, not the plan's targets to it).
  if (!sync || !sync.targets.some((t) => sameLocation(t, tp.target)))
    return outcome(tp, "refused", `${where}: refused, not a target of sync ${escapeText(tp.sync)} in ${manifest.file}; nothing was changed on this target`);
  if (tp.state === "unreachable") return outcome(tp, "unreachable", tp.error ?? `${where}: unreachable`, tp.hint);
  if (tp.refused) return outcome(tp, "refused", `${where}: ${tp.refused}`);
  if (tp.changes.length === 0) {
    const left = unresolved(tp, where);
    return left ? outcome(tp, "problems", left) : outcome(tp, "in-sync");
  }
  try {
    const source = fleet.transport(sync.source.host);
    const target = fleet.transport(tp.target.host);
    // A symlinked root is resolved again (once per connection) and must lead where the plan's did.
    const probe = await probeTarget(target, sync, tp.target, opts.signal);
    const planned = tp.root ?? tp.target.path;
    if (probe.path !== planned)
      return outcome(tp, "stale", `${where}: refused, the target root now leads to ${probe.path}, the plan was made for ${planned}; nothing was changed on this target (plan again)`);
    if (opts.saved) {
      let moved: string | undefined;
      let now: TargetPlan | undefined;
      try {
        moved =
          (await checkSourceUnchanged(source, sync, tp.changes, opts.signal)) ??
          (await checkTargetUnchanged(target, sync, probe.path, tp.changes, opts.signal));
        now = moved ? undefined : await (fresh ?? planFresh(sync, fleet, [tp.target], opts).then((f) => f[0]));
      } catch (err) {
        // A host that cannot be reached is named by its TransportError; anything else (a local hash
        // failure) must still say which target it stopped, and is not "unreachable".
        if (err instanceof TransportError) throw err;
        return outcome(tp, "failed", `${where}: cannot re-check the saved plan, nothing was changed on this target: ${errorMessage(err)}`);
      }
      if (moved) return outcome(tp, "stale", `${where}: refused, ${moved}; nothing was changed on this target (plan again)`);
      if (!now || now.state === "unreachable") return outcome(tp, "unreachable", now?.error ?? `${where}: unreachable`);
      if (now.refused) return outcome(tp, "refused", `${where}: ${now.refused}`);
      const unjustified = checkJustified(tp.changes, now.changes);
      if (unjustified) return outcome(tp, "stale", `${where}: refused, ${unjustified}; nothing was changed on this target (plan again)`);
    }
    // Counted as the plan counts them (implied touches of parents are not shown there).
    let shownDone = 0;
    const result = await fleet.limit(() =>
      target.apply(probe.path, tp.changes, content ?? source.contentSource(sync.source.path), {
        onProgress: (c: Change, b: number) => {
          if (!isImplied(c)) shownDone++;
          opts.onProgress?.(tp, c, b);
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
    );
    const left = unresolved(tp, where);
    const status: ApplyStatus = result.problems.length === 0 ? (left ? "problems" : "applied") : result.applied > 0 ? "partial" : "failed";
    const first = result.problems[0];
    const error = first
      ? `${where}: ${visibleChanges(tp.changes).length - shownDone} of ${visibleChanges(tp.changes).length} change(s) not applied (${shownDone} done); first: ${first.kind} ${first.path === ROOT ? "./" : displayPath(first.path)}: ${first.message}`
      : left;
    // Hooks follow what landed; a batch that landed nothing runs none.
    const done = result.applied > 0 ? landed(tp.changes, result.problems.map((p) => p.path)) : [];
    const hooks = await runHooks(sync, tp.target, target, done, opts.signal);
    return { plan: tp, status, applied: result.applied, bytes: result.bytes, problems: result.problems, ...(error ? { error } : {}), ...(hooks.length ? { hooks } : {}) };
  } catch (err) {
    // Only a transport failure means the host is unreachable (and gets retried as such); anything
    // else thrown here is a bug in tsync, and calling it "unreachable" would send someone to the network.
    if (err instanceof TransportError) return outcome(tp, "unreachable", errorMessage(err), errorHint(err).hint);
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return outcome(tp, "failed", `${where}: internal error (a bug in tsync, please report it): ${what.split("\n")[0]}`);
  }
}

function stateAfter(o: TargetOutcome): TargetState {
  if (o.status === "unreachable") return "unreachable";
  // Problems leave routing as a plan of that target predicts it (statesAfterApply): a source-side
  // problem is on every target, and drifted: down must not take them all out of the upstream for it.
  return o.status === "in-sync" || o.status === "applied" || o.status === "problems" ? "in-sync" : "drifted";
}

async function applyNginxStep(manifest: Manifest, fleet: Fleet, plan: Plan, outcomes: readonly TargetOutcome[], saved: boolean): Promise<NginxOutcome | undefined> {
  const settings = manifest.nginx;
  if (!settings || !plan.nginx) return undefined;
  const transport = fleet.transport(settings.host);
  try {
    let np: NginxPlan;
    if (saved) {
      // Exactly what was planned (loadSavedPlan checked it is what the manifest renders:
      // nginxAsRendered), provided the file on the host is still what the plan saw.
      const now = await planNginx(manifest, transport, downHosts(settings, statesAfterApply(plan.targets)).down);
      if (now.error !== undefined) return { status: "failed", plan: now, error: `nginx ${settings.path}: ${now.error}` };
      if ((now.before ?? null) !== (plan.nginx.before ?? null)) {
        return { status: "refused", error: `nginx ${settings.path}: refused, the file changed since the plan` };
      }
      np = { ...plan.nginx };
    } else {
      // Routing follows what actually converged, not what was hoped for.
      const states = worstHostStates(outcomes.map((o) => [o.plan.target.host, stateAfter(o)] as const));
      np = await planNginx(manifest, transport, downHosts(settings, states).down);
    }
    // planNginx reports a file it cannot read as an error with changed: false; that is not "unchanged".
    if (np.error !== undefined) return { status: "failed", plan: np, error: `nginx ${settings.path}: ${np.error}` };
    if (!np.changed) return { status: "unchanged", plan: np };
    const r = await applyNginx(np, settings, transport);
    return r.ok ? { status: "applied", plan: np } : { status: "failed", plan: np, error: `nginx ${settings.path}: ${r.error}` };
  } catch (err) {
    return { status: "failed", error: `nginx ${settings.path}: ${errorMessage(err)}` };
  }
}

/** For a saved plan: one fresh plan per sync, of the saved targets that sync really has. */
function freshPlans(manifest: Manifest, fleet: Fleet, plan: Plan, opts: RunApplyOptions): (tp: TargetPlan) => Promise<TargetPlan | undefined> | undefined {
  const bySync = new Map<string, Promise<TargetPlan[]>>();
  for (const sync of manifest.syncs) {
    const locations = sync.targets.filter((t) => plan.targets.some((tp) => tp.sync === sync.name && tp.changes.length > 0 && sameLocation(t, tp.target)));
    // Settled, never rejected: a target that cannot be planned is reported by applyTarget as unreachable.
    if (locations.length > 0) bySync.set(sync.name, planFresh(sync, fleet, locations, opts).catch(() => []));
  }
  return (tp) => bySync.get(tp.sync)?.then((all) => all.find((t) => sameLocation(t.target, tp.target)));
}

export async function applyPlan(manifest: Manifest, fleet: Fleet, plan: Plan, opts: RunApplyOptions = {}): Promise<ApplyReport> {
  const fresh = opts.saved ? freshPlans(manifest, fleet, plan, opts) : undefined;
  // Each source file is read once for all the targets of its sync that get it.
  const shared = new Map<string, ContentSource>();
  for (const sync of manifest.syncs) {
    const tps = plan.targets.filter((tp) => tp.sync === sync.name && tp.changes.length > 0);
    if (tps.length > 1) shared.set(sync.name, sharedContent(fleet.transport(sync.source.host).contentSource(sync.source.path), sendCounts(tps.flatMap((tp) => tp.changes))));
  }
  const targets = await Promise.all(plan.targets.map((tp) => applyTarget(manifest, fleet, tp, opts, fresh?.(tp), shared.get(tp.sync))));
  const nginx = await applyNginxStep(manifest, fleet, plan, targets, opts.saved !== undefined);
  const ok =
    targets.every((t) => (t.status === "in-sync" || t.status === "applied") && !t.hooks?.some((h) => !h.ok)) &&
    (!nginx || nginx.status === "unchanged" || nginx.status === "applied");
  return { targets, ...(nginx ? { nginx } : {}), ok };
}
