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

/**
 * The least a no-change deep plan does on this machine: a local `find -printf` of the source (its
 * hashes come from the cache) while each target is listed and every target file hashed by b2sum,
 * both at once, as tsync runs them.
 */
export function deepFloorAll(w: World, src: string, targets: readonly string[]): Promise<number> {
  const fmt = "'%y %m %s %T@ %U %G %p\\0'";
  return timedAll(
    [
      ["sh", ["-c", `find '${src}' -printf ${fmt} > /dev/null`]] as const,
      ...targets.map((t, i) => ["ssh", ["-F", w.sshConfig, w.hostNames[i]!, `cd '${t}' && { find . -printf ${fmt} > /dev/null & find . -type f -print0 | xargs -0 -r b2sum > /dev/null; wait; }`]] as const),
    ],
    "deep floor",
  );
}
