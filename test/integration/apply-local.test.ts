// The apply engine end to end on real directories: LocalTransport → sh → perl helper.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import type { Change } from "../../reconciler/model/change.js";
import { absBytes, relPath, toBytes, type RelPath } from "../../reconciler/model/paths.js";
import type { DirEntry, Entry, FileEntry, SymlinkEntry } from "../../reconciler/model/snapshot.js";
import { applyOverStream } from "../../reconciler/transport/apply/stream.js";
import { LocalTransport, spawnApplyHelper } from "../../reconciler/transport/local/local-transport.js";
import { APPLY_COMMAND } from "../../reconciler/transport/apply/helper.js";
import type { ContentSource } from "../../reconciler/transport/types.js";
import { rewrittenWhileSent } from "../support/sources.js";
import type { Manifest, Sync, SyncRules } from "../../reconciler/model/manifest.js";
import { Fleet } from "../../reconciler/run/fleet.js";
import { createSyncEngine } from "../../reconciler/watch/sync-engine.js";
import { planSync } from "../../reconciler/core/planner.js";

const base = fs.mkdtempSync(join(tmpdir(), "tsync-apply-"));
after(() => fs.rmSync(base, { recursive: true, force: true }));
let seq = 0;
const fresh = (): string => join(base, `t${++seq}`);
const t = new LocalTransport({ lockWaitMs: 5000 });
const p = relPath;
const T0 = 1_600_000_000_000.25; // a quarter millisecond: exercises sub-second times
const abs = (root: string, rel: string): Buffer => absBytes(root, p(rel));

function mem(files: Record<string, string>): ContentSource {
  return { open: async (path: RelPath) => ({ stream: Readable.from([toBytes(files[path] ?? "")]) }) };
}
const fileE = (content: string, mode = 0o644, mtimeMs = T0): FileEntry => ({ kind: "file", size: Buffer.byteLength(content, "latin1"), mode, mtimeMs });
const dirE = (mode = 0o755, mtimeMs = T0): DirEntry => ({ kind: "dir", mode, mtimeMs });
const linkE = (target: string): SymlinkEntry => ({ kind: "symlink", target, mode: 0o777, mtimeMs: T0 });

/** What a scanner would report for an existing path (the `before` of a change). */
function seen(path: Buffer | string): Entry {
  const s = fs.lstatSync(path);
  const meta = { mode: s.mode & 0o7777, mtimeMs: s.mtimeMs };
  if (s.isSymbolicLink()) return { kind: "symlink", target: fs.readlinkSync(path, { encoding: "buffer" }).toString("latin1"), ...meta };
  if (s.isDirectory()) return { kind: "dir", ...meta };
  return { kind: "file", size: s.size, ...meta };
}
const creates = (files: Record<string, string>): Change[] =>
  Object.entries(files).map(([k, v]) => ({ kind: "create", path: p(k), after: fileE(v) }));
const stagingLeft = (root: string): string[] => (fs.existsSync(join(root, ".tsync-tmp")) ? fs.readdirSync(join(root, ".tsync-tmp")) : []);
function assertTime(path: Buffer | string, ms: number): void {
  const ns = fs.lstatSync(path, { bigint: true }).mtimeNs;
  const diff = Number(ns - BigInt(Math.round(ms * 1e6)));
  assert.ok(Math.abs(diff) < 2000, `mtime off by ${diff} ns`);
}

test("create, mkdir and symlink into a root the plan creates", async () => {
  const root = fresh();
  const files = { "d/a.txt": "alpha", "b.bin": "\0\xff\x01" };
  const r = await t.apply(root, [
    { kind: "mkdir", path: p(""), after: dirE(0o750) },
    { kind: "mkdir", path: p("d"), after: dirE(0o700) },
    ...creates(files),
    { kind: "symlink", path: p("ln"), after: linkE("d/a.txt") },
  ], mem(files));
  assert.deepEqual(r, { applied: 5, bytes: 8, problems: [] });
  assert.equal(fs.readFileSync(join(root, "d/a.txt"), "utf8"), "alpha");
  assert.deepEqual(fs.readFileSync(join(root, "b.bin")), Buffer.from([0, 255, 1]));
  assert.equal(fs.statSync(join(root, "d/a.txt")).mode & 0o7777, 0o644);
  assert.equal(fs.statSync(join(root, "d")).mode & 0o7777, 0o700);
  assert.equal(fs.statSync(root).mode & 0o7777, 0o750);
  assertTime(join(root, "d/a.txt"), T0);
  assert.equal(fs.readlinkSync(join(root, "ln")), "d/a.txt");
  assert.deepEqual(stagingLeft(root), []);
  assert.equal(fs.existsSync(join(root, ".tsync-tmp")), false, "the staging dir is removed after a run");
});

