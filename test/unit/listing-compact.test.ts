// The compact listing (model/listing.ts): the same entries as the Map it stands for, in tree order
// whether it was built walking the tree (no comparisons) or from records in any order (sorted).
import assert from "node:assert/strict";
import { test } from "node:test";
import { compareTree, ListingBuilder, toListing } from "../../reconciler/model/listing.js";
import { OpenDirs } from "../../reconciler/model/open-dirs.js";
import { compareRel, type RelPath } from "../../reconciler/model/paths.js";
import type { Entry } from "../../reconciler/model/snapshot.js";
import { rng } from "../support/corpus.js";

const NAMES = ["a", "a.b", "a-b", "b", "ab", "a b", "\xff", "\x01"];
const T = 1_700_000_000_123.456;

/** A random tree as records in walk order: each directory's entry, then its children sorted. */
function walkTree(seed: number): [RelPath, Entry][] {
  const r = rng(seed);
  const out: [RelPath, Entry][] = [["" as RelPath, { kind: "dir", mode: 0o755, mtimeMs: T }]];
  const queue: RelPath[] = ["" as RelPath];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    const depth = dir === "" ? 0 : dir.split("/").length;
    for (const name of [...NAMES].sort()) {
      if (r() < 0.4) continue;
      const p = (dir === "" ? name : `${dir}/${name}`) as RelPath;
      const x = r();
      const e: Entry =
        depth < 3 && x < 0.3 ? { kind: "dir", mode: 0o2775, mtimeMs: T + x }
        : x < 0.4 ? { kind: "symlink", target: "../" + name, mode: 0o777, mtimeMs: T }
        : x < 0.45 ? { kind: "problem", error: "permission denied" }
        : { kind: "file", size: Math.floor(x * 1e6), mode: 0o4755, mtimeMs: T - x, ...(x > 0.9 ? { hash: "h" + x, uid: 33, gid: 0 } : {}), ...(x > 0.95 ? { link: "1:2" } : {}) };
      out.push([p, e]);
      if (e.kind === "dir") queue.push(p);
    }
  }
  return out;
}

test("compareTree: a directory before its subtree, its subtree before names that sort after it by bytes", () => {
  const paths = ["a-b", "a", "a/x", "a.b", "a/x/y", "", "b", "a b"];
  assert.deepEqual([...paths].sort(compareTree), ["", "a", "a/x", "a/x/y", "a b", "a-b", "a.b", "b"]);
});

test("listing: built in walk order or from shuffled records, the same entries in tree order", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const recs = walkTree(seed);
    const walked = toListing(new Map(recs));
    const r = rng(seed * 7);
    const shuffled = [...recs].sort(() => r() - 0.5);
    const sorted = toListing(new Map(shuffled));
    const want = recs.map(([p]) => p).sort(compareTree);
    assert.deepEqual([...walked.keys()], want, `seed ${seed}: walk order`);
    assert.deepEqual([...sorted.keys()], want, `seed ${seed}: shuffled`);
    assert.deepEqual(new Map(walked), new Map(recs), `seed ${seed}: entries round-trip`);
    for (const [p, e] of recs) assert.deepEqual(sorted.get(p), e, `seed ${seed}: get ${JSON.stringify(p)}`);
    assert.equal(sorted.get("nope" as RelPath), undefined);
    assert.deepEqual(walked.problems().map((x) => x.path), recs.filter(([, e]) => e.kind === "problem").map(([p]) => p).sort(compareRel));
  }
});

test("listing builder: a dropped record is gone, a record turned problem keeps only the error, a path added twice keeps its last", () => {
  const b = new ListingBuilder();
  b.add("" as RelPath, { kind: 1, mode: 0o755, mtimeMs: T, size: 0 });
  const gone = b.add("gone" as RelPath, { kind: 1, mode: 0o755, mtimeMs: T, size: 0 });
  const locked = b.add("locked" as RelPath, { kind: 0, mode: 0o644, mtimeMs: T, size: 5, hash: "h" });
  b.add("f" as RelPath, { kind: 0, mode: 0o644, mtimeMs: T, size: 1 });
  b.add("f" as RelPath, { kind: 0, mode: 0o600, mtimeMs: T, size: 2 });
  b.drop(gone);
  b.setProblem(locked, "EACCES");
  assert.equal(b.count, 4);
  const l = b.finish();
  assert.deepEqual([...l.keys()], ["", "f", "locked"]);
  assert.deepEqual(l.get("locked" as RelPath), { kind: "problem", error: "EACCES" });
  assert.deepEqual(l.get("f" as RelPath), { kind: "file", size: 2, mode: 0o600, mtimeMs: T });
});

