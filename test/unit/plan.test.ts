import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change } from "../../reconciler/model/change.js";
import type { Preserve, SyncRules } from "../../reconciler/model/manifest.js";
import { fromBytes, type RelPath } from "../../reconciler/model/paths.js";
import { pathsNeedingHash, planSync } from "../../reconciler/core/planner.js";
import { makeMatcher } from "../../reconciler/core/ignore.js";
import { ListingBuilder } from "../../reconciler/model/listing.js";
import type { DirEntry, Entry, FileEntry, Snapshot, SymlinkEntry } from "../../reconciler/model/snapshot.js";

// Tiny named fixtures. T is a realistic mtime with a sub-millisecond fraction.
const T = 1_700_000_000_123.456;
const fA: FileEntry = { kind: "file", size: 1, mtimeMs: T, mode: 0o644, hash: "aa" };
const fA2: FileEntry = { ...fA, mtimeMs: T + 5000 }; // same content, later mtime
const fB: FileEntry = { kind: "file", size: 2, mtimeMs: T, mode: 0o644, hash: "bb" };
const fB1: FileEntry = { ...fB, size: 1, hash: "b1" }; // same size and mtime as fA, other content
const fAx: FileEntry = { ...fA, mode: 0o755 };
const fAu: FileEntry = { ...fA, uid: 33, gid: 33 };
const fAroot: FileEntry = { ...fA, uid: 0, gid: 0 };
const fAnh: FileEntry = { kind: "file", size: 1, mtimeMs: T, mode: 0o644 }; // not hashed
const fAnh2: FileEntry = { ...fAnh, mtimeMs: T + 1 };
const fBig: FileEntry = { kind: "file", size: 5 * 2 ** 30, mtimeMs: T, mode: 0o644 }; // over a size column's 32 bits
const fBig2: FileEntry = { ...fBig, size: 2 ** 32 };
const d: DirEntry = { kind: "dir", mode: 0o755, mtimeMs: T };
const dOld: DirEntry = { ...d, mtimeMs: T - 9000 };
const d700: DirEntry = { ...d, mode: 0o700 };
const lToEtc: SymlinkEntry = { kind: "symlink", target: "/etc", mode: 0o777, mtimeMs: T };
const lToA: SymlinkEntry = { kind: "symlink", target: "a", mode: 0o777, mtimeMs: T - 1 };
const pX: Entry = { kind: "problem", error: "EACCES: permission denied (scandir)" };

const snap = (o: Record<string, Entry>): Snapshot => new Map(Object.entries(o) as [RelPath, Entry][]);
const p = (s: string) => s as RelPath;
const all: Preserve = { perms: true, times: true, owner: false, group: false };
const rules = (over: Partial<Omit<SyncRules, "preserve">> & { preserve?: Partial<Preserve> } = {}): SyncRules => ({
  exclude: over.exclude ?? [],
  delete: over.delete ?? true,
  ...(over.protect ? { protect: over.protect } : {}),
  preserve: { ...all, ...over.preserve },
});
const R = rules();

// Change builders, so that tables read like plans.
const touchRoot: Change = { kind: "touch", path: p(""), before: d, after: d };
const touch = (path: string, before: Entry, mtimeMs = T): Change => ({ kind: "touch", path: p(path), before, after: { ...before, mtimeMs } as Entry });
const del = (path: string, before: Entry): Change => ({ kind: "delete", path: p(path), before });
const rmdir = (path: string, before: DirEntry): Change => ({ kind: "rmdir", path: p(path), before });
const create = (path: string, after: FileEntry, before?: Entry, from?: [string, FileEntry]): Change =>
  ({ kind: "create", path: p(path), ...(before ? { before } : {}), after, ...(from ? { from: { path: p(from[0]), entry: from[1] } } : {}) });
const mkdir = (path: string, after: DirEntry, before?: Entry): Change => ({ kind: "mkdir", path: p(path), ...(before ? { before } : {}), after });
const link = (path: string, after: SymlinkEntry, before?: Entry): Change => ({ kind: "symlink", path: p(path), ...(before ? { before } : {}), after });
const update = (path: string, before: FileEntry, after: FileEntry): Change => ({ kind: "update", path: p(path), before, after });

