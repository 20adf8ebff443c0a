// The launcher (cli/launch.ts) runs the bundle from the build's V8 code cache, which V8 itself checks
// against the source's length only. A copy of the installed files whose bundle is edited without
// changing its length must run the edited code, not the cached one.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { CLI } from "../support/cli.js";

const dist = dirname(CLI);
const dir = mkdtempSync(join(tmpdir(), "tsync-launch-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("launcher: the build made a code cache, and a bundle edited to the same length runs as edited", () => {
  assert.ok(existsSync(join(dist, "tsync-main.cjs.cache")), "tools/bundle.ts wrote dist/tsync-main.cjs.cache");
  mkdirSync(join(dir, "dist"));
  copyFileSync(join(dist, "..", "package.json"), join(dir, "package.json"));
  for (const f of ["tsync.js", "tsync-main.cjs", "tsync-main.cjs.cache"]) copyFileSync(join(dist, f), join(dir, "dist", f));
  const help = () => execFileSync(process.execPath, [join(dir, "dist", "tsync.js"), "--help"], { encoding: "utf8" });
  const said = "Replicate a web root to web nodes over SSH";
  assert.ok(help().includes(said));
  const bundle = join(dir, "dist", "tsync-main.cjs");
  const source = readFileSync(bundle, "latin1");
  assert.ok(source.includes(said));
  writeFileSync(bundle, source.replace(said, said.toUpperCase()), "latin1");
  assert.ok(help().includes(said.toUpperCase()), "the edited bundle's text, not the cached code's");
});
