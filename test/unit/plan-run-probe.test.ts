// planSyncTargets with fake transports: a target's root is listed while its probe runs, and a root
// the probe finds to be a symlink is listed where it leads (the early listing stopped), or, under
// followRoot: false, not at all before the probe.
import { test } from "node:test";
import assert from "node:assert/strict";
import pLimit from "p-limit";
import type { Sync } from "../../reconciler/model/manifest.js";
import { relPath } from "../../reconciler/model/paths.js";
import type { Entry, Snapshot } from "../../reconciler/model/snapshot.js";
import type { Fleet } from "../../reconciler/run/fleet.js";
import { planSyncTargets } from "../../reconciler/run/plan-run.js";
import type { RootProbe, Transport } from "../../reconciler/transport/types.js";
import type { ScanOptions } from "../../reconciler/scan/options.js";

const dir: Entry = { kind: "dir", mode: 0o755, mtimeMs: 1000 };
const file: Entry = { kind: "file", size: 5, mode: 0o644, mtimeMs: 2000 };
const tree = (...files: string[]): Snapshot => new Map<ReturnType<typeof relPath>, Entry>([[relPath(""), dir], ...files.map((f) => [relPath(f), file] as [ReturnType<typeof relPath>, Entry])]);

interface Case {
  readonly name: string;
  readonly followRoot?: false;
  /** What the probe says the written root "/var/www/current" is. */
  readonly probe: Omit<RootProbe, "privileged">;
  /** Scans, in order: the path asked, and whether the scan had been stopped by the time the plan was done. */
  readonly scans: readonly (readonly [string, boolean])[];
  /** Whether the first scan started before the probe answered. */
  readonly early: boolean;
  readonly creates: readonly string[];
}

const cases: readonly Case[] = [
  { name: "a plain root: one listing, started with the probe", probe: { path: "/var/www/current" }, scans: [["/var/www/current", false]], early: true, creates: ["b.txt"] },
  {
    name: "a symlinked root: the early listing is stopped and the link's target is listed",
    probe: { path: "/var/www/releases/2", link: "releases/2" },
    scans: [["/var/www/current", true], ["/var/www/releases/2", false]],
    early: true,
    creates: ["a.txt"],
  },
  { name: "followRoot: false: nothing is listed before the probe", followRoot: false, probe: { path: "/var/www/current" }, scans: [["/var/www/current", false]], early: false, creates: ["b.txt"] },
];

for (const c of cases) {
  test(`target scan and probe: ${c.name}`, async () => {
    const sync = {
      name: "site",
      source: { path: "/src/site" },
      targets: [{ host: "www-01", path: "/var/www/current" }],
      rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
      delayMs: 1000,
      audit: {},
      onDrift: "heal",
      ...(c.followRoot === false ? { followRoot: false } : {}),
    } as unknown as Sync;
    const scans: { path: string; signal: AbortSignal | undefined }[] = [];
    let probed = false;
    let scanBeforeProbe = false;
    // The written root lists a.txt, the release it may lead to b.txt: the plan's creates show which was used.
    const target: Transport = {
      host: "www-01",
      scan: async (path: string, opts: ScanOptions) => {
        scans.push({ path, signal: opts.signal });
        if (!probed) scanBeforeProbe = true;
        return path === "/var/www/current" ? tree("a.txt") : tree("b.txt");
      },
      probeRoot: async () => {
        await new Promise((r) => setTimeout(r, 10));
        probed = true;
        return { ...c.probe, privileged: true };
      },
      hash: async () => new Map(),
    } as unknown as Transport;
    const source: Transport = { host: "local", scan: async () => tree("a.txt", "b.txt"), hash: async () => new Map() } as unknown as Transport;
    const fleet = { limit: pLimit(4), transport: (h: string | undefined) => (h === undefined ? source : target), hashCacheDir: undefined } as unknown as Fleet;
    const [plan] = await planSyncTargets(sync, fleet);
    assert.deepEqual(
      scans.map((s) => [s.path, s.signal?.aborted === true]),
      c.scans.map(([p, stopped]) => [p, stopped]),
    );
    assert.equal(scanBeforeProbe, c.early);
    assert.deepEqual(plan!.changes.filter((ch) => ch.kind === "create").map((ch) => ch.path), c.creates);
  });
}
