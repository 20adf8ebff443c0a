// The planner: what must happen to a target so that it equals the source under the rules. Pure: no fs,
// no clock, no randomness; the same snapshots always give the same changes in the same order.
//
// Exclusion: planSync applies makeMatcher(rules.exclude) itself, to both snapshots, so an excluded
// target path is never deleted or touched even when a caller hands in an unfiltered snapshot.
// An excluded target entry is "protected": so are problem entries on either side (unknown content is
// never a reason to delete). Protection means:
//  - a problem path (source or target) and its whole subtree on the target are left alone;
//  - a directory holding a protected entry is never removed (delete) and never replaced by a
//    non-directory (the replacement would have to destroy what is protected), so that path and its
//    subtree are left alone too;
//  - a source entry whose target counterpart is excluded is not written (it would overwrite it).
// A target entry matching rules.protect (rsync's `P` filter) is guarded the same way except that the
// source may still write it: it is never deleted as an extra and never replaced by another kind (that
// path and its subtree are then left alone), and its directories survive; the same kind is updated.
// The target root "" is never removed; a root whose kind differs between the sides is not planned;
// under rootMetadata: false an existing root's own metadata is not planned either.
import type { Change } from "../model/change.js";
import { compareFiles, metaDiff } from "./compare.js";
import { STAGING_DIR, timesEqual } from "../model/snapshot.js";
import { makeMatcher } from "./ignore.js";
import type { Preserve, SyncRules } from "../model/manifest.js";
import { ancestorsOf, compareRel, depthOf, parentOf, type RelPath } from "../model/paths.js";
import type { DirEntry, Entry, FileEntry, Snapshot } from "../model/snapshot.js";
import { DIR, FILE, PROBLEM, SYMLINK, toListing, type Listing } from "../model/listing.js";

interface View {
  readonly src: Listing;
  readonly dst: Listing;
  /** Paths left alone together with their subtrees. */
  readonly frozen: ReadonlySet<RelPath>;
  /** Target directories that must survive because something protected lies below them. */
  readonly keep: ReadonlySet<RelPath>;
}

// Both sides are read as compact, sorted listings (model/listing.ts): a Map the tables hand in is
// converted once; a scan already is one, and is used as it is (scanners leave excluded paths out,
// so a copy is only made when something must be dropped).
function prepare(source: Snapshot, target: Snapshot, rules: SyncRules): View {
  const excluded = makeMatcher(rules.exclude);
  const S = toListing(source);
  const T = toListing(target);
  const frozen = new Set<RelPath>();
  const keep = new Set<RelPath>();
  const protect = (p: RelPath) => {
    for (const a of ancestorsOf(p)) keep.add(a);
  };
  // With no exclude patterns the matcher (ignore.ts) excludes the staging directory alone: only
  // paths below it, and problems, need their string then (a large tree has none of either). Nor
  // does a listing whose scan applied these same patterns (Listing.excludedBy): 1.1 s of a 3.3 s
  // no-change plan of 100k files to two targets with three patterns.
  const anyPath = (L: Listing) => rules.exclude.length > 0 && L.excludedBy !== excluded.key;
  const askS = anyPath(S);
  const askT = anyPath(T);
  // The staging directory's subtree is one run of indexes in tree order: found once, not per path.
  const stagingS = S.subtree(STAGING_DIR);
  const stagingT = T.subtree(STAGING_DIR);
  const asked = (L: Listing, all: boolean, staging: readonly [number, number], i: number) => all || L.kinds[i] === PROBLEM || (i >= staging[0] && i < staging[1]);
  const srcDrop = new Set<number>();
  for (let i = 0; i < S.size; i++) {
    if (!asked(S, askS, stagingS, i)) continue;
    const p = S.pathAt(i);
    if (excluded(p, S.kinds[i] === DIR)) srcDrop.add(i);
    else if (S.kinds[i] === PROBLEM) frozen.add(p);
  }
  const src = S.without(srcDrop);
  const dstDrop = new Set<number>();
  for (let j = 0; j < T.size; j++) {
    if (!asked(T, askT, stagingT, j)) continue;
    const p = T.pathAt(j);
    if (excluded(p, T.kinds[j] === DIR)) {
      dstDrop.add(j);
      protect(p);
      if (src.has(p)) frozen.add(p);
    } else if (T.kinds[j] === PROBLEM) {
      frozen.add(p);
      protect(p);
    }
  }
  const dst = T.without(dstDrop);
  if (rules.protect?.length) guardProtected(dst, src, rules.protect, frozen, keep);
  for (const p of keep) {
    const t = dst.indexOf(p);
    const s = src.indexOf(p);
    if (t >= 0 && dst.kinds[t] === DIR && s >= 0 && src.kinds[s] !== DIR) frozen.add(p);
  }
  const sr = src.indexOf("");
  const tr = dst.indexOf("");
  if (sr >= 0 && tr >= 0 && (src.kinds[sr] !== DIR || dst.kinds[tr] !== DIR)) frozen.add("" as RelPath);
  return { src, dst, frozen, keep };
}

