// The remote half of scanning, as pure functions: the shell command lines (GNU find / b2sum, one exec
// each) and the parsers of their NUL-framed output. Names travel only as data — on stdin or in the
// output — never inside a command line; only the manifest's root and its literal directory excludes
// (core/ignore.ts prunable: a safe character set) are, single-quoted.
import { parentOf, type Prune, type RelPath } from "../model/paths.js";
import { STAGING_DIR } from "../model/snapshot.js";
import { DIR, FILE, ListingBuilder, PROBLEM, SYMLINK, type Listing } from "../model/listing.js";
import type { Matcher } from "../model/paths.js";
import { OpenDirs } from "../model/open-dirs.js";
import { tooManyEntries } from "./limits.js";
import { HitRecords, KEY, type HashTable } from "./hash-cache-file.js";

export const LIST_MARKER = "TSYNC-LIST\0";
export const NO_ROOT_MARKER = "TSYNC-NOROOT\0";
export const HASH_MARKER = "TSYNC-HASH\0";

/** Single-quote a string for POSIX sh: every byte but `'` is literal inside single quotes. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// %y type, %m octal mode, %s size, %T@ mtime, %U uid, %G gid, %l link target, %p path: 8 fields.
const FIELDS = "%m\\0%s\\0%T@\\0%U\\0%G\\0";
// A directory we cannot list is reported as such ("X") instead of as a find error on stderr, whose
// quoting of names is not parseable. `extra`: fields printed after the path.
const printed = (extra: string) =>
  `\\( -type d ! \\( -readable -executable \\) -prune -printf 'X\\0${FIELDS}\\0%p\\0${extra}' \\) -o -printf '%y\\0${FIELDS}%l\\0%p\\0${extra}'`;
const PREDICATES = printed("");
// `keys`: three more fields, %D device, %i inode, %C@ ctime: with size and mtime, a file's key in the
// source hash cache (hash-cache-file.ts), so a warm deep scan looks hashes up without an lstat each.
const KEYED = printed("%D\\0%i\\0%C@\\0");

/**
 * Prints the marker, then either NO_ROOT_MARKER (root absent) or one record per path. Exit status is
 * find's (1 when paths vanished during the walk; the caller decides from stderr).
 * With `only`, names are read NUL-separated as `./path` from stdin (with `shallow`, just those entries).
 */
