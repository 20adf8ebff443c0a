// One-line bugs no other unit test caught (issue 17 defect 9): each case here fails when its bug is
// put back — the chmod line's direction, hidden directory-time restores, `plan --diff`, and the watch
// engine's "the source changed during the transfer" check.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Change } from "../../reconciler/model/change.js";
import type { Manifest } from "../../reconciler/model/manifest.js";
import type { Plan, TargetPlan } from "../../reconciler/model/plan.js";
import { diffKey, summarize } from "../../reconciler/model/plan.js";
import { relPath, type RelPath } from "../../reconciler/model/paths.js";
import type { DirEntry, Entry, FileEntry } from "../../reconciler/model/snapshot.js";
import { parseManifest } from "../../reconciler/manifest/load.js";
import { Fleet } from "../../reconciler/run/fleet.js";
import { textDiffs } from "../../reconciler/run/text-diff.js";
import type { ApplyResult, Transport } from "../../reconciler/transport/types.js";
import { FakeTransport } from "../support/fake-transport.js";
import { describeChange } from "../../reconciler/views/change-line.js";
import { renderPlanHuman } from "../../reconciler/views/plan-human.js";
import { createSyncEngine } from "../../reconciler/watch/sync-engine.js";

const T = 1_700_000_000_000;
const dir = (mode: number, mtimeMs = T): DirEntry => ({ kind: "dir", mode, mtimeMs });
const file = (size: number, mtimeMs = T): FileEntry => ({ kind: "file", size, mode: 0o644, mtimeMs });
const p = (s: string): RelPath => relPath(s);
const target = (changes: Change[]): TargetPlan => ({ sync: "site", target: { host: "www", path: "/srv" }, state: changes.length ? "drifted" : "in-sync", changes, problems: [] });
const plan = (targets: TargetPlan[]): Plan => ({ manifestFile: "tsync.yaml", manifestDigest: "d", createdAt: "2026-01-01T00:00:00Z", deep: false, targets, summary: summarize(targets) });
const human = (pl: Plan, diffs?: Map<string, string>) => renderPlanHuman(pl, { color: false, quiet: false, ...(diffs ? { diffs } : {}) });

test("a chmod is shown from the mode the target has to the mode it gets", () => {
  const c: Change = { kind: "chmod", path: p("bin/run.sh"), before: file(3), after: { ...file(3), mode: 0o755 } };
  assert.match(human(plan([target([c])])), /~ chmod {3}bin\/run\.sh \(0644 → 0755\)/);
  assert.equal(describeChange(c), "~ chmod bin/run.sh (0644 -> 0755)");
});

test("a directory time restored after writing into it is neither shown nor counted; a real time change is", () => {
  const create: Change = { kind: "create", path: p("a/new.txt"), after: file(5) };
  const restore: Change = { kind: "touch", path: p("a"), before: dir(0o755), after: dir(0o755) };
  const pl = plan([target([create, restore])]);
  assert.deepEqual([pl.summary.add, pl.summary.change], [1, 0]);
  assert.match(human(pl), /www:\/srv 1 change\n/);
  assert.doesNotMatch(human(pl), /touch/);
  const moved: Change = { kind: "touch", path: p("a"), before: dir(0o755), after: dir(0o755, T + 5000) };
  assert.deepEqual(plan([target([create, moved])]).summary.change, 1);
});

/** A fleet whose host `www` and whose local machine are the given fakes. */
class FakeFleet extends Fleet {
  constructor(manifest: Manifest, private readonly www: Transport, private readonly here: Transport) {
    super(manifest);
  }
  override transport(host: string | undefined): Transport {
    return host === "www" ? this.www : this.here;
  }
}

/** www whose apply fails on every change it is given (as the helper reports a source that moved). */
class FailsToApply extends FakeTransport {
  override async apply(_root: string, changes: readonly Change[]): Promise<ApplyResult> {
    return { applied: 0, bytes: 0, problems: changes.map((c) => ({ path: c.path, kind: c.kind, code: "io" as const, message: "source changed: 9 bytes, the plan says 4" })) };
  }
}
const manifest = parseManifest(`version: 1\nhosts:\n  www: { address: 127.0.0.9 }\nsyncs:\n  site:\n    source: /src\n    targets: ["www:/srv"]\n`, "tsync.yaml").manifest!;

test("plan --diff: a unified diff of a changed text file, target → source; none for binary content", async () => {
  const files = new Map(Object.entries({ "/src/a.txt": "one\ntwo\n", "/srv/a.txt": "one\n", "/src/b.bin": "x\0y", "/srv/b.bin": "x\0z", "/src/new.txt": "hi\n" }).map(([k, v]) => [k, Buffer.from(v)]));
  const fleet = new FakeFleet(manifest, new FakeTransport("www", undefined, files), new FakeTransport("local", undefined, files));
  const update = (path: string, size: number): Change => ({ kind: "update", path: p(path), before: file(1), after: file(size) });
  const pl = plan([target([update("a.txt", 8), update("b.bin", 3), { kind: "create", path: p("new.txt"), after: file(3) }])]);
  const diffs = await textDiffs(manifest, fleet, pl);
  assert.deepEqual([...diffs.keys()], ["a.txt", "new.txt"].map((n) => diffKey(pl.targets[0]!, n)));
  assert.match(human(pl, diffs), /~ update  a\.txt.*\n {6}--- target\/a\.txt\n {6}\+\+\+ source\/a\.txt\n {6}@@ -1,1 \+1,2 @@\n {6} one\n {6}\+two/);
});

test("watch: a failed file is re-queued as 'changed on the source' only when the source really moved", async () => {
  const planned = file(4, T);
  const tp = target([{ kind: "create", path: p("up.bin"), after: planned }]);
  const run = async (now: Entry) => {
    const fleet = new FakeFleet(manifest, new FailsToApply("www"), new FakeTransport("local").withEntries({ "up.bin": now }));
    return createSyncEngine(manifest, fleet).apply(tp);
  };
  assert.deepEqual((await run(file(9, T + 1))).sourceChanged, [p("up.bin")]);
  const same = await run(planned);
  assert.equal(same.ok, false);
  assert.equal(same.sourceChanged, undefined, "an unchanged source file is the target's failure, not a retry");
});
