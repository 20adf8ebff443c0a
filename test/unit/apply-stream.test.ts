import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { Change } from "../../reconciler/model/change.js";
import { relPath } from "../../reconciler/model/paths.js";
import type { Entry } from "../../reconciler/model/snapshot.js";
import {
  ACT_MODE, ACT_OWNER, ACT_TIMES, MARKER, ReplyDecoder, actionsFor, encodeEntry, encodeHeader, encodeOp, sendsContent, u32, type Reply,
} from "../../reconciler/transport/apply/protocol.js";
import { APPLY_COMMAND, APPLY_SCRIPT } from "../../reconciler/transport/apply/helper.js";

const p = relPath;
const T = 1700000000123.4567;
const fA: Entry = { kind: "file", size: 5, mode: 0o644, mtimeMs: T };
const fBig: Entry = { kind: "file", size: 2 ** 33 + 7, mode: 0o600, mtimeMs: T, uid: 33, gid: 34 };
const dA: Entry = { kind: "dir", mode: 0o755, mtimeMs: T };
const lA: Entry = { kind: "symlink", target: "x\xff\n", mode: 0o777, mtimeMs: T };

function hexEntry(type: string, mode: number, owner: number, uid: number, gid: number, mtime: number, size: number, target = ""): string {
  const b = Buffer.alloc(34);
  b.write(type, 0, "latin1");
  b.writeUInt32BE(mode, 1);
  b.writeUInt8(owner, 5);
  b.writeUInt32BE(uid, 6);
  b.writeUInt32BE(gid, 10);
  b.writeDoubleBE(mtime, 14);
  b.writeUInt32BE(Math.floor(size / 2 ** 32), 22);
  b.writeUInt32BE(size % 2 ** 32, 26);
  b.writeUInt32BE(target.length, 30);
  return Buffer.concat([b, Buffer.from(target, "latin1")]).toString("hex");
}

const entryCases: [string, Entry | undefined, string][] = [
  ["absent", undefined, hexEntry("-", 0, 0, 0, 0, 0, 0)],
  ["file", fA, hexEntry("f", 0o644, 0, 0, 0, T, 5)],
  ["file > 4 GiB with owner", fBig, hexEntry("f", 0o600, 3, 33, 34, T, 2 ** 33 + 7)],
  ["dir", dA, hexEntry("d", 0o755, 0, 0, 0, T, 0)],
  ["symlink with raw bytes", lA, hexEntry("l", 0o777, 0, 0, 0, T, 0, "x\xff\n")],
  ["gid only", { kind: "dir", mode: 0o2775, mtimeMs: T, gid: 7 }, hexEntry("d", 0o2775, 2, 0, 7, T, 0)],
  ["problem", { kind: "problem", error: "EACCES" }, hexEntry("x", 0, 0, 0, 0, 0, 0)],
];
for (const [name, e, want] of entryCases) test(`encodeEntry: ${name}`, () => assert.equal(encodeEntry(e).toString("hex"), want));

test("encodeHeader: magic, flags, lock wait, root bytes", () => {
  const h = encodeHeader("/srv/wwé", { fsync: true, lockWaitMs: 1500 });
  assert.equal(h.subarray(0, 8).toString("latin1"), "TSYNCAP1");
  assert.deepEqual([h.readUInt32BE(8), h.readUInt32BE(12), h.readUInt32BE(16)], [1, 1500, 9]);
  assert.equal(h.subarray(20).toString("utf8"), "/srv/wwé");
});

test("encodeOp: tag, length, kind, actions, path bytes, before, after", () => {
  const name = p("-n\n$(x)\xff");
  const op = encodeOp({ kind: "update", path: name, before: fA as never, after: fBig as never });
  assert.equal(op.subarray(0, 1).toString(), "O");
  assert.equal(op.readUInt32BE(1), op.length - 5);
  assert.equal(op.subarray(5, 6).toString(), "u");
  assert.equal(op[6], ACT_MODE | ACT_TIMES | ACT_OWNER);
  assert.equal(op.readUInt32BE(7), 8);
  assert.equal(op.subarray(11, 19).toString("latin1"), name);
  assert.equal(op.subarray(19).toString("hex"), encodeEntry(fA).toString("hex") + encodeEntry(fBig).toString("hex"));
});

test("encodeOp: a create with `from` ends with the copy source's path bytes and entry as planned", () => {
  const from = { path: p("old/\xff n"), entry: { ...fA, mode: 0o600 } as never };
  const plain = encodeOp({ kind: "create", path: p("new"), after: fA as never });
  const op = encodeOp({ kind: "create", path: p("new"), after: fA as never, from });
  assert.equal(op.readUInt32BE(1), op.length - 5);
  assert.equal(op.subarray(5, plain.length).toString("hex"), plain.subarray(5).toString("hex"), "the op itself is unchanged");
  const tail = op.subarray(plain.length);
  assert.equal(tail.readUInt32BE(0), 7);
  assert.equal(tail.subarray(4, 11).toString("latin1"), "old/\xff n");
  assert.equal(tail.subarray(11, -1).toString("hex"), encodeEntry({ ...fA, mode: 0o600 }).toString("hex"));
  assert.equal(tail.subarray(-1).toString("latin1"), "c", "copy the bytes");
  const link = encodeOp({ kind: "create", path: p("new"), after: fA as never, from: { ...from, link: true } });
  assert.equal(link.subarray(-1).toString("latin1"), "h", "hard-link");
});

