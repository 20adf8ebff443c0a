// The whole plan → apply contract, as data. Renderers (human, JSON, JUnit, Markdown) read this one
// structure; `apply` consumes it; a saved plan is its JSON form (views/plan-json.ts).
import { changeBucket, type Change } from "./change.js";
import { formatLocation, type Location } from "./manifest.js";
import type { RelPath } from "./paths.js";
import { timesEqual } from "./snapshot.js";

export type TargetState = "in-sync" | "drifted" | "unreachable";

/**
 * How bad a state is, for the one host state nginx routing needs when a host carries several targets:
 * the worst wins. A drifted host still answers (stale content); an unreachable one probably does not.
 */
export const STATE_RANK: Readonly<Record<TargetState, number>> = { "in-sync": 0, drifted: 1, unreachable: 2 };

/** Host name → worst state of its targets; local targets (no host) are left out. */
export function worstHostStates(states: Iterable<readonly [host: string | undefined, state: TargetState]>): Map<string, TargetState> {
  const out = new Map<string, TargetState>();
  for (const [host, state] of states) {
    if (host === undefined) continue;
    const prev = out.get(host);
    if (prev === undefined || STATE_RANK[state] > STATE_RANK[prev]) out.set(host, state);
  }
  return out;
}

export interface TargetPlan {
  readonly sync: string;
  readonly target: Location;
  /** Where a symlinked target root led when planned (followRoot): apply refuses if it leads elsewhere. */
  readonly root?: string;
  readonly state: TargetState;
  /** Ordered, as the planner emitted them. Empty when unreachable. */
  readonly changes: readonly Change[];
  /** Why the target is unreachable, or why its plan cannot be applied. One line, names the host. */
  readonly error?: string;
  /** What to do about `error` when known (a changed host key: the `ssh-keygen -R` command). */
  readonly hint?: string;
  /** "source": the target was never contacted because the sync's source could not be read (`error` says why, the same for every target of the sync). */
  readonly cause?: "source";
  /** Set when a safety check refuses this target's plan (maxDelete); apply will not touch it. */
  readonly refused?: string;
  /** Paths that could not be read on either side: reported, never acted on. */
  readonly problems: readonly { readonly side: "source" | "target"; readonly path: RelPath; readonly error: string }[];
  /** The onChange hooks applying these changes would run, with the changed paths each matched. */
  readonly hooks?: readonly PlannedHook[];
}

export interface PlannedHook {
  readonly run: string;
  readonly paths: readonly RelPath[];
}

/** The target as shown: its location, and where a symlinked root led ("www-01:/var/www/current → /var/www/releases/2"). */
export function targetLabel(t: Pick<TargetPlan, "target" | "root">): string {
  return t.root === undefined ? formatLocation(t.target) : `${formatLocation(t.target)} → ${t.root}`;
}

export interface NginxPlan {
  readonly host?: string;
  readonly path: string;
  /** Current file content; undefined when the file does not exist. */
  readonly before?: string;
  readonly after: string;
  readonly changed: boolean;
  /** Unified diff of before → after ("" when unchanged). */
  readonly diff: string;
  readonly error?: string;
  /** Rendering warnings (e.g. an upstream no location uses), shown but not fatal. */
  readonly warnings?: readonly string[];
}

export interface PlanSummary {
  readonly add: number;
  readonly change: number;
  readonly delete: number;
  readonly targets: number;
  readonly drifted: number;
  readonly unreachable: number;
  readonly refused: number;
  /** Targets with problems (paths that cannot be read or replicated): apply cannot fix them. */
  readonly problems: number;
  readonly nginxChanged: boolean;
}

export interface Plan {
  readonly manifestFile: string;
  readonly manifestDigest: string;
  /** ISO 8601 time the plan was made. */
  readonly createdAt: string;
  /** Content hashes were compared for every file. */
  readonly deep: boolean;
  readonly targets: readonly TargetPlan[];
  readonly nginx?: NginxPlan;
  readonly summary: PlanSummary;
}

/**
 * `state` says what apply would change; a target with problems is not in sync even with nothing to
 * change (SPEC §4, never silent): an unreadable directory or a FIFO stays wrong after every apply.
 */
export function inSync(t: TargetPlan): boolean {
  return t.state === "in-sync" && t.problems.length === 0;
}

/**
 * A touch that only restores a directory's current time after apply writes into it: bookkeeping that
 * apply needs, but not a difference worth showing or counting.
 */
export function isImplied(c: Change): boolean {
  return c.kind === "touch" && c.before.kind !== "problem" && c.after.kind !== "problem" && timesEqual(c.before.mtimeMs, c.after.mtimeMs);
}

/** The changes a user is shown and counted. */
export function visibleChanges(changes: readonly Change[]): Change[] {
  return changes.filter((c) => !isImplied(c));
}

export function summarize(targets: readonly TargetPlan[], nginx?: NginxPlan): PlanSummary {
  let add = 0, change = 0, del = 0, drifted = 0, unreachable = 0, refused = 0, problems = 0;
  for (const t of targets) {
    if (t.state === "drifted") drifted++;
    if (t.state === "unreachable") unreachable++;
    if (t.refused) refused++;
    if (t.problems.length > 0) problems++;
    for (const c of visibleChanges(t.changes)) {
      const b = changeBucket(c);
      if (b === "add") add++;
      else if (b === "change") change++;
      else del++;
    }
  }
  return { add, change, delete: del, targets: targets.length, drifted, unreachable, refused, problems, nginxChanged: nginx?.changed ?? false };
}

/** The key of one change's unified diff (plan --diff) in a map of diffs. */
export function diffKey(t: TargetPlan, path: string): string {
  return `${t.sync}\0${formatLocation(t.target)}\0${path}`;
}