export function listCommand(root: string, opts: { only: boolean; shallow?: boolean; timeoutSec: number; prune?: Prune; keys?: boolean }): string {
  const r = shq(root);
  const t = `timeout -k 5 ${opts.timeoutSec}`;
  // Excluded directories find need not enter (the parser drops them and what is below them anyway).
  const skip = [...(opts.prune?.paths ?? []).map((p) => `-path ${shq("./" + p)}`), ...(opts.prune?.names ?? []).map((n) => `-name ${shq(n)}`)];
  const fields = opts.keys ? KEYED : PREDICATES;
  const predicates = skip.length === 0 ? fields : `\\( ${skip.join(" -o ")} \\) -type d -prune -o ${fields}`;
  const each = (depth: string) => `${t} xargs -0 -r sh -c 'exec find "$@" ${depth}${predicates.replace(/'/g, `'\\''`)}' sh`;
  // shallow: the named paths alone (ancestors of a partial scan), not their subtrees.
  const walk = opts.shallow ? each("-maxdepth 0 ") : opts.only ? `${t} find . -maxdepth 0 ${fields} && ${each("")}` : `${t} find . ${predicates}`;
  return [
    "LC_ALL=C; export LC_ALL",
    `printf '${LIST_MARKER.replace("\0", "\\0")}'`,
    `if cd -- ${r} 2>/dev/null; then :; elif [ -e ${r} ] || [ -L ${r} ]; then echo "cannot enter the root directory" >&2; exit 3; else printf '${NO_ROOT_MARKER.replace("\0", "\\0")}'; exit 0; fi`,
    walk,
  ].join("\n");
}

/** Whether find's complaints (exit status 1) are all of entries that vanished while it walked: a live tree's normal state. */
export function onlyVanished(stderr: Buffer): boolean {
  const lines = stderr.toString("utf8").split("\n").filter((l) => l.trim() !== "");
  return lines.every((l) => l.endsWith(": No such file or directory"));
}

/** stdin for `listCommand(..., {only: true})` and `hashCommand`: `./path\0` per path. */
export function pathsInput(paths: readonly RelPath[]): Buffer {
  return Buffer.concat(paths.flatMap((p) => [Buffer.from("./"), Buffer.from(p, "latin1"), Buffer.from([0])]));
}

/** The bytes after the first `marker` (a noisy shell rc may print before it), or undefined. */
export function afterMarker(out: Buffer, marker: string): Buffer | undefined {
  const i = out.indexOf(marker, 0, "latin1");
  return i < 0 ? undefined : out.subarray(i + marker.length);
}

export interface ListingOptions {
  readonly exclude: Matcher;
  readonly owners: boolean;
  readonly only?: readonly RelPath[];
  /** More records than this: "bad", with the count (limits.ts). */
  readonly maxEntries?: number;
  /** Keep the kept regular files' names for takeFiles(), to hash them while the listing still arrives. */
  readonly collectFiles?: boolean;
  /**
   * The output is listCommand's with `keys`: each kept file whose key is in this source hash cache
   * gets its hash from it, the others are named by cacheResult().
   */
  readonly cache?: HashTable;
}

export type ListingResult =
  | { readonly kind: "ok"; readonly snapshot: Listing }
  | { readonly kind: "no-root" }
  /** tooMany: over maxEntries (the error is limits.ts's message). */
  | { readonly kind: "bad"; readonly error: string; readonly tooMany?: true };

const SPECIAL: Record<string, string> = { b: "block device", c: "character device", p: "fifo", s: "socket", D: "door" };

/** seconds.fraction → the same double Node computes for Stats#mtimeMs (sec*1e3 + nsec/1e6). */
export function parseMtime(s: string): number {
  const dot = s.indexOf(".");
  if (dot < 0) return Number(s) * 1e3;
  const nsec = Number(s.slice(dot + 1, dot + 10).padEnd(9, "0"));
  const sec = Number(s.slice(0, dot));
  return sec < 0 ? sec * 1e3 - nsec / 1e6 : sec * 1e3 + nsec / 1e6;
}

/** Where the RelPath of the record's `./path` (or `.`) in body[from, to) starts; -1 when it is neither. */
function pathStart(body: Buffer, from: number, to: number): number {
  if (to - from === 1 && body[from] === 0x2e) return to;
  if (to - from < 3 || body[from] !== 0x2e || body[from + 1] !== 0x2f) return -1;
  return from + 2;
}

const STAGING = Buffer.from(STAGING_DIR, "latin1");

/** Whether the RelPath body[from, to) is the staging directory or below it. */
function underStaging(body: Buffer, from: number, to: number): boolean {
  const n = STAGING.length;
  if (to - from < n || (to - from > n && body[from + n] !== 0x2f)) return false;
  for (let k = 0; k < n; k++) if (body[from + k] !== STAGING[k]) return false;
  return true;
}

/** The problem a record of find type `type` other than f, d, l is. */
function problemText(type: string): string {
  if (type === "X") return "permission denied: directory cannot be listed";
  return `${SPECIAL[type] ?? `unknown file type ${type}`} cannot be synced`;
}

/** parseMtime of body[from, to) without a string: the same integers, so the same double. */
function mtimeAt(body: Buffer, from: number, to: number): number {
  let dot = from;
  while (dot < to && body[dot] !== 0x2e) dot++;
  if (body[from] === 0x2d || dot === to) return parseMtime(body.toString("latin1", from, to));
  const sec = parseUint(body, from, dot, 10);
  let nsec = 0;
  for (let k = 0; k < 9; k++) nsec = nsec * 10 + (dot + 1 + k < to ? body[dot + 1 + k]! - 0x30 : 0);
  return sec * 1e3 + nsec / 1e6;
}

function wanted(p: RelPath, only: readonly RelPath[] | undefined): boolean {
  if (only === undefined || p === "") return true;
  return only.some((o) => o === "" || p === o || (p.startsWith(o) && p.charCodeAt(o.length) === 0x2f));
}

/** The decimal (or, base 8, octal) number in body[from, to); NaN when it is not one. */
function parseUint(body: Buffer, from: number, to: number, base: number): number {
  if (from === to) return NaN;
  let n = 0;
  for (let k = from; k < to; k++) {
    const d = body[k]! - 0x30;
    if (d < 0 || d >= base) return NaN;
    n = n * base + d;
  }
  return n;
}

const FIELD_COUNT = 8;
const KEYED_COUNT = 11;

/** What a keyed listing's look-ups in the source hash cache found. */
export interface CacheResult {
  /** Kept files the cache had no record for (or whose key changed): to hash. */
  readonly misses: RelPath[];
  readonly hits: HitRecords;
}

const TWO32 = 2 ** 32;

/** Writes the integer n (below 2^53) as a u64's two words, low first. */
function putNumber(out: Uint32Array, at: number, n: number): void {
  const lo = n % TWO32;
  out[at] = lo;
  out[at + 1] = (n - lo) / TWO32;
}

/**
 * find's %T@ / %C@ (seconds, 10 fraction digits) as integer ns, written as two words (low first):
 * sec * 1e9 + nsec is past 2^53, so it is assembled from parts that are each exact as doubles
 * (sec = sh * 2^16 + sl, sh * 1e9 = ah * 2^16 + al). False, so not cached, for times before 1970
 * or from 2514 on (2^34 s, where the ns would overflow a u64).
 */
function putNsAt(body: Buffer, from: number, to: number, out: Uint32Array, at: number): boolean {
  if (body[from] === 0x2d) return false;
  let dot = body.indexOf(0x2e, from);
  if (dot < 0 || dot > to) dot = to;
  const sec = parseUint(body, from, dot, 10);
  if (Number.isNaN(sec) || sec >= 2 ** 34) return false;
  let nsec = 0;
  for (let k = dot + 1; k < dot + 10; k++) {
    const d = k < to ? body[k]! - 0x30 : 0;
    if (d < 0 || d > 9) return false;
    nsec = nsec * 10 + d;
  }
  const sl = sec % 65536;
  const a = ((sec - sl) / 65536) * 1e9;
  const al = a % 65536;
  const c = al * 65536 + sl * 1e9 + nsec;
  const cl = c % TWO32;
  out[at] = cl;
  out[at + 1] = (a - al) / 65536 + (c - cl) / TWO32;
  return true;
}

/** A decimal field (device and inode numbers are u64) written as two words; false when it is not one. */
function putU64At(body: Buffer, from: number, to: number, out: Uint32Array, at: number): boolean {
  if (to - from <= 15) {
    const n = parseUint(body, from, to, 10);
    if (Number.isNaN(n)) return false;
    putNumber(out, at, n);
    return true;
  }
  const t = body.toString("latin1", from, to);
  if (!/^\d+$/.test(t)) return false;
  const v = BigInt(t);
  if (v >= 2n ** 64n) return false;
  out[at] = Number(v & 0xffffffffn);
  out[at + 1] = Number(v >> 32n);
  return true;
}

/**
 * Parses `listCommand` output as it arrives, chunk by chunk, into a Listing: the whole output is never
 * held (at a million entries it is ~70 MB), and no string is made per field, only one per path.
 */
export class ListingParser {
  private readonly builder: ListingBuilder;
  /** Bytes not parsed yet: noise before the marker, then at most one partial record. */
  private carry: Buffer = Buffer.alloc(0);
  private state: "marker" | "root" | "records" | "no-root" = "marker";
  private records = 0;
  /** NULs seen after the maxEntries-th record (counted, not parsed: the error says how many). */
  private overNuls = -1;
  private bad: string | undefined;
  private readonly fields: number;
  private readonly ends: Int32Array;
  private readonly openVerdicts = new OpenDirs<boolean>();
  private readonly unlistedVerdicts = new Map<RelPath, boolean>();
  /** collectFiles: `./path\0` of each regular file kept since the last takeFiles(), as views of the input (valid until the next push). */
  private files: Buffer[] = [];
  /** collectFiles: the builder index of each file collected, and what takeFiles() handed out, in order. */
  private readonly fileIndexes: number[] = [];
  private readonly taken: Buffer[] = [];
  /** collectFiles, after end(): each builder record's index in the listing. */
  private finalIndex: Int32Array | undefined;
  /** cache: the files to hash, and the hits. */
  private readonly misses: RelPath[] = [];
  private readonly hits: HitRecords | undefined;
  /** cache: the key of the record being looked up (KEY's layout). */
  private readonly key = new Uint32Array(KEY.words);

  constructor(private readonly opts: ListingOptions) {
    // Every record passes opts.exclude (and its parents' verdicts) before it is added.
    this.builder = new ListingBuilder(opts.exclude.key);
    this.fields = opts.cache ? KEYED_COUNT : FIELD_COUNT;
    this.ends = new Int32Array(this.fields);
    this.hits = opts.cache ? new HitRecords(opts.cache) : undefined;
  }

  /** cache: what the look-ups found (after end()). */
  cacheResult(): CacheResult | undefined {
    return this.hits && { misses: this.misses, hits: this.hits };
  }

  /** A kept file of a keyed listing: its hash from the cache; false when the cache has none. */
  private lookUp(i: number, body: Buffer, size: number, hits: HitRecords): boolean {
    const ends = this.ends;
    const key = this.key;
    const readable =
      !Number.isNaN(size) &&
      putU64At(body, ends[7]! + 1, ends[8]!, key, KEY.dev) &&
      putU64At(body, ends[8]! + 1, ends[9]!, key, KEY.ino) &&
      putNsAt(body, ends[2]! + 1, ends[3]!, key, KEY.mtimeNs) &&
      putNsAt(body, ends[9]! + 1, ends[10]!, key, KEY.ctimeNs);
    if (readable) putNumber(key, KEY.size, size);
    const digest = readable ? hits.lookUp(key) : undefined;
    if (digest === undefined) return false;
    this.builder.setHash(i, Buffer.from(digest.buffer, digest.byteOffset, digest.length).toString("hex"));
    return true;
  }

  /** The regular files kept since the last call, as hashCommand's stdin (`./path\0` each); empty when none. */
  takeFiles(): Buffer {
    const out = Buffer.concat(this.files);
    this.files = [];
    if (out.length > 0) this.taken.push(out);
    return out;
  }

  /**
   * `listing` (what end() gave) with the hashes that hashCommand printed for the files taken (fed to
   * it in takeFiles' order, so its records come in that order, less the files it could not hash):
   * matched by a cursor, with no path string or lookup per file; undefined when the output is not
   * hashCommand's.
   */
  withHashes(listing: Listing, stdout: Buffer): Listing | undefined {
    const body = afterMarker(stdout, HASH_MARKER);
    if (body === undefined || this.finalIndex === undefined) return undefined;
    const sent = Buffer.concat(this.taken);
    const final = this.finalIndex;
    const hashes = new Map<number, string>();
    let at = 0;
    let k = 0;
    const ok = eachHash(body, (hex, from, to) => {
      // Skip the files left out (vanished, unreadable) up to the one this record names.
      // (Byte loops: a name is ~30 bytes, less than a call to Buffer#indexOf or #compare costs.)
      for (; at < sent.length; k++) {
        let end = at;
        while (sent[end] !== 0) end++;
        const same = end - at === to - from && sameBytes(sent, at, body, from, to - from);
        at = end + 1;
        if (same) {
          const j = final[this.fileIndexes[k++]!]!;
          if (j >= 0) hashes.set(j, hex);
          return true;
        }
      }
      return false;
    });
    return ok ? listing.withHashesAt(hashes) : undefined;
  }

  // Directory verdicts, so a child of an excluded directory is excluded too (gitignore cannot
  // re-include below an excluded directory): "this directory or one above it is excluded", so each
  // record costs one lookup of its parent instead of a walk over all its ancestors. find lists a
  // parent before its children, so the verdicts of the open directories are enough; an `only` walk
  // starts below the root and asks the matcher about ancestors it never listed (memoized).
  private blocked(d: RelPath): boolean {
    if (d === "") return false;
    return this.openVerdicts.find(d) ?? this.blockedUnlisted(d);
  }

  private blockedUnlisted(d: RelPath): boolean {
    if (d === "") return false;
    let v = this.unlistedVerdicts.get(d);
    if (v === undefined) this.unlistedVerdicts.set(d, (v = this.blockedUnlisted(parentOf(d)) || this.opts.exclude(d, true)));
    return v;
  }

  push(chunk: Buffer): void {
    if (this.bad !== undefined || this.state === "no-root") return;
    let buf = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    if (this.state === "marker") {
      const body = afterMarker(buf, LIST_MARKER);
      // Keep the tail that may hold the start of a marker split across chunks.
      if (body === undefined) return void (this.carry = buf.subarray(Math.max(0, buf.length - LIST_MARKER.length)));
      this.state = "root";
      buf = body;
    }
    if (this.state === "root") {
      if (buf.length < NO_ROOT_MARKER.length && NO_ROOT_MARKER.startsWith(buf.toString("latin1"))) return void (this.carry = buf);
      if (buf.subarray(0, NO_ROOT_MARKER.length).toString("latin1") === NO_ROOT_MARKER) return void (this.state = "no-root");
      this.state = "records";
    }
    const used = this.parse(buf);
    this.carry = used === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(used));
  }

  /** Parses the complete records at the start of `body`; returns how many bytes they took. */
  private parse(body: Buffer): number {
    const opts = this.opts;
    const ends = this.ends;
    // No patterns: nothing but the staging directory (skipped below) is excluded.
    const filtering = opts.exclude.patterns !== 0;
    const matching = filtering || opts.only !== undefined;
    let pos = 0;
    if (this.overNuls >= 0) {
      for (let k = body.indexOf(0); k >= 0; k = body.indexOf(0, k + 1)) this.overNuls++;
      return body.length;
    }
    const len = body.length;
    while (pos < len) {
      const start = pos;
      // The fields' NULs found by a loop: 8 Buffer#indexOf calls per record cost more than the
      // ~70 bytes they skip (~30 ms of a small-20k plan's 5 listings).
      for (let f = 0; f < this.fields; f++) {
        let end = pos;
        while (end < len && body[end] !== 0) end++;
        if (end === len) return start;
        ends[f] = end;
        pos = end + 1;
      }
      // Entries kept, not records read: excluded and staging records do not count toward the limit.
      if (opts.maxEntries !== undefined && this.builder.count >= opts.maxEntries) {
        this.records = this.builder.count + 1;
        this.overNuls = 0;
        return pos + this.parse(body.subarray(pos));
      }
      const record = this.records++;
      const pt = ends[7]!;
      const from = pathStart(body, ends[6]! + 1, pt);
      if (from < 0) {
        this.bad = `unexpected path in listing at record ${record}`;
        return body.length;
      }
      if (underStaging(body, from, pt)) continue;
      const t = ends[0]! - start === 1 ? body[start]! : 0;
      let kind = t === 0x66 ? FILE : t === 0x64 ? DIR : t === 0x6c ? SYMLINK : PROBLEM;
      // A file or directory needs its path as a string only to be matched (excludes, `only`) or
      // looked up (cache misses); the builder takes its bytes.
      let path: RelPath | undefined;
      if (matching || kind === SYMLINK || kind === PROBLEM) {
        path = body.toString("latin1", from, pt) as RelPath;
        if (!wanted(path, opts.only)) continue;
        const isDir = kind === DIR || t === 0x58;
        if (path !== "" && filtering) {
          const out = this.blocked(parentOf(path)) || opts.exclude(path, isDir);
          if (isDir) this.openVerdicts.open(path, out);
          if (out) continue;
        }
        if (kind === PROBLEM) {
          this.builder.add(path, { kind, mode: 0, mtimeMs: 0, size: 0, text: problemText(t === 0 ? body.toString("latin1", start, ends[0]!) : String.fromCharCode(t)) });
          continue;
        }
      }
      const mode = parseUint(body, ends[0]! + 1, ends[1]!, 8) & 0o7777;
      const mtimeMs = mtimeAt(body, ends[2]! + 1, ends[3]!);
      const size = kind === FILE ? parseUint(body, ends[1]! + 1, ends[2]!, 10) : 0;
      let i: number;
      if (kind === SYMLINK || opts.owners) {
        const own = opts.owners ? { uid: Number(body.toString("latin1", ends[3]! + 1, ends[4]!)), gid: Number(body.toString("latin1", ends[4]! + 1, ends[5]!)) } : undefined;
        const text = kind === SYMLINK ? body.toString("latin1", ends[5]! + 1, ends[6]!) : undefined;
        i = this.builder.add(path ?? (body.toString("latin1", from, pt) as RelPath), { kind, mode, mtimeMs, size, ...(text !== undefined ? { text } : {}), ...own });
      } else i = this.builder.addPlain(body, from, pt, kind, mode, mtimeMs, size);
      if (kind !== FILE) continue;
      // The path field and its NUL: hashCommand's input as it is.
      if (opts.collectFiles) {
        this.fileIndexes.push(i);
        this.files.push(body.subarray(ends[6]! + 1, pt + 1));
      }
      if (this.hits && !this.lookUp(i, body, size, this.hits)) this.misses.push(path ?? (body.toString("latin1", from, pt) as RelPath));
    }
    return pos;
  }

  /** The result once the output has ended. */
  end(): ListingResult {
    if (this.bad !== undefined) return { kind: "bad", error: this.bad };
    if (this.state === "marker") return { kind: "bad", error: "no listing in the remote output" };
    if (this.state === "no-root") return { kind: "no-root" };
    if (this.overNuls >= 0) return { kind: "bad", error: tooManyEntries(this.records + Math.floor(this.overNuls / this.fields), this.opts.maxEntries!), tooMany: true };
    // A complete listing ends with the NUL after the 8th field of its last record.
    if (this.carry.length > 0) return { kind: "bad", error: "truncated listing" };
    if (!this.opts.collectFiles) return { kind: "ok", snapshot: this.builder.finish() };
    // Kept for withHashes(): the hashes arrive after the listing is built (its sort overlaps the hashing).
    const { listing, at } = this.builder.finishMapped();
    this.finalIndex = at;
    return { kind: "ok", snapshot: listing };
  }
}

/** Parse `listCommand` output held whole (stdout as received, noise and all). */
export function parseListing(stdout: Buffer, opts: ListingOptions): ListingResult {
  const p = new ListingParser(opts);
  p.push(stdout);
  return p.end();
}

export const LINKS_MARKER = "TSYNC-LINKS\0";

/**
 * Regular files with more than one name (preserve hardlinks), as `dev:ino\0./path\0` records: the
 * whole tree, or (`only`) the paths named on stdin and what is below them. A separate walk, so the
 * listing's format stays the same whether or not links are asked for.
 */
export function linksCommand(root: string, opts: { only: boolean; timeoutSec: number }): string {
  const t = `timeout -k 5 ${opts.timeoutSec}`;
  const find = `-type f -links +1 -printf '%D:%i\\0%p\\0'`;
  return [
    "LC_ALL=C; export LC_ALL",
    `printf '${LINKS_MARKER.replace("\0", "\\0")}'`,
    `cd -- ${shq(root)} 2>/dev/null || exit 0`,
    opts.only ? `${t} xargs -0 -r sh -c 'exec find "$@" ${find.replace(/'/g, `'\\''`)}' sh` : `${t} find . ${find}`,
  ].join("\n");
}

