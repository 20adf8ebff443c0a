// `tsync wait`, `pause` and `resume` against a real `tsync watch` and real sshd targets (127.0.0.63–64):
// wait is a barrier (files written just before it are on every target when it returns), a stopped
// target makes it time out naming it, and a pause holds one target back across a daemon restart.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Fleet } from "../support/sshd.js";
import { sshdSuite } from "../support/suite.js";
import { runTsync } from "../support/cli.js";
import { assertTreesEqual, treeDifferences } from "../support/trees.js";
import { startWatch, waitFor, watchManifest, type WatchProcess } from "../support/watch.js";
import { freePort } from "../support/processes.js";
import parsePrometheus from "parse-prometheus-text-format";
import type { StatusDoc } from "../../reconciler/watch/status.js";

const ADDRS = ["127.0.0.63", "127.0.0.64"];
let fleet: Fleet;
let dir: string;
const { check } = sshdSuite(ADDRS, "tsync-watch-control-", (f, d) => ((fleet = f), (dir = d)));

function rig(name: string, settings: string[] = []) {
  const base = join(dir, name);
  const src = join(base, "src");
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "index.php"), "<?php\n");
  const targets = [join(base, "node-1"), join(base, "node-2")];
  const statusFile = join(base, "status.json");
  const logFile = join(base, "tsync.log");
  const file = join(base, "tsync.yaml");
  const sync = ['audit: { quick: "off" }', "delay: 2s"]; // a slow batch: wait must not rely on it
  writeFileSync(file, watchManifest({ hosts: fleet.manifestHosts(), statusFile, logFile, settings, source: src, targets: [`node-1:${targets[0]}`, `node-2:${targets[1]}`], sync }));
  return { src, targets, statusFile, logFile, file };
}

function writeMany(src: string, n: number, tag: string): void {
  mkdirSync(join(src, tag), { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(src, tag, `f-${i}.txt`), `${tag} ${i}\n`);
}

test("without a daemon: wait and pause say so in one line", () =>
  check(async () => {
    const r = rig("none");
    for (const args of [["wait"], ["pause", "node-1"], ["resume"]]) {
      const x = await runTsync([...args, "-f", r.file]);
      assert.equal(x.code, 1);
      assert.equal(x.stderr, `${args[0]}: no running \`tsync watch\` here (no control socket at ${r.statusFile}.sock)\n`);
    }
  }));

test("wait is a barrier: 500 files written just before it are on every target when it returns; a stopped target times it out by name", () =>
  check(async () => {
    const r = rig("barrier");
    const w = await startWatch(r.file, r);
    try {
      assert.equal(statSync(`${r.statusFile}.sock`).mode & 0o777, 0o600);
      writeMany(r.src, 500, "burst");
      const x = await runTsync(["wait", "--timeout", "60s", "-f", r.file]);
      assert.equal(x.code, 0, x.stdout + x.stderr + w.log());
      assert.match(x.stdout, /^2 targets caught up in [0-9.]+ s\.\n$/);
      for (const t of r.targets) await assertTreesEqual(r.src, t); // checked at once, no polling
      await fleet.stop(1);
      writeFileSync(join(r.src, "index.php"), "<?php // v2\n");
      const late = await runTsync(["wait", "--timeout", "3s", "-f", r.file]);
      assert.equal(late.code, 1, late.stdout + late.stderr);
      const lines = late.stderr.trim().split("\n");
      assert.match(lines[0]!, new RegExp(`^wait: node-2:${r.targets[1]!.replace(/[./]/g, "\\$&")} \\(sync site\\) still behind: unreachable: node-2 .*`));
      assert.equal(lines.at(-1), "wait: timed out after 3s: 1 of 2 targets not caught up");
      const one = await runTsync(["wait", "--target", "node-1", "-f", r.file]);
      assert.equal(one.code, 0, one.stderr);
      await fleet.start(1);
      const back = await runTsync(["wait", "--timeout", "60s", "-f", r.file]);
      assert.equal(back.code, 0, back.stderr + w.log());
      for (const t of r.targets) await assertTreesEqual(r.src, t);
    } finally {
      await w.stop();
    }
    assert.equal(existsSync(`${r.statusFile}.sock`), false, "the socket is removed at exit");
  }));

test("wait with a source on an SSH host (no events at all): what was written there is on the target when it returns", () =>
  check(async () => {
    const base = join(dir, "remote");
    const src = join(base, "src");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "index.php"), "<?php\n");
    const target = join(base, "copy");
    const statusFile = join(base, "status.json");
    const logFile = join(base, "tsync.log");
    const file = join(base, "tsync.yaml");
    writeFileSync(
      file,
      ["version: 1", fleet.manifestHosts(), "settings:", `  statusFile: ${statusFile}`, `  logFile: ${logFile}`, "syncs:", "  site:", `    source: node-1:${src}`, `    targets: [node-2:${target}]`, '    audit: { quick: "off" }', ""].join("\n"),
    );
    const w = await startWatch(file, { statusFile, logFile });
    try {
      writeMany(src, 100, "remote");
      const x = await runTsync(["wait", "-f", file]);
      assert.equal(x.code, 0, x.stdout + x.stderr + w.log());
      await assertTreesEqual(src, target);
    } finally {
      await w.stop();
    }
  }));

