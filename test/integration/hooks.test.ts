// onChange hooks against real sshd targets (127.0.0.61–62) and a local target: once per target per
// batch, cwd = the target root, the environment and the NUL-separated paths on stdin; a failing, a
// hanging (killed with its process group, on the target) and a very chatty hook; sudo: true; and a
// live batch of `tsync watch`.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runTsync } from "../support/cli.js";
import { startSshdFleet, type Fleet } from "../support/sshd.js";
import { assertTreesEqual } from "../support/trees.js";
import { startWatch, waitFor, watchManifest } from "../support/watch.js";

const ADDRS = ["127.0.0.61", "127.0.0.62"];
// A non-root login for sudo: true (sshd reads authorized_keys as the user: a readable copy).
const USER = "tsync-hooks";
const SUDOERS = "/etc/sudoers.d/tsync-test-hooks";
let fleet: Fleet;
let dir: string;
let keysDir: string;
let failed = false;
const check = <T>(fn: () => Promise<T>) => fn().catch((e: unknown) => ((failed = true), Promise.reject(e)));

before(async () => {
  try {
    execFileSync("id", ["-u", USER], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["-M", "-d", "/nonexistent", "-s", "/bin/sh", USER]);
  }
  execFileSync("usermod", ["-p", "*", USER]); // not locked: sshd without PAM refuses locked accounts
  writeFileSync(`${SUDOERS}.new`, `${USER} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
  execFileSync("visudo", ["-c", "-q", "-f", `${SUDOERS}.new`]);
  execFileSync("mv", ["-f", `${SUDOERS}.new`, SUDOERS]);
  keysDir = mkdtempSync(join(tmpdir(), "tsync-hooks-keys-"));
  chmodSync(keysDir, 0o755);
  fleet = await startSshdFleet({ addresses: ADDRS, extraConfig: () => [`Match User ${USER}`, `  AuthorizedKeysFile ${keysDir}/authorized_keys`] });
  copyFileSync(join(fleet.dir, "authorized_keys"), join(keysDir, "authorized_keys"));
  chmodSync(join(keysDir, "authorized_keys"), 0o644);
  dir = mkdtempSync(join(tmpdir(), "tsync-hooks-"));
  chmodSync(dir, 0o755);
});
after(async () => {
  if (existsSync(SUDOERS)) rmSync(SUDOERS, { force: true });
  rmSync(keysDir, { recursive: true, force: true });
  await fleet?.close({ keep: failed });
  if (dir && !failed) rmSync(dir, { recursive: true, force: true });
  else if (dir) console.error(`# test files kept for inspection: ${dir}`);
});

interface Rig {
  src: string;
  file: string;
  /** node-1, node-2 (SSH), then the local target. */
  targets: string[];
  logs: string;
  statusFile: string;
  logFile: string;
}

/** A source and a manifest: node-1 and node-2 over SSH plus a local target, with `hooks` as onChange. */
function rig(name: string, hooks: string[], extra: string[] = []): Rig {
  const base = join(dir, name);
  const src = join(base, "src");
  mkdirSync(join(src, "wp-content/plugins/hello"), { recursive: true });
  writeFileSync(join(src, "index.php"), "<?php\n");
  writeFileSync(join(src, "wp-content/plugins/hello/hello.php"), "<?php // hello\n");
  const logs = join(base, "logs");
  mkdirSync(logs, { recursive: true });
  const targets = [join(base, "node-1"), join(base, "node-2"), join(base, "local-copy")];
  const file = join(base, "tsync.yaml");
  const statusFile = join(base, "status.json");
  const logFile = join(base, "tsync.log");
  const sync = ['audit: { quick: "off" }', "delay: 200ms", "onChange:", ...hooks.map((h) => `  - ${h}`), ...extra];
  const mapped = [`node-1:${targets[0]}`, `node-2:${targets[1]}`, targets[2]!];
  writeFileSync(file, watchManifest({ hosts: fleet.manifestHosts(), statusFile, logFile, source: src, targets: mapped, sync }));
  return { src, file, targets, logs, statusFile, logFile };
}

/**
 * Appends one line per run and the paths it got, named after the target root's directory. The last
 * field is the malloc setting the `tsync` file starts node with (cli/main.ts): a hook must not inherit it.
 */
const RECORD = (logs: string) =>
  `run: 'n=$(basename "$PWD"); printf "%s|%s|%s|%s|%s\\n" "$TSYNC_SYNC" "$TSYNC_TARGET" "$TSYNC_CHANGES" "$PWD" "\${MALLOC_MMAP_THRESHOLD_-unset}" >> ${logs}/$n.runs; tr "\\0" "\\n" >> ${logs}/$n.paths; printf "\\n" >> ${logs}/$n.paths'`;
const lines = (f: string) => (existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : []);

test("apply runs each hook once per target that changed, cwd = root, env and stdin as specified; plan lists them", () =>
  check(async () => {
    const r = rig("once", [RECORD(join(dir, "once", "logs")), `{ run: 'echo plugins >> ${join(dir, "once", "logs")}/$(basename "$PWD").plugins', paths: ["wp-content/plugins/"] }`]);
    const plan = await runTsync(["plan", "-f", r.file]);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /then run: n=\$\(basename/);
    assert.match(plan.stdout, /then run: echo plugins .* \(3 changed paths\)/);
    const a = await runTsync(["apply", "--yes", "-f", r.file]);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    for (const t of r.targets) await assertTreesEqual(r.src, t);
    const names = ["node-1", "node-2", "local-copy"];
    const who = ["node-1", "node-2", r.targets[2]];
    for (const [i, n] of names.entries()) {
      const runs = lines(join(r.logs, `${n}.runs`));
      assert.equal(runs.length, 1, `${n}: ${runs.join("\n")}`);
      const [sync, target, count, cwd, malloc] = runs[0]!.split("|");
      assert.deepEqual([sync, target, cwd, malloc], ["site", who[i], r.targets[i], "unset"]);
      const paths = lines(join(r.logs, `${n}.paths`));
      assert.equal(Number(count), paths.length);
      for (const p of ["index.php", "wp-content", "wp-content/plugins/hello/hello.php"]) assert.ok(paths.includes(p), `${n}: ${p} in ${paths.join(",")}`);
      assert.equal(lines(join(r.logs, `${n}.plugins`)).length, 1);
    }
    // Nothing changed: nothing runs.
    const again = await runTsync(["apply", "--yes", "-f", r.file]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    for (const n of names) assert.equal(lines(join(r.logs, `${n}.runs`)).length, 1);
    // One file outside the plugins: the first hook runs with it, the plugins hook does not.
    writeFileSync(join(r.src, "index.php"), "<?php // v2\n");
    const third = await runTsync(["apply", "--yes", "-f", r.file, "--json"]);
    assert.equal(third.code, 0, third.stderr);
    const doc = JSON.parse(third.stdout) as { result: { targets: { hooks?: { run: string; ok: boolean; changes: number }[] }[] } };
    assert.deepEqual(doc.result.targets.map((t) => t.hooks?.map((h) => [h.ok, h.changes])), [[[true, 1]], [[true, 1]], [[true, 1]]]);
    for (const n of names) {
      assert.equal(lines(join(r.logs, `${n}.runs`)).length, 2);
      assert.equal(lines(join(r.logs, `${n}.plugins`)).length, 1);
    }
  }));

test("a failing hook: exit code and stderr tail per target, apply exits 1, replication done, never retried; megabytes of stderr keep a bounded tail", () =>
  check(async () => {
    const logs = join(dir, "fail", "logs");
    const r = rig("fail", [
      `run: 'echo ran >> ${logs}/$(basename "$PWD").runs; head -c 3000000 /dev/zero | tr "\\0" x >&2; echo >&2; echo "PHP Fatal error: boom" >&2; exit 3'`,
    ]);
    const a = await runTsync(["apply", "--yes", "-f", r.file, "--json"]);
    assert.equal(a.code, 1, a.stderr);
    for (const t of r.targets) await assertTreesEqual(r.src, t);
    const doc = JSON.parse(a.stdout) as { result: { ok: boolean; targets: { status: string; hooks: { ok: boolean; code: number; stderrTail: string; error: string }[] }[] } };
    assert.equal(doc.result.ok, false);
    for (const [i, t] of doc.result.targets.entries()) {
      assert.equal(t.status, "applied");
      const h = t.hooks[0]!;
      assert.equal(h.code, 3);
      assert.ok(h.stderrTail.length <= 4096 && h.stderrTail.endsWith("PHP Fatal error: boom\n"), `${h.stderrTail.length} bytes`);
      const where = i < 2 ? `node-${i + 1}:${r.targets[i]}` : r.targets[2];
      assert.match(h.error, new RegExp(`^onChange \`.*\` on ${where!.replace(/[./]/g, "\\$&")}: exit status 3: PHP Fatal error: boom$`));
    }
    // The next plan is in sync: a failed hook is not retried, and nothing is left to apply.
    const p = await runTsync(["plan", "--detailed-exitcode", "-f", r.file]);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    for (const n of ["node-1", "node-2", "local-copy"]) assert.equal(lines(join(logs, `${n}.runs`)).length, 1);
  }));

/** Whether a process runs (not a zombie). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

test("a hanging hook is killed at its timeout with its whole process group, on every target", () =>
  check(async () => {
    const logs = join(dir, "hang", "logs");
    // A background child in the hook's group: killing only the shell would leave it running.
    const r = rig("hang", [`{ run: 'sleep 300 & echo $! > ${logs}/$(basename "$PWD").pid; wait', timeout: 1s }`]);
    const a = await runTsync(["apply", "--yes", "-f", r.file, "--json"], { timeoutMs: 60_000 });
    assert.equal(a.code, 1, a.stderr);
    const doc = JSON.parse(a.stdout) as { result: { targets: { hooks: { timedOut?: boolean; error: string }[] }[] } };
    for (const t of doc.result.targets) {
      assert.equal(t.hooks[0]!.timedOut, true);
      assert.match(t.hooks[0]!.error, /killed after its 1s timeout$/);
    }
    for (const n of ["node-1", "node-2", "local-copy"]) {
      const pid = Number(readFileSync(join(logs, `${n}.pid`), "utf8"));
      await waitFor(`${n}: the hook's sleep (pid ${pid}) to be killed`, () => !running(pid), 10_000);
    }
  }));

test("sudo: true runs the hook as root through sudo -n; without it, as the login", () =>
  check(async () => {
    const roots = ["plain", "sudo"].map((n) => join(dir, "sudo", n));
    const src = join(dir, "sudo", "src");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "a.php"), "<?php\n");
    const uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }));
    for (const root of roots) {
      mkdirSync(root, { recursive: true });
      chownSync(root, uid, uid);
    }
    chmodSync(join(dir, "sudo"), 0o755);
    const h = fleet.hosts[0]!;
    const file = join(dir, "sudo", "tsync.yaml");
    writeFileSync(
      file,
      [
        "version: 1",
        `defaults: { user: ${USER}, identityFile: ${fleet.identityFile}, knownHosts: ${fleet.knownHosts}, sshConfig: false }`,
        "hosts:",
        `  plain: { address: ${h.address}, port: ${h.port} }`,
        `  rooted: { address: ${h.address}, port: ${h.port}, sudo: true }`,
        "syncs:",
        `  site: { source: ${src}, targets: [plain:${roots[0]}, rooted:${roots[1]}], onChange: [{ run: 'id -un >&2; exit 7' }] }`,
        "",
      ].join("\n"),
    );
    const a = await runTsync(["apply", "--yes", "-f", file, "--json"]);
    assert.equal(a.code, 1, a.stderr);
    const doc = JSON.parse(a.stdout) as { result: { targets: { status: string; hooks: { error: string }[] }[] } };
    assert.deepEqual(doc.result.targets.map((t) => [t.status, t.hooks[0]!.error.replace(/.*: /, "")]), [
      ["applied", USER],
      ["applied", "root"],
    ]);
  }));

test("watch: a live batch runs the hook once per target after it landed; a failure shows in the status, replication goes on", () =>
  check(async () => {
    const logs = join(dir, "watch", "logs");
    const r = rig("watch", [
      `run: 'echo "$TSYNC_CHANGES" >> ${logs}/$(basename "$PWD").runs; tr "\\0" "\\n" >> ${logs}/$(basename "$PWD").paths'`,
      `{ run: 'echo cache flush failed >&2; exit 2', paths: ["*.css"] }`,
    ]);
    const w = await startWatch(r.file, r);
    try {
      for (const t of r.targets) await assertTreesEqual(r.src, t);
      const initial = lines(join(logs, "node-1.runs")).length;
      assert.equal(initial, 1, "the initial apply ran the hook once");
      writeFileSync(join(r.src, "wp-content/plugins/hello/hello.php"), "<?php // v2\n");
      writeFileSync(join(r.src, "style.css"), "body{}\n");
      await waitFor(
        "the batch's hook on every target",
        () => ["node-1", "node-2", "local-copy"].every((n) => lines(join(logs, `${n}.runs`)).length === 2),
        20_000,
        () => w.log(),
      );
      for (const t of r.targets) await assertTreesEqual(r.src, t);
      for (const n of ["node-1", "node-2", "local-copy"]) {
        const paths = lines(join(logs, `${n}.paths`));
        assert.ok(paths.includes("wp-content/plugins/hello/hello.php") && paths.includes("style.css"), paths.join(","));
      }
      const st = await waitFor("the hook failures in the status", () => {
        const s = w.status();
        return s?.syncs[0]!.targets.every((t) => t.hookFailures === 1) && s;
      }, 10_000, () => JSON.stringify(w.status(), null, 1));
      for (const t of st.syncs[0]!.targets) {
        assert.equal(t.state, "in-sync");
        assert.equal(t.hookRuns, 3);
        assert.match(t.lastHookFailure!.error, /exit status 2: cache flush failed$/);
      }
      const s = await runTsync(["status", "-f", r.file]);
      assert.match(s.stdout, /1 of 3 onChange runs failed/);
      assert.match(s.stdout, /last hook failure .*: onChange `echo cache flush failed >&2; exit 2` on node-1:.*: exit status 2: cache flush failed/);
    } finally {
      await w.stop();
    }
  }));
