// `tsync import lsyncd`: a golden corpus (fixtures/lsyncd/*.lua → *.expected.yaml, *.expected-warnings.txt,
// *.expected-errors.txt), translator tables, and the sandbox's limits. UPDATE_GOLDEN=1 rewrites the goldens.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { importLsyncd, type ImportResult } from "../../reconciler/import/lsyncd.js";
import { evaluateLsyncd, type EvalLimit } from "../../reconciler/import/lsyncd-eval.js";
import { translateDelete, translateExclude, translateRsyncOpts, translateSshArgs } from "../../reconciler/import/lsyncd-options.js";
import { parseManifest } from "../../reconciler/manifest/load.js";
import { makeMatcher } from "../../reconciler/core/ignore.js";
import { scanLocal } from "../../reconciler/scan/local.js";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const DIR = new URL("../../../fixtures/lsyncd/", import.meta.url);
const read = (name: string) => readFileSync(new URL(name, DIR), "utf8");
const lines = (xs: readonly string[]) => (xs.length ? `${xs.join("\n")}\n` : "");

/** README, "Coming from lsyncd": keep the two in step. */
const CORPUS_FIGURES = { configs: 57, validates: 38, refused: 19, strict: 14 };
/** The 17 vendored ones (fixtures/lsyncd/corpus/), checked in every run. */
const VENDORED_FIGURES = { configs: 17, validates: 14, refused: 3, strict: 3 };

function golden(name: string, actual: string): void {
  const url = new URL(name, DIR);
  if (process.env.UPDATE_GOLDEN) {
    if (actual) writeFileSync(url, actual);
    else if (existsSync(url)) rmSync(url);
    return;
  }
  assert.equal(actual, existsSync(url) ? readFileSync(url, "utf8") : "", `golden ${name}`);
}

// The wall clock is raised out of the way so the goldens show the step and memory limits they were
// written for, however loaded the machine (at 5 s, a busy CI box hit the clock first).
const NO_CLOCK = { timeoutMs: 10 * 60_000 };

