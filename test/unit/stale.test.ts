// The re-checks before a saved plan is applied (reconciler/run/stale.ts), against a fake transport whose
// scan returns what the table says: what counts as "moved" on the source and on a target; and which
// saved changes a fresh plan justifies (issue 18 item 1: a saved plan may only narrow).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Sync } from "../../reconciler/model/manifest.js";
import type { Change } from "../../reconciler/model/change.js";
import type { Entry, FileEntry } from "../../reconciler/model/snapshot.js";
import { relPath, type RelPath } from "../../reconciler/model/paths.js";
import { FakeTransport } from "../support/fake-transport.js";
import { checkJustified, checkSourceUnchanged, checkTargetUnchanged } from "../../reconciler/run/stale.js";

const T = 1_700_000_000_000;
const H1 = "a".repeat(128);
const H2 = "b".repeat(128);
const f = (size: number, hash?: string): FileEntry => ({ kind: "file", size, mode: 0o644, mtimeMs: T, ...(hash ? { hash } : {}) });
const p = (s: string): RelPath => relPath(s);

const sync = {
  name: "site",
  source: { path: "/src" },
  targets: [{ host: "web", path: "/dst" }],
  rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
  delayMs: 1000,
  audit: {},
  onDrift: "heal",
} as Sync;

/** A transport whose scan returns `entries` (restricted to the asked paths) and records the hash mode. */
function fake(entries: Record<string, Entry>): FakeTransport {
  return new FakeTransport().withEntries(entries);
}

const create = (path: string, after: FileEntry): Change => ({ kind: "create", path: p(path), after });

const sourceCases: [string, Change[], Record<string, Entry>, RegExp | undefined][] = [
  ["same size, time and hash", [create("a", f(3, H1))], { a: f(3, H1) }, undefined],
  ["same size and time, other hash", [create("a", f(3, H1))], { a: f(3, H2) }, /source a changed since the plan/],
  ["other size", [create("a", f(3, H1))], { a: f(4, H1) }, /was file of 3 bytes, now file of 4 bytes/],
  ["gone", [create("a", f(3, H1))], {}, /now absent/],
  // The scanner leaves a hash out when the file changed while it was read: that is not a confirmation.
  ["pinned hash not confirmed (changed while hashed)", [create("a", f(3, H1))], { a: f(3) }, /source a changed since the plan/],
  ["no pinned hash: size and time decide", [create("a", f(3))], { a: f(3, H2) }, undefined],
];

for (const [name, changes, now, want] of sourceCases) {
  test(`checkSourceUnchanged: ${name}`, async () => {
    const t = fake(now);
    const r = await checkSourceUnchanged(t, sync, changes);
    if (want === undefined) assert.equal(r, undefined);
    else assert.match(r ?? "", want);
    assert.equal(t.scans[0]?.hash, "all", "the source content is re-hashed");
  });
}

test("checkTargetUnchanged: a path the plan relies on being absent that appeared is a move", async () => {
  const r = await checkTargetUnchanged(fake({ a: f(1) }), sync, "/dst", [create("a", f(3, H1))]);
  assert.match(r ?? "", /a changed on the target since the plan \(was absent, now file of 1 bytes\)/);
  assert.equal(await checkTargetUnchanged(fake({}), sync, "/dst", [create("a", f(3, H1))]), undefined);
});

test("checkTargetUnchanged: the file a create copies must still be what the plan saw", async () => {
  const copy: Change = { kind: "create", path: p("new"), after: f(3, H1), from: { path: p("keep"), entry: f(3) } };
  const t = fake({ keep: f(3) });
  assert.equal(await checkTargetUnchanged(t, sync, "/dst", [copy]), undefined);
  assert.ok(t.scans[0]?.only?.includes(p("keep")), "the copy source is scanned");
  assert.match(
    (await checkTargetUnchanged(fake({ keep: f(4) }), sync, "/dst", [copy])) ?? "",
    /keep \(copied by the plan\) changed on the target since the plan \(was file of 3 bytes, now file of 4 bytes\)/,
  );
  assert.match((await checkTargetUnchanged(fake({}), sync, "/dst", [copy])) ?? "", /keep \(copied by the plan\).*now absent/);
  assert.match((await checkTargetUnchanged(fake({ keep: { ...f(3), mtimeMs: T + 1000 } }), sync, "/dst", [copy])) ?? "", /keep \(copied by the plan\)/);
});