type Case = [name: string, source: Snapshot, target: Snapshot, want: Change[], rules?: SyncRules];

// Every (source kind, target kind) pair at path "x", under a root present on both sides.
const at = (x?: Entry, below?: Entry) => snap({ "": d, ...(x ? { x } : {}), ...(below ? { "x/y": below } : {}) });
const pairs: Case[] = [
  ["absent/absent", at(), at(), []],
  ["absent/file: delete", at(), at(fA), [del("x", fA), touchRoot]],
  ["absent/dir: delete subtree deepest first", at(), at(d, fA), [del("x/y", fA), rmdir("x", d), touchRoot]],
  ["absent/symlink: delete", at(), at(lToEtc), [del("x", lToEtc), touchRoot]],
  ["absent/problem: left alone", at(), at(pX), []],
  ["file/absent: create", at(fA), at(), [create("x", fA), touchRoot]],
  ["file/file same", at(fA), at(fA), []],
  ["file/file differs: update", at(fB), at(fA), [update("x", fA, fB), touchRoot]],
  ["file/file of 4 GiB and more, sizes differ: update", at(fBig), at(fBig2), [update("x", fBig2, fBig), touchRoot]],
  ["file/file of 5 GiB same", at(fBig), at(fBig), []],
  ["file/dir: subtree removed first, then create", at(fA), at(d, fB), [del("x/y", fB), rmdir("x", d), create("x", fA, d), touchRoot]],
  ["file/symlink: create over the link", at(fA), at(lToEtc), [create("x", fA, lToEtc), touchRoot]],
  ["file/problem: left alone", at(fA), at(pX), []],
  ["dir/absent: mkdir", at(d), at(), [mkdir("x", d), touchRoot]],
  ["dir/file: delete, then mkdir", at(d), at(fA), [del("x", fA), mkdir("x", d, fA), touchRoot]],
  ["dir/dir same", at(d, fA), at(d, fA), []],
  ["dir/symlink: delete the link, then mkdir (never written through)", at(d, fA), at(lToEtc), [del("x", lToEtc), mkdir("x", d, lToEtc), create("x/y", fA), touch("x", d), touchRoot]],
  ["dir/problem: left alone", at(d, fA), at(pX), []],
  ["symlink/absent: symlink", at(lToEtc), at(), [link("x", lToEtc), touchRoot]],
  ["symlink/file: symlink over the file", at(lToEtc), at(fA), [link("x", lToEtc, fA), touchRoot]],
  ["symlink/dir: subtree removed first", at(lToEtc), at(d, fA), [del("x/y", fA), rmdir("x", d), link("x", lToEtc, d), touchRoot]],
  ["symlink/symlink same", at(lToEtc), at(lToEtc), []],
  ["symlink/symlink retarget", at(lToEtc), at(lToA), [link("x", lToEtc, lToA), touchRoot]],
  ["symlink/problem: left alone", at(lToEtc), at(pX), []],
  ["problem/absent", at(pX), at(), []],
  ["problem/file: never deleted", at(pX), at(fA), []],
  ["problem/dir: subtree never deleted", at(pX), at(d, fA), []],
  ["problem/symlink", at(pX), at(lToEtc), []],
  ["problem/problem", at(pX), at(pX), []],
];

