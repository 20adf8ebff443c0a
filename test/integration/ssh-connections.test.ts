// Many targets on few hosts (issue 13): 8 targets on 2 sshd with maxProcesses 5 must use one SSH
// connection per host for a whole apply and a whole plan (the pool shares it; targets that share a host
// queue on its channels, not on new handshakes). Counted from sshd's own log, not from tsync's word.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Fleet } from "../support/sshd.js";
import { sshdSuite } from "../support/suite.js";
import { runTsync } from "../support/cli.js";
import { startWatch, watchManifest } from "../support/watch.js";
import { assertTreesEqual, genTree } from "../support/trees.js";

const ADDRS = ["127.0.0.2", "127.0.0.3"];
const PER_HOST = 4;
let fleet: Fleet;
let dir: string;
const { check } = sshdSuite(ADDRS, "tsync-ssh-connections-", (f, d) => ((fleet = f), (dir = d)));

/** "Accepted publickey" lines in each sshd's log so far: one per SSH connection that logged in. */
const logins = () => ADDRS.map((_, i) => (fleet.log(i).match(/Accepted publickey/g) ?? []).length);

describe("several targets on one host", () => {
  test("apply and plan to 8 targets on 2 hosts (maxProcesses 5) open one connection per host", () =>
    check(async () => {
      const src = join(dir, "src");
      genTree(src, { files: 300, dirs: 30, size: [1024, 40 * 1024], seed: 13, mtime: 1_700_000_000 });
      const targets = ADDRS.flatMap((_, h) => Array.from({ length: PER_HOST }, (_, k) => ({ host: `node-${h + 1}`, path: join(dir, `t-${h}-${k}`) })));
      const file = join(dir, "tsync.yaml");
      writeFileSync(file, ["version: 1", fleet.manifestHosts(), "settings:", "  maxProcesses: 5", "syncs:", "  site:", `    source: ${src}`, "    targets:", ...targets.map((t) => `      - ${t.host}:${t.path}`), ""].join("\n"));

      const before = logins();
      const r = await runTsync(["apply", "--yes", "-q", "-f", file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      for (const t of targets) await assertTreesEqual(src, t.path);
      assert.deepEqual(logins().map((n, i) => n - before[i]!), [1, 1], "apply: SSH logins per host");

      const mid = logins();
      const p = await runTsync(["plan", "--detailed-exitcode", "-f", file]);
      assert.equal(p.code, 0, p.stdout + p.stderr);
      assert.deepEqual(logins().map((n, i) => n - mid[i]!), [1, 1], "plan: SSH logins per host");
    }));

  test("apply to 12 targets on 2 hosts prints no Node warning (one abort listener per running channel)", () =>
    check(async () => {
      const src = join(dir, "src12");
      genTree(src, { files: 20, dirs: 2, size: 512, seed: 12, mtime: 1_700_000_000 });
      const targets = ADDRS.flatMap((_, h) => Array.from({ length: 6 }, (_, k) => ({ host: `node-${h + 1}`, path: join(dir, `t12-${h}-${k}`) })));
      const file = join(dir, "tsync12.yaml");
      writeFileSync(file, ["version: 1", fleet.manifestHosts(), "settings:", "  maxProcesses: 12", "syncs:", "  site:", `    source: ${src}`, "    targets:", ...targets.map((t) => `      - ${t.host}:${t.path}`), ""].join("\n"));
      const r = await runTsync(["apply", "--yes", "-q", "-f", file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stderr, /\(node:\d+\)|Warning/, "stderr");
      for (const t of targets) await assertTreesEqual(src, t.path);
    }));

  test("watch with 12 targets on 2 hosts prints no Node warning either", () =>
    check(async () => {
      const src = join(dir, "srcw");
      genTree(src, { files: 20, dirs: 2, size: 512, seed: 14, mtime: 1_700_000_000 });
      const targets = ADDRS.flatMap((_, h) => Array.from({ length: 6 }, (_, k) => `node-${h + 1}:${join(dir, `tw-${h}-${k}`)}`));
      const files = { statusFile: join(dir, "w12.status"), logFile: join(dir, "w12.log") };
      const file = join(dir, "w12.yaml");
      writeFileSync(file, watchManifest({ hosts: fleet.manifestHosts(), ...files, settings: ["maxProcesses: 12"], source: src, targets, sync: ["delay: 100ms"] }));
      const w = await startWatch(file, files);
      await w.stop();
      assert.match(w.log(), /12\/12 targets ok/);
      assert.doesNotMatch(w.output(), /\(node:\d+\)|Warning/, "watch's stderr");
    }));
});
