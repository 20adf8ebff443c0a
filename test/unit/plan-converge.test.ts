// Property test of the planner: for random source and target trees, carrying out the plan on a model
// of the target (with the filesystem's one side effect a plan must undo: writing into a directory
// changes its mtime) gives exactly the source, and planning again finds nothing. Names mix "a",
// "a.b", "a-b" and "a/…" so that byte order and parent-before-child order differ.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change } from "../../reconciler/model/change.js";
import type { SyncRules } from "../../reconciler/model/manifest.js";
import { parentOf, type RelPath } from "../../reconciler/model/paths.js";
import { planSync } from "../../reconciler/core/planner.js";
import { rng } from "../support/corpus.js";
import { timesEqual, type Entry, type FileEntry, type Snapshot } from "../../reconciler/model/snapshot.js";

const T = 1_700_000_000_123.456;
const DIRTY = -1; // a directory's mtime after apply wrote into it
const NAMES = ["a", "a.b", "a-b", "b", "ab", "a b", "\xff"];

type Tree = Map<RelPath, Entry>;
const join = (dir: RelPath, name: string) => (dir === "" ? name : `${dir}/${name}`) as RelPath;

/** Unhashed files (as a metadata scan gives them) are told apart by size: equal size is equal content. */
function randomEntry(r: () => number, dir: boolean, hashed: boolean): Entry {
  const mtimeMs = T + Math.floor(r() * 4) * 1000;
  if (dir) return { kind: "dir", mode: r() < 0.8 ? 0o755 : 0o700, mtimeMs };
  if (r() < 0.15) return { kind: "symlink", target: NAMES[Math.floor(r() * NAMES.length)]!, mode: 0o777, mtimeMs };
  // Few distinct contents, so that copy sources (create.from) are found and used.
  const c = Math.floor(r() * 5);
  return { kind: "file", size: c + 1, ...(hashed ? { hash: `h${c}` } : {}), mode: r() < 0.8 ? 0o644 : 0o600, mtimeMs };
}

function randomTree(r: () => number, hashed: boolean): Tree {
  const t: Tree = new Map([["" as RelPath, { kind: "dir", mode: 0o755, mtimeMs: T }]]);
  const fill = (dir: RelPath, depth: number) => {
    for (const name of NAMES) {
      if (r() < 0.45) continue;
      const isDir = depth < 3 && r() < 0.35;
      const p = join(dir, name);
      t.set(p, randomEntry(r, isDir, hashed));
      if (isDir) fill(p, depth + 1);
    }
  };
  fill("" as RelPath, 0);
  return t;
}

/** The target: the source with random edits (kept a valid tree: every parent is a directory). */
function mutated(r: () => number, src: Tree, hashed: boolean): Tree {
  const out: Tree = new Map();
  for (const [p, e] of src) {
    if (p !== "" && !(out.get(parentOf(p))?.kind === "dir")) continue;
    const x = r();
    if (p !== "" && x < 0.1) continue; // deleted on the target
    if (p !== "" && x < 0.2) out.set(p, randomEntry(r, r() < 0.3, hashed)); // another kind or content
    else if (x < 0.3 && e.kind !== "problem") out.set(p, { ...e, mtimeMs: e.mtimeMs + 7, mode: e.kind === "symlink" ? e.mode : 0o640 });
    else if (x < 0.35 && e.kind === "file") out.set(p, { ...e, mode: e.mode ^ 0o040 }); // only the mode
    else if (x < 0.4 && e.kind === "file") out.set(p, { ...e, mtimeMs: e.mtimeMs + 0.5 }); // only the time
    else out.set(p, e);
  }
  for (const [p, e] of [...out]) if (e.kind === "dir" && r() < 0.3) out.set(join(p, "extra"), randomEntry(r, false, hashed));
  return out;
}

