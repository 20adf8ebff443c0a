// The persistent source hash cache (scan/hash-cache*.ts) on real temporary trees: warm deep scans
// read only what changed, ctime catches a rewrite that restored size and mtime, racy files are not
// cached, and a damaged, foreign or stale cache file is rebuilt with a warning, never trusted.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, beforeEach, test } from "node:test";
import { makeMatcher } from "../../reconciler/core/ignore.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { Snapshot } from "../../reconciler/model/snapshot.js";
import { closeHashPool, hashStats } from "../../reconciler/scan/hash-pool.js";
import { hashCacheFile, loadHashCache, lookupRecord, newBatch, putRecord, saveHashCache, type HashCacheOptions } from "../../reconciler/scan/hash-cache-file.js";
import { hashFileSync } from "../../reconciler/scan/hash-worker.js";
import { scanLocal } from "../../reconciler/scan/local.js";

const FILES = 30;
let base = "";
let root = "";
let cacheDir = "";
let warnings: string[] = [];

/** racyMs -60 s: files written just now count as settled, so the tests need not wait 2 s. */
const cache = (over: Partial<HashCacheOptions> = {}): HashCacheOptions => ({ dir: cacheDir, warn: (m) => warnings.push(m), racyMs: -60_000, ...over });

/** A deep scan through the cache; returns the snapshot and how many files were read / taken from the cache. */
async function deepScan(c: HashCacheOptions | null = cache(), only?: RelPath[]): Promise<{ snap: Snapshot; read: number; cached: number }> {
  const r0 = hashStats.read;
  const c0 = hashStats.cached;
  const snap = await scanLocal(root, { exclude: makeMatcher([]), owners: false, hash: "all", ...(c ? { hashCache: c } : {}), ...(only ? { only } : {}) });
  return { snap, read: hashStats.read - r0, cached: hashStats.cached - c0 };
}

function hashOf(snap: Snapshot, p: string): string | undefined {
  const e = snap.get(p as RelPath);
  return e?.kind === "file" ? e.hash : undefined;
}

function realHash(p: string): string {
  return hashFileSync(Buffer.from(join(root, p)))!.hash;
}

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "tsync-hashcache-"));
  root = join(base, "src");
  cacheDir = join(base, "cache");
  mkdirSync(join(root, "d"), { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(join(root, "d", `f${i}`), `content ${i}\n`);
  warnings = [];
});

after(async () => {
  await closeHashPool();
});

test("a warm deep scan after touching one file reads only that file, and its hash is the new one", async () => {
  const cold = await deepScan();
  assert.deepEqual([cold.read, cold.cached], [FILES, 0]);
  assert.equal(readdirSync(cacheDir).length, 1);
  const warm = await deepScan();
  assert.deepEqual([warm.read, warm.cached], [0, FILES]);
  for (let i = 0; i < FILES; i++) assert.equal(hashOf(warm.snap, `d/f${i}`), hashOf(cold.snap, `d/f${i}`));

  writeFileSync(join(root, "d", "f7"), "changed!\n");
  const after1 = await deepScan();
  assert.deepEqual([after1.read, after1.cached], [1, FILES - 1]);
  assert.equal(hashOf(after1.snap, "d/f7"), realHash("d/f7"));
  assert.deepEqual(warnings, []);
});

test("a warm deep scan answered by the cache starts no hash worker; a file read after the hits still gets its hash", async () => {
  const cold = await deepScan();
  await closeHashPool();
  const w0 = hashStats.workers;
  const warm = await deepScan();
  assert.deepEqual([warm.read, warm.cached, hashStats.workers - w0], [0, FILES, 0]);
  writeFileSync(join(root, "d", "f0"), "first in tree order, last in the records\n");
  const one = await deepScan();
  assert.deepEqual([one.read, one.cached], [1, FILES - 1]);
  assert.equal(hashOf(one.snap, "d/f0"), realHash("d/f0"));
  for (let i = 1; i < FILES; i++) assert.equal(hashOf(one.snap, `d/f${i}`), hashOf(cold.snap, `d/f${i}`));
});

