// Issue 13: an apply to several targets reads each source file once (sharedContent), without sharing
// what it must not: a torn read to a newcomer, a sparse file's stream, more than a file's window or the budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { SourceChangedError } from "../../reconciler/model/errors.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { Change } from "../../reconciler/model/change.js";
import { sendCounts, sharedContent } from "../../reconciler/run/shared-content.js";
import { wholeFile, type ContentSource, type SourceFile } from "../../reconciler/transport/types.js";

const p = (s: string) => s as RelPath;

/** A source whose opens are counted; `fail` paths throw as a file changed while read does. */
function counting(files: Record<string, Buffer | "stream" | "sparse" | "torn">, fail = new Set<string>()) {
  const opens = new Map<string, number>();
  const src: ContentSource = {
    async open(path): Promise<SourceFile> {
      opens.set(path, (opens.get(path) ?? 0) + 1);
      if (fail.has(path)) throw new SourceChangedError(`${path}: changed while read`);
      const f = files[path]!;
      if (f === "torn") {
        // As the local source streams a file that changed while read: its bytes, then the failure.
        return { stream: Readable.from((async function* () { yield Buffer.from("bi"); throw new SourceChangedError(`${path}: changed while read`); })()) };
      }
      return f === "stream" ? { stream: Readable.from([Buffer.from("bi"), Buffer.from("g")]) } : f === "sparse" ? { stream: Readable.from([Buffer.from("hole")]), sparse: true } : wholeFile(f);
    },
  };
  return { src, opens };
}

const read = async (f: SourceFile) => Buffer.concat(await f.stream.toArray()).toString();

test("four targets' opens of a small file read it once and all get its bytes", async () => {
  const { src, opens } = counting({ a: Buffer.from("A"), b: Buffer.from("B") });
  const shared = sharedContent(src, new Map([[p("a"), 4], [p("b"), 1]]));
  const got = await Promise.all([1, 2, 3, 4].map(() => shared.open(p("a"))));
  assert.deepEqual(await Promise.all(got.map(read)), ["A", "A", "A", "A"]);
  assert.equal(opens.get("a"), 1);
  // Once its last reader has it, the file is not held: a fifth open reads again.
  await shared.open(p("a"));
  assert.equal(opens.get("a"), 2);
  await shared.open(p("b"));
  assert.equal(opens.get("b"), 1);
});

test("a torn first read is never shared: each target reads (and checks) the file itself", async () => {
  const { src, opens } = counting({ a: Buffer.from("A") }, new Set(["a"]));
  const shared = sharedContent(src, new Map([[p("a"), 3]]));
  const r = await Promise.allSettled([1, 2, 3].map(() => shared.open(p("a"))));
  assert.ok(r.every((x) => x.status === "rejected" && x.reason instanceof SourceChangedError));
  assert.equal(opens.get("a"), 3);
});

test("a streamed file is fanned out to the readers that join; sparse files, files left behind by the window and past the budget are read per target", async () => {
  const { src, opens } = counting({ big: "stream", huge: "stream", holes: "sparse", a: Buffer.alloc(10), b: Buffer.alloc(10) });
  const shared = sharedContent(src, new Map(["big", "huge", "holes", "a", "b"].map((x) => [p(x), 2])), 15, 2);
  // Limits of 15 bytes held and a window of 2 bytes a file; every first reader before every second
  // one: huge (3 bytes) outran the window, holes is sparse, a is held (10 bytes), b would make 20 > 15.
  const got: Record<string, string[]> = {};
  for (let i = 0; i < 2; i++) for (const path of ["huge", "holes", "a", "b"]) (got[path] ??= []).push(await read(await shared.open(p(path))));
  assert.deepEqual(Object.fromEntries(opens), { huge: 2, holes: 2, a: 1, b: 2 });
  assert.deepEqual(got.huge, ["big", "big"], "a file left behind still streams whole");
  assert.deepEqual(got.holes, ["hole", "hole"]);
  const wide = sharedContent(src, new Map([[p("big"), 3], [p("holes"), 3]]));
  const all = await Promise.all([1, 2, 3].map(() => wide.open(p("big"))));
  assert.deepEqual(await Promise.all(all.map(read)), ["big", "big", "big"]);
  assert.equal(opens.get("big"), 1);
  // A sparse file, however small, keeps its stream and its holes for every target.
  const sparse = await Promise.all([1, 2, 3].map(() => wide.open(p("holes"))));
  assert.ok(sparse.every((f) => f.sparse === true && f.bytes === undefined));
});

