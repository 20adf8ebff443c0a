// Hashing a tree's files through the persistent hash cache (hash-cache-file.ts): the cache is read
// only when a hash starts, each file's hash is taken from it when the file's whole key still matches
// (by an lstat here, or from the key a whole-tree find printed: hashCacheMisses) and the file is read
// otherwise, and a hash of the whole tree writes the cache anew (so files deleted since drop out),
// unless every record was hit and nothing read. A partial hash only reads it: rewriting a whole cache
// for a few files would cost more than it saves.
import { homedir } from "node:os";
import { posix } from "node:path";
import type { HashRecord } from "./hash-worker.js";
import { DEFAULT_RACY_MS, loadHashCache, saveHashCache, type HashCacheOptions, type HashTable } from "./hash-cache-file.js";
import type { CacheResult } from "./listing.js";
import { hashRecords, hashStats, hashWithCache } from "./hash-pool.js";

export type { HashCacheOptions } from "./hash-cache-file.js";

/** Where the cache lives unless settings.hashCache says: the XDG cache directory. */
export function defaultHashCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG spec: a relative $XDG_CACHE_HOME is invalid and ignored.
  return xdg !== undefined && xdg.startsWith("/") ? posix.join(xdg, "tsync") : posix.join(homedir(), ".cache", "tsync");
}

export interface TreeHashOptions {
  readonly cache?: HashCacheOptions;
  /** `paths` are every file of the tree (after excludes): the cache is replaced by what was hashed. */
  readonly whole: boolean;
  readonly signal?: AbortSignal;
}

/** [path, hash, size, mtimeMs] of each file of `paths` under `root` that could be hashed. */
export async function hashTreeFiles(root: string, paths: readonly string[], opts: TreeHashOptions): Promise<HashRecord[]> {
  const cache = opts.cache;
  if (cache === undefined) return hashRecords(root, paths, opts.signal);
  const storeBeforeNs = BigInt(Date.now() - (cache.racyMs ?? DEFAULT_RACY_MS)) * 1_000_000n;
  // The old table is not held past the hashing: the save below holds the new records only.
  const { records, batches } = await hashWithCache(root, paths, { table: loadHashCache(cache, root), storeBeforeNs }, opts.signal);
  if (opts.whole) saveHashCache(cache, root, batches);
  return records;
}

/**
 * A whole-tree scan whose listing took the cache's hits itself (a keyed find listing): hash the
 * misses, then save the cache unless it would come out the same (no miss, every record hit).
 */
export async function hashCacheMisses(root: string, table: HashTable, found: CacheResult, cache: HashCacheOptions, signal?: AbortSignal): Promise<HashRecord[]> {
  hashStats.cached += found.hits.count;
  const storeBeforeNs = BigInt(Date.now() - (cache.racyMs ?? DEFAULT_RACY_MS)) * 1_000_000n;
  const { records, batches } = await hashWithCache(root, found.misses, { table, storeBeforeNs }, signal, false);
  if (found.misses.length > 0 || !found.hits.wholeTable) saveHashCache(cache, root, [...found.hits.batches(), ...batches]);
  return records;
}
