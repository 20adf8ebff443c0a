// onChange hooks: which hooks a batch triggers and with which paths (core/hooks.ts), and how the
// apply of a target runs them (run/hooks.ts through applyPlan, on a fake transport).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change } from "../../reconciler/model/change.js";
import type { ChangeHook, Manifest, Sync } from "../../reconciler/model/manifest.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { DirEntry, FileEntry } from "../../reconciler/model/snapshot.js";
import { hookInput, hooksFor } from "../../reconciler/core/hooks.js";
import { applyPlan } from "../../reconciler/run/apply-run.js";
import type { Fleet } from "../../reconciler/run/fleet.js";
import { summarize, type TargetPlan } from "../../reconciler/model/plan.js";
import { toApplyJson, checkApplyJson } from "../../reconciler/views/apply-json.js";
import { FakeTransport } from "../support/fake-transport.js";

const T = 1_700_000_000_000;
const f: FileEntry = { kind: "file", size: 1, mtimeMs: T, mode: 0o644 };
const d: DirEntry = { kind: "dir", mode: 0o755, mtimeMs: T };
const p = (s: string) => s as RelPath;
const create = (path: string): Change => ({ kind: "create", path: p(path), after: f });
const changes: Change[] = [
  { kind: "mkdir", path: p("wp-content/plugins/new"), after: d },
  create("wp-content/plugins/new/a.php"),
  create("index.php"),
  { kind: "delete", path: p("wp-content/cache/x.html"), before: f },
  { kind: "touch", path: p("wp-content"), before: d, after: d }, // a directory time apply restores: bookkeeping
];
const hook = (run: string, paths?: string[]): ChangeHook => ({ run, timeoutMs: 60_000, ...(paths ? { paths } : {}) });

test("hooksFor: every hook with the changed paths it matches, in manifest order; implied touches are no change", () => {
  const got = hooksFor([hook("all"), hook("plugins", ["wp-content/plugins/"]), hook("css", ["*.css"]), hook("php", ["*.php", "!index.php"])], changes);
  assert.deepEqual(got.map((h) => [h.hook.run, h.paths]), [
    ["all", ["wp-content/plugins/new", "wp-content/plugins/new/a.php", "index.php", "wp-content/cache/x.html"]],
    ["plugins", ["wp-content/plugins/new", "wp-content/plugins/new/a.php"]],
    ["php", ["wp-content/plugins/new/a.php"]],
  ]);
  assert.deepEqual(hooksFor(undefined, changes), []);
  assert.deepEqual(hooksFor([hook("all")], [changes[4]!]), []);
});

test("hookInput: raw bytes, NUL after each, the root as '.'", () => {
  const latin1 = Buffer.from("café", "utf8").toString("latin1") as RelPath;
  assert.deepEqual(hookInput([p("a b"), latin1, p("")]), Buffer.concat([Buffer.from("a b\0"), Buffer.from("café\0", "utf8"), Buffer.from(".\0")]));
});

function setup(onChange: ChangeHook[], exec: FakeTransport["onExec"]) {
  const src = new FakeTransport("local");
  const dst = new FakeTransport("www-01");
  dst.onExec = exec;
  const sync: Sync = {
    name: "site",
    source: { path: "/src" },
    targets: [{ host: "www-01", path: "/var/www" }],
    rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
    delayMs: 1000,
    audit: {},
    onDrift: "heal",
    onChange,
  };
  const manifest = { file: "m.yaml", digest: "ab".repeat(32), settings: { maxProcesses: 2 }, hosts: new Map(), syncs: [sync] } as unknown as Manifest;
  const fleet = { transport: (h?: string) => (h === undefined ? src : dst), limit: <X>(fn: () => Promise<X>) => fn() } as unknown as Fleet;
  const tp: TargetPlan = { sync: "site", target: sync.targets[0]!, state: "drifted", changes, problems: [] };
  const plan = { manifestFile: "m.yaml", manifestDigest: "ab".repeat(32), createdAt: "2026-01-01T00:00:00.000Z", deep: false, targets: [tp], summary: summarize([tp]) };
  return { manifest, fleet, plan, dst };
}

test("apply runs each matching hook once on the target, cwd = root, with env and paths; a failure makes it not ok, the next hook still runs", async () => {
  const { manifest, fleet, plan, dst } = setup([hook("false", ["*.php"]), hook("reload")], (cmd) =>
    cmd === "false" ? { code: 3, timedOut: false, stderrTail: "line 1\nPHP Fatal error: x\n" } : { code: 0, timedOut: false, stderrTail: "" },
  );
  const report = await applyPlan(manifest, fleet, plan);
  assert.deepEqual(dst.execs.map((e) => [e.command, e.opts.cwd, e.opts.env, e.opts.stdin.toString().split("\0").filter(Boolean)]), [
    ["false", "/var/www", { TSYNC_SYNC: "site", TSYNC_TARGET: "www-01", TSYNC_CHANGES: "2" }, ["wp-content/plugins/new/a.php", "index.php"]],
    ["reload", "/var/www", { TSYNC_SYNC: "site", TSYNC_TARGET: "www-01", TSYNC_CHANGES: "4" }, ["wp-content/plugins/new", "wp-content/plugins/new/a.php", "index.php", "wp-content/cache/x.html"]],
  ]);
  assert.equal(report.targets[0]!.status, "applied");
  assert.equal(report.ok, false);
  assert.equal(report.targets[0]!.hooks![0]!.error, "onChange `false` on www-01:/var/www: exit status 3: PHP Fatal error: x");
  assert.equal(report.targets[0]!.hooks![1]!.ok, true);
  assert.equal(checkApplyJson(toApplyJson(plan, report)), undefined);
});

test("a hook killed at its timeout fails with that reason; a hook that cannot start fails without a throw", async () => {
  const { manifest, fleet, plan } = setup([hook("sleep 99"), hook("gone")], (cmd) => {
    if (cmd === "gone") throw new Error("connection lost");
    return { code: 124, timedOut: true, stderrTail: "" };
  });
  const report = await applyPlan(manifest, fleet, plan);
  assert.deepEqual(report.targets[0]!.hooks!.map((h) => h.error), [
    "onChange `sleep 99` on www-01:/var/www: killed after its 60s timeout",
    "onChange `gone` on www-01:/var/www: connection lost",
  ]);
  assert.equal(report.ok, false);
});
