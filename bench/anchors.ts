// The tools tsync is measured against, run as their users run them: rsync over OpenSSH to each
// target in parallel (lsyncd's maxProcesses ≥ 4), and a remote `find | xargs b2sum` per target.
import type { World } from "./world.js";
import { timedAll } from "./procs.js";

/** rsync SRC/ to node-i:targets[i] for every target at once; `flags` like ["-a", "--delete"]. Returns ms. */
export function rsyncAll(w: World, src: string, targets: readonly string[], flags: readonly string[]): Promise<number> {
  const slash = src.endsWith("/") ? src : src + "/";
  return timedAll(
    targets.map((t, i) => ["rsync", [...flags, "-e", w.rsh, "--", slash, `${w.hostNames[i]}:${t}/`]] as const),
    `rsync ${flags.join(" ")}`,
  );
}

/** What a hand-rolled deep audit costs: hash every file on every target over ssh (b2sum, tsync's algorithm). */
export function remoteB2sumAll(w: World, targets: readonly string[]): Promise<number> {
  return timedAll(
    targets.map((t, i) => ["ssh", ["-F", w.sshConfig, w.hostNames[i]!, `cd '${t}' && find . -type f -print0 | xargs -0 -r b2sum > /dev/null`]] as const),
    "ssh find | xargs b2sum",
  );
}