test("listing: withHashes sets hashes on files only, leaving the original as it was", () => {
  const l = toListing(new Map<RelPath, Entry>([["" as RelPath, { kind: "dir", mode: 0o755, mtimeMs: T }], ["f" as RelPath, { kind: "file", size: 1, mode: 0o644, mtimeMs: T }]]));
  const h = l.withHashes(new Map([["f" as RelPath, "abc"], ["" as RelPath, "x"], ["missing" as RelPath, "y"]]));
  assert.deepEqual(h.get("f" as RelPath), { kind: "file", size: 1, mode: 0o644, mtimeMs: T, hash: "abc" });
  assert.deepEqual(h.get("" as RelPath), { kind: "dir", mode: 0o755, mtimeMs: T });
  assert.equal((l.get("f" as RelPath) as { hash?: string }).hash, undefined);
  // By index, as a deep scan sets them: on files only, into a listing with no hashes or with some.
  const byIndex = l.withHashesAt(new Map([[1, "def"], [0, "x"]]));
  assert.deepEqual([...byIndex.hashes], [[1, "def"]]);
  assert.deepEqual([...h.withHashesAt(new Map([[0, "x"]])).hashes], [[1, "abc"]]);
});

/** Every path of `l` read back in `order` (pathAt, indexOf, isInside, compareAt), checked against `want`. */
function readBack(l: ReturnType<typeof toListing>, want: readonly string[], order: readonly number[], what: string): void {
  for (const i of order) {
    assert.equal(l.pathAt(i), want[i], `${what}: pathAt(${i})`);
    assert.equal(l.indexOf(want[i]!), i, `${what}: indexOf ${JSON.stringify(want[i])}`);
    const j = order[(i * 7) % order.length]!;
    assert.equal(Math.sign(l.compareAt(i, l, j)), Math.sign(compareTree(want[i]!, want[j]!)), `${what}: compareAt(${i}, ${j})`);
    const dir = want[j]!;
    assert.equal(l.isInside(i, dir), want[i] === dir || want[i]!.startsWith(dir + "/"), `${what}: isInside(${i}, ${JSON.stringify(dir)})`);
  }
}

test("listing: paths stored as names under their parents read back in any order, from walks and from partial listings", () => {
  for (let seed = 1; seed <= 60; seed++) {
    const recs = walkTree(seed);
    const r = rng(seed * 13);
    // A partial listing: some directories' entries missing, so their children hang off an older ancestor or none.
    const partial = recs.filter(([p, e]) => p === "" || e.kind !== "dir" || r() < 0.5);
    for (const [what, set] of [["walk", recs], ["partial", partial]] as const) {
      const l = toListing(new Map(set));
      const want = set.map(([p]) => p as string).sort(compareTree);
      const n = want.length;
      const forward = [...Array(n).keys()];
      readBack(l, want, forward, `seed ${seed} ${what} forward`);
      readBack(l, want, [...forward].reverse(), `seed ${seed} ${what} backward`);
      readBack(l, want, [...forward].sort(() => r() - 0.5), `seed ${seed} ${what} shuffled`);
    }
  }
});

