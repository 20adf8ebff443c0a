// The tools tsync is measured against, run as their users run them: rsync over OpenSSH to each
// target in parallel (lsyncd's maxProcesses ≥ 4), and a remote `find | xargs b2sum` per target.
// The floors: the listings (and for a deep plan, the hashes) alone, without a tool around them.
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

/** What a plan's listing prints per entry (type, mode, size, mtime, owners, path), for the floors. */
const FIND_FMT = "'%y %m %s %T@ %U %G %p\\0'";

/**
 * The floor of a no-change plan on this machine: one local `find -printf` of the source while a remote
 * `find -printf` lists each target, all at once (the work a plan cannot skip).
 */
export function listingFloorAll(w: World, src: string, targets: readonly string[]): Promise<number> {
  return floorAll(w, src, targets, (t) => `find '${t}' -printf ${FIND_FMT} > /dev/null`, "listing floor");
}

/**
 * The least a no-change deep plan does on this machine: a local `find -printf` of the source (its
 * hashes come from the cache) while each target is listed and every target file hashed by b2sum,
 * both at once, as tsync runs them.
 */
export function deepFloorAll(w: World, src: string, targets: readonly string[]): Promise<number> {
  return floorAll(w, src, targets, (t) => `cd '${t}' && { find . -printf ${FIND_FMT} > /dev/null & find . -type f -print0 | xargs -0 -r b2sum > /dev/null; wait; }`, "deep floor");
}

function floorAll(w: World, src: string, targets: readonly string[], remote: (target: string) => string, what: string): Promise<number> {
  return timedAll(
    [
      ["sh", ["-c", `find '${src}' -printf ${FIND_FMT} > /dev/null`]] as const,
      ...targets.map((t, i) => ["ssh", ["-F", w.sshConfig, w.hostNames[i]!, remote(t)]] as const),
    ],
    what,
  );
}