/** Parse linksCommand's output: path → "dev:ino"; undefined when the output is not ours. */
export function parseLinks(stdout: Buffer): Map<RelPath, string> | undefined {
  const body = afterMarker(stdout, LINKS_MARKER);
  if (body === undefined) return undefined;
  const f = body.toString("latin1").split("\0");
  if (f.pop() !== "" || f.length % 2 !== 0) return undefined;
  const out = new Map<RelPath, string>();
  for (let i = 0; i < f.length; i += 2) {
    const p = f[i + 1]!;
    if (!/^\d+:\d+$/.test(f[i]!) || !p.startsWith("./")) return undefined;
    out.set(p.slice(2) as RelPath, f[i]!);
  }
  return out;
}

/**
 * Hashes the regular files named on stdin (`./path\0`), skipping anything that is no longer a regular
 * file (never follows a symlink). Exit status is xargs' (123: some could not be read).
 */
export function hashCommand(root: string, timeoutSec: number): string {
  return [
    "LC_ALL=C; export LC_ALL",
    `printf '${HASH_MARKER.replace("\0", "\\0")}'`,
    `cd -- ${shq(root)} 2>/dev/null || exit 0`,
    `timeout -k 5 ${timeoutSec} xargs -0 -r sh -c 'exec find "$@" -maxdepth 0 -type f -print0' sh | timeout -k 5 ${timeoutSec} xargs -0 -r b2sum -z --`,
  ].join("\n");
}