test("a missing root is not created unless the plan says mkdir \"\"", async () => {
  const root = fresh();
  const r = await t.apply(root, creates({ a: "x" }), mem({ a: "x" }));
  assert.equal(r.applied, 0);
  assert.match(r.problems[0]!.message, /root does not exist/);
  assert.equal(fs.existsSync(root), false);
});

test("update replaces by rename; delete, rmdir; rmdir of a non-empty dir is a problem", async () => {
  const root = fresh();
  fs.mkdirSync(join(root, "empty"), { recursive: true });
  fs.mkdirSync(join(root, "full"));
  fs.writeFileSync(join(root, "full/keep"), "k");
  fs.writeFileSync(join(root, "f"), "old");
  fs.writeFileSync(join(root, "gone"), "g");
  fs.symlinkSync("/etc/passwd", join(root, "link"));
  const ino = fs.statSync(join(root, "f")).ino;
  const r = await t.apply(root, [
    { kind: "update", path: p("f"), before: seen(join(root, "f")) as FileEntry, after: fileE("newer", 0o600, T0 + 1) },
    { kind: "delete", path: p("gone"), before: seen(join(root, "gone")) },
    { kind: "delete", path: p("link"), before: seen(join(root, "link")) },
    { kind: "rmdir", path: p("empty"), before: seen(join(root, "empty")) as DirEntry },
    { kind: "rmdir", path: p("full"), before: seen(join(root, "full")) as DirEntry },
  ], mem({ f: "newer" }));
  assert.equal(r.applied, 4);
  assert.deepEqual(r.problems.map((x) => [x.path, x.code, x.message]), [["full", "io", "directory not empty"]]);
  assert.equal(fs.readFileSync(join(root, "f"), "utf8"), "newer");
  assert.notEqual(fs.statSync(join(root, "f")).ino, ino);
  assert.equal(fs.statSync(join(root, "f")).mode & 0o777, 0o600);
  assertTime(join(root, "f"), T0 + 1);
  assert.deepEqual(fs.readdirSync(root).sort(), ["f", "full"]);
  assert.ok(fs.existsSync("/etc/passwd"));
});

test("chmod and touch on files and dirs; chmod of a symlink never reaches its target", async () => {
  const root = fresh();
  fs.mkdirSync(join(root, "d"), { recursive: true });
  fs.writeFileSync(join(root, "f"), "x");
  const outside = join(base, `outside-${seq}`);
  fs.writeFileSync(outside, "o", { mode: 0o644 });
  fs.symlinkSync(outside, join(root, "l"));
  const f = seen(join(root, "f")) as FileEntry;
  const d = seen(join(root, "d")) as DirEntry;
  const l = seen(join(root, "l")) as SymlinkEntry;
  const r = await t.apply(root, [
    { kind: "chmod", path: p("f"), before: f, after: { ...f, mode: 0o640 } },
    { kind: "chmod", path: p("l"), before: l, after: { ...l, mode: 0o600 } },
    { kind: "touch", path: p("d"), before: d, after: { ...d, mtimeMs: T0 + 0.5 } },
    { kind: "touch", path: p(""), before: seen(root), after: { ...dirE(), mtimeMs: T0 } },
  ], mem({}));
  assert.deepEqual(r.problems, []);
  assert.equal(r.applied, 4);
  assert.equal(fs.statSync(join(root, "f")).mode & 0o777, 0o640);
  assert.equal(fs.statSync(outside).mode & 0o777, 0o644);
  assertTime(join(root, "d"), T0 + 0.5);
  assertTime(root, T0);
});

const HOSTILE = [
  "new\nline", "quote'\"s", "$(touch PWNED)", "`touch PWNED2`", "-rf", "--help", "back\\slash", " lead space",
  "\xff\xfe\x80 not utf8", "semi;colon|pipe&amp", "*?[glob]", "é utf8", "a".repeat(255),
];

