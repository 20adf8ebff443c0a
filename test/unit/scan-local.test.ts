// The local scanner on real temporary trees (tmpfs or disk): byte names, symlinks, problems, excludes.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { timesEqual } from "../../reconciler/model/snapshot.js";
import { makeMatcher } from "../../reconciler/core/ignore.js";
import { absBytes, fromBytes, relPath, ROOT, type RelPath } from "../../reconciler/model/paths.js";
import { closeHashPool } from "../../reconciler/scan/hash-pool.js";
import { hashFileSync } from "../../reconciler/scan/hash-worker.js";
import { hashLocal, scanLocal } from "../../reconciler/scan/local.js";
import type { Entry, Snapshot } from "../../reconciler/model/snapshot.js";
import type { ScanOptions } from "../../reconciler/scan/options.js";
import type { Listing } from "../../reconciler/model/listing.js";

let root = "";
const opts = (over: Partial<ScanOptions> = {}): ScanOptions => ({ exclude: makeMatcher([]), owners: false, hash: "none", ...over });
const put = (rel: RelPath, data: string | Buffer = "x") => writeFileSync(absBytes(root, rel), data);
const dir = (rel: RelPath) => mkdirSync(absBytes(root, rel), { recursive: true });
const b = (...parts: (string | number[])[]) => fromBytes(Buffer.concat(parts.map((x) => (typeof x === "string" ? Buffer.from(x, "utf8") : Buffer.from(x)))));
const keys = (s: Snapshot) => [...s.keys()].sort();
const kind = (s: Snapshot, p: string): Entry["kind"] | undefined => s.get(p as RelPath)?.kind;

const hostile: RelPath[] = [
  b("new\nline"),
  b(`quo"te's`),
  b("$(touch pwned)"),
  b("-rf"),
  b("--help"),
  b("back\\slash"),
  b("sp ace "),
  b("tab\there"),
  b([0xff, 0xfe, 0x41]), // not UTF-8
  b("caf", [0xe9]), // latin1 é: not UTF-8 either
  b("日本語"),
  relPath("n".repeat(255)),
];

before(() => {
  root = mkdtempSync(join(tmpdir(), "tsync-scan-"));
  chmodSync(root, 0o755);
  for (const n of hostile) put(n, Buffer.from(n, "latin1"));
  dir(relPath("a/b"));
  put(relPath("a/b/c.php"), "<?php");
  put(relPath("a/keep.log"));
  put(relPath("a/drop.log"));
  dir(relPath("wp-content/cache/page"));
  put(relPath("wp-content/cache/page/index.html"));
  put(relPath("cache")); // a file named like the dir-only pattern
  dir(relPath(".tsync-tmp"));
  put(relPath(".tsync-tmp/partial"));
  symlinkSync("/etc", absBytes(root, relPath("etc-link")));
  symlinkSync("a", absBytes(root, relPath("a-link")));
  symlinkSync(Buffer.from([0x2e, 0x2f, 0xff]), absBytes(root, relPath("bytes-link"))); // target "./\xff"
  execFileSync("mkfifo", [join(root, "fifo")]);
  dir(relPath("modes"));
  chmodSync(join(root, "modes"), 0o2775);
  put(relPath("modes/sticky"));
  chmodSync(join(root, "modes/sticky"), 0o1600);
});

after(async () => {
  await closeHashPool();
  rmSync(root, { recursive: true, force: true });
});

test("scanLocal: hostile names come back as their exact bytes", async () => {
  const s = await scanLocal(root, opts());
  for (const n of hostile) {
    const e = s.get(n);
    assert.equal(e?.kind, "file", JSON.stringify(n));
    assert.equal(e.kind === "file" && e.size, Buffer.byteLength(n, "latin1"));
  }
});

test("scanLocal: the tree, with the root as a dir entry and the staging dir skipped", async () => {
  const s = await scanLocal(root, opts());
  assert.equal(kind(s, ""), "dir");
  assert.equal(kind(s, "a/b"), "dir");
  assert.equal(kind(s, "a/b/c.php"), "file");
  assert.equal(kind(s, ".tsync-tmp"), undefined);
  assert.equal(kind(s, ".tsync-tmp/partial"), undefined);
});

