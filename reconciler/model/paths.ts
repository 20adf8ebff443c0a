// File names are bytes. A RelPath holds the latin1 decoding of the raw bytes of a path relative to a
// tree root ("" is the root, "a/b" below it): it round-trips exactly, sorts in byte order and works
// as a Map key. Convert to a Buffer for any syscall; escape only when rendering for humans.
import { hasUnsafe, visible } from "./text.js";

export type RelPath = string & { readonly __relPath: unique symbol };

export const ROOT = "" as RelPath;

export function relPath(latin1: string): RelPath {
  return latin1 as RelPath;
}

export function fromBytes(bytes: Buffer): RelPath {
  return bytes.toString("latin1") as RelPath;
}

export function toBytes(p: string): Buffer {
  return Buffer.from(p, "latin1");
}

export function joinRel(parent: RelPath, name: string): RelPath {
  return (parent === "" ? name : `${parent}/${name}`) as RelPath;
}

export function parentOf(p: RelPath): RelPath {
  const i = p.lastIndexOf("/");
  return (i < 0 ? "" : p.slice(0, i)) as RelPath;
}

export function depthOf(p: RelPath): number {
  if (p === "") return 0;
  let n = 1;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 0x2f) n++;
  return n;
}

/** All proper ancestors, outermost first, excluding the root: "a/b/c" → ["a", "a/b"]. */
export function ancestorsOf(p: RelPath): RelPath[] {
  const out: RelPath[] = [];
  for (let i = p.indexOf("/"); i >= 0; i = p.indexOf("/", i + 1)) out.push(p.slice(0, i) as RelPath);
  return out;
}

export function isInside(p: RelPath, dir: RelPath): boolean {
  return dir === "" ? p !== "" : p.length > dir.length && p.startsWith(dir) && p.charCodeAt(dir.length) === 0x2f;
}

/** Byte-order comparison (latin1 code units are bytes). */
export function compareRel(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Absolute path bytes of `rel` under `root` (root is a normal string from the manifest). */
export function absBytes(root: string, rel: RelPath): Buffer {
  const r = Buffer.from(root, "utf8");
  if (rel === "") return r;
  const sep = root.endsWith("/") ? "" : "/";
  return Buffer.concat([r, Buffer.from(sep), toBytes(rel)]);
}

/**
 * For humans: UTF-8 names shown as text, anything else (control bytes, C1 controls, bidi overrides,
 * invisible characters, invalid UTF-8, quotes, backslashes) as C-style escapes inside double quotes,
 * so a name can never forge output lines, reorder what is read, or drive the terminal.
 */
export function displayPath(p: string): string {
  const bytes = toBytes(p);
  const text = bytes.toString("utf8");
  const clean = Buffer.from(text, "utf8").equals(bytes) && !/[\x00-\x1f\x7f"\\]|^\s|\s$/.test(text) && !hasUnsafe(text);
  if (clean) return text;
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === "\uFFFD") continue; // replaced below from raw bytes
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += visible(ch);
  }
  if (text.includes("\uFFFD")) {
    // Invalid UTF-8: fall back to escaping byte-wise so the name stays unambiguous.
    out = '"';
    for (const b of bytes) {
      if (b === 0x22 || b === 0x5c) out += "\\" + String.fromCharCode(b);
      else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
      else out += "\\x" + b.toString(16).padStart(2, "0");
    }
  }
  return out + '"';
}

/** Decides whether a path is excluded (gitignore semantics, see core/ignore.ts). */
/**
 * `patterns`: how many exclude patterns it holds, when known (0: it matches the staging directory
 * alone); `key`: the same for matchers of the same patterns.
 */
export type Matcher = ((path: RelPath, isDir: boolean) => boolean) & {
  readonly patterns?: number;
  readonly key?: string;
  /** Directories it surely excludes, for find to skip (see core/ignore.ts prunable). */
  readonly prune?: Prune;
};

/** Literal directory excludes: `paths` below the root ("wp-content/cache"), `names` at any depth (".git"). */
export interface Prune {
  readonly paths: readonly string[];
  readonly names: readonly string[];
}