test("hostile names round-trip byte-exact, nothing is executed", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const files: Record<string, string> = {};
  const changes: Change[] = [];
  for (const n of HOSTILE) {
    changes.push({ kind: "mkdir", path: p(n), after: dirE() });
    files[`${n}/${n}`] = `content of ${n}`;
    changes.push({ kind: "create", path: p(`${n}/${n}`), after: fileE(files[`${n}/${n}`]!) });
    changes.push({ kind: "symlink", path: p(`${n}/link`), after: linkE(`../${n}/${n}`) });
  }
  const r = await t.apply(root, changes, mem(files));
  assert.deepEqual(r.problems, []);
  assert.equal(r.applied, changes.length);
  const top = fs.readdirSync(root, { encoding: "buffer" }).map((b) => b.toString("latin1")).filter((n) => n !== ".tsync-tmp");
  assert.deepEqual(top.sort(), [...HOSTILE].sort());
  for (const n of HOSTILE) {
    assert.deepEqual(fs.readFileSync(abs(root, `${n}/${n}`)), toBytes(files[`${n}/${n}`]!));
    assert.deepEqual(fs.readlinkSync(abs(root, `${n}/link`), { encoding: "buffer" }), toBytes(`../${n}/${n}`));
  }
  for (const dir of [root, process.cwd(), base]) assert.ok(!fs.readdirSync(dir).some((x) => x.startsWith("PWNED")));
});

function snapshotDir(dir: string): string {
  return fs.readdirSync(dir).sort().map((n) => `${n}=${fs.readFileSync(join(dir, n), "latin1")}`).join(",");
}

test("a planted dir symlink is replaced by a real dir; nothing lands in the outside dir", async () => {
  const root = fresh();
  const outside = fresh();
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(join(outside, "secret"), "s");
  fs.symlinkSync(outside, join(root, "uploads"));
  const before = snapshotDir(outside);
  // A plan made after the symlink was planted: it replaces the link, then writes below a real dir.
  const r1 = await t.apply(root, [
    { kind: "mkdir", path: p("uploads"), before: seen(join(root, "uploads")), after: dirE() },
    ...creates({ "uploads/x": "1", "uploads/secret": "overwrite" }),
  ], mem({ "uploads/x": "1", "uploads/secret": "overwrite" }));
  assert.deepEqual(r1.problems, []);
  assert.ok(fs.lstatSync(join(root, "uploads")).isDirectory());
  assert.equal(snapshotDir(outside), before);
  // A plan made before it was planted: it writes below "uploads" thinking it is a dir. Refused.
  fs.rmSync(join(root, "uploads"), { recursive: true });
  fs.symlinkSync(outside, join(root, "uploads"));
  const r2 = await t.apply(root, [...creates({ "uploads/y": "2" }), { kind: "mkdir", path: p("uploads/sub"), after: dirE() },
    ...creates({ "uploads/sub/z": "3" }), ...creates({ ok: "fine" })], mem({ "uploads/y": "2", "uploads/sub/z": "3", ok: "fine" }));
  assert.deepEqual(r2.problems.map((x) => [x.path, x.code]), [["uploads/y", "unsafe"], ["uploads/sub", "unsafe"], ["uploads/sub/z", "unsafe"]]);
  assert.equal(r2.applied, 1);
  assert.equal(snapshotDir(outside), before);
  assert.deepEqual(stagingLeft(root), []);
});

test("a file symlink where a file goes is replaced, its target untouched; a stale plan is refused", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const secret = join(base, `secret-${seq}`);
  fs.writeFileSync(secret, "do not touch");
  fs.symlinkSync(secret, join(root, "index.php"));
  fs.symlinkSync(secret, join(root, "wp-config.php"));
  const r = await t.apply(root, [
    { kind: "create", path: p("index.php"), before: seen(join(root, "index.php")), after: fileE("<?php") },
    // Planned when wp-config.php was a file; it is a symlink now.
    { kind: "update", path: p("wp-config.php"), before: fileE("old"), after: fileE("new") },
  ], mem({ "index.php": "<?php", "wp-config.php": "new" }));
  assert.deepEqual(r.problems.map((x) => [x.path, x.code]), [["wp-config.php", "stale"]]);
  assert.ok(fs.lstatSync(join(root, "index.php")).isFile());
  assert.equal(fs.readFileSync(join(root, "index.php"), "utf8"), "<?php");
  assert.equal(fs.readFileSync(secret, "utf8"), "do not touch");
  assert.ok(fs.lstatSync(join(root, "wp-config.php")).isSymbolicLink());
});

