// ssh2 is ~45 ms of start-up: a plan and an apply whose targets are all local paths never load it
// (issue 13). Checked in the CommonJS module cache of this test's own process (node --test runs each
// file in its own process, and nothing before the plan here touches SSH).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseManifest } from "../../reconciler/manifest/load.js";
import { Fleet } from "../../reconciler/run/fleet.js";
import { planManifest } from "../../reconciler/run/plan-run.js";
import { applyPlan } from "../../reconciler/run/apply-run.js";
import { ssh2 } from "../../reconciler/transport/ssh/ssh2-lib.js";

const ssh2Loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => /\/node_modules\/(ssh2|node-ssh)\//.test(f));

test("plan and apply to local targets do not load ssh2; the first SSH use does", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tsync-lazy-ssh2-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "src"));
  writeFileSync(join(dir, "src", "a.txt"), "a\n");
  const { manifest, diagnostics } = parseManifest(
    `version: 1\nsettings: { hashCache: false }\nsyncs:\n  site:\n    source: ${join(dir, "src")}\n    targets: ["${join(dir, "dst")}"]\n`,
    "tsync.yaml",
  );
  assert.deepEqual(diagnostics, []);
  const fleet = new Fleet(manifest!);
  try {
    const plan = await planManifest(manifest!, fleet);
    assert.equal(plan.summary.add, 2);
    assert.equal((await applyPlan(manifest!, fleet, plan)).ok, true);
  } finally {
    await fleet.close();
  }
  assert.equal(ssh2Loaded(), false, "ssh2 loaded by a local-only plan and apply");
  assert.equal(typeof ssh2().Client, "function");
  assert.equal(ssh2Loaded(), true, "the check sees ssh2 once it is loaded");
});
