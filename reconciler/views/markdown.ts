// Markdown for a CI job summary (e.g. $GITHUB_STEP_SUMMARY): a table of every sync × target, then a
// collapsed <details> per target that needs attention, the nginx diff, and the same summary line as
// the human view. Every name is escaped for its context (table cell, HTML, code block).
import type { Plan, TargetPlan, NginxPlan } from "../model/plan.js";
import { formatLocation } from "../model/manifest.js";
import { displayPath } from "../model/paths.js";
import { changeLines, countChanges, formatCounts } from "./change-line.js";
import { fenced, htmlText, mdCell } from "./escape.js";
import { summaryLine } from "./summary.js";

export interface MarkdownOptions {
  /** Change lines per target before "... and N more". */
  readonly maxLines?: number;
  /** Heading text; default "tsync plan". */
  readonly title?: string;
}

function state(t: TargetPlan): string {
  if (t.state === "unreachable") return t.cause === "source" ? "❌ source failed" : "❌ unreachable";
  if (t.refused !== undefined) return "⛔ refused";
  if (t.state === "drifted") return "⚠️ drifted";
  return t.problems.length > 0 ? "❌ problems" : "✅ in sync";
}

function row(cells: readonly (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

function details(summary: string, body: string): string {
  return `<details><summary>${htmlText(summary)}</summary>\n\n${body}\n\n</details>`;
}

function targetDetails(t: TargetPlan, maxLines: number): string | undefined {
  const where = `${t.sync} → ${formatLocation(t.target)}`;
  const problems = t.problems.map((p) => `! unreadable on ${p.side}: ${p.path === "" ? "." : displayPath(p.path)}: ${p.error}`);
  if (t.state === "unreachable") return details(`${where}: ${t.cause === "source" ? "not planned, source failed" : "unreachable"}`, fenced(t.error ?? "unreachable", "text"));
  if (t.state === "in-sync" && problems.length === 0) return undefined;
  const counts = formatCounts(countChanges(t.changes));
  const head = t.refused !== undefined ? `${where}: refused (${counts})` : t.state === "drifted" ? `${where}: ${counts}` : `${where}: problems apply cannot fix`;
  const lines = [...(t.refused !== undefined ? [`refused: ${t.refused}`] : []), ...changeLines(t.changes, maxLines), ...problems];
  return details(head, fenced(lines.join("\n"), "text"));
}

function nginxState(n: NginxPlan): string {
  if (n.error !== undefined) return "❌ error";
  if (!n.changed) return "✅ unchanged";
  return n.before === undefined ? "⚠️ to create" : "⚠️ changes";
}

function nginxDetails(n: NginxPlan): string | undefined {
  const where = n.host === undefined ? n.path : `${n.host}:${n.path}`;
  if (n.error !== undefined) return details(`nginx → ${where}: error`, fenced(n.error, "text"));
  if (!n.changed) return undefined;
  return details(`nginx → ${where}: ${n.before === undefined ? "new file" : "config changes"}`, fenced(n.diff, "diff"));
}

export function renderMarkdown(plan: Plan, opts: MarkdownOptions = {}): string {
  const maxLines = opts.maxLines ?? 200;
  const out: string[] = [
    `### ${mdCell(opts.title ?? "tsync plan")}`,
    "",
    `Manifest ${mdCell(plan.manifestFile)} (digest ${mdCell(plan.manifestDigest.slice(0, 12))}), planned ${mdCell(plan.createdAt)}, ${plan.deep ? "deep (all content hashed)" : "metadata first, hashes where needed"}.`,
    "",
    row(["sync", "target", "state", "add", "change", "delete"]),
    row(["---", "---", "---", "---:", "---:", "---:"]),
  ];
  for (const t of plan.targets) {
    const n = countChanges(t.changes);
    const counts = t.state === "unreachable" ? ["–", "–", "–"] : [n.add, n.change, n.delete];
    out.push(row([mdCell(t.sync), mdCell(formatLocation(t.target)), state(t), ...counts]));
  }
  const n = plan.nginx;
  if (n !== undefined) out.push(row(["nginx", mdCell(n.host === undefined ? n.path : `${n.host}:${n.path}`), nginxState(n), "", "", ""]));
  const blocks = [...plan.targets.map((t) => targetDetails(t, maxLines)), n === undefined ? undefined : nginxDetails(n)]
    .filter((b): b is string => b !== undefined);
  for (const b of blocks) out.push("", b);
  out.push("", mdCell(summaryLine(plan)), "");
  return out.join("\n");
}
