// After a full plan (initial, audit, rescan, retry) the daemon goes idle holding that plan's garbage:
// nothing allocates, so V8 does not collect, and the next audit builds its listings on top of the old
// ones (measured at 300k files: the first audit started from 104 MB of heap of which 57 MB was live,
// and peaked 40 MB above the initial plan). One full collection once the plan's results are dropped
// makes every full plan start from the live set. V8 has no public call for it: --expose-gc set at run
// time and `gc` taken from a fresh context (as Jest's leak detector does); if that ever fails,
// nothing is collected early and nothing else changes.
//
// The young generation is the other half. While the daemon walks its source it keeps most of what it
// allocates (one node and one watch per directory), and V8 answers a high survival rate by doubling
// the semi-spaces up to 16 MB each, which it then keeps for the daemon's life: ~30 MB of RSS at 100k
// files, for no CPU gain (measured: bench/ANALYSIS.md section 4). --max-semi-space-size is read only
// at start-up, but the growth factor is read each time new space grows, so it can be set here.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (gc !== undefined) return gc;
  try {
    setFlagsFromString("--expose-gc");
    const f: unknown = runInNewContext("gc");
    gc = typeof f === "function" ? (f as () => void) : null;
  } catch {
    gc = null;
  }
  return gc;
}

/** A full garbage collection now (the caller is between two large jobs); false when unavailable. */
export function reclaimMemory(): boolean {
  const f = collector();
  if (!f) return false;
  f();
  return true;
}

/** Keeps V8's new space at its initial size for the rest of the process (a long-lived daemon's choice). */
export function holdYoungGeneration(): void {
  try {
    setFlagsFromString("--semi-space-growth-factor=1");
  } catch {
    // An unknown flag in some future V8: the default growth, nothing else changes.
  }
}
