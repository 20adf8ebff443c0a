import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { RelPath } from "../../reconciler/model/paths.js";
import {
  hashCommand,
  listCommand,
  parseHashes,
  parseListing,
  parseMtime,
  ListingParser,
  pathsInput,
  shq,
  type ListingOptions,
} from "../../reconciler/scan/listing.js";
import type { Entry } from "../../reconciler/model/snapshot.js";
import { HitRecords, KEY, newBatch, putRecord } from "../../reconciler/scan/hash-cache-file.js";

const R = (s: string) => s as RelPath;
const none: ListingOptions = { exclude: () => false, owners: false };
const rec = (y: string, mode: string, size: string, mtime: string, target: string, path: string, uid = "0", gid = "0") =>
  [y, mode, size, mtime, uid, gid, target, path].join("\0") + "\0";
const out = (...parts: string[]) => Buffer.from("TSYNC-LIST\0" + parts.join(""), "latin1");

const dRoot = rec("d", "755", "4096", "100.5", "", ".");
const fA = rec("f", "644", "3", "200.000000001", "", "./a");
const dW = rec("d", "2775", "4096", "300", "", "./wp");
const fWc = rec("f", "600", "9", "300", "", "./wp/cache");
const lEtc = rec("l", "777", "4", "400", "/etc", "./uploads");

const eRoot: Entry = { kind: "dir", mode: 0o755, mtimeMs: 100500 };
const eA: Entry = { kind: "file", size: 3, mode: 0o644, mtimeMs: 200000.000001 };
const eW: Entry = { kind: "dir", mode: 0o2775, mtimeMs: 300000 };
const eWc: Entry = { kind: "file", size: 9, mode: 0o600, mtimeMs: 300000 };
const eEtc: Entry = { kind: "symlink", target: "/etc", mode: 0o777, mtimeMs: 400000 };

