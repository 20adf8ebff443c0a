// The persistent source hash cache's file: BLAKE2b-512 of each file keyed by (device, inode, size, mtime,
// ctime) with nanosecond times, so deep plans and audits re-read only files that changed since the
// last whole-tree hash. ctime is in the key because it cannot be set from user space: a file
// rewritten with the same size and its mtime put back still gets a new ctime.
//
// One file per tree (the name derives from the tree's real path), written whole after each
// whole-tree hash to a temporary name and renamed over the old one, so concurrent tsync processes
// leave one complete file or the other, never a mix. The format is binary and fixed-width:
//   header (64 bytes): magic, version, record size, byte-order mark, count, SHA-256 of the tree's path
//   records (104 bytes each, sorted by device then inode): dev, ino, size, mtimeNs, ctimeNs as u64
//     (two host-order u32 words, low first), then the 64 digest bytes
//   trailer: SHA-256 of header and records
// About 100 bytes per file (a million files: ~100 MB on disk, read only while hashing). Anything
// that is not exactly such a file (truncated, corrupt, another version, another tree) is ignored
// with a warning and replaced by the next save; nothing in it is trusted before the checksum holds.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, fstatSync, mkdirSync, openSync, readSync, realpathSync, renameSync, rmSync, writeSync, type BigIntStats } from "node:fs";
import { join, resolve } from "node:path";

const MAGIC = Buffer.from("TSYNCHC\0", "latin1");
export const HASH_CACHE_VERSION = 1;
const HEADER = 64;
const TRAILER = 32;
/** u32 words per record: 5 u64 keys (10 words) and 64 digest bytes (16 words). */
const WORDS = 26;
export const RECORD_BYTES = WORDS * 4;
const DIGEST_AT = 10;
const BOM = 0x01020304;

/** Where and how a tree's hashes are cached (ScanOptions.hashCache). */
export interface HashCacheOptions {
  /** The directory holding the cache files (settings.hashCache). */
  readonly dir: string;
  /** Told when a cache file is unusable and will be rebuilt. */
  readonly warn?: (message: string) => void;
  /**
   * A file whose ctime is less than this many ms before the hash was taken is not cached: a second
   * write within the same timestamp tick would leave its key unchanged (git's "racily clean").
   */
  readonly racyMs?: number;
}

export const DEFAULT_RACY_MS = 2000;

/** A loaded table: records in a SharedArrayBuffer so the hash workers can look up without a copy. */
export interface HashTable {
  readonly words: Uint32Array;
  readonly count: number;
}

const EMPTY: HashTable = { words: new Uint32Array(0), count: 0 };

function treeKey(root: string): Buffer {
  let real: string;
  try {
    real = realpathSync(root);
  } catch {
    real = resolve(root);
  }
  return createHash("sha256").update(real, "utf8").digest();
}

/** The cache file of the tree at `root` inside `dir`. */
export function hashCacheFile(dir: string, root: string): string {
  return join(dir, `hashes-${treeKey(root).subarray(0, 12).toString("hex")}.bin`);
}

function header(count: number, key: Buffer): Buffer {
  const h = Buffer.alloc(HEADER);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(HASH_CACHE_VERSION, 8);
  h.writeUInt32LE(RECORD_BYTES, 12);
  new Uint32Array(h.buffer, h.byteOffset + 16, 1)[0] = BOM;
  h.writeBigUInt64LE(BigInt(count), 20);
  key.copy(h, 28);
  return h;
}

function readAll(fd: number, buf: Uint8Array): number {
  let n = 0;
  for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, n)) > 0; ) n += r;
  return n;
}

