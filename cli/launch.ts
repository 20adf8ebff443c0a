#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node
// The `tsync` command (dist/tsync.js): runs the CLI's bundle, dist/tsync-main.cjs, compiled from the
// V8 code cache the build made of it (tools/bundle.ts), so a run does not parse and compile its
// 1.5 MB again: `tsync validate` took ~25 ms less. A cache that does not match (another bundle, or
// a Node whose V8 refuses it) is ignored and the bundle compiled as usual.
//
// The first line fixes glibc's mmap threshold (bench/ANALYSIS.md section 5c): with the default,
// dynamic one, the listing builders' freed arrays stay in the malloc arena, ~35 MB of a 1M-file plan's
// peak. It costs no start-up time; a V8 flag there would (--max-semi-space-size=1 saves ~45 MB more at
// 1M, but with any V8 flag, even its default value, `tsync --version` took ~40 ms longer). `node dist/tsync.js`
// runs without it.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire, Module } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";

const bundle = fileURLToPath(new URL("./tsync-main.cjs", import.meta.url));
const cacheFile = `${bundle}.cache`;
const source = readFileSync(bundle);
// V8 checks a cache against the source's length only: the cache file starts with the source's hash.
const digest = createHash("sha256").update(source).digest();
const cache = readCache(cacheFile, digest);
const script = new Script(Module.wrap(source.toString("utf8")), { filename: bundle, ...(cache ? { cachedData: cache } : {}) });
const module = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
// The build runs one command with this set, and keeps what V8 compiled by its end.
if (process.env["TSYNC_WRITE_CODE_CACHE"] === "1") process.once("exit", () => writeFileSync(cacheFile, Buffer.concat([digest, script.createCachedData()])));

function readCache(file: string, digest: Buffer): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return undefined;
  }
  return data.subarray(0, digest.length).equals(digest) ? data.subarray(digest.length) : undefined;
}
