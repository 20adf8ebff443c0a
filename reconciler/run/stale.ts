// A saved plan is applied exactly, or not at all on a target whose state (or whose source content)
// moved since it was made. These checks run before anything is written; each returns a message naming
// what moved, or undefined.
import type { Sync } from "../model/manifest.js";
import type { Change } from "../model/change.js";
import type { Entry } from "../model/snapshot.js";
import type { RelPath } from "../model/paths.js";
import { displayPath } from "../model/paths.js";
import type { Transport } from "../transport/types.js";
import { makeMatcher } from "../core/ignore.js";
import { timesEqual } from "../model/snapshot.js";

function describe(e: Entry | undefined): string {
  if (!e) return "absent";
  if (e.kind === "file") return `file of ${e.size} bytes`;
  if (e.kind === "symlink") return `symlink`;
  return e.kind;
}

/** Does `now` still look like `expected` (undefined: absent)? */
export function entryMatches(expected: Entry | undefined, now: Entry | undefined): boolean {
  if (!expected || !now) return expected === now;
  if (expected.kind !== now.kind) return false;
  switch (expected.kind) {
    case "file": {
      const n = now as typeof expected;
      if (n.size !== expected.size || !timesEqual(n.mtimeMs, expected.mtimeMs)) return false;
      return expected.hash === undefined || n.hash === undefined || n.hash === expected.hash;
    }
    case "symlink":
      return (now as typeof expected).target === expected.target;
    case "dir":
      return (now as typeof expected).mode === expected.mode;
    case "problem":
      return true;
  }
}

async function scanPaths(t: Transport, root: string, sync: Sync, paths: RelPath[], hash: boolean, signal?: AbortSignal) {
  const p = sync.rules.preserve;
  return t.scan(root, {
    exclude: makeMatcher(sync.rules.exclude),
    owners: p.owner || p.group,
    hash: hash ? "all" : "none",
    only: paths,
    ...(signal ? { signal } : {}),
  });
}

export async function checkTargetUnchanged(t: Transport, sync: Sync, root: string, changes: readonly Change[], signal?: AbortSignal): Promise<string | undefined> {
  // A path can appear twice (a type change removes, then creates): its first change holds what was seen.
  const seen = new Map<RelPath, Entry | undefined>();
  for (const c of changes) if (!seen.has(c.path)) seen.set(c.path, c.before);
  // Files whose bytes a create copies on the target must still be what the plan saw. A hard link's
  // source that the plan itself writes first is planned as it will be, and checked by its own change.
  const copied = new Map<RelPath, Entry>();
  for (const c of changes) {
    if (c.kind !== "create" || !c.from || copied.has(c.from.path) || (c.from.link && seen.has(c.from.path))) continue;
    copied.set(c.from.path, c.from.entry);
  }
  const snap = await scanPaths(t, root, sync, [...new Set([...seen.keys(), ...copied.keys()])], false, signal);
  for (const [path, expected] of seen) {
    const now = snap.get(path);
    if (!entryMatches(expected, now)) return `${displayPath(path || ".")} changed on the target since the plan (was ${describe(expected)}, now ${describe(now)})`;
  }
  for (const [path, expected] of copied) {
    const now = snap.get(path);
    if (!entryMatches(expected, now)) return `${displayPath(path)} (copied by the plan) changed on the target since the plan (was ${describe(expected)}, now ${describe(now)})`;
  }
  return undefined;
}

export async function checkSourceUnchanged(t: Transport, sync: Sync, changes: readonly Change[], signal?: AbortSignal): Promise<string | undefined> {
  const sent = changes.filter((c) => c.kind === "create" || c.kind === "update" || c.kind === "symlink");
  if (sent.length === 0) return undefined;
  const snap = await scanPaths(t, sync.source.path, sync, sent.map((c) => c.path), sent.some((c) => c.kind !== "symlink"), signal);
  for (const c of sent) {
    const now = snap.get(c.path);
    // A pinned hash must be confirmed: the scanner leaves it out when the file changed while hashed.
    const unconfirmed = c.after.kind === "file" && c.after.hash !== undefined && (now?.kind !== "file" || now.hash === undefined);
    if (unconfirmed || !entryMatches(c.after, now)) return `source ${displayPath(c.path)} changed since the plan (was ${describe(c.after)}, now ${describe(now)})`;
  }
  return undefined;
}

/**
 * Whether a saved change's `after` is what a fresh plan would write: kind, permission bits, owner and
 * group as planned, link target, and for content the size, time and (pinned) hash. Times of
 * directories and of touches are left out: a directory's time follows every edit in it on the source,
 * so a plan made before an unrelated source edit still applies (the next plan restores the time).
 */
function sameAfter(kind: Change["kind"], saved: Entry, fresh: Entry): boolean {
  if (saved.kind !== fresh.kind || saved.kind === "problem" || fresh.kind === "problem") return false;
  if (saved.mode !== fresh.mode || saved.uid !== fresh.uid || saved.gid !== fresh.gid) return false;
  if (saved.kind === "symlink") return (fresh as typeof saved).target === saved.target;
  if (saved.kind !== "file") return true;
  const f = fresh as typeof saved;
  if (f.size !== saved.size) return false;
  if (kind === "touch") return true;
  // The fresh plan pins the content it sends, so a hash the saved plan names must be that one.
  const hashOk = kind === "create" || kind === "update" ? saved.hash === undefined || f.hash === saved.hash : saved.hash === undefined || f.hash === undefined || f.hash === saved.hash;
  return hashOk && timesEqual(f.mtimeMs, saved.mtimeMs);
}

const changeKey = (c: Change) => `${c.kind}\0${c.path}`;

/**
 * A saved plan may only narrow what the current manifest and source justify: each of its changes must
 * be one that `fresh` (a plan of the same target made now, from current listings and rules) also makes,
 * with the same before and after, in the same order. Otherwise the plan was forged or the world moved:
 * returns what does not fit. Pure.
 */
export function checkJustified(saved: readonly Change[], fresh: readonly Change[]): string | undefined {
  const index = new Map<string, number>();
  fresh.forEach((c, i) => index.set(changeKey(c), i));
  let last = -1;
  for (const c of saved) {
    const i = index.get(changeKey(c));
    const what = `the plan's ${c.kind} of ${displayPath(c.path || ".")}`;
    if (i === undefined) return `${what} is not a change a fresh plan of this target makes`;
    const f = fresh[i]!;
    const before = "before" in c ? c.before : undefined;
    const freshBefore = "before" in f ? f.before : undefined;
    if (!entryMatches(before, freshBefore)) return `${what} was planned against ${describe(before)} on the target, a fresh plan sees ${describe(freshBefore)}`;
    if ("after" in c && !("after" in f && sameAfter(c.kind, c.after, f.after))) return `${what} does not give it what the source has`;
    if (c.kind === "create" && c.from) {
      const ff = f.kind === "create" ? f.from : undefined;
      if (!ff || ff.path !== c.from.path || !entryMatches(c.from.entry, ff.entry))
        return `${what} copies ${displayPath(c.from.path)}, which a fresh plan does not take as the same content`;
    }
    if (i <= last) return `${what} is out of the order a fresh plan makes the changes in`;
    last = i;
  }
  return undefined;
}
