// A whole-tree local scan as GNU find, spawned here: the same command and NUL-framed records as an
// SSH target's listing (scan/listing.ts), so both sides go through one parser into one Listing. find
// makes the lstat and readdir calls in C in its own process, so the source and a local target are
// walked at the same time, on other cores, while this process only parses; walking them with
// lstatSync on the main thread spent most of a plan's time in those calls, one tree after the other.
import { spawn } from "node:child_process";
import type { RelPath } from "../model/paths.js";
import { PROBLEM, type Listing } from "../model/listing.js";
import { TransportError } from "../model/errors.js";
import type { ScanOptions } from "./options.js";
import { linksCommand, listCommand, ListingParser, onlyVanished, parseLinks, type CacheResult } from "./listing.js";
import type { HashTable } from "./hash-cache-file.js";

/** Upper bound for one local listing (a hung NFS mount must not hang a plan forever); as for SSH. */
const TIMEOUT_SEC = 1800;

const failure = (root: string, detail: string) => new TransportError("local", "scan", `cannot list ${root}: ${detail}`);

function lastLine(b: Buffer): string {
  return b.toString("utf8").trim().split("\n").filter(Boolean).pop() ?? "";
}

/** Runs `sh -c script`, handing stdout to `onData` as it arrives; resolves with the exit code and stderr. */
function run(script: string, onData: (chunk: Buffer) => void, signal: AbortSignal | undefined): Promise<{ code: number; stderr: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal } : {}) });
    const stderr: Buffer[] = [];
    child.stdout.on("data", onData);
    child.stderr.on("data", (c: Buffer) => stderr.push(c));
    child.on("error", reject);
    child.on("close", (code, sig) => resolve({ code: code ?? (sig ? 128 : 1), stderr: Buffer.concat(stderr) }));
  });
}

function checkExit(root: string, what: string, r: { code: number; stderr: Buffer }): void {
  if (r.code === 0 || ((r.code === 1 || r.code === 123) && onlyVanished(r.stderr))) return;
  if (r.code === 124) throw failure(root, `${what} took longer than ${TIMEOUT_SEC} s`);
  throw failure(root, lastLine(r.stderr) || `${what}: exit status ${r.code}`);
}

/**
 * The listing of the whole tree at `root` (a directory: the caller checked), with `describe` giving
 * each problem entry this scanner's own words; "gone" when the root vanished meanwhile, "unenterable"
 * when find cannot enter it (the caller's walk then records the root as a problem entry). With
 * `cache` (a deep scan of a source), the files the cache knows come with their hashes (`cached`).
 */
export async function findLocal(root: string, opts: ScanOptions, describe: (p: RelPath) => string | undefined, cache?: HashTable): Promise<{ listing: Listing; cached?: CacheResult } | "gone" | "unenterable"> {
  const parser = new ListingParser({ exclude: opts.exclude, owners: opts.owners, ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}), ...(cache ? { cache } : {}) });
  const links: Buffer[] = [];
  const [listed, linked] = await Promise.all([
    run(listCommand(root, { only: false, timeoutSec: TIMEOUT_SEC, keys: cache !== undefined, ...(opts.exclude.prune ? { prune: opts.exclude.prune } : {}) }), (c) => parser.push(c), opts.signal),
    opts.links ? run(linksCommand(root, { only: false, timeoutSec: TIMEOUT_SEC }), (c) => links.push(c), opts.signal) : undefined,
  ]);
  opts.signal?.throwIfAborted();
  // listCommand's exit status when `cd` fails on an existing root.
  if (listed.code === 3) return "unenterable";
  checkExit(root, "find", listed);
  const parsed = parser.end();
  if (parsed.kind === "no-root") return "gone";
  // The entry limit's message is the walker's own (limits.ts), shown as it is.
  if (parsed.kind === "bad") throw parsed.tooMany ? new Error(parsed.error) : failure(root, parsed.error);
  let listing = parsed.snapshot;
  const texts = new Map<number, string>();
  for (const [i] of listing.texts) {
    if (listing.kinds[i] !== PROBLEM) continue;
    const text = describe(listing.pathAt(i));
    if (text !== undefined) texts.set(i, text);
  }
  listing = listing.withTexts(texts);
  if (linked !== undefined) {
    checkExit(root, "find (hard links)", linked);
    const ids = parseLinks(Buffer.concat(links));
    if (ids === undefined) throw failure(root, "unexpected output of find (hard links)");
    listing = listing.withLinks(ids);
  }
  const cached = parser.cacheResult();
  return cached ? { listing, cached } : { listing };
}