test("stale before: changed size or mtime, unexpected presence, vanished path → stale, untouched", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  for (const n of ["a", "b", "c"]) fs.writeFileSync(join(root, n), n);
  const a = seen(join(root, "a")) as FileEntry;
  const b = seen(join(root, "b")) as FileEntry;
  const r = await t.apply(root, [
    { kind: "update", path: p("a"), before: { ...a, size: 99 }, after: fileE("A") },
    { kind: "update", path: p("b"), before: { ...b, mtimeMs: b.mtimeMs - 1000 }, after: fileE("B") },
    { kind: "create", path: p("c"), after: fileE("C") },
    { kind: "delete", path: p("nope"), before: fileE("x") },
    { kind: "chmod", path: p("a"), before: { ...a, mtimeMs: a.mtimeMs + 1 }, after: { ...a, mode: 0o600 } },
  ], mem({ a: "A", b: "B", c: "C" }));
  assert.deepEqual(r.problems.map((x) => x.code), ["stale", "stale", "stale", "stale", "stale"]);
  for (const n of ["a", "b", "c"]) assert.equal(fs.readFileSync(join(root, n), "utf8"), n);
  assert.equal(fs.statSync(join(root, "a")).mode & 0o777, 0o644);
});

test("a source whose size differs from the plan: problem, no partial file, the rest carries on", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const r = await t.apply(root, [
    { kind: "create", path: p("short"), after: fileE("0123456789") },
    { kind: "create", path: p("long"), after: fileE("01") },
    { kind: "create", path: p("missing"), after: fileE("x") },
    ...creates({ good: "ok" }),
  ], {
    open: async (path) => {
      if (path === "missing") throw new Error("ENOENT: gone");
      return { stream: Readable.from([Buffer.from(path === "short" ? "01234" : path === "long" ? "0123456" : "ok")]) };
    },
  });
  assert.deepEqual(r.problems.map((x) => [x.path, x.code, x.message]), [
    ["short", "io", "source changed: 5 bytes, the plan says 10"],
    ["long", "io", "source changed: more than the planned 2 bytes"],
    ["missing", "io", "cannot read source: ENOENT: gone"],
  ]);
  assert.deepEqual(fs.readdirSync(root).sort(), ["good"]);
  assert.deepEqual(stagingLeft(root), []);
});

test("a large source file rewritten in place while it is sent: never placed torn, reported; the next apply converges", async () => {
  const src = fresh();
  const root = fresh();
  fs.mkdirSync(src);
  fs.mkdirSync(root);
  const file = join(src, "big.bin");
  const SIZE = 4 << 20; // several read chunks, so the rewrite lands between them
  fs.writeFileSync(file, Buffer.alloc(SIZE, 0x6f));
  fs.utimesSync(file, 1_500_000_000, 1_500_000_000); // the rewrite's mtime (now) is then surely different
  const planned = (): Change[] => [{ kind: "create", path: p("big.bin"), after: seen(file) as FileEntry }];
  const cs = rewrittenWhileSent(t.contentSource(src), file, Buffer.alloc(SIZE, 0x6e));
  const r1 = await t.apply(root, planned(), cs);
  assert.equal(cs.rewrites, 1);
  assert.equal(r1.applied, 0);
  assert.deepEqual(r1.problems.map((x) => [x.path, x.code]), [["big.bin", "io"]]);
  assert.match(r1.problems[0]!.message, /source changed while it was read/);
  assert.equal(fs.existsSync(join(root, "big.bin")), false, "the torn file was not put in place");
  assert.deepEqual(stagingLeft(root), []);

  const r2 = await t.apply(root, planned(), t.contentSource(src));
  assert.deepEqual(r2, { applied: 1, bytes: SIZE, problems: [] });
  assert.ok(fs.readFileSync(join(root, "big.bin")).equals(Buffer.alloc(SIZE, 0x6e)));
});

