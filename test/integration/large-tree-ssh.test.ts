// A large site over SSH (issue 12): 200,000 files, all in one directory (an uploads folder), planned
// through the compact listings and the streamed remote listing. In sync: no changes; four edits: those
// four changes, applied, then in sync again. Under a heap too small for the trees: one clear line with
// the sync and the count, not an out-of-memory abort. (Speed is measured by the bench, not here.)
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, openSync, closeSync, rmSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Fleet } from "../support/sshd.js";
import { sshdSuite } from "../support/suite.js";
import { runTsync } from "../support/cli.js";

const FILES = 200_000;
let fleet: Fleet;
let dir: string;
const { check } = sshdSuite(["127.0.0.2"], "tsync-large-", (f, d) => ((fleet = f), (dir = d)));

interface PlanJson {
  targets: { location: string; state: string; error?: string; changes: { action: string; path: string }[] }[];
}

describe("200,000 files in one directory, one SSH target", () => {
  let src: string;
  let target: string;
  let manifest: string;

  before(() => {
    src = join(dir, "src");
    target = join(dir, "node-1");
    mkdirSync(join(src, "uploads"), { recursive: true });
    mkdirSync(join(src, "wp"));
    // A few bytes each, written with one open/write/close: the fastest a generator gets in Node.
    for (let i = 0; i < FILES; i++) {
      const fd = openSync(join(src, "uploads", `f${i}.jpg`), "w");
      writeSync(fd, String(i));
      closeSync(fd);
    }
    for (const f of ["a.php", "b.php"]) writeFileSync(join(src, "wp", f), "<?php\n");
    utimesSync(join(src, "wp", "a.php"), 1_700_000_000, 1_700_000_000);
    execFileSync("cp", ["-a", src, target]);
    manifest = join(dir, "tsync.yaml");
    writeFileSync(manifest, ["version: 1", fleet.manifestHosts(), "syncs:", "  site:", `    source: ${src}`, `    targets: [node-1:${target}]`, ""].join("\n"));
  });

  // rm -rf before the suite's own cleanup (400,000 unlinks from Node take minutes on a loaded
  // machine), unless a test failed: then the suite keeps the trees for inspection.
  let passed = 0;
  after(() => {
    if (passed === 3) execFileSync("rm", ["-rf", src, target]);
  });

  test("in sync: no changes", () =>
    check(async () => {
      const r = await runTsync(["plan", "--detailed-exitcode", "-f", manifest], { timeoutMs: 300_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /No changes/);
      passed++;
    }));

  test("four edits: exactly those changes (and the parents' times), applied, then in sync", () =>
    check(async () => {
      writeFileSync(join(src, "uploads", "f17.jpg"), "rewritten");
      writeFileSync(join(src, "uploads", "new.jpg"), "new");
      rmSync(join(src, "uploads", "f4242.jpg"));
      chmodSync(join(src, "wp", "a.php"), 0o600);
      const r = await runTsync(["plan", "--json", "-f", manifest], { timeoutMs: 300_000 });
      assert.equal(r.code, 0, r.stderr);
      const [t] = (JSON.parse(r.stdout) as PlanJson).targets;
      const changes = t!.changes.filter((c) => c.action !== "touch").map((c) => `${c.action} ${c.path}`);
      assert.deepEqual(changes.sort(), ["chmod wp/a.php", "create uploads/new.jpg", "delete uploads/f4242.jpg", "update uploads/f17.jpg"]);
      const a = await runTsync(["apply", "--yes", "-f", manifest], { timeoutMs: 300_000 });
      assert.equal(a.code, 0, a.stdout + a.stderr);
      const again = await runTsync(["plan", "--detailed-exitcode", "-f", manifest], { timeoutMs: 300_000 });
      assert.equal(again.code, 0, again.stdout + again.stderr);
      passed++;
    }));

  test("a heap too small for the trees: the sync and the count in one line, exit 1", () =>
    check(async () => {
      // 64 MB of old space gives a heap limit of ~112 MB: room for ~180,000 entries per tree here.
      const r = await runTsync(["plan", "-f", manifest], { timeoutMs: 300_000, env: { NODE_OPTIONS: "--max-old-space-size=64" } });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      // Whichever tree reaches the limit first names it: the source (found by a local find) or the target.
      assert.match(r.stdout + r.stderr, /site: (node-1:\S+ unreachable|error: source \S+): .*\d+ entries or more, over the \d+ that fit in this process's memory .*--max-old-space-size/);
      passed++;
    }));
});
