// `tsync watch` end to end: the real CLI as a child process against 4 real sshd targets on
// 127.0.0.2–5, each change verified with independent tools (find + sha256sum, test/support/trees.ts).
// Every wait polls for convergence against a deadline; nothing sleeps a fixed time to "let it settle".
import assert from "node:assert/strict";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { watch as chokidarWatch } from "chokidar";
import type { Fleet as SshdFleet } from "../support/sshd.js";
import { sshdSuite } from "../support/suite.js";
import { runTsync } from "../support/cli.js";
import { treeDifferences, type ListOptions } from "../support/trees.js";
import { loadManifest } from "../../reconciler/manifest/load.js";
import { Fleet } from "../../reconciler/run/fleet.js";
import { createSyncEngine } from "../../reconciler/watch/sync-engine.js";
import { runDaemon, createLineLogger } from "../../reconciler/watch/daemon.js";
import { SourceWatcher } from "../../reconciler/watch/source-watcher.js";
import { SshPool } from "../../reconciler/transport/ssh/connection.js";
import { realClock } from "../../reconciler/watch/clock.js";
import { makeMatcher } from "../../reconciler/core/ignore.js";
import type { StatusDoc } from "../../reconciler/watch/status.js";
import { startWatch as startWatchProcess, waitFor, watchManifest, type WatchProcess } from "../support/watch.js";

const ADDRS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
// Times equal as tsync defines it (within 2 µs), not rounded to ms: rounding flaked on copies 0.1 µs
// either side of a rounding boundary.
const TREE: ListOptions = { times: true, dirTimes: true };
let fleet: SshdFleet;
let dir: string;
const { check } = sshdSuite(ADDRS, "tsync-watch-ssh-", (f, d) => ((fleet = f), (dir = d)));

interface Rig {
  readonly name: string;
  readonly src: string;
  readonly file: string;
  readonly targets: string[];
  readonly statusFile: string;
  readonly logFile: string;
}

/** A source with a small tree, and a manifest syncing it to node-1..4, each at its own path. */
function rig(name: string, syncExtra: string[], topExtra: string[] = []): Rig {
  const src = join(dir, name, "src");
  mkdirSync(join(src, "sub/deep"), { recursive: true });
  writeFileSync(join(src, "index.html"), "<h1>hello</h1>\n");
  writeFileSync(join(src, "sub/a.txt"), "a\n");
  writeFileSync(join(src, "sub/deep/b.txt"), "b\n".repeat(100));
  for (let i = 0; i < 8; i++) writeFileSync(join(src, `page-${i}.html`), `page ${i}\n`);
  const targets = ADDRS.map((_, i) => join(dir, name, `node-${i + 1}`));
  const statusFile = join(dir, name, "status.json");
  const logFile = join(dir, name, "tsync.log");
  const file = join(dir, name, "tsync.yaml");
  const mapped = targets.map((t, i) => `node-${i + 1}:${t}`);
  writeFileSync(file, watchManifest({ hosts: fleet.manifestHosts(), statusFile, logFile, source: src, targets: mapped, sync: syncExtra, top: topExtra }));
  return { name, src, file, targets, statusFile, logFile };
}

function log(r: Rig): string {
  return existsSync(r.logFile) ? readFileSync(r.logFile, "utf8") : "";
}

function readStatusDoc(r: Rig): StatusDoc | undefined {
  try {
    return JSON.parse(readFileSync(r.statusFile, "utf8")) as StatusDoc;
  } catch {
    return undefined;
  }
}

async function differences(r: Rig, targets = r.targets): Promise<string[]> {
  const out: string[] = [];
  for (const t of targets) {
    // A staging file can vanish between find and sha256sum while an apply runs: not converged yet.
    const diff = await treeDifferences(r.src, t, TREE, 12).catch((e: Error) => [`listing failed: ${e.message}`]);
    if (diff.length) out.push(`${t}:\n  ${diff.join("\n  ")}`);
  }
  return out;
}

/** Waits until every one of `targets` equals the source (content, types, links, modes, times incl. dirs). */
async function converged(r: Rig, what: string, timeoutMs = 15_000, targets = r.targets): Promise<void> {
  await waitFor(what, async () => (await differences(r, targets)).length === 0, timeoutMs, async () => {
    const d = await differences(r, targets);
    return `${d.join("\n")}\n--- log tail ---\n${log(r).split("\n").slice(-25).join("\n")}`;
  }, 100);
}

type Daemon = WatchProcess;