test("a rewrite with the same size and mtime but a new ctime is re-hashed", async () => {
  const p = join(root, "d", "f3");
  const T = 1_700_000_000; // whole seconds: utimes can put them back exactly
  utimesSync(p, T, T);
  const before = statSync(p, { bigint: true });
  await deepScan();
  // Same length, mtime put back: only ctime (which nobody can set) tells. Rewrite until the kernel's
  // timestamp tick has moved on, so the new ctime differs from the cached one.
  for (let i = 0; statSync(p, { bigint: true }).ctimeNs === before.ctimeNs; i++) {
    writeFileSync(p, `CONTENT ${i % 10}\n`.slice(0, `content 3\n`.length));
    utimesSync(p, T, T);
  }
  const now = statSync(p, { bigint: true });
  assert.equal(now.size, before.size);
  assert.equal(now.mtimeNs, before.mtimeNs);
  const warm = await deepScan();
  assert.deepEqual([warm.read, warm.cached], [1, FILES - 1]);
  assert.equal(hashOf(warm.snap, "d/f3"), realHash("d/f3"));
  assert.notEqual(hashOf(warm.snap, "d/f3"), hashFileSync(Buffer.from(join(root, "d", "f4")))!.hash);
});

test("a file replaced by another inode (rename over it) is re-hashed", async () => {
  await deepScan();
  const p = join(root, "d", "f5");
  const st = statSync(p);
  writeFileSync(join(root, "tmp"), "content X\n");
  utimesSync(join(root, "tmp"), st.atime, st.mtime);
  const { renameSync } = await import("node:fs");
  renameSync(join(root, "tmp"), p);
  const warm = await deepScan();
  assert.deepEqual([warm.read, warm.cached], [1, FILES - 1]);
  assert.equal(hashOf(warm.snap, "d/f5"), realHash("d/f5"));
});

test("files changed within the racy window are not cached (the default window)", async () => {
  const c = cache({ racyMs: undefined as unknown as number });
  delete (c as { racyMs?: number }).racyMs;
  await deepScan(c);
  // Everything was written a moment ago: nothing was safe to cache.
  const again = await deepScan(c);
  assert.deepEqual([again.read, again.cached], [FILES, 0]);
});

test("a corrupted cache file is rebuilt with a warning, and its hashes are not used", async () => {
  await deepScan();
  const file = hashCacheFile(cacheDir, root);
  const bytes = readFileSync(file);
  // Flip one byte of one record's digest: the checksum must catch it.
  bytes[64 + 104 * 3 + 50]! ^= 0xff;
  writeFileSync(file, bytes);
  const r = await deepScan();
  assert.deepEqual([r.read, r.cached], [FILES, 0]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /hash cache .*hashes-[0-9a-f]+\.bin: corrupt \(checksum mismatch\); rebuilding it/);
  // Rebuilt: the next run trusts it again, without a warning.
  warnings = [];
  const warm = await deepScan();
  assert.deepEqual([warm.read, warm.cached, warnings.length], [0, FILES, 0]);
});

test("a truncated, foreign-version, foreign-tree or garbage cache file is rebuilt with a warning", async () => {
  const file = () => hashCacheFile(cacheDir, root);
  const cases: [string, () => void, RegExp][] = [
    ["truncated", () => truncateSync(file(), statSync(file()).size - 7), /truncated/],
    ["version", () => {
      const b = readFileSync(file());
      b.writeUInt32LE(99, 8);
      writeFileSync(file(), b);
    }, /format 99, not 1/],
    ["garbage", () => writeFileSync(file(), "hello"), /not a tsync hash cache/],
    ["other tree", () => writeFileSync(file(), readFileSync(hashCacheFile(cacheDir, join(base, "other")))), /another tree/],
  ];
  // A second tree with a cache of its own, to pass off as this tree's.
  const saved = root;
  root = join(base, "other");
  mkdirSync(root);
  writeFileSync(join(root, "x"), "x");
  await deepScan();
  root = saved;
  for (const [name, damage, why] of cases) {
    await deepScan();
    warnings = [];
    damage();
    const r = await deepScan();
    assert.deepEqual([r.read, r.cached], [FILES, 0], name);
    assert.equal(warnings.length, 1, `${name}: ${warnings.join("; ")}`);
    assert.match(warnings[0]!, why, name);
  }
});

test("a partial deep scan uses the cache but leaves it as it was; excluded files never enter it", async () => {
  await deepScan();
  const file = hashCacheFile(cacheDir, root);
  const bytes = readFileSync(file);
  const part = await deepScan(cache(), ["d/f1" as RelPath]);
  assert.deepEqual([part.read, part.cached], [0, 1]);
  assert.deepEqual(readFileSync(file), bytes);
});

