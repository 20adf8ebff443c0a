// The real Perl helper (helper.pl as helper.ts assembles it) run locally on encodeOp output against
// a temp dir: one case per change kind, so the encoder and the helper cannot drift apart unnoticed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Change } from "../../reconciler/model/change.js";
import { relPath as p } from "../../reconciler/model/paths.js";
import type { DirEntry, FileEntry, SymlinkEntry } from "../../reconciler/model/snapshot.js";
import { END_OF_OPS, FRAME_END, FRAME_HOLE, ReplyDecoder, WIRE, encodeHeader, encodeOp, sendsContent, u32, type Reply } from "../../reconciler/transport/apply/protocol.js";
import { APPLY_SCRIPT } from "../../reconciler/transport/apply/helper.js";

const T = 1600000000123.25;

/** Header, then each op (with its content as one frame when it sends content), then the end tag. */
function run(root: string, ops: readonly (readonly [Buffer, Buffer?])[]): Reply[] {
  return runRaw(root, ops.flatMap(([op, body]) => (body ? [op, u32(body.length), body, u32(FRAME_END)] : [op])));
}

function runRaw(root: string, frames: readonly Buffer[]): Reply[] {
  const input = Buffer.concat([encodeHeader(root, { fsync: false, lockWaitMs: 1000 }), ...frames, END_OF_OPS]);
  const r = spawnSync("perl", ["-e", APPLY_SCRIPT], { input });
  assert.equal(r.stderr.toString(), "");
  const d = new ReplyDecoder();
  const replies = d.push(r.stdout);
  assert.ok(d.sawMarker, "the helper printed its marker");
  return replies;
}

function apply(root: string, c: Change, body?: string): Reply[] {
  assert.equal(sendsContent(c), body !== undefined, "content goes with exactly the ops that send it");
  return run(root, [[encodeOp(c), body === undefined ? undefined : Buffer.from(body, "latin1")]]);
}

const okEnd: Reply[] = [{ tag: "ok", index: 0 }, { tag: "end", ops: 1, ok: 1 }];

function fileAt(root: string, name: string, body: string, mode = 0o644): FileEntry {
  const f = join(root, name);
  fs.writeFileSync(f, body, "latin1");
  fs.chmodSync(f, mode);
  fs.utimesSync(f, 1500000000, 1500000000);
  const st = fs.lstatSync(f);
  return { kind: "file", size: st.size, mode, mtimeMs: st.mtimeMs };
}

function dirAt(root: string, name: string): DirEntry {
  fs.mkdirSync(join(root, name));
  return { kind: "dir", mode: fs.lstatSync(join(root, name)).mode & 0o7777, mtimeMs: fs.lstatSync(join(root, name)).mtimeMs };
}

const perm = (f: string): number => fs.lstatSync(f).mode & 0o7777;
const near = (a: number, b: number): boolean => Math.abs(a - b) < 0.002;

interface Case {
  readonly name: string;
  /** Prepares the root; returns the change and the content frame it sends, if any. */
  readonly setup: (root: string) => { change: Change; body?: string };
  readonly check: (root: string) => void;
}