const startWatch = (r: Rig, args: string[] = []): Promise<Daemon> => startWatchProcess(r.file, r, args);
const stopWatch = (d: Daemon): Promise<void> => d.stop();

const linesAfter = (text: string, offset: number) => text.slice(offset).split("\n").filter(Boolean);

describe("tsync watch, live sync (no audits) to 4 SSH targets", () => {
  let r: Rig;
  let d: Daemon;
  before(async () => {
    // nginx with drifted: keep: one deploy after the initial apply (and no timer left behind at exit).
    const nginxConf = join(dir, "live", "nginx.conf");
    r = rig("live", ["delay: 1s", "maxDelete: 50%", 'audit: { quick: "off" }'], [
      "nginx:",
      `  path: ${nginxConf}`,
      '  test: "true"',
      '  reload: "true"',
      "  upstreams:",
      "    backend: { roles: [master, replica] }",
      "  servers:",
      "    - names: [site.test]",
      "      listen: 8080",
      "      locations:",
      '        "/": backend',
    ]);
    d = await startWatch(r, ["-v"]);
  });
  after(async () => {
    if (d && d.child.exitCode === null) await stopWatch(d).catch(() => d.child.kill("SIGKILL"));
  });

  test("the initial apply converges every target, and the status says so", () =>
    check(async () => {
      await converged(r, "the initial apply");
      const st = readStatusDoc(r)!;
      assert.equal(st.syncs[0]!.watcher.mode, "inotify");
      assert.deepEqual(st.syncs[0]!.targets.map((t) => t.state), ["in-sync", "in-sync", "in-sync", "in-sync"]);
      const s = await runTsync(["status", "-f", r.file]);
      assert.equal(s.code, 0, s.stdout + s.stderr);
      const conf = await waitFor("the nginx config", () => existsSync(join(dir, "live", "nginx.conf")) && readFileSync(join(dir, "live", "nginx.conf"), "utf8"), 5_000);
      for (const a of ADDRS) assert.match(conf, new RegExp(`server ${a.replace(/\./g, "\\.")}`));
    }));

  test("an edit reaches all 4 targets", () =>
    check(async () => {
      appendFileSync(join(r.src, "sub/a.txt"), "edited\n");
      await converged(r, "an edit");
    }));

  test("a create in a subdirectory reaches all 4 targets (parent times restored)", () =>
    check(async () => {
      writeFileSync(join(r.src, "sub/deep/new.txt"), "new\n");
      await converged(r, "a create");
    }));

  test("a new directory with files reaches all 4 targets", () =>
    check(async () => {
      mkdirSync(join(r.src, "sub/fresh/inner"), { recursive: true });
      writeFileSync(join(r.src, "sub/fresh/inner/x.txt"), "x\n");
      writeFileSync(join(r.src, "sub/fresh/y.txt"), "y\n");
      await converged(r, "a new directory");
    }));

  test("a delete reaches all 4 targets", () =>
    check(async () => {
      unlinkSync(join(r.src, "sub/deep/b.txt"));
      await converged(r, "a delete");
    }));

  test("deleting a whole directory is not refused by maxDelete 50% (judged against the whole target)", () =>
    check(async () => {
      mkdirSync(join(r.src, "sub2/only"), { recursive: true });
      for (const n of ["1", "2", "3"]) writeFileSync(join(r.src, "sub2/only", n), n);
      await converged(r, "sub2/only");
      const mark = log(r).length;
      rmSync(join(r.src, "sub2/only"), { recursive: true });
      await converged(r, "a directory delete");
      assert.doesNotMatch(log(r).slice(mark), /refused/);
    }));

  test("a file rename reaches all 4 targets", () =>
    check(async () => {
      renameSync(join(r.src, "sub/a.txt"), join(r.src, "sub/renamed.txt"));
      await converged(r, "a file rename");
    }));

  test("a directory rename reaches all 4 targets (maxDelete judges the whole target, not the batch)", () =>
    check(async () => {
      renameSync(join(r.src, "sub/fresh"), join(r.src, "sub/moved"));
      await converged(r, "a directory rename");
      assert.doesNotMatch(log(r), /refused/);
    }));

  test("a symlink reaches all 4 targets as a symlink", () =>
    check(async () => {
      symlinkSync("../index.html", join(r.src, "sub/link-to-index"));
      symlinkSync("/etc/passwd", join(r.src, "abs-link"));
      await converged(r, "a symlink");
    }));

  test("a chmod (no size or mtime change) reaches all 4 targets", () =>
    check(async () => {
      chmodSync(join(r.src, "index.html"), 0o600);
      chmodSync(join(r.src, "sub/deep"), 0o700);
      await converged(r, "a chmod");
      for (const t of r.targets) assert.equal(statSync(join(t, "index.html")).mode & 0o777, 0o600);
    }));

  test("latency: one new file to all 4 targets, delay 1s (measured, not asserted)", (t) =>
    check(async () => {
      mkdirSync(join(r.src, "lat"));
      await converged(r, "the latency dir");
      const ms: number[] = [];
      for (let i = 0; i < 20; i++) {
        const name = `lat/f-${i}.txt`;
        const body = `latency probe ${i}\n`;
        const t0 = performance.now();
        writeFileSync(join(r.src, name), body);
        await waitFor(`${name} on all targets`, () => r.targets.every((x) => existsSync(join(x, name))), 10_000, undefined, 2);
        ms.push(performance.now() - t0);
        for (const x of r.targets) assert.equal(readFileSync(join(x, name), "utf8"), body);
        // The next probe starts after the batch's parent-time touch, so it measures one event alone.
        await converged(r, `${name} settled`, 5_000);
      }
      const sorted = [...ms].sort((a, b) => a - b);
      const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
      t.diagnostic(`event → all 4 targets, delay 1s, 20 files: p50 ${pct(50).toFixed(0)} ms, p95 ${pct(95).toFixed(0)} ms, min ${sorted[0]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`);
    }));

  test("a burst of 5,000 creates arrives complete", (t) =>
    check(async () => {
      const t0 = Date.now();
      for (let dn = 0; dn < 50; dn++) {
        const dd = join(r.src, "burst", `d${String(dn).padStart(2, "0")}`);
        mkdirSync(dd, { recursive: true });
        for (let f = 0; f < 100; f++) writeFileSync(join(dd, `f${f}.txt`), `burst ${dn}/${f}\n`);
      }
      const written = Date.now() - t0;
      const mark = log(r).length;
      await converged(r, "5,000 creates", 60_000);
      const summary = () => linesAfter(log(r), mark).filter((l) => / (info|warn|error) /.test(l));
      const batches = await waitFor("the batch summaries in the log", () => summary().length > 0 && summary(), 5_000);
      t.diagnostic(`5,000 creates in 50 dirs: written in ${written} ms, on all 4 targets ${Date.now() - t0} ms after the first; ${batches.length} log lines:`);
      for (const l of batches.slice(0, 12)) t.diagnostic(`  ${l.slice(24)}`);
    }));

  test("one target stopped during live sync catches up when it returns; the others stay current", () =>
    check(async () => {
      await fleet.stop(2);
      try {
        writeFileSync(join(r.src, "while-down.txt"), "node-3 is down\n");
        appendFileSync(join(r.src, "index.html"), "<p>edited while node-3 was down</p>\n");
        rmSync(join(r.src, "burst/d07"), { recursive: true });
        const others = [r.targets[0]!, r.targets[1]!, r.targets[3]!];
        await converged(r, "the 3 live targets", 15_000, others);
        assert.equal(existsSync(join(r.targets[2]!, "while-down.txt")), false);
        const st = await waitFor("node-3 unreachable in the status", () => {
          const s = readStatusDoc(r);
          const n3 = s?.syncs[0]?.targets[2];
          return n3 && (n3.state === "unreachable" || n3.state === "failed") ? s : undefined;
        }, 10_000);
        assert.deepEqual(st.syncs[0]!.targets.map((x) => x.state === "in-sync"), [true, true, false, true]);
        assert.ok(st.syncs[0]!.targets[2]!.lastError, "the reason is recorded");
        const s = await runTsync(["status", "-f", r.file]);
        assert.equal(s.code, 1, s.stdout + s.stderr);
        assert.match(s.stdout, /node-3/);
        const j = await runTsync(["status", "--json", "-f", r.file]);
        assert.equal(j.code, 1);
        const doc = JSON.parse(j.stdout) as StatusDoc;
        assert.ok(["unreachable", "failed"].includes(doc.syncs[0]!.targets[2]!.state));
      } finally {
        await fleet.start(2);
      }
      // Backoff is 1 s, 2 s, 4 s … (jittered): the retry after the restart is a full plan.
      await converged(r, "node-3 catching up", 30_000);
      await waitFor("all in sync in the status", () => readStatusDoc(r)?.syncs[0]?.targets.every((x) => x.state === "in-sync"), 5_000);
      const j = await runTsync(["status", "--json", "-f", r.file]);
      assert.equal(j.code, 0, j.stderr);
      assert.equal((JSON.parse(j.stdout) as StatusDoc).state, "running");
    }));

  test("SIGHUP with an invalid manifest keeps the running one (error logged) and live sync goes on", () =>
    check(async () => {
      const good = readFileSync(r.file, "utf8");
      const mark = log(r).length;
      try {
        writeFileSync(r.file, good.replace("delay: 1s", "delay: soon"));
        d.child.kill("SIGHUP");
        await waitFor("the reload error in the log", () => /keeping the running/.test(log(r).slice(mark)), 10_000, () => log(r).slice(mark));
        assert.match(log(r).slice(mark), /syncs\.site\.delay/);
        assert.equal(d.child.exitCode, null, "still running");
        writeFileSync(join(r.src, "after-hup.txt"), "still syncing\n");
        await converged(r, "a create after a bad SIGHUP");
      } finally {
        writeFileSync(r.file, good);
      }
    }));

  test("SIGHUP with a valid manifest adds a sync: its targets converge, the first sync keeps going", () =>
    check(async () => {
      const good = readFileSync(r.file, "utf8");
      const src2 = join(dir, "live", "src2");
      mkdirSync(join(src2, "a"), { recursive: true });
      writeFileSync(join(src2, "a/one.txt"), "one\n");
      const targets2 = ADDRS.map((_, i) => join(dir, "live", `extra-node-${i + 1}`));
      const extra = ["  extra:", `    source: ${src2}`, "    targets:", ...targets2.map((t, i) => `      - node-${i + 1}:${t}`), '    audit: { quick: "off" }'];
      const at = good.indexOf("nginx:");
      const mark = log(r).length;
      writeFileSync(r.file, good.slice(0, at) + extra.join("\n") + "\n" + good.slice(at));
      d.child.kill("SIGHUP");
      const r2: Rig = { ...r, name: "live/extra", src: src2, targets: targets2 };
      await converged(r2, "the added sync's initial apply");
      writeFileSync(join(src2, "a/two.txt"), "two\n");
      writeFileSync(join(r.src, "after-reload.txt"), "site still live\n");
      await converged(r2, "a live create in the added sync");
      await converged(r, "a live create in the first sync after the reload");
      assert.match(log(r).slice(mark), /reload: applying/);
      const j = await runTsync(["status", "--json", "-f", r.file]);
      assert.deepEqual((JSON.parse(j.stdout) as StatusDoc).syncs.map((x) => x.name), ["site", "extra"]);
      assert.equal(j.code, 0, j.stdout);
    }));

  test("SIGTERM mid-batch: exit 0, no partial file on any target, a final 'stopped' status", () =>
    check(async () => {
      const big = Buffer.alloc(8 << 20, 0x61);
      const names = Array.from({ length: 12 }, (_, i) => `big/f${i}.bin`);
      // Written beside the source and moved in whole: one batch of complete files (a file still being
      // written is another story: the unit test watch-source-changed covers it).
      const staged = join(dir, "live", "big-staged");
      mkdirSync(join(staged, "big"), { recursive: true });
      for (const n of names) writeFileSync(join(staged, n), big);
      renameSync(join(staged, "big"), join(r.src, "big"));
      // As soon as the first big file shows up on a target, the batch is in flight.
      await waitFor("the batch to be in flight", () => r.targets.some((x) => existsSync(join(x, "big"))), 10_000, undefined, 5);
      const t0 = Date.now();
      d.child.kill("SIGTERM");
      const res = await Promise.race([d.exited, sleep(30_000).then(() => undefined)]);
      assert.ok(res, "exited within 30 s of SIGTERM");
      assert.equal(res.code, 0, d.output());
      for (const x of r.targets)
        for (const n of names) {
          const p = join(x, n);
          if (existsSync(p)) assert.equal(statSync(p).size, big.length, `${p} is partial`);
        }
      const st = readStatusDoc(r)!;
      assert.equal(st.state, "stopped");
      const s = await runTsync(["status", "-f", r.file]);
      assert.equal(s.code, 1, "a stopped daemon's status is stale");
      assert.match(s.stdout + s.stderr, /stopped/);
      assert.match(log(r), /stopped/);
      // It really was mid-batch: the daemon said it was stopping before that batch reported.
      const text = log(r);
      const stopping = text.indexOf("stopping: finishing in-flight work");
      assert.ok(stopping >= 0 && text.slice(stopping).includes("batch of"), `SIGTERM after ${Date.now() - t0} ms did not land mid-batch:\n${text.split("\n").slice(-8).join("\n")}`);
      const leftovers = r.targets.flatMap((x) => (existsSync(join(x, ".tsync-tmp")) ? execFileSync("find", [join(x, ".tsync-tmp"), "-type", "f"], { encoding: "utf8" }).split("\n").filter(Boolean) : []));
      assert.deepEqual(leftovers, [], "no staging file is left behind");
    }));
});

