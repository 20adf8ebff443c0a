// Gathers the two snapshots of every sync × target and hands them to the pure planner. All I/O of
// planning lives here; the decisions live in core/planner.ts and core/safety.ts.
import type { Manifest, Sync, Location } from "../model/manifest.js";
import { formatLocation } from "../model/manifest.js";
import type { Plan, TargetPlan, NginxPlan } from "../model/plan.js";
import { summarize, worstHostStates, type TargetState } from "../model/plan.js";
import type { RelPath } from "../model/paths.js";
import type { Snapshot } from "../model/snapshot.js";
import { toListing } from "../model/listing.js";
import { writesFile } from "../model/change.js";
import type { Transport } from "../transport/types.js";
import type { ScanOptions } from "../scan/options.js";
import { entryLimit } from "../scan/limits.js";
import { makeMatcher } from "../core/ignore.js";
import { planSync, pathsNeedingHash } from "../core/planner.js";
import { proveCopies, unprovenCopies } from "../core/copy-proof.js";
import { checkEmptySource, checkMaxDelete } from "../core/safety.js";
import { hooksFor } from "../core/hooks.js";
import { planNginx } from "../nginx/deploy.js";
import { downHosts } from "../nginx/routing.js";
import type { Fleet } from "./fleet.js";
import { errorHint, errorMessage } from "../model/errors.js";
import type { RootProbe } from "../transport/types.js";
import { privilegeRefusal, probeTarget, sourceForTarget, targetRules } from "./target-root.js";

export interface PlanOptions {
  /** Only these syncs (by name). */
  readonly syncs?: readonly string[];
  /** Only targets on these hosts ("local" names local targets). */
  readonly targets?: readonly string[];
  /** Only these exact target locations (the watch daemon retrying one target). */
  readonly locations?: readonly Location[];
  /** Compare content hashes of every file. */
  readonly deep?: boolean;
  /** Limit to these source-relative paths (a live batch). */
  readonly only?: readonly RelPath[];
  /** Hash the source content a change would send, so a saved plan can verify it at apply time. */
  readonly hashContent?: boolean;
  /** Lift maxDelete (apply --allow-mass-delete). */
  readonly allowMassDelete?: boolean;
  /** Include the nginx config (default: when the manifest has one and no --sync narrows the run). */
  readonly nginx?: boolean;
  /** Told when each scan and hash starts and ends, so a terminal can show progress on large trees. */
  readonly onProgress?: (event: PlanProgress) => void;
  /** Host names rendered `down` (drifted: down); default: derived from this plan's target states. */
  readonly down?: ReadonlySet<string>;
  /** Told about trouble that does not change the plan (an unusable hash cache being rebuilt). */
  readonly onWarning?: (message: string) => void;
  readonly signal?: AbortSignal;
}

export interface PlanProgress {
  readonly sync: string;
  /** "source" or the target as shown to users. */
  readonly where: string;
  readonly step: "scan" | "hash";
  readonly state: "start" | "done";
  /** Entries scanned or files hashed, when done. */
  readonly count?: number;
}

/** Runs `work`, reporting its start and its size when done. */
async function step<T>(opts: PlanOptions, sync: string, where: string, what: PlanProgress["step"], work: () => Promise<T>, size: (t: T) => number): Promise<T> {
  opts.onProgress?.({ sync, where, step: what, state: "start" });
  const out = await work();
  opts.onProgress?.({ sync, where, step: what, state: "done", count: size(out) });
  return out;
}

export function targetSelected(target: Location, targets: readonly string[] | undefined): boolean {
  return !targets || targets.length === 0 || targets.includes(target.host ?? "local");
}

/** Entries that the planner needs hashed on one side, with the hashes merged in. */
function withHashes(snap: Snapshot, hashes: ReadonlyMap<RelPath, string>): Snapshot {
  return hashes.size === 0 ? snap : toListing(snap).withHashes(hashes);
}

function problemsOf(snap: Snapshot, side: "source" | "target"): TargetPlan["problems"] {
  return toListing(snap).problems().map((p) => ({ side, ...p }));
}