/** A streamed source of `n` one-byte chunks that counts what was taken from it and whether it was closed. */
function chunky(n: number) {
  const state = { taken: 0, closed: false };
  const src: ContentSource = {
    async open(): Promise<SourceFile> {
      const stream = Readable.from((async function* () { for (let i = 0; i < n; i++) { state.taken++; yield Buffer.from(String(i % 10)); } })(), { highWaterMark: 1 });
      stream.once("close", () => (state.closed = true));
      return { stream };
    },
  };
  return { src, state };
}
const ticks = async (n = 20) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };

test("a fan-out's fastest reader waits for the slowest open one: a file holds at most its window", async () => {
  const { src, state } = chunky(50);
  const shared = sharedContent(src, new Map([[p("f"), 2]]), 1000, 4);
  const [fast, slow] = await Promise.all([shared.open(p("f")), shared.open(p("f"))]);
  let fastDone = false;
  const fastAll = read(fast!).then((s) => ((fastDone = true), s));
  await ticks();
  assert.equal(fastDone, false, "the fast reader ran ahead of an open reader that took nothing");
  assert.ok(state.taken <= 4 + 3, `read ${state.taken} chunks ahead of the slow reader`);
  const slowAll = read(slow!);
  const want = Array.from({ length: 50 }, (_, i) => String(i % 10)).join("");
  assert.deepEqual(await Promise.all([fastAll, slowAll]), [want, want]);
  assert.equal(state.taken, 50, "read once for both");
});

test("a target that opens a streamed file after the first has read part of it (within the window) joins from the first byte", async () => {
  const { src, state } = chunky(6);
  const shared = sharedContent(src, new Map([[p("f"), 2]]), 1000, 4);
  const first = (await shared.open(p("f"))).stream[Symbol.asyncIterator]();
  await first.next();
  await first.next();
  const late = await shared.open(p("f"));
  assert.equal(await read(late), "012345");
  assert.equal(state.taken, 6, "read once");
});

test("a fan-out reader that stops (its target failed) holds nobody back; when none reads on, the file is closed", async () => {
  const { src, state } = chunky(50);
  const shared = sharedContent(src, new Map([[p("f"), 3]]), 1000, 4);
  const [a, b] = await Promise.all([shared.open(p("f")), shared.open(p("f"))]);
  const it = b!.stream[Symbol.asyncIterator]();
  await it.next();
  b!.stream.destroy();
  assert.equal((await read(a!)).length, 50);
  // The third target never came: its chunks were given up on when the window filled, and it reads itself.
  const c = await shared.open(p("f"));
  assert.equal((await read(c)).length, 50);
  assert.equal(state.taken, 100);
  const { src: src2, state: s2 } = chunky(50);
  const two = sharedContent(src2, new Map([[p("f"), 2]]), 1000, 4);
  const [x, y] = await Promise.all([two.open(p("f")), two.open(p("f"))]);
  await x!.stream[Symbol.asyncIterator]().next();
  x!.stream.destroy();
  y!.stream.destroy();
  await ticks();
  assert.equal(s2.closed, true, "the source stays open with no reader");
});

test("a streamed file torn under a fan-out fails for every reader that took part; a later reader reads it afresh", async () => {
  const { src, opens } = counting({ t: "torn" });
  const shared = sharedContent(src, new Map([[p("t"), 3]]));
  const both = await Promise.all([shared.open(p("t")), shared.open(p("t"))]);
  const r = await Promise.allSettled(both.map(read));
  assert.ok(r.every((x) => x.status === "rejected" && x.reason instanceof SourceChangedError));
  assert.equal(opens.get("t"), 1);
  await assert.rejects(read(await shared.open(p("t"))), SourceChangedError);
  assert.equal(opens.get("t"), 2);
});

test("a streamed file torn while its first reader reads it fails for that reader; the others read it themselves", async () => {
  const { src, opens } = counting({ t: "torn" });
  const shared = sharedContent(src, new Map([[p("t"), 2]]));
  const f1 = await shared.open(p("t"));
  await assert.rejects(read(f1), SourceChangedError);
  const f2 = await shared.open(p("t"));
  await assert.rejects(read(f2), SourceChangedError);
  assert.equal(opens.get("t"), 2);
});

test("sendCounts counts creates and updates that send content, not copies made on the target", () => {
  const after = { kind: "file", size: 1, mode: 0o644, mtimeMs: 0 };
  const n = sendCounts([
    { kind: "create", path: p("x"), after },
    { kind: "create", path: p("x"), after, from: { path: p("y") } },
    { kind: "update", path: p("x"), after },
    { kind: "delete", path: p("z") },
  ] as unknown as Change[]);
  assert.deepEqual([...n], [["x", 2]]);
});
