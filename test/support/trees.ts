// An independent view of a directory tree, for tests and benchmarks: GNU find + sha256sum, never
// tsync's own scanner, so a scanner bug cannot hide itself. Names are raw bytes end to end (NUL
// framing, Buffer parsing) and are only escaped when rendered into the canonical text.
import { execFile } from "node:child_process";
import { AssertionError } from "node:assert";

export { makeHostileTree, wordpressTree, genTree, PWNED_MARKERS } from "./corpus.js";
export type { GenTreeOptions, WordpressTreeInfo } from "./corpus.js";

export interface ListOptions {
  /** Include mtimes (not for directories unless `dirTimes`). Rounded to `timePrecision`. */
  readonly times?: boolean;
  /** Directory mtimes are only meaningful when the writer sets them after its children. */
  readonly dirTimes?: boolean;
  readonly timePrecision?: "s" | "ms" | "us" | "ns";
  /** Include numeric uid:gid. */
  readonly owner?: boolean;
  /** Top-level-relative names (as `%P` prints them, raw bytes latin1-decoded) to leave out, with their subtrees. */
  readonly exclude?: readonly string[];
}

export interface ListedEntry {
  /** Raw relative path bytes. */
  readonly path: Buffer;
  /** find's %y: f, d, l, p, s, c, b. */
  readonly type: string;
  readonly mode: string;
  readonly size: number;
  /** Nanoseconds since the epoch. */
  readonly mtimeNs: bigint;
  readonly uid: number;
  readonly gid: number;
  /** Symlink target bytes (empty for others). */
  readonly link: Buffer;
  /** sha256 hex for regular files. */
  readonly sha256?: string;
}

const MAX_BUFFER = 1 << 30;

function run(cmd: string, args: string[], cwd: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, encoding: "buffer", maxBuffer: MAX_BUFFER }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} in ${cwd}: ${stderr.toString().trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function splitNul(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = buf.indexOf(0); i >= 0; i = buf.indexOf(0, start)) {
    out.push(buf.subarray(start, i));
    start = i + 1;
  }
  return out;
}

/** "1700000000.1234567890" → ns, exact (no float). */
function parseTime(s: string): bigint {
  const [sec, frac = ""] = s.split(".");
  return BigInt(sec!) * 1_000_000_000n + BigInt((frac + "000000000").slice(0, 9));
}

function roundTime(ns: bigint, p: NonNullable<ListOptions["timePrecision"]>): string {
  const unit = { s: 1_000_000_000n, ms: 1_000_000n, us: 1_000n, ns: 1n }[p];
  return `${(ns + unit / 2n) / unit}${p}`;
}

/** Escapes so that every byte sequence has one printable, tab/newline-free spelling. */
export function escapeBytes(b: Buffer): string {
  let out = "";
  for (const c of b) out += c > 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : "\\x" + c.toString(16).padStart(2, "0");
  return out;
}

function excluded(path: Buffer, exclude: readonly Buffer[]): boolean {
  return exclude.some((e) => path.equals(e) || (path.length > e.length && path[e.length] === 0x2f && path.subarray(0, e.length).equals(e)));
}

/** Every entry below `dir` (not `dir` itself), sorted by raw path bytes. */
export async function listEntries(dir: string, opts: ListOptions = {}): Promise<ListedEntry[]> {
  // cwd = dir and "." as the start point: names reach us only through find's output, never argv.
  const meta = await run("find", [".", "-mindepth", "1", "-printf", "%P\\0%y\\0%m\\0%s\\0%T@\\0%U\\0%G\\0%l\\0"], dir);
  // "./name" spelling keeps a leading "-" from being read as an option by sha256sum.
  const sums = await run("find", [".", "-mindepth", "1", "-type", "f", "-exec", "sha256sum", "-z", "--", "{}", "+"], dir);
  const hashes = new Map<string, string>();
  for (const rec of splitNul(sums)) {
    // -z output is "HEX  NAME" with the name verbatim (no backslash escaping).
    hashes.set(rec.subarray(66 + 2).toString("latin1"), rec.subarray(0, 64).toString("latin1"));
  }
  const f = splitNul(meta);
  if (f.length % 8 !== 0) throw new Error(`find output in ${dir}: ${f.length} fields, not a multiple of 8`);
  const exclude = (opts.exclude ?? []).map((e) => Buffer.from(e, "latin1"));
  const out: ListedEntry[] = [];
  for (let i = 0; i < f.length; i += 8) {
    const path = f[i]!;
    if (excluded(path, exclude)) continue;
    const type = f[i + 1]!.toString();
    out.push({
      path,
      type,
      mode: f[i + 2]!.toString(),
      size: Number(f[i + 3]!.toString()),
      mtimeNs: parseTime(f[i + 4]!.toString()),
      uid: Number(f[i + 5]!.toString()),
      gid: Number(f[i + 6]!.toString()),
      link: f[i + 7]!,
      ...(type === "f" ? { sha256: hashes.get(path.toString("latin1")) } : {}),
    });
  }
  return out.sort((a, b) => Buffer.compare(a.path, b.path));
}