const cases: Case[] = [
  {
    name: "mkdir",
    setup: () => ({ change: { kind: "mkdir", path: p("d"), after: { kind: "dir", mode: 0o750, mtimeMs: T } } }),
    check: (r) => {
      assert.ok(fs.lstatSync(join(r, "d")).isDirectory());
      assert.equal(perm(join(r, "d")), 0o750);
      assert.ok(near(fs.lstatSync(join(r, "d")).mtimeMs, T));
    },
  },
  {
    name: "create (content frames)",
    setup: () => ({ change: { kind: "create", path: p("n\xff"), after: { kind: "file", size: 5, mode: 0o640, mtimeMs: T } }, body: "hello" }),
    check: (r) => {
      const f = Buffer.concat([Buffer.from(r), Buffer.from("/n\xff", "latin1")]);
      assert.equal(fs.readFileSync(f, "latin1"), "hello");
      assert.equal(fs.lstatSync(f).mode & 0o7777, 0o640);
      assert.ok(near(fs.lstatSync(f).mtimeMs, T));
    },
  },
  {
    name: "create copied from a target file",
    setup: (r) => {
      const src = fileAt(r, "src", "copied bytes");
      return { change: { kind: "create", path: p("dst"), after: { ...src, mode: 0o600, mtimeMs: T }, from: { path: p("src"), entry: src } } };
    },
    check: (r) => {
      assert.equal(fs.readFileSync(join(r, "dst"), "latin1"), "copied bytes");
      assert.equal(fs.readFileSync(join(r, "src"), "latin1"), "copied bytes", "the source stays");
      assert.equal(perm(join(r, "dst")), 0o600);
    },
  },
  {
    name: "create hard-linked to a target file, replacing a separate copy of it",
    setup: (r) => {
      const leader = fileAt(r, "leader", "shared bytes");
      const copy = fileAt(r, "copy", "shared bytes");
      return { change: { kind: "create", path: p("copy"), before: copy, after: leader, from: { path: p("leader"), entry: leader, link: true } } };
    },
    check: (r) => {
      const a = fs.lstatSync(join(r, "leader"));
      const b = fs.lstatSync(join(r, "copy"));
      assert.equal(b.ino, a.ino, "one inode");
      assert.equal(a.nlink, 2);
      assert.equal(fs.readFileSync(join(r, "copy"), "latin1"), "shared bytes");
    },
  },
  {
    name: "update",
    setup: (r) => {
      const before = fileAt(r, "f", "old");
      return { change: { kind: "update", path: p("f"), before, after: { kind: "file", size: 7, mode: 0o644, mtimeMs: T } }, body: "newer!!" };
    },
    check: (r) => assert.equal(fs.readFileSync(join(r, "f"), "latin1"), "newer!!"),
  },
  {
    name: "symlink (raw target bytes, never followed)",
    setup: () => ({ change: { kind: "symlink", path: p("l"), after: { kind: "symlink", target: "x\xff/../y", mode: 0o777, mtimeMs: T } as SymlinkEntry } }),
    check: (r) => assert.equal(fs.readlinkSync(join(r, "l"), { encoding: "buffer" }).toString("latin1"), "x\xff/../y"),
  },
  {
    name: "chmod",
    setup: (r) => {
      const before = fileAt(r, "f", "x");
      return { change: { kind: "chmod", path: p("f"), before, after: { ...before, mode: 0o600 } } };
    },
    check: (r) => assert.equal(perm(join(r, "f")), 0o600),
  },
  {
    name: "chown",
    setup: (r) => {
      const before = fileAt(r, "f", "x");
      return { change: { kind: "chown", path: p("f"), before, after: { ...before, uid: 4321, gid: 4322 } } };
    },
    check: (r) => assert.deepEqual([fs.lstatSync(join(r, "f")).uid, fs.lstatSync(join(r, "f")).gid], [4321, 4322]),
  },
  {
    name: "touch",
    setup: (r) => {
      const before = dirAt(r, "d");
      return { change: { kind: "touch", path: p("d"), before, after: { ...before, mtimeMs: T } } };
    },
    check: (r) => assert.ok(near(fs.lstatSync(join(r, "d")).mtimeMs, T)),
  },
  {
    name: "delete",
    setup: (r) => ({ change: { kind: "delete", path: p("f"), before: fileAt(r, "f", "gone") } }),
    check: (r) => assert.equal(fs.existsSync(join(r, "f")), false),
  },
  {
    name: "rmdir",
    setup: (r) => ({ change: { kind: "rmdir", path: p("d"), before: dirAt(r, "d") } }),
    check: (r) => assert.equal(fs.existsSync(join(r, "d")), false),
  },
];

for (const c of cases) {
  test(`helper.pl on encodeOp output: ${c.name}`, () => {
    const root = fs.mkdtempSync(join(tmpdir(), "tsync-helper-"));
    try {
      const { change, body } = c.setup(root);
      assert.deepEqual(apply(root, change, body), okEnd);
      c.check(root);
      assert.equal(fs.existsSync(join(root, WIRE.STAGE_DIR)), false, "staging dir removed");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

test("helper.pl refuses an unknown op kind (fatal protocol error), never treats it as a metadata change", () => {
  const root = fs.mkdtempSync(join(tmpdir(), "tsync-helper-"));
  try {
    const before = fileAt(root, "f", "x", 0o644);
    const op = encodeOp({ kind: "chmod", path: p("f"), before, after: { ...before, mode: 0o600 } });
    op.write("q", 5, "latin1"); // the kind byte, right after 'O' and the length
    const replies = run(root, [[op]]);
    assert.equal(replies.length, 1);
    assert.equal(replies[0]!.tag, "fatal");
    assert.equal((replies[0] as Extract<Reply, { tag: "fatal" }>).code, WIRE.C_PROTOCOL);
    assert.match((replies[0] as Extract<Reply, { tag: "fatal" }>).message, /unknown op kind 0x71/);
    assert.equal(perm(join(root, "f")), 0o644, "nothing was changed");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("helper.pl: hole frames become unallocated holes (seek), a trailing hole by the final truncate", () => {
  const root = fs.mkdtempSync(join(tmpdir(), "tsync-helper-"));
  try {
    const MiB = 1 << 20;
    const size = 2 * MiB + 4096 + 8 * MiB;
    const op = encodeOp({ kind: "create", path: p("sparse"), after: { kind: "file", size, mode: 0o644, mtimeMs: T } });
    const hole = (n: number) => [u32(FRAME_HOLE), u32(n)];
    const data = Buffer.alloc(4096, 0x61);
    const replies = runRaw(root, [op, ...hole(2 * MiB), u32(data.length), data, ...hole(8 * MiB), u32(FRAME_END)]);
    assert.deepEqual(replies, okEnd);
    const f = join(root, "sparse");
    const st = fs.statSync(f);
    assert.equal(st.size, size);
    assert.ok(st.blocks * 512 <= 64 * 1024, `allocated ${st.blocks * 512} bytes`);
    const want = Buffer.alloc(size);
    data.copy(want, 2 * MiB);
    assert.ok(fs.readFileSync(f).equals(want), "byte-exact");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