/** Why `h` (a file's first bytes) is not a cache of this tree in this format; undefined when it is. */
function headerProblem(h: Buffer, size: number, key: Buffer): string | undefined {
  if (size < HEADER + TRAILER || !h.subarray(0, 8).equals(MAGIC)) return "not a tsync hash cache";
  if (h.readUInt32LE(8) !== HASH_CACHE_VERSION || h.readUInt32LE(12) !== RECORD_BYTES) return `written in format ${h.readUInt32LE(8)}, not ${HASH_CACHE_VERSION}`;
  if (new Uint32Array(h.buffer.slice(h.byteOffset + 16, h.byteOffset + 20))[0] !== BOM) return "written on a machine of another byte order";
  if (!h.subarray(28, 60).equals(key)) return "written for another tree";
  const count = Number(h.readBigUInt64LE(20));
  if (size !== HEADER + count * RECORD_BYTES + TRAILER) return `truncated (${size} bytes for ${count} records)`;
  return undefined;
}

/**
 * The cached hashes of `root`, or an empty table when there is no usable cache file (a missing one
 * silently; any other, with a warning saying why it is rebuilt).
 */
export function loadHashCache(opts: HashCacheOptions, root: string): HashTable {
  const file = hashCacheFile(opts.dir, root);
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") opts.warn?.(`hash cache ${file}: ${(err as Error).message}; hashing every file`);
    return EMPTY;
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(HEADER);
    readAll(fd, head);
    const why = headerProblem(head, size, treeKey(root));
    if (why !== undefined) {
      opts.warn?.(`hash cache ${file}: ${why}; rebuilding it`);
      return EMPTY;
    }
    const count = Number(head.readBigUInt64LE(20));
    const all = new Uint8Array(new SharedArrayBuffer(size));
    if (readAll(fd, all) !== size) {
      opts.warn?.(`hash cache ${file}: truncated while read; rebuilding it`);
      return EMPTY;
    }
    const sum = createHash("sha256").update(all.subarray(0, size - TRAILER)).digest();
    if (!sum.equals(all.subarray(size - TRAILER))) {
      opts.warn?.(`hash cache ${file}: corrupt (checksum mismatch); rebuilding it`);
      return EMPTY;
    }
    return { words: new Uint32Array(all.buffer, HEADER, count * WORDS), count };
  } catch (err) {
    opts.warn?.(`hash cache ${file}: ${(err as Error).message}; hashing every file`);
    return EMPTY;
  } finally {
    closeSync(fd);
  }
}

const LO = 0xffffffffn;

function put64(w: Uint32Array, at: number, v: bigint): void {
  w[at] = Number(v & LO);
  w[at + 1] = Number((v >> 32n) & LO);
}

/** Order of records by (dev, ino): words 1, 0 (dev high, low), then 3, 2 (ino). */
function cmpKey(a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  return a[ai + 1]! - b[bi + 1]! || a[ai]! - b[bi]! || a[ai + 3]! - b[bi + 3]! || a[ai + 2]! - b[bi + 2]!;
}

/** What a record is keyed by, as lstat (bigint) gives it, or a listing's record with keys (scan/listing.ts). */
export type FileKey = Pick<BigIntStats, "dev" | "ino" | "size" | "mtimeNs" | "ctimeNs">;

/** Writes the record of a file (its key and its digest) at record index `i` of `w`. */
export function putRecord(w: Uint32Array, i: number, st: FileKey, digest: Uint8Array): void {
  const at = i * WORDS;
  put64(w, at, st.dev);
  put64(w, at + 2, st.ino);
  put64(w, at + 4, st.size);
  put64(w, at + 6, st.mtimeNs);
  put64(w, at + 8, st.ctimeNs);
  new Uint8Array(w.buffer, w.byteOffset + (at + DIGEST_AT) * 4, 64).set(digest);
}

/** A record's key as words: five u64, each low word first, at these offsets (what findRecord takes). */
export const KEY = { dev: 0, ino: 2, size: 4, mtimeNs: 6, ctimeNs: 8, words: 10 } as const;

