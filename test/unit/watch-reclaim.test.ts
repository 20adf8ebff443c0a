import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { getHeapSpaceStatistics } from "node:v8";
import { holdYoungGeneration, reclaimMemory } from "../../reconciler/watch/reclaim.js";

test("reclaimMemory runs a full collection: an unreachable object is gone right after it", async () => {
  assert.equal(reclaimMemory(), true); // the first call sets the collector up (that allocates)
  let ref: WeakRef<object> | undefined;
  (() => {
    ref = new WeakRef({ listing: new Array(10_000).fill("x") });
  })();
  await nextTurn(); // a WeakRef's target lives at least until the end of the turn that made it
  assert.equal(reclaimMemory(), true);
  assert.equal(ref!.deref(), undefined);
});

test("holdYoungGeneration: new space does not grow while everything allocated survives (a daemon's walk)", () => {
  const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_size;
  const before = newSpace();
  holdYoungGeneration();
  const kept: object[] = [];
  for (let i = 0; i < 1_000_000; i++) kept.push({ i, name: `d${i}` });
  // V8's default doubles new space on such a survival rate, to 32 MB (16 MB semi-spaces).
  assert.ok(newSpace() <= before, `new space grew from ${before} to ${newSpace()} bytes`);
  assert.equal(kept.length, 1_000_000);
});
