// Trees to replicate in tests and benchmarks: hostile names, a real WordPress, and synthetic trees.
// Everything is deterministic so a failure reproduces.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync, symlinkSync, chmodSync, existsSync, readdirSync, utimesSync, renameSync, rmSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** Files a shell-injection bug in tsync would create; tests assert they never exist. */
export const PWNED_MARKERS = ["/tmp/tsync-pwned", "/tmp/tsync-pwned-bt"] as const;

const CLIMB = "cd ..;".repeat(8) + "cd tmp;";

const b = (s: string) => Buffer.from(s, "utf8");

// [name bytes, kind, payload]: payload is file content, or a symlink target.
type Spec = readonly [Buffer, "file" | "dir" | "symlink", Buffer?, number?];

function hostileSpecs(): Spec[] {
  const nonUtf8 = Buffer.from([0xff, 0xfe, 0x6c, 0x61, 0x74, 0x69, 0x6e]); // "\xff\xfelatin"
  const nlDir = b("dir with\nnewline");
  const specs: Spec[] = [
    [b("with space"), "file"],
    [b(" leading and trailing space "), "file"],
    [b("new\nline"), "file"],
    [b("carriage\rreturn"), "file"],
    [b("tab\there"), "file"],
    [b("single'quote"), "file"],
    [b('double"quote'), "file"],
    // A name cannot hold "/": climb to "/" from any cwd instead, so a shell that runs it leaves a marker.
    [b(`$(${CLIMB}touch tsync-pwned)`), "file"],
    [b(`\`${CLIMB}touch tsync-pwned-bt\``), "file"],
    [b("-rf"), "file"],
    [b("--help"), "file"],
    [b("back\\slash"), "file"],
    [b("glob*?[a]{b,c}"), "file"],
    [b("semi;colon&amp|pipe>redir<in"), "file"],
    [b("~tilde #hash !bang %percent"), "file"],
    [Buffer.from([0x63, 0x74, 0x6c, 0x01, 0x7f]), "file"], // "ctl\x01\x7f"
    [nonUtf8, "file"],
    [Buffer.from("L".repeat(255)), "file"],
    // 127 × "é" (2 bytes) + "x": 255 bytes that are 128 characters — catches char/byte confusion.
    [b("é".repeat(127) + "x"), "file"],
    [b("emoji 😀 ünïcödé"), "file"],
    [b("Case"), "file"],
    [b("case"), "file"],
    [b("..."), "file"],
    [b("..a"), "file"],
    [b(".. "), "file"],
    [b(".hidden"), "file"],
    [b(".tsync-tmp-lookalike"), "file"],
    [b("empty-file"), "file", Buffer.alloc(0)],
    [b("binary-with-nul"), "file", Buffer.from([0, 1, 2, 0xff, 0, 0x0a, 0x0d])],
    [b("private"), "file", b("secret\n"), 0o600],
    [b("exec.sh"), "file", b("#!/bin/sh\necho hi\n"), 0o755],
    [b("empty dir"), "dir"],
    [nlDir, "dir"],
    [Buffer.concat([nlDir, b("/inner file")]), "file"],
    [Buffer.concat([nlDir, b("/-n")]), "file"],
    [Buffer.concat([nlDir, b("/"), nonUtf8]), "dir"],
    [Buffer.concat([nlDir, b("/"), nonUtf8, b("/deep $(id)")]), "file"],
    [b("hostile-link"), "symlink", b("../$(touch /tmp/tsync-pwned)\n`reboot`/-rf")],
    [b("link -> etc"), "symlink", b("/etc")],
    [b("relative-link"), "symlink", b("with space")],
    [Buffer.concat([b("link-to-"), nonUtf8]), "symlink", nonUtf8],
  ];
  return specs;
}

/**
 * Creates the hostile-name corpus under `dir` (created if missing) and returns every path created,
 * relative to `dir`, as latin1-decoded raw bytes (tsync's RelPath convention), sorted by bytes.
 */
export function makeHostileTree(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const root = Buffer.from(dir.endsWith("/") ? dir : dir + "/");
  const names: string[] = [];
  for (const [name, kind, payload, mode] of hostileSpecs()) {
    const abs = Buffer.concat([root, name]);
    if (kind === "dir") mkdirSync(abs);
    else if (kind === "symlink") symlinkSync(payload!, abs);
    else {
      // Content names itself, so a file swapped with another under a different name is detected.
      writeFileSync(abs, payload ?? Buffer.concat([b("content of "), name, b("\n")]));
      if (mode !== undefined) chmodSync(abs, mode);
    }
    names.push(name.toString("latin1"));
  }
  return names.sort();
}

export interface GenTreeOptions {
  readonly files: number;
  readonly dirs: number;
  /** Exact size in bytes, or [min, max] drawn log-uniformly (many small files, few big ones). */
  readonly size: number | readonly [number, number];
  readonly seed: number;
  /** Seconds since the epoch for every file's mtime; absent: the time of writing. */
  readonly mtime?: number;
}

/** mulberry32: small, fast, good enough for reproducible fixtures. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOL_SIZE = 1 << 20;

/**
 * A deterministic synthetic tree: `dirs` directories nested up to ~6 deep, `files` files spread
 * over them and the root. Same options → same names, sizes and bytes. Returns total bytes written.
 */