const contentCases: [string, Change, boolean][] = [
  ["create", { kind: "create", path: p("a"), after: fA as never }, true],
  ["create copied on the target", { kind: "create", path: p("a"), after: fA as never, from: { path: p("b"), entry: fA as never } }, false],
  ["update", { kind: "update", path: p("a"), before: fA as never, after: fA as never }, true],
  ["symlink", { kind: "symlink", path: p("l"), after: lA as never }, false],
  ["delete", { kind: "delete", path: p("a"), before: fA }, false],
];
for (const [name, c, want] of contentCases) test(`sendsContent: ${name}`, () => assert.equal(sendsContent(c), want));

const actionCases: [string, Change, number][] = [
  ["create sets mode+times", { kind: "create", path: p("a"), after: fA as never }, ACT_MODE | ACT_TIMES],
  ["create with owner", { kind: "create", path: p("a"), after: fBig as never }, ACT_MODE | ACT_TIMES | ACT_OWNER],
  ["symlink sets nothing but owner", { kind: "symlink", path: p("l"), after: lA as never }, 0],
  ["chmod alone", { kind: "chmod", path: p("a"), before: fA, after: { ...fA, mode: 0o600 } as Entry }, ACT_MODE],
  ["chmod that also moved mtime", { kind: "chmod", path: p("a"), before: fA, after: { ...fA, mode: 0o600, mtimeMs: 1 } as Entry }, ACT_MODE | ACT_TIMES],
  ["touch alone", { kind: "touch", path: p("d"), before: dA, after: { ...dA, mtimeMs: 5 } as Entry }, ACT_TIMES],
  ["chown", { kind: "chown", path: p("a"), before: fA, after: { ...fA, uid: 0 } as Entry }, ACT_OWNER],
  ["delete", { kind: "delete", path: p("a"), before: fA }, 0],
  ["rmdir", { kind: "rmdir", path: p("d"), before: dA as never }, 0],
];
for (const [name, c, want] of actionCases) test(`actionsFor: ${name}`, () => assert.equal(actionsFor(c), want));

test("u32: frame end, abort, sizes", () => {
  assert.equal(u32(0).toString("hex"), "00000000");
  assert.equal(u32(0xffffffff).toString("hex"), "ffffffff");
  assert.equal(u32(262144).toString("hex"), "00040000");
});

function reply(tag: string, ...parts: (number | string)[]): Buffer {
  const bufs = [Buffer.from(tag, "latin1")];
  for (const x of parts) {
    if (typeof x === "number") {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(x);
      bufs.push(b);
    } else bufs.push(Buffer.from(x, "utf8"));
  }
  return Buffer.concat(bufs);
}

const stream = Buffer.concat([
  Buffer.from("Welcome to node-3!\n\0TSYNC-APP junk\n", "latin1"),
  MARKER,
  reply("K", 0),
  reply("P", 1, "s", 8, "stale: x"),
  reply("F", "b", 4, "busy"),
  reply("E", 2, 1),
]);
const want: Reply[] = [
  { tag: "ok", index: 0 },
  { tag: "problem", index: 1, code: "s", message: "stale: x" },
  { tag: "fatal", code: "b", message: "busy" },
  { tag: "end", ops: 2, ok: 1 },
];

// Every split point, including ones inside the marker and inside length fields.
for (const step of [1, 2, 3, 7, stream.length]) {
  test(`ReplyDecoder: shell noise before the marker, chunks of ${step} bytes`, () => {
    const d = new ReplyDecoder();
    const got: Reply[] = [];
    for (let i = 0; i < stream.length; i += step) got.push(...d.push(stream.subarray(i, i + step)));
    assert.deepEqual(got, want);
    assert.ok(d.sawMarker);
    assert.match(d.noise, /Welcome to node-3/);
  });
}

test("ReplyDecoder: nothing before the marker is a reply", () => {
  const d = new ReplyDecoder();
  assert.deepEqual(d.push(Buffer.from("K\0\0\0\0E\0\0\0\0\0\0\0\0")), []);
  assert.equal(d.sawMarker, false);
});

test("ReplyDecoder: unknown tag is a protocol error", () => {
  const d = new ReplyDecoder();
  assert.throws(() => d.push(Buffer.concat([MARKER, Buffer.from("?")])), /unknown reply tag/);
});

test("APPLY_COMMAND: no shell metacharacters besides its own quotes; perl compiles the script", () => {
  const inner = APPLY_COMMAND.slice(APPLY_COMMAND.indexOf("'") + 1, APPLY_COMMAND.lastIndexOf("'"));
  assert.doesNotMatch(inner, /['\n\\`]/);
  assert.ok(APPLY_COMMAND.startsWith("exec perl -e '"));
  const r = spawnSync("perl", ["-c", "-e", APPLY_SCRIPT], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});
