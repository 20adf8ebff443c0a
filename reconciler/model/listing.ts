// The compact form of a Snapshot (issue 12): entries in tree order, each its name under its parent's
// index, with packed metadata in typed arrays, instead of one Map slot and one object per path. A
// scan of a million entries held ~183 B per entry as a Map of objects; this holds ~34 B (name ~11 B,
// parent and name offset 8 B, kind 1, mode 2, mtime 8, size 4 B), with the rare fields (sizes of
// 4 GiB and over, symlink targets, problem texts, hashes, hard-link ids, owners) in side tables.
// It is a ReadonlyMap<RelPath, Entry>, so every caller of a Snapshot works unchanged (get() is a
// binary search, iteration builds each Entry as it goes); the planner reads it by index instead.
//
// Order: tree order (compareTree), a directory before its subtree and siblings by name bytes, which
// is byte order with "/" sorting first. A walk that adds each directory's children sorted, after the
// directory itself, is put in this order without comparing paths at all (a walk of the tree).
import { compareRel, parentOf, type RelPath } from "./paths.js";
import type { Entry, EntryKind, Snapshot } from "./snapshot.js";
import { OpenDirs } from "./open-dirs.js";

/** Tree order: component by component, each by bytes (byte order, "/" first). */
export function compareTree(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let k = 0;
  while (k < n && a.charCodeAt(k) === b.charCodeAt(k)) k++;
  if (k === n) return a.length - b.length;
  const x = a.charCodeAt(k);
  const y = b.charCodeAt(k);
  return x === 0x2f ? -1 : y === 0x2f ? 1 : x - y;
}

export const FILE = 0;
export const DIR = 1;
export const SYMLINK = 2;
export const PROBLEM = 3;
const KINDS: readonly EntryKind[] = ["file", "dir", "symlink", "problem"];
/** A record the builder was told to forget (a directory that vanished while it was read). */
const DROPPED = 255;

/** The fields of one record as a scanner reads them; `text` is a symlink's target or a problem's error. */
export interface Rec {
  readonly kind: number;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly size: number;
  readonly text?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly hash?: string;
  readonly link?: string;
}

/** Tree order of two paths held as bytes: a[af, at) against b[bf, bt). */
function compareBytes(a: Uint8Array, af: number, at: number, b: Uint8Array, bf: number, bt: number): number {
  const n = Math.min(at - af, bt - bf);
  let k = 0;
  while (k < n && a[af + k] === b[bf + k]) k++;
  if (k === n) return at - af - (bt - bf);
  const x = a[af + k]!;
  const y = b[bf + k]!;
  return x === 0x2f ? -1 : y === 0x2f ? 1 : x - y;
}

/** Plain byte order of two ranges (siblings share their parent's prefix, so this is name order). */
function plainOrder(a: Uint8Array, af: number, at: number, b: Uint8Array, bf: number, bt: number): number {
  const n = Math.min(at - af, bt - bf);
  for (let k = 0; k < n; k++) {
    const d = a[af + k]! - b[bf + k]!;
    if (d !== 0) return d;
  }
  return at - af - (bt - bf);
}

export class Listing implements ReadonlyMap<RelPath, Entry> {
  /** Scratch for one path's bytes at a time (load); #private, so equal listings deep-equal whatever was last read. */
  #buf: Buffer = Buffer.allocUnsafe(256);
  /** A second scratch, for comparing two paths of this same listing. */
  #spare: Buffer | undefined;
  /** The last path loaded and its listed ancestors, root-most first, and where each ends in buf. */
  #chain = new Int32Array(32);
  #chainEnds = new Uint32Array(32);
  #depth = 0;

  /** @internal use ListingBuilder or toListing. */
  constructor(
    /**
     * Each path's bytes after its parent's and the "/" (a name, ~10 B), back to back in tree order;
     * entry i's are names[offs[i], offs[i+1]). Whole paths averaged 46 B at a million entries; three
     * listings of names instead of paths held ~110 MB less (issue 12).
     */
    readonly names: Buffer,
    readonly offs: Uint32Array,
    /**
     * The index of the nearest ancestor this listing has, other than the root; -1 when there is none
     * (the root's children). A partial listing may lack ancestors: its names then hold "/".
     */
    readonly parents: Int32Array,
    readonly kinds: Uint8Array,
    readonly modes: Uint16Array,
    readonly mtimes: Float64Array,
    /** File sizes; BIG_SIZE where the size does not fit (4 GiB and over), which bigSizes then holds. */
    readonly sizes: Uint32Array,
    readonly bigSizes: ReadonlyMap<number, number>,
    /** Symlink targets and problem errors by index. */
    readonly texts: ReadonlyMap<number, string>,
    readonly hashes: ReadonlyMap<number, string>,
    readonly links: ReadonlyMap<number, string>,
    /** uid/gid per index (NaN: not read); absent when no entry has them. */
    readonly uids: Float64Array | undefined,
    readonly gids: Float64Array | undefined,
    /**
     * The key of the exclude matcher (Matcher.key) the scan that made this listing applied to every
     * entry; undefined when unknown. A planner with the same patterns need not ask about each path.
     */
    readonly excludedBy: string | undefined = undefined,
  ) {}

  get size(): number {
    return this.kinds.length;
  }

  /** The size of entry i (0 for anything but a file). */
  sizeAt(i: number): number {
    const s = this.sizes[i]!;
    return s === BIG_SIZE ? this.bigSizes.get(i)! : s;
  }

  /** The same listing with other side tables (shares every column). */
  private withSides(texts: ReadonlyMap<number, string>, hashes: ReadonlyMap<number, string>, links: ReadonlyMap<number, string>): Listing {
    return new Listing(this.names, this.offs, this.parents, this.kinds, this.modes, this.mtimes, this.sizes, this.bigSizes, texts, hashes, links, this.uids, this.gids, this.excludedBy);
  }