test("pause holds node-2 back while node-1 proceeds, survives a restart; resume catches it up with one plan", () =>
  check(async () => {
    const r = rig("pause");
    let w: WatchProcess = await startWatch(r.file, r);
    try {
      const p = await runTsync(["pause", "node-2", "-f", r.file]);
      assert.equal(p.code, 0, p.stderr);
      assert.equal(p.stdout, `paused node-2: node-2:${r.targets[1]} (events keep queueing; \`tsync resume node-2\` catches up)\n`);
      writeMany(r.src, 50, "during");
      const x = await runTsync(["wait", "-f", r.file]);
      assert.equal(x.code, 0, x.stderr);
      assert.match(x.stderr, /^wait: node-2:.* \(sync site\) is paused since .*: not waited for\n$/);
      await assertTreesEqual(r.src, r.targets[0]!);
      assert.ok((await treeDifferences(r.src, r.targets[1]!)).length > 0, "node-2 got nothing");
      let st = await runTsync(["status", "-f", r.file]);
      assert.equal(st.code, 0, "paused on purpose: status exits 0");
      assert.match(st.stdout, /node-2:\S+\s+paused\s+last sync .*, paused \d+s ago/);
      assert.match(st.stdout, /1 of 2 targets in sync \(1 paused\)\./);
      await w.stop();
      w = await startWatch(r.file, r);
      const again = await runTsync(["wait", "-f", r.file]);
      assert.equal(again.code, 0, again.stderr);
      assert.ok((await treeDifferences(r.src, r.targets[1]!)).length > 0, "still nothing on node-2 after the restart");
      st = await runTsync(["status", "--json", "-f", r.file]);
      assert.equal((JSON.parse(st.stdout) as { syncs: { targets: { state: string }[] }[] }).syncs[0]!.targets[1]!.state, "paused");
      const res = await runTsync(["resume", "node-2", "-f", r.file]);
      assert.equal(res.code, 0, res.stderr);
      const done = await runTsync(["wait", "-f", r.file]);
      assert.equal(done.code, 0, done.stderr);
      for (const t of r.targets) await assertTreesEqual(r.src, t);
      assert.match(w.log(), /sync site: resume: \d+ changes, \d+ bytes, 1\/1 targets ok/);
      const bad = await runTsync(["pause", "www-99", "-f", r.file]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^pause: no target is on "www-99" in /);
    } finally {
      await w.stop();
    }
  }));

