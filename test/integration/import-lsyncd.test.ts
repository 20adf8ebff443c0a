// Migration end to end: an lsyncd config shaped like the seed's (a loop over a target list calling
// sync{} per target, ssh options in rsh) is imported, and the manifest it yields converges real sshd
// targets — checked with independent tools, not tsync's word.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startSshdFleet, type Fleet } from "../support/sshd.js";
import { runTsync } from "../support/cli.js";
import { assertTreesEqual, wordpressTree } from "../support/trees.js";

let fleet: Fleet;
let dir: string;
// Targets below the login directory of the lab's ssh user (root, on this machine), removed afterwards.
const loginDir = userInfo().homedir;
const below = `tsync-login-${process.pid}`;

// A login whose home does not exist: sshd starts its session in / instead.
const NO_HOME = "tsync-nohome";
const keysDir = mkdtempSync(join(tmpdir(), "tsync-import-keys-"));

before(async () => {
  try {
    execFileSync("id", ["-u", NO_HOME], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["-M", "-d", "/nonexistent", "-s", "/bin/sh", NO_HOME]);
  }
  execFileSync("usermod", ["-p", "*", NO_HOME]); // not locked: sshd without PAM refuses locked accounts
  chmodSync(keysDir, 0o755);
  fleet = await startSshdFleet({ addresses: ["127.0.0.2", "127.0.0.3"], extraConfig: () => [`Match User ${NO_HOME}`, `  AuthorizedKeysFile ${keysDir}/authorized_keys`] });
  copyFileSync(join(fleet.dir, "authorized_keys"), join(keysDir, "authorized_keys"));
  chmodSync(join(keysDir, "authorized_keys"), 0o644);
  dir = mkdtempSync(join(tmpdir(), "tsync-import-"));
});

after(async () => {
  await fleet?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(loginDir, below), { recursive: true, force: true });
  rmSync(keysDir, { recursive: true, force: true });
  execFileSync("userdel", [NO_HOME], { stdio: "ignore" });
});

