// Which onChange hooks a set of applied changes triggers, and with which paths: pure, so `plan` (what
// would run) and apply/watch (what runs) decide alike.
import type { Change } from "../model/change.js";
import { CHANGE_KINDS } from "../model/change.js";
import type { ChangeHook } from "../model/manifest.js";
import type { RelPath } from "../model/paths.js";
import { isImplied } from "../model/plan.js";
import { makeMatcher } from "./ignore.js";

/** A change leaves (or removed) a directory at its path: dir-only patterns (`cache/`) apply to it. */
function isDir(c: Change): boolean {
  return CHANGE_KINDS[c.kind].dir || c.kind === "rmdir" || ("after" in c && c.after.kind === "dir");
}

/**
 * Each hook with the changed paths it matches, in manifest order; hooks matching none are left out.
 * A directory time restored only because apply wrote into it is bookkeeping, not a change.
 */
export function hooksFor(hooks: readonly ChangeHook[] | undefined, changes: readonly Change[]): { hook: ChangeHook; paths: RelPath[] }[] {
  if (!hooks?.length) return [];
  const real = changes.filter((c) => !isImplied(c));
  const seen = new Set<RelPath>();
  const touched = real.filter((c) => !seen.has(c.path) && seen.add(c.path));
  const out: { hook: ChangeHook; paths: RelPath[] }[] = [];
  for (const h of hooks) {
    const match = h.paths ? makeMatcher(h.paths) : undefined;
    const paths = touched.filter((c) => !match || (c.path !== "" && match(c.path, isDir(c)))).map((c) => c.path);
    if (paths.length > 0) out.push({ hook: h, paths });
  }
  return out;
}

/** The paths as a hook reads them on stdin: raw name bytes, each followed by NUL; the root is ".". */
export function hookInput(paths: readonly RelPath[]): Buffer {
  return Buffer.concat(paths.flatMap((p) => [Buffer.from(p === "" ? "." : p, "latin1"), Buffer.from([0])]));
}