const excludeWp: ListingOptions = { exclude: (p) => p === "wp", owners: false };
const cases: [string, Buffer, ListingOptions, { kind: "ok"; snapshot: Map<RelPath, Entry> } | Exclude<ReturnType<typeof parseListing>, { kind: "ok" }>][] = [
  ["plain tree", out(dRoot, fA, dW, fWc, lEtc), none, { kind: "ok", snapshot: new Map([["", eRoot], ["a", eA], ["wp", eW], ["wp/cache", eWc], ["uploads", eEtc]] as [RelPath, Entry][]) }],
  ["noise before the marker is ignored", Buffer.concat([Buffer.from("Welcome!\0\nTSYNC junk\n\x1b[31m"), out(dRoot, fA)]), none, { kind: "ok", snapshot: new Map([["", eRoot], ["a", eA]] as [RelPath, Entry][]) }],
  ["no marker", Buffer.from(dRoot + fA, "latin1"), none, { kind: "bad", error: "no listing in the remote output" }],
  ["truncated record", out(dRoot, fA.slice(0, 9)), none, { kind: "bad", error: "truncated listing" }],
  ["missing root", out("TSYNC-NOROOT\0"), none, { kind: "no-root" }],
  ["an excluded dir takes its subtree", out(dRoot, fA, dW, fWc), excludeWp, { kind: "ok", snapshot: new Map([["", eRoot], ["a", eA]] as [RelPath, Entry][]) }],
  ["only: exact paths and below, root kept", out(dRoot, fA, dW, fWc, lEtc), { ...none, only: [R("wp")] }, { kind: "ok", snapshot: new Map([["", eRoot], ["wp", eW], ["wp/cache", eWc]] as [RelPath, Entry][]) }],
  ["only: an unseen excluded ancestor still excludes", out(dRoot, fWc), { ...excludeWp, only: [R("wp/cache")] }, { kind: "ok", snapshot: new Map([["", eRoot]] as [RelPath, Entry][]) }],
  ["staging dir skipped", out(dRoot, rec("d", "700", "1", "1", "", "./.tsync-tmp"), rec("f", "600", "1", "1", "", "./.tsync-tmp/x")), none, { kind: "ok", snapshot: new Map([["", eRoot]] as [RelPath, Entry][]) }],
  ["owners read when asked", out(rec("f", "4755", "1", "1", "", "./s", "33", "44")), { ...none, owners: true }, { kind: "ok", snapshot: new Map([["s", { kind: "file", size: 1, mode: 0o4755, mtimeMs: 1000, uid: 33, gid: 44 }]] as [RelPath, Entry][]) }],
  ["special files and unlistable dirs become problems", out(rec("p", "644", "0", "1", "", "./fifo"), rec("X", "0", "1", "1", "", "./locked")), none, { kind: "ok", snapshot: new Map([["fifo", { kind: "problem", error: "fifo cannot be synced" }], ["locked", { kind: "problem", error: "permission denied: directory cannot be listed" }]] as [RelPath, Entry][]) }],
  ["names are bytes: newline, non-UTF-8", out(rec("f", "644", "0", "1", "", "./x\ny\xff")), none, { kind: "ok", snapshot: new Map([["x\ny\xff", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }]] as [RelPath, Entry][]) }],
  // A file or directory is added from its bytes, its parent taken from the record before when it is a sibling.
  ["a name that starts with its previous sibling's parent is not its child", out(dRoot, rec("d", "755", "1", "1", "", "./ab"), rec("f", "644", "0", "1", "", "./ab/f"), rec("f", "644", "0", "1", "", "./ab_x")), none, { kind: "ok", snapshot: new Map([["", eRoot], ["ab", { kind: "dir", mode: 0o755, mtimeMs: 1000 }], ["ab/f", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }], ["ab_x", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }]] as [RelPath, Entry][]) }],
  ["out of preorder, a parent of the same length as the last one's is found by name", out(dRoot, rec("d", "755", "1", "1", "", "./ab"), rec("d", "755", "1", "1", "", "./cd"), rec("f", "644", "0", "1", "", "./cd/y"), rec("f", "644", "0", "1", "", "./ab/x")), none, { kind: "ok", snapshot: new Map([["", eRoot], ["ab", { kind: "dir", mode: 0o755, mtimeMs: 1000 }], ["ab/x", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }], ["cd", { kind: "dir", mode: 0o755, mtimeMs: 1000 }], ["cd/y", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }]] as [RelPath, Entry][]) }],
  ["a symlink's parent, then a file of an earlier directory whose name is as long", out(dRoot, rec("d", "755", "1", "1", "", "./ab"), rec("f", "644", "0", "1", "", "./ab/f"), rec("d", "755", "1", "1", "", "./xy"), rec("l", "777", "1", "1", "t", "./xy/l"), rec("f", "644", "0", "1", "", "./ab/g")), none, { kind: "ok", snapshot: new Map([["", eRoot], ["ab", { kind: "dir", mode: 0o755, mtimeMs: 1000 }], ["ab/f", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }], ["ab/g", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }], ["xy", { kind: "dir", mode: 0o755, mtimeMs: 1000 }], ["xy/l", { kind: "symlink", target: "t", mode: 0o777, mtimeMs: 1000 }]] as [RelPath, Entry][]) }],
  ["a name like the staging dir's is kept", out(dRoot, rec("f", "644", "0", "1", "", "./.tsync-tmpx"), rec("f", "644", "0", "1", "", "./.tsync-tm")), none, { kind: "ok", snapshot: new Map([["", eRoot], [".tsync-tm", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }], [".tsync-tmpx", { kind: "file", size: 0, mode: 0o644, mtimeMs: 1000 }]] as [RelPath, Entry][]) }],
  ["a path not starting with ./ is rejected", out(rec("f", "644", "0", "1", "", "/etc/passwd")), none, { kind: "bad", error: "unexpected path in listing at record 0" }],
];
test("parseListing: more records than maxEntries is refused with the count, before any is parsed", () => {
  const got = parseListing(out(dRoot, fA, dW, fWc, lEtc), { ...none, maxEntries: 4 });
  assert.equal(got.kind, "bad");
  assert.match(got.kind === "bad" ? got.error : "", /^5 entries or more, over the 4 that fit in this process's memory .*--max-old-space-size/);
  assert.equal(parseListing(out(dRoot, fA, dW, fWc, lEtc), { ...none, maxEntries: 5 }).kind, "ok");
});

// A listing is compact (model/listing.ts); compared as the Map of entries it stands for.
const asMap = (r: ReturnType<typeof parseListing>) => (r.kind === "ok" ? { kind: "ok", snapshot: new Map(r.snapshot) } : r);
for (const [name, buf, opts, want] of cases) test(`parseListing: ${name}`, () => assert.deepEqual(asMap(parseListing(buf, opts)), want));

test("parseMtime matches Node's Stats#mtimeMs formula", () => {
  assert.equal(parseMtime("1700000000.123456789"), 1700000000 * 1e3 + 123456789 / 1e6);
  assert.equal(parseMtime("5"), 5000);
  assert.equal(parseMtime("5.5"), 5500);
});

test("parseHashes: after the marker, names as bytes, junk refused", () => {
  const h = "ab".repeat(64);
  const ok = Buffer.from(`noise\nTSYNC-HASH\0${h}  ./a b\n\0${h}  ./\xff\0`, "latin1");
  assert.deepEqual(parseHashes(ok), new Map([["a b\n", h], ["\xff", h]]));
  assert.equal(parseHashes(Buffer.from(`${h}  ./a\0`)), undefined);
  assert.equal(parseHashes(Buffer.from(`TSYNC-HASH\0garbage\0`)), undefined);
});

test("shq survives sh for hostile strings", () => {
  for (const s of ["plain", "it's", "$(touch /tmp/pwned)", "a\nb", "`x`", "\\", "'", "-n"]) {
    const r = spawnSync("sh", ["-c", `printf %s ${shq(s)}`], { encoding: "utf8" });
    assert.equal(r.stdout, s);
  }
});

// The commands run against a local tree with sh, checked against lstat (an independent listing).
const dir = mkdtempSync(join(tmpdir(), "tsync-listing-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const hostile = ["new\nline", "quo'te\"s", "$(touch pwned)", "-dash", "back\\slash", Buffer.from([0x6e, 0xff, 0xfe]).toString("latin1"), "x".repeat(255)];

test("listCommand + parseListing equal lstat on hostile names; hashCommand equals b2sum", () => {
  const root = join(dir, "root's dir");
  mkdirSync(join(root, "sub"), { recursive: true });
  for (const n of hostile) writeFileSync(Buffer.from(join(root, "sub", n), "latin1"), Buffer.from(n, "latin1"));
  symlinkSync("/etc", join(root, "etc-link"));
  const r = spawnSync("bash", ["-c", listCommand(root, { only: false, timeoutSec: 30 })]);
  assert.equal(r.status, 0, r.stderr.toString());
  const got = parseListing(r.stdout, none);
  assert.equal(got.kind, "ok");
  const snap = got.kind === "ok" ? got.snapshot : new Map();
  const names = [...snap.keys()].sort();
  assert.deepEqual(names, ["", "etc-link", "sub", ...hostile.map((n) => `sub/${n}`)].sort());
  for (const [p, e] of snap) {
    const st = lstatSync(Buffer.from(p === "" ? root : join(root, p), "latin1"));
    assert.equal((e as { mtimeMs: number }).mtimeMs, st.mtimeMs, p);
    assert.equal((e as { mode: number }).mode, st.mode & 0o7777, p);
  }
  assert.deepEqual(snap.get(R("etc-link")), { kind: "symlink", target: readlinkSync(join(root, "etc-link")), mode: 0o777, mtimeMs: lstatSync(join(root, "etc-link")).mtimeMs });
  assert.equal(spawnSync("test", ["-e", join(root, "sub", "pwned")]).status, 1, "a name was executed");

  const paths = [...hostile.map((n) => R(`sub/${n}`)), R("etc-link"), R("gone")];
  const h = spawnSync("bash", ["-c", hashCommand(root, 30)], { input: pathsInput(paths) });
  const hashes = parseHashes(h.stdout);
  assert.ok(hashes);
  assert.equal(hashes.size, hostile.length, "symlink and missing file left out");
  for (const n of hostile) {
    const want = spawnSync("b2sum", { input: Buffer.from(n, "latin1") }).stdout.toString().split(" ")[0];
    assert.equal(hashes.get(R(`sub/${n}`)), want);
  }
});

test("listCommand: missing root is distinguished from an unreadable one", () => {
  const missing = spawnSync("bash", ["-c", listCommand(join(dir, "nope"), { only: false, timeoutSec: 5 })]);
  assert.deepEqual(parseListing(missing.stdout, none), { kind: "no-root" });
  writeFileSync(join(dir, "a-file"), "");
  const notDir = spawnSync("bash", ["-c", listCommand(join(dir, "a-file"), { only: false, timeoutSec: 5 })]);
  assert.equal(notDir.status, 3);
});

test("ListingParser: output cut into chunks of any size, the marker and records split anywhere, parses as a whole", () => {
  const long = rec("f", "644", "7", "500", "", "./" + "n".repeat(5000));
  const whole = Buffer.concat([Buffer.from("motd noise\n"), out(dRoot, fA, dW, fWc, lEtc, long)]);
  const want = parseListing(whole, none);
  assert.equal(want.kind, "ok");
  for (const size of [1, 2, 3, 7, 11, 64, 4095, 4096, 4097, 9000]) {
    const p = new ListingParser(none);
    for (let at = 0; at < whole.length; at += size) p.push(whole.subarray(at, at + size));
    const got = p.end();
    assert.equal(got.kind, "ok", `chunks of ${size}`);
    if (got.kind === "ok" && want.kind === "ok") assert.deepEqual(new Map(got.snapshot), new Map(want.snapshot), `chunks of ${size}`);
  }
  const noRoot = new ListingParser(none);
  for (const b of Buffer.from("TSYNC-LIST\0TSYNC-NOROOT\0", "latin1")) noRoot.push(Buffer.from([b]));
  assert.deepEqual(noRoot.end(), { kind: "no-root" });
});

test("ListingParser collectFiles: the kept regular files, as hashCommand's stdin, whatever the chunking", () => {
  const odd = rec("f", "644", "1", "500", "", "./wp/" + Buffer.from([0x6e, 0xff, 0x0a]).toString("latin1"));
  const whole = out(dRoot, fA, dW, fWc, lEtc, odd, rec("f", "644", "1", "1", "", "./.tsync-tmp/x"));
  for (const [opts, want] of [
    [none, ["a", "wp/cache", "wp/n\xff\n"]],
    [excludeWp, ["a"]],
  ] as const) {
    for (const size of [1, 5, 64, whole.length]) {
      const p = new ListingParser({ ...opts, collectFiles: true });
      const got: Buffer[] = [];
      for (let at = 0; at < whole.length; at += size) {
        p.push(whole.subarray(at, at + size));
        got.push(p.takeFiles());
      }
      assert.equal(p.end().kind, "ok");
      assert.deepEqual(Buffer.concat(got), pathsInput(want.map(R)), `chunks of ${size}`);
    }
  }
  const plain = new ListingParser(none);
  plain.push(whole);
  assert.equal(plain.takeFiles().length, 0, "nothing is kept without collectFiles");
});

test("ListingParser withHashes: hashCommand's records set on the files taken, in order, skipping those left out", () => {
  // find order (z before a) is not tree order: each hash must still land on its own path.
  const listed = out(dRoot, rec("f", "644", "1", "1", "", "./z"), dW, fWc, fA, rec("f", "644", "1", "1", "", "./b"));
  const hz = "1".repeat(128);
  const hc = "2".repeat(128);
  const hb = "3".repeat(128);
  const hashOut = (...r: [string, string][]) => Buffer.from("noise TSYNC-HASH\0" + r.map(([h, q]) => `${h}  ./${q}\0`).join(""), "latin1");
  const run = (stdout: Buffer) => {
    const p = new ListingParser({ ...none, collectFiles: true });
    p.push(listed.subarray(0, 40));
    p.takeFiles();
    p.push(listed.subarray(40));
    p.takeFiles();
    const r = p.end();
    assert.equal(r.kind, "ok");
    const hashed = r.kind === "ok" ? p.withHashes(r.snapshot, stdout) : undefined;
    return { ok: hashed !== undefined, hashes: hashed && Object.fromEntries([...hashed].filter(([, e]) => e.kind === "file").map(([q, e]) => [q, e.kind === "file" ? e.hash : undefined])) };
  };
  // wp/cache's hash is missing (it vanished before b2sum read it): the cursor passes it by.
  assert.deepEqual(run(hashOut([hz, "z"], [hc, "a"], [hb, "b"])), { ok: true, hashes: { z: hz, "wp/cache": undefined, a: hc, b: hb } });
  assert.deepEqual(run(hashOut([hz, "z"], [hc, "wp/cache"], [hb, "a"])).hashes, { z: hz, "wp/cache": hc, a: hb, b: undefined });
  assert.equal(run(hashOut([hc, "wp/cache"], [hz, "z"])).ok, false, "out of order: not hashCommand's output");
  assert.equal(run(hashOut([hz, "nope"])).ok, false, "a path never sent");
  // Each byte just outside 0-9 and a-f, and uppercase (b2sum prints lowercase), in the last position.
  for (const c of ["/", ":", "`", "g", "A"]) assert.equal(run(Buffer.from(`TSYNC-HASH\0${hz.slice(0, 127)}${c}  ./z\0`)).ok, false, `not hex: ${c}`);
  assert.equal(run(Buffer.from(`${hz}  ./z\0`)).ok, false, "no marker");
  assert.equal(run(Buffer.from(`TSYNC-HASH\0${hz}  ./z`)).ok, false, "truncated record");
});

test("hash cache look-ups find each record by its whole key, among records sharing a device and inode", () => {
  // 600 records: inodes in runs (as a tree's files get them) on two devices, and 100 more that
  // repeat an inode with another size or time, so slots collide and keys differ only past (dev, ino).
  type K = { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint };
  const keys: K[] = [];
  for (let i = 0; i < 500; i++) keys.push({ dev: i % 2 === 0 ? 2049n : 2n ** 40n, ino: 1000n + BigInt(i >> 1), size: 4096n, mtimeNs: 1n, ctimeNs: 2n });
  for (let i = 0; i < 100; i++) keys.push({ ...keys[i * 5]!, ...(i % 2 === 0 ? { size: 4097n } : { ctimeNs: 3n }) });
  const words = newBatch(keys.length);
  keys.forEach((k, i) => putRecord(words, i, k, new Uint8Array(64).fill(i % 251)));
  const hits = new HitRecords({ words, count: keys.length });
  const asWords = (k: K) => {
    const w = newBatch(1);
    putRecord(w, 0, k, new Uint8Array(64));
    return w.subarray(0, KEY.words);
  };
  keys.forEach((k, i) => assert.equal(hits.lookUp(asWords(k))?.[0], i % 251, `record ${i}`));
  assert.equal(hits.lookUp(asWords({ ...keys[0]!, mtimeNs: 5n })), undefined, "another mtime");
  assert.equal(hits.lookUp(asWords({ ...keys[0]!, ino: 99n })), undefined, "an inode the table lacks");
  assert.equal(hits.count, keys.length);
  assert.equal(hits.wholeTable, true);
});

test("a keyed listing finds its files in the hash cache by exact key, times and numbers past 2^53 included", () => {
  // find's %D %i %C@ after the path; mtime is the record's %T@. Keys near the edges of the conversion
  // without bigints: u64 dev and ino, ns times past 2^53 and near 2^64, a second's 65536 boundary.
  const keys = [
    { dev: 2049n, ino: 12n, size: 3n, mtime: "1700000000.1234567890", ctime: "1700000001.0000000005" },
    { dev: 2049n, ino: 2n ** 40n + 7n, size: 2n ** 40n, mtime: "65536.0000000001", ctime: "65535.9999999999" },
    { dev: 2n ** 63n + 1n, ino: 2n ** 64n - 1n, size: 0n, mtime: "17179869183.9999999999", ctime: "4294967296.5000000000" },
  ];
  const ns = (t: string) => BigInt(t.split(".")[0]!) * 1_000_000_000n + BigInt(t.split(".")[1]!.slice(0, 9));
  const words = newBatch(keys.length);
  keys.forEach((k, i) => putRecord(words, i, { dev: k.dev, ino: k.ino, size: k.size, mtimeNs: ns(k.mtime), ctimeNs: ns(k.ctime) }, new Uint8Array(64).fill(i + 1)));
  const cache = { words, count: keys.length };
  const keyed = (k: (typeof keys)[number], path: string, ctime = k.ctime) => [rec("f", "644", String(k.size), k.mtime, "", path).slice(0, -1), `${k.dev}`, `${k.ino}`, ctime].join("\0") + "\0";
  const p = new ListingParser({ ...none, cache });
  p.push(out(rec("d", "755", "4096", "100", "", ".") + "2049\0" + "2\0" + "100\0", keyed(keys[0]!, "./a"), keyed(keys[1]!, "./b"), keyed(keys[2]!, "./c"), keyed(keys[0]!, "./d", "1700000001.0000000015")));
  const r = p.end();
  assert.equal(r.kind, "ok");
  const hash = (q: string) => (r.kind === "ok" ? (r.snapshot.get(R(q)) as { hash?: string }).hash : undefined);
  assert.deepEqual(["a", "b", "c"].map(hash), ["01", "02", "03"].map((b) => b.repeat(64)));
  assert.equal(hash("d"), undefined, "a ctime 1 ns later is another key");
  assert.deepEqual(p.cacheResult()?.misses, ["d"]);
  assert.equal(p.cacheResult()?.hits.wholeTable, true);
});