test("watch's engine: a file rewritten in place during its transfer comes back as sourceChanged (sent again next batch), then converges", async () => {
  const src = fresh();
  const dst = fresh();
  fs.mkdirSync(src);
  fs.mkdirSync(dst);
  const file = join(src, "upload.bin");
  const SIZE = 4 << 20;
  fs.writeFileSync(file, Buffer.alloc(SIZE, 0x6f));
  fs.utimesSync(file, 1_500_000_000, 1_500_000_000);
  const sync: Sync = {
    name: "site", source: { path: src }, targets: [{ path: dst }], delayMs: 0, audit: {}, onDrift: "heal",
    rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
  };
  const manifest: Manifest = { file: "tsync.yaml", digest: "d", settings: { maxProcesses: 2, statusFile: join(src, "..", "status") }, hosts: new Map(), syncs: [sync] };
  let tamper = true;
  const local = new (class extends LocalTransport {
    override contentSource(root: string): ContentSource {
      const inner = super.contentSource(root);
      return tamper ? (tamper = false, rewrittenWhileSent(inner, file, Buffer.alloc(SIZE, 0x6e))) : inner;
    }
  })();
  const fleet = new (class extends Fleet {
    override transport(): LocalTransport {
      return local;
    }
  })(manifest);
  const engine = createSyncEngine(manifest, fleet);
  const only = [p("upload.bin")];
  const [tp1] = await engine.plan(sync, { only });
  const r1 = await engine.apply(tp1!);
  assert.equal(r1.ok, false);
  assert.deepEqual(r1.sourceChanged, only);
  assert.equal(fs.existsSync(join(dst, "upload.bin")), false, "the torn file was not put in place");
  const [tp2] = await engine.plan(sync, { only });
  const r2 = await engine.apply(tp2!);
  assert.equal(r2.ok, true, r2.error);
  assert.ok(fs.readFileSync(join(dst, "upload.bin")).equals(Buffer.alloc(SIZE, 0x6e)));
});

test("a sparse source file stays sparse: holes are neither sent nor allocated on the target, content byte-exact", async () => {
  const src = fresh();
  const root = fresh();
  fs.mkdirSync(src);
  fs.mkdirSync(root);
  const file = join(src, "disk.img");
  const SIZE = 64 << 20;
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 32 << 20);
  fs.ftruncateSync(fd, SIZE);
  fs.closeSync(fd);
  assert.ok(fs.statSync(file).blocks * 512 <= 8192, "the source really is sparse");
  const helper = spawnApplyHelper();
  let wire = 0;
  const counting = new PassThrough();
  counting.on("data", (d: Buffer) => (wire += d.length));
  counting.pipe(helper.stdin);
  const r = await applyOverStream({ ...helper, stdin: counting }, root, [{ kind: "create", path: p("disk.img"), after: seen(file) as FileEntry }], t.contentSource(src));
  assert.deepEqual(r, { applied: 1, bytes: 4096, problems: [] });
  assert.ok(wire < 16 * 1024, `${wire} bytes on the wire`);
  const st = fs.statSync(join(root, "disk.img"));
  assert.equal(st.size, SIZE);
  assert.ok(st.blocks * 512 <= 64 * 1024, `target allocates ${st.blocks * 512} bytes`);
  assert.ok(fs.readFileSync(join(root, "disk.img")).equals(fs.readFileSync(file)), "byte-exact");
});

test("preserve hardlinks: five names of one inode are one inode on the target, sent once; a re-plan is empty", async () => {
  const src = fresh();
  const root = fresh();
  fs.mkdirSync(join(src, "d"), { recursive: true });
  fs.mkdirSync(root);
  const body = Buffer.alloc(5 << 20, 0x6c);
  fs.writeFileSync(join(src, "a"), body);
  for (const n of ["b", "c", "d/e", "d/f"]) fs.linkSync(join(src, "a"), join(src, n));
  fs.writeFileSync(join(root, "c"), body); // a separate copy already there: replaced by a link
  const rules: SyncRules = { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false, hardlinks: true } };
  const opts = { exclude: () => false, owners: false, hash: "none", links: true } as const;
  const plan = planSync(await t.scan(src, opts), await t.scan(root, opts), rules);
  const r = await t.apply(root, plan, t.contentSource(src));
  assert.deepEqual(r.problems, []);
  assert.equal(r.bytes, body.length, "the content is sent once");
  const inodes = new Set(["a", "b", "c", "d/e", "d/f"].map((n) => fs.lstatSync(join(root, n)).ino));
  assert.equal(inodes.size, 1, "one inode");
  assert.equal(fs.lstatSync(join(root, "a")).nlink, 5);
  assert.ok(fs.readFileSync(join(root, "d/f")).equals(body));
  assert.deepEqual(planSync(await t.scan(src, opts), await t.scan(root, opts), rules), []);
  assert.deepEqual(stagingLeft(root), []);
});