const HEX_LEN = 128;

/** Whether a[af, af + n) and b[bf, bf + n) hold the same bytes. */
function sameBytes(a: Buffer, af: number, b: Buffer, bf: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[af + k] !== b[bf + k]) return false;
  return true;
}

/** 1 at the bytes of lowercase hex digits. */
const HEX = new Uint8Array(256);
for (const c of "0123456789abcdef") HEX[c.charCodeAt(0)] = 1;

/** Whether body[from, from + HEX_LEN) is lowercase hex (a table: a regex per record was ~2 % of a deep plan, four comparisons per byte ~50 ms of 80k records). */
function isHexAt(body: Buffer, from: number): boolean {
  for (let k = from, end = from + HEX_LEN; k < end; k++) if (HEX[body[k]!] === 0) return false;
  return true;
}

/**
 * Each `HASH  ./path\0` record of b2sum -z: `fn(hash, from, to)` with body[from, to) the `./path`
 * bytes; stops with false at a record that is not one, or when fn says false.
 */
function eachHash(body: Buffer, fn: (hash: string, from: number, to: number) => boolean): boolean {
  for (let pos = 0; pos < body.length; ) {
    const end = body.indexOf(0, pos);
    if (end < 0) return false;
    if (end > pos) {
      const name = pos + HEX_LEN + 2;
      const ok = end >= name + 2 && body[pos + HEX_LEN] === 0x20 && (body[pos + HEX_LEN + 1] === 0x20 || body[pos + HEX_LEN + 1] === 0x2a) && body[name] === 0x2e && body[name + 1] === 0x2f;
      if (!ok || !isHexAt(body, pos) || !fn(body.toString("latin1", pos, pos + HEX_LEN), name, end)) return false;
    }
    pos = end + 1;
  }
  return true;
}

/** Parse `HASH  ./path\0` records after the marker; undefined when the output is not ours. */
export function parseHashes(stdout: Buffer): Map<RelPath, string> | undefined {
  const body = afterMarker(stdout, HASH_MARKER);
  if (body === undefined) return undefined;
  const out = new Map<RelPath, string>();
  const ok = eachHash(body, (hash, from, to) => {
    out.set(body.toString("latin1", from + 2, to) as RelPath, hash);
    return true;
  });
  return ok ? out : undefined;
}
