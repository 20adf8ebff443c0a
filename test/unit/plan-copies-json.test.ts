// A create copied on the target in every view of a plan: the wire document (round trip, schema,
// fingerprint) and the human and report lines.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Change } from "../../reconciler/model/change.js";
import type { Plan, TargetPlan } from "../../reconciler/model/plan.js";
import { summarize } from "../../reconciler/model/plan.js";
import { relPath } from "../../reconciler/model/paths.js";
import type { FileEntry } from "../../reconciler/model/snapshot.js";
import { checkPlanJson, parsePlanJson, toPlanJson } from "../../reconciler/views/plan-json.js";
import { renderPlanHuman } from "../../reconciler/views/plan-human.js";
import { describeChange } from "../../reconciler/views/change-line.js";

const T = 1_700_000_000_123.456;
const H = "c".repeat(128);
const big: FileEntry = { kind: "file", size: 12 * 1024 * 1024, mode: 0o644, mtimeMs: T, hash: H };
const seen: FileEntry = { kind: "file", size: big.size, mode: 0o600, mtimeMs: T };
const p = relPath;

const move: Change = { kind: "create", path: p("new/path"), after: big, from: { path: p("old/path"), entry: seen } };
const rawMove: Change = { kind: "create", path: p("n\xff"), after: big, from: { path: p("o\xfe\n"), entry: seen } };
const overLink: Change = { kind: "create", path: p("l"), before: { kind: "symlink", target: "/etc", mode: 0o777, mtimeMs: T }, after: big, from: { path: p("old/path"), entry: seen } };

function plan(changes: Change[]): Plan {
  const targets: TargetPlan[] = [{ sync: "site", target: { host: "www-01", path: "/srv" }, state: "drifted", changes, problems: [] }];
  return { manifestFile: "tsync.yaml", manifestDigest: "ab".repeat(32), createdAt: "2025-05-20T03:00:00.000Z", deep: false, targets, summary: summarize(targets) };
}
type Doc = { targets: { changes: Record<string, unknown>[]; fingerprint: string }[] };
const doc = (changes: Change[]) => JSON.parse(JSON.stringify(toPlanJson(plan(changes)))) as Doc;

test("plan JSON: from and fromEntry on the wire, schema-valid, round trip exact", () => {
  const d = doc([move, rawMove, overLink]);
  assert.equal(checkPlanJson(d), undefined);
  const [a, b] = d.targets[0]!.changes;
  assert.equal(a!.from, "old/path");
  assert.equal(a!.fromBase64, undefined);
  assert.deepEqual(a!.fromEntry, { type: "file", mode: "0600", mtimeMs: T, size: big.size });
  assert.equal(b!.fromBase64, Buffer.from("o\xfe\n", "latin1").toString("base64"), "non-UTF-8 name travels as bytes");
  assert.deepEqual(parsePlanJson(JSON.stringify(d), "plan.json").targets[0]!.changes, [move, rawMove, overLink]);
});

test("plan JSON: a create without from has no from keys", () => {
  const d = doc([{ kind: "create", path: p("a"), after: big }]);
  assert.deepEqual(Object.keys(d.targets[0]!.changes[0]!).sort(), ["action", "after", "path"]);
});

test("plan JSON: the fingerprint covers from (an edited copy source is refused)", () => {
  const d = doc([move]);
  d.targets[0]!.changes[0]!.from = "etc/shadow";
  assert.equal(checkPlanJson(d), undefined);
  assert.throws(() => parsePlanJson(JSON.stringify(d), "plan.json"), /edited after it was made/);
});

const invalid: [string, (c: Record<string, unknown>) => void][] = [
  ["from without fromEntry", (c) => delete c.fromEntry],
  ["fromEntry without from", (c) => delete c.from],
  ["from on an update", (c) => (c.action = "update")],
  ["fromEntry that is not a file", (c) => (c.fromEntry = { type: "dir", mode: "0755", mtimeMs: T })],
];
for (const [name, edit] of invalid) {
  test(`plan schema refuses ${name}`, () => {
    const d = doc([move]);
    edit(d.targets[0]!.changes[0]!);
    assert.notEqual(checkPlanJson(d), undefined);
  });
}

test("human plan and report lines name the copy source", () => {
  const text = renderPlanHuman(plan([move, rawMove, overLink]), { color: false });
  assert.match(text, /^ {2}\+ create {2}new\/path \(12 MiB, copied from old\/path on the target\)$/m);
  assert.match(text, /copied from "o\\xfe\\x0a" on the target/);
  assert.match(text, /^-\/\+ create {2}l \(12 MiB, replaces symlink → \/etc, copied from old\/path on the target\)$/m);
  assert.equal(describeChange(move), "+ create new/path (12582912 B, copied from old/path on the target)");
});

test("plan JSON and lines: a hard link (preserve hardlinks) keeps fromLink through a saved plan and says so", () => {
  const hard: Change = { kind: "create", path: p("b"), after: big, from: { path: p("a"), entry: big, link: true } };
  const d = doc([hard, move]);
  assert.equal(checkPlanJson(d), undefined);
  const [a, b] = d.targets[0]!.changes;
  assert.equal(a!.fromLink, true);
  assert.equal(b!.fromLink, undefined, "a copy is not a link");
  assert.deepEqual(parsePlanJson(JSON.stringify(d), "plan.json").targets[0]!.changes, [hard, move]);
  assert.match(describeChange(hard), /hard link to a on the target/);
  assert.match(renderPlanHuman(plan([hard]), { color: false }), /hard link to a on the target/);
  d.targets[0]!.changes[1]!.fromLink = true;
  assert.throws(() => parsePlanJson(JSON.stringify(d), "plan.json"), /edited after it was made/, "the fingerprint covers fromLink");
});