/** Protected target entries (and their ancestors) are kept; one the source has as another kind is frozen. */
function guardProtected(dst: Listing, src: Listing, patterns: readonly string[], frozen: Set<RelPath>, keep: Set<RelPath>): void {
  const isProtected = makeMatcher(patterns);
  for (let j = 0; j < dst.size; j++) {
    const p = dst.pathAt(j);
    const kind = dst.kinds[j];
    if (p === "" || kind === PROBLEM || !isProtected(p, kind === DIR)) continue;
    keep.add(p);
    for (const a of ancestorsOf(p)) keep.add(a);
    const s = src.indexOf(p);
    if (s >= 0 && src.kinds[s] !== kind) frozen.add(p);
  }
}

/**
 * Walks both listings in tree order at once (each is sorted so): `visit(i, j)` once per path of
 * either side, with its index on each side or -1. Paths are compared as bytes; a visitor makes the
 * path's string (pathOf) only where it needs one, which a large tree in sync mostly does not.
 */
function merge(src: Listing, dst: Listing, visit: (i: number, j: number) => void): void {
  const n = src.size;
  const m = dst.size;
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    const c = src.compareAt(i, dst, j);
    if (c === 0) visit(i++, j++);
    else if (c < 0) visit(i++, -1);
    else visit(-1, j++);
  }
  while (i < n) visit(i++, -1);
  while (j < m) visit(-1, j++);
}

const pathOf = (src: Listing, dst: Listing, i: number, j: number): RelPath => (i >= 0 ? src.pathAt(i) : dst.pathAt(j));

/**
 * The verdict of compareFiles (compare.ts) on two listed files, from the packed fields: "same" only
 * where no metadata change is due either, so the caller skips the pair without building its entries.
 * undefined: decide on the entries (owners preserved, hashes present, or anything differs).
 */
function quickSame(src: Listing, i: number, dst: Listing, j: number, preserve: Preserve): boolean {
  if (src.sizeAt(i) !== dst.sizeAt(j) || preserve.owner || preserve.group) return false;
  const hs = src.hashes.size > 0 ? src.hashes.get(i) : undefined;
  const ht = dst.hashes.size > 0 ? dst.hashes.get(j) : undefined;
  // Hashed on both sides (a deep plan), the hashes decide the content; on one side only, the entries.
  if (hs !== undefined || ht !== undefined) {
    if (hs !== ht) return false;
  } else if (!preserve.times) return false;
  return (!preserve.times || timesEqual(src.mtimes[i]!, dst.mtimes[j]!)) && (!preserve.perms || src.modes[i] === dst.modes[j]);
}

/** Whether `p` or one of its ancestors (the root included) is in `set`. */
function within(p: RelPath, set: ReadonlySet<RelPath>): boolean {
  if (set.size === 0) return false;
  if (set.has(p) || set.has("" as RelPath)) return true;
  for (const a of ancestorsOf(p)) if (set.has(a)) return true;
  return false;
}

/** The entry as the target should get it: owner/group only when preserved. */
function shape<E extends Entry>(e: E, preserve: Preserve): E {
  if (e.kind === "problem") return e;
  const dropUid = !preserve.owner && e.uid !== undefined;
  const dropGid = !preserve.group && e.gid !== undefined;
  if (!dropUid && !dropGid) return e;
  const copy: Record<string, unknown> = { ...e };
  if (dropUid) delete copy["uid"];
  if (dropGid) delete copy["gid"];
  return copy as unknown as E;
}

const byPath = (a: Change, b: Change) => compareRel(a.path, b.path);
const byDepthDesc = (a: Change, b: Change) => depthOf(b.path) - depthOf(a.path) || compareRel(a.path, b.path);
const byDepthAsc = (a: Change, b: Change) => depthOf(a.path) - depthOf(b.path) || compareRel(a.path, b.path);

