import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change } from "../../reconciler/model/change.js";
import type { Limit, SyncRules } from "../../reconciler/model/manifest.js";
import { relPath, ROOT, type RelPath } from "../../reconciler/model/paths.js";
import { planSync } from "../../reconciler/core/planner.js";
import { checkEmptySource, checkMaxDelete, countDeletes } from "../../reconciler/core/safety.js";
import type { DirEntry, Entry, FileEntry, Snapshot } from "../../reconciler/model/snapshot.js";

const fA: FileEntry = { kind: "file", size: 1, mtimeMs: 1, mode: 0o644 };
const d: DirEntry = { kind: "dir", mode: 0o755, mtimeMs: 1 };
const rules: SyncRules = { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } };
const pct = (value: number): Limit => ({ kind: "percent", value });
const count = (value: number): Limit => ({ kind: "count", value });

/** A target root with `files` files in `dirs` directories (non-root entries: files + dirs). */
function tree(files: number, dirs = 0): Snapshot {
  const m = new Map<RelPath, Entry>([["" as RelPath, d]]);
  for (let i = 0; i < dirs; i++) m.set(`d${i}` as RelPath, d);
  for (let i = 0; i < files; i++) m.set((dirs > 0 ? `d${i % dirs}/f${i}` : `f${i}`) as RelPath, fA);
  return m;
}
const deletes = (n: number): Change[] => Array.from({ length: n }, (_, i) => ({ kind: "delete", path: `f${i}` as RelPath, before: fA }));
const emptySource: Snapshot = new Map([["" as RelPath, d]]);

const cases: [string, Change[], Snapshot, Limit | undefined, string | undefined][] = [
  ["no limit: never refused", deletes(130), tree(130), undefined, undefined],
  ["no deletes: fine", [], tree(10), pct(0), undefined],
  ["under the percentage", deletes(25), tree(100), pct(25), undefined],
  [
    "over the percentage",
    deletes(120),
    tree(130),
    pct(25),
    "would delete 120 of 130 entries (92%), more than maxDelete 25%; an empty or unmounted source? use --allow-mass-delete to proceed",
  ],
  [
    "just over does not read as equal",
    deletes(2501),
    tree(10000),
    pct(25),
    "would delete 2501 of 10000 entries (25.01%), more than maxDelete 25%; an empty or unmounted source? use --allow-mass-delete to proceed",
  ],
  ["count: at the limit is fine", deletes(1000), tree(5000), count(1000), undefined],
  [
    "count: over",
    deletes(1001),
    tree(5000),
    count(1000),
    "would delete 1001 of 5000 entries (20%), more than maxDelete 1000; an empty or unmounted source? use --allow-mass-delete to proceed",
  ],
];
for (const [name, changes, target, limit, want] of cases)
  test(`checkMaxDelete: ${name}`, () => assert.equal(checkMaxDelete(changes, target, limit), want));

test("checkMaxDelete: an empty source against a full target is refused at 25%", () => {
  const target = tree(120, 10);
  const changes = planSync(emptySource, target, rules);
  assert.equal(countDeletes(changes), 130);
  assert.equal(
    checkMaxDelete(changes, target, pct(25)),
    "would delete 130 of 130 entries (100%), more than maxDelete 25%; an empty or unmounted source? use --allow-mass-delete to proceed",
  );
});

test("checkMaxDelete: a missing source root is refused too", () => {
  const target = tree(40, 2);
  assert.match(checkMaxDelete(planSync(new Map(), target, rules), target, pct(25)) ?? "", /^would delete 42 of 42 entries \(100%\)/);
});

test("checkMaxDelete: rmdir and type-change removals count, other changes do not", () => {
  const changes: Change[] = [
    { kind: "rmdir", path: "a" as RelPath, before: d },
    { kind: "delete", path: "b" as RelPath, before: fA },
    { kind: "create", path: "b" as RelPath, before: fA, after: fA },
    { kind: "touch", path: "" as RelPath, before: d, after: d },
  ];
  assert.equal(countDeletes(changes), 2);
  assert.match(checkMaxDelete(changes, tree(3), pct(50)) ?? "", /would delete 2 of 3 entries \(67%\)/);
  assert.equal(checkMaxDelete(changes, tree(4), pct(50)), undefined);
});

test("checkEmptySource: an empty source refuses to wipe a full target; anything else passes", () => {
  const root = { kind: "dir", mode: 0o755, mtimeMs: 1 } as const;
  const file = { kind: "file", size: 1, mode: 0o644, mtimeMs: 1 } as const;
  const empty: Snapshot = new Map([[ROOT, root]]);
  const full: Snapshot = new Map<RelPath, Entry>([[ROOT, root], [relPath("a"), file], [relPath("b"), file]]);
  const del: Change[] = [{ kind: "delete", path: relPath("a"), before: file }, { kind: "delete", path: relPath("b"), before: file }];
  assert.match(checkEmptySource(del, empty, full) ?? "", /source is empty but would delete all 2 entries/);
  assert.equal(checkEmptySource([], empty, empty), undefined);
  assert.equal(checkEmptySource(del.slice(1), full, full), undefined);
  assert.equal(checkEmptySource([], empty, full), undefined, "delete: false plans nothing to delete");
});
