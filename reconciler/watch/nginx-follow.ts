// `drifted: down` in the daemon: routing follows what the audits and batches found. A replica leaves
// rotation when its target is drifted/unreachable and comes back when it converges; a new routing is
// deployed only after it has held steady for `stableMs`, so a flapping target cannot flap nginx.
import type { Manifest } from "../model/manifest.js";
import { formatLocation } from "../model/manifest.js";
import { worstHostStates, type TargetState } from "../model/plan.js";
import type { StatusDoc } from "./status.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { Log } from "./sync-runner.js";
import type { Transport } from "../transport/types.js";
import { downHosts } from "../nginx/routing.js";
import { planNginx, applyNginx } from "../nginx/deploy.js";
import { errorMessage } from "../model/errors.js";

/** Host name → worst state of its targets in the daemon's status. */
export function hostStatesFromStatus(manifest: Manifest, doc: StatusDoc): Map<string, TargetState> {
  const hostOf = new Map<string, string>();
  for (const s of manifest.syncs) for (const t of s.targets) if (t.host) hostOf.set(`${s.name}\0${formatLocation(t)}`, t.host);
  return worstHostStates(
    doc.syncs.flatMap((s) => s.targets.map((t) => [hostOf.get(`${s.name}\0${t.target}`), targetStateOf(t.state)] as const)),
  );
}

/** The daemon's richer status states, as routing sees them: a failing target is as good as unreachable. */
function targetStateOf(s: StatusDoc["syncs"][number]["targets"][number]["state"]): TargetState {
  return s === "unreachable" || s === "failed" ? "unreachable" : s === "drifted" ? "drifted" : "in-sync";
}

const key = (s: ReadonlySet<string>) => [...s].sort().join(",");

export interface RoutingFollowerOptions {
  readonly manifest: () => Manifest;
  readonly transport: (host: string | undefined) => Transport;
  readonly status: () => StatusDoc;
  readonly log: Log;
  readonly clock: Clock;
  /** How often the status is looked at. */
  readonly intervalMs: number;
  /** How long a new routing must hold before it is deployed. */
  readonly stableMs: number;
}

export function followRouting(o: RoutingFollowerOptions): { stop(): void; deploy(): Promise<void> } {
  let deployed: string | undefined;
  let candidate: { key: string; since: number } | undefined;
  let timer: TimerHandle | undefined;
  let busy = false;
  let stopped = false;

  const deploy = async (down: ReadonlySet<string>) => {
    const m = o.manifest();
    if (!m.nginx) return;
    const t = o.transport(m.nginx.host);
    try {
      const plan = await planNginx(m, t, down);
      for (const w of plan.warnings ?? []) o.log("warn", `nginx: ${w}`);
      // A file that cannot be read comes back as an error with changed: false, which is not "deployed".
      if (plan.error !== undefined) return o.log("error", `nginx ${m.nginx.path}: ${plan.error}; not deployed`);
      if (plan.changed) {
        const r = await applyNginx(plan, m.nginx, t);
        if (r.ok) o.log("info", `nginx ${m.nginx.path}: deployed${down.size ? ` (down: ${[...down].sort().join(", ")})` : ""}`);
        else o.log("error", `nginx ${m.nginx.path}: ${r.error}; the previous config stays`);
        if (!r.ok) return;
      }
      deployed = key(down);
    } catch (err) {
      o.log("error", `nginx ${m.nginx.path}: ${errorMessage(err)}`);
    }
  };

  const current = () => {
    const m = o.manifest();
    return m.nginx ? downHosts(m.nginx, hostStatesFromStatus(m, o.status())) : undefined;
  };

  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      const d = current();
      if (!d) return;
      const k = key(d.down);
      if (k === deployed) candidate = undefined;
      else if (!candidate || candidate.key !== k) candidate = { key: k, since: o.clock.now() };
      else if (o.clock.now() - candidate.since >= o.stableMs) {
        for (const w of d.warnings) o.log("warn", `nginx: ${w}`);
        await deploy(d.down);
        candidate = undefined;
      }
    } finally {
      busy = false;
      if (!stopped) timer = o.clock.setTimeout(() => void tick(), o.intervalMs);
    }
  };

  timer = o.clock.setTimeout(() => void tick(), o.intervalMs);
  return {
    stop: () => {
      stopped = true;
      o.clock.clearTimeout(timer);
    },
    /** Deploy the routing the status implies now (after the initial apply). */
    deploy: async () => {
      const d = current();
      if (d) await deploy(d.down);
    },
  };
}

/**
 * nginx for the running manifest, whichever it is: `running(m)` after the initial apply and after each
 * reload deploys the config `m` renders and keeps a follower exactly when `m` says `drifted: down`.
 * Chosen per manifest, not once at start: a reload that changes servers, upstreams or `drifted`
 * must reach nginx too.
 */
export function nginxForWatch(o: RoutingFollowerOptions): { running(m: Manifest): Promise<void>; stop(): void } {
  let follower: ReturnType<typeof followRouting> | undefined;
  // One deploy at a time: a reload can finish while the deploy after the initial apply still runs.
  let chain: Promise<void> = Promise.resolve();
  const run = async (m: Manifest) => {
    if (m.nginx?.drifted === "down") follower ??= followRouting(o);
    else {
      follower?.stop();
      follower = undefined;
    }
    if (!m.nginx) return;
    if (follower) return follower.deploy();
    // drifted: keep: one deploy now; this follower must not keep a timer alive.
    const once = followRouting({ ...o, intervalMs: 1 << 30, stableMs: 0 });
    once.stop();
    await once.deploy();
  };
  return {
    running: (m) => (chain = chain.then(() => run(m))),
    stop: () => follower?.stop(),
  };
}
