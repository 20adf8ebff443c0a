// tsync init (issue 19) through the CLI: the starter validates as written and with every commented key
// switched on, never overwrites a file, resolves local paths where they were typed, and writes nothing
// the rules would refuse. Local targets only: no sshd needed.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { runTsync } from "../support/cli.js";

const base = mkdtempSync(join(tmpdir(), "tsync-init-"));
after(() => rmSync(base, { recursive: true, force: true }));
let seq = 0;
const fresh = () => {
  const d = join(base, `d${++seq}`);
  mkdirSync(d);
  return d;
};
const SEED_LUA = fileURLToPath(new URL("../../../fixtures/lsyncd/seed.lua", import.meta.url));

/** A commented-out key (`# user: deploy`, `#   path: …`, `#     - names: …`) made live; prose comments stay. */
const uncommentKeys = (text: string) => text.replace(/^(\s*)# (\s*(?:[a-z][A-Za-z]*:(?: |$)|- [a-z]+:))/gm, "$1$2");

test("tsync init with no flags writes a commented starter that validates, and says what to edit", async () => {
  const cwd = fresh();
  const r = await runTsync(["init"], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^Wrote tsync\.yaml: put your hosts and source in it \(the 192\.0\.2\.x hosts are placeholders\), then tsync validate && tsync plan\n$/);
  const text = readFileSync(join(cwd, "tsync.yaml"), "utf8");
  assert.match(text, /^# tsync manifest, written by `tsync init` \(tsync \d/);
  assert.match(text, /# yaml-language-server: \$schema=\/.*\/schemas\/manifest\.schema\.json\n/);
  assert.ok(existsSync(/\$schema=(\S+)/.exec(text)![1]!), "the modeline names the installed schema");
  for (const key of ["hostKeyChecking", "statusFile", "source", "targets", "exclude", "protect", "delete", "maxDelete", "preserve", "delay", "quick", "deep", "onDrift", "path"])
    assert.match(text, new RegExp(`^\\s*(# )?\\s*${key}:.*# \\S`, "m"), `${key} is in the starter with a comment`);
  const v = await runTsync(["validate"], { cwd });
  assert.deepEqual([v.code, v.stdout, v.stderr], [0, "", ""]);

  // Every commented key, switched on, is valid too: the comments are not stale examples.
  const live = uncommentKeys(text);
  for (const key of ["user: deploy", "identityFile:", "protect:", "deep:", "nginx:", "    - names:"]) assert.match(live, new RegExp(`^\\s*${key.trim()}`, "m"), key);
  writeFileSync(join(cwd, "live.yaml"), live);
  const lv = await runTsync(["validate", "-f", "live.yaml"], { cwd });
  assert.deepEqual([lv.code, lv.stderr], [0, ""], live);
  const ng = await runTsync(["nginx", "-f", "live.yaml"], { cwd });
  assert.equal(ng.code, 0, ng.stderr);
  assert.match(ng.stdout, /upstream backend \{[^}]*server 192\.0\.2\.21[^}]*server 192\.0\.2\.22/);
});

test("tsync init never overwrites: an existing manifest is left byte-for-byte, exit 1 with one line", async () => {
  const cwd = fresh();
  writeFileSync(join(cwd, "tsync.yaml"), "# mine\n");
  for (const args of [["init"], ["init", "--target", "www-01:/var/www/site"], ["init", "--from-lsyncd", SEED_LUA]]) {
    const r = await runTsync(args, { cwd });
    assert.equal(r.code, 1, args.join(" "));
    assert.equal(r.stderr, "tsync.yaml exists; tsync init never overwrites a manifest (remove it, or write elsewhere with -f FILE or --stdout)\n");
    assert.equal(readFileSync(join(cwd, "tsync.yaml"), "utf8"), "# mine\n");
  }
  // --stdout writes no file, so an existing one is no obstacle.
  const r = await runTsync(["init", "--stdout"], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^version: 1$/m);
});

test("tsync init --source/--target: local paths resolve where they were typed; the result plans and applies", async () => {
  const cwd = fresh();
  mkdirSync(join(cwd, "src"));
  writeFileSync(join(cwd, "src/index.html"), "hello\n");
  mkdirSync(join(cwd, "etc"));
  const r = await runTsync(["init", "-f", "etc/tsync.yaml", "--source", "src", "--target", "./copy"], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Wrote etc\/tsync\.yaml: tsync validate -f etc\/tsync\.yaml && tsync plan -f etc\/tsync\.yaml\n$/);
  const text = readFileSync(join(cwd, "etc/tsync.yaml"), "utf8");
  assert.match(text, new RegExp(`^    source: ${join(cwd, "src")} `, "m"));
  assert.match(text, new RegExp(`^      - ${join(cwd, "copy")}$`, "m"));
  assert.match(text, /^hosts: \{\} +# none yet/m);
  const apply = await runTsync(["apply", "--yes", "-f", join(cwd, "etc/tsync.yaml")], { cwd: base });
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assert.equal(readFileSync(join(cwd, "copy/index.html"), "utf8"), "hello\n");
});

test("tsync init --target HOST:/path: hosts named from the addresses, one role, the user kept", async () => {
  const cwd = fresh();
  const r = await runTsync(["init", "--source", "/var/www/site", "--target", "www-01.example.com:/var/www/site", "--target", "deploy@10.0.1.22:/var/www/site", "--target", "[fd00::3]:/var/www/site"], { cwd });
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(join(cwd, "tsync.yaml"), "utf8");
  assert.match(text, /^hosts:\n  www-01: \{ address: www-01\.example\.com, roles: \[replica\] \}\n  node-2: \{ address: 10\.0\.1\.22, user: deploy, roles: \[replica\] \}\n  node-3: \{ address: "fd00::3", roles: \[replica\] \}\n/m);
  assert.match(text, /^    targets: \{ roles: \[replica\], path: \/var\/www\/site \}/m);
  assert.doesNotMatch(text, /PLACEHOLDER/);
  assert.equal((await runTsync(["validate"], { cwd })).code, 0);
  // Different paths: a list of HOST:/path, and a remote source becomes host `master`.
  const l = await runTsync(["init", "--stdout", "--source", "origin:/srv/site", "--target", "a:/srv/one", "--target", "b:/srv/two"], { cwd });
  assert.equal(l.code, 0, l.stderr);
  assert.match(l.stdout, /^  master: \{ address: origin, roles: \[master\] \}$/m);
  assert.match(l.stdout, /^    source: "master:\/srv\/site" .*\n    targets:\n      - "a:\/srv\/one"\n      - "b:\/srv\/two"\n/m);
});

test("tsync init refuses bad flags in one line and writes nothing", async () => {
  const cwd = fresh();
  const cases: [string[], RegExp][] = [
    [["--target", "www-01:var/www"], /^--target www-01:var\/www: the path on www-01 must be absolute \(HOST:\/path\), as tsync never guesses the login directory\n$/],
    [["--target", "deploy@www-01"], /^--target deploy@www-01: expected USER@HOST:\/path\n$/],
    [["--source", "/srv/a", "--target", "/srv/a/b"], /^tsync init: syncs\.site\.targets\[0\]: target \/srv\/a\/b is inside the source \(\/srv\/a\): a sync cannot write into what it reads\nnothing written: fix the --source\/--target flags\n$/],
    [["--from-lsyncd", SEED_LUA, "--target", "/srv/x"], /^--from-lsyncd takes the sources and targets from the lsyncd config: drop --source and --target\n$/],
  ];
  for (const [args, want] of cases) {
    const r = await runTsync(["init", ...args], { cwd });
    assert.equal(r.code, 1, args.join(" "));
    assert.match(r.stderr, want);
    assert.equal(existsSync(join(cwd, "tsync.yaml")), false, args.join(" "));
  }
});

test("tsync init --from-lsyncd writes what tsync import lsyncd makes of the config", async () => {
  const cwd = fresh();
  const r = await runTsync(["init", "--from-lsyncd", SEED_LUA], { cwd });
  assert.equal(r.code, 0, r.stderr);
  const imported = await runTsync(["import", "lsyncd", SEED_LUA], { cwd });
  assert.equal(readFileSync(join(cwd, "tsync.yaml"), "utf8"), imported.stdout);
  assert.equal((await runTsync(["validate"], { cwd })).code, 0);
});