test("a warm whole-tree scan that hit every record leaves the cache file as it was; one change rewrites it", async () => {
  await deepScan();
  const file = hashCacheFile(cacheDir, root);
  const ino = statSync(file).ino;
  assert.deepEqual((await deepScan()).cached, FILES);
  assert.equal(statSync(file).ino, ino, "not rewritten");
  writeFileSync(join(root, "d", "new"), "new\n");
  await deepScan();
  assert.notEqual(statSync(file).ino, ino, "rewritten with the new file");
  assert.deepEqual([(await deepScan()).read, statSync(file).size], [0, 64 + 104 * (FILES + 1) + 32]);
});

test("deleted files drop out of the cache on the next whole-tree scan", async () => {
  await deepScan();
  const file = hashCacheFile(cacheDir, root);
  const size = statSync(file).size;
  rmSync(join(root, "d", "f0"));
  rmSync(join(root, "d", "f1"));
  await deepScan();
  assert.equal(statSync(file).size, size - 2 * 104);
});

test("without a cache every deep scan reads every file", async () => {
  await deepScan(null);
  const r = await deepScan(null);
  assert.deepEqual([r.read, r.cached], [FILES, 0]);
});

test("concurrent processes saving the same cache leave one whole file, no temporaries", async () => {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const local = fileURLToPath(new URL("../../reconciler/scan/local.js", import.meta.url));
  const ignore = fileURLToPath(new URL("../../reconciler/core/ignore.js", import.meta.url));
  const script = `
    const { scanLocal } = await import(${JSON.stringify(local)});
    const { makeMatcher } = await import(${JSON.stringify(ignore)});
    const { closeHashPool } = await import(${JSON.stringify(local.replace(/local\.js$/, "hash-pool.js"))});
    const warns = [];
    for (let i = 0; i < 5; i++) await scanLocal(${JSON.stringify(root)}, { exclude: makeMatcher([]), owners: false, hash: "all", hashCache: { dir: ${JSON.stringify(cacheDir)}, racyMs: -60000, warn: (m) => warns.push(m) } });
    await closeHashPool();
    if (warns.length) { console.error(warns.join("\\n")); process.exit(1); }`;
  // A file, not -e: the hash workers inherit the process's node flags.
  const file = join(base, "scan.mjs");
  writeFileSync(file, script);
  const run = () =>
    new Promise<number | null>((res) => {
      const c = spawn(process.execPath, [file], { stdio: ["ignore", "ignore", "inherit"] });
      c.on("close", res);
    });
  assert.deepEqual(await Promise.all([run(), run(), run()]), [0, 0, 0]);
  assert.deepEqual(readdirSync(cacheDir), [hashCacheFile(cacheDir, root).split("/").pop()]);
  const warm = await deepScan();
  assert.deepEqual([warm.read, warm.cached, warnings], [0, FILES, []]);
});

test("the file format round-trips any (dev, inode), also above 2^53, sorted and one record per inode", () => {
  mkdirSync(cacheDir, { recursive: true });
  const stat = (dev: bigint, ino: bigint) => ({ dev, ino, size: 10n, mtimeNs: 5n, ctimeNs: 6n }) as unknown as import("node:fs").BigIntStats;
  // 2^63 + 4 and + 5 are one double: they must still be two records.
  const keys: [bigint, bigint][] = [[2049n, 7n], [1n, 2n ** 63n + 5n], [2n ** 40n, 3n], [2049n, 7n], [1n, 2n ** 63n + 4n], [1n, 2n ** 60n], [0n, 0n]];
  const words = newBatch(keys.length);
  keys.forEach(([d, i], n) => putRecord(words, n, stat(d, i), new Uint8Array(64).fill(n)));
  saveHashCache(cache(), root, [{ words, count: keys.length }]);
  const t = loadHashCache(cache(), root);
  assert.equal(t.count, 6);
  for (const [d, i] of keys) assert.ok(lookupRecord(t, stat(d, i)), `${d}:${i}`);
  assert.equal(lookupRecord(t, stat(1n, 2n ** 63n + 6n)), undefined);
  assert.equal(lookupRecord(t, { ...stat(2049n, 7n), ctimeNs: 7n } as unknown as import("node:fs").BigIntStats), undefined);
  assert.deepEqual(warnings, []);
});