test("listing builder: children of a directory dropped after them, deep trees and long names keep their whole paths", () => {
  const b = new ListingBuilder();
  const dir = { kind: 1, mode: 0o755, mtimeMs: T, size: 0 };
  const file = { kind: 0, mode: 0o644, mtimeMs: T, size: 1 };
  b.add("" as RelPath, dir);
  const d = b.add("d" as RelPath, dir);
  b.add("d/e" as RelPath, dir);
  b.add("d/e/f" as RelPath, file);
  b.drop(d);
  const long = "n".repeat(300);
  let deep = "";
  for (let k = 0; k < 3000; k++) {
    deep = deep === "" ? `x${k % 10}` : `${deep}/x${k % 10}`;
    b.add(deep as RelPath, dir);
  }
  b.add(`${deep}/${long}` as RelPath, file);
  const l = b.finish();
  const want = ["", ...Array.from({ length: 3000 }, (_, k) => Array.from({ length: k + 1 }, (_, q) => `x${q % 10}`).join("/")), `${deep}/${long}`, "d/e", "d/e/f"].sort(compareTree);
  assert.deepEqual([...l.keys()], want);
  for (const p of ["d/e/f", "d/e", `${deep}/${long}`, "x0/x1/x2"]) {
    assert.equal(l.indexOf(p), want.indexOf(p), p.slice(0, 20));
    assert.equal(l.pathAt(want.indexOf(p)), p);
  }
  assert.equal(l.indexOf("d"), -1);
});

test("listing builder: names past a names chunk (1 MiB) and one longer than it, sizes of 4 GiB and more, in walk and shuffled order", () => {
  const sizes = [0, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32, 5 * 2 ** 30 + 7, 2 ** 53 - 1];
  const recs: [RelPath, Entry][] = [["" as RelPath, { kind: "dir", mode: 0o755, mtimeMs: T }]];
  for (let d = 0; d < 300; d++) {
    const dir = `dir-${String(d).padStart(3, "0")}`;
    recs.push([dir as RelPath, { kind: "dir", mode: 0o755, mtimeMs: T }]);
    // The middle directory holds a name longer than a chunk, then more names after it.
    if (d === 150) recs.push([`${dir}/${"L".repeat(1_100_000)}` as RelPath, { kind: "file", size: 3, mode: 0o644, mtimeMs: T }]);
    for (let f = 0; f < 400; f++) recs.push([`${dir}/name-${String(f).padStart(5, "0")}` as RelPath, { kind: "file", size: sizes[(d + f) % sizes.length]!, mode: 0o644, mtimeMs: T + f }]);
  }
  recs.sort(([a], [b]) => compareTree(a, b));
  const r = rng(5);
  for (const [how, order] of [["walk", recs], ["shuffled", [...recs].sort(() => r() - 0.5)]] as const) {
    const l = toListing(new Map(order));
    assert.deepEqual([...l.keys()], recs.map(([p]) => p), how);
    for (let i = 0; i < recs.length; i += 997) assert.deepEqual(l.get(recs[i]![0]), recs[i]![1], `${how}: ${recs[i]![0].slice(0, 30)}`);
    for (let i = 0; i < recs.length; i++) {
      const e = recs[i]![1];
      if (e.kind === "file") assert.equal(l.sizeAt(i), e.size, `${how}: size of ${recs[i]![0].slice(0, 30)}`);
    }
  }
});

test("open directories: a preorder listing's parents are found, closed ones are not, a directory open twice is refused", () => {
  const d = new OpenDirs<number>();
  const r = (s: string) => s as RelPath;
  assert.equal(d.open(r(""), 0), true);
  assert.equal(d.open(r("a"), 1), true);
  assert.equal(d.open(r("a/b"), 2), true);
  assert.equal(d.find(r("a/b")), 2);
  assert.equal(d.find(r("a")), 1, "a/b's sibling, after a/b's subtree");
  assert.equal(d.find(r("a/b")), undefined, "closed by the sibling");
  assert.equal(d.open(r("a/b"), 3), true, "listed again after it closed: not seen (find never does this)");
  assert.equal(d.open(r("a/b"), 4), false, "listed again while open");
  assert.equal(d.find(r("a.b")), undefined, "a.b is no directory here (and not inside a)");
  assert.equal(d.find(r("")), 0);
  assert.equal(d.find(r("a")), undefined, "closed once the root's next child came");
  assert.equal(d.open(r("x/y"), 5), true, "a parent that was never opened: opened below the root");
  assert.equal(d.find(r("x/y")), 5);
});