function removal(p: RelPath, t: Entry): Change {
  return t.kind === "dir" ? { kind: "rmdir", path: p, before: t } : { kind: "delete", path: p, before: t };
}

/**
 * The entries of `p` when it is a directory on both sides: above a changed path, so not frozen
 * (within() looks at ancestors) and visited by the merge, which left it out of liveDirs as in sync.
 */
function sameDirs(src: Listing, dst: Listing, p: RelPath): { s: DirEntry; t: DirEntry } | undefined {
  const i = src.indexOf(p);
  const j = i >= 0 && src.kinds[i] === DIR ? dst.indexOf(p) : -1;
  return j >= 0 && dst.kinds[j] === DIR ? { s: src.entryAt(i) as DirEntry, t: dst.entryAt(j) as DirEntry } : undefined;
}

/** chown, chmod, touch (that order: a chown by root may clear set-id bits that chmod then sets). */
function metaChanges(p: RelPath, s: Entry, t: Entry, preserve: Preserve, forceTouch: boolean): Change[] {
  if (s.kind === "problem" || t.kind === "problem") return [];
  const d = metaDiff(s, t, preserve);
  const out: Change[] = [];
  if (d.uid || d.gid)
    out.push({ kind: "chown", path: p, before: t, after: { ...t, ...(d.uid ? { uid: s.uid } : {}), ...(d.gid ? { gid: s.gid } : {}) } });
  if (d.mode) out.push({ kind: "chmod", path: p, before: t, after: { ...t, mode: s.mode } });
  if (d.times || (forceTouch && preserve.times)) out.push({ kind: "touch", path: p, before: t, after: { ...t, mtimeMs: s.mtimeMs } });
  return out;
}

/**
 * Changes that make `target` equal `source` under `rules`, in apply order:
 * removals for type changes (deepest first) → mkdir (shallowest first) → create/update/symlink →
 * metadata of non-directories → deletes of extras (deepest first) → metadata of directories (deepest
 * first; directory times last, because writing into a directory changes its mtime).
 */