test("scanLocal: a tree over maxEntries stops with the count, also inside one big directory", async () => {
  const whole = (await scanLocal(root, opts())).size;
  await assert.rejects(scanLocal(root, opts({ maxEntries: whole - 1 })), /^Error: \d+ entries or more, over the \d+ that fit in this process's memory/);
  assert.equal((await scanLocal(root, opts({ maxEntries: whole }))).size, whole);
  // The root directory alone holds more names than the limit: refused before they are stat'ed.
  await assert.rejects(scanLocal(root, opts({ maxEntries: 3 })), /^Error: \d+ entries or more, over the 3 /);
});

test("scanLocal: symlinks are recorded, never followed", async () => {
  const s = await scanLocal(root, opts());
  assert.deepEqual(
    ["etc-link", "a-link", "bytes-link"].map((p) => (s.get(p as RelPath) as { target?: string }).target),
    ["/etc", "a", b("./", [0xff])],
  );
  assert.ok(![...s.keys()].some((k) => k.startsWith("etc-link/") || k.startsWith("a-link/")));
});

test("scanLocal: special files are problems, not content", async () => {
  const s = await scanLocal(root, opts());
  assert.deepEqual(s.get(relPath("fifo")), { kind: "problem", error: "is a FIFO, not a file, directory or symlink" });
});

test("scanLocal: mode keeps set-id and sticky bits; owners only when asked", async () => {
  const s = await scanLocal(root, opts());
  const m = s.get(relPath("modes")) as { mode: number; uid?: number };
  assert.equal(m.mode, 0o2775);
  assert.equal(m.uid, undefined);
  assert.equal((s.get(relPath("modes/sticky")) as { mode: number }).mode, 0o1600);
  const o = await scanLocal(root, opts({ owners: true }));
  assert.equal((o.get(relPath("modes")) as { uid?: number }).uid, process.getuid!());
  assert.equal((o.get(relPath("modes")) as { gid?: number }).gid, process.getgid!());
});

for (const only of [undefined, ["a", "wp-content"] as RelPath[]]) {
  test(`scanLocal: excludes apply during the ${only ? "partial walk" : "walk (find)"} (negation, dir-only), and the listing says so`, async () => {
    const exclude = makeMatcher(["*.log", "!keep.log", "cache/"]);
    const s = await scanLocal(root, opts({ exclude, ...(only ? { only } : {}) }));
    assert.equal(kind(s, "a/keep.log"), "file");
    assert.equal(kind(s, "a/drop.log"), undefined);
    assert.equal(kind(s, "wp-content"), "dir");
    assert.equal(kind(s, "wp-content/cache"), undefined);
    assert.equal(kind(s, "wp-content/cache/page/index.html"), undefined);
    if (!only) assert.equal(kind(s, "cache"), "file");
    // What lets the planner skip asking about each path again (planner.ts prepare).
    assert.equal((s as Listing).excludedBy, exclude.key);
  });
}

test("scanLocal: a matcher that excludes nothing still skips the staging dir", async () => {
  const s = await scanLocal(root, opts({ exclude: () => false }));
  assert.equal(kind(s, ".tsync-tmp"), undefined);
});

test("scanLocal: only the listed paths and their subtrees, plus the root", async () => {
  const s = await scanLocal(root, opts({ only: [relPath("a"), relPath("a/b/c.php"), hostile[0]!, relPath("missing"), relPath("etc-link/passwd"), relPath("nope/x")] }));
  assert.deepEqual(keys(s), [ROOT, relPath("a"), relPath("a/b"), relPath("a/b/c.php"), relPath("a/drop.log"), relPath("a/keep.log"), hostile[0]!].sort());
});

test("scanLocal: only returns ancestors as entries alone, not their subtrees", async () => {
  const s = await scanLocal(root, opts({ only: [relPath("a/b/c.php")] }));
  assert.deepEqual(keys(s), [ROOT, relPath("a"), relPath("a/b"), relPath("a/b/c.php")]);
  assert.equal(kind(s, "a"), "dir");
});

test("scanLocal: only respects excludes and the staging dir", async () => {
  const s = await scanLocal(root, opts({
    exclude: makeMatcher(["cache/", "*.log"]),
    only: [relPath("wp-content/cache/page/index.html"), relPath("a/drop.log"), relPath(".tsync-tmp/partial"), relPath("a-link")],
  }));
  assert.deepEqual(keys(s), [ROOT, "a-link"]);
});

test("scanLocal: a missing root is an empty snapshot", async () => {
  assert.equal((await scanLocal(join(root, "does-not-exist"), opts())).size, 0);
});

test("scanLocal: an unreadable directory becomes a problem and the walk continues", async (t) => {
  const base = mkdtempSync(join(tmpdir(), "tsync-eacces-"));
  chmodSync(base, 0o755);
  mkdirSync(join(base, "locked/inner"), { recursive: true });
  writeFileSync(join(base, "locked/inner/f"), "x");
  writeFileSync(join(base, "open"), "x");
  writeFileSync(join(base, "secret"), "x");
  chmodSync(join(base, "locked"), 0o000);
  chmodSync(join(base, "secret"), 0o000);
  t.after(() => rmSync(base, { recursive: true, force: true }));
  // root reads everything, so the scan runs in a child process as `nobody` to meet a real EACCES.
  const local = new URL("../../reconciler/scan/local.js", import.meta.url).href;
  const ignore = new URL("../../reconciler/core/ignore.js", import.meta.url).href;
  const script = join(base, "scan-as-nobody.mjs");
  writeFileSync(script, `
    const { scanLocal, hashLocal } = await import(${JSON.stringify(local)});
    const { makeMatcher } = await import(${JSON.stringify(ignore)});
    const root = process.argv[2];
    const s = await scanLocal(root, { exclude: makeMatcher([]), owners: false, hash: "none" });
    const h = await hashLocal(root, ["open", "secret"]);
    console.log(JSON.stringify({ snap: [...s], hashed: [...h.keys()] }));`);
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const r = spawnSync(process.execPath, [script, base], { encoding: "utf8", ...asNobody });
  assert.equal(r.status, 0, r.stderr);
  const { snap, hashed } = JSON.parse(r.stdout) as { snap: [string, Entry][]; hashed: string[] };
  const s = new Map(snap);
  assert.deepEqual(s.get("locked"), { kind: "problem", error: "EACCES: permission denied (scandir)" });
  assert.equal(s.has("locked/inner"), false);
  assert.equal(s.get("open")?.kind, "file");
  assert.equal(s.get("secret")?.kind, "file"); // listed by metadata; its content is unknown
  assert.equal(s.get("scan-as-nobody.mjs")?.kind, "file");
  assert.deepEqual(hashed, ["open"]); // the unreadable one is left out, not an error
});

test("hashLocal: BLAKE2b-512, the same digest as coreutils b2sum", async () => {
  const big = relPath("big.bin");
  put(big, Buffer.alloc(3 * 1024 * 1024 + 17, 7)); // spans several read chunks
  const got = await hashLocal(root, [big, relPath("a/b/c.php"), hostile[0]!, hostile[8]!]);
  assert.equal(got.get(big), execFileSync("b2sum", [join(root, "big.bin")], { encoding: "utf8" }).slice(0, 128));
  // Hostile names would be escaped by b2sum's output: compare through stdin with the same bytes.
  const viaStdin = (data: string | Buffer) => execFileSync("b2sum", { input: data }).toString().slice(0, 128);
  assert.equal(got.get(relPath("a/b/c.php")), viaStdin("<?php"));
  assert.equal(got.get(hostile[0]!), viaStdin(Buffer.from(hostile[0]!, "latin1")));
  assert.equal(got.get(hostile[8]!), viaStdin(Buffer.from(hostile[8]!, "latin1")));
  assert.equal(got.size, 4);
});

test("hashLocal: symlinks, FIFOs, directories and missing files are left out", async () => {
  const got = await hashLocal(root, [relPath("etc-link"), relPath("fifo"), relPath("a"), relPath("missing"), relPath("cache")]);
  assert.deepEqual([...got.keys()], ["cache"]);
});

test("scanLocal hash: all: every file gets its hash", async () => {
  const s = await scanLocal(root, opts({ hash: "all" }));
  const files = [...s.values()].filter((e) => e.kind === "file");
  assert.ok(files.length > 10);
  assert.ok(files.every((e) => e.kind === "file" && /^[0-9a-f]{128}$/.test(e.hash ?? "")));
  const want = execFileSync("b2sum", { input: Buffer.from("<?php") }).toString().slice(0, 128);
  assert.equal((s.get(relPath("a/b/c.php")) as { hash?: string }).hash, want);
});

test("hashLocal: an abort rejects, and the pool hashes again afterwards", async () => {
  const many: RelPath[] = [];
  for (let i = 0; i < 400; i++) {
    const n = relPath(`many-${i}`);
    put(n, Buffer.alloc(64 * 1024, i));
    many.push(n);
  }
  const ac = new AbortController();
  const pending = hashLocal(root, many, ac.signal);
  setImmediate(() => ac.abort());
  await assert.rejects(pending, { name: "AbortError" });
  const got = await hashLocal(root, many);
  assert.equal(got.size, many.length);
  assert.equal(got.get(relPath("many-7")), execFileSync("b2sum", { input: Buffer.alloc(64 * 1024, 7) }).toString().slice(0, 128));
});

test("hashFileSync: a file that changes while it is read gets no hash", () => {
  const p = absBytes(root, relPath("growing"));
  writeFileSync(p, "start");
  let calls = 0;
  assert.equal(hashFileSync(p, () => (calls++ === 0 ? appendFileSync(p, "more") : undefined)), undefined);
  assert.ok(calls >= 1);
  assert.match(hashFileSync(p)?.hash ?? "", /^[0-9a-f]{128}$/);
});

test("hashFileSync: a FIFO is not read (no hang)", () => {
  assert.equal(hashFileSync(absBytes(root, relPath("fifo"))), undefined);
});

test("timesEqual: times set through utimes and scanned back compare equal; 2.5 µs apart do not", async () => {
  const p = relPath("timed");
  put(p);
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 500; i++) {
    const source = 1_600_000_000_000 + rand() * 200_000_000_000;
    utimesSync(absBytes(root, p), source / 1000, source / 1000);
    const s = await scanLocal(root, opts({ only: [p] }));
    const got = (s.get(p) as { mtimeMs: number }).mtimeMs;
    assert.ok(timesEqual(got, source), `${got} vs ${source}`);
    assert.equal(timesEqual(got, got + 0.0025), false);
    assert.equal(timesEqual(source - 0.0025, source), false);
  }
});