function keyWords(st: FileKey): Uint32Array {
  const out = new Uint32Array(KEY.words);
  put64(out, KEY.dev, st.dev);
  put64(out, KEY.ino, st.ino);
  put64(out, KEY.size, st.size);
  put64(out, KEY.mtimeNs, st.mtimeNs);
  put64(out, KEY.ctimeNs, st.ctimeNs);
  return out;
}

/** The cached digest of the file `st` describes, if its whole key matches a record; else undefined. */
export function lookupRecord(t: HashTable, st: FileKey): Uint8Array | undefined {
  const r = findRecord(t, keyWords(st));
  return r < 0 ? undefined : digestAt(t, r);
}

/** The digest of record `r` (a view into the table). */
function digestAt(t: HashTable, r: number): Uint8Array {
  return new Uint8Array(t.words.buffer, t.words.byteOffset + (r * WORDS + DIGEST_AT) * 4, 64);
}

/** The index of the record whose whole key is `key` (keyWords), or -1. */
function findRecord(t: HashTable, key: Uint32Array): number {
  let lo = 0;
  let hi = t.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = cmpKey(t.words, mid * WORDS, key, 0);
    if (c < 0) lo = mid + 1;
    else if (c > 0) hi = mid - 1;
    else {
      const at = mid * WORDS;
      for (let k = KEY.size; k < KEY.words; k++) if (t.words[at + k] !== key[k]) return -1;
      return mid;
    }
  }
  return -1;
}

/** A hash of the (dev, ino) words at `at` (KEY's layout), for HitRecords' slots. */
function slotOf(w: Uint32Array, at: number): number {
  const h = Math.imul(w[at + KEY.ino]! ^ Math.imul(w[at + KEY.ino + 1]!, 0x9e3779b1) ^ Math.imul(w[at + KEY.dev]!, 0x85ebca6b), 0x27d4eb2d);
  return (h ^ (h >>> 15)) >>> 0;
}

/** A batch of records (RecordBatch.words holds `count` of them). */
export interface RecordBatch {
  readonly words: Uint32Array;
  readonly count: number;
}

export function newBatch(capacity: number): Uint32Array {
  return new Uint32Array(capacity * WORDS);
}

/**
 * Look-ups of one whole-tree scan in a loaded table by keys the scan already has (a keyed find
 * listing). A hit's record is the table's own (same key, same digest), so a hit only marks it; the
 * records to save are copied out of the table when asked for.
 */
export class HitRecords {
  /** Files answered by the table. */
  count = 0;
  private readonly seen: Uint8Array;
  private distinct = 0;
  /**
   * Record indexes by a hash of (dev, ino), open addressing, -1 where free: a scan looks up every
   * file, and a binary search's ~15 steps, each a cache miss in a large table, were ~5 % of a warm
   * deep plan's main thread (small-20k). 8–16 bytes per record. The worker threads'
   * lookupRecord keeps findRecord: they get the table anew with each batch of paths.
   */
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(private readonly table: HashTable) {
    this.seen = new Uint8Array(table.count);
    let size = 16;
    while (size < table.count * 2) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    const w = table.words;
    for (let r = 0; r < table.count; r++) {
      let h = slotOf(w, r * WORDS) & this.mask;
      while (this.slots[h] !== -1) h = (h + 1) & this.mask;
      this.slots[h] = r;
    }
  }

  /** The record whose whole key is `key`, or -1. */
  private find(key: Uint32Array): number {
    const w = this.table.words;
    for (let h = slotOf(key, 0) & this.mask; ; h = (h + 1) & this.mask) {
      const r = this.slots[h]!;
      if (r === -1) return -1;
      const at = r * WORDS;
      let k = 0;
      while (k < KEY.words && w[at + k] === key[k]) k++;
      if (k === KEY.words) return r;
    }
  }

  /** The digest cached for the file with this key (KEY's layout; recorded as a hit), or undefined. */
  lookUp(key: Uint32Array): Uint8Array | undefined {
    const r = this.find(key);
    if (r < 0) return undefined;
    this.count++;
    if (this.seen[r] === 0) {
      this.seen[r] = 1;
      this.distinct++;
    }
    return digestAt(this.table, r);
  }

