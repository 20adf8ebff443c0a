// Renames and moves copied on the target (SPEC §5): the planner's `from` carried out by the real
// helper through LocalTransport, checked with the independent tree listing of test/support.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Change } from "../../reconciler/model/change.js";
import { makeMatcher } from "../../reconciler/core/ignore.js";
import type { SyncRules } from "../../reconciler/model/manifest.js";
import { absBytes, relPath, type RelPath } from "../../reconciler/model/paths.js";
import { planSync } from "../../reconciler/core/planner.js";
import type { FileEntry } from "../../reconciler/model/snapshot.js";
import { LocalTransport } from "../../reconciler/transport/local/local-transport.js";
import type { ApplyResult, ContentSource } from "../../reconciler/transport/types.js";
import { assertTreesEqual, listTree } from "../support/trees.js";

const base = fs.mkdtempSync(join(tmpdir(), "tsync-copy-"));
after(() => fs.rmSync(base, { recursive: true, force: true }));
let seq = 0;
const fresh = (): { src: string; dst: string; out: string } => {
  const d = join(base, `c${++seq}`);
  const r = { src: join(d, "src"), dst: join(d, "dst"), out: join(d, "outside") };
  for (const x of Object.values(r)) fs.mkdirSync(x, { recursive: true });
  return r;
};
const t = new LocalTransport({ lockWaitMs: 5000 });
const p = relPath;
const MB = 1 << 20;
const rules: SyncRules = { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } };
const scan = (root: string) => t.scan(root, { exclude: makeMatcher([]), owners: false, hash: "none" });
const stagingLeft = (root: string): string[] => (fs.existsSync(join(root, ".tsync-tmp")) ? fs.readdirSync(join(root, ".tsync-tmp")) : []);
const SAME = { times: true } as const;

/** Writes random bytes with a distinct, sub-second mtime (as real files have). */
function put(root: string, rel: string, size: number, mtimeS: number): void {
  fs.mkdirSync(join(root, rel, ".."), { recursive: true });
  fs.writeFileSync(join(root, rel), randomBytes(size));
  fs.utimesSync(join(root, rel), mtimeS, mtimeS);
}

/** The source's content, counting what is opened (a copied create must open nothing). */
function counting(root: string): ContentSource & { opened: RelPath[] } {
  const inner = t.contentSource(root);
  const opened: RelPath[] = [];
  return { opened, open: (path) => (opened.push(path), inner.open(path)) };
}

async function plan(src: string, dst: string): Promise<Change[]> {
  return planSync(await scan(src), await scan(dst), rules);
}

async function apply(src: string, dst: string, changes: readonly Change[]): Promise<ApplyResult & { opened: RelPath[] }> {
  const content = counting(src);
  const r = await t.apply(dst, changes, content);
  return { ...r, opened: content.opened };
}

const copied = (changes: readonly Change[]): [string, string][] =>
  changes.flatMap((c) => (c.kind === "create" && c.from ? [[c.path, c.from.path] as [string, string]] : []));

test("a renamed directory of 3 × 5 MB files is copied on the target: nothing sent, trees equal", async () => {
  const { src, dst } = fresh();
  for (const [i, n] of ["x", "y", "sub/z"].entries()) put(src, `a/${n}`, 5 * MB, 1_600_000_000.123 + i);
  put(src, "a/small", 100, 1_600_000_100.5);
  const first = await apply(src, dst, await plan(src, dst));
  assert.deepEqual(first.problems, []);
  assert.equal(first.bytes, 15 * MB + 100);

  fs.renameSync(join(src, "a"), join(src, "b"));
  const changes = await plan(src, dst);
  assert.deepEqual(copied(changes), [["b/small", "a/small"], ["b/sub/z", "a/sub/z"], ["b/x", "a/x"], ["b/y", "a/y"]]);
  const r = await apply(src, dst, changes);
  assert.deepEqual(r.problems, []);
  assert.equal(r.bytes, 0, "no content bytes sent");
  assert.deepEqual(r.opened, [], "no source file opened");
  await assertTreesEqual(src, dst, SAME);
  assert.deepEqual(await plan(src, dst), [], "converged");
  assert.deepEqual(stagingLeft(dst), []);
});

test("the copy gets the planned mode and times, byte-exact names on both ends", async () => {
  const { src, dst } = fresh();
  const oldName = "old\n-\xff $(x)";
  fs.writeFileSync(absBytes(dst, p(oldName)), randomBytes(3 * MB + 7), { mode: 0o600 });
  const st = fs.lstatSync(absBytes(dst, p(oldName)));
  const entry: FileEntry = { kind: "file", size: st.size, mode: 0o600, mtimeMs: st.mtimeMs };
  const after: FileEntry = { kind: "file", size: st.size, mode: 0o755, mtimeMs: 1_650_000_000_000.25 };
  const newName = "new\ndir/\xfe'x";
  const r = await apply(src, dst, [
    { kind: "mkdir", path: p("new\ndir"), after: { kind: "dir", mode: 0o755, mtimeMs: 1_650_000_000_000 } },
    { kind: "create", path: p(newName), after, from: { path: p(oldName), entry } },
  ]);
  assert.deepEqual(r.problems, []);
  assert.equal(r.bytes, 0);
  const made = fs.lstatSync(absBytes(dst, p(newName)), { bigint: true });
  assert.equal(Number(made.mode) & 0o7777, 0o755);
  assert.ok(Math.abs(Number(made.mtimeNs - 1_650_000_000_000_250_000n)) < 2000, "planned mtime, not the copy source's");
  assert.deepEqual(fs.readFileSync(absBytes(dst, p(newName))), fs.readFileSync(absBytes(dst, p(oldName))));
  assert.equal(fs.lstatSync(absBytes(dst, p(oldName))).mode & 0o7777, 0o600, "the copy source is left as it was");
});