describe("tsync watch audits on 4 SSH targets", () => {
  test("onDrift: heal — a change made on a target is found by the quick audit and healed", () =>
    check(async () => {
      const r = rig("heal", ["delay: 1s", 'audit: { quick: "* * * * * *" }', "onDrift: heal"]);
      const d = await startWatch(r);
      try {
        await converged(r, "the initial apply");
        const mark = log(r).length;
        appendFileSync(join(r.targets[1]!, "index.html"), "<!-- hot fix on node-2 -->\n");
        writeFileSync(join(r.targets[3]!, "planted.php"), "<?php evil();\n");
        await converged(r, "the heal", 10_000);
        const lines = linesAfter(log(r), mark);
        assert.ok(lines.some((l) => /audit quick: node-2:\S+ drifted: .*update index\.html/.test(l)), lines.join("\n"));
        assert.ok(lines.some((l) => /audit quick: node-4:\S+ drifted: .*delete planted\.php/.test(l)), lines.join("\n"));
        assert.ok(lines.some((l) => /audit quick: .* healed/.test(l)), lines.join("\n"));
        const st = await waitFor("the heal in the status", () => {
          const s = readStatusDoc(r);
          return s?.syncs[0]?.lastAudit?.result === "in-sync" && s.syncs[0].targets.every((t) => t.state === "in-sync") ? s : undefined;
        }, 5_000);
        assert.equal(st.syncs[0]!.targets[1]!.drift, 0);
      } finally {
        await stopWatch(d);
      }
    }));

  test("onDrift: report — drift is counted in the status, the target is left alone; only a deep audit sees a same-size same-mtime edit", () =>
    check(async () => {
      const r = rig("report", ["delay: 1s", 'audit: { quick: "* * * * * *", deep: "*/3 * * * * *" }', "onDrift: report"]);
      const d = await startWatch(r);
      try {
        await converged(r, "the initial apply");
        const hotfix = join(r.targets[1]!, "index.html");
        appendFileSync(hotfix, "<!-- hot fix on node-2 -->\n");
        const edited = readFileSync(hotfix, "utf8");
        const st = await waitFor("node-2 drifted in the status", () => {
          const s = readStatusDoc(r);
          return s?.syncs[0]?.targets[1]?.state === "drifted" ? s : undefined;
        }, 10_000, () => log(r));
        assert.ok(st.syncs[0]!.targets[1]!.drift >= 1);
        assert.equal(st.syncs[0]!.lastAudit?.result, "reported");
        assert.equal(readFileSync(hotfix, "utf8"), edited, "report mode leaves the target alone");
        const s = await runTsync(["status", "-f", r.file]);
        assert.equal(s.code, 1, s.stdout);
        assert.match(s.stdout, /drift/i);
        const j = await runTsync(["status", "--json", "-f", r.file]);
        assert.equal(j.code, 1);
        const doc = JSON.parse(j.stdout) as StatusDoc;
        assert.equal(doc.syncs[0]!.targets[1]!.state, "drifted");
        assert.equal(doc.syncs[0]!.targets[0]!.state, "in-sync");

        // Same size, same mtime, different bytes: invisible to a metadata listing.
        // Prepared beside the target and renamed over the file, so that no audit can catch it half done.
        const sneaky = join(r.targets[2]!, "page-3.html");
        const swap = join(dir, "report", "page-3.swap");
        writeFileSync(swap, readFileSync(sneaky, "utf8").replace("page 3", "PAGE 3"));
        chmodSync(swap, statSync(sneaky).mode & 0o7777);
        execFileSync("touch", ["-r", sneaky, swap]);
        const mark = log(r).length;
        renameSync(swap, sneaky);
        const quickSummary = (l: string) => /audit quick: \d+ changes? of drift/.test(l);
        // Both audits have run since the edit: the deep one named it, at least two quick ones did not.
        await waitFor(
          "a deep audit naming node-3 and two quick audits",
          () => {
            const ls = linesAfter(log(r), mark);
            return ls.some((l) => /audit deep: node-3:\S+ drifted: .*update page-3\.html/.test(l)) && ls.filter(quickSummary).length >= 2;
          },
          10_000,
          () => log(r).slice(mark),
        );
        const seen = linesAfter(log(r), mark);
        assert.ok(seen.every((l) => !/audit quick: node-3:.*page-3\.html/.test(l)), `a quick audit saw what only hashing can:\n${seen.join("\n")}`);
        assert.equal(readFileSync(sneaky, "utf8").includes("PAGE 3"), true, "report mode leaves the target alone");
      } finally {
        await stopWatch(d);
      }
    }));
});

