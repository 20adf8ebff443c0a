// The human view of a Plan (terraform-style). Yields lines (a million-file initial sync is ~130 MB of
// text, so cli/ writes them as they come) or returns the text; only cli/ writes to stdout. Text from a
// target or the source (names, diffs, remote errors) is escaped (model/text.ts): it can hold terminal
// control sequences.
import type { Change } from "../model/change.js";
import type { Plan, TargetPlan } from "../model/plan.js";
import { diffKey, targetLabel, visibleChanges } from "../model/plan.js";
import { formatLocation } from "../model/manifest.js";
import { displayPath } from "../model/paths.js";
import { escapeLines, escapeText } from "../model/text.js";
import { summaryLine } from "./summary.js";
import { describeChangeParts, TERMINAL } from "./change-line.js";

export interface RenderOptions {
  readonly color: boolean;
  /** Unified diffs of changed text files, keyed by "sync\0location\0path". */
  readonly diffs?: ReadonlyMap<string, string>;
  /** Only the summary line. */
  readonly quiet?: boolean;
  /** Also the directory time restorations apply performs after writing into a directory. */
  readonly verbose?: boolean;
}

const SGR = { green: 32, yellow: 33, red: 31, cyan: 36, bold: 1, dim: 2 } as const;
type Paint = (style: keyof typeof SGR, s: string) => string;

export function painter(color: boolean): Paint {
  return color ? (style, s) => `\x1b[${SGR[style]}m${s}\x1b[0m` : (_style, s) => s;
}

const COLOR = { add: "green", change: "yellow", delete: "red" } as const;

/** Marker, colour and detail of one change line. */
function changeLine(c: Change, paint: Paint): string {
  const t = describeChangeParts(c, TERMINAL);
  const head = paint(t.replaces ? "yellow" : COLOR[t.bucket], `${t.sign.padStart(3)} ${t.kind.padEnd(7)} ${t.path}`);
  return head + (t.detail ? paint("dim", " " + t.detail) : "");
}

function* targetLines(t: TargetPlan, paint: Paint, opts: RenderOptions): Generator<string> {
  const head = `${paint("bold", t.sync)}: ${escapeText(targetLabel(t))}`;
  if (t.state === "unreachable") {
    yield `${head} ${paint("red", "unreachable")}: ${escapeText(t.error ?? "")}`;
    if (t.hint !== undefined) yield `  hint: ${escapeText(t.hint)}`;
    return;
  }
  const shown = opts.verbose ? t.changes : visibleChanges(t.changes);
  if (t.changes.length === 0) yield t.problems.length === 0 ? `${head} ${paint("green", "in sync")}` : `${head} ${paint("red", "not in sync")}: ${t.problems.length} path(s) apply cannot fix`;
  else {
    yield `${head} ${paint("yellow", `${shown.length} change${shown.length === 1 ? "" : "s"}`)}`;
    for (const c of shown) {
      yield changeLine(c, paint);
      const d = opts.diffs?.get(diffKey(t, c.path));
      if (d) for (const l of d.trimEnd().split("\n")) yield "      " + colorDiffLine(escapeLines(l), paint);
    }
  }
  if (t.refused) yield paint("red", `  ! refused: ${escapeText(t.refused)}`);
  for (const p of t.problems) yield paint("red", `  ! cannot read ${p.side} ${displayPath(p.path || ".")}: ${escapeText(p.error)}`);
  for (const h of t.hooks ?? []) yield `  then run: ${escapeText(h.run)} (${h.paths.length} changed path${h.paths.length === 1 ? "" : "s"})`;
}

function colorDiffLine(l: string, paint: Paint): string {
  if (l.startsWith("+") && !l.startsWith("+++")) return paint("green", l);
  if (l.startsWith("-") && !l.startsWith("---")) return paint("red", l);
  if (l.startsWith("@@")) return paint("cyan", l);
  return l;
}

/**
 * A sync whose source could not be read is one failure, not one per target: its first target prints the
 * error once with every target it left unplanned, the others print nothing.
 */
function renderSourceFailure(t: TargetPlan, all: readonly TargetPlan[], paint: Paint): string[] {
  const same = all.filter((o) => o.sync === t.sync && o.cause === "source");
  if (same[0] !== t) return [];
  return [
    `${paint("bold", t.sync)}: ${paint("red", "error")}: ${escapeText(t.error ?? "")}`,
    ...(t.hint !== undefined ? [`  hint: ${escapeText(t.hint)}`] : []),
    `  not planned: ${same.map((o) => escapeText(targetLabel(o))).join(", ")}`,
  ];
}

export function renderPlanHuman(plan: Plan, opts: RenderOptions): string {
  return [...planHumanLines(plan, opts)].join("\n") + "\n";
}

/** renderPlanHuman's lines, without the newlines, one at a time. */
export function* planHumanLines(plan: Plan, opts: RenderOptions): Generator<string> {
  const paint = painter(opts.color);
  const lines = (t: TargetPlan) => (t.cause === "source" ? renderSourceFailure(t, plan.targets, paint) : targetLines(t, paint, opts));
  if (!opts.quiet) {
    for (const t of plan.targets) yield* lines(t);
    const n = plan.nginx;
    if (n) {
      const where = `nginx ${n.host ? `${n.host}:` : ""}${n.path}`;
      if (n.error) yield `${paint("bold", where)} ${paint("red", "error")}: ${escapeText(n.error)}`;
      else if (!n.changed) yield `${paint("bold", where)} ${paint("green", "unchanged")}`;
      else {
        yield `${paint("bold", where)} ${paint("yellow", n.before === undefined ? "will be created" : "will change")}`;
        // The deployed config is the host's text: escaped like a target file's diff.
        for (const l of n.diff.trimEnd().split("\n")) yield "    " + colorDiffLine(escapeLines(l), paint);
      }
    }
    yield "";
  } else {
    // -q drops the changes, never which target failed and why (the summary only counts them).
    for (const t of plan.targets) {
      if (t.state === "unreachable") yield* lines(t);
      else if (t.refused) yield `${paint("bold", t.sync)}: ${formatLocation(t.target)} ${paint("red", "refused")}: ${t.refused}`;
    }
    if (plan.nginx?.error) yield `${paint("bold", `nginx ${plan.nginx.host ? `${plan.nginx.host}:` : ""}${plan.nginx.path}`)} ${paint("red", "error")}: ${plan.nginx.error}`;
  }
  yield paint("bold", summaryLine(plan));
}