test("content that does not match the plan's hash is not put in place (same size, same times)", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const hash = createHash("blake2b512").update("planned").digest("hex");
  const r = await t.apply(root, [{ kind: "create", path: p("f"), after: { ...fileE("planned"), hash } }], mem({ f: "PLANNED" }));
  assert.deepEqual(r.problems.map((x) => [x.path, x.code, x.message]), [["f", "io", "source changed: the content read is not what the plan hashed"]]);
  assert.equal(fs.existsSync(join(root, "f")), false);
  const ok = await t.apply(root, [{ kind: "create", path: p("f"), after: { ...fileE("planned"), hash } }], mem({ f: "planned" }));
  assert.deepEqual(ok.problems, []);
});

test("LocalTransport content source refuses a source symlink and streams bytes by raw name", async () => {
  const src = fresh();
  fs.mkdirSync(src);
  fs.symlinkSync("/etc/passwd", join(src, "sneaky"));
  fs.writeFileSync(abs(src, "\xff\n"), "raw");
  const cs = t.contentSource(src);
  await assert.rejects(cs.open(p("sneaky")));
  const chunks: Buffer[] = [];
  for await (const c of (await cs.open(p("\xff\n"))).stream) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), "raw");
  assert.equal(await t.readFile(src, p("sneaky")), undefined);
  assert.equal((await t.readFile(src, p("\xff\n")))?.toString(), "raw");
});

/** A 1 MiB-chunk generator of `total` bytes; calls `at(bytesSoFar)` after each chunk. */
function generated(total: number, fill: number, at?: (n: number) => void): Readable {
  const chunk = Buffer.alloc(1 << 20, fill);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      at?.(sent);
    },
  });
}

/** Polls a file from another thread, classifying what each open() saw. */
function startReader(file: string, oldSize: number, newSize: number): { stop(): Promise<Record<string, number>> } {
  const w = new Worker(`
    const { parentPort, workerData: { file, oldSize, newSize } } = require("node:worker_threads");
    const fs = require("node:fs");
    const seen = { old: 0, new: 0, bad: 0 };
    let run = true;
    parentPort.on("message", () => { run = false; });
    const buf = Buffer.alloc(4096);
    function poll() {
      const end = Date.now() + 20;
      while (run && Date.now() < end) {
        let fd; try { fd = fs.openSync(file, "r"); } catch { seen.bad++; continue; }
        const size = fs.fstatSync(fd).size;
        const want = size === oldSize ? 0x6f : size === newSize ? 0x6e : -1;
        let ok = want >= 0;
        for (const at of [0, Math.max(0, size - 4096), Math.floor(size / 2)]) {
          const n = fs.readSync(fd, buf, 0, 4096, at);
          for (let i = 0; ok && i < n; i++) if (buf[i] !== want) ok = false;
        }
        fs.closeSync(fd);
        seen[ok ? (want === 0x6f ? "old" : "new") : "bad"]++;
      }
      if (run) setImmediate(poll); else parentPort.postMessage(seen);
    }
    poll();`, { eval: true, workerData: { file, oldSize, newSize } });
  return {
    stop: async () => {
      const res = new Promise<Record<string, number>>((r) => w.once("message", r));
      w.postMessage("stop");
      const out = await res;
      await w.terminate();
      return out;
    },
  };
}

