// A real estate's reach (issue 14): a target only a bastion can reach, an ssh config with aliases and
// Include. tsync runs inside a network namespace where only the bastion is exposed, so the target is
// reachable through the bastion's tunnel alone; the bastion's own log (LogLevel DEBUG1) shows the hop.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { runTsync } from "../support/cli.js";
import { createNetns, type Netns } from "../support/netns.js";
import { startSshdFleet, type Fleet } from "../support/sshd.js";
import { assertTreesEqual } from "../support/trees.js";

const BASTION = "127.0.0.41";
const TARGET = "127.0.0.42";
let fleet: Fleet;
let ns: Netns;
let dir: string;
let failed = false;

// Non-root logins for the sudo tests: sshd reads authorized_keys as the user, so theirs is a readable copy.
// tsync-fakeroot logs in to a user namespace where it is uid 0 (a rootless container's "root"): it
// looks privileged, yet chown to an id outside the namespace fails, mid-apply.
const USERS = ["tsync-deploy", "tsync-nopass", "tsync-fakeroot"];
const SUDOERS = "/etc/sudoers.d/tsync-test";
const keysDir = mkdtempSync(join(tmpdir(), "tsync-estate-keys-"));

function ensureUsers(): void {
  for (const u of USERS) {
    try {
      execFileSync("id", ["-u", u], { stdio: "ignore" });
    } catch {
      execFileSync("useradd", ["-M", "-d", "/nonexistent", "-s", "/bin/sh", u]);
    }
    execFileSync("usermod", ["-p", "*", u]); // not locked ("!"): sshd without PAM refuses locked accounts
  }
  writeFileSync(`${SUDOERS}.new`, "tsync-deploy ALL=(root) NOPASSWD: ALL\ntsync-nopass ALL=(root) ALL\n", { mode: 0o440 });
  execFileSync("visudo", ["-c", "-q", "-f", `${SUDOERS}.new`]);
  execFileSync("mv", ["-f", `${SUDOERS}.new`, SUDOERS]);
}

before(async () => {
  ensureUsers();
  chmodSync(keysDir, 0o755);
  fleet = await startSshdFleet({
    addresses: [BASTION, TARGET],
    extraConfig: (i) => (i === 0 ? ["LogLevel DEBUG1", "AllowTcpForwarding yes"] : ["AllowTcpForwarding no", `Match User ${USERS.join(",")}`, `  AuthorizedKeysFile ${keysDir}/authorized_keys`, "Match User tsync-fakeroot", '  ForceCommand unshare --user --map-root-user /bin/sh -c "$SSH_ORIGINAL_COMMAND"']),
  });
  copyFileSync(join(fleet.dir, "authorized_keys"), join(keysDir, "authorized_keys"));
  chmodSync(join(keysDir, "authorized_keys"), 0o644);
  ns = await createNetns("tsync-estate");
  await ns.expose(BASTION, fleet.hosts[0]!.port);
  dir = mkdtempSync(join(tmpdir(), "tsync-estate-"));
  const src = join(dir, "src");
  mkdirSync(join(src, "wp-content"), { recursive: true });
  writeFileSync(join(src, "index.php"), "<?php // hello\n");
  writeFileSync(join(src, "wp-content", "style.css"), "body{}\n");
});
after(async () => {
  if (existsSync(SUDOERS)) execFileSync("rm", ["-f", SUDOERS]);
  rmSync(keysDir, { recursive: true, force: true });
  ns?.close();
  await fleet?.close({ keep: failed });
  if (dir && !failed) rmSync(dir, { recursive: true, force: true });
});
const check = <T>(fn: () => Promise<T>) => fn().catch((e: unknown) => ((failed = true), Promise.reject(e)));

/** `sync`: the target path (default DIR/NAME/dst) and more keys of the sync. */
function manifest(name: string, hosts: string[], defaults: string[] = [], sync: { path?: string; lines?: string[] } = {}): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      "version: 1",
      "defaults:",
      "  user: root",
      `  identityFile: ${fleet.identityFile}`,
      `  knownHosts: ${fleet.knownHosts}`,
      ...defaults.map((l) => `  ${l}`),
      "hosts:",
      ...hosts.map((l) => `  ${l}`),
      "syncs:",
      "  site:",
      `    source: ${join(dir, "src")}`,
      `    targets: [ "inner:${sync.path ?? join(dir, name, "dst")}" ]`,
      ...(sync.lines ?? []).map((l) => `    ${l}`),
      "",
    ].join("\n"),
  );
  return file;
}

const inNs = (args: string[]) => runTsync(args, { prefix: ns.exec });
const [bastionPort, targetPort] = [() => fleet.hosts[0]!.port, () => fleet.hosts[1]!.port];

