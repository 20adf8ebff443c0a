// Real chokidar on a temp dir: what the daemon will see from a local source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, writeFile, rename, rm, unlink, symlink, chmod } from "node:fs/promises";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watch, type FSWatcher, type ChokidarOptions } from "chokidar";
import { makeMatcher } from "../../reconciler/core/ignore.js";
import { STAGING_DIR } from "../../reconciler/model/snapshot.js";
import { FakeClock, realClock } from "../../reconciler/watch/clock.js";
import { SourceWatcher, INOTIFY_SYSCTL } from "../../reconciler/watch/source-watcher.js";
import type { RelPath } from "../../reconciler/model/paths.js";

async function waitFor(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const settle = (ms = 250) => new Promise((r) => setTimeout(r, ms));

async function rig(patterns: string[] = [], extra: { clock?: FakeClock; rescanIntervalMs?: number } = {}) {
  const root = await mkdtemp(join(tmpdir(), "tsync-watch-"));
  await mkdir(join(root, "dir/sub"), { recursive: true });
  await writeFile(join(root, "dir/sub/f.txt"), "x");
  await writeFile(join(root, "old.txt"), "x");
  const events: RelPath[] = [];
  const warnings: string[] = [];
  const modes: string[] = [];
  let rescans = 0;
  let fsw: FSWatcher | undefined;
  const w = new SourceWatcher({
    root,
    exclude: makeMatcher(patterns),
    clock: extra.clock ?? realClock,
    rescanIntervalMs: extra.rescanIntervalMs ?? 60_000,
    warn: (m) => warnings.push(m),
    watchFn: (r: string, o: ChokidarOptions) => (fsw = watch(r, o)),
  });
  await w.start();
  w.listen({ event: (p) => events.push(p), rescan: () => rescans++, mode: (m, why) => modes.push(`${m}: ${why}`) });
  return {
    root,
    w,
    events,
    warnings,
    modes,
    rescans: () => rescans,
    fsw: () => fsw!,
    async done() {
      await w.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

test("create, modify, delete and rename of files and directories name the right paths", async () => {
  const r = await rig();
  try {
    const { root, events } = r;
    const seen = (p: string) => events.includes(p as RelPath);
    await writeFile(join(root, "new.txt"), "1");
    await waitFor(() => seen("new.txt"), "create");
    await writeFile(join(root, "dir/sub/f.txt"), "changed");
    await waitFor(() => seen("dir/sub/f.txt"), "modify");
    await unlink(join(root, "old.txt"));
    await waitFor(() => seen("old.txt"), "delete");
    // Not its directory: a live plan of a path re-scans the subtree of each name (all of it for the
    // root), and already restores the times of the path's ancestors.
    await settle();
    assert.ok(!seen(""), `a removal names only itself: ${JSON.stringify(events)}`);
    events.length = 0;
    await rename(join(root, "new.txt"), join(root, "dir/renamed.txt"));
    await waitFor(() => seen("new.txt") && seen("dir/renamed.txt"), "file rename");
    events.length = 0;
    await rename(join(root, "dir/sub"), join(root, "dir/moved"));
    await waitFor(() => seen("dir/sub") && seen("dir/moved"), "dir rename");
    events.length = 0;
    await mkdir(join(root, "dir/moved/deeper"));
    await writeFile(join(root, "dir/moved/deeper/z"), "z");
    await waitFor(() => seen("dir/moved/deeper/z"), "a file in a new dir below a renamed dir");
    await symlink("/etc", join(root, "link"));
    await waitFor(() => seen("link"), "symlink");
    await chmod(join(root, "dir/moved/f.txt"), 0o600);
    await waitFor(() => seen("dir/moved/f.txt"), "chmod");
    events.length = 0;
    await rm(join(root, "dir"), { recursive: true });
    await waitFor(() => seen("dir"), "recursive delete");
    assert.equal(r.warnings.length, 0, r.warnings.join("\n"));
  } finally {
    await r.done();
  }
});

test("a tree moved in is watched to its depth; a tree moved out is not watched any more", async () => {
  const r = await rig();
  const outside = await mkdtemp(join(tmpdir(), "tsync-watch-out-"));
  try {
    const { root, events } = r;
    await mkdir(join(outside, "t/a/b/c"), { recursive: true });
    await writeFile(join(outside, "t/a/b/c/old.txt"), "o");
    await rename(join(outside, "t"), join(root, "t"));
    // What the listings found is named (it predates the new directories' watches)...
    await waitFor(() => events.includes("t/a/b/c/old.txt" as RelPath), "the moved-in file");
    const watched = r.w.watchedDirs;
    // ...and every directory below is watched: a write at the bottom raises its own event.
    await writeFile(join(root, "t/a/b/c/new.txt"), "n");
    await waitFor(() => events.includes("t/a/b/c/new.txt" as RelPath), "a create at the bottom of the moved-in tree");
    await rename(join(root, "t"), join(outside, "t2"));
    await waitFor(() => r.w.watchedDirs === watched - 4, "the moved-out tree's 4 watches given back");
    events.length = 0;
    await writeFile(join(outside, "t2/a/b/c/after.txt"), "x");
    await settle();
    assert.deepEqual(events, [], "nothing from outside the source");
  } finally {
    await r.done();
    await rm(outside, { recursive: true, force: true });
  }
});

test("a burst of 5,000 creates arrives complete", async () => {
  const r = await rig();
  try {
    await mkdir(join(r.root, "burst"));
    // Once the new directory is watched, each create is its own event. (Files written before its
    // watch exists are found by listing it, capped at WALK_REPORT_CAP and then covered by the
    // directory's own path: a different guarantee, tested with trees moved in.)
    await waitFor(() => r.events.includes("burst" as RelPath), "the new directory");
    await settle();
    for (let i = 0; i < 5000; i++) writeFileSync(join(r.root, "burst", `f${i}.txt`), `${i}`);
    const distinct = () => new Set(r.events.filter((p) => p.startsWith("burst/"))).size;
    await waitFor(() => distinct() === 5000, "5,000 distinct paths", 30_000);
    assert.ok(r.events.length >= 5000, `${r.events.length} raw events for 5,000 paths (dedupe is the batcher's job)`);
  } finally {
    await r.done();
  }
});

test("the staging dir and excluded paths produce no events", async () => {
  const r = await rig(["*.swp", "wp-content/cache/", "/secret"]);
  try {
    const { root, events } = r;
    await mkdir(join(root, STAGING_DIR));
    await writeFile(join(root, STAGING_DIR, "part"), "p");
    await mkdir(join(root, "wp-content/cache/page"), { recursive: true });
    await writeFile(join(root, "wp-content/cache/page/x.html"), "c");
    await writeFile(join(root, "edit.swp"), "s");
    await writeFile(join(root, "secret"), "s");
    await mkdir(join(root, "sub"));
    await writeFile(join(root, "sub/secret"), "not anchored: replicated");
    await writeFile(join(root, "sentinel"), "last");
    // Events of different directories are not ordered: wait for every expected one, then settle.
    const want = ["sentinel", "sub/secret", "wp-content"] as RelPath[];
    await waitFor(() => want.every((p) => events.includes(p)), "the sentinel, the unanchored sub/secret and the non-excluded parent");
    await settle();
    const bad = events.filter((p) => p.startsWith(STAGING_DIR) || p.startsWith("wp-content/cache") || p.endsWith(".swp") || p === "secret");
    assert.deepEqual(bad, []);
  } finally {
    await r.done();
  }
});

test("a non-UTF-8 name is widened to its directory, which the engine re-scans by bytes", async () => {
  const r = await rig();
  try {
    writeFileSync(Buffer.from(join(r.root, "dir/bad\xff.txt"), "latin1"), "b");
    await waitFor(() => r.events.includes("dir" as RelPath), "the directory of the bad name");
    assert.ok(r.events.every((p) => !p.includes("\uFFFD")), "no lossy path leaks out");
  } finally {
    await r.done();
  }
});

test("a watcher error switches the source to polling with one warning, and rescans follow", async () => {
  const clock = new FakeClock();
  const r = await rig([], { clock, rescanIntervalMs: 30_000 });
  try {
    const enospc = Object.assign(new Error("ENOSPC: System limit for number of file watchers reached, watch '/x'"), { code: "ENOSPC" });
    r.fsw().emit("error", enospc);
    r.fsw().emit("error", enospc); // chokidar emits one per directory: still one warning
    assert.equal(r.w.mode, "polling");
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, new RegExp(`switching to polling \\(full rescan every 30s\\).*ENOSPC.*${INOTIFY_SYSCTL.replace(/\./g, "\\.")}`));
    assert.deepEqual(r.modes.length, 1);
    clock.advance(30_000);
    clock.advance(30_000);
    assert.equal(r.rescans(), 2);
    // The inotify watcher is closed: its watches are given back, and no events come from it.
    await settle(50);
    await writeFile(join(r.root, "after.txt"), "a");
    await settle();
    assert.ok(!r.events.includes("after.txt" as RelPath));
  } finally {
    await r.done();
  }
  assert.equal(r.rescans(), 2);
});

test("events that arrive before anyone listens are queued, not lost", async () => {
  const root = await mkdtemp(join(tmpdir(), "tsync-watch-"));
  const w = new SourceWatcher({ root, exclude: makeMatcher([]), clock: realClock, rescanIntervalMs: 60_000, warn: () => {} });
  try {
    await w.start();
    await writeFile(join(root, "early.txt"), "e");
    await waitFor(() => w.queued > 0, "a queued event");
    const got: RelPath[] = [];
    w.listen({ event: (p) => got.push(p), rescan: () => {}, mode: () => {} });
    assert.ok(got.includes("early.txt" as RelPath));
  } finally {
    await w.close();
    await rm(root, { recursive: true, force: true });
  }
});

test("chokidar's string paths become RelPaths: latin1 of the UTF-8 bytes; lossy names have none", async () => {
  const { toRelPath, nearestCleanDir, isExcluded } = await import("../../reconciler/watch/source-watcher.js");
  const cases: [string, string | undefined][] = [
    ["/r", ""],
    ["/r/a/b", "a/b"],
    ["/r/café", "caf\xc3\xa9"],
    ["/r/bad\uFFFD", undefined],
    ["/other/x", undefined],
    ["/rr/x", undefined],
  ];
  for (const [abs, want] of cases) assert.equal(toRelPath("/r", abs), want, abs);
  assert.equal(nearestCleanDir("/r", "/r/ok/b\uFFFDd/deeper"), "ok");
  assert.equal(nearestCleanDir("/r", "/r/\uFFFD"), "");
  const m = makeMatcher(["cache/"]);
  assert.equal(isExcluded(m, "cache" as RelPath, undefined), false, "type unknown: a file named cache is not hidden");
  assert.equal(isExcluded(m, "cache" as RelPath, true), true);
  assert.equal(isExcluded(m, "cache/x" as RelPath, undefined), true);
  assert.equal(isExcluded(m, `${STAGING_DIR}/t` as RelPath, false), true);
  assert.equal(isExcluded(m, "" as RelPath, true), false);
});
