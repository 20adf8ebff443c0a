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
import type { Manifest } from "../model/manifest.js";
import type { Plan } from "../model/plan.js";
import { renderNginx } from "../nginx/render.js";
import { downHosts } from "../nginx/routing.js";
import { statesAfterApply } from "./plan-run.js";

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
  // Files whose bytes a create copies on the target must still be what the plan saw.
  const copied = new Map<RelPath, Entry>();
  for (const c of changes) if (c.kind === "create" && c.from && !copied.has(c.from.path)) copied.set(c.from.path, c.from.entry);
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
 * A saved plan's nginx config is what the manifest renders for the plan's targets. The target
 * fingerprints do not cover the nginx section, so an edited plan must not deploy a config of its own;
 * checked once, before any target is touched (`apply PLANFILE` refuses the whole plan).
 */
export function nginxAsRendered(plan: Plan, manifest: Manifest): boolean {
  if (!plan.nginx || !manifest.nginx || plan.nginx.error !== undefined) return true;
  try {
    return renderNginx(manifest, downHosts(manifest.nginx, statesAfterApply(plan.targets)).down).text === plan.nginx.after;
  } catch {
    return false;
  }
}
