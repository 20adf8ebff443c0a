// applyTarget's verdict per target: only a transport failure is "unreachable".
import { test } from "node:test";
import assert from "node:assert/strict";
import pLimit from "p-limit";
import { TransportError } from "../../reconciler/model/errors.js";
import type { Manifest, Sync } from "../../reconciler/model/manifest.js";
import type { TargetPlan } from "../../reconciler/model/plan.js";
import { relPath } from "../../reconciler/model/paths.js";
import type { Fleet } from "../../reconciler/run/fleet.js";
import { applyTarget } from "../../reconciler/run/apply-run.js";
import type { Transport } from "../../reconciler/transport/types.js";

const sync: Sync = {
  name: "site",
  source: { path: "/src/site" },
  targets: [{ host: "www-01", path: "/var/www/site" }],
  rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
  delayMs: 1000,
  audit: {},
  onDrift: "heal",
} as Sync;
const manifest = { file: "tsync.yaml", digest: "d", settings: { maxProcesses: 2 }, hosts: new Map(), syncs: [sync] } as unknown as Manifest;
const tp: TargetPlan = {
  sync: "site",
  target: { host: "www-01", path: "/var/www/site" },
  state: "drifted",
  changes: [{ kind: "create", path: relPath("index.php"), after: { kind: "file", size: 1, mode: 0o644, mtimeMs: 0 } }],
  problems: [],
};

/** A fleet whose every transport's apply throws `err`. */
function fleetThrowing(err: unknown): Fleet {
  const t = { host: "www-01", probeRoot: async (root: string) => ({ path: root, privileged: true }), contentSource: () => ({ open: async () => { throw new Error("unused"); } }), apply: async () => { throw err; } } as unknown as Transport;
  return { limit: pLimit(1), transport: () => t } as unknown as Fleet;
}

test("regression (issue 17 defect 4): a bug while applying a target is an internal error, not 'unreachable'", async () => {
  const o = await applyTarget(manifest, fleetThrowing(new TypeError("Cannot read properties of undefined (reading 'size')")), tp);
  assert.equal(o.status, "failed");
  assert.equal(o.error, "www-01:/var/www/site: internal error (a bug in tsync, please report it): TypeError: Cannot read properties of undefined (reading 'size')");
});

test("a transport failure while applying a target is 'unreachable', named by its host", async () => {
  const o = await applyTarget(manifest, fleetThrowing(new TransportError("www-01", "ssh-closed", "channel closed before the command finished")), tp);
  assert.equal(o.status, "unreachable");
  assert.equal(o.error, "www-01: channel closed before the command finished");
});