const preserveCases: Case[] = [
  ["times: same content, other mtime → touch only", at(fA2), at(fA), [touch("x", fA, fA2.mtimeMs)]],
  ["no times: mtime ignored", at(fA2), at(fA), [], rules({ preserve: { times: false } })],
  ["perms: chmod", at(fAx), at(fA), [{ kind: "chmod", path: p("x"), before: fA, after: fAx }]],
  ["no perms: mode ignored", at(fAx), at(fA), [], rules({ preserve: { perms: false } })],
  ["owner: chown uid only", at({ ...fA, uid: 33, gid: 0 }), at(fAroot), [{ kind: "chown", path: p("x"), before: fAroot, after: { ...fAroot, uid: 33 } }], rules({ preserve: { owner: true } })],
  ["group: chown gid only", at({ ...fA, uid: 0, gid: 33 }), at(fAroot), [{ kind: "chown", path: p("x"), before: fAroot, after: { ...fAroot, gid: 33 } }], rules({ preserve: { group: true } })],
  ["no owner/group: ids ignored", at(fAu), at(fAroot), []],
  ["owners unknown on one side: not compared", at(fAu), at(fA), [], rules({ preserve: { owner: true, group: true } })],
  [
    "chown, chmod, touch in that order",
    at({ ...fAu, mode: 0o600, mtimeMs: T + 1 }),
    at(fAroot),
    [
      { kind: "chown", path: p("x"), before: fAroot, after: fAu },
      { kind: "chmod", path: p("x"), before: fAroot, after: { ...fAroot, mode: 0o600 } },
      { kind: "touch", path: p("x"), before: fAroot, after: { ...fAroot, mtimeMs: T + 1 } },
    ],
    rules({ preserve: { owner: true, group: true } }),
  ],
  ["create drops ids that are not preserved", at(fAu), at(), [create("x", fA), touchRoot]],
  ["create keeps ids that are preserved", at(fAu), at(), [create("x", fAu), touchRoot], rules({ preserve: { owner: true, group: true } })],
  ["update carries the new metadata (no extra chmod/touch)", at({ ...fB, mode: 0o600 }), at(fA), [update("x", fA, { ...fB, mode: 0o600 }), touchRoot]],
  ["quick check: same size and mtime → equal", at(fAnh), at(fAnh), []],
  ["quick check needs preserved times", at(fAnh), at(fAnh), [update("x", fAnh, fAnh)], rules({ preserve: { times: false } })],
  ["hashes beat the quick check", at(fB1), at(fA), [update("x", fA, fB1), touchRoot]],
  ["unknown hash, mtime differs → update", at(fAnh2), at(fAnh), [update("x", fAnh, fAnh2), touchRoot]],
  ["same hash, same metadata → equal", at(fA), at({ ...fA }), []],
  ["same hash, no preserved times → equal", at(fA2), at(fA), [], rules({ preserve: { times: false } })],
  ["same hash, mode differs → chmod only", at(fAx), at(fA), [{ kind: "chmod", path: p("x"), before: fA, after: fAx }]],
  ["same hash, mtime differs → touch only", at(fA2), at(fA), [{ kind: "touch", path: p("x"), before: fA, after: fA2 }]],
  ["hashed on one side only, same size and mtime → quick check", at(fA), at(fAnh), []],
  ["hashed on one side only, no preserved times → update", at(fA), at(fAnh), [update("x", fAnh, fA)], rules({ preserve: { times: false } })],
  ["dir mode differs → chmod at the end", at(d700, fA), at(d, fA), [{ kind: "chmod", path: p("x"), before: d, after: d700 }]],
  ["dir mtime differs → touch", at(d, fA), at(dOld, fA), [touch("x", dOld)]],
  ["dir mtime ignored without times", at(d, fA), at(dOld, fA), [], rules({ preserve: { times: false } })],
  ["symlink mode and mtime not compared", at(lToEtc), at({ ...lToEtc, mode: 0o755, mtimeMs: 1 }), []],
  ["symlink owner not compared", at({ ...lToEtc, uid: 1 }), at({ ...lToEtc, uid: 2 }), [], rules({ preserve: { owner: true } })],
];

const deleteCases: Case[] = [
  ["delete:false keeps extras", at(), at(d, fA), [], rules({ delete: false })],
  ["delete:false still replaces a type change", at(fA), at(d, fB), [del("x/y", fB), rmdir("x", d), create("x", fA, d), touchRoot], rules({ delete: false })],
  ["delete:false still creates", at(fA), at(), [create("x", fA), touchRoot], rules({ delete: false })],
];