test("kill -9 of the helper mid-transfer: readers see only the old file; a re-run cleans up and converges", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const file = join(root, "big.bin");
  const OLD = 1 << 20;
  const NEW = 200 * (1 << 20) + 12345;
  fs.writeFileSync(file, Buffer.alloc(OLD, 0x6f));
  const before = seen(file) as FileEntry;
  const change: Change = { kind: "update", path: p("big.bin"), before, after: fileE("", 0o644, T0) };
  const plan = [{ ...change, after: { ...change.after, size: NEW } as FileEntry }];
  const reader = startReader(file, OLD, NEW);

  const helper = spawnApplyHelper();
  let killed = false;
  const r1 = await applyOverStream(helper, root, plan, {
    open: async () => ({
      stream: generated(NEW, 0x6e, (n) => {
        if (!killed && n >= 80 << 20) { killed = true; process.kill(helper.pid!, "SIGKILL"); }
      }),
    }),
  });
  assert.equal(r1.applied, 0);
  assert.equal(r1.problems.length, 1);
  assert.match(r1.problems[0]!.message, /exited with code 137/);
  assert.equal(stagingLeft(root).length, 1, "the killed run leaves its staging file behind");
  assert.equal(fs.statSync(file).size, OLD);

  const r2 = await t.apply(root, plan, { open: async () => ({ stream: generated(NEW, 0x6e) }) });
  assert.deepEqual(r2, { applied: 1, bytes: NEW, problems: [] });
  const seenByReader = await reader.stop();
  assert.equal(seenByReader.bad, 0, JSON.stringify(seenByReader));
  assert.ok(seenByReader.old! > 0, JSON.stringify(seenByReader));
  assert.deepEqual(stagingLeft(root), []);
  assert.equal(fs.statSync(file).size, NEW);
  assertTime(file, T0);
});