  /**
   * Puts path i's bytes at the start of `buf` and returns their length. The chain remembers the last
   * path's ancestors, so reading in tree order copies one name per entry, and any other order walks up
   * only to the first ancestor the chain shares.
   */
  private load(i: number): number {
    const chain = this.#chain;
    const parents = this.parents;
    let d = this.#depth;
    // Tree order mostly asks for the same path again, a child of the last, or a sibling of it.
    if (d > 0 && chain[d - 1] === i) return this.#chainEnds[d - 1]!;
    const p = parents[i]!;
    if (p < 0) d = 0;
    else if (d > 0 && chain[d - 1] === p) {
      // the last path's child
    } else if (d > 1 && chain[d - 2] === p) d--;
    else {
      // Any other order: up from i to the first ancestor on the chain, then down again.
      while (d > 0 && !this.isAncestor(chain[d - 1]!, i)) d--;
      if (d === 0 || chain[d - 1] !== p) {
        this.#depth = d;
        this.load(p);
        d = this.#depth;
      }
    }
    return this.push(d, i);
  }

  /** Whether entry a is a listed ancestor of entry i. */
  private isAncestor(a: number, i: number): boolean {
    for (let q = this.parents[i]!; q >= 0; q = this.parents[q]!) if (q === a) return true;
    return false;
  }