const X = rules({ exclude: ["*.log", "!keep.log", "cache/"] });
const excludeCases: Case[] = [
  ["excluded source file not copied", snap({ "": d, "a.log": fA }), snap({ "": d }), [], X],
  ["excluded target file not deleted", snap({ "": d }), snap({ "": d, "b.log": fA }), [], X],
  ["negation: keep.log copied", snap({ "": d, "keep.log": fA }), snap({ "": d }), [create("keep.log", fA), touchRoot], X],
  ["dir-only: excluded dir subtree neither copied nor deleted", snap({ "": d, cache: d, "cache/a": fA }), snap({ "": d, cache: d, "cache/b": fB }), [], X],
  ["dir-only: a file named cache is not excluded", snap({ "": d }), snap({ "": d, cache: fA }), [del("cache", fA), touchRoot], X],
  ["excluded entry below an extra dir keeps the dir", snap({ "": d }), snap({ "": d, old: d, "old/x.log": fA, "old/y": fB }), [del("old/y", fB), touchRoot], X],
  ["type change over an excluded entry is left alone", snap({ "": d, old: fA }), snap({ "": d, old: d, "old/x.log": fA }), [], X],
  ["source entry over an excluded target entry is left alone", snap({ "": d, cache: fA }), snap({ "": d, cache: d, "cache/f": fB }), [], X],
  ["staging dir on the target never touched", snap({ "": d }), snap({ "": d, ".tsync-tmp": d, ".tsync-tmp/x": fA }), []],
  ["staging dir on the source never sent, its neighbours are", snap({ "": d, ".tsync-tm": fA, ".tsync-tmp": d, ".tsync-tmp/x": d, ".tsync-tmp/x/y": fA, ".tsync-tmpz": fA }), snap({ "": d }),
    [create(".tsync-tm", fA), create(".tsync-tmpz", fA), touchRoot]],
  ["problem below an extra dir keeps the dir", snap({ "": d }), snap({ "": d, old: d, "old/p": pX, "old/y": fB }), [del("old/y", fB), touchRoot]],
];

// protect: rsync's P filter. Node-only files survive delete; the source still updates them in place.
const P = rules({ protect: ["uploads/", "*.keep"] });
const protectCases: Case[] = [
  ["protected extra file not deleted", snap({ "": d }), snap({ "": d, "a.keep": fA }), [], P],
  ["protected dir subtree kept, other extras deleted", snap({ "": d }), snap({ "": d, uploads: d, "uploads/a": fA, old: fB }), [del("old", fB), touchRoot], P],
  ["dir-only: a file named uploads is not protected", snap({ "": d }), snap({ "": d, uploads: fA }), [del("uploads", fA), touchRoot], P],
  ["protected entry below an extra dir keeps the dir", snap({ "": d }), snap({ "": d, old: d, "old/a.keep": fA, "old/y": fB }), [del("old/y", fB), touchRoot], P],
  ["source updates a protected file of the same kind", snap({ "": d, "a.keep": fB }), snap({ "": d, "a.keep": fA }), [update("a.keep", fA, fB), touchRoot], P],
  ["source writes into a protected dir", snap({ "": d, uploads: d, "uploads/n": fA }), snap({ "": d, uploads: d, "uploads/old": fB }), [create("uploads/n", fA), touch("uploads", d), touchRoot], P],
  ["protected file not replaced by a symlink", snap({ "": d, "a.keep": lToA }), snap({ "": d, "a.keep": fA }), [], P],
  ["protected dir not replaced by a file", snap({ "": d, uploads: fA }), snap({ "": d, uploads: d, "uploads/x": fB }), [], P],
  ["protected file not replaced by a dir", snap({ "": d, "a.keep": d, "a.keep/x": fB }), snap({ "": d, "a.keep": fA }), [], P],
  ["without protect the same target loses them", snap({ "": d }), snap({ "": d, "a.keep": fA, uploads: d, "uploads/a": fB }), [del("uploads/a", fB), del("a.keep", fA), rmdir("uploads", d), touchRoot]],
];

