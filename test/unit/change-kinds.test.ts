// The change-kind table and the one description every view derives from it: a row per kind, wire names
// that round-trip, and each kind's line as the terminal and the CI reports show it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CHANGE_KINDS, changeBucket, kindFromWire, removes, writesFile, type Change } from "../../reconciler/model/change.js";
import { describeChange } from "../../reconciler/views/change-line.js";
import { renderPlanHuman } from "../../reconciler/views/plan-human.js";
import { summarize, type Plan } from "../../reconciler/model/plan.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { DirEntry, FileEntry, SymlinkEntry } from "../../reconciler/model/snapshot.js";

const p = (s: string) => s as RelPath;
const T = 1_700_000_000_000;
const f = (size: number, mode = 0o644): FileEntry => ({ kind: "file", size, mode, mtimeMs: T });
const d: DirEntry = { kind: "dir", mode: 0o755, mtimeMs: T };
const l = (target: string): SymlinkEntry => ({ kind: "symlink", target, mode: 0o777, mtimeMs: T });

// [change, bucket, report line, terminal line]
const cases: [Change, string, string, string][] = [
  [{ kind: "mkdir", path: p("up"), after: d }, "add", "+ mkdir up/", "  + mkdir   up/"],
  [{ kind: "mkdir", path: p("up"), before: f(3), after: d }, "add", "-/+ mkdir up/ (replaces file (3 B))", "-/+ mkdir   up/ (replaces file (3 B))"],
  [{ kind: "create", path: p("a"), after: f(2048) }, "add", "+ create a (2048 B)", "  + create  a (2.0 KiB)"],
  [{ kind: "create", path: p("a"), after: f(5), from: { path: p("old"), entry: f(5) } }, "add", "+ create a (5 B, copied from old on the target)", "  + create  a (5 B, copied from old on the target)"],
  [{ kind: "update", path: p("a"), before: f(1), after: f(2) }, "change", "~ update a (1 B -> 2 B)", "  ~ update  a (1 B → 2 B)"],
  [{ kind: "symlink", path: p("cur"), after: l("r/2") }, "add", "+ symlink cur -> r/2", "  + symlink cur → r/2"],
  [{ kind: "symlink", path: p("cur"), before: l("r/1"), after: l("r/2") }, "change", "~ symlink cur -> r/2 (was -> r/1)", "  ~ symlink cur → r/2 (was → r/1)"],
  [{ kind: "symlink", path: p("cur"), before: d, after: l("r/2") }, "change", "-/+ symlink cur -> r/2 (replaces dir)", "-/+ symlink cur → r/2 (replaces dir)"],
  [{ kind: "chmod", path: p("x.sh"), before: f(1, 0o644), after: f(1, 0o755) }, "change", "~ chmod x.sh (0644 -> 0755)", "  ~ chmod   x.sh (0644 → 0755)"],
  [{ kind: "chown", path: p("x"), before: { ...f(1), uid: 0, gid: 0 }, after: { ...f(1), uid: 33, gid: 34 } }, "change", "~ chown x (0:0 -> 33:34)", "  ~ chown   x (0:0 → 33:34)"],
  [{ kind: "touch", path: p("x"), before: f(1), after: { ...f(1), mtimeMs: T + 5000 } }, "change", "~ touch x (times)", "  ~ touch   x (times)"],
  [{ kind: "delete", path: p("x"), before: f(1) }, "delete", "- delete x", "  - delete  x"],
  [{ kind: "delete", path: p("ln"), before: l("t") }, "delete", "- delete ln (symlink -> t)", "  - delete  ln (symlink → t)"],
  [{ kind: "rmdir", path: p("old"), before: d }, "delete", "- rmdir old/", "  - rmdir   old/"],
];

const planOf = (c: Change): Plan => {
  const targets = [{ sync: "s", target: { path: "/t" }, state: "drifted" as const, changes: [c], problems: [] }];
  return { manifestFile: "m", manifestDigest: "0", createdAt: "", deep: false, targets, summary: summarize(targets) };
};

for (const [c, bucket, report, terminal] of cases) {
  test(`${report}`, () => {
    assert.equal(changeBucket(c), bucket);
    assert.equal(describeChange(c), report);
    assert.equal(renderPlanHuman(planOf(c), { color: false }).split("\n")[1], terminal);
  });
}

test("every kind has a row; wire names round-trip and are distinct", () => {
  const kinds = Object.keys(CHANGE_KINDS) as Change["kind"][];
  assert.equal(new Set(kinds.map((k) => CHANGE_KINDS[k].wire)).size, kinds.length);
  for (const k of kinds) assert.equal(kindFromWire(CHANGE_KINDS[k].wire), k);
  assert.equal(kindFromWire("hardlink-v9"), undefined);
  assert.equal(kindFromWire("constructor"), undefined);
});

test("predicates follow the table", () => {
  const kindsWhere = (pred: (c: Change) => boolean) => cases.filter(([c]) => pred(c)).map(([c]) => c.kind);
  assert.deepEqual([...new Set(kindsWhere(writesFile))], ["create", "update"]);
  assert.deepEqual([...new Set(kindsWhere(removes))], ["delete", "rmdir"]);
});