export function planSync(source: Snapshot, target: Snapshot, rules: SyncRules): Change[] {
  const { src, dst, frozen, keep } = prepare(source, target, rules);
  const preserve = rules.preserve;
  const removals: Change[] = [];
  const mkdirs: Change[] = [];
  const writes: Change[] = [];
  const fileMeta: Change[] = [];
  const extras: Change[] = [];
  /** Target dirs replaced by a non-directory: everything below them is removed first. */
  const replaced = new Set<RelPath>();
  /** Directories that exist after apply, each with the source entry and what the target has (or gets). */
  const liveDirs = new Map<RelPath, { s: DirEntry; t: DirEntry; created: boolean }>();

  // Literals without a spread: an initial sync holds one of these per entry (~9 B each saved).
  const place = (p: RelPath, s: Entry, before: Entry | undefined) => {
    if (s.kind === "dir") {
      const after = shape(s, preserve);
      mkdirs.push(before === undefined ? { kind: "mkdir", path: p, after } : { kind: "mkdir", path: p, before, after });
      liveDirs.set(p, { s, t: after, created: true });
    } else if (s.kind === "file") {
      const after = shape(s, preserve);
      writes.push(before === undefined ? { kind: "create", path: p, after } : { kind: "create", path: p, before, after });
    } else if (s.kind === "symlink") {
      const after = shape(s, preserve);
      writes.push(before === undefined ? { kind: "symlink", path: p, after } : { kind: "symlink", path: p, before, after });
    }
  };

  merge(src, dst, (i, j) => {
    // Only a path under a frozen or replaced one needs its string before the packed fields decide.
    let p = frozen.size > 0 || replaced.size > 0 ? pathOf(src, dst, i, j) : undefined;
    if (p !== undefined && within(p, frozen)) return;
    if (p !== undefined && replaced.size > 0 && p !== "" && within(p, replaced) && !replaced.has(p)) {
      if (j >= 0) removals.push(removal(p, dst.entryAt(j)));
      return;
    }
    if (i >= 0 && j >= 0) {
      const sk = src.kinds[i];
      const tk = dst.kinds[j];
      // The common case of a large tree in sync, decided on the packed fields.
      if (sk === FILE && tk === FILE && quickSame(src, i, dst, j, preserve)) return;
      if (sk === SYMLINK && tk === SYMLINK && src.texts.get(i) === dst.texts.get(j)) return;
      p ??= src.pathAt(i);
      const s = src.entryAt(i);
      const t = dst.entryAt(j);
      if (s.kind === "file" && t.kind === "file") {
        if (compareFiles(s, t, preserve) === "same") fileMeta.push(...metaChanges(p, s, t, preserve, false));
        else writes.push({ kind: "update", path: p, before: t, after: shape(s, preserve) });
      } else if (s.kind === "dir" && t.kind === "dir") {
        // A directory already right is looked up again only if a change below touches it: holding
        // every one (100k at a million files) cost ~30 MB per target.
        if (p === "" || metaChanges(p, s, t, preserve, false).length > 0) liveDirs.set(p, { s, t, created: false });
      } else if (s.kind === "symlink" && t.kind === "symlink") {
        // Only the target string is compared: Linux cannot change a symlink's mode (always 0777),
        // and a symlink's own mtime is reset whenever it is re-created; metadata calls on symlinks
        // are also where an apply would risk following one out of the tree.
        if (s.target !== t.target) writes.push({ kind: "symlink", path: p, before: t, after: shape(s, preserve) });
      } else if (t.kind === "dir") {
        replaced.add(p);
        removals.push(removal(p, t));
        place(p, s, t);
      } else if (s.kind === "dir") {
        removals.push(removal(p, t));
        place(p, s, t);
      } else {
        // file ↔ symlink: apply renames the new entry over the old one, atomically.
        place(p, s, t);
      }
    } else if (i >= 0) {
      place(p ?? src.pathAt(i), src.entryAt(i), undefined);
    } else if (rules.delete) {
      p ??= dst.pathAt(j);
      if (p !== "" && !keep.has(p)) extras.push(removal(p, dst.entryAt(j)));
    }
  });

  // The merge ran in tree order; writes and their metadata go out in byte order.
  writes.sort(byPath);
  fileMeta.sort(byPath);
  const copied = withCopySources(writes, (sizes) => copyDonors(dst, sizes, frozen, [removals, mkdirs, writes], extras), preserve);
  const linked = preserve.hardlinks ? withHardLinks(copied, src, dst, frozen, preserve) : { writes: copied, followers: new Set<RelPath>() };

  // Every live directory above an entry that is written or removed gets its time set again at the
  // end, even when its mtime matches now: apply's own writes into it will change it.
  const touched = new Set<RelPath>();
  if (preserve.times) {
    // Walked up from each change, stopping at the first directory already visited: its own
    // ancestors were visited with it, so an initial sync costs one step per entry, not per level.
    const seen = new Set<RelPath>();
    for (const list of [removals, mkdirs, linked.writes, extras]) {
      for (const c of list) {
        for (let a = c.path; a !== ""; ) {
          a = parentOf(a);
          if (seen.has(a)) break;
          seen.add(a);
          const same = liveDirs.has(a) ? undefined : sameDirs(src, dst, a);
          if (same) liveDirs.set(a, { ...same, created: false });
          if (liveDirs.has(a)) touched.add(a);
        }
      }
    }
  }
  const dirMeta: Change[] = [];
  for (const [p, { s, t, created }] of liveDirs) {
    // rootMetadata: false — an existing root keeps its own mode, owner and times (rsync --omit-dir-times).
    if (p === "" && !created && rules.rootMetadata === false) continue;
    if (created) {
      if (touched.has(p)) dirMeta.push({ kind: "touch", path: p, before: t, after: t });
    } else dirMeta.push(...metaChanges(p, s, t, preserve, touched.has(p)));
  }

  return [
    ...removals.sort(byDepthDesc),
    ...mkdirs.sort(byDepthAsc),
    ...linked.writes,
    ...fileMeta.filter((c) => !linked.followers.has(c.path)),
    ...extras.sort(byDepthDesc),
    ...dirMeta.sort(byDepthDesc),
  ];
}

/**
 * Smallest create copied on the target instead of sent: every non-empty file (an empty one sends no
 * bytes anyway). Measured over loopback SSH (2 cores), renaming a directory of 2,000 files: 8 KiB
 * files re-sent 0.54–0.87 s vs copied 0.45–1.02 s, 512 B files 0.62–0.76 s vs 0.53–0.92 s: the same
 * within noise at 200 MB/s, so on any real link, where the bytes cost more, copying small files wins
 * too. The risk of a wrong quick-check guess is handled by the ambiguity rule, not by size.
 */