test("an imported lsyncd config plans and applies correctly against real targets", async () => {
  const src = join(dir, "src");
  await wordpressTree(src);
  const lua = join(dir, "lsyncd.conf.lua");
  writeFileSync(
    lua,
    `settings = {
   delay        = 1,
   maxProcesses = 5,
   statusFile   = "${dir}/lsyncd.status",
}
targetlist = {
${fleet.hosts.map((h) => ` { "${h.address}", ${h.port} },`).join("\n")}
}
for i, t in ipairs(targetlist) do
  sync{ default.rsync,
    source = "${src}",
    target = "root@" .. t[1] .. ":${dir}/node-" .. i,
    exclude = { "wp-content/cache/" },
    rsync = { archive = true, rsh = "/usr/bin/ssh -p " .. t[2] .. " -i ${fleet.identityFile} -o UserKnownHostsFile=${fleet.knownHosts}" },
  }
end
`,
  );
  const manifest = join(dir, "tsync.yaml");
  const imp = await runTsync(["import", "lsyncd", lua, "-o", manifest]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.doesNotMatch(imp.stderr, /warning:/, "everything this config says translates, so --strict would pass");
  assert.equal((await runTsync(["validate", "-f", manifest])).code, 0);

  const plan = await runTsync(["plan", "--json", "-f", manifest]);
  assert.equal(plan.code, 0, plan.stderr);
  const doc = JSON.parse(plan.stdout) as { targets: { location: string; state: string }[] };
  assert.deepEqual(
    doc.targets.map((t) => [t.location, t.state]),
    fleet.hosts.map((_, i) => [`node-${i + 1}:${dir}/node-${i + 1}`, "drifted"]),
    "one sync, one target per sync{} call, named in first-seen order",
  );
  const apply = await runTsync(["apply", "--yes", "-f", manifest]);
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  for (let i = 1; i <= fleet.hosts.length; i++) await assertTreesEqual(src, join(dir, `node-${i}`), { times: true, timePrecision: "s", owner: true });
  assert.match((await runTsync(["plan", "-f", manifest])).stdout, /No changes\./);
});

test("the seed's own lsyncd.conf imports verbatim into one sync with four targets", async () => {
  const r = await runTsync(["import", "lsyncd", "fixtures/lsyncd/seed.lua", "--name", "10.0.1.23=www-03"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /www-03: \{address: 10\.0\.1\.23/);
  assert.equal((r.stdout.match(/- (www-03|node-\d):\/var\/www\/tjstein\.com/g) ?? []).length, 4);
  const strict = await runTsync(["import", "lsyncd", "fixtures/lsyncd/seed.lua", "--strict"]);
  assert.equal(strict.code, 1, "--strict: the untranslatable -u flag fails the import");
});

test("the CLI resolves relative sources against the config's directory, or --base, and reads os.getenv from its environment", async () => {
  const conf = join(dir, "conf");
  mkdirSync(conf, { recursive: true });
  const lua = join(conf, "lsyncd.conf.lua");
  writeFileSync(lua, `sync{ default.rsync, source = "./public", target = os.getenv("TSYNC_TEST_DEST") .. ":/srv/public" }\n`);
  const r = await runTsync(["import", "lsyncd", lua], { env: { TSYNC_TEST_DEST: "backup_01" } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`source: ${conf}/public\\n`));
  assert.match(r.stdout, /address: backup_01/);
  assert.match(r.stderr, /warning: .*lsyncd\.conf\.lua:1: os\.getenv\('TSYNC_TEST_DEST'\) was read from the environment/);
  const based = await runTsync(["import", "lsyncd", lua, "--base", "/data"], { env: { TSYNC_TEST_DEST: "b" } });
  assert.match(based.stdout, /source: \/data\/public\n/);
  // --env gives the value the config's own machine (its container) has, over tsync's environment.
  const given = await runTsync(["import", "lsyncd", lua, "--env", "TSYNC_TEST_DEST=from_flag"], { env: { TSYNC_TEST_DEST: "b" } });
  assert.equal(given.code, 0, given.stderr);
  assert.match(given.stdout, /address: from_flag/);
  const bad = await runTsync(["import", "lsyncd", lua, "--env", "NOEQUALS"]);
  assert.deepEqual([bad.code, bad.stderr], [1, "--env NOEQUALS: expected NAME=VALUE, e.g. --env SYNC_HOST=www-02\n"]);
  // The config reads files below the config's directory (lsyncd's working directory), as lsyncd would.
  mkdirSync(join(conf, "conf.d"));
  writeFileSync(join(conf, "conf.d", "www.lua"), `sync{ default.rsync, source = "/var/www", target = "web1:/var/www" }\n`);
  const included = join(conf, "include.conf.lua");
  writeFileSync(included, `for name in pairs(readdir("${conf}/conf.d")) do dofile("${conf}/conf.d/" .. name) end\n`);
  const inc = await runTsync(["import", "lsyncd", included]);
  assert.equal(inc.code, 0, inc.stderr);
  assert.match(inc.stdout, /source: \/var\/www\n/);
  assert.match(inc.stderr, /warning: .*include\.conf\.lua:1: dofile\('.*\/conf\.d\/www\.lua'\) read the file where tsync import runs/);
});

test("targets relative to the login directory (user@host:dir, rsyncssh targetdir ~/dir) land below the target's login directory, not tsync's home", async () => {
  const src = join(dir, "login-src");
  await wordpressTree(src);
  const [a, b] = fleet.hosts;
  const rsh = (port: number) => `/usr/bin/ssh -p ${port} -i ${fleet.identityFile} -o UserKnownHostsFile=${fleet.knownHosts}`;
  const lua = join(dir, "login.conf.lua");
  writeFileSync(
    lua,
    `sync{ default.rsync, source = "${src}", target = "root@${a!.address}:${below}/a/", rsync = { archive = true, rsh = "${rsh(a!.port)}" } }
sync{ default.rsyncssh, source = "${src}", host = "root@${b!.address}", targetdir = "~/${below}/b", rsync = { archive = true }, ssh = { port = ${b!.port}, identityFile = "${fleet.identityFile}", options = { UserKnownHostsFile = "${fleet.knownHosts}" } } }
`,
  );
  const manifest = join(dir, "login.yaml");
  const imp = await runTsync(["import", "lsyncd", lua, "-o", manifest, "--strict"]);
  assert.equal(imp.code, 0, imp.stderr);
  // tsync's own home is elsewhere: expanding ~ on this side would write there.
  const home = mkdtempSync(join(tmpdir(), "tsync-home-"));
  const env = { HOME: home };
  const plan = await runTsync(["plan", "--json", "-f", manifest], { env });
  assert.equal(plan.code, 0, plan.stderr);
  const doc = JSON.parse(plan.stdout) as { targets: { location: string; state: string }[] };
  assert.deepEqual(doc.targets.map((t) => [t.location, t.state]), [[`node-1:~/${below}/a`, "drifted"], [`node-2:~/${below}/b`, "drifted"]]);
  const apply = await runTsync(["apply", "--yes", "-f", manifest], { env });
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  for (const t of ["a", "b"]) await assertTreesEqual(src, join(loginDir, below, t), { times: true, timePrecision: "s", owner: true });
  assert.deepEqual(readdirSync(home), [], "nothing written below tsync's own home");
  assert.match((await runTsync(["plan", "-f", manifest], { env })).stdout, /No changes\./);
  rmSync(home, { recursive: true, force: true });
  assert.ok(existsSync(join(loginDir, below, "a")));
});

test("a ~/ target whose login has no home directory fails that host in one line and writes nothing (rsync would write below /)", async () => {
  const src = join(dir, "nohome-src");
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "index.php"), "<?php\n");
  const manifest = join(dir, "nohome.yaml");
  const h = fleet.hosts[0]!;
  writeFileSync(
    manifest,
    `version: 1\ndefaults: { user: ${NO_HOME}, identityFile: ${fleet.identityFile}, knownHosts: ${fleet.knownHosts}, sshConfig: false }\n` +
      `hosts:\n  node-1: { address: ${h.address}, port: ${h.port}, roles: [replica] }\nsyncs:\n  site: { source: ${src}, targets: ["node-1:~/${below}"] }\n`,
  );
  const r = await runTsync(["apply", "--yes", "-f", manifest]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, new RegExp(`cannot resolve ~/${below}: no login directory for ${NO_HOME} \\(.*nonexistent.*\\)`));
  assert.equal(existsSync(`/${below}`), false, "nothing below /");
});
