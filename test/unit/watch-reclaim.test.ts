import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { reclaimMemory } from "../../reconciler/watch/reclaim.js";

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