export function renderEntry(e: ListedEntry, opts: ListOptions = {}): string {
  const cols = [escapeBytes(e.path), e.type, e.mode];
  if (e.type === "f") cols.push(String(e.size), e.sha256 ?? "?");
  else if (e.type === "l") cols.push("->", escapeBytes(e.link));
  if (opts.owner) cols.push(`${e.uid}:${e.gid}`);
  // Symlink times are not replicated (tsync compares a link by its target only), so never compared.
  if (opts.times && (e.type === "f" || (e.type === "d" && opts.dirTimes))) cols.push(roundTime(e.mtimeNs, opts.timePrecision ?? "ms"));
  return cols.join("\t");
}

/**
 * Canonical text of a tree: one line per entry, `PATH TYPE MODE [SIZE SHA256 | -> TARGET] [UID:GID] [MTIME]`
 * tab-separated, sorted by raw bytes. Two trees are equal under `opts` iff their texts are equal.
 */
export async function listTree(dir: string, opts: ListOptions = {}): Promise<string> {
  return (await listEntries(dir, opts)).map((e) => renderEntry(e, opts)).join("\n");
}

/** Lines present on one side only, keyed by path, at most `limit` of them. */
export function diffListings(a: string, b: string, limit = 40): string[] {
  const la = new Set(a === "" ? [] : a.split("\n"));
  const lb = new Set(b === "" ? [] : b.split("\n"));
  const out: string[] = [];
  for (const l of la) if (!lb.has(l)) out.push(`- ${l}`);
  for (const l of lb) if (!la.has(l)) out.push(`+ ${l}`);
  out.sort((x, y) => (x.slice(2) < y.slice(2) ? -1 : x.slice(2) > y.slice(2) ? 1 : 0));
  return out.length > limit ? [...out.slice(0, limit), `… and ${out.length - limit} more`] : out;
}

/**
 * tsync's own notion of equal times (reconciler/model/snapshot.ts timesEqual): a time goes through a
 * double of milliseconds and the target's utime, which moves it by up to ~0.25 µs. Rounding both sides
 * to a precision instead fails whenever the two land on either side of a rounding boundary (a source
 * time 0.1 µs above x.5 ms, its copy 0.1 µs below: "835ms" vs "836ms").
 */
export const TIME_TOLERANCE_NS = 2_000n;

/**
 * Differences between two trees (`-` only in a, `+` only in b), with a time in b counted equal to a's
 * for the same entry when within TIME_TOLERANCE_NS; every other time difference shows in nanoseconds.
 */
export async function treeDifferences(a: string, b: string, opts: ListOptions = {}, limit = 40): Promise<string[]> {
  const [ea, eb] = await Promise.all([listEntries(a, opts), listEntries(b, opts)]);
  const ta = new Map(ea.map((e) => [e.path.toString("latin1"), e.mtimeNs]));
  const close = (x: bigint, y: bigint) => (x > y ? x - y : y - x) < TIME_TOLERANCE_NS;
  const snapped = eb.map((e) => {
    const t = ta.get(e.path.toString("latin1"));
    return t !== undefined && close(t, e.mtimeNs) ? { ...e, mtimeNs: t } : e;
  });
  const exact = { ...opts, timePrecision: "ns" as const };
  const render = (es: ListedEntry[]) => es.map((e) => renderEntry(e, exact)).join("\n");
  return diffListings(render(ea), render(snapped), limit);
}

/** Throws an AssertionError naming every differing entry (`-` only in a, `+` only in b). */
export async function assertTreesEqual(a: string, b: string, opts: ListOptions = {}): Promise<void> {
  const [ta, tb] = await Promise.all([listTree(a, opts), listTree(b, opts)]);
  if (ta === tb) return;
  const lines = diffListings(ta, tb);
  throw new AssertionError({ message: `trees differ: ${a} (-) vs ${b} (+)\n${lines.join("\n")}`, actual: tb, expected: ta, operator: "assertTreesEqual" });
}

/**
 * rsync's own opinion, as a second independent check: itemized differences of a dry run with
 * checksums (`-anc --delete`); an empty list means identical content, types, perms, times and,
 * as root, owners. rsync prints non-printable name bytes as `\#ooo`.
 */
export async function rsyncItemize(src: string, dst: string, extraArgs: readonly string[] = []): Promise<string[]> {
  const slash = (p: string) => (p.endsWith("/") ? p : p + "/");
  const out = await run("rsync", ["-anc", "--delete", "--itemize-changes", ...extraArgs, "--", slash(src), slash(dst)], "/");
  return out.toString("utf8").split("\n").filter((l) => l !== "");
}
