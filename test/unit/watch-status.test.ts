import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../../reconciler/watch/clock.js";
import { allInSync, readStatus, StatusWriter, writeFileAtomic, type StatusDoc } from "../../reconciler/watch/status.js";
import { renderStatus } from "../../reconciler/views/status-human.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function doc(over: Partial<StatusDoc> = {}): StatusDoc {
  return {
    formatVersion: 1,
    pid: process.pid,
    startedAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0 + 5000).toISOString(),
    state: "running",
    manifestFile: "tsync.yaml",
    manifestDigest: "ab".repeat(32),
    syncs: [
      {
        name: "site",
        source: "/var/www/site",
        watcher: { mode: "inotify" },
        pendingEvents: 3,
        queueDepth: 1,
        lastSyncAt: new Date(T0 + 4000).toISOString(),
        lastAudit: { at: new Date(T0).toISOString(), kind: "quick", drift: 2, result: "reported" },
        targets: [
          { target: "www-01:/var/www/site", state: "in-sync", failures: 0, problems: 0, drift: 0, lastSyncAt: new Date(T0 + 4000).toISOString() },
          { target: "www-02:/var/www/site", state: "unreachable", failures: 2, problems: 0, drift: 0, lastError: "www-02: connect ECONNREFUSED", retryAt: new Date(T0 + 9000).toISOString() },
          { target: "/srv/copy", state: "drifted", failures: 0, problems: 1, drift: 2 },
        ],
      },
    ],
    ...over,
  };
}

function writerRig() {
  const clock = new FakeClock(T0);
  const writes: { at: number; data: string }[] = [];
  let n = 0;
  const w = new StatusWriter({
    file: "/x/status",
    clock,
    snapshot: () => ({ ...doc(), updatedAt: `#${++n}` }),
    write: async (_f, data) => void writes.push({ at: clock.now(), data }),
  });
  return { clock, writes, w };
}

test("status writer: a state change writes at once", async () => {
  const { writes, w } = writerRig();
  w.notify(true);
  await w.flush();
  assert.equal(writes.length, 2);
  assert.equal(writes[0]!.at, T0);
});

test("status writer: counters are throttled to once a second and written with the latest document", async () => {
  const { clock, writes, w } = writerRig();
  w.notify(false); // first one: nothing written yet → at once
  for (let i = 0; i < 50; i++) {
    w.notify(false);
    await clock.tick(10);
  }
  assert.equal(writes.length, 1);
  await clock.tick(500);
  assert.equal(writes.length, 2);
  assert.equal(writes[1]!.at, T0 + 1000);
  assert.match(writes[1]!.data, /"updatedAt": "#2"/, "the snapshot is taken at write time");
});

test("status writer: a state change is not held back by the throttle", async () => {
  const { clock, writes, w } = writerRig();
  w.notify(false);
  await clock.tick(10);
  w.notify(false); // throttled until T0+1000
  w.notify(true);
  await clock.tick(0);
  assert.equal(writes.length, 2);
  await clock.tick(2000);
  assert.equal(writes.length, 2, "the throttled write was folded into the immediate one");
});

test("status writer: a failing write is reported once per streak", async () => {
  const clock = new FakeClock(T0);
  const errors: string[] = [];
  const w = new StatusWriter({ file: "/nope/status", clock, snapshot: () => doc(), onError: (m) => errors.push(m), write: async () => { throw new Error("ENOSPC"); } });
  await w.flush();
  await w.flush();
  assert.deepEqual(errors, ["cannot write status file /nope/status: ENOSPC"]);
});

test("writeFileAtomic replaces the file and leaves no temp file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tsync-status-"));
  try {
    const f = join(dir, "status.json");
    await writeFile(f, "old");
    await writeFileAtomic(f, "new");
    assert.equal(await readFile(f, "utf8"), "new");
    assert.deepEqual(await readdir(dir), ["status.json"]);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("readStatus: missing, invalid, stale, stopped and live files", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tsync-status-"));
  try {
    const f = join(dir, "s.json");
    assert.deepEqual(await readStatus(f), { ok: false, error: `no status at ${f}: is \`tsync watch\` running?` });
    await writeFile(f, "{not json");
    assert.deepEqual(await readStatus(f), { ok: false, error: `${f}: not a tsync status file (invalid JSON)` });
    await writeFile(f, JSON.stringify({ formatVersion: 99, syncs: [] }));
    assert.equal((await readStatus(f)).ok, false);
    await writeFile(f, JSON.stringify(doc()));
    const live = await readStatus(f, () => true);
    assert.ok(live.ok && live.stale === undefined && live.doc.syncs[0]!.name === "site");
    const dead = await readStatus(f, () => false);
    assert.ok(dead.ok);
    assert.match(dead.stale!, new RegExp(`pid ${process.pid} is not running: this status is stale`));
    await writeFile(f, JSON.stringify(doc({ state: "stopped" })));
    const stopped = await readStatus(f, () => false);
    assert.ok(stopped.ok && /stopped at/.test(stopped.stale!));
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("allInSync is false while any target is not in sync", () => {
  assert.equal(allInSync(doc()), false);
  const ok = doc();
  const s = ok.syncs[0]!;
  assert.equal(allInSync({ ...ok, syncs: [{ ...s, targets: [s.targets[0]!] }] }), true);
});

test("renderStatus: one block per sync, a line per target, a summary", () => {
  const out = renderStatus(doc(), { color: false, now: T0 + 10_000 });
  assert.equal(
    out,
    [
      `tsync watch (pid ${process.pid}) running, started 10s ago, updated 5s ago; manifest tsync.yaml`,
      "  sync site  (source /var/www/site)",
      "    watcher inotify; 3 pending events, 1 queued job",
      "    last audit quick 10s ago: reported (2 changes)",
      "    www-01:/var/www/site           in-sync     last sync 6s ago",
      "    www-02:/var/www/site           unreachable last sync never",
      "      error: www-02: connect ECONNREFUSED",
      `      retry #3 at ${new Date(T0 + 9000).toISOString()}`,
      "    /srv/copy                      drifted     last sync never, 2 drifted changes (reported), 1 path tsync cannot fix",
      "2 of 3 targets not in sync.",
      "",
    ].join("\n"),
  );
});

test("renderStatus: colors only when asked, stale warning first, polling reason shown", () => {
  const d = doc();
  const s = d.syncs[0]!;
  const polled = { ...d, syncs: [{ ...s, watcher: { mode: "polling" as const, reason: "inotify watches exhausted (ENOSPC)" } }] };
  const plain = renderStatus(polled, { color: false, stale: "pid 1 is not running", now: T0 });
  assert.ok(plain.startsWith("warning: pid 1 is not running\n"));
  assert.match(plain, /watcher polling: inotify watches exhausted \(ENOSPC\)/);
  assert.doesNotMatch(plain, /\x1b\[/);
  assert.match(renderStatus(d, { color: true, now: T0 }), /\x1b\[31munreachable/);
});