  /** The records hit, one per record (files sharing an inode share it). */
  batches(): RecordBatch[] {
    const words = newBatch(this.distinct);
    for (let r = 0, k = 0; r < this.table.count; r++) if (this.seen[r] === 1) words.set(this.table.words.subarray(r * WORDS, (r + 1) * WORDS), WORDS * k++);
    return [{ words, count: this.distinct }];
  }

  /** Whether every record of the table was hit: saving the hits alone would write the same cache again. */
  get wholeTable(): boolean {
    return this.distinct === this.table.count;
  }
}

/**
 * Replaces the cache of `root` with `batches` (sorted here; one record per inode). Written to a
 * temporary file beside it and renamed into place. Failing to save only costs the next run a rehash:
 * the error is reported through `warn`, never thrown.
 */
export function saveHashCache(opts: HashCacheOptions, root: string, batches: readonly RecordBatch[]): void {
  const file = hashCacheFile(opts.dir, root);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    // Sorted through an index (batch and word offset per record), not a concatenated copy: at a
    // million files the records alone are ~100 MB.
    let total = 0;
    for (const b of batches) total += b.count;
    const batchOf = new Uint32Array(total);
    const wordAt = new Uint32Array(total);
    for (let bi = 0, k = 0; bi < batches.length; bi++) {
      for (let r = 0; r < batches[bi]!.count; r++, k++) {
        batchOf[k] = bi;
        wordAt[k] = r * WORDS;
      }
    }
    const words = batches.map((b) => b.words);
    // dev and ino as doubles when they are exact (below 2^53: every Linux filesystem in practice),
    // which sorts a million records in a fraction of the time of the word-by-word comparison.
    const devKey = new Float64Array(total);
    const inoKey = new Float64Array(total);
    let exact = true;
    for (let k = 0; k < total; k++) {
      const w = words[batchOf[k]!]!;
      const at = wordAt[k]!;
      devKey[k] = w[at + 1]! * 2 ** 32 + w[at]!;
      inoKey[k] = w[at + 3]! * 2 ** 32 + w[at + 2]!;
      if (w[at + 1]! >= 2 ** 21 || w[at + 3]! >= 2 ** 21) exact = false;
    }
    const cmp = exact
      ? (x: number, y: number) => devKey[x]! - devKey[y]! || inoKey[x]! - inoKey[y]!
      : (x: number, y: number) => cmpKey(words[batchOf[x]!]!, wordAt[x]!, words[batchOf[y]!]!, wordAt[y]!);
    const order = new Uint32Array(total);
    for (let i = 0; i < total; i++) order[i] = i;
    order.sort(cmp);
    // Hard links: one record per inode.
    const unique = order.filter((r, i) => i === 0 || cmp(order[i - 1]!, r) !== 0);
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    const sum = createHash("sha256");
    const fd = openSync(tmp, "wx", 0o600);
    try {
      const write = (b: Uint8Array) => {
        sum.update(b);
        for (let n = 0; n < b.length; ) n += writeSync(fd, b, n);
      };
      write(header(unique.length, treeKey(root)));
      const CHUNK = 1024;
      const out = new Uint32Array(CHUNK * WORDS);
      for (let i = 0; i < unique.length; i += CHUNK) {
        const n = Math.min(CHUNK, unique.length - i);
        for (let j = 0; j < n; j++) {
          const r = unique[i + j]!;
          out.set(words[batchOf[r]!]!.subarray(wordAt[r]!, wordAt[r]! + WORDS), j * WORDS);
        }
        write(new Uint8Array(out.buffer, 0, n * RECORD_BYTES));
      }
      const digest = sum.digest();
      for (let n = 0; n < digest.length; ) n += writeSync(fd, digest, n);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    opts.warn?.(`hash cache ${file}: cannot save: ${(err as Error).message}`);
  }
}
