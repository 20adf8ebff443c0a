// What a scan sees of a tree: a map from relative path to entry. A missing `hash` means unknown.
import type { RelPath } from "./paths.js";

interface Meta {
  /** Permission bits and set-id/sticky bits (mode & 0o7777). */
  readonly mode: number;
  /** Milliseconds since the epoch with sub-millisecond fraction (as fs.Stats#mtimeMs). */
  readonly mtimeMs: number;
  readonly uid?: number;
  readonly gid?: number;
}

export interface FileEntry extends Meta {
  readonly kind: "file";
  readonly size: number;
  /** BLAKE2b-512 hex of the content (same digest as coreutils `b2sum`); absent: not hashed. */
  readonly hash?: string;
  /**
   * "dev:ino" when the file has more than one name (hard links) and the scan asked for links
   * (ScanOptions.links): equal values in one tree are one inode. Absent otherwise.
   */
  readonly link?: string;
}

export interface DirEntry extends Meta {
  readonly kind: "dir";
}

export interface SymlinkEntry extends Meta {
  readonly kind: "symlink";
  /** Link target bytes, latin1-decoded like RelPath. Never followed. */
  readonly target: string;
}

/** A path that could not be read: reported, counted, never deleted because of it. */
export interface ProblemEntry {
  readonly kind: "problem";
  readonly error: string;
}

export type Entry = FileEntry | DirEntry | SymlinkEntry | ProblemEntry;
export type EntryKind = Entry["kind"];

/** The root itself is present under "" as a dir entry when the tree exists. */
export type Snapshot = ReadonlyMap<RelPath, Entry>;

/** Names tsync itself uses inside a target root; scanners always skip them. */
export const STAGING_DIR = ".tsync-tmp";

/**
 * Modification times as equal as both sides can keep them. The filesystems keep nanoseconds, but
 * Node's utimes (libuv) truncates what it sets to whole microseconds, and every mtimeMs is a double
 * whose ulp at today's epoch (~1.7e12 ms) is ~0.24 µs, read once on each side. Measured over 20,000
 * random times set with fs.utimesSync and read back with fs.statSync: up to 1.22 µs apart. So a
 * difference under 2 µs is how a tree tsync wrote looks, not drift; anything larger is a real
 * difference. (Not 1 µs: that would report drift after every local apply.)
 */
export function timesEqual(aMs: number, bMs: number): boolean {
  return Math.abs(aMs - bMs) < 0.002;
}
