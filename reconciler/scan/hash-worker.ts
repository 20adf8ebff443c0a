// Runs inside a worker thread (see hash-pool.ts): hashes files with synchronous reads, which are far
// faster than fs.promises for the many small files of a web root and would block the main thread.
// Also importable on the main thread for hashFileSync (tests).
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type BigIntStats } from "node:fs";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { lookupRecord, newBatch, putRecord, type HashTable, type RecordBatch } from "./hash-cache-file.js";

export interface HashRequest {
  readonly root: string;
  /** RelPaths (latin1 of the name bytes). */
  readonly paths: readonly string[];
  /** The persistent cache to consult (hash-cache.ts), and the records to return for saving it. */
  readonly cache?: {
    readonly table: HashTable;
    /** Only files whose ctime is before this (ns since the epoch) get a record: older ones are not racy. */
    readonly storeBeforeNs: bigint;
  };
  /** With a cache: answer from it only, and name the other files in HashReply.misses (main thread). */
  readonly cachedOnly?: boolean;
}

export interface HashReply {
  readonly records: HashRecord[];
  /** Cache records of the files hashed or found in the cache (with HashRequest.cache). */
  readonly batch?: RecordBatch;
  /** Files whose bytes were read. */
  readonly read: number;
  /** Files whose hash came from the cache. */
  readonly cached: number;
  /** cachedOnly: the files the cache could not answer, in request order. */
  readonly misses?: string[];
}

/** [path, BLAKE2b-512 hex, size, mtimeMs] of each file hashed; paths that failed are left out. */
export type HashRecord = readonly [path: string, hash: string, size: number, mtimeMs: number];

export interface HashedFile {
  readonly hash: string;
  readonly size: number;
  readonly mtimeMs: number;
}

const CHUNK = 1 << 20;
let buffer: Buffer | undefined;

function unchanged(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * BLAKE2b-512 of a regular file (the digest of coreutils `b2sum`), or undefined when the path is not a
 * regular file or the file changed while it was read (stat before and after, as Syncthing does: a
 * hash of a half-written file must never be taken for the file's content). `afterChunk` exists for
 * tests that change the file mid-read. Throws on I/O errors.
 */
export function hashFileSync(abs: Buffer, afterChunk?: () => void): HashedFile | undefined {
  const got = digestFileSync(abs, afterChunk);
  return got && { hash: got.digest.toString("hex"), size: Number(got.st.size), mtimeMs: mtimeMsOf(got.st) };
}

/** mtimeMs exactly as fs.Stats computes it (sec * 1e3 + nsec / 1e6), from bigint stats. */
function mtimeMsOf(st: BigIntStats): number {
  return Number(st.mtimeNs / 1_000_000_000n) * 1e3 + Number(st.mtimeNs % 1_000_000_000n) / 1e6;
}

function digestFileSync(abs: Buffer, afterChunk?: () => void): { digest: Buffer; st: BigIntStats } | undefined {
  // O_NOFOLLOW: a symlink swapped in is not followed; O_NONBLOCK: opening a FIFO does not hang.
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const before = fstatSync(fd, { bigint: true });
    if (!before.isFile()) return undefined;
    const digest = createHash("blake2b512");
    buffer ??= Buffer.allocUnsafe(CHUNK);
    // Reading stops at the size fstat gave (no read just to see the end, for the many small files of a
    // web root); a file that grew or shrank meanwhile fails the stat comparison below.
    const size = Number(before.size);
    let total = 0;
    for (let n = 1; total < size && n > 0; total += n) {
      n = readSync(fd, buffer, 0, CHUNK, null);
      digest.update(buffer.subarray(0, n));
      afterChunk?.();
    }
    const after = fstatSync(fd, { bigint: true });
    const there = lstatSync(abs, { bigint: true });
    if (!unchanged(before, after) || !unchanged(after, there)) return undefined;
    return { digest: digest.digest(), st: after };
  } finally {
    closeSync(fd);
  }
}

export function hashBatch(req: HashRequest): HashReply {
  const root = Buffer.from(req.root, "utf8");
  const sep = req.root.endsWith("/") ? "" : "/";
  const records: HashRecord[] = [];
  const cache = req.cache;
  const words = cache ? newBatch(req.paths.length) : undefined;
  let stored = 0;
  let read = 0;
  let cached = 0;
  const misses: string[] = [];
  for (const p of req.paths) {
    try {
      const abs = Buffer.concat([root, Buffer.from(sep), Buffer.from(p, "latin1")]);
      let digest: Uint8Array | undefined;
      let st: BigIntStats | undefined;
      if (cache) {
        st = lstatSync(abs, { bigint: true });
        digest = st.isFile() ? lookupRecord(cache.table, st) : undefined;
        if (digest !== undefined) cached++;
      }
      if (digest === undefined && req.cachedOnly) {
        misses.push(p);
        continue;
      }
      if (digest === undefined) {
        read++;
        const got = digestFileSync(abs);
        if (got === undefined) continue;
        ({ digest, st } = got);
      }
      if (words && st!.ctimeNs < cache!.storeBeforeNs) putRecord(words, stored++, st!, digest);
      records.push([p, Buffer.from(digest.buffer, digest.byteOffset, digest.length).toString("hex"), Number(st!.size), mtimeMsOf(st!)]);
    } catch {
      // Unreadable or vanished: left out; the caller treats the content as unknown.
    }
  }
  return { records, read, cached, ...(words ? { batch: { words, count: stored } } : {}), ...(req.cachedOnly ? { misses } : {}) };
}

export const WORKER_MARK = "tsync-hash-worker";

if (!isMainThread && parentPort !== null && workerData === WORKER_MARK) {
  const port = parentPort;
  port.on("message", (req: HashRequest) => {
    const reply = hashBatch(req);
    port.postMessage(reply, reply.batch ? [reply.batch.words.buffer as ArrayBuffer] : []);
  });
}
