// A real estate's reach (issue 14): a target only a bastion can reach, an ssh config with aliases and
// Include. tsync runs inside a network namespace where only the bastion is exposed, so the target is
// reachable through the bastion's tunnel alone; the bastion's own log (LogLevel DEBUG1) shows the hop.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
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

before(async () => {
  fleet = await startSshdFleet({ addresses: [BASTION, TARGET], extraConfig: (i) => (i === 0 ? ["LogLevel DEBUG1", "AllowTcpForwarding yes"] : ["AllowTcpForwarding no"]) });
  ns = await createNetns("tsync-estate");
  await ns.expose(BASTION, fleet.hosts[0]!.port);
  dir = mkdtempSync(join(tmpdir(), "tsync-estate-"));
  const src = join(dir, "src");
  mkdirSync(join(src, "wp-content"), { recursive: true });
  writeFileSync(join(src, "index.php"), "<?php // hello\n");
  writeFileSync(join(src, "wp-content", "style.css"), "body{}\n");
});
after(async () => {
  ns?.close();
  await fleet?.close({ keep: failed });
  if (dir && !failed) rmSync(dir, { recursive: true, force: true });
});
const check = <T>(fn: () => Promise<T>) => fn().catch((e: unknown) => ((failed = true), Promise.reject(e)));

function manifest(name: string, hosts: string[], defaults: string[] = []): string {
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
      `    targets: [ "inner:${join(dir, name, "dst")}" ]`,
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
