// The compact form of a Snapshot (issue 12): one sorted array of paths and packed metadata in typed
// arrays, instead of one Map slot and one object per path. A scan of a million entries held ~183 B per
// entry as a Map of objects; this holds the path string plus 19 B (kind, mode, mtime, size), with
// the rare fields (symlink targets, problem texts, hashes, hard-link ids, owners) in side tables.
// It is a ReadonlyMap<RelPath, Entry>, so every caller of a Snapshot works unchanged (get() is a
// binary search, iteration builds each Entry as it goes); the planner reads it by index instead.
//
// Order: tree order (compareTree), a directory before its subtree and siblings by name bytes, which
// is byte order with "/" sorting first. A walk that adds each directory's children sorted, after the
// directory itself, is put in this order without comparing paths at all (a walk of the tree).
import { compareRel, parentOf, type RelPath } from "./paths.js";
import type { Entry, EntryKind, Snapshot } from "./snapshot.js";

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
  /** @internal use ListingBuilder or toListing. */
  constructor(
    /**
     * Every path's bytes, back to back in tree order; path i is names[offs[i], offs[i+1]). A JS string
     * per path cost 40–100 B of heap each (a walk's `dir + "/" + name` is two cons strings, a find
     * record's `slice(2)` a sliced one); as bytes a path costs its length plus 4.
     */
    readonly names: Buffer,
    readonly offs: Uint32Array,
    readonly kinds: Uint8Array,
    readonly modes: Uint16Array,
    readonly mtimes: Float64Array,
    readonly sizes: Float64Array,
    /** Symlink targets and problem errors by index. */
    readonly texts: ReadonlyMap<number, string>,
    readonly hashes: ReadonlyMap<number, string>,
    readonly links: ReadonlyMap<number, string>,
    /** uid/gid per index (NaN: not read); absent when no entry has them. */
    readonly uids: Float64Array | undefined,
    readonly gids: Float64Array | undefined,
  ) {}

  get size(): number {
    return this.kinds.length;
  }

  /** The path at index i (a new string each call: callers ask only where they need one). */
  pathAt(i: number): RelPath {
    return this.names.toString("latin1", this.offs[i]!, this.offs[i + 1]!) as RelPath;
  }

  /** Tree order of path i against the string p. */
  private compareTo(i: number, p: string): number {
    const a = this.names;
    const from = this.offs[i]!;
    const len = this.offs[i + 1]! - from;
    const n = Math.min(len, p.length);
    let k = 0;
    while (k < n && a[from + k] === p.charCodeAt(k)) k++;
    if (k === n) return len - p.length;
    const x = a[from + k]!;
    const y = p.charCodeAt(k);
    return x === 0x2f ? -1 : y === 0x2f ? 1 : x - y;
  }

  /** Whether path i is `dir` or below it (compared as bytes, no string made). */
  isInside(i: number, dir: string): boolean {
    const from = this.offs[i]!;
    const len = this.offs[i + 1]! - from;
    if (len < dir.length || (len > dir.length && this.names[from + dir.length] !== 0x2f)) return false;
    for (let k = 0; k < dir.length; k++) if (this.names[from + k] !== dir.charCodeAt(k)) return false;
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

  /** Tree order of this listing's path i against `other`'s path j (for a merge of two listings). */
  compareAt(i: number, other: Listing, j: number): number {
    return compareBytes(this.names, this.offs[i]!, this.offs[i + 1]!, other.names, other.offs[j]!, other.offs[j + 1]!);
  }

  /** The Entry at index i, with exactly the fields a scan of it reads (none set to undefined). */
  entryAt(i: number): Entry {
    const kind = this.kinds[i]!;
    if (kind === PROBLEM) return { kind: "problem", error: this.texts.get(i) ?? "" };
    const e: Record<string, unknown> = { kind: KINDS[kind] };
    if (kind === FILE) e["size"] = this.sizes[i];
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

  /** The paths of the entries of this kind, in tree order. */
  pathsOfKind(kind: number): RelPath[] {
    const out: RelPath[] = [];
    for (let i = 0; i < this.size; i++) if (this.kinds[i] === kind) out.push(this.pathAt(i));
    return out;
  }

  /** The same listing with these file hashes set (paths that are not files here are ignored). */
  withHashes(hashes: ReadonlyMap<RelPath, string>): Listing {
    return this.withSide(hashes, "hashes");
  }

  /** The same listing with these hard-link ids ("dev:ino") set on files. */
  withLinks(links: ReadonlyMap<RelPath, string>): Listing {
    return this.withSide(links, "links");
  }

  private withSide(values: ReadonlyMap<RelPath, string>, side: "hashes" | "links"): Listing {
    if (values.size === 0) return this;
    const out = new Map(this[side]);
    for (const [p, v] of values) {
      const i = this.indexOf(p);
      if (i >= 0 && this.kinds[i] === FILE) out.set(i, v);
    }
    const [hashes, links] = side === "hashes" ? [out, this.links] : [this.hashes, out];
    return new Listing(this.names, this.offs, this.kinds, this.modes, this.mtimes, this.sizes, this.texts, hashes, links, this.uids, this.gids);
  }

  /** The same listing with these texts (symlink targets or problem errors) replaced, by index. */
  withTexts(texts: ReadonlyMap<number, string>): Listing {
    if (texts.size === 0) return this;
    const out = new Map([...this.texts, ...texts]);
    return new Listing(this.names, this.offs, this.kinds, this.modes, this.mtimes, this.sizes, out, this.hashes, this.links, this.uids, this.gids);
  }

  /** The listing without the entries at these indexes (a copy; `this` when there are none). */
  without(drop: ReadonlySet<number>): Listing {
    if (drop.size === 0) return this;
    const b = new ListingBuilder();
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
      kind: this.kinds[i]!, mode: this.modes[i]!, mtimeMs: this.mtimes[i]!, size: this.sizes[i]!,
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
/** Bytes per chunk of the builder's path bytes (a longer path gets a chunk of its own). */
const NAME_SHIFT = 20;
const NAME_CHUNK = 1 << NAME_SHIFT;

/** The values at `order[0..m)` of a chunked column as one exact array. */
function gather<T extends Uint8Array | Uint16Array | Float64Array>(chunks: readonly T[], order: Uint32Array, m: number, out: T): T {
  for (let j = 0; j < m; j++) {
    const i = order[j]!;
    out[j] = chunks[i >>> SHIFT]![i & MASK]!;
  }
  return out;
}

/**
 * Collects records in any order (a walk's or find's), then sorts them once into a Listing. While it
 * builds, the paths sit as bytes in chunks and the numbers in chunked typed arrays, so a million
 * records cost no object each, and finish() turns one column at a time into the listing's, freeing
 * the builder's as it goes: the peak is the records once plus one column, not twice everything.
 */
export class ListingBuilder {
  private readonly names: Buffer[] = [];
  /** Bytes used in the last names chunk. */
  private used = NAME_CHUNK;
  /** Where each path's bytes start: names[pos >>> NAME_SHIFT] at pos & (NAME_CHUNK - 1); and their length. */
  // Columns as chunks of CHUNK records each, one typed-array type per field (so each access site
  // sees one type). Every column has the same number of chunks, except the owners (made on first use).
  private starts: Uint32Array[] = [];
  private lens: Uint32Array[] = [];
  private n = 0;
  private kinds: Uint8Array[] = [];
  private modes: Uint16Array[] = [];
  private mtimes: Float64Array[] = [];
  private sizes: Float64Array[] = [];
  private parents: Int32Array[] = [];
  private uids: Float64Array[] = [];
  private gids: Float64Array[] = [];
  private hasOwners = false;
  private readonly texts = new Map<number, string>();
  private readonly hashes = new Map<number, string>();
  private readonly links = new Map<number, string>();
  private dropped = 0;
  /** Index of every directory record by path, for its children's parents. */
  private readonly dirs = new Map<string, number>();
  /** False once a record came without its parent before it, or twice: finish() then sorts by comparing. */
  private structured = true;
  /** The parent directory of the last record that needed a lookup, and its index. */
  private lastParent = "";
  private lastParentIndex = -1;

  /** Records added and not dropped. */
  get count(): number {
    return this.n - this.dropped;
  }

  /** Appends the path's bytes (a RelPath is one code unit per byte); returns where they start. */
  private addName(p: string): number {
    if (this.used + p.length > (this.names.at(-1)?.length ?? 0)) {
      // A path longer than a chunk gets one of its own, at the next chunk's position.
      this.names.push(Buffer.allocUnsafeSlow(Math.max(NAME_CHUNK, p.length)));
      this.used = 0;
    }
    const k = this.names.length - 1;
    const at = this.used;
    this.used += this.names[k]!.write(p, at, "latin1");
    return k * NAME_CHUNK + at;
  }

  /** Appends a record; returns its index (for set/drop while the walk goes on). */
  add(p: RelPath, r: Rec): number {
    const i = this.n++;
    const c = i >>> SHIFT;
    const o = i & MASK;
    if (c === this.kinds.length) {
      this.starts.push(new Uint32Array(CHUNK));
      this.lens.push(new Uint32Array(CHUNK));
      this.kinds.push(new Uint8Array(CHUNK));
      this.modes.push(new Uint16Array(CHUNK));
      this.mtimes.push(new Float64Array(CHUNK));
      this.sizes.push(new Float64Array(CHUNK));
      this.parents.push(new Int32Array(CHUNK));
    }
    this.starts[c]![o] = this.addName(p);
    this.lens[c]![o] = p.length;
    this.kinds[c]![o] = r.kind;
    this.modes[c]![o] = r.mode;
    this.mtimes[c]![o] = r.mtimeMs;
    this.sizes[c]![o] = r.size;
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
    if (p === "") {
      this.parents[c]![o] = -1;
      if (i !== 0) this.structured = false;
    } else if (this.structured) {
      // Most records are a sibling of the one before: the same parent, found without a lookup.
      const q = this.lastParent;
      const L = q.length;
      if (this.lastParentIndex >= 0 && (L === 0 ? p.indexOf("/") < 0 : p.length > L + 1 && p.charCodeAt(L) === 0x2f && p.startsWith(q) && p.indexOf("/", L + 1) < 0)) {
        this.parents[c]![o] = this.lastParentIndex;
      } else {
        const dir = parentOf(p);
        const parent = this.dirs.get(dir);
        if (parent === undefined) this.structured = false;
        else {
          this.parents[c]![o] = parent;
          this.lastParent = dir;
          this.lastParentIndex = parent;
        }
      }
    }
    if (r.kind === DIR && this.structured) {
      if (this.dirs.has(p)) this.structured = false;
      else this.dirs.set(p, i);
    }
    return i;
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
    return this.lens[i >>> SHIFT]![i & MASK]!;
  }

  private startAt(i: number): number {
    return this.starts[i >>> SHIFT]![i & MASK]!;
  }

  private parentAt(i: number): number {
    return this.parents[i >>> SHIFT]![i & MASK]!;
  }

  /** Tree order (or, `plain`, byte order) of records a and b. */
  private compare(a: number, b: number, plain: boolean): number {
    const sa = this.startAt(a);
    const sb = this.startAt(b);
    const x = this.names[sa >>> NAME_SHIFT]!;
    const y = this.names[sb >>> NAME_SHIFT]!;
    const fa = sa & (NAME_CHUNK - 1);
    const fb = sb & (NAME_CHUNK - 1);
    const ta = fa + this.lenAt(a);
    const tb = fb + this.lenAt(b);
    return plain ? plainOrder(x, fa, ta, y, fb, tb) : compareBytes(x, fa, ta, y, fb, tb);
  }

  /** The records in tree order (indexes into the builder's arrays), duplicates still in. */
  private order(): Uint32Array {
    const n = this.n;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (!this.structured || (n > 0 && this.lenAt(0) !== 0)) {
      // A typed array's sort with a comparator is stable: equal paths keep their order.
      return order.sort((a, b) => this.compare(a, b, false));
    }
    // Children of each directory, grouped by parent (a counting sort keeps the order they came in).
    const first = new Int32Array(n + 1);
    for (let i = 1; i < n; i++) first[this.parentAt(i)]++;
    for (let i = 0, sum = 0; i <= n; i++) {
      const c = first[i]!;
      first[i] = sum;
      sum += c;
    }
    const next = first.slice();
    const children = new Uint32Array(Math.max(0, n - 1));
    for (let i = 1; i < n; i++) children[next[this.parentAt(i)]!++] = i;
    this.parents = [];
    // Siblings by name: their paths share the parent's prefix, so plain byte order is name order.
    const cmp = (a: number, b: number) => this.compare(a, b, true);
    for (let d = 0; d < n; d++) {
      const from = first[d]!;
      const to = first[d + 1]!;
      let sorted = true;
      for (let k = from + 1; k < to && sorted; k++) if (cmp(children[k - 1]!, children[k]!) > 0) sorted = false;
      if (!sorted) children.subarray(from, to).sort(cmp);
    }
    // Preorder walk from the root, without recursion (a tree may be deep).
    let out = 0;
    const stack: number[] = [0];
    while (stack.length > 0) {
      const i = stack.pop()!;
      order[out++] = i;
      for (let k = first[i + 1]! - 1; k >= first[i]!; k--) stack.push(children[k]!);
    }
    return order;
  }

  /** The Listing in tree order; a path added twice keeps its last record. The builder is spent. */
  finish(): Listing {
    const n = this.n;
    const order = this.order();
    this.dirs.clear();
    // Kept records, in order, written over the front of `order` (k only moves ahead of m).
    let m = 0;
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      if (k + 1 < n && this.compare(order[k + 1]!, i, true) === 0) continue;
      if (this.kindAt(i) === DROPPED) continue;
      order[m++] = i;
      bytes += this.lenAt(i);
    }
    const names = Buffer.allocUnsafeSlow(bytes);
    const offs = new Uint32Array(m + 1);
    let at = 0;
    for (let j = 0; j < m; j++) {
      const i = order[j]!;
      const s = this.startAt(i);
      const from = s & (NAME_CHUNK - 1);
      const to = from + this.lenAt(i);
      const chunk = this.names[s >>> NAME_SHIFT]!;
      for (let k = from; k < to; k++) names[at++] = chunk[k]!;
      offs[j + 1] = at;
    }
    this.names.length = 0;
    this.starts = [];
    this.lens = [];
    const remap = (from: Map<number, string>): Map<number, string> => {
      const to = new Map<number, string>();
      if (from.size === 0) return to;
      for (let j = 0; j < m; j++) {
        const v = from.get(order[j]!);
        if (v !== undefined) to.set(j, v);
      }
      return to;
    };
    // One column at a time, each dropped once gathered.
    const kinds = gather(this.kinds, order, m, new Uint8Array(m));
    this.kinds = [];
    const modes = gather(this.modes, order, m, new Uint16Array(m));
    this.modes = [];
    const mtimes = gather(this.mtimes, order, m, new Float64Array(m));
    this.mtimes = [];
    const sizes = gather(this.sizes, order, m, new Float64Array(m));
    this.sizes = [];
    const uids = this.hasOwners ? gather(this.uids, order, m, new Float64Array(m).fill(NaN)) : undefined;
    const gids = this.hasOwners ? gather(this.gids, order, m, new Float64Array(m).fill(NaN)) : undefined;
    this.uids = [];
    this.gids = [];
    const listing = new Listing(names, offs, kinds, modes, mtimes, sizes, remap(this.texts), remap(this.hashes), remap(this.links), uids, gids);
    this.n = 0;
    return listing;
  }
}
