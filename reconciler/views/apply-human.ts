// The human view of an apply's outcome: one line per target, the nginx step, and the verdict. Returns
// text; only cli/ writes it. Errors embed text from targets (stderr, names) and are printed escaped.
import type { ApplyReport, TargetOutcome } from "../run/apply-run.js";
import { targetLabel, visibleChanges } from "../model/plan.js";
import { escapeText } from "../model/text.js";
import { formatBytes } from "./change-line.js";
import { painter } from "./plan-human.js";

type Paint = ReturnType<typeof painter>;

function hookLines(o: TargetOutcome, paint: Paint): string[] {
  return (o.hooks ?? []).map((h) =>
    h.ok ? `  ran: ${escapeText(h.run)} ${paint("green", "ok")}` : `  ${paint("red", "hook failed")}: ${escapeText(h.error ?? "")}`,
  );
}

function outcomeLine(o: TargetOutcome, paint: Paint): string {
  const head = `${o.plan.sync}: ${escapeText(targetLabel(o.plan))}`;
  switch (o.status) {
    case "in-sync":
      return `${head} ${paint("green", "in sync")}`;
    case "applied":
      // The count the plan showed (directory time restorations are bookkeeping, not changes).
      return `${head} ${paint("green", "applied")} ${visibleChanges(o.plan.changes).length} change(s), ${formatBytes(o.bytes)} sent`;
    default:
      return `${head} ${paint("red", o.status)}: ${escapeText(o.error ?? "")}` + (o.hint !== undefined ? `\n  hint: ${escapeText(o.hint)}` : "");
  }
}

/** A sync whose source could not be read: its error once, with the targets it left alone (as the plan shows it). */
function sourceFailureLines(o: TargetOutcome, all: readonly TargetOutcome[], paint: Paint): string[] {
  const same = all.filter((x) => x.plan.sync === o.plan.sync && x.plan.cause === "source" && x.status === "unreachable");
  if (same[0] !== o) return [];
  return [`${o.plan.sync}: ${paint("red", "error")}: ${escapeText(o.error ?? "")}`, `  not applied: ${same.map((x) => escapeText(targetLabel(x.plan))).join(", ")}`];
}

export function renderApplyHuman(report: ApplyReport, opts: { readonly color: boolean; readonly nginxPath?: string }): string {
  const paint = painter(opts.color);
  const lines = report.targets.flatMap((o) =>
    o.plan.cause === "source" && o.status === "unreachable" ? sourceFailureLines(o, report.targets, paint) : [outcomeLine(o, paint), ...hookLines(o, paint)],
  );
  const n = report.nginx;
  if (n) {
    const bad = n.status === "failed" || n.status === "refused";
    lines.push(`nginx ${opts.nginxPath ?? ""} ${bad ? paint("red", n.status) + ": " + escapeText(n.error ?? "") : paint("green", n.status)}`);
  }
  lines.push(report.ok ? paint("bold", "Apply complete.") : paint("red", "Apply finished with errors (see above)."));
  return lines.join("\n") + "\n";
}