for (const lua of readdirSync(DIR).filter((f) => f.endsWith(".lua")).sort()) {
  const base = lua.slice(0, -4);
  test(`corpus: ${lua}`, async () => {
    const r = await importLsyncd(read(lua), lua, { limits: NO_CLOCK });
    golden(`${base}.expected.yaml`, r.yaml ?? "");
    golden(`${base}.expected-warnings.txt`, lines(r.warnings));
    golden(`${base}.expected-errors.txt`, lines(r.errors));
    if (r.yaml) {
      const v = parseManifest(r.yaml, "imported.yaml");
      assert.deepEqual(v.diagnostics, [], `${lua}: imported manifest must validate`);
      assert.ok(v.manifest);
      assert.match(r.yaml, /^# yaml-language-server: \$schema=\S+manifest\.schema\.json\n/);
    }
    for (const m of [...r.warnings, ...r.errors]) assert.doesNotMatch(m, /\n|stack traceback|at .*\.js/, "one line, no stack");
  });
}

// Real configs from public repositories. The 17 whose repository carries a license (MIT, Apache, GPL,
// AGPL) are vendored unchanged in fixtures/lsyncd/corpus/ (NOTICE and licenses/ travel with them) and run
// in every `npm test`; the 40 without one are others' code and stay out of this repository:
// fixtures/lsyncd/corpus-sources.tsv names each one's origin, and TSYNC_LSYNCD_CORPUS=DIR (the configs
// plus one golden each, NAME.expected.txt) runs them too and checks the figures the README states.
// Relative paths resolve against a fixed --base; the files a config reads come from NAME's own folder
// files/NAME/ (standing for "/"; absent: nothing to read), and no environment variable is set unless the
// config's repository documents its value (the tsv's note column: env:NAME=VALUE).
const VENDORED_DIR = fileURLToPath(new URL("corpus/", DIR));
const vendored = readdirSync(VENDORED_DIR).filter((f) => f.endsWith(".lua")).sort();
const CORPUS_DIR = process.env.TSYNC_LSYNCD_CORPUS;
const external = CORPUS_DIR === undefined ? [] : readdirSync(CORPUS_DIR).filter((f) => f.endsWith(".lua") && !vendored.includes(f)).sort();
const realConfigs = [...vendored.map((f) => [VENDORED_DIR, f] as const), ...external.map((f) => [CORPUS_DIR!, f] as const)];
const notes = new Map(read("corpus-sources.tsv").split("\n").slice(1).filter(Boolean).map((l) => [l.split("\t")[0]!, l.split("\t")[5] ?? ""]));
const corpus = new Map<string, ImportResult>();
for (const [dir, lua] of realConfigs) {
  test(`real config: ${lua}${dir === VENDORED_DIR ? "" : " (external)"}`, async () => {
    const name = lua.slice(0, -4);
    const root = join(dir, "files", name);
    const env = Object.fromEntries([...(notes.get(lua) ?? "").matchAll(/\benv:([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)].map((m) => [m[1]!, m[2]!]));
    const readFile = (p: string) => {
      try {
        return readFileSync(join(root, p), "utf8");
      } catch (e) {
        return { error: (e as NodeJS.ErrnoException).code ?? String(e) };
      }
    };
    const r = await importLsyncd(readFileSync(join(dir, lua), "utf8"), lua, { base: "/etc/lsyncd", fsRoot: root, env, readFile, limits: NO_CLOCK });
    corpus.set(lua, r);
    const text = [...r.warnings.map((w) => `warning: ${w}\n`), ...r.errors.map((e) => `error: ${e}\n`), ...(r.yaml ? ["---\n", r.yaml] : [])].join("");
    const want = join(dir, `${name}.expected.txt`);
    if (process.env.UPDATE_GOLDEN) writeFileSync(want, text);
    else assert.equal(text, readFileSync(want, "utf8"), `golden ${want}`);
    for (const m of [...r.warnings, ...r.errors]) {
      assert.doesNotMatch(m, /\n|stack traceback|at .*\.js|internal error|imported\.yaml/, "one line, no stack, no generated file named");
      assert.match(m, new RegExp(`^${lua.replace(/[.]/g, "\\.")}(:\\d+)?: `), "names the lsyncd file");
    }
    if (r.errors.length === 0) assert.deepEqual(parseManifest(r.yaml!, "imported.yaml").diagnostics, [], "a manifest without errors validates");
  });
}

test("real configs: each config's outcome (fixtures/lsyncd/corpus-outcomes.tsv) and, over the whole corpus, the figures the README states", () => {
  const figures = (rs: readonly ImportResult[]) => {
    const validates = rs.filter((r) => r.yaml !== undefined && r.errors.length === 0);
    return { configs: rs.length, validates: validates.length, refused: rs.length - validates.length, strict: validates.filter((r) => r.warnings.length === 0).length };
  };
  assert.equal(corpus.size, realConfigs.length, "every real config ran");
  assert.deepEqual(figures(vendored.map((f) => corpus.get(f)!)), VENDORED_FIGURES, "the vendored configs");
  // Our verdicts only (none of the configs' text), so a lost corpus folder still leaves what each one did.
  const tsv = new URL("corpus-outcomes.tsv", DIR);
  const rows = (names: readonly string[]) => names.map((f) => `${f}\t${outcome(corpus.get(f)!)}\n`).join("");
  if (external.length === 0) {
    const stored = readFileSync(tsv, "utf8").split("\n").filter((l) => vendored.includes(l.split("\t")[0]!)).map((l) => `${l}\n`).join("");
    assert.equal(rows(vendored), stored);
    return;
  }
  const text = `file\toutcome\n${rows([...corpus.keys()].sort())}`;
  if (process.env.UPDATE_GOLDEN) writeFileSync(tsv, text);
  else assert.equal(text, readFileSync(tsv, "utf8"));
  assert.deepEqual(figures([...corpus.values()]), CORPUS_FIGURES);
});

/** strict (no warning), validates (with warnings), or refused: the first refusal's kind. */
function outcome(r: ImportResult): string {
  if (r.yaml !== undefined && r.errors.length === 0) return r.warnings.length === 0 ? "strict" : "validates";
  const kinds: [RegExp, string][] = [
    [/does not build on default\./, "custom actions"],
    [/rsync daemon/, "rsync daemon target"],
    [/found no file|no such file|found no directory/, "reads a file that is not there"],
    [/readdir|loads another file|spawn|io\./, "lsyncd file I/O built-in"],
    [/calls sync\{\} nowhere/, "no sync{} (a library or a template)"],
    [/os\.getenv\('[^']+'\) was not set/, "needs an environment variable"],
    [/expected|unexpected symbol/, "Lua syntax error"],
    [/template placeholder/, "template placeholder as host"],
    [/names no machine|has no ':'|rsyncssh's keys/, "would not run under lsyncd as written"],
  ];
  const e = r.errors[0] ?? "";
  return `refused: ${kinds.find(([re]) => re.test(e))?.[1] ?? "other"}`;
}

test("seed: the 4 sync{} calls of the loop become one sync with 4 targets on 4 replica hosts", async () => {
  const r = await importLsyncd(read("seed.lua"), "lsyncd.conf");
  const m = parseManifest(r.yaml!, "imported.yaml").manifest!;
  assert.equal(m.syncs.length, 1);
  const [s] = m.syncs;
  assert.equal(s!.source.path, "/var/www/tjstein.com");
  assert.deepEqual(s!.targets.map((t) => `${t.host}:${t.path}`), ["node-1", "node-2", "node-3", "node-4"].map((h) => `${h}:/var/www/tjstein.com`));
  assert.deepEqual([...m.hosts.values()].map((h) => [h.address, h.roles]), ["23", "24", "25", "26"].map((n) => [`10.0.1.${n}`, ["replica"]]));
  assert.equal(s!.delayMs, 1000);
  assert.deepEqual(s!.rules.preserve, { perms: true, times: true, owner: true, group: true });
  assert.deepEqual(m.settings, { maxProcesses: 5, statusFile: "/tmp/lsyncd.status", logFile: "/var/log/lsyncd.log" });
});

test("names: an address → name mapping replaces node-N", async () => {
  const r = await importLsyncd(read("seed.lua"), "lsyncd.conf", { names: { "10.0.1.23": "www-03", "10.0.1.24": "www-04" } });
  assert.match(r.yaml!, /^ {2}www-03: \{address: 10\.0\.1\.23,/m);
  assert.match(r.yaml!, /^ {2}node-3: \{address: 10\.0\.1\.25,/m);
  assert.match(r.yaml!, /- www-04:\/var\/www\/tjstein\.com/);
});

test("settings{} call and settings = {} assignment give the same settings", async () => {
  const call = await importLsyncd(`settings { maxProcesses = 3, logfile = "/l" }\nsync { default.direct, source = "/a", target = "/b" }`, "c.lua");
  const assign = await importLsyncd(`settings = { maxProcesses = 3, logfile = "/l" }\nsync { default.direct, source = "/a", target = "/b" }`, "c.lua");
  assert.equal(call.yaml, assign.yaml);
  assert.match(call.yaml!, /maxProcesses: 3\n {2}logFile: \/l\n/);
});

test("a shared config table mutated between sync{} calls is recorded as it was at each call", async () => {
  const src = `local c = { default.rsync, source = "/w" }\nfor _, h in ipairs{ "a", "b" } do c.target = h .. ":/w"; sync(c) end`;
  const r = await importLsyncd(src, "c.lua");
  assert.match(r.yaml!, /targets:\n {6}- node-1:\/w\n {6}- node-2:\/w\n/);
});

test("sync lines come from the VM, also for calls in loops and functions", async () => {
  const ev = await evaluateLsyncd(`local function add(t)\n  sync{ default.direct, source = "/a", target = t }\nend\n\nadd("/b")`, "x.lua");
  assert.ok(ev.ok);
  assert.deepEqual(ev.recorded.syncs.map((s) => s.line), [2]);
});

// Each case names the limit that must stop it (undefined: the config's own error). A smaller step budget
// keeps the endless loops quick; the wall clock is out of the way so it never decides a case.
const SANDBOX = { ...NO_CLOCK, steps: 5_000_000 };
const hostile: [string, string, RegExp, EvalLimit | undefined][] = [
  ["endless loop", "local n = 0\nwhile true do n = n + 1 end", /^h\.lua:2: evaluation stopped after 5000000 Lua steps/, "steps"],
  ["loop that swallows the limit with pcall", "while true do pcall(function() while true do end end) end", /^h\.lua:1: evaluation stopped/, "steps"],
  ["loop inside a coroutine", "local f = coroutine.wrap(function() while true do end end)\nf()", /^h\.lua:1: evaluation stopped/, "steps"],
  ["doubling string", "local s = 'x'\nwhile true do s = s .. s end", /^h\.lua:( \d+:)? ?memory limit exceeded \(64 MiB\)$|^h\.lua: memory limit exceeded/, "memory"],
  ["huge table", "local t = {}\nfor i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end", /^h\.lua:2: memory limit exceeded \(64 MiB\)$/, "memory"],
  ["huge string.rep", "local s = string.rep('x', 2^40)", /^h\.lua:1: resulting string too large$/, undefined],
  ["os.execute", "\n\nos.execute('touch /tmp/pwned')", /^h\.lua:3: os\.execute is not allowed in an imported config$/, undefined],
  ["io.open for writing", "local f = io.open('/tmp/pwned', 'w')", /^h\.lua:1: io\.open\(\.\.\., 'w'\) \(writing a file\) is not allowed in an imported config$/, undefined],
  ["io.popen", "local f = io.popen('id')", /^h\.lua:1: io\.popen is not allowed in an imported config$/, undefined],
  ["io.open without a directory to read", "local f = assert(io.open('/etc/passwd'))", /^h\.lua:1: \/etc\/passwd: the importer was given no directory to read \(--base\)/, undefined],
  ["require", "local x = require('socket')", /^h\.lua:1: require\('socket'\) found no file where tsync import runs \(package\.path gives nothing, and 8 path\(s\) outside it, which the importer does not read\)$/, undefined],
  ["load", "load('return 1')()", /^h\.lua:1: load is not allowed/, undefined],
  ["os.execute caught by pcall is still refused", "pcall(os.execute, 'x')\nsync{ default.direct, source = '/a', target = '/b' }", /^h\.lua:1: os\.execute is not allowed/, undefined],
  ["debug is gone", "debug.sethook()", /^h\.lua:1: attempt to index a nil value \(global 'debug'\)$/, undefined],
  ["syntax error", "sync {\n  default.rsync\n  source = '/x'\n}", /^h\.lua:3: '}' expected \(to close '\{' at line 1\) near 'source'$/, undefined],
  ["runtime error", "\nlocal t = nil\nprint(t.x)", /^h\.lua:3: attempt to index a nil value \(local 't'\)$/, undefined],
  ["error with a table", "error({})", /^h\.lua:1: error object \(table\)$/, undefined],
];
for (const [name, src, want, limit] of hostile) {
  test(`sandbox: ${name} → one clear error`, async () => {
    const r = await evaluateLsyncd(src, "h.lua", SANDBOX);
    assert.equal(r.ok, false);
    assert.match(r.error, want);
    assert.equal(r.stoppedBy, limit, `stopped by ${r.stoppedBy ?? "the config's own error"}`);
  });
}

test("sandbox: nothing to translate → one clear error", async () => {
  const r = await importLsyncd("settings { logfile = '/l' }", "h.lua", { limits: SANDBOX });
  assert.equal(r.yaml, undefined);
  assert.deepEqual(r.errors, ["h.lua: the config calls sync{} nowhere, so there is nothing to import"]);
});

test("sandbox: the wall clock stops what no step hook sees", async () => {
  const r = await evaluateLsyncd("local s = string.rep('a', 3e5)\nlocal x = s:find('.-.-.-.-b')", "w.lua", { timeoutMs: 300 });
  assert.deepEqual(r, { ok: false, error: "w.lua: evaluation took longer than 300 ms and was stopped", stoppedBy: "time" });
});

test("sandbox: the process is fine after a memory blow-up", async () => {
  await importLsyncd("local t = {} for i = 1, 1e9 do t[i] = {} end", "m.lua");
  const r = await importLsyncd("sync{ default.direct, source = '/a', target = '/b' }", "ok.lua");
  assert.deepEqual(r.errors, []);
});

test("translate rsyncOpts short flags", () => {
  const r = translateRsyncOpts("-rltvupgo");
  assert.deepEqual([...r.value.preserve].sort(), ["group", "owner", "perms", "times"]);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /'update' \(-u\) has no tsync equivalent/);
  assert.deepEqual(translateRsyncOpts("-lts").value.preserve, new Set(["times"]));
  assert.deepEqual(translateRsyncOpts("-ltz").notes, ["compress ignored: tsync's transport decides"]);
});

const excludes: [string, string | undefined, number][] = [
  ["*.swp", "*.swp", 0],
  [".git/", ".git/", 0],
  ["/tmp", "/tmp", 0],
  ["wp-content/cache/", "**/wp-content/cache/", 0],
  ["uploads/***", "uploads/", 0],
  ["- *.log", "*.log", 0],
  ["+ keep", undefined, 1],
  ["!", undefined, 1],
];
for (const [pattern, want, nWarn] of excludes)
  test(`translate exclude ${JSON.stringify(pattern)}`, () => {
    const r = translateExclude(pattern);
    assert.equal(r.value, want);
    assert.equal(r.warnings.length, nWarn);
  });

test("translate ssh command lines", () => {
  const r = translateSshArgs("/usr/bin/ssh -p 2222 -i /k -l deploy -o UserKnownHostsFile=/kh -F /cfg".split(" "));
  assert.deepEqual(r.value, { port: 2222, identityFile: "/k", user: "deploy", knownHosts: "/kh" });
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /ssh config file '\/cfg' is not read/);
});

test("translate delete modes", () => {
  assert.deepEqual([true, false, "startup", "running", undefined].map((v) => translateDelete(v).value), [true, false, true, true, true]);
  assert.equal(translateDelete("running").warnings.length, 1);
  assert.equal(translateDelete(true).warnings.length, 0);
});

// Issue 15, one case per category: what real configs do, and what the import must say or produce.
const imp = (src: string, opts: Parameters<typeof importLsyncd>[2] = {}) => importLsyncd(src, "c.lua", { base: "/srv/conf", ...opts });
const syncOf = (r: ImportResult) => {
  assert.deepEqual(r.errors, [], "imports");
  return parseManifest(r.yaml!, "imported.yaml").manifest!.syncs[0]!;
};

test("issue 15: rsyncssh with host = \"\" is refused at its line, not an internal error", async () => {
  const r = await imp(`\nsync{ default.rsyncssh, source = "/a", host = "", targetdir = "/b" }`);
  assert.deepEqual(r.errors, ['c.lua:2: host "" names no machine; sync skipped']);
});

test("issue 15: a relative source resolves against --base with a warning; without a base it is refused", async () => {
  const src = `sync{ default.rsync, source = "./public", target = "h:/srv/public" }`;
  const r = await imp(src);
  assert.equal(syncOf(r).source.path, "/srv/conf/public");
  assert.deepEqual(r.warnings, ['c.lua:1: source "./public" is relative: lsyncd resolves it against its working directory; imported as /srv/conf/public (--base /srv/conf)']);
  const none = await importLsyncd(src, "c.lua");
  assert.deepEqual(none.errors, [`c.lua:1: source "./public" is relative to lsyncd's working directory; pass --base DIR to resolve it; sync skipped`]);
});

const refusedTargets: [string, RegExp][] = [
  [`target = "h:"`, /^c\.lua:1: target "h:" is the login directory on h itself \(or leaves it with "\.\."\); tsync replicates into a directory below it, never over the home \(and its \.ssh\); sync skipped$/],
  [`target = "h:../other"`, /^c\.lua:1: target "h:\.\.\/other" is the login directory on h itself \(or leaves it/],
  [`target = "h:~www/site"`, /^c\.lua:1: target "h:~www\/site" is relative to another user's home \(~user\); write the absolute path; sync skipped$/],
  [`target = "rsync://h:873/module"`, /^c\.lua:1: target "rsync:\/\/h:873\/module" is an rsync daemon URL; tsync replicates over SSH only/],
  [`target = "h::module"`, /^c\.lua:1: target "h::module" is an rsync daemon module \(HOST::MODULE\); tsync replicates over SSH only/],
  [`target = "deploy@h"`, /^c\.lua:1: target "deploy@h" has no ':', so rsync reads it as a local directory of that name/],
  [`host = "h", targetdir = "/b"`, /^c\.lua:1: default\.rsync needs a target \(host and targetdir are default\.rsyncssh's keys\); sync skipped$/],
];
for (const [target, want] of refusedTargets)
  test(`issue 15: ${target} is refused in one line naming the reason`, async () => {
    const r = await imp(`sync{ default.rsync, source = "/a", ${target} }`);
    assert.equal(r.yaml, undefined);
    assert.equal(r.errors.length, 1, JSON.stringify(r));
    assert.match(r.errors[0]!, want);
  });

test("issue 15: targets relative to the login directory import as ~/DIR, resolved on the target, with nothing to warn about", async () => {
  for (const [target, want] of [
    [`target = "deploy@h:site/"`, "~/site"],
    [`target = "h:~/site"`, "~/site"],
    [`target = "h:./a//b/"`, "~/a/b"],
  ] as const) {
    const r = await imp(`sync{ default.rsync, source = "/a", ${target} }`);
    assert.deepEqual([r.errors, r.warnings], [[], []], target);
    assert.deepEqual(syncOf(r).targets, [{ host: "node-1", path: want }], target);
    assert.match(r.yaml!, /# lsyncd: relative to the login directory; tsync resolves ~ on the target when it connects/);
  }
  const ssh = await imp(`sync{ default.rsyncssh, source = "/a", host = "deploy@h", targetdir = "dst/" }`);
  assert.deepEqual(syncOf(ssh).targets, [{ host: "node-1", path: "~/dst" }]);
});

test("issue 15: lsyncd built-ins the importer cannot run are named; package and os.getenv work read-only", async () => {
  const spawn = await imp(`spawn(nil, "/bin/true")`);
  assert.match(spawn.errors[0]!, /^c\.lua:1: spawn \(the lsyncd built-in that runs a program\) is not supported/);
  const ok = await imp(`package.path = package.path .. ";/etc/?.lua"\nlsyncd.log("Normal", "x")\nsync{ default.rsync, source = "/a", target = os.getenv("DEST") .. ":/b" }`, { env: { DEST: "backup" } });
  assert.deepEqual(syncOf(ok).targets.map((t) => t.host), ["node-1"]);
  assert.match(ok.yaml!, /address: backup/);
  assert.deepEqual(ok.warnings, ["c.lua:3: os.getenv('DEST') was read from the environment tsync import runs in; lsyncd reads its own"]);
  const unset = await imp(`local h = assert(os.getenv("DEST"), "DEST is not set")`);
  assert.deepEqual(unset.errors, ["c.lua:1: DEST is not set (os.getenv('DEST') was not set when importing; pass --env DEST=VALUE)"]);
});

test("issue 15: readdir, dofile, require and io.open read files below --base, read-only, each with a warning", async () => {
  const base = mkdtempSync(join(tmpdir(), "tsync-lsyncd-base-"));
  try {
    mkdirSync(join(base, "conf.d", "sub"), { recursive: true });
    mkdirSync(join(base, "lib"));
    writeFileSync(join(base, "conf.d", "www.lua"), `sync{ default.rsync, source = "/var/www", target = "web1:/var/www" }\n`);
    writeFileSync(join(base, "lib", "hosts.lua"), `return { "web2", "web3" }\n`);
    writeFileSync(join(base, "dirs.txt"), "/srv/a\n/srv/b\n");
    writeFileSync(join(base, "outside.txt"), "x");
    symlinkSync("/etc", join(base, "etc-link"));
    const conf = [
      `local e = readdir("${base}/conf.d")`,
      `for n, isdir in pairs(e) do if not isdir then dofile("${base}/conf.d/" .. n) end end`,
      `package.path = package.path .. ";${base}/lib/?.lua"`,
      `local hosts = require("hosts")`,
      `local f = assert(io.open("dirs.txt"))`,
      `local first = f:read("*l")`,
      `f:close()`,
      `for d in io.lines("dirs.txt") do sync{ default.rsync, source = d, target = hosts[1] .. ":" .. d } end`,
    ].join("\n");
    const preloaded = await importLsyncd(`package.preload.paths = function() return { src = "/p" } end\nsync{ default.direct, source = require("paths").src, target = "/q" }`, "c.lua", { base });
    assert.deepEqual([preloaded.errors, preloaded.warnings], [[], []]);
    const r = await importLsyncd(conf, "c.lua", { base });
    assert.deepEqual(r.errors, []);
    const m = parseManifest(r.yaml!, "imported.yaml").manifest!;
    assert.deepEqual(m.syncs.map((s) => s.source.path), ["/var/www", "/srv/a", "/srv/b"]);
    assert.equal(r.warnings.length, 5, JSON.stringify(r.warnings));
    assert.match(r.warnings[0]!, new RegExp(`^c\\.lua:1: readdir\\('${base}/conf\\.d'\\) listed the directory where tsync import runs; lsyncd lists its own at startup$`));
    assert.match(r.warnings[1]!, /^c\.lua:2: dofile\('.*\/conf\.d\/www\.lua'\) read the file where tsync import runs/);
    assert.match(r.warnings[2]!, /^c\.lua:4: require\('hosts'\) read .*\/lib\/hosts\.lua where tsync import runs/);
    assert.match(r.warnings[3]!, /^c\.lua:5: io\.open\('dirs\.txt'\) read the file/);
    // Outside base, through a symlink, a missing file, writing: one line each, at the config's line.
    const errorOf = async (src: string) => (await importLsyncd(src, "c.lua", { base: join(base, "conf.d") })).errors;
    assert.deepEqual(await errorOf(`\ndofile("${base}/outside.txt")`), [`c.lua:2: dofile('${base}/outside.txt'): outside --base ${base}/conf.d (the importer reads files only below it)`]);
    assert.deepEqual(await errorOf(`dofile("missing.lua")`), ["c.lua:1: dofile('missing.lua'): no such file or directory where tsync import runs"]);
    assert.deepEqual(await errorOf(`for n in pairs(readdir("nothere")) do end`), [
      "c.lua:1: bad argument #1 to 'for iterator' (table expected, got nil) (readdir('nothere'): no such file or directory where tsync import runs)",
    ]);
    const viaLink = await importLsyncd(`local f = assert(io.open("etc-link/passwd"))`, "c.lua", { base });
    assert.match(viaLink.errors[0]!, /^c\.lua:1: etc-link\/passwd: a symlink to outside --base /);
    assert.match((await errorOf(`io.open("x", "a")`))[0]!, /^c\.lua:1: io\.open\(\.\.\., 'a'\) \(writing a file\) is not allowed/);
    assert.match((await errorOf(`dofile("www.lua")\nlocal x = nil .. "y"`))[0]!, /^c\.lua:2: attempt to concatenate a nil value/);
    // An error inside a file the config loads names that file and its line after the config's line.
    writeFileSync(join(base, "conf.d", "bad.lua"), `\nlocal x = nil .. "y"\n`);
    assert.match((await errorOf(`dofile("bad.lua")`))[0]!, /^c\.lua:1: bad\.lua:2: attempt to concatenate a nil value/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test("issue 15: a config that calls no sync{} after reading the environment says which variables it read", async () => {
  const r = await imp(`for t in string.gmatch(os.getenv("TARGETS"), "[^,]+") do sync{ default.rsync, source = "/a", target = t .. ":/a" } end`, { env: { TARGETS: "" } });
  assert.deepEqual(r.errors, ["c.lua: the config calls sync{} nowhere, so there is nothing to import (it read os.getenv('TARGETS'), which may decide that; pass --env TARGETS=VALUE)"]);
});

test("issue 15: template placeholders as hosts and custom actions are refused in one line saying what they are", async () => {
  for (const host of ["$host", "${env.TARGET_HOST}", "deploy@{{SERVER_IP}}", "%TARGET%"]) {
    const r = await imp(`sync{ default.rsyncssh, source = "/a", host = "${host}", targetdir = "/b" }`);
    assert.deepEqual(r.errors, [`c.lua:1: host ${JSON.stringify(host)} is a template placeholder, not a machine (something is meant to replace it before lsyncd reads the file); import the filled-in config; sync skipped`]);
  }
  const custom = await imp(`local f = function(e) spawnShell(e, "x") end\nsync{ { onCreate = f, onModify = f, onStartup = "echo start" }, source = "/a" }`);
  assert.deepEqual(custom.errors, [
    'c.lua:2: sync{} does not build on default.rsync, default.rsyncssh or default.direct but runs its own onCreate, onModify (function at line 1); onStartup = "echo start"; tsync replicates files and runs no per-event commands; sync skipped',
  ]);
});

test("issue 15: on a default.* layer, an action that hands events to the layer's imports with a warning naming onChange; on* handlers lsyncd never calls say so", async () => {
  const post = await imp(`sync{ default.rsync, source = "/a", target = "h:/b",\n  action = function(inlet)\n    -- run the post command, then rsync\n    return default.rsync.action(inlet)\n  end }`);
  assert.deepEqual(post.errors, []);
  assert.deepEqual(post.warnings, ["c.lua:1: custom action (function at line 2) replaces default.rsync's own and is not translated: tsync does what default.rsync does; a command it runs after a transfer goes in the sync's onChange: [{ run: ... }]"]);
  // Only a mention in code counts, not one in a comment.
  const commented = await imp(`sync{ default.rsync, source = "/a", target = "h:/b",\n  action = function(inlet)\n    -- was: default.rsync.action(inlet)\n    spawn(inlet.getEvent(), "/bin/true")\n  end }`);
  assert.match(commented.errors[0]!, /^c\.lua:1: custom action \(function at line 2\) replaces default\.rsync's own and never calls it .*; sync skipped$/);
  const on = await imp(`sync{ default.rsyncssh, source = "/a", host = "h", targetdir = "/b", onCreate = "touch ^target", onMove = true }`);
  assert.deepEqual(on.warnings, [`c.lua:1: onCreate = "touch ^target": lsyncd never calls it (default.rsyncssh's action handles every event), and tsync does not either`]);
});

test("issue 15: rsync_path = \"sudo rsync\" becomes the host's sudo: true; another sudo command line stays a warning", async () => {
  const r = await imp(`sync{ default.rsyncssh, source = "/a", host = "deploy@h", targetdir = "/b", rsync = { archive = true, rsync_path = "sudo /usr/bin/rsync" } }`);
  assert.deepEqual([r.errors, r.warnings], [[], []]);
  assert.equal(parseManifest(r.yaml!, "imported.yaml").manifest!.hosts.get("node-1")!.sudo, true);
  const other = await imp(`sync{ default.rsync, source = "/a", target = "h:/b", rsync = { _extra = { "--rsync-path=sudo -u www rsync" } } }`);
  assert.match(other.warnings[0]!, /rsync-path 'sudo -u www rsync' runs the receiving side under sudo in a way tsync does not translate/);
  assert.doesNotMatch(other.yaml!, /sudo: true/);
});

test("issue 15: a first line starting with # is skipped, as lsyncd's loadfile does", async () => {
  const r = await imp(`#!/usr/bin/lsyncd\nsync{ default.rsync, source = "/a", target = "/b" }`);
  assert.deepEqual(r.errors, []);
});

test("issue 15: what tsync's rules refuse in the generated manifest is reported at the lsyncd line", async () => {
  const r = await imp(`settings{ logfile = "/l" }\n\nsync{ default.rsyncssh, source = "/a", host = "deploy@web 1", targetdir = "/b" }`);
  assert.deepEqual(r.errors, ['c.lua:3: "web 1" is not a hostname or IP address (user and port have their own keys) (tsync refuses the translation at hosts.node-1.address)']);
  const overlap = await imp(`sync{ default.direct, source = "/a", target = "/t" }\nsync{ default.direct, source = "/b", target = "/t/x" }`);
  assert.match(overlap.errors[0]!, /^c\.lua:2: target \/t\/x overlaps \/t/);
});

const extra: [string, string, Partial<{ preserve: string[]; delete: boolean; exclude: string[]; chown: string; protect: string[] }>, RegExp?][] = [
  ["--no-owner/--no-group after archive win", `rsync = { archive = true, _extra = { "--no-owner", "--no-group" } }`, { preserve: ["perms", "times"] }],
  ["-a in _extra comes after the table and wins", `rsync = { owner = false, _extra = { "-a" } }`, { preserve: ["perms", "times", "owner", "group"] }],
  ["--no-perms then -a: the later -a wins", `rsync = { _extra = { "--no-perms", "-a" } }`, { preserve: ["perms", "times", "owner", "group"] }],
  ["--exclude=P adds an exclude", `rsync = { _extra = { "--exclude=*.tmp", "--exclude", "cache/" } }`, { exclude: ["*.tmp", "cache/"] }],
  ["--delete with delete = false deletes", `delete = false, rsync = { _extra = { "--delete" } }`, { delete: true }, /--delete in the rsync options makes every lsyncd transfer delete despite delete = false/],
  ["--delete-excluded is a warned difference", `rsync = { _extra = { "--delete-excluded" } }`, {}, /delete-excluded has no tsync equivalent/],
  ["--chmod is a warned difference", `rsync = { _extra = { "--chmod=D755,F644" } }`, {}, /rsync chmod 'D755,F644' has no tsync equivalent/],
  ["a binary that is not rsync (a wrapper running a command) is a warned difference", `rsync = { binary = "/usr/local/bin/rsync-then-reload.sh" }`, {}, /rsync binary '\/usr\/local\/bin\/rsync-then-reload\.sh' is not rsync: lsyncd runs it in rsync's place .* onChange/],
  ["binary = /usr/bin/rsync is no difference", `rsync = { binary = "/usr/bin/rsync" }`, {}],
  ["hard_links / -H become preserve hardlinks; sparse is what tsync does anyway", `rsync = { archive = true, hard_links = true, sparse = true }`, { preserve: ["perms", "times", "owner", "group", "hardlinks"] }],
  ["-aHS then --no-H keeps no hard links", `rsync = { _extra = { "-aHS", "--no-H" } }`, { preserve: ["perms", "times", "owner", "group"] }],
  ["chown becomes chown:", `rsync = { chown = "www-data:www-data" }`, { chown: "www-data:www-data" }],
  ["the last --chown wins", `rsync = { _extra = { "--chown=a:b", "--chown=:web" } }`, { chown: ":web" }],
  ["a --chown tsync cannot say is a warned difference", `rsync = { _extra = { "--chown=a:b:c" } }`, {}, /rsync chown 'a:b:c' is not USER:GROUP, USER or :GROUP and is not translated/],
  ["--filter='P …' becomes protect", `rsync = { _extra = { "--filter=P wp-content/uploads/", "--filter", "protect /.well-known" } }`, { protect: ["**/wp-content/uploads/", "/.well-known"] }],
];
for (const [name, opts, want, warning] of extra)
  test(`issue 15: rsync options: ${name}`, async () => {
    const r = await imp(`sync{ default.rsync, source = "/a", target = "/b", ${opts} }`);
    const s = syncOf(r);
    if (want.preserve) assert.deepEqual(Object.entries(s.rules.preserve).filter(([, v]) => v).map(([k]) => k), want.preserve);
    if (want.delete !== undefined) assert.equal(s.rules.delete, want.delete);
    if (want.exclude) assert.deepEqual(s.rules.exclude, want.exclude);
    if (want.chown) {
      const [user, group] = want.chown.split(":");
      assert.deepEqual(s.chown, { ...(user ? { user } : {}), ...(group ? { group } : {}) });
    }
    if (want.protect) assert.deepEqual(s.rules.protect, want.protect);
    if (warning) assert.ok(r.warnings.some((w) => warning.test(w)), JSON.stringify(r.warnings));
    else assert.deepEqual(r.warnings, []);
  });

test("issue 15: rsync include/exclude/filter rules and lsyncd's filter, exclude, filterFrom, excludeFrom import in rsync's order as gitignore", async () => {
  const only = await imp(`sync{ default.rsync, source = "/a", target = "/b", rsync = { _extra = { "-r", "--include=*/", "--include=*.auto", "--exclude=*" } } }`);
  assert.deepEqual([only.errors, only.warnings], [[], []]);
  assert.deepEqual(syncOf(only).rules.exclude, ["*", "!*.auto", "!*/"]);
  // filter first, then exclude, then the rsync options' rules (lsyncd's command line); files as lsyncd reads them.
  const files: Record<string, string> = { "/srv/conf/f.rules": "# comment\n+ keep/***\n\n", "/etc/ex": "+ ignored by lsyncd\n- *.tmp\ncache/\n" };
  const all = await imp(
    `sync{ default.rsync, source = "/a", target = "/b", filter = { "- *.bak", "+/docs/" }, filterFrom = "f.rules", exclude = { "*.log" }, excludeFrom = "/etc/ex",
       rsync = { _extra = { "--filter=- /private", "--filter", "exclude *.iso" } } }`,
    { readFile: (p) => files[p] ?? { error: "ENOENT" } },
  );
  assert.deepEqual([all.errors, all.warnings], [[], []]);
  assert.deepEqual(syncOf(all).rules.exclude, ["*.iso", "/private", "cache/", "*.tmp", "*.log", "!keep/**", "!keep/", "!/docs/", "*.bak"]);
  assert.match(all.yaml!, /# lsyncd: excludeFrom = \/etc\/ex, as it read when imported/);
  const unread = await imp(`sync{ default.rsync, source = "/a", target = "/b", excludeFrom = "/etc/ex" }`);
  assert.deepEqual(unread.warnings, ["c.lua:1: excludeFrom '/etc/ex' cannot be read here (the importer was given no files to read): copy its patterns into exclude"]);
  // What gitignore cannot say is refused, naming the rule.
  const merge = await imp(`sync{ default.rsync, source = "/a", target = "/b", rsync = { _extra = { "--filter=dir-merge .rsync-filter" } } }`);
  assert.match(merge.errors[0]!, /^c\.lua:1: rsync --filter=dir-merge \.rsync-filter is not a plain include\/exclude rule .*; sync skipped$/);
  const bad = await imp(`sync{ default.rsync, source = "/a", target = "/b", filter = { "P keep" } }`);
  assert.match(bad.errors[0]!, /^c\.lua:1: filter rule "P keep" is not "\+ PATTERN" or "- PATTERN" \(lsyncd stops at it\); sync skipped$/);
  const from = await imp(`sync{ default.rsync, source = "/a", target = "/b", rsync = { _extra = { "--include-from=/etc/list" } } }`);
  assert.match(from.errors[0]!, /^c\.lua:1: rsync --include-from=\/etc\/list selects files from a list the importer does not read/);
});

test("issue 15: init = false says what tsync does instead and offers maxDelete: 0", async () => {
  const r = await imp(`sync{ default.rsync, source = "/a", target = "/b", init = false }`);
  assert.deepEqual(r.errors, []);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /^c\.lua:1: init = false \(lsyncd skips the startup sync.*first apply makes the targets equal to the source, deleting what only a target has; .*maxDelete: 0/);
  assert.doesNotMatch(r.warnings[0]!, /custom action/);
});

test("issue 15: statusInterval and archive's devices/specials are not warnings, so --strict can pass", async () => {
  const r = await imp(`settings{ statusInterval = 10 }\nsync{ default.rsync, source = "/a", target = "/b", rsync = { archive = true } }`);
  assert.deepEqual(r.warnings, []);
});

test("issue 15: default.direct keeps mode, owner, group and times, as its cp -p does", async () => {
  const s = syncOf(await imp(`sync{ default.direct, source = "/a", target = "/b" }`));
  assert.deepEqual(s.rules.preserve, { perms: true, times: true, owner: true, group: true });
});

test("issue 15: delete = \"false\" (a string) never deletes in lsyncd and imports as delete: false", async () => {
  const r = await imp(`sync{ default.rsync, source = "/a", target = "/b", delete = "false" }`);
  assert.equal(syncOf(r).rules.delete, false);
});

test("issue 15: a target nested in another sync's target is fine when the outer sync excludes it", async () => {
  const nested = (exclude: string) =>
    imp(`sync{ default.direct, source = "/www", target = "/srv/www", exclude = { ${exclude} } }\nsync{ default.direct, source = "/up", target = "/srv/www/uploads" }`);
  assert.deepEqual((await nested(`"uploads/"`)).errors, []);
  assert.deepEqual((await nested(`"/uploads"`)).errors, []);
  assert.match((await nested(`"*.tmp"`)).errors[0] ?? "", /^c\.lua:2: target \/srv\/www\/uploads overlaps \/srv\/www, a target of sync "www"/);
  // The inner sync's excludes do not make the outer one stop writing there.
  const innerOnly = await imp(`sync{ default.direct, source = "/www", target = "/srv/www" }\nsync{ default.direct, source = "/up", target = "/srv/www/uploads", exclude = { "uploads/" } }`);
  assert.match(innerOnly.errors[0] ?? "", /overlaps/);
});

test("issue 15: host names with underscores (ssh aliases) are accepted; ssh option injection still is not", async () => {
  const r = await imp(`sync{ default.rsyncssh, source = "/a", host = "deploy@sub_sftp_server", targetdir = "/b" }`);
  assert.deepEqual(r.errors, []);
  const bad = parseManifest(`version: 1\nhosts:\n  x: { address: "-oProxyCommand=sh", roles: [replica] }\nsyncs: {}\n`, "m.yaml");
  assert.deepEqual(bad.diagnostics.map((d) => d.code), ["host-address"]);
});

test("issue 15: a command before ssh in rsh is named (without its arguments), not read as ssh arguments", () => {
  const r = translateSshArgs("sshpass -p secret ssh -p 2222 -o LogLevel=ERROR".split(" "));
  assert.deepEqual(r.value, { port: 2222 });
  assert.deepEqual(r.warnings, ["ssh is started through 'sshpass'; tsync connects itself (keys or ssh-agent)"]);
});

test("issue 15: translated rsync rules select exactly what rsync itself copies (checked against rsync)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsync-rules-"));
  try {
    const src = join(dir, "src");
    for (const f of ["a.auto", "a.txt", "d/b.auto", "d/b.txt", "d/e/c.auto", "keep/x.txt", "keep/y/z.log", "docs/r.md", "x/docs/s.md", "p.bak", "private/k", "q/private/k"]) {
      mkdirSync(join(src, f, ".."), { recursive: true });
      writeFileSync(join(src, f), f);
    }
    const cases: string[][] = [
      ["--include=*/", "--include=*.auto", "--exclude=*"],
      ["--include=keep/***", "--exclude=*.txt", "--exclude=*.log"],
      ["--exclude=*.bak", "--include=/docs/", "--include=/docs/**", "--exclude=/*/", "--include=*.auto"],
      ["--filter=- /private", "--filter=+ *.txt", "--exclude=d/"],
      ["--exclude=*.txt", "--include=*.txt", "--include=d/", "--exclude=*"],
    ];
    for (const args of cases) {
      const dst = join(dir, `dst-${cases.indexOf(args)}`);
      execFileSync("rsync", ["-r", ...args, `${src}/`, `${dst}/`]);
      const r = await imp(`sync{ default.rsync, source = "/a", target = "/b", rsync = { _extra = { ${args.map((a) => JSON.stringify(a)).join(", ")} } } }`);
      const exclude = syncOf(r).rules.exclude;
      const files = async (root: string, ex: readonly string[]) =>
        [...(await scanLocal(root, { exclude: makeMatcher(ex), owners: false, hash: "none" }))].filter(([, e]) => e.kind === "file").map(([p]) => p).sort();
      assert.deepEqual(await files(src, exclude), await files(dst, []), `${args.join(" ")} → ${JSON.stringify(exclude)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("issue 15: settings.inotifyMode and ssh StrictHostKeyChecking=no are not warnings; the manifest says what accept-new changes", async () => {
  const r = await imp(`settings{ inotifyMode = "CloseWrite" }\nsync{ default.rsync, source = "/a", target = "h:/b", rsync = { rsh = "ssh -o StrictHostKeyChecking=no" } }`);
  assert.deepEqual([r.errors, r.warnings], [[], []]);
  assert.match(r.yaml!, /hostKeyChecking: accept-new/);
  assert.match(r.yaml!, /# lsyncd: ssh StrictHostKeyChecking=no → hostKeyChecking: accept-new \(a changed host key stops tsync\)/);
});
