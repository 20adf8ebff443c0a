// The one summary line every view of a plan ends with (SPEC §2), so human, Markdown and CI logs agree:
//   Plan: 12 to add, 3 to change, 1 to delete on 4 targets; nginx config changes.
//   No changes. 4 targets in sync.
// "on N targets" counts the targets that would change; "in sync" counts those that match.
import { inSync, type Plan } from "../model/plan.js";

function targets(n: number): string {
  return `${n} target${n === 1 ? "" : "s"}`;
}

/** Trailing clauses: nginx, unreachable and refused targets, paths apply cannot fix. */
function notes(plan: Plan): string[] {
  const s = plan.summary;
  const out: string[] = [];
  if (s.nginxChanged) out.push("nginx config changes");
  if (plan.nginx?.error !== undefined) out.push("nginx config could not be rendered or read");
  // A target left unplanned because its source failed was never contacted: not "unreachable".
  const unplanned = plan.targets.filter((t) => t.cause === "source").length;
  if (s.unreachable > unplanned) out.push(`${s.unreachable - unplanned} unreachable`);
  if (unplanned > 0) out.push(`${targets(unplanned)} not planned: source failed`);
  if (s.refused > 0) out.push(`${s.refused} refused`);
  const problems = plan.targets.reduce((n, t) => n + t.problems.length, 0);
  if (problems > 0) out.push(`${problems} path${problems === 1 ? "" : "s"} apply cannot fix on ${targets(s.problems)}`);
  return out;
}

export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const tail = notes(plan);
  const rest = tail.length > 0 ? `; ${tail.join("; ")}` : "";
  if (s.add + s.change + s.delete > 0 || s.nginxChanged) {
    return `Plan: ${s.add} to add, ${s.change} to change, ${s.delete} to delete${s.drifted > 0 ? ` on ${targets(s.drifted)}` : ""}${rest}.`;
  }
  return `No changes. ${targets(plan.targets.filter(inSync).length)} in sync${rest}.`;
}