function sorted(t: Snapshot): [RelPath, Entry][] {
  return [...t].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Carries out `plan` on `target` as the apply helper would, checking each step can be done there. */
function apply(target: Tree, plan: readonly Change[]): Tree {
  const t = new Map(target);
  const wrote = (p: RelPath) => {
    if (p === "") return;
    const parent = t.get(parentOf(p));
    assert.equal(parent?.kind, "dir", `parent of ${p} is a directory when it is written`);
    t.set(parentOf(p), { ...parent!, mtimeMs: DIRTY } as Entry);
  };
  for (const c of plan) {
    const now = t.get(c.path);
    switch (c.kind) {
      case "rmdir":
        assert.equal(now?.kind, "dir", `rmdir ${c.path}`);
        assert.ok(![...t.keys()].some((k) => k.startsWith(c.path + "/")), `rmdir ${c.path}: empty`);
        t.delete(c.path);
        wrote(c.path);
        break;
      case "delete":
        assert.ok(now !== undefined && now.kind !== "dir", `delete ${c.path}`);
        t.delete(c.path);
        wrote(c.path);
        break;
      case "mkdir":
      case "symlink":
      case "create":
      case "update":
        assert.ok(c.kind === "update" ? now?.kind === "file" : now?.kind !== "dir", `${c.kind} ${c.path} over ${now?.kind}`);
        if (c.kind === "create" && c.from !== undefined) {
          const donor = t.get(c.from.path) as FileEntry | undefined;
          assert.equal(donor?.kind, "file", `copy source ${c.from.path} of ${c.path} is still there`);
          assert.equal(donor!.hash, c.after.hash, `copy source ${c.from.path} holds the bytes of ${c.path}`);
        }
        wrote(c.path);
        t.set(c.path, c.after);
        break;
      case "chmod":
      case "touch":
      case "chown":
        assert.ok(now !== undefined, `${c.kind} ${c.path} exists`);
        t.set(c.path, { ...now, ...(c.kind === "chmod" ? { mode: (c.after as FileEntry).mode } : c.kind === "touch" ? { mtimeMs: (c.after as FileEntry).mtimeMs } : {}) } as Entry);
        break;
    }
  }
  return t;
}

/** Source and target equal in what the rules compare (symlinks: only their target string). */
function assertSame(src: Tree, dst: Tree, seed: number): void {
  const a = sorted(src);
  const b = sorted(dst);
  assert.deepEqual(b.map(([p]) => p), a.map(([p]) => p), `seed ${seed}: the same paths`);
  for (let i = 0; i < a.length; i++) {
    const [p, s] = a[i]!;
    const t = b[i]![1];
    assert.equal(t.kind, s.kind, `seed ${seed}: ${p} kind`);
    if (s.kind === "symlink") assert.equal((t as typeof s).target, s.target, `seed ${seed}: ${p} link target`);
    else if (s.kind === "file" || s.kind === "dir") {
      assert.equal((t as typeof s).mode, s.mode, `seed ${seed}: ${p} mode`);
      assert.ok(timesEqual((t as typeof s).mtimeMs, s.mtimeMs), `seed ${seed}: ${p} mtime ${(t as typeof s).mtimeMs} vs ${s.mtimeMs}`);
      if (s.kind === "file") assert.deepEqual([(t as FileEntry).size, (t as FileEntry).hash], [s.size, s.hash], `seed ${seed}: ${p} content`);
    }
  }
}

const rules: SyncRules = { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } };

test("planner property: on 400 random tree pairs, applying the plan converges the target exactly", () => {
  for (let seed = 1; seed <= 400; seed++) {
    const r = rng(seed);
    // Odd seeds: hashed files (deep plans); even: metadata only, decided by the listing's packed fields.
    const hashed = seed % 2 === 1;
    const src = randomTree(r, hashed);
    const dst = r() < 0.1 ? new Map([["" as RelPath, src.get("" as RelPath)!]]) : mutated(r, src, hashed);
    // Insertion order must not matter: the planner gets the target in reverse.
    const plan = planSync(src, new Map([...dst].reverse()), rules);
    const after = apply(dst, plan);
    assertSame(src, after, seed);
    assert.deepEqual(planSync(src, after, rules), [], `seed ${seed}: nothing left to do`);
  }
});