test("a copy source changed between plan and apply: stale, no partial file, the next plan sends it", async () => {
  const { src, dst } = fresh();
  put(src, "a/f", 5 * MB, 1_600_000_000.25);
  await apply(src, dst, await plan(src, dst));
  fs.renameSync(join(src, "a"), join(src, "b"));
  const changes = await plan(src, dst);
  assert.deepEqual(copied(changes), [["b/f", "a/f"]]);
  fs.appendFileSync(join(dst, "a/f"), "drift on the target");
  const r = await apply(src, dst, changes);
  const create = r.problems.find((x) => x.path === "b/f");
  assert.equal(create?.code, "stale", JSON.stringify(r.problems));
  assert.match(create!.message, /copy source changed since the plan/);
  assert.equal(fs.existsSync(join(dst, "b/f")), false, "no partial file");
  assert.deepEqual(stagingLeft(dst), []);
  const again = await plan(src, dst);
  assert.deepEqual(copied(again), [], "the changed file is no copy source any more");
  const r2 = await apply(src, dst, again);
  assert.deepEqual(r2.problems, []);
  assert.equal(r2.bytes, 5 * MB);
  await assertTreesEqual(src, dst, SAME);
});

test("a planted symlink at the copy source's parent: unsafe, nothing read through it", async () => {
  const { src, dst, out } = fresh();
  put(src, "a/f", 2 * MB, 1_600_000_000.75);
  await apply(src, dst, await plan(src, dst));
  fs.renameSync(join(src, "a"), join(src, "b"));
  const changes = await plan(src, dst);
  assert.deepEqual(copied(changes), [["b/f", "a/f"]]);
  // The attacker's directory holds a file that passes every check (same size and mtime).
  fs.renameSync(join(dst, "a"), join(out, "a"));
  fs.symlinkSync(join(out, "a"), join(dst, "a"));
  const outside = await listTree(out, { times: true });
  const r = await apply(src, dst, changes);
  const create = r.problems.find((x) => x.path === "b/f");
  assert.equal(create?.code, "unsafe", JSON.stringify(r.problems));
  assert.equal(fs.existsSync(join(dst, "b/f")), false);
  assert.equal(await listTree(out, { times: true }), outside, "nothing outside the root changed");
  assert.deepEqual(stagingLeft(dst), []);
});

for (const [what, plant, message] of [
  ["a symlink", (f: string, out: string) => { fs.renameSync(f, join(out, "f")); fs.symlinkSync(join(out, "f"), f); }, /now a symlink/],
  ["a FIFO", (f: string) => { const st = fs.statSync(f); fs.rmSync(f); execFileSync("mkfifo", [f]); fs.utimesSync(f, st.atime, st.mtime); }, /now a special file/],
] as const) {
  test(`a copy source swapped for ${what}: stale, never opened or followed`, async () => {
    const { src, dst, out } = fresh();
    put(src, "a/f", MB, 1_600_000_000.5);
    await apply(src, dst, await plan(src, dst));
    fs.renameSync(join(src, "a/f"), join(src, "a/g"));
    const changes = await plan(src, dst);
    assert.deepEqual(copied(changes), [["a/g", "a/f"]]);
    plant(join(dst, "a/f"), out);
    const r = await apply(src, dst, changes);
    const create = r.problems.find((x) => x.path === "a/g");
    assert.equal(create?.code, "stale", JSON.stringify(r.problems));
    assert.match(create!.message, message);
    assert.equal(fs.existsSync(join(dst, "a/g")), false);
    assert.deepEqual(stagingLeft(dst), []);
  });
}

test("a duplicate is copied from a file that stays; a move across directories deletes the old one after the copy", async () => {
  const { src, dst } = fresh();
  put(src, "p/keep", 4 * MB, 1_600_000_001.5);
  put(src, "p/moved", 4 * MB + 1, 1_600_000_002.5);
  await apply(src, dst, await plan(src, dst));
  fs.copyFileSync(join(src, "p/keep"), join(src, "dup"));
  fs.utimesSync(join(src, "dup"), 1_600_000_001.5, 1_600_000_001.5);
  fs.mkdirSync(join(src, "q"));
  fs.renameSync(join(src, "p/moved"), join(src, "q/moved"));
  const changes = await plan(src, dst);
  assert.deepEqual(copied(changes), [["dup", "p/keep"], ["q/moved", "p/moved"]]);
  const r = await apply(src, dst, changes);
  assert.deepEqual(r.problems, []);
  assert.equal(r.bytes, 0);
  await assertTreesEqual(src, dst, SAME);
});