const d = (mode: number, mtimeMs = T): Entry => ({ kind: "dir", mode, mtimeMs });
const fresh: Change[] = [
  { kind: "mkdir", path: p("new"), after: d(0o755) as never },
  create("new/n.txt", f(4, H1)),
  { kind: "update", path: p("index.php"), before: f(10), after: f(12, H2) },
  { kind: "chmod", path: p("run.sh"), before: f(5), after: { ...f(5), mode: 0o755 } },
  { kind: "delete", path: p("old.txt"), before: f(1) },
  { kind: "touch", path: p(""), before: d(0o755), after: d(0o755, T + 5) },
];
const without = (i: number) => fresh.filter((_, j) => j !== i);

// Issue 18 item 1: each forged change a saved plan can carry, with its fingerprint recomputed.
const justifyCases: [string, Change[], RegExp | undefined][] = [
  ["the same changes", fresh, undefined],
  ["fewer changes (a narrowed plan)", [fresh[2]!, fresh[4]!], undefined],
  ["a directory time the source moved since (a file added there after planning)", [...without(5), { ...(fresh[5] as Change & { kind: "touch" }), after: d(0o755, T + 99) }], undefined],
  ["a delete of a file the source still has", [...fresh, { kind: "delete", path: p("index.php"), before: f(10) }], /the plan's delete of index\.php is not a change a fresh plan of this target makes/],
  ["a chmod to a mode the source does not have (04777)", fresh.map((c) => (c.kind === "chmod" ? { ...c, after: { ...c.after, mode: 0o4777 } } : c)), /the plan's chmod of run\.sh does not give it what the source has/],
  ["a chmod of a path a fresh plan leaves alone", [{ kind: "chmod", path: p("c.txt"), before: f(2), after: { ...f(2), mode: 0o4777 } }], /chmod of c\.txt is not a change/],
  ["a write outside the root (../)", [create("../outside/x", f(4, H1))], /create of \.\.\/outside\/x is not a change/],
  ["a create whose content is not the source's", fresh.map((c) => (c.kind === "create" ? { ...c, after: f(4, H2) } : c)), /create of new\/n\.txt does not give it what the source has/],
  ["a create whose mode is not the source's", fresh.map((c) => (c.kind === "create" ? { ...c, after: { ...f(4, H1), mode: 0o6755 } } : c)), /does not give it what the source has/],
  ["a create copied from a file a fresh plan does not take as the same", fresh.map((c) => (c.kind === "create" ? { ...c, from: { path: p("secret"), entry: f(4) } } : c)), /create of new\/n\.txt copies secret, which a fresh plan does not take as the same content/],
  ["an update planned against another target file", fresh.map((c) => (c.kind === "update" ? { ...c, before: f(11) } : c)), /update of index\.php was planned against file of 11 bytes on the target, a fresh plan sees file of 10 bytes/],
  ["the changes reordered", [fresh[1]!, fresh[0]!], /the plan's mkdir of new is out of the order/],
];

for (const [name, saved, want] of justifyCases) {
  test(`checkJustified: ${name}`, () => {
    const r = checkJustified(saved, fresh);
    if (want === undefined) assert.equal(r, undefined);
    else assert.match(r ?? "", want);
  });
}

test("checkJustified: a copy the fresh plan makes from the same file is justified", () => {
  const copy: Change = { kind: "create", path: p("b"), after: f(3, H1), from: { path: p("a"), entry: f(3) } };
  assert.equal(checkJustified([copy], [copy]), undefined);
  assert.equal(checkJustified([{ ...copy, from: undefined } as Change], [copy]), undefined, "sending instead of copying is always allowed");
});