test("scanLocal: an aborted signal rejects", async () => {
  await assert.rejects(scanLocal(root, opts({ signal: AbortSignal.abort() })), { name: "AbortError" });
});

test("scanLocal: a whole tree is listed by find and gives the same entries as the in-process walk", async (t) => {
  dir(relPath("linked"));
  put(relPath("linked/one"), "same inode");
  linkSync(join(root, "linked/one"), join(root, "linked/two"));
  t.after(() => rmSync(join(root, "linked"), { recursive: true, force: true }));
  // The walk covers a partial scan; listing every top-level name makes it the whole tree again.
  const found = await scanLocal(root, opts({ owners: true, links: true, exclude: makeMatcher(["*.log", "cache/"]) }));
  const tops = [...found.keys()].filter((p) => p !== "" && !p.includes("/"));
  const walked = await scanLocal(root, opts({ owners: true, links: true, exclude: makeMatcher(["*.log", "cache/"]), only: tops }));
  assert.ok(found.size > 20);
  assert.deepEqual(new Map(found), new Map(walked));
  assert.equal(kind(found, "a/keep.log"), undefined);
  assert.equal(kind(found, "wp-content/cache"), undefined);
  const link = (found.get(relPath("linked/two")) as { link?: string }).link;
  assert.ok(link !== undefined && link === (found.get(relPath("linked/one")) as { link?: string }).link);
});
