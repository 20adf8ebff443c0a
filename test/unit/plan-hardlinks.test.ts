// preserve: [hardlinks] — source names sharing an inode are one inode on the target (rsync -H).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change } from "../../reconciler/model/change.js";
import type { SyncRules } from "../../reconciler/model/manifest.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import { planSync } from "../../reconciler/core/planner.js";
import type { DirEntry, Entry, FileEntry, Snapshot } from "../../reconciler/model/snapshot.js";

const T = 1_700_000_000_123.456;
const d: DirEntry = { kind: "dir", mode: 0o755, mtimeMs: T };
const f: FileEntry = { kind: "file", size: 5 << 20, mtimeMs: T, mode: 0o644 };
/** Names of one source inode, and of one target inode (another device: ids never compare across trees). */
const s1: FileEntry = { ...f, link: "1:10" };
const t1: FileEntry = { ...f, link: "9:77" };
const snap = (o: Record<string, Entry>): Snapshot => new Map(Object.entries(o) as [RelPath, Entry][]);
const p = (s: string) => s as RelPath;
const rules = (hardlinks: boolean): SyncRules => ({ exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false, hardlinks } });
const H = rules(true);
const touchRoot: Change = { kind: "touch", path: p(""), before: d, after: d };
const create = (path: string, after: FileEntry, before?: Entry): Change => ({ kind: "create", path: p(path), ...(before ? { before } : {}), after });
const linkTo = (path: string, leader: string, entry: FileEntry, after: FileEntry, before?: Entry): Change =>
  ({ kind: "create", path: p(path), ...(before ? { before } : {}), after, from: { path: p(leader), entry, link: true } });

type Case = [name: string, source: Snapshot, target: Snapshot, want: Change[], rules?: SyncRules];
const cases: Case[] = [
  [
    "default (no hardlinks): five names are five copies sent",
    snap({ "": d, a: s1, b: s1, c: s1 }), snap({ "": d }),
    [create("a", s1), create("b", s1), create("c", s1), touchRoot], rules(false),
  ],
  [
    "new names of one inode: the first is sent, the others link to it, after it",
    snap({ "": d, c: s1, a: s1, "x/b": s1, x: d }), snap({ "": d }),
    [{ kind: "mkdir", path: p("x"), after: d }, create("a", s1), linkTo("c", "a", s1, s1), linkTo("x/b", "a", s1, s1),
      { kind: "touch", path: p("x"), before: d, after: d }, touchRoot],
  ],
  [
    "already linked on the target: nothing to do",
    snap({ "": d, a: s1, b: s1 }), snap({ "": d, a: t1, b: t1 }), [],
  ],
  [
    "separate copies on the target: the follower's copy is replaced by a link to the unchanged leader",
    snap({ "": d, a: s1, b: s1 }), snap({ "": d, a: f, b: f }), [linkTo("b", "a", f, s1, f), touchRoot],
  ],
  [
    "the leader's content changed: it is updated, and the follower relinked to the new inode",
    snap({ "": d, a: { ...s1, mtimeMs: T + 9 }, b: { ...s1, mtimeMs: T + 9 } }), snap({ "": d, a: t1, b: t1 }),
    [
      { kind: "update", path: p("a"), before: t1, after: { ...s1, mtimeMs: T + 9 } },
      linkTo("b", "a", { ...s1, mtimeMs: T + 9 }, { ...s1, mtimeMs: T + 9 }, t1),
      touchRoot,
    ],
  ],
  [
    "a name linked on the target whose source link was broken becomes its own file again",
    snap({ "": d, a: f, b: { ...f, size: 3 } }), snap({ "": d, a: t1, b: t1 }),
    [{ kind: "update", path: p("b"), before: t1, after: { ...f, size: 3 } }, touchRoot],
  ],
  [
    "a name alone in the scan (a partial batch) is sent as a plain file",
    snap({ "": d, b: s1 }), snap({ "": d }), [create("b", s1), touchRoot],
  ],
];

for (const [name, src, dst, want, r] of cases) test(`hard links: ${name}`, () => assert.deepEqual(planSync(src, dst, r ?? H), want));