async function get(url: string): Promise<{ status: number; body: string; type: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text(), type: r.headers.get("content-type") ?? "" };
}

test("/metrics parses as Prometheus text and matches the status; /healthz flips to 503 when a target's sshd is stopped; a port in use is a startup error", () =>
  check(async () => {
    const port = await freePort("127.0.0.1");
    const r = rig("metrics", [`metrics: "127.0.0.1:${port}"`]);
    const w = await startWatch(r.file, r);
    try {
      writeMany(r.src, 20, "m");
      assert.equal((await runTsync(["wait", "-f", r.file])).code, 0);
      const h = await get(`http://127.0.0.1:${port}/healthz`);
      assert.equal(h.status, 200, h.body);
      assert.equal((JSON.parse(h.body) as { ok: boolean }).ok, true);
      const m = await get(`http://127.0.0.1:${port}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.type, /^text\/plain; version=0\.0\.4/);
      const families = new Map(parsePrometheus(m.body).map((f) => [f.name, f]));
      const st = JSON.parse((await runTsync(["status", "--json", "-f", r.file])).stdout) as StatusDoc;
      const value = (name: string, target: string) => Number(families.get(name)!.metrics.find((x) => x.labels?.target === target)!.value);
      for (const t of st.syncs[0]!.targets) {
        assert.equal(value("tsync_target_in_sync", t.target), 1);
        assert.equal(value("tsync_target_sent_bytes_total", t.target), t.totals!.bytesSent);
        assert.equal(value("tsync_target_applied_changes_total", t.target), t.totals!.changesApplied);
        assert.equal(value("tsync_target_batches_total", t.target), t.totals!.batches);
        assert.ok(t.totals!.changesApplied >= 21, `${t.target}: ${t.totals!.changesApplied} changes`);
        assert.equal(value("tsync_target_last_sync_timestamp_seconds", t.target), Date.parse(t.lastSyncAt!) / 1000);
      }
      assert.equal(families.get("tsync_target_sent_bytes_total")!.type, "COUNTER");
      assert.equal(families.get("tsync_sync_watcher_mode")!.metrics[0]!.labels!.mode, "inotify");
      assert.ok(families.has("process_resident_memory_bytes"));
      // A second daemon on the same port stops at once, naming it.
      const other = rig("metrics-2", [`metrics: "127.0.0.1:${port}"`]);
      const clash = await runTsync(["watch", "-f", other.file], { timeoutMs: 30_000 });
      assert.equal(clash.code, 1);
      assert.equal(clash.stderr, `tsync watch: metrics: cannot listen on 127.0.0.1:${port}: the port is in use (settings.metrics in ${other.file})\n`);
      await fleet.stop(1);
      writeFileSync(join(r.src, "index.php"), "<?php // v3\n");
      const down = await waitFor("/healthz to say 503", async () => {
        const x = await get(`http://127.0.0.1:${port}/healthz`);
        return x.status === 503 && x;
      }, 30_000, () => w.log());
      const body = JSON.parse(down.body) as { ok: boolean; targets: { target: string; state: string; healthy: boolean }[] };
      assert.equal(body.ok, false);
      assert.equal(body.targets[0]!.healthy, true, "node-1 goes on (in sync, or catching up within the bound)");
      assert.deepEqual([body.targets[1]!.state, body.targets[1]!.healthy], ["unreachable", false]);
      const after = new Map(parsePrometheus((await get(`http://127.0.0.1:${port}/metrics`)).body).map((f) => [f.name, f]));
      assert.equal(Number(after.get("tsync_target_in_sync")!.metrics.find((x) => x.labels?.target?.startsWith("node-2"))!.value), 0);
      assert.ok(Number(after.get("tsync_target_failures_total")!.metrics.find((x) => x.labels?.target?.startsWith("node-2"))!.value) >= 1);
      await fleet.start(1);
    } finally {
      await w.stop();
    }
  }));