export const MIN_COPY_BYTES = 1;

interface Donor {
  readonly path: RelPath;
  readonly entry: FileEntry;
  /** This plan deletes it (after the writes): using it is a move, not a duplication. */
  readonly moved: boolean;
}

/**
 * Target files whose content is still in place when the writes run: not under a frozen path, not
 * removed, replaced or rewritten before/among the writes (deletes of extras come after them), and
 * readable by their owner (a file nobody may read would fail the copy on every run). Moves first,
 * then byte order, so that the choice is deterministic.
 */
function copyDonors(dst: Listing, sizes: ReadonlySet<number>, frozen: ReadonlySet<RelPath>, early: readonly (readonly Change[])[], extras: readonly Change[]): Donor[] {
  // Only files of a size some create needs: a few candidates, not an object per target file.
  const candidates: number[] = [];
  for (let j = 0; j < dst.size; j++) {
    if (dst.kinds[j] === FILE && sizes.has(dst.sizeAt(j)) && (dst.modes[j]! & 0o400) !== 0) candidates.push(j);
  }
  // An initial sync has none: no set of its million paths.
  if (candidates.length === 0) return [];
  const rewritten = new Set<RelPath>();
  for (const list of early) for (const c of list) rewritten.add(c.path);
  const moved = new Set(extras.filter((c) => c.kind === "delete").map((c) => c.path));
  const out: Donor[] = [];
  for (const j of candidates) {
    const p = dst.pathAt(j);
    if (rewritten.has(p) || within(p, frozen)) continue;
    out.push({ path: p, entry: dst.entryAt(j) as FileEntry, moved: moved.has(p) });
  }
  return out.sort((a, b) => Number(b.moved) - Number(a.moved) || compareRel(a.path, b.path));
}

const bothHashed = (a: FileEntry, b: FileEntry) => a.hash !== undefined && b.hash !== undefined;
type Create = Extract<Change, { kind: "create" }>;