const orderCases: Case[] = [
  [
    "full order: removals, mkdirs, writes, file meta, extras, dir meta",
    snap({ "": d, a: d, "a/b": d, "a/b/new": fA, "a/t": d, keep: fAx, m: fA, t: fA, z: d700 }),
    snap({ "": d, a: d, "a/t": fA, gone: d, "gone/sub": d, "gone/sub/f": fA, keep: fA, m: fB, t: d, "t/u": fB, z: d }),
    [
      del("a/t", fA),
      del("t/u", fB),
      rmdir("t", d),
      mkdir("a/b", d),
      mkdir("a/t", d, fA),
      create("a/b/new", fA, undefined, ["gone/sub/f", fA]),
      update("m", fB, fA),
      create("t", fA, d, ["gone/sub/f", fA]),
      { kind: "chmod", path: p("keep"), before: fA, after: fAx },
      del("gone/sub/f", fA),
      rmdir("gone/sub", d),
      rmdir("gone", d),
      touch("a/b", d),
      touch("a", d),
      { kind: "chmod", path: p("z"), before: d, after: d700 },
      touchRoot,
    ],
  ],
  [
    "dir times set on every ancestor, deepest first",
    snap({ "": d, a: d, "a/b": d, "a/b/c": d, "a/b/c/f": fA }),
    snap({ "": d, a: d, "a/b": d, "a/b/c": d }),
    [create("a/b/c/f", fA), touch("a/b/c", d), touch("a/b", d), touch("a", d), touchRoot],
  ],
  [
    "new dir with children gets its time set after them",
    snap({ "": d, n: dOld, "n/f": fA }),
    snap({ "": d }),
    [mkdir("n", dOld), create("n/f", fA), touch("n", dOld, dOld.mtimeMs), touchRoot],
  ],
  ["no dir touches without preserved times", snap({ "": d, a: d, "a/f": fA }), snap({ "": d, a: d }), [create("a/f", fA)], rules({ preserve: { times: false } })],
  ["metadata-only changes do not touch parents", snap({ "": d, a: d, "a/f": fAx }), snap({ "": d, a: d, "a/f": fA }), [{ kind: "chmod", path: p("a/f"), before: fA, after: fAx }]],
  ["case-only rename: create + delete", snap({ "": d, readme: fA }), snap({ "": d, README: fA }), [create("readme", fA, undefined, ["README", fA]), del("README", fA), touchRoot]],
  ["missing target root: mkdir root first", snap({ "": d, f: fA }), snap({}), [mkdir("", d), create("f", fA), touch("", d)]],
  ["missing source root: contents deleted, root kept", snap({}), snap({ "": d, f: fA }), [del("f", fA)]],
  ["root of another kind: nothing planned", snap({ "": fA }), snap({ "": d, f: fA }), []],
];

// Every create of fA below copies the target's "$(x)" (same size and hash), which this plan deletes.
const nl = "new\nline";
const dash = "-rf";
const ff = fromBytes(Buffer.from([0xff, 0xfe]));
const hostileCases: Case[] = [
  [
    "hostile names are plain keys, sorted by bytes",
    snap({ "": d, [ff]: fA, [nl]: fA, [dash]: fA, "a b": fA }),
    snap({ "": d, [`${ff}/x`]: fA, [ff]: d, "$(x)": fA }),
    [del(`${ff}/x`, fA), rmdir(ff, d), ...[dash, "a b", nl].map((x) => create(x, fA, undefined, ["$(x)", fA])), create(ff, fA, d, ["$(x)", fA]), del("$(x)", fA), touchRoot],
  ],
];

for (const [name, src, dst, want, r] of [...pairs, ...preserveCases, ...deleteCases, ...excludeCases, ...protectCases, ...orderCases, ...hostileCases])
  test(`planSync: ${name}`, () => assert.deepEqual(planSync(src, dst, r ?? R), want));

test("planSync: deterministic regardless of map insertion order", () => {
  const src = snap({ "": d, b: fA, a: d, "a/z": fA, "a/c": fB });
  const rev = new Map([...src].reverse());
  const dst = snap({ "": d, q: fA, "p/1": fA, p: d });
  assert.deepEqual(planSync(rev, new Map([...dst].reverse()), R), planSync(src, dst, R));
});

test("planSync: does not mutate its inputs", () => {
  const src = snap({ "": d, f: fAu });
  const before = JSON.stringify([...src]);
  planSync(src, snap({ "": d }), R);
  assert.equal(JSON.stringify([...src]), before);
});

