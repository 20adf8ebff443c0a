// The human view of a Plan (terraform-style). Returns text; only cli/ writes to stdout.
import type { Change } from "../model/change.js";
import type { Entry } from "../model/snapshot.js";
import type { Plan, TargetPlan } from "../model/plan.js";
import { diffKey, visibleChanges } from "../model/plan.js";
import { formatLocation } from "../model/manifest.js";
import { displayPath } from "../model/paths.js";
import { summaryLine } from "./summary.js";

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

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function octal(mode: number): string {
  return "0" + mode.toString(8).padStart(3, "0");
}

function describeEntry(e: Entry | undefined): string {
  if (!e) return "nothing";
  if (e.kind === "file") return `file (${formatBytes(e.size)})`;
  if (e.kind === "symlink") return `symlink → ${displayPath(e.target)}`;
  return e.kind;
}

/** ", copied from old/path on the target" for a create whose bytes the target already has. */
function copiedFrom(c: Extract<Change, { kind: "create" }>): string {
  return c.from ? `, copied from ${displayPath(c.from.path)} on the target` : "";
}

/** Marker, colour and detail of one change line. */
function changeLine(c: Change, paint: Paint): string {
  const path = displayPath(c.path || ".") + (c.kind === "mkdir" || c.kind === "rmdir" || ("after" in c && c.after.kind === "dir") ? "/" : "");
  const replaced = "before" in c && c.before && (c.kind === "mkdir" || c.kind === "create" || c.kind === "symlink") && c.before.kind !== c.after.kind;
  switch (c.kind) {
    case "create":
    case "mkdir":
      return replaced
        ? paint("yellow", `-/+ ${c.kind.padEnd(7)} ${path}`) + paint("dim", ` (replaces ${describeEntry(c.before)}${c.kind === "create" ? copiedFrom(c) : ""})`)
        : paint("green", `  + ${c.kind.padEnd(7)} ${path}`) + (c.kind === "create" ? paint("dim", ` (${formatBytes(c.after.size)}${copiedFrom(c)})`) : "");
    case "symlink":
      if (replaced) return paint("yellow", `-/+ symlink ${path}`) + paint("dim", ` → ${displayPath(c.after.target)} (replaces ${describeEntry(c.before)})`);
      return paint(c.before ? "yellow" : "green", `  ${c.before ? "~" : "+"} symlink ${path}`) + paint("dim", ` → ${displayPath(c.after.target)}`);
    case "update":
      return paint("yellow", `  ~ update  ${path}`) + paint("dim", ` (${formatBytes(c.before.size)} → ${formatBytes(c.after.size)})`);
    case "chmod":
      return paint("yellow", `  ~ chmod   ${path}`) + paint("dim", c.before.kind !== "problem" && c.after.kind !== "problem" ? ` (${octal(c.before.mode)} → ${octal(c.after.mode)})` : "");
    case "chown": {
      const b = c.before.kind !== "problem" ? `${c.before.uid ?? "?"}:${c.before.gid ?? "?"}` : "?";
      const a = c.after.kind !== "problem" ? `${c.after.uid ?? "?"}:${c.after.gid ?? "?"}` : "?";
      return paint("yellow", `  ~ chown   ${path}`) + paint("dim", ` (${b} → ${a})`);
    }
    case "touch":
      return paint("yellow", `  ~ touch   ${path}`) + paint("dim", " (times)");
    case "delete":
      return paint("red", `  - delete  ${path}`);
    case "rmdir":
      return paint("red", `  - rmdir   ${path}`);
  }
}

function renderTarget(t: TargetPlan, paint: Paint, opts: RenderOptions): string[] {
  const head = `${paint("bold", t.sync)}: ${formatLocation(t.target)}`;
  if (t.state === "unreachable") return [`${head} ${paint("red", "unreachable")}: ${t.error ?? ""}`];
  const lines: string[] = [];
  const shown = opts.verbose ? t.changes : visibleChanges(t.changes);
  if (t.changes.length === 0) lines.push(`${head} ${paint("green", "in sync")}`);
  else {
    lines.push(`${head} ${paint("yellow", `${shown.length} change${shown.length === 1 ? "" : "s"}`)}`);
    for (const c of shown) {
      lines.push(changeLine(c, paint));
      const d = opts.diffs?.get(diffKey(t, c.path));
      if (d) for (const l of d.trimEnd().split("\n")) lines.push("      " + colorDiffLine(l, paint));
    }
  }
  if (t.refused) lines.push(paint("red", `  ! refused: ${t.refused}`));
  for (const p of t.problems) lines.push(paint("red", `  ! cannot read ${p.side} ${displayPath(p.path || ".")}: ${p.error}`));
  return lines;
}

function colorDiffLine(l: string, paint: Paint): string {
  if (l.startsWith("+") && !l.startsWith("+++")) return paint("green", l);
  if (l.startsWith("-") && !l.startsWith("---")) return paint("red", l);
  if (l.startsWith("@@")) return paint("cyan", l);
  return l;
}

export function renderPlanHuman(plan: Plan, opts: RenderOptions): string {
  const paint = painter(opts.color);
  const out: string[] = [];
  if (!opts.quiet) {
    // One line at a time: spreading a target's lines into push() overflows the stack past ~120k changes.
    for (const t of plan.targets) for (const l of renderTarget(t, paint, opts)) out.push(l);
    const n = plan.nginx;
    if (n) {
      const where = `nginx ${n.host ? `${n.host}:` : ""}${n.path}`;
      if (n.error) out.push(`${paint("bold", where)} ${paint("red", "error")}: ${n.error}`);
      else if (!n.changed) out.push(`${paint("bold", where)} ${paint("green", "unchanged")}`);
      else {
        out.push(`${paint("bold", where)} ${paint("yellow", n.before === undefined ? "will be created" : "will change")}`);
        for (const l of n.diff.trimEnd().split("\n")) out.push("    " + colorDiffLine(l, paint));
      }
    }
    out.push("");
  }
  out.push(paint("bold", summaryLine(plan)));
  return out.join("\n") + "\n";
}
