// Runs inside a worker thread (see hash-pool.ts): hashes files with synchronous reads, which are far
// faster than fs.promises for the many small files of a web root and would block the main thread.
// Also importable on the main thread for hashFileSync (tests).
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type BigIntStats } from "node:fs";
import { isMainThread, parentPort, workerData } from "node:worker_threads";

export interface HashRequest {
  readonly root: string;
  /** RelPaths (latin1 of the name bytes). */
  readonly paths: readonly string[];
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
  // O_NOFOLLOW: a symlink swapped in is not followed; O_NONBLOCK: opening a FIFO does not hang.
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const before = fstatSync(fd, { bigint: true });
    if (!before.isFile()) return undefined;
    const digest = createHash("blake2b512");
    buffer ??= Buffer.allocUnsafe(CHUNK);
    for (let n = readSync(fd, buffer, 0, CHUNK, null); n > 0; n = readSync(fd, buffer, 0, CHUNK, null)) {
      digest.update(buffer.subarray(0, n));
      afterChunk?.();
    }
    const after = fstatSync(fd, { bigint: true });
    const there = lstatSync(abs, { bigint: true });
    if (!unchanged(before, after) || !unchanged(after, there)) return undefined;
    const st = fstatSync(fd);
    return { hash: digest.digest("hex"), size: st.size, mtimeMs: st.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

export function hashBatch(req: HashRequest): HashRecord[] {
  const root = Buffer.from(req.root, "utf8");
  const sep = req.root.endsWith("/") ? "" : "/";
  const out: HashRecord[] = [];
  for (const p of req.paths) {
    try {
      const got = hashFileSync(Buffer.concat([root, Buffer.from(sep), Buffer.from(p, "latin1")]));
      if (got !== undefined) out.push([p, got.hash, got.size, got.mtimeMs]);
    } catch {
      // Unreadable or vanished: left out; the caller treats the content as unknown.
    }
  }
  return out;
}

export const WORKER_MARK = "tsync-hash-worker";

if (!isMainThread && parentPort !== null && workerData === WORKER_MARK) {
  const port = parentPort;
  port.on("message", (req: HashRequest) => port.postMessage(hashBatch(req)));
}
