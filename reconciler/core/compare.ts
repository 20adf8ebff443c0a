// Equality of entries under the sync rules. Pure.
import type { Preserve } from "../model/manifest.js";
import { timesEqual, type Entry, type FileEntry } from "../model/snapshot.js";

/**
 * Whether two files hold the same bytes: false when sizes differ, the hash comparison when both are
 * hashed, otherwise undefined (cannot tell without hashing; metadata alone never proves equality).
 */
export function sameContent(a: FileEntry, b: FileEntry): boolean | undefined {
  if (a.size !== b.size) return false;
  if (a.hash !== undefined && b.hash !== undefined) return a.hash === b.hash;
  return undefined;
}

/** The outcome of comparing a source file with a target file under the rules. */
export type FileVerdict = "same" | "differs" | "unknown";

/**
 * rsync's quick check: with times preserved, equal size and mtime are taken as equal content
 * (a tree we synced carries the source's mtime). Without preserved times, equal sizes prove nothing.
 */
export function compareFiles(source: FileEntry, target: FileEntry, preserve: Preserve): FileVerdict {
  const same = sameContent(source, target);
  if (same !== undefined) return same ? "same" : "differs";
  if (preserve.times && timesEqual(source.mtimeMs, target.mtimeMs)) return "same";
  return "unknown";
}

/** Metadata differences that matter under `preserve` (symlinks and problems have none we compare). */
export interface MetaDiff {
  readonly mode: boolean;
  readonly times: boolean;
  readonly uid: boolean;
  readonly gid: boolean;
}

export function metaDiff(source: Entry, target: Entry, preserve: Preserve): MetaDiff {
  if (source.kind === "problem" || target.kind === "problem" || source.kind === "symlink" || target.kind === "symlink")
    return { mode: false, times: false, uid: false, gid: false };
  // uid/gid are only compared when both scans read them (scans read owners only when asked to).
  const differs = (a: number | undefined, b: number | undefined) => a !== undefined && b !== undefined && a !== b;
  return {
    mode: preserve.perms && source.mode !== target.mode,
    times: preserve.times && !timesEqual(source.mtimeMs, target.mtimeMs),
    uid: preserve.owner && differs(source.uid, target.uid),
    gid: preserve.group && differs(source.gid, target.gid),
  };
}
