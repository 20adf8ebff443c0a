import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff, backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "../../reconciler/watch/backoff.js";

const noJitter: BackoffPolicy = { baseMs: 1000, maxMs: 60_000, factor: 2, jitter: 0 };

test("delays grow exponentially and stop at the cap", () => {
  const got = [0, 1, 2, 3, 4, 5, 6, 7, 50, 5000].map((a) => backoffDelay(a, noJitter, () => 0.5));
  assert.deepEqual(got, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]);
});

for (const [name, r, want] of [
  ["random 0 gives the full delay", 0, 8000],
  ["random 1 takes off the whole jitter", 1, 6400],
  ["random 0.5 takes off half of it", 0.5, 7200],
  ["out-of-range random is clamped", 7, 6400],
] as const) {
  test(`jitter: ${name}`, () => assert.equal(backoffDelay(3, { ...noJitter, jitter: 0.2 }, () => r), want));
}

test("jitter never exceeds the cap", () => {
  for (let i = 0; i < 100; i++) assert.ok(backoffDelay(20, DEFAULT_BACKOFF, Math.random) <= DEFAULT_BACKOFF.maxMs);
});

test("Backoff counts failures and resets on success", () => {
  const b = new Backoff(noJitter, () => 0);
  assert.deepEqual([b.next(), b.next(), b.next()], [1000, 2000, 4000]);
  assert.equal(b.failures, 3);
  b.reset();
  assert.equal(b.failures, 0);
  assert.equal(b.next(), 1000);
});
