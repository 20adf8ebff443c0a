// The seed scenario end to end through the CLI: a WordPress tree replicated to 4 real sshd targets on
// 127.0.0.2–5, verified with independent tools (find + sha256sum, rsync -c), plus the failure modes a
// demanding operator meets: hostile names, planted symlinks, mass deletes, a dead and a frozen host.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import type { Fleet } from "../support/sshd.js";
import { sshdSuite } from "../support/suite.js";
import { CLI, runTsync } from "../support/cli.js";
import { assertTreesEqual, listTree, makeHostileTree, rsyncItemize, wordpressTree, PWNED_MARKERS } from "../support/trees.js";

const ADDRS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
let fleet: Fleet;
let dir: string;
const { check } = sshdSuite(ADDRS, "tsync-cli-ssh-", (f, d) => ((fleet = f), (dir = d)));

/** A manifest with one sync from a local source to node-1..4, each at its own path (one machine here). */
function manifest(name: string, src: string, extra = "", hostKeyChecking: "strict" | "accept-new" = "strict"): { file: string; targets: string[] } {
  const targets = ADDRS.map((_, i) => join(dir, name, `node-${i + 1}`));
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      "version: 1",
      fleet.manifestHosts({ hostKeyChecking }),
      "syncs:",
      "  site:",
      `    source: ${src}`,
      "    targets:",
      ...targets.map((t, i) => `      - node-${i + 1}:${t}`),
      ...(extra ? extra.split("\n").map((l) => "    " + l) : []),
      "",
    ].join("\n"),
  );
  return { file, targets };
}

async function tsync(args: string[], timeoutMs?: number) {
  const r = await runTsync(args, timeoutMs ? { timeoutMs } : {});
  return r;
}

