// The planner's copy sources: a create whose bytes the target already holds elsewhere copies them
// there instead of having them sent (renames and moves, SPEC §5).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change } from "../../reconciler/model/change.js";
import type { Preserve, SyncRules } from "../../reconciler/model/manifest.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import { planSync } from "../../reconciler/core/planner.js";
import type { DirEntry, Entry, FileEntry, Snapshot } from "../../reconciler/model/snapshot.js";

const T = 1_700_000_000_123.456;
const MB = 1 << 20;
const f1: FileEntry = { kind: "file", size: 5 * MB, mtimeMs: T, mode: 0o644, hash: "11" };
const f2: FileEntry = { kind: "file", size: 3 * MB, mtimeMs: T + 10, mode: 0o644, hash: "22" };
const f3: FileEntry = { kind: "file", size: 7 * MB, mtimeMs: T + 20, mode: 0o600, hash: "33" };
const f1other: FileEntry = { ...f1, hash: "99" }; // same size and mtime as f1, other bytes
const f1big: FileEntry = { ...f1, size: f1.size + 1, hash: "12" };
const n1: FileEntry = { kind: "file", size: 5 * MB, mtimeMs: T, mode: 0o644 }; // not hashed
const n1later: FileEntry = { ...n1, mtimeMs: T + 1000 };
const n1b: FileEntry = { ...n1, mode: 0o600 }; // same size+mtime as n1, nothing else known
const f1unreadable: FileEntry = { ...f1, mode: 0o200 };
const empty: FileEntry = { kind: "file", size: 0, mtimeMs: T, mode: 0o644, hash: "00" };
const d: DirEntry = { kind: "dir", mode: 0o755, mtimeMs: T };
const pX: Entry = { kind: "problem", error: "EACCES" };

const snap = (o: Record<string, Entry>): Snapshot => new Map(Object.entries({ "": d, ...o }) as [RelPath, Entry][]);
const all: Preserve = { perms: true, times: true, owner: false, group: false };
const rules = (over: { exclude?: string[]; delete?: boolean; times?: boolean } = {}): SyncRules => ({
  exclude: over.exclude ?? [],
  delete: over.delete ?? true,
  preserve: { ...all, times: over.times ?? true },
});

/** [create path, copied from (or null)] for every create of the plan, in plan order. */
function copies(changes: readonly Change[]): [string, string | null][] {
  return changes.flatMap((c) => (c.kind === "create" ? [[c.path, c.from?.path ?? null] as [string, string | null]] : []));
}