function scanOptions(sync: Sync, opts: PlanOptions, trees: number, hashCache?: string): ScanOptions {
  const p = targetRules(sync).preserve;
  return {
    ...(hashCache !== undefined ? { hashCache: { dir: hashCache, ...(opts.onWarning ? { warn: opts.onWarning } : {}) } } : {}),
    exclude: makeMatcher(sync.rules.exclude),
    owners: p.owner || p.group,
    ...(p.hardlinks ? { links: true } : {}),
    hash: opts.deep ? "all" : "none",
    maxEntries: entryLimit(trees),
    ...(opts.only ? { only: opts.only } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

/** A scan of the whole tree (a partial one says nothing about whether the source is empty). */
function wholeTree(opts: PlanOptions): boolean {
  return opts.only === undefined || opts.only.includes("" as RelPath);
}

type TargetScan = { probe: RootProbe; snap: Snapshot };

/** Starts a target's probe and scan; settles, never rejects, so it can run while the source is still scanned. */
function startTargetScan(sync: Sync, target: Location, fleet: Fleet, opts: PlanOptions, trees: number): Promise<TargetScan | { error: unknown }> {
  return (async () => {
    const t = fleet.transport(target.host);
    const list = (path: string, signal: AbortSignal | undefined) => t.scan(path, { ...scanOptions(sync, opts, trees), ...(signal ? { signal } : {}) });
    return await fleet.limit(async () => {
      // The root as written is listed while the probe runs, not after its round trip (which waited
      // behind the source's parse: the last of 4 listings started ~130 ms later). A root the probe
      // finds to be a symlink is listed where it leads instead (the early listing is stopped), so
      // plan and apply read the same directory even if the link moves meanwhile; under followRoot:
      // false, where such a root must not be read, nothing is listed before the probe.
      const stop = new AbortController();
      const early = sync.followRoot === false ? undefined : list(target.path, opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal);
      early?.catch(() => {});
      let probe: RootProbe;
      try {
        probe = await probeTarget(t, sync, target, opts.signal);
      } catch (err) {
        stop.abort();
        throw err;
      }
      const reuse = early !== undefined && probe.path === target.path;
      if (!reuse) stop.abort();
      const snap = await step(opts, sync.name, formatLocation(target), "scan", () => (reuse ? early : list(probe.path, opts.signal)), (m) => m.size);
      return { probe, snap };
    });
  })().catch((error: unknown) => ({ error }));
}

/** The source of one sync run, shared by its targets. */
interface SourceSide {
  readonly snap: Snapshot;
  /** Hashes of source files, each file hashed at most once per run whatever the number of targets. */
  readonly hash: (paths: readonly RelPath[]) => Promise<Map<RelPath, string>>;
}

/**
 * The source's hash(), memoized for one run: the targets ask for the same files (the same files need
 * a hash against every target in sync, and a copy source is proven once per target), and used to
 * read each of them once per target.
 */
function sharedHashes(transport: Transport, root: string, signal: AbortSignal | undefined): SourceSide["hash"] {
  const memo = new Map<RelPath, Promise<string | undefined>>();
  return async (paths) => {
    const missing = [...new Set(paths)].filter((p) => !memo.has(p));
    if (missing.length > 0) {
      const batch = transport.hash(root, missing, signal);
      for (const p of missing) {
        const one = batch.then((m) => m.get(p));
        // Awaited by whoever asks for p; a failed batch must not also be an unhandled rejection.
        one.catch(() => {});
        memo.set(p, one);
      }
    }
    const out = new Map<RelPath, string>();
    for (const p of paths) {
      const h = await memo.get(p)!;
      if (h !== undefined) out.set(p, h);
    }
    return out;
  };
}

async function planOneTarget(
  sync: Sync,
  target: Location,
  source: SourceSide,
  fleet: Fleet,
  opts: PlanOptions,
  scanned: Promise<TargetScan | { error: unknown }>,
): Promise<TargetPlan> {
  let base: Pick<TargetPlan, "sync" | "target" | "root"> = { sync: sync.name, target };
  try {
    const t = fleet.transport(target.host);
    const got = await scanned;
    if ("error" in got) throw got.error;
    const { probe } = got;
    // The resolved root is what everything below reads, and what apply must find again.
    if (probe.link !== undefined) base = { ...base, root: probe.path };
    const root = probe.path;
    const rules = targetRules(sync);
    let dst: Snapshot = got.snap;
    let src = sourceForTarget(source.snap, probe);
    const need = pathsNeedingHash(src, dst, rules);
    if (need.length > 0) {
      const [hs, hd] = await Promise.all([
        step(opts, sync.name, "source", "hash", () => source.hash(need), (m) => m.size),
        fleet.limit(() => step(opts, sync.name, formatLocation(target), "hash", () => t.hash(root, need, opts.signal), (m) => m.size)),
      ]);
      src = withHashes(src, hs);
      dst = withHashes(dst, hd);
    }
    let changes = planSync(src, dst, rules);
    if (opts.hashContent) {
      const unhashed = changes.filter(writesFile).filter((c) => c.after.hash === undefined).map((c) => c.path);
      if (unhashed.length > 0) {
        src = withHashes(src, await source.hash(unhashed));
        changes = planSync(src, dst, rules);
      }
    }
    const guesses = unprovenCopies(changes);
    if (guesses.sources.length > 0) {
      const [hs, hd] = await Promise.all([
        step(opts, sync.name, "source", "hash", () => source.hash(guesses.sources), (m) => m.size),
        fleet.limit(() => step(opts, sync.name, formatLocation(target), "hash", () => t.hash(root, guesses.donors, opts.signal), (m) => m.size)),
      ]);
      changes = proveCopies(changes, hs, hd);
    }
    const massDelete = opts.allowMassDelete
      ? undefined
      : sync.rules.maxDelete
        ? checkMaxDelete(changes, dst, sync.rules.maxDelete)
        : wholeTree(opts)
          ? checkEmptySource(changes, src, dst)
          : undefined;
    const refused = massDelete ?? (changes.length > 0 ? privilegeRefusal(sync, probe, t.host) : undefined);
    const hooks = refused ? [] : hooksFor(sync.onChange, changes).map((h) => ({ run: h.hook.run, paths: h.paths }));
    return {
      ...base,
      state: changes.length > 0 ? "drifted" : "in-sync",
      changes,
      ...(refused ? { refused } : {}),
      problems: [...problemsOf(src, "source"), ...problemsOf(dst, "target")],
      ...(hooks.length ? { hooks } : {}),
    };
  } catch (err) {
    return { ...base, state: "unreachable", changes: [], error: errorMessage(err), ...errorHint(err), problems: [] };
  }
}

/** Plan one sync for its selected targets. Never throws for operational errors. */
export async function planSyncTargets(sync: Sync, fleet: Fleet, opts: PlanOptions = {}): Promise<TargetPlan[]> {
  const targets = sync.targets.filter(
    (t) => targetSelected(t, opts.targets) && (!opts.locations || opts.locations.some((l) => l.host === t.host && l.path === t.path)),
  );
  // Target scans (ssh handshake, remote listing, remote hashing when deep) do not depend on the source
  // scan: run them at the same time instead of after it (measured by bench/: the source walk and the 4
  // connections used to add up). Read-only, so a failing source wastes a listing, nothing more.
  // The source and every target snapshot are held at once: each scan gets its share of the heap.
  const trees = 1 + targets.length;
  const scans = targets.map((t) => startTargetScan(sync, t, fleet, opts, trees));
  let source: SourceSide;
  try {
    const transport = fleet.transport(sync.source.host);
    const snap = await fleet.limit(() => step(opts, sync.name, "source", "scan", () => transport.scan(sync.source.path, scanOptions(sync, opts, trees, fleet.hashCacheDir)), (m) => m.size));
    if (!snap.has("" as RelPath) && !opts.only) {
      const error = `source ${formatLocation(sync.source)} does not exist`;
      return targets.map((target) => ({ sync: sync.name, target, state: "unreachable", cause: "source", changes: [], error, problems: [] }));
    }
    source = { snap, hash: sharedHashes(transport, sync.source.path, opts.signal) };
  } catch (err) {
    const error = `source ${formatLocation(sync.source)}: ${errorMessage(err)}`;
    return targets.map((target) => ({ sync: sync.name, target, state: "unreachable", cause: "source", changes: [], error, ...errorHint(err), problems: [] }));
  }
  return Promise.all(targets.map((t, i) => planOneTarget(sync, t, source, fleet, opts, scans[i]!)));
}

/** What each target's state will be once this plan is applied: drift heals, refusals and unreachables stay. */
export function statesAfterApply(targets: readonly TargetPlan[]): Map<string, TargetState> {
  return worstHostStates(
    targets.map((t) => [t.target.host, t.state === "unreachable" ? "unreachable" : t.refused ? "drifted" : "in-sync"] as const),
  );
}

export async function planManifest(manifest: Manifest, fleet: Fleet, opts: PlanOptions = {}): Promise<Plan> {
  const syncs = manifest.syncs.filter((s) => !opts.syncs?.length || opts.syncs.includes(s.name));
  const targets = (await Promise.all(syncs.map((s) => planSyncTargets(s, fleet, opts)))).flat();
  let nginx: NginxPlan | undefined;
  const wantNginx = opts.nginx ?? (manifest.nginx !== undefined && !opts.syncs?.length);
  if (wantNginx && manifest.nginx) {
    const down = opts.down ?? downHosts(manifest.nginx, statesAfterApply(targets)).down;
    try {
      nginx = await planNginx(manifest, fleet.transport(manifest.nginx.host), down);
    } catch (err) {
      const n = manifest.nginx;
      nginx = { ...(n.host ? { host: n.host } : {}), path: n.path, after: "", changed: false, diff: "", error: errorMessage(err) };
    }
  }
  return {
    manifestFile: manifest.file,
    manifestDigest: manifest.digest,
    createdAt: new Date().toISOString(),
    deep: opts.deep ?? false,
    targets,
    ...(nginx ? { nginx } : {}),
    summary: summarize(targets, nginx),
  };
}

