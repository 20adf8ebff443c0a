// Completion is checked with an independent listing (GNU find + sha256sum via test/support/trees),
// never with tsync's or rsync's own word.
import { listTree, diffListings, type ListOptions } from "../test/support/trees.js";
import { setTimeout as sleep } from "node:timers/promises";

// `.tsync-tmp` is tsync's lock/staging dir on a target (kept after apply for now: a known open bug).
const OPTS: ListOptions = { times: true, timePrecision: "s", exclude: [".tsync-tmp"] };

const cache = new Map<string, string>();

/** The source's listing, cached until `forget` (sources change only where the bench changes them). */
export async function sourceListing(src: string): Promise<string> {
  let l = cache.get(src);
  if (l === undefined) {
    l = await listTree(src, OPTS);
    cache.set(src, l);
  }
  return l;
}

export function forget(src: string): void {
  cache.delete(src);
}

/** Throws naming the first differences unless every target lists exactly like the source. */
export async function verifyTargets(what: string, src: string, targets: readonly string[]): Promise<void> {
  const want = await sourceListing(src);
  for (const t of targets) {
    const got = await listTree(t, OPTS);
    if (got !== want) throw new Error(`${what}: ${t} differs from ${src}:\n${diffListings(want, got, 12).join("\n")}`);
  }
}

/** Polls `check` every `everyMs` until it is true; returns the time it became true (performance.now()). */
export async function pollUntil(check: () => boolean, timeoutMs: number, what: string, everyMs = 5): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (check()) return performance.now();
    if (performance.now() > deadline) throw new Error(`${what}: not done within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
