// The install story as a user follows it: `npm pack`, `npm i -g` the tarball (here into a throwaway
// prefix), then the installed `tsync` command — not this checkout's dist/ — validates, plans and applies.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string; bin: Record<string, string> };

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(suffix)).map((f) => join(dir, f));
}

test("npm pack → npm i -g → the installed tsync runs --version, validate, plan and apply", { timeout: 300_000 }, (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "tsync-install-"));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));

  // --ignore-scripts: `prepack` rebuilds dist/ from scratch, which would pull it from under the test
  // files running beside this one; `npm test` has just built it.
  const packed = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" });
  const [info] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
  const inTarball = new Set(info!.files.map((f) => f.path));
  assert.ok(inTarball.has(pkg.bin.tsync!), `the bin ${pkg.bin.tsync} is in the tarball`);
  assert.ok(inTarball.has("schemas/manifest.schema.json") && inTarball.has("schemas/plan.schema.json"));
  // The bundle's ssh2 and node-ssh, loaded on the first SSH login (tools/bundle.ts).
  assert.ok(inTarball.has("dist/ssh-libs.cjs"), "dist/ssh-libs.cjs is in the tarball");
  // Files the built code reads at run time besides its own .js (the apply helper's Perl source).
  for (const f of filesUnder(join(ROOT, "reconciler"), ".pl")) {
    const rel = relative(ROOT, f);
    assert.ok(inTarball.has(rel), `${rel} is in the tarball`);
  }
  const stray = [...inTarball].filter((p) => p.startsWith("dist/test/") || p.startsWith("dist/bench/") || p.endsWith(".map"));
  assert.deepEqual(stray, [], "tests, benchmarks and source maps stay out of the tarball");

  // --prefer-offline: `npm ci` has put every dependency in the cache. --ignore-scripts: npm 11 runs no
  // dependency install scripts in a global install by default either (ssh2's optional native binding).
  const prefix = join(tmp, "prefix");
  execFileSync("npm", ["install", "--global", "--prefix", prefix, "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", join(tmp, info!.filename)], {
    cwd: tmp,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const bin = join(prefix, "bin", "tsync");
  // Run from a directory outside the checkout, with a PATH that has the prefix first, as a user would.
  const env = { ...process.env, PATH: `${join(prefix, "bin")}:${process.env.PATH ?? ""}`, NO_COLOR: "1" };
  const tsync = (...args: string[]) => spawnSync("tsync", args, { cwd: tmp, env, encoding: "utf8" });

  const version = tsync("--version");
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), pkg.version);
  assert.equal(spawnSync("sh", ["-c", "command -v tsync"], { env, encoding: "utf8" }).stdout.trim(), bin);

  const src = join(tmp, "master/www");
  mkdirSync(join(src, "wp-content"), { recursive: true });
  writeFileSync(join(src, "index.php"), "<?php echo 'hello';\n");
  writeFileSync(join(src, "wp-content/style.css"), "body { color: #333; }\n");
  // The manifest is the installed `tsync init`'s starter; its schema modeline names the installed schema.
  const init = tsync("init", "--source", src, "--target", join(tmp, "www-01/www"));
  assert.equal(init.status, 0, init.stderr);
  const schema = /\$schema=(\S+)/.exec(readFileSync(join(tmp, "tsync.yaml"), "utf8"))?.[1];
  assert.ok(schema?.startsWith(prefix) && existsSync(schema), `schema ${schema} inside the install`);
  for (const shell of ["bash", "zsh", "fish"]) {
    const script = tsync("completion", shell);
    assert.equal(script.status, 0, script.stderr);
    writeFileSync(join(tmp, `tsync.${shell}`), script.stdout);
    const check = spawnSync(shell, ["-n", join(tmp, `tsync.${shell}`)], { encoding: "utf8" });
    assert.equal(check.status, 0, `${shell} -n: ${check.stderr}`);
  }

  const validate = tsync("validate");
  assert.equal(validate.status, 0, validate.stderr);
  const plan = tsync("plan", "--detailed-exitcode");
  assert.equal(plan.status, 2, plan.stderr);
  assert.match(plan.stdout, /create  index\.php/);
  const apply = tsync("apply", "--yes");
  assert.equal(apply.status, 0, apply.stderr);
  assert.doesNotMatch(apply.stderr, /[\r\x1b]/, "no progress drawn on a pipe");
  assert.equal(readFileSync(join(tmp, "www-01/www/index.php"), "utf8"), "<?php echo 'hello';\n");
  const again = tsync("plan", "--detailed-exitcode");
  assert.equal(again.status, 0, again.stdout + again.stderr);
});
