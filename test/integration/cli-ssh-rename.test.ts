// Renames over SSH through the CLI (SPEC §5, issue 5): a renamed 50 MB directory is copied on each
// target instead of being sent again, live and from a saved plan; trees equal the source afterwards.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import type { Fleet } from "../support/sshd.js";
import { sshdSuite } from "../support/suite.js";
import { runTsync } from "../support/cli.js";
import { assertTreesEqual } from "../support/trees.js";

const ADDRS = ["127.0.0.2", "127.0.0.3"];
const MB = 1 << 20;
const SAME = { times: true } as const;
let fleet: Fleet;
let dir: string;
const { check } = sshdSuite(ADDRS, "tsync-cli-rename-", (f, d) => ((fleet = f), (dir = d)));

interface ApplyJson {
  plan: { targets: { location: string; changes: { action: string; path: string; from?: string }[] }[] };
  result: { ok: boolean; targets: { location: string; status: string; bytes: number; problems: { path: string; code: string; message: string }[] }[] };
}

describe("a renamed 50 MB directory over SSH", () => {
  let src: string;
  let file: string;
  let targets: string[];

  before(() => {
    src = join(dir, "src");
    // 10 × 5 MB with distinct sub-second mtimes (as uploads have), and a few small files.
    for (let i = 0; i < 10; i++) {
      const f = join(src, "media", `clip-${i}.bin`);
      mkdirSync(join(src, "media"), { recursive: true });
      writeFileSync(f, randomBytes(5 * MB));
      utimesSync(f, 1_600_000_000.137 + i * 7.3, 1_600_000_000.137 + i * 7.3);
    }
    mkdirSync(join(src, "media", "thumbs"), { recursive: true });
    for (let i = 0; i < 5; i++) writeFileSync(join(src, "media", "thumbs", `t${i}.jpg`), randomBytes(1000 + i));
    writeFileSync(join(src, "index.php"), "<?php\n");
    targets = ADDRS.map((_, i) => join(dir, `node-${i + 1}`));
    file = join(dir, "tsync.yaml");
    writeFileSync(
      file,
      ["version: 1", fleet.manifestHosts(), "syncs:", "  site:", `    source: ${src}`, "    targets:", ...targets.map((t, i) => `      - node-${i + 1}:${t}`), ""].join("\n"),
    );
  });

  test("first apply sends everything", () =>
    check(async () => {
      const r = await runTsync(["apply", "--yes", "--json", "-f", file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const doc = JSON.parse(r.stdout) as ApplyJson;
      for (const t of doc.result.targets) assert.ok(t.bytes >= 50 * MB, `${t.location}: ${t.bytes} bytes`);
      for (const t of targets) await assertTreesEqual(src, t, SAME);
    }));

  test("rename: plan shows the copies, apply sends ~0 bytes, targets equal the source", (t) =>
    check(async () => {
      renameSync(join(src, "media"), join(src, "assets"));
      const plan = await runTsync(["plan", "-f", file]);
      assert.equal(plan.code, 0, plan.stderr);
      assert.match(plan.stdout, /\+ create {2}assets\/clip-3\.bin \(5\.0 MiB, copied from media\/clip-3\.bin on the target\)/);
      const t0 = Date.now();
      const r = await runTsync(["apply", "--yes", "--json", "-f", file]);
      t.diagnostic(`apply of a 50 MB directory rename to ${targets.length} SSH targets: ${Date.now() - t0} ms`);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const doc = JSON.parse(r.stdout) as ApplyJson;
      for (const tp of doc.plan.targets) {
        const copies = tp.changes.filter((c) => c.action === "create" && c.from !== undefined);
        assert.equal(copies.length, 15, `${tp.location}: every renamed file is copied`);
        assert.ok(copies.every((c) => c.from === c.path.replace(/^assets\//, "media/")));
      }
      for (const tr of doc.result.targets) {
        assert.equal(tr.status, "applied");
        assert.equal(tr.bytes, 0, `${tr.location} was sent ${tr.bytes} content bytes`);
      }
      for (const x of targets) await assertTreesEqual(src, x, SAME);
      const again = await runTsync(["plan", "--detailed-exitcode", "-f", file]);
      assert.equal(again.code, 0, again.stdout);
    }));

  test("saved plan: copies apply exactly; a copy source changed on a target refuses that target only", () =>
    check(async () => {
      renameSync(join(src, "assets"), join(src, "media"));
      const saved = join(dir, "plan.json");
      const p = await runTsync(["plan", "--out", saved, "-f", file]);
      assert.equal(p.code, 0, p.stderr);
      appendFileSync(join(targets[1]!, "assets", "clip-0.bin"), "tampered");
      const r = await runTsync(["apply", "--yes", "--json", "-f", file, saved]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const doc = JSON.parse(r.stdout) as ApplyJson;
      const [one, two] = doc.result.targets;
      assert.equal(one!.status, "applied");
      assert.equal(one!.bytes, 0);
      assert.equal(two!.status, "stale");
      await assertTreesEqual(src, targets[0]!, SAME);
      // A fresh plan sends the tampered file's content and copies the rest.
      const heal = await runTsync(["apply", "--yes", "--json", "-f", file]);
      assert.equal(heal.code, 0, heal.stdout + heal.stderr);
      const healed = JSON.parse(heal.stdout) as ApplyJson;
      assert.equal(healed.result.targets.find((x) => x.location.startsWith("node-2"))!.bytes, 5 * MB);
      for (const x of targets) await assertTreesEqual(src, x, SAME);
    }));
});
