// The source hash cache through the CLI (local trees only, no sshd): `plan --deep` creates it in
// settings.hashCache, a damaged one costs a warning on stderr and a full re-read but never the plan's
// correctness, and a source file changed behind the cache's back (same size, mtime put back) is seen.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runTsync } from "../support/cli.js";

let dir = "";
let manifest = "";
const cacheDir = () => join(dir, "cache");
const src = () => join(dir, "src");

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tsync-hashcache-cli-"));
  mkdirSync(join(src(), "d"), { recursive: true });
  const T = 1_700_000_000;
  for (let i = 0; i < 20; i++) {
    writeFileSync(join(src(), "d", `f${i}`), `file ${String(i).padStart(2, "0")}\n`);
    utimesSync(join(src(), "d", `f${i}`), T, T);
  }
  manifest = join(dir, "tsync.yaml");
  writeFileSync(manifest, `version: 1\nsettings: { hashCache: cache }\nsyncs:\n  site:\n    source: src\n    targets: [dst]\n`);
  const r = await runTsync(["apply", "--yes", "-q", "-f", manifest]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  rmSync(cacheDir(), { recursive: true, force: true });
  // Files changed in the last 2 s are not cached (racy): let them settle so the cache is really used.
  await new Promise((r) => setTimeout(r, 2100));
});

after(() => rmSync(dir, { recursive: true, force: true }));

const deepPlan = () => runTsync(["plan", "--deep", "--detailed-exitcode", "-f", manifest]);

test("plan --deep writes the cache; a corrupted cache is rebuilt with one warning and the plan is still right", async () => {
  const first = await deepPlan();
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(first.stderr, "");
  const files = readdirSync(cacheDir());
  assert.equal(files.length, 1);
  const file = join(cacheDir(), files[0]!);
  const bytes = readFileSync(file);
  bytes[bytes.length - 40]! ^= 1;
  writeFileSync(file, bytes);
  const r = await deepPlan();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stderr, `warning: hash cache ${file}: corrupt (checksum mismatch); rebuilding it\n`);
  const again = await deepPlan();
  assert.deepEqual([again.code, again.stderr], [0, ""]);
});

test("a source rewrite that keeps size and mtime is drift for plan --deep, cache or not", async () => {
  assert.equal((await deepPlan()).code, 0);
  const p = join(src(), "d", "f4");
  const ctime = statSync(p, { bigint: true }).ctimeNs;
  // Until the ctime moves on (a new timestamp tick): the only sign of the rewrite.
  while (statSync(p, { bigint: true }).ctimeNs === ctime) {
    writeFileSync(p, "FILE 04\n");
    utimesSync(p, 1_700_000_000, 1_700_000_000);
  }
  const r = await deepPlan();
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stdout, /d\/f4/);
});