/** Entries of equal size and mtime (within timesEqual) are found in the ms bucket or a neighbour. */
class ByTime<T> {
  private readonly m = new Map<string, T[]>();
  constructor(private readonly entry: (x: T) => FileEntry) {}
  add(x: T): void {
    const e = this.entry(x);
    const k = `${e.size}:${Math.floor(e.mtimeMs)}`;
    const list = this.m.get(k);
    if (list) list.push(x);
    else this.m.set(k, [x]);
  }
  /** Up to `limit` entries of e's size and mtime for which `keep` holds (a bounded walk: buckets can be huge). */
  near(e: FileEntry, keep: (x: T) => boolean, limit: number): T[] {
    const out: T[] = [];
    const ms = Math.floor(e.mtimeMs);
    for (const k of [ms - 1, ms, ms + 1]) {
      for (const x of this.m.get(`${e.size}:${k}`) ?? []) {
        if (!timesEqual(this.entry(x).mtimeMs, e.mtimeMs) || !keep(x)) continue;
        out.push(x);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }
}

/**
 * Gives each create a `from` when the target provably has the same bytes elsewhere: equal size and
 * equal hashes. Without both hashes, rsync's quick check (equal size and mtime, times preserved) is
 * taken only when it is unambiguous: exactly one donor fits, and no other create of that size and
 * mtime could differ from this one (files unpacked from one archive share an mtime; a guess among
 * them could copy the wrong bytes). Indexed, so a rename of 20,000 same-size files stays linear.
 */
function withCopySources(writes: readonly Change[], donorsOf: (sizes: ReadonlySet<number>) => readonly Donor[], preserve: Preserve): Change[] {
  const creates = writes.filter((c): c is Create => c.kind === "create" && c.after.size >= MIN_COPY_BYTES);
  // Donors are a walk over the whole target: only taken when something could use one.
  const donors = creates.length === 0 ? [] : donorsOf(new Set(creates.map((c) => c.after.size)));
  if (creates.length === 0 || donors.length === 0) return [...writes];
  const byHash = new Map<string, Donor>();
  const donorsByTime = new ByTime<Donor>((d) => d.entry);
  for (const d of donors) {
    // Donors come preferred-first: the first one per hash is the one to use.
    const k = `${d.entry.size}:${d.entry.hash}`;
    if (d.entry.hash !== undefined && !byHash.has(k)) byHash.set(k, d);
    if (preserve.times) donorsByTime.add(d);
  }
  const createsByTime = new ByTime<Create>((c) => c.after);
  if (preserve.times) for (const c of creates) createsByTime.add(c);
  const fromOf = (c: Create): Donor | undefined => {
    const proven = c.after.hash === undefined ? undefined : byHash.get(`${c.after.size}:${c.after.hash}`);
    if (proven || !preserve.times) return proven;
    const likely = donorsByTime.near(c.after, (d) => !bothHashed(c.after, d.entry), 2);
    if (likely.length !== 1) return undefined;
    const sameBytes = (o: Create) => bothHashed(o.after, c.after) && o.after.hash === c.after.hash;
    return createsByTime.near(c.after, (o) => o !== c && !sameBytes(o), 1).length === 0 ? likely[0] : undefined;
  };
  return writes.map((c) => {
    if (c.kind !== "create" || c.after.size < MIN_COPY_BYTES) return c;
    const d = fromOf(c);
    return d ? { ...c, from: { path: d.path, entry: d.entry } } : c;
  });
}

/**
 * preserve hardlinks: source names sharing an inode (FileEntry.link) become one inode on the target.
 * The first name in byte order (the leader) is written like any file; every other name (a follower)
 * becomes a create that hard-links the leader (`from.link`), placed after all writes so the leader is
 * final by then — unless the target already has both names as one inode and the leader is not
 * rewritten. A follower's own write and metadata changes give way to the link: its metadata is the
 * leader's inode's. Names of one inode outside the scan (a partial, live batch) are not seen together
 * and stay separate until a whole-tree plan links them.
 */
function withHardLinks(
  writes: readonly Change[], src: Listing, dst: Listing, frozen: ReadonlySet<RelPath>, preserve: Preserve,
): { writes: Change[]; followers: Set<RelPath> } {
  const groups = new Map<string, RelPath[]>();
  for (const [i, link] of src.links) {
    const p = src.pathAt(i);
    if (src.kinds[i] !== FILE || within(p, frozen)) continue;
    const g = groups.get(link);
    if (g) g.push(p);
    else groups.set(link, [p]);
  }
  const byPath = new Map(writes.map((c) => [c.path, c]));
  const followers = new Set<RelPath>();
  const links: Change[] = [];
  for (const names of groups.values()) {
    if (names.length < 2) continue;
    const [leader, ...rest] = names.sort(compareRel) as [RelPath, ...RelPath[]];
    const lw = byPath.get(leader);
    const lt = dst.get(leader);
    // The leader as the target holds it once the writes are done.
    const leaderEntry = lw ? (lw.kind === "create" || lw.kind === "update" ? lw.after : undefined) : lt?.kind === "file" ? lt : undefined;
    if (leaderEntry === undefined) continue;
    for (const f of rest) {
      const t = dst.get(f);
      const own = byPath.get(f);
      if (!lw && !own && t?.kind === "file" && lt?.kind === "file" && t.link !== undefined && t.link === lt.link) continue;
      const s = src.get(f) as FileEntry;
      const before = own && "before" in own ? own.before : t;
      followers.add(f);
      links.push({ kind: "create", path: f, ...(before ? { before } : {}), after: shape(s, preserve), from: { path: leader, entry: leaderEntry, link: true } });
    }
  }
  return { writes: [...writes.filter((c) => !followers.has(c.path)), ...links], followers };
}

/**
 * Files present as files on both sides whose size and mtime cannot decide equality and that lack a
 * hash on at least one side: the caller hashes these (both sides) before planning, so that an
 * unchanged file is not re-sent. Byte order. Frozen/excluded paths are left out.
 */
export function pathsNeedingHash(source: Snapshot, target: Snapshot, rules: SyncRules): RelPath[] {
  const { src, dst, frozen } = prepare(source, target, rules);
  const preserve = rules.preserve;
  const out: RelPath[] = [];
  merge(src, dst, (i, j) => {
    if (i < 0 || j < 0 || src.kinds[i] !== FILE || dst.kinds[j] !== FILE || src.sizeAt(i) !== dst.sizeAt(j)) return;
    // compareFiles' "unknown", on the packed fields: not hashed on both sides, and no quick check.
    if (src.hashes.has(i) && dst.hashes.has(j)) return;
    if (preserve.times && timesEqual(src.mtimes[i]!, dst.mtimes[j]!)) return;
    const p = src.pathAt(i);
    if (!within(p, frozen)) out.push(p);
  });
  return out.sort(compareRel);
}
