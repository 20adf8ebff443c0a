// One line per change, shared by the machine reports: a bucket sign, the kind, the escaped path and
// the detail that matters for that kind. ASCII only (besides names) so any CI log shows it.
import type { Change } from "../model/change.js";
import type { Entry } from "../model/snapshot.js";
import { changeBucket, visibleChanges } from "../model/plan.js";
import { displayPath } from "../model/paths.js";

const SIGN = { add: "+", change: "~", delete: "-" } as const;

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

function kindOf(e: Entry): string {
  return e.kind === "symlink" ? "symlink" : e.kind === "dir" ? "dir" : e.kind === "file" ? "file" : "unreadable entry";
}

function octal(e: Entry): string {
  return e.kind === "problem" ? "?" : "0" + (e.mode & 0o7777).toString(8).padStart(3, "0");
}

function owner(e: Entry): string {
  return e.kind === "problem" ? "?" : `${e.uid ?? "?"}:${e.gid ?? "?"}`;
}

function bytes(n: number): string {
  return `${n} B`;
}

/** "+ create wp-config.php (1024 B)", "- rmdir old/", "~ chmod a.sh 0644 -> 0755", ... */
export function describeChange(c: Change): string {
  const p = displayPath(c.path || ".");
  const replaces = c.before !== undefined && (c.kind === "mkdir" || c.kind === "create" || c.kind === "symlink") && c.before.kind !== c.after.kind
    ? ` (replaces ${kindOf(c.before)})`
    : "";
  let text: string;
  switch (c.kind) {
    case "mkdir":
      text = `mkdir ${p}/${replaces}`;
      break;
    case "create":
      text = `create ${p} (${bytes(c.after.size)}${c.from ? `, ${c.from.link ? "hard link to" : "copied from"} ${displayPath(c.from.path)} on the target` : ""})${replaces}`;
      break;
    case "update":
      text = `update ${p} (${bytes(c.before.size)} -> ${bytes(c.after.size)})`;
      break;
    case "symlink":
      text = `symlink ${p} -> ${displayPath(c.after.target)}` +
        (c.before?.kind === "symlink" ? ` (was -> ${displayPath(c.before.target)})` : replaces);
      break;
    case "chmod":
      text = `chmod ${p} ${octal(c.before)} -> ${octal(c.after)}`;
      break;
    case "chown":
      text = `chown ${p} ${owner(c.before)} -> ${owner(c.after)}`;
      break;
    case "touch":
      text = `touch ${p}`;
      break;
    case "delete":
      text = `delete ${p}${c.before.kind === "file" ? "" : ` (${kindOf(c.before)})`}`;
      break;
    case "rmdir":
      text = `rmdir ${p}/`;
      break;
  }
  return `${SIGN[changeBucket(c)]} ${text}`;
}

/** Change lines of the visible changes (as the human view shows them), at most `max`, then "… and N more". */
export function changeLines(all: readonly Change[], max: number): string[] {
  const changes = visibleChanges(all);
  const lines = changes.slice(0, max).map(describeChange);
  if (changes.length > max) lines.push(`... and ${changes.length - max} more`);
  return lines;
}
