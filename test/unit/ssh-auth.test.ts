// Key files as OpenSSH judges them, and agent-first ordering (reconciler/transport/ssh/auth.ts), with
// real keys from ssh-keygen and a real ssh-agent (issue 14; issue 18 item 12).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TransportError } from "../../reconciler/model/errors.js";
import { authMethods, readKeyFile } from "../../reconciler/transport/ssh/auth.js";
import type { Endpoint } from "../../reconciler/transport/ssh/config.js";

const dir = mkdtempSync(join(tmpdir(), "tsync-auth-"));
const keygen = (name: string, passphrase = "") => {
  const p = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", p]);
  return p;
};
const plain = keygen("plain");
const locked = keygen("locked", "s3cret passphrase");
const other = keygen("other");
const agentSock = join(dir, "agent.sock");
const agent = spawn("ssh-agent", ["-D", "-a", agentSock], { stdio: "ignore" });
const savedSock = process.env.SSH_AUTH_SOCK;
test.before(async () => {
  for (let i = 0; i < 200 && !existsSync(agentSock); i++) await sleep(10);
});
test.after(() => {
  agent.kill();
  if (savedSock === undefined) delete process.env.SSH_AUTH_SOCK;
  else process.env.SSH_AUTH_SOCK = savedSock;
  rmSync(dir, { recursive: true, force: true });
});

function sshAdd(...args: string[]): void {
  // ssh-add asks for a passphrase through SSH_ASKPASS only; a tiny script answers it.
  const askpass = join(dir, "askpass.sh");
  writeFileSync(askpass, "#!/bin/sh\necho 's3cret passphrase'\n", { mode: 0o700 });
  execFileSync("ssh-add", ["-q", ...args], { env: { ...process.env, SSH_AUTH_SOCK: agentSock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" }, stdio: "ignore" });
}

const ep = (over: Partial<Endpoint>): Endpoint => ({
  name: "web", alias: "10.0.0.5", hostname: "10.0.0.5", port: 22, user: "deploy", identityFiles: [], identityFromManifest: true,
  identitiesOnly: false, knownHosts: "/dev/null", hostKeyChecking: "strict", jumps: [], ...over,
});
async function problem(e: Endpoint): Promise<string> {
  const a = await authMethods(e);
  assert.ok(a instanceof TransportError, "expected a refusal");
  return a.message;
}

test("issue 18 item 12: a private key readable by group or others is refused like OpenSSH does, naming the file and mode", async () => {
  const loose = join(dir, "loose");
  copyFileSync(plain, loose);
  chmodSync(loose, 0o644);
  delete process.env.SSH_AUTH_SOCK;
  assert.equal(await problem(ep({ identityFiles: [loose] })), `web (10.0.0.5:22): identity file ${loose} has mode 0644: a private key must not be accessible by group or others (OpenSSH refuses it too); chmod 600 ${loose}`);
  chmodSync(loose, 0o640);
  assert.match(await problem(ep({ identityFiles: [loose] })), /has mode 0640/);
  chmodSync(loose, 0o600);
  assert.ok(!((await authMethods(ep({ identityFiles: [loose] }))) instanceof TransportError));
});

test("issue 18 item 12: a garbage file and a public key given as identityFile each say what is wrong with the file", async () => {
  delete process.env.SSH_AUTH_SOCK;
  const garbage = join(dir, "garbage");
  writeFileSync(garbage, "not a key at all\n", { mode: 0o600 });
  assert.match(await problem(ep({ identityFiles: [garbage] })), new RegExp(`identity file ${garbage} is not a private key in a format ssh can read`));
  chmodSync(`${plain}.pub`, 0o600);
  assert.match(await problem(ep({ identityFiles: [`${plain}.pub`] })), new RegExp(`identity file ${plain}\\.pub is a public key; identityFile names the private key \\(${plain}\\)$`));
  assert.match(await problem(ep({ identityFiles: [join(dir, "absent")] })), /cannot read identity file .*absent: ENOENT/);
});

test("a passphrase-protected identityFile the agent does not hold says so, and how to fix it", async () => {
  delete process.env.SSH_AUTH_SOCK;
  assert.equal(await problem(ep({ identityFiles: [locked] })), `web (10.0.0.5:22): identity file ${locked} is passphrase-protected and ssh-agent does not hold it: load it into ssh-agent (ssh-add ${locked}) or name a variable holding its passphrase in passphraseEnv`);
  delete process.env.TSYNC_TEST_PASS;
  assert.match(await problem(ep({ identityFiles: [locked], passphraseEnv: "TSYNC_TEST_PASS" })), /\$TSYNC_TEST_PASS is not set/);
  process.env.TSYNC_TEST_PASS = "wrong";
  assert.match(await problem(ep({ identityFiles: [locked], passphraseEnv: "TSYNC_TEST_PASS" })), /the passphrase given does not decrypt it/);
  process.env.TSYNC_TEST_PASS = "s3cret passphrase";
  const ok = await authMethods(ep({ identityFiles: [locked], passphraseEnv: "TSYNC_TEST_PASS" }));
  assert.ok(!(ok instanceof TransportError));
  assert.deepEqual(ok.methods.map((m) => (m as { type: string }).type), ["publickey"]);
  delete process.env.TSYNC_TEST_PASS;
});

test("the agent's identities come first; an encrypted identityFile the agent holds is used through it", async () => {
  sshAdd(other);
  sshAdd(locked);
  process.env.SSH_AUTH_SOCK = agentSock;
  const a = await authMethods(ep({ identityFiles: [locked] }));
  assert.ok(!(a instanceof TransportError));
  assert.equal(a.describe, "ssh-agent (2 keys)");
  assert.deepEqual(a.methods.map((m) => (m as { type: string }).type), ["agent"]);
  const order = await identities(a.methods[0]);
  assert.deepEqual(order, [readKeyFile(locked, "s3cret passphrase"), readKeyFile(other)].map((k) => (k.kind === "key" ? k.pub.toString("base64") : "")), "the named key first");
  // IdentitiesOnly: only the named key is offered from the agent.
  const only = await authMethods(ep({ identityFiles: [locked], identitiesOnly: true }));
  assert.ok(!(only instanceof TransportError));
  assert.equal(only.describe, "ssh-agent (1 key)");
  assert.equal((await identities(only.methods[0])).length, 1);
  // An unencrypted file next to the agent: agent first, then the file.
  const both = await authMethods(ep({ identityFiles: [plain] }));
  assert.ok(!(both instanceof TransportError));
  assert.equal(both.describe, `ssh-agent (2 keys), key ${plain}`);
  assert.deepEqual(both.methods.map((m) => (m as { type: string }).type), ["agent", "publickey"]);
});

async function identities(method: unknown): Promise<string[]> {
  const agentObj = (method as { agent: { getIdentities(cb: (e: Error | undefined, k?: { getPublicSSH(): Buffer }[]) => void): void } }).agent;
  return await new Promise((resolve, reject) => agentObj.getIdentities((e, k) => (e ? reject(e) : resolve((k ?? []).map((x) => x.getPublicSSH().toString("base64"))))));
}

test("readKeyFile: the public half of an encrypted OpenSSH key is read from its header", () => {
  const k = readKeyFile(locked);
  assert.equal(k.kind, "encrypted");
  const pub = readFileSync(`${locked}.pub`, "utf8").split(" ")[1];
  assert.equal(k.kind === "encrypted" ? k.pub?.toString("base64") : "", pub);
});
