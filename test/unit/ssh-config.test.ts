// OpenSSH client config as tsync reads it (reconciler/transport/ssh/config.ts): real files in a temp
// dir, resolved the way `ssh -G` would, with the manifest's own keys winning.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { TransportError } from "../../reconciler/model/errors.js";
import type { Host } from "../../reconciler/model/manifest.js";
import { resolveEndpoint, type Endpoint } from "../../reconciler/transport/ssh/config.js";

const dir = mkdtempSync(join(tmpdir(), "tsync-sshconfig-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const main = write(
  "config",
  [
    "# aliases as an estate writes them",
    "Host www-01",
    "  HostName 10.0.1.21",
    "  User deploy",
    "  Port 2201",
    `  IdentityFile ${dir}/keys/%r-%h`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${dir}/known_hosts.%n`,
    "  ProxyJump jump",
    "  ConnectTimeout 7",
    "  ServerAliveInterval 15",
    "  ServerAliveCountMax 2",
    `  Include ${dir}/conf.d/in-block.conf`,
    "Host jump",
    "  HostName gw.example.org",
    "  User ops",
    "  ProxyJump outer@198.51.100.7:2022",
    `Include ${dir}/conf.d/*.inc`,
    "Match user backup",
    "  Port 2299",
    "Host *",
    "  User fallback",
    "  Port 2200",
    "",
  ].join("\n"),
);
write("conf.d/in-block.conf", "ServerAliveCountMax 9\nHost never-matches\n  Port 1\n");
write("conf.d/b.inc", "Host www-02\n  HostName 10.0.1.22\n");
write("conf.d/a.inc", "Host www-02\n  User first-include-wins\n");

const host = (over: Partial<Host>): Host => ({ name: "node", address: "www-01", hostKeyChecking: "strict", roles: [], sshConfig: [main], ...over });
function resolved(h: Host): Endpoint {
  const e = resolveEndpoint(h);
  if (e instanceof TransportError) throw e;
  return e;
}

test("ssh config: an alias's HostName, User, Port, IdentityFile (%-tokens), IdentitiesOnly, known hosts and timeouts", () => {
  const e = resolved(host({}));
  assert.equal(e.hostname, "10.0.1.21");
  assert.equal(e.alias, "www-01");
  assert.equal(e.user, "deploy");
  assert.equal(e.port, 2201);
  assert.deepEqual(e.identityFiles, [`${dir}/keys/deploy-10.0.1.21`]);
  assert.equal(e.identityFromManifest, false);
  assert.equal(e.identitiesOnly, true);
  assert.equal(e.knownHosts, `${dir}/known_hosts.www-01`);
  assert.equal(e.connectTimeoutMs, 7000);
  assert.equal(e.serverAliveIntervalMs, 15000);
  assert.equal(e.serverAliveCountMax, 2, "first value wins, also over one from an Include inside the block");
});

test("ssh config: ProxyJump hops are looked up in the same config, their own ProxyJump first", () => {
  const e = resolved(host({}));
  assert.deepEqual(e.jumps.map((j) => `${j.user}@${j.hostname}:${j.port}`), ["outer@198.51.100.7:2022", "ops@gw.example.org:2200"]);
  assert.deepEqual(e.jumps.map((j) => j.jumps.length), [0, 0]);
});

test("ssh config: the manifest's keys win over it", () => {
  const e = resolved(host({ user: "admin", port: 22, identityFile: "/keys/admin", knownHosts: "/kh", proxyJump: [] }));
  assert.deepEqual([e.user, e.port, e.identityFiles, e.identityFromManifest, e.knownHosts, e.jumps], ["admin", 22, ["/keys/admin"], true, "/kh", []]);
  assert.equal(e.hostname, "10.0.1.21", "HostName still comes from the config");
});

test("ssh config: Include globs (sorted, first value wins), Host * and Match user", () => {
  const e = resolved(host({ address: "www-02" }));
  assert.deepEqual([e.hostname, e.user, e.port], ["10.0.1.22", "first-include-wins", 2200]);
  assert.equal(resolved(host({ address: "other", user: "backup" })).port, 2299);
});

test("ssh config: off, or a missing file, means OpenSSH's defaults", () => {
  for (const sshConfig of [[], [join(dir, "absent")]]) {
    const e = resolved(host({ sshConfig }));
    assert.deepEqual([e.hostname, e.port, e.identityFiles, e.knownHosts, e.jumps], ["www-01", 22, [], join(homedir(), ".ssh/known_hosts"), []]);
  }
});

test("ssh config: a bad value is one error naming it", () => {
  const bad = write("bad", "Host x\n  Port twenty\n");
  const e = resolveEndpoint(host({ address: "x", sshConfig: [bad] }));
  assert.ok(e instanceof TransportError);
  assert.equal(e.message, 'node: ssh config Port "twenty" is not a port number');
  const loop = write("loop", `Include ${dir}/loop\n`);
  const l = resolveEndpoint(host({ sshConfig: [loop] }));
  assert.ok(l instanceof TransportError);
  assert.match(l.message, /Include nested deeper than 16/);
});