test("kill -9 of tsync itself mid-transfer: the helper exits, drops its staging file and frees the lock", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const mod = new URL("../../reconciler/transport/local/local-transport.js", import.meta.url).href;
  const script = `
    const { LocalTransport } = await import(${JSON.stringify(mod)});
    const { Readable } = await import("node:stream");
    let n = 0;
    const src = { open: async () => ({ stream: new Readable({ read() { if (n++ === 8) process.stdout.write("mid\\n"); if (n < 10) this.push(Buffer.alloc(1 << 20, 1)); } }) }) };
    await new LocalTransport().apply(${JSON.stringify(root)}, [{ kind: "create", path: "f", after: { kind: "file", size: 100 << 20, mode: 420, mtimeMs: 1 } }], src);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((res) => child.stdout.on("data", () => res()));
  await new Promise((res) => setTimeout(res, 200));
  child.kill("SIGKILL");
  const r = await t.apply(root, creates({ g: "after" }), mem({ g: "after" }));
  assert.deepEqual(r.problems, []);
  assert.equal(fs.existsSync(join(root, "f")), false);
  assert.deepEqual(stagingLeft(root), []);
});

function stalled(): { source: ContentSource; release(): void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const source: ContentSource = {
    open: async () => ({ stream: Readable.from((async function* () { yield Buffer.from("a"); await gate; yield Buffer.from("b"); })()) }),
  };
  return { source, release };
}

test("a concurrent apply on the same root waits for the lock, or fails clearly when the wait runs out", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const plan: Change[] = [{ kind: "create", path: p("slow"), after: fileE("ab") }];
  const s = stalled();
  const first = t.apply(root, plan, s.source);
  await new Promise((r) => setTimeout(r, 300));
  const busy = await t.apply(root, creates({ x: "x" }), mem({ x: "x" }), { lockWaitMs: 200 });
  assert.equal(busy.applied, 0);
  assert.match(busy.problems[0]!.message, /another tsync apply is running on /);
  const waiting = t.apply(root, creates({ y: "y" }), mem({ y: "y" }));
  setTimeout(() => s.release(), 300);
  assert.deepEqual(await first, { applied: 1, bytes: 2, problems: [] });
  assert.deepEqual(await waiting, { applied: 1, bytes: 1, problems: [] });
  assert.equal(fs.existsSync(join(root, "x")), false);
});

test("abort signal mid-file: no partial file, the result says it was interrupted", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const ac = new AbortController();
  const s = stalled();
  const run = t.apply(root, [{ kind: "create", path: p("slow"), after: fileE("ab") }, ...creates({ later: "l" })],
    { open: async (path) => (path === "slow" ? s.source.open(path) : mem({ later: "l" }).open(path)) }, { signal: ac.signal });
  await new Promise((r) => setTimeout(r, 200));
  ac.abort();
  s.release();
  const r = await run;
  assert.equal(r.applied, 0);
  assert.deepEqual(r.problems.map((x) => [x.path, x.message]), [["slow", "apply aborted"], ["later", "apply aborted before this change"]]);
  assert.deepEqual(fs.readdirSync(root), []);
  assert.deepEqual(stagingLeft(root), []);
});

test("replies are found behind login-shell noise; a missing perl is reported, not hung on", async () => {
  const root = fresh();
  fs.mkdirSync(root);
  const run = (prefix: string) => {
    const child = spawn("sh", ["-c", `${prefix}${APPLY_COMMAND}`], { stdio: ["pipe", "pipe", "pipe"] });
    const done = new Promise<number>((res) => child.on("close", (c) => res(c ?? 1)));
    return applyOverStream({ stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, done }, root, creates({ a: "1" }), mem({ a: "1" }));
  };
  assert.deepEqual(await run(`printf 'Last login: today\\n\\0TSYNC-APP\\0K\\0\\0\\0\\0'; `), { applied: 1, bytes: 1, problems: [] });
  const r = await run("PATH=/nonexistent; ");
  assert.equal(r.applied, 0);
  assert.match(r.problems[0]!.message, /exited with code 127: .*perl.*not found/);
});

test("a symlink the plan itself puts where a dir was is never written through", async () => {
  const root = fresh();
  const outside = fresh();
  fs.mkdirSync(join(root, "x"), { recursive: true });
  fs.mkdirSync(outside);
  const r = await t.apply(root, [
    ...creates({ "x/a": "1" }),
    { kind: "delete", path: p("x/a"), before: fileE("1") },
    { kind: "rmdir", path: p("x"), before: seen(join(root, "x")) as DirEntry },
    { kind: "symlink", path: p("x"), after: linkE(outside) },
    ...creates({ "x/b": "2" }),
  ], mem({ "x/a": "1", "x/b": "2" }));
  assert.deepEqual(r.problems.map((x) => [x.path, x.code]), [["x/b", "unsafe"]]);
  assert.equal(fs.readlinkSync(join(root, "x")), outside);
  assert.deepEqual(fs.readdirSync(outside), []);
});

test("owner and group are set when the entry carries them (root only)", { skip: process.getuid?.() !== 0 }, async () => {
  const root = fresh();
  fs.mkdirSync(root);
  fs.writeFileSync(join(root, "c"), "c");
  const c = seen(join(root, "c"));
  const r = await t.apply(root, [
    { kind: "mkdir", path: p("d"), after: { ...dirE(), uid: 1234, gid: 5678 } },
    { kind: "create", path: p("d/f"), after: { ...fileE("f", 0o4755), uid: 1234, gid: 5678 } },
    { kind: "symlink", path: p("l"), after: { ...linkE("c"), uid: 4321 } },
    { kind: "chown", path: p("c"), before: c, after: { ...c, gid: 99 } as Entry },
  ], mem({ "d/f": "f" }));
  assert.deepEqual(r.problems, []);
  const own = (n: string) => { const s = fs.lstatSync(join(root, n)); return [s.uid, s.gid]; };
  assert.deepEqual(own("d"), [1234, 5678]);
  assert.deepEqual(own("d/f"), [1234, 5678]);
  assert.equal(fs.statSync(join(root, "d/f")).mode & 0o7777, 0o4755, "setuid survives: chown happens before chmod");
  assert.deepEqual(own("l"), [4321, 0]);
  assert.deepEqual(own("c"), [0, 99]);
});

test("regression: an empty file followed by another file (a zero-length chunk once ended the frame early)", async () => {
  const root = fresh();
  const files = { "a-empty": "", "b-next": "#!/bin/sh\necho hi\n" };
  const r = await t.apply(root, [{ kind: "mkdir", path: p(""), after: dirE() }, ...creates(files)], mem(files));
  assert.deepEqual(r.problems, []);
  assert.equal(fs.readFileSync(join(root, "a-empty"), "utf8"), "");
  assert.equal(fs.readFileSync(join(root, "b-next"), "utf8"), files["b-next"]);
});