export function genTree(dir: string, o: GenTreeOptions): { files: number; dirs: number; bytes: number } {
  const rand = rng(o.seed);
  const pool = Buffer.alloc(POOL_SIZE);
  for (let i = 0; i < POOL_SIZE; i += 4) pool.writeUInt32LE(Math.floor(rand() * 4294967296), i);
  mkdirSync(dir, { recursive: true });
  const dirPaths: string[] = [""];
  const depth: number[] = [0];
  for (let i = 0; i < o.dirs; i++) {
    let p = Math.floor(rand() * dirPaths.length);
    if (depth[p]! >= 6) p = 0;
    const rel = (dirPaths[p] === "" ? "" : dirPaths[p] + "/") + `d${String(i).padStart(4, "0")}`;
    mkdirSync(join(dir, rel));
    dirPaths.push(rel);
    depth.push(depth[p]! + 1);
  }
  let bytes = 0;
  const [min, max] = typeof o.size === "number" ? [o.size, o.size] : o.size;
  for (let i = 0; i < o.files; i++) {
    const parent = dirPaths[i < dirPaths.length ? i : Math.floor(rand() * dirPaths.length)]!;
    const size = min === max ? min : Math.round(Math.exp(Math.log(Math.max(min, 1)) + rand() * (Math.log(max) - Math.log(Math.max(min, 1)))));
    const content = Buffer.alloc(size);
    // A 1 MiB pool sliced at a seeded offset, stamped with the index: distinct, incompressible-ish bytes.
    for (let off = 0; off < size; ) {
      const start = Math.floor(rand() * POOL_SIZE);
      off += pool.copy(content, off, start, Math.min(POOL_SIZE, start + size - off));
    }
    if (size >= 8) content.writeUInt32LE(i, 0);
    const ext = [".php", ".js", ".css", ".png", ".txt"][i % 5];
    const abs = join(dir, parent, `f${String(i).padStart(6, "0")}${ext}`);
    writeFileSync(abs, content);
    if (o.mtime !== undefined) utimesSync(abs, o.mtime, o.mtime);
    bytes += size;
  }
  return { files: o.files, dirs: o.dirs, bytes };
}

export interface WordpressTreeInfo {
  /** "debian-package": the real `wordpress` package; "generated": a synthetic tree of the same shape. */
  readonly origin: "debian-package" | "generated";
  readonly version?: string;
  /** Why the package could not be used, when `origin` is "generated". */
  readonly note?: string;
  /** Wall time of this call in milliseconds (download and extraction happen once per cache). */
  readonly ms: number;
}

export const WP_CACHE = "/var/cache/tsync-test";

async function extractedWordpress(cache: string): Promise<{ root: string; version: string }> {
  mkdirSync(cache, { recursive: true });
  let deb = readdirSync(cache).find((f) => /^wordpress_.*\.deb$/.test(f));
  if (deb === undefined) {
    // Download into a private dir and rename: parallel test processes may share the cache.
    const dl = mkdtempSync(join(cache, "dl-"));
    try {
      await exec("apt-get", ["download", "wordpress"], { cwd: dl, timeout: 300_000 });
      deb = readdirSync(dl).find((f) => /^wordpress_.*\.deb$/.test(f));
      if (deb === undefined) throw new Error("apt-get download wordpress produced no .deb");
      renameSync(join(dl, deb), join(cache, deb));
    } finally {
      rmSync(dl, { recursive: true, force: true });
    }
  }
  const version = decodeURIComponent(deb.split("_")[1] ?? "unknown");
  const x = join(cache, `x-${deb}`);
  const root = join(x, "usr/share/wordpress");
  if (!existsSync(root)) {
    // Extract beside the final place and rename, so an interrupted run never leaves a half tree.
    const tmp = mkdtempSync(`${x}.partial-`);
    chmodSync(tmp, 0o755); // mkdtemp makes it 0700; tests running as another user read it too
    await exec("dpkg", ["-x", join(cache, deb), tmp]);
    try {
      renameSync(tmp, x);
    } catch (e) {
      // Another process finished first (ENOTEMPTY/EEXIST): its tree is as good as ours.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(root)) throw e;
    }
  }
  return { root, version };
}

/**
 * Fills `dir` (must not exist or be empty) with Debian's WordPress 6.1 web root (~2,500 files,
 * ~260 dirs, 24 symlinks, 56 MB). Symlinks are kept exactly as packaged: they point outside the tree
 * (`../../../php/getid3/…`, `/etc/ssl/certs/…`) and dangle there — realistic content a replicator
 * must copy verbatim and never follow. Without apt, a generated tree of the same shape is used.
 */
export async function wordpressTree(dir: string, cache: string = WP_CACHE): Promise<WordpressTreeInfo> {
  const t0 = performance.now();
  let note: string;
  try {
    const { root, version } = await extractedWordpress(cache);
    mkdirSync(dir, { recursive: true });
    await exec("cp", ["-a", "--", root + "/.", dir]);
    return { origin: "debian-package", version, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    note = (e as Error).message.split("\n")[0]!;
  }
  genTree(dir, { files: 3000, dirs: 400, size: [100, 200 * 1024], seed: 0x57_50 });
  return { origin: "generated", note, ms: Math.round(performance.now() - t0) };
}