  /** Appends entry i's name to the chain's first d paths; returns the new path's length. */
  private push(d: number, i: number): number {
    const from = this.offs[i]!;
    const to = this.offs[i + 1]!;
    let at = d > 0 ? this.#chainEnds[d - 1]! : 0;
    if (at + 1 + to - from > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.#buf.length, at + 1 + to - from));
      this.#buf.copy(bigger, 0, 0, at);
      this.#buf = bigger;
    }
    if (d === this.#chain.length) {
      const chain = new Int32Array(2 * d);
      chain.set(this.#chain);
      this.#chain = chain;
      const ends = new Uint32Array(2 * d);
      ends.set(this.#chainEnds);
      this.#chainEnds = ends;
    }
    const buf = this.#buf;
    const names = this.names;
    if (d > 0) buf[at++] = 0x2f;
    for (let b = from; b < to; b++) buf[at++] = names[b]!;
    this.#chain[d] = i;
    this.#chainEnds[d] = at;
    this.#depth = d + 1;
    return at;
  }

  /** The path at index i (a new string each call: callers ask only where they need one). */
  pathAt(i: number): RelPath {
    const len = this.load(i);
    return this.#buf.toString("latin1", 0, len) as RelPath;
  }

  /** Tree order of path i against the string p. */
  private compareTo(i: number, p: string): number {
    const len = this.load(i);
    const a = this.#buf;
    const n = Math.min(len, p.length);
    let k = 0;
    while (k < n && a[k] === p.charCodeAt(k)) k++;
    if (k === n) return len - p.length;
    const x = a[k]!;
    const y = p.charCodeAt(k);
    return x === 0x2f ? -1 : y === 0x2f ? 1 : x - y;
  }

  /** Whether path i is `dir` or below it (compared as bytes, no string made). */
  isInside(i: number, dir: string): boolean {
    const len = this.load(i);
    const a = this.#buf;
    if (len < dir.length || (len > dir.length && a[dir.length] !== 0x2f)) return false;
    for (let k = 0; k < dir.length; k++) if (a[k] !== dir.charCodeAt(k)) return false;
    return true;
  }

  /** Index of `p`, or -1. */
  indexOf(p: string): number {
    let lo = 0;
    let hi = this.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.compareTo(mid, p);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The indexes [from, to) of `dir` and what is below it: one run in tree order. */
  subtree(dir: string): [number, number] {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareTo(mid, dir) < 0) lo = mid + 1;
      else hi = mid;
    }
    let to = lo;
    while (to < this.size && this.isInside(to, dir)) to++;
    return [lo, to];
  }

  /** Tree order of this listing's path i against `other`'s path j (for a merge of two listings). */
  compareAt(i: number, other: Listing, j: number): number {
    const la = this.load(i);
    let a = this.#buf;
    if (other === this) {
      if (this.#spare === undefined || this.#spare.length < la) this.#spare = Buffer.allocUnsafe(Math.max(256, la));
      this.#buf.copy(this.#spare, 0, 0, la);
      a = this.#spare;
    }
    const lb = other.load(j);
    return compareBytes(a, 0, la, other.#buf, 0, lb);
  }

  /** The Entry at index i, with exactly the fields a scan of it reads (none set to undefined). */
  entryAt(i: number): Entry {
    const kind = this.kinds[i]!;
    if (kind === PROBLEM) return { kind: "problem", error: this.texts.get(i) ?? "" };
    // The common shapes as one literal each: built field by field they need a second allocation
    // for the properties (~17 B more per entry, and an initial sync holds one per file per target).
    if (this.uids === undefined && this.gids === undefined) {
      if (kind === FILE && !this.hashes.has(i) && !this.links.has(i)) return { kind: "file", size: this.sizeAt(i), mode: this.modes[i]!, mtimeMs: this.mtimes[i]! };
      if (kind === DIR) return { kind: "dir", mode: this.modes[i]!, mtimeMs: this.mtimes[i]! };
    }
    const e: Record<string, unknown> = { kind: KINDS[kind] };
    if (kind === FILE) e["size"] = this.sizeAt(i);
    if (kind === SYMLINK) e["target"] = this.texts.get(i) ?? "";
    e["mode"] = this.modes[i];
    e["mtimeMs"] = this.mtimes[i];
    const uid = this.uids?.[i];
    const gid = this.gids?.[i];
    if (uid !== undefined && !Number.isNaN(uid)) e["uid"] = uid;
    if (gid !== undefined && !Number.isNaN(gid)) e["gid"] = gid;
    if (kind === FILE) {
      const h = this.hashes.get(i);
      if (h !== undefined) e["hash"] = h;
      const l = this.links.get(i);
      if (l !== undefined) e["link"] = l;
    }
    return e as unknown as Entry;
  }

  get(p: RelPath): Entry | undefined {
    const i = this.indexOf(p);
    return i < 0 ? undefined : this.entryAt(i);
  }

  has(p: RelPath): boolean {
    return this.indexOf(p) >= 0;
  }

  *entries(): MapIterator<[RelPath, Entry]> {
    for (let i = 0; i < this.size; i++) yield [this.pathAt(i), this.entryAt(i)];
  }

  *keys(): MapIterator<RelPath> {
    for (let i = 0; i < this.size; i++) yield this.pathAt(i);
  }

  *values(): MapIterator<Entry> {
    for (let i = 0; i < this.size; i++) yield this.entryAt(i);
  }

  [Symbol.iterator](): MapIterator<[RelPath, Entry]> {
    return this.entries();
  }

  forEach(fn: (value: Entry, key: RelPath, map: ReadonlyMap<RelPath, Entry>) => void): void {
    for (let i = 0; i < this.size; i++) fn(this.entryAt(i), this.pathAt(i), this);
  }

  /** The same listing with these file hashes set (paths that are not files here are ignored). */
  withHashes(hashes: ReadonlyMap<RelPath, string>): Listing {
    return this.withSide(hashes, "hashes");
  }

  /** The same listing with these hard-link ids ("dev:ino") set on files. */
  withLinks(links: ReadonlyMap<RelPath, string>): Listing {
    return this.withSide(links, "links");
  }

  /** The same listing with these file hashes set by index (indexes that are not files are ignored). */
  withHashesAt(hashes: ReadonlyMap<number, string>): Listing {
    if (hashes.size === 0) return this;
    // A deep scan's hashes, all of files, for a listing that has none yet: the map as it is.
    if (this.hashes.size === 0 && this.allFiles(hashes.keys())) return this.withSides(this.texts, hashes, this.links);
    const out = new Map(this.hashes);
    for (const [i, v] of hashes) if (this.kinds[i] === FILE) out.set(i, v);
    return this.withSides(this.texts, out, this.links);
  }

  private allFiles(indexes: Iterable<number>): boolean {
    for (const i of indexes) if (this.kinds[i] !== FILE) return false;
    return true;
  }

  private withSide(values: ReadonlyMap<RelPath, string>, side: "hashes" | "links"): Listing {
    if (values.size === 0) return this;
    const out = new Map(this[side]);
    if (values.size * 8 >= this.size) {
      // Most files (a deep scan): one read of the paths in tree order, each a name copy, beats a
      // binary search per value.
      for (let i = 0; i < this.size; i++) {
        if (this.kinds[i] !== FILE) continue;
        const v = values.get(this.pathAt(i));
        if (v !== undefined) out.set(i, v);
      }
    } else {
      for (const [p, v] of values) {
        const i = this.indexOf(p);
        if (i >= 0 && this.kinds[i] === FILE) out.set(i, v);
      }
    }
    return side === "hashes" ? this.withSides(this.texts, out, this.links) : this.withSides(this.texts, this.hashes, out);
  }

  /** The same listing with these texts (symlink targets or problem errors) replaced, by index. */
  withTexts(texts: ReadonlyMap<number, string>): Listing {
    if (texts.size === 0) return this;
    const out = new Map([...this.texts, ...texts]);
    return this.withSides(out, this.hashes, this.links);
  }

  /** The listing without the entries at these indexes (a copy; `this` when there are none). */
  without(drop: ReadonlySet<number>): Listing {
    if (drop.size === 0) return this;
    const b = new ListingBuilder(this.excludedBy);
    for (let i = 0; i < this.size; i++) if (!drop.has(i)) b.add(this.pathAt(i), this.recAt(i));
    return b.finish();
  }

  /** The record at i, for copying into a builder. */
  recAt(i: number): Rec {
    const uid = this.uids?.[i];
    const gid = this.gids?.[i];
    const text = this.texts.get(i);
    const hash = this.hashes.get(i);
    const link = this.links.get(i);
    return {
      kind: this.kinds[i]!, mode: this.modes[i]!, mtimeMs: this.mtimes[i]!, size: this.sizeAt(i),
      ...(text !== undefined ? { text } : {}), ...(hash !== undefined ? { hash } : {}), ...(link !== undefined ? { link } : {}),
      ...(uid !== undefined && !Number.isNaN(uid) ? { uid } : {}), ...(gid !== undefined && !Number.isNaN(gid) ? { gid } : {}),
    };
  }

  /** Problem entries, in byte order. */
  problems(): { path: RelPath; error: string }[] {
    const out: { path: RelPath; error: string }[] = [];
    for (const [i, error] of this.texts) if (this.kinds[i] === PROBLEM) out.push({ path: this.pathAt(i), error });
    return out.sort((a, b) => compareRel(a.path, b.path));
  }
}

function recOf(e: Entry): Rec {
  switch (e.kind) {
    case "problem":
      return { kind: PROBLEM, mode: 0, mtimeMs: 0, size: 0, text: e.error };
    case "symlink":
      return { kind: SYMLINK, mode: e.mode, mtimeMs: e.mtimeMs, size: 0, text: e.target, ...owners(e) };
    case "dir":
      return { kind: DIR, mode: e.mode, mtimeMs: e.mtimeMs, size: 0, ...owners(e) };
    case "file":
      return {
        kind: FILE, mode: e.mode, mtimeMs: e.mtimeMs, size: e.size, ...owners(e),
        ...(e.hash !== undefined ? { hash: e.hash } : {}), ...(e.link !== undefined ? { link: e.link } : {}),
      };
  }
}

function owners(e: { uid?: number; gid?: number }): { uid?: number; gid?: number } {
  return { ...(e.uid !== undefined ? { uid: e.uid } : {}), ...(e.gid !== undefined ? { gid: e.gid } : {}) };
}

/** The compact form of any Snapshot (the planner's tables hand in Maps): itself when it already is one. */
export function toListing(snap: Snapshot): Listing {
  if (snap instanceof Listing) return snap;
  const b = new ListingBuilder();
  for (const [p, e] of snap) b.add(p, recOf(e));
  return b.finish();
}

/** Records per chunk of the builder's arrays. */
const SHIFT = 14;
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;
/** Bytes per record of the builder's fixed columns: mtime 8; name start, parent and size 4; mode 2; kind 1. */
const SLAB_BYTES = 23;
/** A size column's mark for a size that does not fit in it (the size is in a side table). */
const BIG_SIZE = 0xffffffff;
/** The most children of one directory finish() sorts by insertion (more: the engine's merge sort). */
const INSERTION_MAX = 32;
/** Bytes per chunk of the builder's name bytes (a longer name gets a chunk of its own). */
const NAME_SHIFT = 20;
const NAME_CHUNK = 1 << NAME_SHIFT;

/** The values at `order[0..m)` of a chunked column as one exact array. */
function gather<T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(chunks: readonly T[], order: Uint32Array, m: number, out: T): T {
  for (let j = 0; j < m; j++) {
    const i = order[j]!;
    out[j] = chunks[i >>> SHIFT]![i & MASK]!;
  }
  return out;
}

/** at[order[j]] = j for the first m. */
function placeAll(order: Uint32Array, m: number, at: Int32Array): void {
  for (let j = 0; j < m; j++) at[order[j]!] = j;
}

/** The records in tree order into `order`: a preorder walk from the root, without recursion (a tree may be deep). */
function preorder(first: Int32Array, children: Uint32Array, order: Uint32Array): void {
  let out = 0;
  const stack: number[] = [0];
  while (stack.length > 0) {
    const i = stack.pop()!;
    order[out++] = i;
    for (let k = first[i + 1]! - 1; k >= first[i]!; k--) stack.push(children[k]!);
  }
}

/** src[from, to) as a RelPath (one code unit per byte). */
function latin1(src: Buffer, from: number, to: number): RelPath {
  return src.toString("latin1", from, to) as RelPath;
}

/** Every record's whole path as bytes (for sorting records that did not come as a walk). */
interface Whole {
  readonly bytes: Buffer;
  readonly offs: Float64Array;
}

/**
 * Collects records in any order (a walk's or find's), then sorts them once into a Listing. While it
 * builds, the names sit as bytes in chunks and the numbers in chunks of typed arrays (23 B a record),
 * so a million records cost no object each; finish() gathers them into the listing's exact columns.
 *
 * A record whose parent directory came before it keeps only its name and its parent's index; any
 * other keeps its whole path, and then finish() sorts by whole paths. The parent is found while the
 * records come in preorder (find's output), or when the walk names it (enter()).
 */
export class ListingBuilder {
  private readonly names: Buffer[] = [];
  /** Bytes used in each names chunk (the last one still fills). */
  private readonly nameEnds: number[] = [];
  /** Bytes used in the last names chunk. */
  private used = NAME_CHUNK;
  // Columns as chunks of CHUNK records each, one typed-array type per field (so each access site
  // sees one type). Every column has the same number of chunks, except the owners (made on first use).
  /**
   * Where each record's name starts: names[pos >>> NAME_SHIFT] at pos & (NAME_CHUNK - 1). Names are
   * appended in record order, so one ends where the next starts, or at its chunk's end.
   */
  private starts: Uint32Array[] = [];
  /** The parent directory's record (the root's children: the root's, 0), or -1: the name is the whole path. */
  private parents: Int32Array[] = [];
  private n = 0;
  private kinds: Uint8Array[] = [];
  private modes: Uint16Array[] = [];
  private mtimes: Float64Array[] = [];
  private sizes: Uint32Array[] = [];
  private readonly bigSizes = new Map<number, number>();
  private uids: Float64Array[] = [];
  private gids: Float64Array[] = [];
  private hasOwners = false;
  private readonly texts = new Map<number, string>();
  private readonly hashes = new Map<number, string>();
  private readonly links = new Map<number, string>();
  private dropped = 0;
  /** The directory records a child may still come for (preorder), by index. */
  private readonly openDirs = new OpenDirs<number>();
  /** False once a record came without its parent before it, or twice: finish() then sorts by comparing. */
  private structured = true;
  /** The parent directory of the last record that needed a lookup, and its index. */
  private lastParent = "";
  private lastParentIndex = -1;
  /** lastParent's bytes for addPlain(), when bytesOf is lastParent (else they are stale). */
  private parentBytes = Buffer.allocUnsafe(256);
  private bytesOf: string | undefined;

  /** `excludedBy`: the Listing's (the exclude matcher the caller applies to every record it adds). */
  constructor(private readonly excludedBy?: string) {}

  /** Records added and not dropped. */
  get count(): number {
    return this.n - this.dropped;
  }

  /**
   * A new chunk for names (a name longer than a chunk gets one of its own, and nothing after it, at
   * the next chunk's position: every name starts below NAME_CHUNK in its chunk).
   */
  private nameChunk(len: number): void {
    this.names.push(Buffer.allocUnsafeSlow(Math.max(NAME_CHUNK, len)));
    this.nameEnds.push(0);
    this.used = 0;
  }

  /** Appends p's bytes from `from` on (a RelPath is one code unit per byte); returns where they start. */
  private addName(p: string, from: number): number {
    const len = p.length - from;
    if (this.used >= NAME_CHUNK || this.used + len > this.names.at(-1)!.length) this.nameChunk(len);
    const k = this.names.length - 1;
    const chunk = this.names[k]!;
    const at = this.used;
    // A name is ~10 bytes: copied by hand, it needs no substring and no call into C++.
    if (len < 64) for (let b = 0; b < len; b++) chunk[at + b] = p.charCodeAt(from + b);
    else chunk.write(from === 0 ? p : p.slice(from), at, "latin1");
    this.used += len;
    this.nameEnds[k] = this.used;
    return k * NAME_CHUNK + at;
  }

  /**
   * The parent record of p when the walk has given it, else -1 (and the builder is no longer
   * structured); lastParent is then the parent's path.
   */
  private parentOf(p: RelPath, i: number): number {
    if (p === "") {
      if (i !== 0) this.unstructure();
      return -1;
    }
    if (!this.structured) return -1;
    // Most records are a sibling of the one before: the same parent, found without a lookup.
    const q = this.lastParent;
    const L = q.length;
    if (this.lastParentIndex >= 0 && (L === 0 ? p.indexOf("/") < 0 : p.length > L + 1 && p.charCodeAt(L) === 0x2f && p.startsWith(q) && p.indexOf("/", L + 1) < 0)) {
      return this.lastParentIndex;
    }
    const dir = parentOf(p);
    const parent = this.openDirs.find(dir);
    if (parent === undefined) {
      this.unstructure();
      return -1;
    }
    this.lastParent = dir;
    this.lastParentIndex = parent;
    return parent;
  }

  private unstructure(): void {
    this.structured = false;
  }

  /**
   * The records that follow, up to the next enter(), are children of directory record `index` at
   * `dir`: a walk that reads directories in any order says so instead of adding in preorder.
   */
  enter(dir: RelPath, index: number): void {
    this.lastParent = dir;
    this.lastParentIndex = index;
  }

  /**
   * One more chunk of every column, in one allocation (widest first, so each view is aligned): at
   * 368 KiB it is over glibc's mmap threshold (cli/main.ts), so freeing it returns it to the system.
   * Column-sized chunks (16-128 KiB) came from malloc's arena, and a 1M-file plan ended with ~40 MB
   * of them freed but held there between the stream buffers. (Not inside add(): code there that runs
   * once per 16k records made V8 throw away add()'s optimized code each time it ran.)
   */
  private grow(): void {
    const slab = new ArrayBuffer(CHUNK * SLAB_BYTES);
    this.mtimes.push(new Float64Array(slab, 0, CHUNK));
    this.starts.push(new Uint32Array(slab, 8 * CHUNK, CHUNK));
    this.parents.push(new Int32Array(slab, 12 * CHUNK, CHUNK));
    this.sizes.push(new Uint32Array(slab, 16 * CHUNK, CHUNK));
    this.modes.push(new Uint16Array(slab, 20 * CHUNK, CHUNK));
    this.kinds.push(new Uint8Array(slab, 22 * CHUNK, CHUNK));
  }

  /** Appends a record; returns its index (for set/drop while the walk goes on). */
  add(p: RelPath, r: Rec): number {
    const i = this.n++;
    const c = i >>> SHIFT;
    const o = i & MASK;
    if (c === this.kinds.length) this.grow();
    const parent = this.parentOf(p, i);
    const from = parent < 0 || this.lastParent.length === 0 ? 0 : this.lastParent.length + 1;
    this.parents[c]![o] = parent;
    this.starts[c]![o] = this.addName(p, from);
    this.kinds[c]![o] = r.kind;
    this.modes[c]![o] = r.mode;
    this.mtimes[c]![o] = r.mtimeMs;
    if (r.size < BIG_SIZE) this.sizes[c]![o] = r.size;
    else {
      this.sizes[c]![o] = BIG_SIZE;
      this.bigSizes.set(i, r.size);
    }
    if (r.uid !== undefined || r.gid !== undefined || this.hasOwners) {
      this.hasOwners = true;
      while (this.uids.length <= c) {
        this.uids.push(new Float64Array(CHUNK).fill(NaN));
        this.gids.push(new Float64Array(CHUNK).fill(NaN));
      }
      this.uids[c]![o] = r.uid ?? NaN;
      this.gids[c]![o] = r.gid ?? NaN;
    }
    if (r.text !== undefined) this.texts.set(i, r.text);
    if (r.hash !== undefined) this.hashes.set(i, r.hash);
    if (r.link !== undefined) this.links.set(i, r.link);
    // A directory listed twice while open: its children could not tell the two apart.
    if (r.kind === DIR && this.structured && !this.openDirs.open(p, i)) this.unstructure();
    return i;
  }

  /**
   * add() of a file or directory record with no text, hash, link or owners, its path given as the
   * bytes src[from, to). A find listing's records mostly follow a sibling: such a record's parent is
   * found and its name copied from the bytes, and no string is made for it (the others, and every
   * directory, which OpenDirs keeps by path, make theirs).
   */
  addPlain(src: Buffer, from: number, to: number, kind: number, mode: number, mtimeMs: number, size: number): number {
    const i = this.n;
    const L = this.lastParent.length;
    let parent: number;
    let nameFrom: number;
    let p: RelPath | undefined;
    if (this.lastParentIndex >= 0 && this.structured && this.bytesOf === this.lastParent && i > 0 && this.siblingBytes(src, from, to, L)) {
      parent = this.lastParentIndex;
      nameFrom = L === 0 ? from : from + L + 1;
    } else {
      p = latin1(src, from, to);
      parent = this.parentOf(p, i);
      nameFrom = parent < 0 || this.lastParent.length === 0 ? from : from + this.lastParent.length + 1;
      if (this.bytesOf !== this.lastParent) this.keepParentBytes();
    }
    this.n++;
    const c = i >>> SHIFT;
    const o = i & MASK;
    if (c === this.kinds.length) this.grow();
    this.parents[c]![o] = parent;
    this.starts[c]![o] = this.addNameBytes(src, nameFrom, to);
    this.kinds[c]![o] = kind;
    this.modes[c]![o] = mode;
    this.mtimes[c]![o] = mtimeMs;
    if (size < BIG_SIZE) this.sizes[c]![o] = size;
    else {
      this.sizes[c]![o] = BIG_SIZE;
      this.bigSizes.set(i, size);
    }
    if (this.hasOwners) this.noOwners(c, o);
    if (kind === DIR && this.structured && !this.openDirs.open(p ?? latin1(src, from, to), i)) this.unstructure();
    return i;
  }

  /** Whether src[from, to) is a child of the L bytes in parentBytes (L = 0: the root's child). */
  private siblingBytes(src: Uint8Array, from: number, to: number, L: number): boolean {
    const at = L === 0 ? from : from + L + 1;
    if (at >= to || (L > 0 && src[from + L] !== 0x2f)) return false;
    for (let k = at; k < to; k++) if (src[k] === 0x2f) return false;
    const q = this.parentBytes;
    for (let k = 0; k < L; k++) if (src[from + k] !== q[k]) return false;
    return true;
  }

  private keepParentBytes(): void {
    const q = this.lastParent;
    if (q.length > this.parentBytes.length) this.parentBytes = Buffer.allocUnsafe(2 * q.length);
    this.parentBytes.write(q, 0, "latin1");
    this.bytesOf = q;
  }

  /** addName() from bytes: src[from, to). */
  private addNameBytes(src: Uint8Array, from: number, to: number): number {
    const len = to - from;
    if (this.used >= NAME_CHUNK || this.used + len > this.names.at(-1)!.length) this.nameChunk(len);
    const k = this.names.length - 1;
    const chunk = this.names[k]!;
    const at = this.used;
    for (let b = 0; b < len; b++) chunk[at + b] = src[from + b]!;
    this.used += len;
    this.nameEnds[k] = this.used;
    return k * NAME_CHUNK + at;
  }

  /** Record (c, o) has no owners, in a builder that holds some. */
  private noOwners(c: number, o: number): void {
    while (this.uids.length <= c) {
      this.uids.push(new Float64Array(CHUNK).fill(NaN));
      this.gids.push(new Float64Array(CHUNK).fill(NaN));
    }
    this.uids[c]![o] = NaN;
    this.gids[c]![o] = NaN;
  }

  /** Sets record i's content hash (a deep scan's hashes arrive after its records). */
  setHash(i: number, hash: string): void {
    if (this.kindAt(i) === FILE) this.hashes.set(i, hash);
  }

  /** Turns record i into a problem (a directory found unreadable after its own entry was taken). */
  setProblem(i: number, error: string): void {
    this.kinds[i >>> SHIFT]![i & MASK] = PROBLEM;
    this.texts.set(i, error);
    this.hashes.delete(i);
    this.links.delete(i);
  }

  /** Forgets record i (a directory that vanished before it could be read). */
  drop(i: number): void {
    if (this.kindAt(i) === DROPPED) return;
    this.kinds[i >>> SHIFT]![i & MASK] = DROPPED;
    this.dropped++;
  }

  private kindAt(i: number): number {
    return this.kinds[i >>> SHIFT]![i & MASK]!;
  }

  private lenAt(i: number): number {
    const s = this.startAt(i);
    const k = s >>> NAME_SHIFT;
    const end = i + 1 < this.n && this.startAt(i + 1) >>> NAME_SHIFT === k ? this.startAt(i + 1) & (NAME_CHUNK - 1) : this.nameEnds[k]!;
    return end - (s & (NAME_CHUNK - 1));
  }

  private startAt(i: number): number {
    return this.starts[i >>> SHIFT]![i & MASK]!;
  }

  private parentAt(i: number): number {
    return this.parents[i >>> SHIFT]![i & MASK]!;
  }

  /**
   * Byte order of the names of records a and b. It runs for every comparison of finish()'s sort, so
   * startAt and lenAt are written out: the one-shot commands run without TurboFan's inlining (cli/main.ts).
   */
  private compareNames(a: number, b: number): number {
    const starts = this.starts;
    const sa = starts[a >>> SHIFT]![a & MASK]!;
    const sb = starts[b >>> SHIFT]![b & MASK]!;
    const ka = sa >>> NAME_SHIFT;
    const kb = sb >>> NAME_SHIFT;
    const fa = sa & (NAME_CHUNK - 1);
    const fb = sb & (NAME_CHUNK - 1);
    // A name ends where the next record's starts, unless that one begins a new chunk.
    const na = a + 1 < this.n ? starts[(a + 1) >>> SHIFT]![(a + 1) & MASK]! : -1;
    const nb = b + 1 < this.n ? starts[(b + 1) >>> SHIFT]![(b + 1) & MASK]! : -1;
    const ea = na >= 0 && na >>> NAME_SHIFT === ka ? na & (NAME_CHUNK - 1) : this.nameEnds[ka]!;
    const eb = nb >= 0 && nb >>> NAME_SHIFT === kb ? nb & (NAME_CHUNK - 1) : this.nameEnds[kb]!;
    const x = this.names[ka]!;
    const y = this.names[kb]!;
    const len = Math.min(ea - fa, eb - fb);
    for (let k = 0; k < len; k++) {
      const d = x[fa + k]! - y[fb + k]!;
      if (d !== 0) return d;
    }
    return ea - fa - (eb - fb);
  }

  /** Every record's whole path: a parent's comes before its children's, so one pass in index order. */
  private whole(): Whole {
    const n = this.n;
    const offs = new Float64Array(n + 1);
    const lens = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const p = this.parentAt(i);
      const own = this.lenAt(i);
      lens[i] = p < 0 || lens[p] === 0 ? own : lens[p]! + 1 + own;
      total += lens[i]!;
    }
    const bytes = Buffer.allocUnsafeSlow(total);
    for (let i = 0, at = 0; i < n; i++) {
      offs[i] = at;
      const p = this.parentAt(i);
      if (p >= 0 && lens[p] !== 0) {
        bytes.copy(bytes, at, offs[p]!, offs[p]! + lens[p]!);
        at += lens[p]!;
        bytes[at++] = 0x2f;
      }
      const s = this.startAt(i);
      const from = s & (NAME_CHUNK - 1);
      this.names[s >>> NAME_SHIFT]!.copy(bytes, at, from, from + this.lenAt(i));
      at += this.lenAt(i);
    }
    offs[n] = total;
    return { bytes, offs };
  }

  /**
   * The records in tree order (indexes into the builder's arrays), duplicates still in. A walk's
   * order uses `scratch` (n + 1 long), which linkWalked uses again: one array less at the peak.
   */
  private order(whole: Whole | undefined, scratch: Int32Array): Uint32Array {
    const n = this.n;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (whole !== undefined) {
      const { bytes, offs } = whole;
      // A typed array's sort with a comparator is stable: equal paths keep their order.
      return order.sort((a, b) => compareBytes(bytes, offs[a]!, offs[a + 1]!, bytes, offs[b]!, offs[b + 1]!));
    }
    const first = scratch.fill(0);
    const children = this.groupChildren(first);
    this.sortChildren(first, children);
    preorder(first, children, order);
    return order;
  }

  /**
   * Children of each directory, grouped by parent: a counting sort, filled from the back so each
   * group keeps the order its children came in; first[d] ends as where d's group starts.
   */
  private groupChildren(first: Int32Array): Uint32Array {
    const n = this.n;
    for (let i = 1; i < n; i++) first[this.parentAt(i)]++;
    for (let i = 0, sum = 0; i <= n; i++) first[i] = sum += first[i]!;
    const children = new Uint32Array(Math.max(0, n - 1));
    for (let i = n - 1; i >= 1; i--) children[--first[this.parentAt(i)]!] = i;
    return children;
  }

  /** Each directory's group of children sorted by name. */
  private sortChildren(first: Int32Array, children: Uint32Array): void {
    const n = this.n;
    const cmp = (a: number, b: number) => this.compareNames(a, b);
    for (let d = 0; d < n; d++) {
      const from = first[d]!;
      const to = first[d + 1]!;
      if (to - from <= INSERTION_MAX) {
        // A directory's few children: an insertion sort (stable, n - 1 comparisons when already
        // sorted) makes no call from the engine's sort back into JS per comparison.
        for (let k = from + 1; k < to; k++) {
          const c = children[k]!;
          let j = k - 1;
          for (; j >= from && this.compareNames(children[j]!, c) > 0; j--) children[j + 1] = children[j]!;
          children[j + 1] = c;
        }
        continue;
      }
      let sorted = true;
      for (let k = from + 1; k < to && sorted; k++) if (cmp(children[k - 1]!, children[k]!) > 0) sorted = false;
      if (!sorted) children.subarray(from, to).sort(cmp);
    }
  }

  /** Whether records a and b have the same path. */
  private samePath(a: number, b: number, whole: Whole | undefined): boolean {
    if (whole === undefined) return this.parentAt(a) === this.parentAt(b) && this.compareNames(a, b) === 0;
    const { bytes, offs } = whole;
    return plainOrder(bytes, offs[a]!, offs[a + 1]!, bytes, offs[b]!, offs[b + 1]!) === 0;
  }

  /** The Listing in tree order; a path added twice keeps its last record. The builder is spent. */
  finish(): Listing {
    return this.finishMapped(false).listing;
  }

  /** finish(), and (`mapped`) each record's index in the listing (-1: not kept), for side values that come later. */
  finishMapped(mapped = true): { listing: Listing; at: Int32Array } {
    const n = this.n;
    // A walk's records are ordered by their parents and names; any other, by whole paths.
    const whole = this.structured && (n === 0 || (this.lenAt(0) === 0 && this.parentAt(0) < 0)) ? undefined : this.whole();
    const scratch = new Int32Array(whole === undefined ? n + 1 : 0);
    const order = this.order(whole, scratch);
    const m = this.keep(order, whole);
    const { names, offs, parents } = whole === undefined ? this.linkWalked(order, m, scratch) : linkSorted(whole, order, m);
    this.names.length = 0;
    this.nameEnds.length = 0;
    const remap = <V>(from: Map<number, V>): Map<number, V> => {
      const to = new Map<number, V>();
      if (from.size === 0) return to;
      for (let j = 0; j < m; j++) {
        const v = from.get(order[j]!);
        if (v !== undefined) to.set(j, v);
      }
      return to;
    };
    const kinds = gather(this.kinds, order, m, new Uint8Array(m));
    const modes = gather(this.modes, order, m, new Uint16Array(m));
    const mtimes = gather(this.mtimes, order, m, new Float64Array(m));
    const sizes = gather(this.sizes, order, m, new Uint32Array(m));
    const uids = this.hasOwners ? gather(this.uids, order, m, new Float64Array(m).fill(NaN)) : undefined;
    const gids = this.hasOwners ? gather(this.gids, order, m, new Float64Array(m).fill(NaN)) : undefined;
    this.starts = [];
    this.parents = [];
    this.kinds = [];
    this.modes = [];
    this.mtimes = [];
    this.sizes = [];
    this.uids = [];
    this.gids = [];
    const listing = new Listing(names, offs, parents, kinds, modes, mtimes, sizes, remap(this.bigSizes), remap(this.texts), remap(this.hashes), remap(this.links), uids, gids, this.excludedBy);
    const at = new Int32Array(mapped ? n : 0).fill(-1);
    if (mapped) placeAll(order, m, at);
    this.n = 0;
    return { listing, at };
  }

  // finish() runs once per listing: each of its loops is a function of its own that ends with the
  // loop. V8 optimizes a hot loop alone (on-stack replacement) and keeps that code for the next call,
  // so code after a loop, not run before it was optimized, sent every listing back to the interpreter
  // (finish and its helpers were optimized ~20 times in a small-20k plan).

  /** The kept records of `order` written over its front, in order (k only moves ahead of m); returns m. */
  private keep(order: Uint32Array, whole: Whole | undefined): number {
    const n = this.n;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      if (k + 1 < n && this.samePath(order[k + 1]!, i, whole)) continue;
      if (this.kindAt(i) === DROPPED) continue;
      order[m++] = i;
    }
    return m;
  }

  /**
   * Names and parents of the kept records `order[0..m)` of a walk: each keeps its name under its
   * parent's new index. A record whose parent was not kept (a directory dropped after its children
   * were added) is named from the nearest kept ancestor instead.
   */
  private linkWalked(order: Uint32Array, m: number, scratch: Int32Array): { names: Buffer; offs: Uint32Array; parents: Int32Array } {
    const parents = new Int32Array(m);
    const longer = new Map<number, string>();
    const bytes = this.linkParents(order, m, scratch.fill(-1), parents, longer);
    const names = Buffer.allocUnsafeSlow(bytes);
    const offs = new Uint32Array(m + 1);
    this.copyNames(order, m, longer, names, offs);
    return { names, offs, parents };
  }

  /**
   * Sets each kept record's new parent index (`at`: each record's new index, or -1, filled as it
   * goes) and the whole name of those named from a further ancestor; returns the names' bytes.
   */
  private linkParents(order: Uint32Array, m: number, at: Int32Array, parents: Int32Array, longer: Map<number, string>): number {
    let bytes = 0;
    for (let j = 0; j < m; j++) {
      const i = order[j]!;
      at[i] = j;
      let p = this.parentAt(i);
      if (p > 0 && at[p]! < 0) {
        const parts = [this.nameAt(i)];
        for (; p > 0 && at[p]! < 0; p = this.parentAt(p)) parts.unshift(this.nameAt(p));
        longer.set(j, parts.join("/"));
      }
      parents[j] = p > 0 ? at[p]! : -1;
      // (longer is empty but for dropped directories: no lookup per record then)
      bytes += longer.size === 0 ? this.lenAt(i) : longer.get(j)?.length ?? this.lenAt(i);
    }
    return bytes;
  }

  /** The kept records' names back to back into `names`, each one's end in offs[j + 1]. */
  private copyNames(order: Uint32Array, m: number, longer: Map<number, string>, names: Buffer, offs: Uint32Array): void {
    let to = 0;
    for (let j = 0; j < m; j++) {
      const i = order[j]!;
      const l = longer.size === 0 ? undefined : longer.get(j);
      if (l !== undefined) to += names.write(l, to, "latin1");
      else {
        const s = this.startAt(i);
        const from = s & (NAME_CHUNK - 1);
        const chunk = this.names[s >>> NAME_SHIFT]!;
        for (let k = from, end = from + this.lenAt(i); k < end; k++) names[to++] = chunk[k]!;
      }
      offs[j + 1] = to;
    }
  }

  private nameAt(i: number): string {
    const s = this.startAt(i);
    const from = s & (NAME_CHUNK - 1);
    return this.names[s >>> NAME_SHIFT]!.toString("latin1", from, from + this.lenAt(i));
  }
}

/**
 * Names and parents of the kept records `order[0..m)`, sorted by whole paths: a stack of the entries
 * that are ancestors of the current one (tree order puts every ancestor before its subtree) gives
 * each its nearest listed ancestor, and its name is the rest of its path.
 */
function linkSorted(whole: Whole, order: Uint32Array, m: number): { names: Buffer; offs: Uint32Array; parents: Int32Array } {
  const { bytes, offs: w } = whole;
  const parents = new Int32Array(m);
  const cut = new Float64Array(m);
  const stack: number[] = [];
  let total = 0;
  const inside = (a: number, b: number) => {
    // Whether whole path a is a proper ancestor of b.
    const la = w[a + 1]! - w[a]!;
    const lb = w[b + 1]! - w[b]!;
    if (la === 0 || la >= lb || bytes[w[b]! + la] !== 0x2f) return false;
    return plainOrder(bytes, w[a]!, w[a + 1]!, bytes, w[b]!, w[b]! + la) === 0;
  };
  for (let j = 0; j < m; j++) {
    const i = order[j]!;
    while (stack.length > 0 && !inside(order[stack.at(-1)!]!, i)) stack.pop();
    const p = stack.at(-1) ?? -1;
    parents[j] = p;
    cut[j] = p < 0 ? 0 : w[order[p]! + 1]! - w[order[p]!]! + 1;
    total += w[i + 1]! - w[i]! - cut[j]!;
    stack.push(j);
  }
  const names = Buffer.allocUnsafeSlow(total);
  const offs = new Uint32Array(m + 1);
  let to = 0;
  for (let j = 0; j < m; j++) {
    const i = order[j]!;
    to += bytes.copy(names, to, w[i]! + cut[j]!, w[i + 1]!);
    offs[j + 1] = to;
  }
  return { names, offs, parents };
}