type Case = [name: string, source: Snapshot, target: Snapshot, want: [string, string | null][], rules?: SyncRules];
const cases: Case[] = [
  ["file rename", snap({ new: f1 }), snap({ old: f1 }), [["new", "old"]]],
  [
    "directory rename: every file of the subtree copies its old self",
    snap({ b: d, "b/x": f1, "b/y": f2, "b/s": d, "b/s/z": f3 }),
    snap({ a: d, "a/x": f1, "a/y": f2, "a/s": d, "a/s/z": f3 }),
    [["b/s/z", "a/s/z"], ["b/x", "a/x"], ["b/y", "a/y"]],
  ],
  ["move across directories", snap({ p: d, q: d, "q/f": f2 }), snap({ p: d, "p/f": f2, q: d }), [["q/f", "p/f"]]],
  ["duplicate: copy from a file that stays", snap({ a: f1, "a-copy": f1 }), snap({ a: f1 }), [["a-copy", "a"]]],
  ["a move is preferred to a file that stays", snap({ a: f1, z: f1 }), snap({ a: f1, old: f1 }), [["z", "old"]]],
  ["among moves, byte order decides", snap({ new: f1 }), snap({ b: f1, a: f1, "\xff": f1 }), [["new", "a"]]],
  ["one donor serves several creates", snap({ x: f1, y: f1 }), snap({ old: f1 }), [["x", "old"], ["y", "old"]]],
  ["sizes differ: sent", snap({ new: f1big }), snap({ old: f1 }), [["new", null]]],
  ["same size, hashes differ: sent", snap({ new: f1other }), snap({ old: f1 }), [["new", null]]],
  ["hashes decide over mtimes", snap({ new: { ...f1, mtimeMs: T + 5 } }), snap({ old: f1 }), [["new", "old"]]],
  ["quick check: size and mtime without hashes", snap({ new: n1 }), snap({ old: n1 }), [["new", "old"]]],
  ["quick check: one side hashed is still a quick check", snap({ new: f1 }), snap({ old: n1 }), [["new", "old"]]],
  ["quick check: mtime differs → sent", snap({ new: n1later }), snap({ old: n1 }), [["new", null]]],
  ["quick check needs preserved times", snap({ new: n1 }), snap({ old: n1 }), [["new", null]], rules({ times: false })],
  ["hashes need no preserved times", snap({ new: f1 }), snap({ old: f1 }), [["new", "old"]], rules({ times: false })],
  ["quick check: two fitting donors are ambiguous → sent", snap({ new: n1 }), snap({ a: n1, b: n1b }), [["new", null]]],
  ["quick check: two creates that may differ, one donor → both sent", snap({ x: n1, y: n1b }), snap({ old: n1 }), [["x", null], ["y", null]]],
  ["quick check: a hash-proven donor beats the ambiguity", snap({ x: f1, y: f1 }), snap({ old: f1, other: n1 }), [["x", "old"], ["y", "old"]]],
  ["excluded target file never a source", snap({ new: f1 }), snap({ "old.log": f1 }), [["new", null]], rules({ exclude: ["*.log"] })],
  ["file in an excluded target dir never a source", snap({ new: f1 }), snap({ cache: d, "cache/f": f1 }), [["new", null]], rules({ exclude: ["cache/"] })],
  ["target path unreadable on the source side: never a source", snap({ new: f1, q: pX }), snap({ q: f1 }), [["new", null]]],
  ["file below a target problem dir: never a source", snap({ new: f1 }), snap({ p: pX, "p/f": f1 }), [["new", null]]],
  ["a file this plan rewrites is not a source", snap({ new: f1, m: f2 }), snap({ m: f1 }), [["new", null]]],
  ["a file replaced by a directory (removed first) is not a source", snap({ new: f1, t: d }), snap({ t: f1 }), [["new", null]]],
  ["a file inside a directory replaced by a file is not a source", snap({ new: f1, t: f2 }), snap({ t: d, "t/f": f1 }), [["new", null], ["t", null]]],
  ["a file that only gets chmod/touch stays a source", snap({ new: f1, k: { ...f1, mode: 0o600, mtimeMs: T + 1 } }), snap({ k: f1 }), [["new", "k"]]],
  ["an unreadable file is not a source", snap({ new: f1 }), snap({ old: f1unreadable }), [["new", null]]],
  ["empty files are sent, not copied", snap({ new: empty }), snap({ old: empty }), [["new", null]]],
  ["delete: false: the old file stays and is copied", snap({ new: f1 }), snap({ old: f1 }), [["new", "old"]], rules({ delete: false })],
  ["a create replacing a symlink copies too", snap({ l: f1 }), snap({ l: { kind: "symlink", target: "/etc", mode: 0o777, mtimeMs: T }, old: f1 }), [["l", "old"]]],
];
for (const [name, src, dst, want, r] of cases) test(`copy sources: ${name}`, () => assert.deepEqual(copies(planSync(src, dst, r ?? rules())), want));

test("copy sources: the from entry is the target file as planned; a move keeps its delete after the copy", () => {
  const plan = planSync(snap({ new: f1 }), snap({ old: { ...f1, mode: 0o640 } }), rules());
  assert.deepEqual(plan, [
    { kind: "create", path: "new", after: f1, from: { path: "old", entry: { ...f1, mode: 0o640 } } },
    { kind: "delete", path: "old", before: { ...f1, mode: 0o640 } },
    { kind: "touch", path: "", before: d, after: d },
  ]);
});

test("copy sources: deterministic regardless of map insertion order", () => {
  const src = snap({ b: d, "b/x": f1, "b/y": f2, z: f1, w: n1 });
  const dst = snap({ a: d, "a/x": f1, "a/y": f2, k: f1, c: f1, w2: n1 });
  const rev = (s: Snapshot) => new Map([...s].reverse());
  assert.deepEqual(planSync(rev(src), rev(dst), rules()), planSync(src, dst, rules()));
});

// A quadratic planner took 15-22 s here (0.2 s linear); the timeout only catches that, speed lives in npm run bench.
test("copy sources: renaming 20,000 same-size files plans every move", { timeout: 60_000 }, () => {
  for (const mtime of [(i: number) => T + i * 1.5, () => T]) {
    const src = new Map<RelPath, Entry>([["" as RelPath, d], ["b" as RelPath, d]]);
    const dst = new Map<RelPath, Entry>([["" as RelPath, d], ["a" as RelPath, d]]);
    for (let i = 0; i < 20_000; i++) {
      const e: FileEntry = { kind: "file", size: 4096, mode: 0o644, mtimeMs: mtime(i) };
      src.set(`b/f${i}` as RelPath, e);
      dst.set(`a/f${i}` as RelPath, e);
    }
    const plan = planSync(src, dst, rules());
    // Distinct mtimes: every file is matched; one shared mtime: every match is ambiguous.
    assert.equal(plan.filter((c) => c.kind === "create" && c.from).length, mtime(1) === mtime(2) ? 0 : 20_000);
  }
});
