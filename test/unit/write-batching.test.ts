// Issue 13: large writes are not copied on their way to the helper (writeBatched), and what ssh2
// writes to the socket in one tick goes out as one writev (coalesceWrites).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Duplex, Writable } from "node:stream";
import { writeBatched } from "../../reconciler/transport/apply/stream.js";
import { coalesceWrites } from "../../reconciler/transport/ssh/connection.js";

test("writeBatched joins small parts, writes each large part as it is, in order", () => {
  const writes: Buffer[] = [];
  const out = new Writable({ write(chunk: Buffer, _e, cb) { writes.push(chunk); cb(); } });
  const big = Buffer.alloc(64 * 1024, 7);
  const big2 = Buffer.alloc(100 * 1024, 8);
  const parts = [Buffer.from("ab"), Buffer.from("c"), big, Buffer.from("d"), big2, Buffer.from("e"), Buffer.from("f")];
  writeBatched(out, parts);
  assert.deepEqual(writes.map((b) => b.length), [3, big.length, 1, big2.length, 2]);
  assert.ok(writes[1] === big && writes[3] === big2, "large parts are not copied");
  assert.deepEqual(Buffer.concat(writes), Buffer.concat(parts));
  writes.length = 0;
  writeBatched(out, [Buffer.from("x")]);
  writeBatched(out, [big]);
  assert.deepEqual(writes.map((b) => b.length), [1, big.length]);
});

test("coalesceWrites: the writes of one tick reach the socket as one writev, in order; later ones as another", async () => {
  const calls: Buffer[][] = [];
  const sock = new Duplex({
    read() {},
    write(chunk: Buffer, _e, cb) { calls.push([chunk]); cb(); },
    writev(chunks, cb) { calls.push(chunks.map((c) => c.chunk as Buffer)); cb(); },
  });
  coalesceWrites(sock);
  for (const s of ["a", "b", "c"]) sock.write(Buffer.from(s));
  await new Promise((r) => setImmediate(r));
  sock.write(Buffer.from("d"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls.map((c) => Buffer.concat(c).toString()), ["abc", "d"]);
  assert.equal(calls[0]!.length, 3);
});