test("without a jump host the target cannot be reached from where tsync runs (the lab is real), and -q still names it", () =>
  check(async () => {
    const file = manifest("direct", [`inner: { address: ${TARGET}, port: ${targetPort()}, sshConfig: false }`]);
    const r = await inNs(["plan", "-q", "-f", file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, new RegExp(`inner \\(${TARGET.replace(/\./g, "\\.")}:${targetPort()}\\): connection refused`));
  }));

test("proxyJump: a manifest host as bastion; plan and apply go through it, and the bastion logs the hop", () =>
  check(async () => {
    const file = manifest("jump", [
      `bastion: { address: ${BASTION}, port: ${bastionPort()}, sshConfig: false }`,
      `inner: { address: ${TARGET}, port: ${targetPort()}, proxyJump: bastion, sshConfig: false }`,
    ]);
    const plan = await inNs(["plan", "--detailed-exitcode", "-f", file]);
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /Plan: 4 to add/);
    const apply = await inNs(["apply", "--yes", "-f", file]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    await assertTreesEqual(join(dir, "src"), join(dir, "jump", "dst"));
    assert.match(fleet.log(0), new RegExp(`server_request_direct_tcpip: .*target ${TARGET.replace(/\./g, "\\.")} port ${targetPort()}`));
  }));

test("proxyJump: an unknown bastion host key is refused, and the message names the hop and the target", () =>
  check(async () => {
    const empty = join(dir, "empty_known_hosts");
    writeFileSync(empty, "");
    const file = manifest("jump-unknown", [
      `bastion: { address: ${BASTION}, port: ${bastionPort()}, knownHosts: ${empty}, sshConfig: false }`,
      `inner: { address: ${TARGET}, port: ${targetPort()}, proxyJump: bastion, sshConfig: false }`,
    ]);
    const r = await inNs(["plan", "-f", file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, new RegExp(`inner \\(${TARGET.replace(/\./g, "\\.")}:${targetPort()}\\): through jump host bastion \\(${BASTION.replace(/\./g, "\\.")}:${bastionPort()}\\): host key unknown`));
  }));

test("ssh config: an alias with HostName/Port/ProxyJump from an Included file; the manifest names only the alias", () =>
  check(async () => {
    const conf = join(dir, "ssh_config");
    const inc = join(dir, "ssh_config.d", "estate.conf");
    mkdirSync(join(dir, "ssh_config.d"), { recursive: true });
    writeFileSync(conf, `Include ${join(dir, "ssh_config.d")}/*.conf\nHost *\n  ConnectTimeout 5\n`);
    writeFileSync(inc, [`Host gw`, `  HostName ${BASTION}`, `  Port ${bastionPort()}`, `Host www-inner`, `  HostName ${TARGET}`, `  Port ${targetPort()}`, `  ProxyJump gw`, ""].join("\n"));
    const file = manifest("alias", ["inner: { address: www-inner }"], [`sshConfig: ${conf}`]);
    const r = await inNs(["apply", "--yes", "-f", file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await assertTreesEqual(join(dir, "src"), join(dir, "alias", "dst"));
  }));

/** A www-data-owned web root a non-root login cannot write. */
function wwwDataRoot(name: string, leaf = "dst"): string {
  const root = join(dir, name, leaf);
  mkdirSync(root, { recursive: true });
  chmodSync(join(dir, name), 0o755);
  chmodSync(dir, 0o755);
  const www = Number(execFileSync("id", ["-u", "www-data"]).toString());
  chownSync(root, www, www);
  chmodSync(root, 0o755);
  return root;
}

test("sudo: true — a non-root login writes a www-data root through sudo -n; without it, permission denied", () =>
  check(async () => {
    const root = wwwDataRoot("sudo");
    const plain = manifest("sudo", [`inner: { address: ${TARGET}, port: ${targetPort()}, user: tsync-deploy, sshConfig: false }`]);
    const denied = await runTsync(["apply", "--yes", "-f", plain]);
    assert.equal(denied.code, 1, denied.stdout + denied.stderr);
    assert.match(denied.stdout + denied.stderr, /Permission denied/);
    const withSudo = manifest("sudo", [`inner: { address: ${TARGET}, port: ${targetPort()}, user: tsync-deploy, sudo: true, sshConfig: false }`]);
    const r = await runTsync(["apply", "--yes", "-f", withSudo]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await assertTreesEqual(join(dir, "src"), root);
    const again = await runTsync(["plan", "--detailed-exitcode", "-f", withSudo]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  }));

test("sudo: true where sudo wants a password is one clear line naming the host and the user", () =>
  check(async () => {
    wwwDataRoot("sudo-pass");
    const file = manifest("sudo-pass", [`inner: { address: ${TARGET}, port: ${targetPort()}, user: tsync-nopass, sudo: true, sshConfig: false }`]);
    const r = await runTsync(["plan", "-f", file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const line = `inner (${TARGET}:${targetPort()}): sudo: true, but sudo asks tsync-nopass for a password (tsync runs sudo -n): allow tsync-nopass NOPASSWD in sudoers on this host`;
    assert.ok((r.stdout + r.stderr).includes(line), r.stdout + r.stderr);
    assert.equal((r.stdout + r.stderr).split(line).length, 2, "said once");
  }));

const deployHost = (extra = "") => `inner: { address: ${TARGET}, port: ${targetPort()}, user: tsync-deploy, sudo: true, sshConfig: false${extra} }`;

test("followRoot: a Capistrano root (current -> releases/2) is followed by plan and apply alike, shown, and stays a symlink", () =>
  check(async () => {
    const release = wwwDataRoot("caps/releases", "2");
    const current = join(dir, "caps", "current");
    symlinkSync("releases/2", current);
    const file = manifest("caps", [deployHost()], [], { path: current });
    const plan = await runTsync(["plan", "--detailed-exitcode", "-f", file]);
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
    assert.ok(plan.stdout.includes(`site: inner:${current} → ${release}`), plan.stdout);
    const apply = await runTsync(["apply", "--yes", "-f", file]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.ok(apply.stdout.includes(`inner:${current} → ${release}`), apply.stdout);
    await assertTreesEqual(join(dir, "src"), release);
    assert.ok(lstatSync(current).isSymbolicLink(), "the root link itself is left alone");
    const again = await runTsync(["plan", "--detailed-exitcode", "-f", file]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  }));

test("followRoot: false refuses a symlinked root in plan and in apply, naming the path and the option; nothing is written", () =>
  check(async () => {
    const release = wwwDataRoot("caps-no/releases", "2");
    const current = join(dir, "caps-no", "current");
    symlinkSync("releases/2", current);
    const file = manifest("caps-no", [deployHost()], [], { path: current, lines: ["followRoot: false"] });
    const want = `target root ${current} is a symlink to releases/2; sync site has followRoot: false, so it is refused (followRoot: true would sync into ${release})`;
    for (const args of [["plan"], ["plan", "-q"], ["apply", "--yes"]]) {
      const r = await runTsync([...args, "-f", file]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.ok((r.stdout + r.stderr).includes(want), `${args.join(" ")}: ${r.stdout + r.stderr}`);
    }
    assert.deepEqual(readdirSync(release), []);
  }));

const idOf = (flag: "-u" | "-g", name: string) => Number(execFileSync("id", [flag, name]).toString());

/** uid:gid of every entry under root, the root itself included. */
function owners(root: string): Set<string> {
  const out = execFileSync("find", [root, "-printf", "%U:%G\\n"]).toString().trim().split("\n");
  return new Set(out);
}

test("chown: www-data:www-data — everything written lands owned by www-data, through sudo; a second plan is in sync", () =>
  check(async () => {
    const root = wwwDataRoot("chown");
    const file = manifest("chown", [deployHost()], [], { lines: ["chown: www-data:www-data"] });
    const r = await runTsync(["apply", "--yes", "-f", file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await assertTreesEqual(join(dir, "src"), root);
    assert.deepEqual(owners(root), new Set([`${idOf("-u", "www-data")}:${idOf("-g", "www-data")}`]));
    const again = await runTsync(["plan", "--detailed-exitcode", "-f", file]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  }));

/** A root the login owns: it can write there, but not give files away. */
function deployRoot(name: string, user = "tsync-deploy"): string {
  const root = join(dir, name, "dst");
  mkdirSync(root, { recursive: true });
  chmodSync(join(dir, name), 0o755);
  chmodSync(dir, 0o755);
  chownSync(root, idOf("-u", user), idOf("-g", user));
  return root;
}

test("preserve owner/group or chown without root or sudo: plan refuses the target naming the host; apply writes nothing", () =>
  check(async () => {
    for (const [name, line, needs] of [
      ["noroot-preserve", "preserve: [perms, times, owner, group]", "preserve: [owner, group]"],
      ["noroot-chown", "chown: www-data:www-data", "chown: www-data:www-data"],
    ] as const) {
      const root = deployRoot(name);
      const file = manifest(name, [`inner: { address: ${TARGET}, port: ${targetPort()}, user: tsync-deploy, sshConfig: false }`], [], { lines: [line] });
      const want = `${needs} in sync site needs root on inner, and the login there is not root and has no sudo: true`;
      const plan = await runTsync(["plan", "-f", file]);
      assert.ok(plan.stdout.includes(want), plan.stdout + plan.stderr);
      const apply = await runTsync(["apply", "--yes", "-f", file]);
      assert.equal(apply.code, 1, apply.stdout + apply.stderr);
      assert.ok(apply.stdout.includes(want), apply.stdout + apply.stderr);
      assert.deepEqual(readdirSync(root), [], `${name}: nothing written`);
    }
  }));

test("chown naming a user the target does not have is refused at plan time, naming it and the host", () =>
  check(async () => {
    const root = wwwDataRoot("chown-unknown");
    const file = manifest("chown-unknown", [deployHost()], [], { lines: ["chown: tsync-nosuchuser:www-data"] });
    const r = await runTsync(["apply", "--yes", "-f", file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(r.stdout.includes("chown: tsync-nosuchuser:www-data in sync site: no user tsync-nosuchuser on inner"), r.stdout + r.stderr);
    assert.deepEqual(readdirSync(root), []);
  }));

test("an owner that cannot be set mid-apply leaves no directory behind (none of mode 0700), and the count says what landed", () =>
  check(async () => {
    const root = deployRoot("fakeroot", "tsync-fakeroot");
    const file = manifest("fakeroot", [`inner: { address: ${TARGET}, port: ${targetPort()}, user: tsync-fakeroot, sshConfig: false }`], [], { lines: ["chown: www-data:www-data"] });
    const r = await runTsync(["apply", "--yes", "-f", file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /inner:\S+: 4 of 5 change\(s\) not applied \(1 done\); first: mkdir wp-content: chown: Invalid argument/);
    assert.deepEqual(readdirSync(root), [], "nothing half-made");
  }));

test("rootMetadata: false — a www-data root that admits only group writes converges (plan exits 0 after apply); without it the root's chmod fails, named ./", () =>
  check(async () => {
    const root = join(dir, "groupw", "dst");
    mkdirSync(root, { recursive: true });
    chmodSync(join(dir, "groupw"), 0o755);
    chmodSync(dir, 0o755);
    chownSync(root, idOf("-u", "www-data"), idOf("-g", "tsync-deploy"));
    chmodSync(root, 0o2775);
    const host = `inner: { address: ${TARGET}, port: ${targetPort()}, user: tsync-deploy, sshConfig: false }`;
    const plain = manifest("groupw", [host]);
    const failed = await runTsync(["apply", "--yes", "-f", plain]);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stdout, /2 of 5 change\(s\) not applied \(3 done\); first: chmod \.\/: chmod: Operation not permitted/);
    const file = manifest("groupw", [host], [], { lines: ["rootMetadata: false"] });
    const r = await runTsync(["apply", "--yes", "-f", file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const again = await runTsync(["plan", "--detailed-exitcode", "-f", file]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(lstatSync(root).mode & 0o7777, 0o2775, "the root's own mode is left alone");
    await assertTreesEqual(join(dir, "src"), root);
  }));

test("web: an ssh config alias is not an upstream address — nginx refuses to render it until web is set; an explicit web is used", () =>
  check(async () => {
    const conf = join(dir, "ssh_config_web");
    writeFileSync(conf, [`Host www-inner`, `  HostName ${TARGET}`, `  Port ${targetPort()}`, ""].join("\n"));
    const write = (web: string) => {
      const file = join(dir, `web${web ? "-set" : ""}.yaml`);
      writeFileSync(file, [
        "version: 1",
        `defaults: { user: root, identityFile: ${fleet.identityFile}, knownHosts: ${fleet.knownHosts}, sshConfig: ${conf} }`,
        "hosts:",
        `  inner: { address: www-inner, roles: [replica]${web} }`,
        "nginx:",
        `  path: ${join(dir, "web-nginx.conf")}`,
        "  upstreams: { backend: { roles: [replica] } }",
        "  servers: [ { names: [example.test], locations: { \"/\": backend } } ]",
        "",
      ].join("\n"));
      return file;
    };
    const alias = await runTsync(["nginx", "-f", write("")]);
    assert.equal(alias.code, 1, alias.stdout + alias.stderr);
    assert.match(alias.stderr, /hosts\.inner\.address: www-inner is not an IP address and does not resolve here \(\w+\), so nginx cannot send traffic to it \(an ssh config alias\?\): set hosts\.inner\.web/);
    const plan = await runTsync(["plan", "-f", write("")]);
    assert.equal(plan.code, 1, plan.stdout + plan.stderr);
    assert.match(plan.stdout + plan.stderr, /set hosts\.inner\.web/);
    const set = await runTsync(["nginx", "-f", write(`, web: ${TARGET}`)]);
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.ok(set.stdout.includes(`server ${TARGET};  # inner`), set.stdout);
  }));