describe("seed scenario: WordPress to 4 SSH targets", () => {
  let src: string;
  let m: { file: string; targets: string[] };

  before(async () => {
    src = join(dir, "wp-src");
    await wordpressTree(src);
    m = manifest("wp", src, 'exclude: ["wp-content/cache/"]');
  });

  test("apply converges every target byte-for-byte and metadata-for-metadata", (t) =>
    check(async () => {
      const t0 = Date.now();
      const r = await tsync(["apply", "--yes", "-f", m.file]);
      const ms = Date.now() - t0;
      assert.equal(r.code, 0, r.stdout + r.stderr);
      t.diagnostic(`initial apply of the WordPress tree to 4 SSH targets: ${ms} ms`);
      for (const target of m.targets) {
        await assertTreesEqual(src, target, { times: true, timePrecision: "s" });
        assert.deepEqual(await rsyncItemize(src, target, ["--omit-link-times"]), [], `rsync -c sees differences in ${target}`);
      }
    }));

  test("a second plan finds nothing, and plan changes nothing", (t) =>
    check(async () => {
      const before = await Promise.all(m.targets.map((x) => listTree(x, { times: true, dirTimes: true, timePrecision: "ns" })));
      const t0 = Date.now();
      const r = await tsync(["plan", "--detailed-exitcode", "-f", m.file]);
      t.diagnostic(`no-change plan of the WordPress tree on 4 SSH targets: ${Date.now() - t0} ms`);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /No changes\. 4 targets in sync\./);
      const after = await Promise.all(m.targets.map((x) => listTree(x, { times: true, dirTimes: true, timePrecision: "ns" })));
      assert.deepEqual(after, before);
    }));

  test("drift made on one target is found (exit 2) and healed", () =>
    check(async () => {
      appendFileSync(join(m.targets[1]!, "index.php"), "// hot fix on the node\n");
      const plan = await tsync(["plan", "--detailed-exitcode", "--json", "-f", m.file]);
      assert.equal(plan.code, 2, plan.stderr);
      const doc = JSON.parse(plan.stdout) as { targets: { location: string; state: string; changes: { action: string; path: string }[] }[] };
      const drifted = doc.targets.filter((x) => x.state === "drifted");
      assert.equal(drifted.length, 1);
      assert.equal(drifted[0]!.location, `node-2:${m.targets[1]}`);
      assert.deepEqual(drifted[0]!.changes.filter((c) => c.action !== "touch").map((c) => [c.action, c.path]), [["update", "index.php"]]);
      const r = await tsync(["apply", "--yes", "-f", m.file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      await assertTreesEqual(src, m.targets[1]!, { times: true, timePrecision: "s" });
    }));

  test("a planted symlink on a target is replaced, never written through", () =>
    check(async () => {
      const outside = join(dir, "outside-etc");
      mkdirSync(outside, { recursive: true });
      writeFileSync(join(outside, "passwd"), "root:x:0:0\n");
      const before = await listTree(outside, { times: true });
      const uploads = join(m.targets[3]!, "wp-content");
      rmSync(uploads, { recursive: true, force: true });
      symlinkSync(outside, uploads);
      const r = await tsync(["apply", "--yes", "-f", m.file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(await listTree(outside, { times: true }), before, "nothing outside the target root may change");
      await assertTreesEqual(src, m.targets[3]!);
    }));
});

describe("hostile names", () => {
  test("replicate byte-exact to 4 SSH targets; nothing is executed", () =>
    check(async () => {
      for (const p of PWNED_MARKERS) rmSync(p, { force: true });
      const src = join(dir, "hostile-src");
      makeHostileTree(src);
      const m = manifest("hostile", src);
      const r = await tsync(["apply", "--yes", "-f", m.file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      for (const target of m.targets) await assertTreesEqual(src, target, { times: true, timePrecision: "s" });
      const again = await tsync(["plan", "--detailed-exitcode", "-f", m.file]);
      assert.equal(again.code, 0, again.stdout);
      for (const p of PWNED_MARKERS) assert.equal(existsSync(p), false, `${p} exists: a name was executed`);
    }));
});

describe("protect (issue 19): node-only files under a protected path survive apply", () => {
  test("extras under wp-content/uploads/ stay on every target, other extras are deleted, protected files the source has are updated", () =>
    check(async () => {
      const src = join(dir, "protect-src");
      for (const d of ["wp-content/uploads", "wp-content/themes"]) mkdirSync(join(src, d), { recursive: true });
      writeFileSync(join(src, "index.php"), "<?php // index\n");
      writeFileSync(join(src, "old.php"), "<?php // removed from the source below\n");
      writeFileSync(join(src, "wp-content/uploads/logo.png"), "logo from the master\n");
      const m = manifest("protect", src, 'protect: ["wp-content/uploads/"]');
      let r = await tsync(["apply", "--yes", "-f", m.file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      rmSync(join(src, "old.php"));
      for (const t of m.targets) {
        mkdirSync(join(t, "wp-content/uploads/2026/12"), { recursive: true });
        writeFileSync(join(t, "wp-content/uploads/2026/12/visitor.jpg"), "uploaded on this node\n");
        writeFileSync(join(t, "wp-content/uploads/node-only.txt"), "also this node's\n");
        writeFileSync(join(t, "wp-content/uploads/logo.png"), "edited on the node\n");
        writeFileSync(join(t, "stray.php"), "not protected\n");
        mkdirSync(join(t, "wp-content/themes/stale"));
      }
      r = await tsync(["plan", "-f", m.file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /visitor\.jpg|node-only\.txt|uploads\/2026/);
      assert.match(r.stdout, /stray\.php/);
      r = await tsync(["apply", "--yes", "-f", m.file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      for (const t of m.targets) {
        assert.equal(readFileSync(join(t, "wp-content/uploads/2026/12/visitor.jpg"), "utf8"), "uploaded on this node\n");
        assert.equal(readFileSync(join(t, "wp-content/uploads/node-only.txt"), "utf8"), "also this node's\n");
        assert.equal(readFileSync(join(t, "wp-content/uploads/logo.png"), "utf8"), "logo from the master\n");
        for (const gone of ["stray.php", "old.php", "wp-content/themes/stale"]) assert.equal(existsSync(join(t, gone)), false, `${t}/${gone}`);
      }
      // Protected extras are not drift: the next plan is in sync.
      r = await tsync(["plan", "--detailed-exitcode", "-f", m.file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /No changes\. 4 targets in sync\./);
    }));
});

describe("exclude: excluded target files are neither copied nor deleted, with the scans' filtering trusted (Listing.excludedBy)", () => {
  // With a negation nothing is pruned from find's walk; without one, the literal directories are
  // (core/ignore.ts prunable): the same outcome either way.
  for (const [name, patterns, swapKept] of [
    ["negation, no pruning", '["wp-content/cache/", "*.swp", "!keep.swp"]', true],
    ["literal directories pruned in find", '["wp-content/cache/", ".git/"]', false],
  ] as const) {
    test(`${name}: an SSH and a local target keep their excluded files through apply with delete; other extras go`, () =>
      check(async () => {
        const base = join(dir, `exclude-${swapKept ? "neg" : "prune"}`);
        const src = join(base, "src");
        mkdirSync(join(src, "wp-content/cache"), { recursive: true });
        mkdirSync(join(src, "theme/.git"), { recursive: true });
        writeFileSync(join(src, "index.php"), "<?php // index\n");
        writeFileSync(join(src, "wp-content/cache/master.html"), "the master's cache\n");
        writeFileSync(join(src, "theme/.git/HEAD"), "ref: refs/heads/main\n");
        writeFileSync(join(src, "theme/style.css"), "body {}\n");
        const targets = [join(base, "node-1"), join(base, "local")];
        const file = join(base, "tsync.yaml");
        writeFileSync(file, ["version: 1", fleet.manifestHosts(), "syncs:", "  site:", `    source: ${src}`, "    targets:", `      - node-1:${targets[0]}`, `      - ${targets[1]}`,
          `    exclude: ${patterns}`, ""].join("\n"));
        for (const t of targets) {
          mkdirSync(join(t, "wp-content/cache/page"), { recursive: true });
          writeFileSync(join(t, "wp-content/cache/page/index.html"), "this node's cache\n");
          writeFileSync(join(t, ".index.php.swp"), "an editor's swap file\n");
          writeFileSync(join(t, "keep.swp"), "re-included or never excluded: an extra like any other\n");
          writeFileSync(join(t, "stray.php"), "not excluded\n");
        }
        const r = await tsync(["apply", "--yes", "-f", file]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        for (const t of targets) {
          assert.equal(readFileSync(join(t, "wp-content/cache/page/index.html"), "utf8"), "this node's cache\n", t);
          assert.equal(existsSync(join(t, ".index.php.swp")), swapKept, `${t}/.index.php.swp`);
          assert.equal(existsSync(join(t, "wp-content/cache/master.html")), false, `${t}: an excluded source file was copied`);
          // .git/ is excluded only in the second list, *.swp only in the first.
          assert.equal(existsSync(join(t, "theme/.git")), swapKept, `${t}/theme/.git`);
          for (const gone of ["stray.php", "keep.swp"]) assert.equal(existsSync(join(t, gone)), false, `${t}/${gone}`);
          for (const f of ["index.php", "theme/style.css"]) assert.equal(readFileSync(join(t, f), "utf8"), readFileSync(join(src, f), "utf8"), `${t}/${f}`);
        }
        const again = await tsync(["plan", "--detailed-exitcode", "-f", file]);
        assert.equal(again.code, 0, again.stdout + again.stderr);
      }));
  }
});

describe("safety and failures", () => {
  let src: string;
  let m: { file: string; targets: string[] };

  before(async () => {
    src = join(dir, "small-src");
    mkdirSync(join(src, "a"), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(src, "a", `f${i}.txt`), `file ${i}\n`);
    m = manifest("small", src, "maxDelete: 25%");
    const r = await tsync(["apply", "--yes", "-f", m.file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test("maxDelete refuses an emptied source before touching anything", () =>
    check(async () => {
      const before = await Promise.all(m.targets.map((x) => listTree(x)));
      for (const f of readdirSync(join(src, "a"))) rmSync(join(src, "a", f));
      const r = await tsync(["apply", "--yes", "-f", m.file]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /refused.*maxDelete 25%/);
      assert.deepEqual(await Promise.all(m.targets.map((x) => listTree(x))), before);
      for (let i = 0; i < 20; i++) writeFileSync(join(src, "a", `f${i}.txt`), `file ${i}\n`);
      assert.equal((await tsync(["apply", "--yes", "-f", m.file])).code, 0);
    }));

  test("one of four sshd stopped: three converge, exit 1 naming the host", () =>
    check(async () => {
      writeFileSync(join(src, "new.txt"), "while node-3 is down\n");
      await fleet.stop(2);
      try {
        const r = await tsync(["apply", "--yes", "-f", m.file]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /node-3 \(127\.0\.0\.4:\d+\).*(refused|closed|connect)/i);
        for (const i of [0, 1, 3]) await assertTreesEqual(src, m.targets[i]!);
        assert.equal(existsSync(join(m.targets[2]!, "new.txt")), false);
      } finally {
        await fleet.start(2);
      }
      const healed = await tsync(["apply", "--yes", "-f", m.file]);
      assert.equal(healed.code, 0, healed.stdout + healed.stderr);
      await assertTreesEqual(src, m.targets[2]!);
    }));

  test("a frozen sshd (SIGSTOP) fails within the keepalive bound instead of hanging", (t) =>
    check(async () => {
      writeFileSync(join(src, "frozen.txt"), "while node-2 is frozen\n");
      fleet.pause(1);
      const t0 = Date.now();
      try {
        const r = await tsync(["apply", "--yes", "-f", m.file], 60_000);
        const ms = Date.now() - t0;
        t.diagnostic(`apply with a frozen target returned after ${ms} ms`);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /node-2/);
        assert.ok(ms < 30_000, `took ${ms} ms`);
        for (const i of [0, 2, 3]) await assertTreesEqual(src, m.targets[i]!);
      } finally {
        fleet.resume(1);
      }
    }));

  test("a changed host key is refused with both fingerprints; nothing is written there", () =>
    check(async () => {
      const kh = readFileSync(fleet.knownHosts, "utf8");
      const lines = kh.trim().split("\n");
      const other = lines[1]!.split(" ").slice(1).join(" ");
      const forged = [lines[0]!.split(" ")[0] + " " + other, ...lines.slice(1)].join("\n") + "\n";
      const forgedFile = join(dir, "forged_known_hosts");
      writeFileSync(forgedFile, forged);
      const text = readFileSync(m.file, "utf8").replace(fleet.knownHosts, forgedFile);
      const mf = join(dir, "forged.yaml");
      writeFileSync(mf, text);
      writeFileSync(join(src, "after-forgery.txt"), "must not reach node-1\n");
      const r = await tsync(["apply", "--yes", "-f", mf]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /node-1.*host key.*SHA256:.*SHA256:/i);
      assert.equal(existsSync(join(m.targets[0]!, "after-forgery.txt")), false);
      assert.equal(existsSync(join(m.targets[1]!, "after-forgery.txt")), true);
    }));
});

describe("kill -9 mid-transfer", () => {
  test("a reader on the target sees the old file or the new one, never a partial one; a re-run converges", (t) =>
    check(async () => {
      const src = join(dir, "big-src");
      const target = join(dir, "big", "node-1");
      mkdirSync(src, { recursive: true });
      const OLD = 32 << 20;
      const NEW = 96 << 20;
      writeFileSync(join(src, "big.bin"), Buffer.alloc(OLD, "A"));
      const file = join(dir, "big.yaml");
      writeFileSync(file, ["version: 1", fleet.manifestHosts(), "syncs:", "  big:", `    source: ${src}`, `    targets: [node-1:${target}]`, ""].join("\n"));
      assert.equal((await tsync(["apply", "--yes", "-f", file])).code, 0);
      writeFileSync(join(src, "big.bin"), Buffer.alloc(NEW, "B"));

      let reads = 0;
      let stop = false;
      const seen = new Set<string>();
      const reader = (async () => {
        const fd = (p: string) => openSync(p, "r");
        while (!stop) {
          let h: number | undefined;
          try {
            h = fd(join(target, "big.bin"));
            const size = fstatSync(h).size;
            const b = Buffer.alloc(1);
            const probe = (at: number) => (readSync(h!, b, 0, 1, at), b.toString("latin1"));
            const first = probe(0), mid = probe(Math.floor(size / 2)), last = probe(size - 1);
            const state = `${size}:${first}${mid}${last}`;
            seen.add(state);
            assert.ok(state === `${OLD}:AAA` || state === `${NEW}:BBB`, `a reader saw a partial file: ${state}`);
            reads++;
          } finally {
            if (h !== undefined) closeSync(h);
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      try {
        for (const afterMs of [150, 400, 900]) {
          const child = spawn(process.execPath, [CLI, "apply", "--yes", "-f", file], { stdio: "ignore" });
          const closed = new Promise((r) => child.on("close", r)); // before the kill: it may finish first
          await new Promise((r) => setTimeout(r, afterMs));
          child.kill("SIGKILL");
          await closed;
        }
        // The reader keeps polling through the run that converges, so it sees the switch too.
        const r = await tsync(["apply", "--yes", "-f", file]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        stop = true;
        await reader;
      }
      t.diagnostic(`reader: ${reads} reads, states seen: ${[...seen].join(", ")}`);
      assert.ok(reads > 20, `the reader polled (${reads} reads)`);
      assert.deepEqual([...seen].sort(), [`${NEW}:BBB`, `${OLD}:AAA`].sort(), "the reader saw the old file, then the new one");
      await assertTreesEqual(src, target, { times: true, timePrecision: "s" });
      assert.equal(existsSync(join(target, ".tsync-tmp")), false, "no staging left after a converging run");
    }));
});
