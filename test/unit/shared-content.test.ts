// Issue 13: an apply to several targets reads each small source file once (sharedContent), without
// sharing what it must not: a torn read, a large file's stream, more than the byte budget.
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
function counting(files: Record<string, Buffer | "stream">, fail = new Set<string>()) {
  const opens = new Map<string, number>();
  const src: ContentSource = {
    async open(path): Promise<SourceFile> {
      opens.set(path, (opens.get(path) ?? 0) + 1);
      if (fail.has(path)) throw new SourceChangedError(`${path}: changed while read`);
      const f = files[path]!;
      return f === "stream" ? { stream: Readable.from([Buffer.from("big")]) } : wholeFile(f);
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

test("files read as streams and files past the byte budget are read per target", async () => {
  const { src, opens } = counting({ big: "stream", a: Buffer.alloc(10), b: Buffer.alloc(10) });
  const shared = sharedContent(src, new Map([[p("big"), 2], [p("a"), 2], [p("b"), 2]]), 15);
  // Every first reader before every second one: a is held (10 bytes), b would make 20 > 15.
  for (let i = 0; i < 2; i++) for (const path of ["big", "a", "b"]) await read(await shared.open(p(path)));
  assert.deepEqual(Object.fromEntries(opens), { big: 2, a: 1, b: 2 });
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
