// planSyncTargets with fake transports: source files are hashed once per run for all targets (the
// planner's "cannot tell without hashing" set and the copy proofs ask for the same files per target).
import { test } from "node:test";
import assert from "node:assert/strict";
import pLimit from "p-limit";
import type { Sync } from "../../reconciler/model/manifest.js";
import { relPath, type RelPath } from "../../reconciler/model/paths.js";
import type { Entry, Snapshot } from "../../reconciler/model/snapshot.js";
import type { Fleet } from "../../reconciler/run/fleet.js";
import { planSyncTargets } from "../../reconciler/run/plan-run.js";
import type { Transport } from "../../reconciler/transport/types.js";

const HOSTS = ["www-01", "www-02", "www-03"];
const sync = {
  name: "site",
  source: { path: "/src/site" },
  targets: HOSTS.map((host) => ({ host, path: "/var/www/site" })),
  rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
  delayMs: 1000,
  audit: {},
  onDrift: "heal",
} as unknown as Sync;

const dir: Entry = { kind: "dir", mode: 0o755, mtimeMs: 1000 };
const file = (size: number, mtimeMs: number): Entry => ({ kind: "file", size, mode: 0o644, mtimeMs });
const hashOf = (p: RelPath) => p.padEnd(128, "0").slice(0, 128).replace(/[^0-9a-f]/g, "a");

/** A transport over a fixed snapshot whose hash() records every path it is asked for. */
function fake(host: string, snap: Snapshot, asked: RelPath[]): Transport {
  return {
    host,
    scan: async () => snap,
    probeRoot: async (root: string) => ({ path: root, privileged: false }),
    hash: async (_root: string, paths: readonly RelPath[]) => {
      asked.push(...paths);
      await new Promise((r) => setTimeout(r, 5));
      return new Map(paths.map((p) => [p, hashOf(p)]));
    },
  } as unknown as Transport;
}

test("each source file is hashed at most once per run, whatever the number of targets", async () => {
  // "same.txt": equal size, other mtime on every target (the planner must hash both sides);
  // "new.txt": a create whose only donor "old.txt" matches by size and mtime (a copy to prove).
  const source: Snapshot = new Map([
    [relPath(""), dir],
    [relPath("same.txt"), file(5000, 2000)],
    [relPath("new.txt"), file(9000, 3000)],
  ]);
  const target: Snapshot = new Map([
    [relPath(""), dir],
    [relPath("same.txt"), file(5000, 1000)],
    [relPath("old.txt"), file(9000, 3000)],
  ]);
  const sourceAsked: RelPath[] = [];
  const targetAsked: RelPath[] = [];
  const src = fake("local", source, sourceAsked);
  const dsts = new Map(HOSTS.map((h) => [h, fake(h, target, targetAsked)]));
  const fleet = { limit: pLimit(4), transport: (h: string | undefined) => (h === undefined ? src : dsts.get(h)!), hashCacheDir: undefined } as unknown as Fleet;
  const plans = await planSyncTargets(sync, fleet);
  assert.deepEqual(plans.map((p) => p.state), ["drifted", "drifted", "drifted"]);
  // Per target: same.txt for the planner, new.txt to prove (or here: refute) the guessed copy.
  assert.deepEqual([...sourceAsked].sort(), ["new.txt", "same.txt"]);
  assert.ok(targetAsked.length >= 2 * HOSTS.length, `targets are still each hashed: ${targetAsked.join(",")}`);
});
