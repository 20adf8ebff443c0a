// maxDelete: refuse a plan that would delete most of a target — the signature of an empty or
// unmounted source — before anything is touched. Pure; the caller turns a message into a refusal.
import { removes, type Change } from "../model/change.js";
import type { Limit } from "../model/manifest.js";
import { ROOT } from "../model/paths.js";
import type { Snapshot } from "../model/snapshot.js";

/** How many entries `changes` remove (type-change removals included). */
export function countDeletes(changes: readonly Change[]): number {
  let n = 0;
  for (const c of changes) if (removes(c)) n++;
  return n;
}

/**
 * A refusal message when `changes` delete more than `limit` allows, else undefined. A percentage is
 * of the target's entries other than the root (files, directories, symlinks, problems alike).
 */
export function checkMaxDelete(changes: readonly Change[], target: Snapshot, limit: Limit | undefined): string | undefined {
  if (limit === undefined) return undefined;
  const deletes = countDeletes(changes);
  if (deletes === 0) return undefined;
  const total = target.size - (target.has(ROOT) ? 1 : 0);
  const pct = total > 0 ? (deletes / total) * 100 : 100;
  const over = limit.kind === "count" ? deletes > limit.value : pct > limit.value;
  if (!over) return undefined;
  const shown = formatPercent(pct, limit.kind === "percent" ? limit.value : undefined);
  const max = limit.kind === "count" ? String(limit.value) : `${limit.value}%`;
  return (
    `would delete ${deletes} of ${total} entries (${shown}), more than maxDelete ${max}; ` +
    `an empty or unmounted source? use --allow-mass-delete to proceed`
  );
}

/** Whole percent, with as many decimals as it takes for an over-limit figure not to read as the limit. */
function formatPercent(pct: number, limit: number | undefined): string {
  let digits = 0;
  let text = pct.toFixed(0);
  while (limit !== undefined && Number(text) <= limit && digits < 4) text = pct.toFixed(++digits);
  return `${text}%`;
}

/**
 * Without a maxDelete, a source that is empty (only its root) while the target has content is still
 * refused: that is what an unmounted disk or a failed checkout looks like, and it would wipe every node.
 */
export function checkEmptySource(changes: readonly Change[], source: Snapshot, target: Snapshot): string | undefined {
  const sourceEmpty = source.has(ROOT) && source.size === 1;
  const total = target.size - (target.has(ROOT) ? 1 : 0);
  if (!sourceEmpty || total === 0 || countDeletes(changes) === 0) return undefined;
  return `the source is empty but would delete all ${total} entries of the target; an unmounted disk? use --allow-mass-delete to proceed`;
}