describe("tsync watch without inotify (ENOSPC): polling fallback", () => {
  test("an injected ENOSPC switches the source to polling, warns with the sysctl, and still converges", () =>
    check(async () => {
      const r = rig("enospc", ["delay: 1s", 'audit: { quick: "off" }']);
      const loaded = loadManifest(r.file);
      assert.ok(loaded.manifest, JSON.stringify(loaded.diagnostics));
      const manifest = loaded.manifest;
      const lines: string[] = [];
      const stop = new AbortController();
      const tfleet = new Fleet(manifest);
      const daemon = runDaemon({
        manifest,
        engine: createSyncEngine(manifest, tfleet),
        signal: stop.signal,
        log: createLineLogger((l) => lines.push(l)),
        matcherFor: (s) => makeMatcher(s.rules.exclude),
        statusFile: r.statusFile,
        rescanIntervalMs: 300,
        watchSource: (sync, exclude, warn) =>
          new SourceWatcher({
            root: sync.source.path,
            exclude,
            clock: realClock,
            rescanIntervalMs: 300,
            warn,
            watchFn: (root, o) => {
              const w = chokidarWatch(root, o);
              // What chokidar does when inotify watches run out: an error event per directory.
              w.once("ready", () => w.emit("error", Object.assign(new Error("ENOSPC: System limit for number of file watchers reached, watch '" + root + "'"), { code: "ENOSPC" })));
              return w;
            },
          }),
      });
      try {
        await daemon.ready;
        await converged(r, "the initial apply");
        const st = await waitFor("polling in the status", () => (readStatusDoc(r)?.syncs[0]?.watcher.mode === "polling" ? readStatusDoc(r) : undefined), 5_000);
        assert.match(st.syncs[0]!.watcher.reason ?? "", /fs\.inotify\.max_user_watches/);
        assert.ok(lines.some((l) => /warn .*switching to polling.*fs\.inotify\.max_user_watches/.test(l)), lines.join("\n"));
        writeFileSync(join(r.src, "polled.txt"), "found by a rescan\n");
        mkdirSync(join(r.src, "sub/polled-dir"));
        writeFileSync(join(r.src, "sub/polled-dir/z.txt"), "z\n");
        unlinkSync(join(r.src, "page-1.html"));
        await converged(r, "convergence by polling", 10_000);
      } finally {
        stop.abort();
        await daemon.done;
        await tfleet.close();
      }
    }));
});

