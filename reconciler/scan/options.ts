// What a scan of one tree reads: excludes, owners, hashes, and optionally only some paths.
import type { Matcher, RelPath } from "../model/paths.js";
import type { HashCacheOptions } from "./hash-cache-file.js";

export interface ScanOptions {
  readonly exclude: Matcher;
  /** Read uid/gid (preserve owner/group). */
  readonly owners: boolean;
  /** Record which files share an inode (FileEntry.link; preserve hardlinks). */
  readonly links?: boolean;
  /** "none": metadata only; "all": hash every file (deep). */
  readonly hash: "none" | "all";
  /**
   * Limit the scan to these paths (and everything below those that are directories), plus the
   * entries alone (not their subtrees) of the root and of every ancestor of a listed path, so a
   * partial plan can create missing parents and restore parents' times. Absent: whole tree.
   */
  readonly only?: readonly RelPath[];
  /** Stop with an error naming the count once the tree has more entries than this (limits.ts). */
  readonly maxEntries?: number;
  /**
   * With hash "all", a local scan takes unchanged files' hashes from this persistent cache
   * (scan/hash-cache.ts) and rewrites it after a whole-tree scan. Set for sources only: a deep plan
   * reads every target file's bytes. Remote scans ignore it.
   */
  readonly hashCache?: HashCacheOptions;
  readonly signal?: AbortSignal;
}
