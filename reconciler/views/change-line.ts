// One description of a change, shared by every view: the bucket sign, the kind, the escaped path and
// the detail that matters for that kind. The terminal view paints it and uses → and KiB; the machine
// reports (Markdown, JUnit) print it in ASCII with exact byte counts so any CI log shows it.
import { CHANGE_KINDS, changeBucket, replacesOtherKind, type Bucket, type Change } from "../model/change.js";
import type { Entry } from "../model/snapshot.js";
import { visibleChanges } from "../model/plan.js";
import { displayPath } from "../model/paths.js";

export interface ChangeStyle {
  readonly arrow: string;
  readonly size: (bytes: number) => string;
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

export const TERMINAL: ChangeStyle = { arrow: "→", size: formatBytes };
export const ASCII: ChangeStyle = { arrow: "->", size: (n) => `${n} B` };

export interface ChangeText {
  readonly bucket: Bucket;
  /** Replaces an entry of another kind ("-/+"). */
  readonly replaces: boolean;
  readonly sign: "+" | "~" | "-" | "-/+";
  readonly kind: Change["kind"];
  /** Escaped, with "/" after a directory. */
  readonly path: string;
  /** What matters for this kind, "" when nothing does. */
  readonly detail: string;
}

const SIGN = { add: "+", change: "~", delete: "-" } as const;

function octal(e: Entry): string {
  return e.kind === "problem" ? "?" : "0" + (e.mode & 0o7777).toString(8).padStart(3, "0");
}

function owner(e: Entry): string {
  return e.kind === "problem" ? "?" : `${e.uid ?? "?"}:${e.gid ?? "?"}`;
}

function entryText(e: Entry, s: ChangeStyle): string {
  if (e.kind === "file") return `file (${s.size(e.size)})`;
  if (e.kind === "symlink") return `symlink ${s.arrow} ${displayPath(e.target)}`;
  return e.kind === "problem" ? "unreadable entry" : e.kind;
}

function detail(c: Change, replaced: boolean, s: ChangeStyle): string {
  const replacing = replaced && c.before ? `replaces ${entryText(c.before, s)}` : "";
  const paren = (...parts: string[]) => (parts.some(Boolean) ? `(${parts.filter(Boolean).join(", ")})` : "");
  switch (c.kind) {
    case "mkdir":
      return paren(replacing);
    case "create": {
      const copied = c.from ? `${c.from.link ? "hard link to" : "copied from"} ${displayPath(c.from.path)} on the target` : "";
      return paren(s.size(c.after.size), replacing, copied);
    }
    case "update":
      return `(${s.size(c.before.size)} ${s.arrow} ${s.size(c.after.size)})`;
    case "symlink": {
      const was = c.before?.kind === "symlink" ? `was ${s.arrow} ${displayPath(c.before.target)}` : replacing;
      return `${s.arrow} ${displayPath(c.after.target)}` + (was ? ` (${was})` : "");
    }
    case "chmod":
      return `(${octal(c.before)} ${s.arrow} ${octal(c.after)})`;
    case "chown":
      return `(${owner(c.before)} ${s.arrow} ${owner(c.after)})`;
    case "touch":
      return "(times)";
    case "delete":
      return c.before.kind === "file" ? "" : `(${entryText(c.before, s)})`;
    case "rmdir":
      return "";
  }
}

export function describeChangeParts(c: Change, style: ChangeStyle): ChangeText {
  const bucket = changeBucket(c);
  const replaces = replacesOtherKind(c);
  const isDir = CHANGE_KINDS[c.kind].dir || ("after" in c && c.after.kind === "dir");
  return {
    bucket,
    replaces,
    sign: replaces ? "-/+" : SIGN[bucket],
    kind: c.kind,
    path: displayPath(c.path || ".") + (isDir ? "/" : ""),
    detail: detail(c, replaces, style),
  };
}

/** "+ create wp-config.php (1024 B)", "- rmdir old/", "~ chmod a.sh (0644 -> 0755)", ... */
export function describeChange(c: Change): string {
  const t = describeChangeParts(c, ASCII);
  return `${t.sign} ${t.kind} ${t.path}${t.detail ? " " + t.detail : ""}`;
}

export interface Counts {
  readonly add: number;
  readonly change: number;
  readonly delete: number;
}

/** Counted as the summary line counts them: a touch that only restores a directory's time is not a change. */
export function countChanges(changes: readonly Change[]): Counts {
  const n = { add: 0, change: 0, delete: 0 };
  for (const c of visibleChanges(changes)) n[changeBucket(c)]++;
  return n;
}

/** "3 to add, 1 to change, 0 to delete" */
export function formatCounts(n: Counts): string {
  return `${n.add} to add, ${n.change} to change, ${n.delete} to delete`;
}

/** Change lines of the visible changes (as the human view shows them), at most `max`, then "… and N more". */
export function changeLines(all: readonly Change[], max: number): string[] {
  const changes = visibleChanges(all);
  const lines = changes.slice(0, max).map(describeChange);
  if (changes.length > max) lines.push(`... and ${changes.length - max} more`);
  return lines;
}