describe("SSH exec under a live batch's load", () => {
  // Regression: a scan limited to 5,000 paths that the target lacks makes find print 5,000 lines on
  // stderr; the channel's 'close' came while some of it was still buffered, and ending the output
  // streams then failed the whole scan with "write after end" (the target was marked unreachable).
  test("every byte of a large stderr arrives, on many channels at once", () =>
    check(async () => {
      const r = rig("exec", []);
      const host = loadManifest(r.file).manifest!.hosts.get("node-1")!;
      const pool = new SshPool();
      try {
        const conn = await pool.get(host);
        const cmd = "seq 1 60000 | sed 's/.*/find: .\\/&: No such file or directory/' >&2; printf done";
        const want = Array.from({ length: 60000 }, (_, i) => `find: ./${i + 1}: No such file or directory\n`).join("");
        const results = await Promise.allSettled(Array.from({ length: 12 }, () => conn.exec(cmd)));
        for (const res of results) {
          assert.equal(res.status, "fulfilled", res.status === "rejected" ? String(res.reason) : "");
          const v = (res as PromiseFulfilledResult<{ code: number; stdout: Buffer; stderr: Buffer }>).value;
          assert.equal(v.stdout.toString(), "done");
          assert.equal(v.stderr.toString(), want);
        }
      } finally {
        await pool.closeAll();
      }
    }));
});
