// `tsync import lsyncd`: a golden corpus (fixtures/lsyncd/*.lua → *.expected.yaml, *.expected-warnings.txt,
// *.expected-errors.txt), translator tables, and the sandbox's limits. UPDATE_GOLDEN=1 rewrites the goldens.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { importLsyncd } from "../../reconciler/import/lsyncd.js";
import { evaluateLsyncd, type EvalLimit } from "../../reconciler/import/lsyncd-eval.js";
import { translateDelete, translateExclude, translateRsyncOpts, translateSshArgs } from "../../reconciler/import/lsyncd-options.js";
import { parseManifest } from "../../reconciler/manifest/load.js";

const DIR = new URL("../../../fixtures/lsyncd/", import.meta.url);
const read = (name: string) => readFileSync(new URL(name, DIR), "utf8");
const lines = (xs: readonly string[]) => (xs.length ? `${xs.join("\n")}\n` : "");

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
  ["io.open", "local f = io.open('/etc/passwd')", /^h\.lua:1: io\.open is not allowed in an imported config$/, undefined],
  ["require", "local x = require('socket')", /^h\.lua:1: require is not allowed/, undefined],
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
  assert.deepEqual(r.errors, ["h.lua: no sync{} could be translated"]);
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
  assert.deepEqual([...r.value].sort(), ["group", "owner", "perms", "times"]);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /'update' \(-u\) has no tsync equivalent/);
  assert.deepEqual(translateRsyncOpts("-lts").value, new Set(["times"]));
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
