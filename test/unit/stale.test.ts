// The re-checks before a saved plan is applied (reconciler/run/stale.ts), against a fake transport whose
// scan returns what the table says: what counts as "moved" on the source and on a target.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Sync } from "../../reconciler/model/manifest.js";
import type { Change } from "../../reconciler/model/change.js";
import type { Entry, FileEntry } from "../../reconciler/model/snapshot.js";
import { relPath, type RelPath } from "../../reconciler/model/paths.js";
import { FakeTransport } from "../support/fake-transport.js";
import { checkSourceUnchanged, checkTargetUnchanged } from "../../reconciler/run/stale.js";

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
