// `drifted: down`: which hosts leave rotation, given the latest state of their sync targets. Pure, so
// plan, apply and watch all decide the same way from the same states.
import type { NginxSettings } from "../model/manifest.js";
import { STATE_RANK, type TargetState as HostState } from "../model/plan.js";

/**
 * Hosts to render `down`. `keep` never changes routing. Under `down`, every drifted or unreachable
 * host leaves rotation, except that no upstream is ever emptied (SPEC §4): its least bad server
 * (then the first in manifest order) stays, with a warning naming the upstream. Hosts missing from
 * `hostStates` (the master, anything that is not a sync target) count as in-sync.
 */
export function downHosts(nginx: NginxSettings, hostStates: ReadonlyMap<string, HostState>): { down: Set<string>; warnings: string[] } {
  const down = new Set<string>();
  const warnings: string[] = [];
  if (nginx.drifted === "keep") return { down, warnings };
  const stateOf = (h: string): HostState => hostStates.get(h) ?? "in-sync";
  for (const up of nginx.upstreams) for (const h of up.hosts) if (stateOf(h) !== "in-sync") down.add(h);
  // When every server of an upstream is bad, the least bad one stays (STATE_RANK). Rescuing a host only adds servers back, so upstreams already checked stay non-empty.
  for (const up of nginx.upstreams) {
    if (up.hosts.length === 0 || !up.hosts.every((h) => down.has(h))) continue;
    let keep = up.hosts[0]!;
    for (const h of up.hosts) if (STATE_RANK[stateOf(h)] < STATE_RANK[stateOf(keep)]) keep = h;
    down.delete(keep);
    warnings.push(`upstream ${up.name}: every server is ${describe(up.hosts, stateOf)}; keeping ${keep} in rotation so the site stays up`);
  }
  return { down, warnings };
}

function describe(hosts: readonly string[], stateOf: (h: string) => HostState): string {
  return "drifted or unreachable (" + hosts.map((h) => `${h}: ${stateOf(h)}`).join(", ") + ")";
}