test("planSync: applied plan converges (re-planning the resulting tree gives nothing)", () => {
  const src = snap({ "": d, a: d, "a/f": fA, l: lToEtc, t: fB, n: d, "n/g": fB });
  const dst = snap({ "": dOld, a: fA, l: d, "l/x": fA, t: fA, extra: d, "extra/e": fA });
  const tree = new Map<RelPath, Entry>(dst);
  for (const c of planSync(src, dst, R)) {
    if (c.kind === "delete" || c.kind === "rmdir") tree.delete(c.path);
    else tree.set(c.path, c.after);
  }
  assert.deepEqual(planSync(src, tree, R), []);
  assert.deepEqual([...tree.keys()].sort(), [...src.keys()].sort());
});

const hashCases: [string, Snapshot, Snapshot, string[], SyncRules?][] = [
  ["both hashed: nothing to hash", at(fA), at(fA2), []],
  ["quick check decides: nothing to hash", at(fAnh), at(fAnh), []],
  ["mtime differs and unhashed: hash it", at(fAnh2), at(fAnh), ["x"]],
  ["one side unhashed, mtime differs", at(fA2), at(fAnh), ["x"]],
  ["one side unhashed, same mtime: the quick check decides", at(fA), at(fAnh), []],
  ["both hashed, no preserved times: nothing to hash", at(fA), at(fA), [], rules({ preserve: { times: false } })],
  ["one side unhashed, no preserved times: hash it", at(fA), at(fAnh), ["x"], rules({ preserve: { times: false } })],
  ["size differs: no need", at(fB), at(fAnh), []],
  ["no preserved times: equal size needs a hash", at(fAnh), at(fAnh), ["x"], rules({ preserve: { times: false } })],
  ["only files on both sides", at(d), at(fAnh), []],
  ["excluded paths left out", snap({ "": d, "a.log": fAnh2 }), snap({ "": d, "a.log": fAnh }), [], X],
  ["paths below a problem left out", snap({ "": d, x: pX }), snap({ "": d, x: d, "x/y": fAnh }), []],
  ["byte order", snap({ "": d, b: fAnh2, a: fAnh2, [ff]: fAnh2 }), snap({ "": d, [ff]: fAnh, b: fAnh, a: fAnh }), ["a", "b", ff]],
];
for (const [name, src, dst, want, r] of hashCases)
  test(`pathsNeedingHash: ${name}`, () => assert.deepEqual(pathsNeedingHash(src, dst, r ?? R), want));

test("rootMetadata: false leaves an existing root's mode and times alone, and still plans what is below it", () => {
  const src = snap({ "": d, x: fA });
  const dst = snap({ "": { ...d700, mtimeMs: T - 9000 } });
  const off = { ...R, rootMetadata: false as const };
  assert.deepEqual(planSync(src, dst, off), [create("x", fA)]);
  assert.deepEqual(planSync(src, dst, R).map((c) => `${c.kind} ${c.path}`), ["create x", "chmod ", "touch "]);
});

test("a listing its scan filtered with the plan's own patterns is not asked again; with other patterns, or none known, it is", () => {
  // A target claiming to be filtered by X, holding what X excludes: trusted, the entry is an extra.
  // The claim is the scanners' (Listing.excludedBy); any other claim must not lose a protected file.
  const dst = (key: string | undefined) => {
    const b = new ListingBuilder(key);
    b.add(p(""), { kind: 1, mode: 0o755, mtimeMs: T, size: 0 });
    b.add(p("a.log"), { kind: 0, mode: 0o644, mtimeMs: T, size: 1 });
    return b.finish();
  };
  const src = snap({ "": d });
  const key = makeMatcher(X.exclude).key;
  assert.deepEqual(planSync(src, dst(key), X).map((c) => `${c.kind} ${c.path}`), ["delete a.log", "touch "]);
  assert.deepEqual(planSync(src, dst(makeMatcher(["*.tmp"]).key), X), []);
  assert.deepEqual(planSync(src, dst(undefined), X), []);
});
