import { test } from "node:test";
import assert from "node:assert/strict";
import { Batcher } from "../../reconciler/watch/batcher.js";
import { FakeClock } from "../../reconciler/watch/clock.js";
import { relPath, type RelPath } from "../../reconciler/model/paths.js";

const p = (s: string) => relPath(s);

/** A batcher on a fake clock recording when each batch left and what it held. */
function rig(delayMs: number, batchMs = 0) {
  const clock = new FakeClock(0);
  const sent: { at: number; paths: RelPath[] }[] = [];
  const b = new Batcher({
    delayMs,
    clock,
    onBatch: async (paths) => {
      sent.push({ at: clock.now(), paths });
      if (batchMs > 0) await new Promise<void>((r) => clock.setTimeout(r, batchMs));
    },
  });
  return { clock, sent, b };
}

test("a single save leaves after the settle time, well under delay", async () => {
  const { clock, sent, b } = rig(1000);
  b.add(p("index.php"));
  await clock.tick(99);
  assert.equal(sent.length, 0);
  await clock.tick(1);
  assert.deepEqual(sent, [{ at: 100, paths: ["index.php"] }]);
});

test("settle time is capped by a short delay", async () => {
  const { clock, sent, b } = rig(30);
  b.add(p("a"));
  await clock.tick(30);
  assert.deepEqual(sent.map((s) => s.at), [30]);
});

test("a steady stream leaves at exactly delay after its first event", async () => {
  const { clock, sent, b } = rig(1000);
  for (let t = 0; t < 1500; t += 50) {
    b.add(p(`f${t}`));
    await clock.tick(50);
  }
  assert.equal(sent[0]!.at, 1000);
  assert.equal(sent[0]!.paths.length, 20); // events at 0..950
  await clock.tick(1000);
  const all = sent.flatMap((s) => s.paths);
  assert.equal(all.length, 30, "no event lost");
});

test("events are deduplicated by path and sorted in byte order", async () => {
  const { clock, sent, b } = rig(1000);
  for (const s of ["b", "a", "b", "b", "\xffz", "a/x", "a"]) b.add(p(s));
  await clock.tick(200);
  assert.deepEqual(sent, [{ at: 100, paths: ["a", "a/x", "b", "\xffz"] }]);
  assert.equal(b.pending, 0);
});

test("events during a batch in flight wait for the next batch; batches never overlap", async () => {
  const { clock, sent, b } = rig(1000, 500);
  b.add(p("one"));
  await clock.tick(100); // batch 1 leaves at 100, in flight until 600
  assert.equal(sent.length, 1);
  assert.ok(b.inFlight);
  await clock.tick(50);
  b.add(p("two"));
  b.add(p("one"));
  await clock.tick(300); // t=450, still in flight
  assert.equal(sent.length, 1);
  assert.equal(b.pending, 2);
  await clock.tick(150); // t=600: flight ends; first queued event (150) + delay = 1150 > quiet end 250 → leaves at once
  assert.deepEqual(sent[1], { at: 600, paths: ["one", "two"] });
});

test("a failing batch is reported and the batcher carries on", async () => {
  const clock = new FakeClock(0);
  const errors: unknown[] = [];
  let calls = 0;
  const b = new Batcher({
    delayMs: 100,
    clock,
    onBatch: async () => {
      calls++;
      if (calls === 1) throw new Error("boom");
    },
    onError: (e) => errors.push(e),
  });
  b.add(p("a"));
  await clock.tick(100);
  b.add(p("b"));
  await clock.tick(100);
  assert.equal(calls, 2);
  assert.equal(errors.length, 1);
});

test("stop drops pending events, reports how many, and takes no more", async () => {
  const { clock, sent, b } = rig(1000);
  b.add(p("a"));
  b.add(p("b"));
  assert.equal(await b.stop(), 2);
  b.add(p("c"));
  await clock.tick(5000);
  assert.equal(sent.length, 0);
  assert.equal(clock.pendingTimers, 0);
});
