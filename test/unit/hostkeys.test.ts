import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  fingerprint,
  judgeHostKey,
  keyTypeOf,
  knownKeyTypes,
  parseKnownHosts,
  patternsMatch,
  verifyHostKey,
} from "../../reconciler/transport/ssh/hostkeys.js";

const dir = mkdtempSync(join(tmpdir(), "tsync-hostkeys-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Key {
  line: string; // "ssh-ed25519 AAAA..."
  blob: Buffer;
  sshKeygenFp: string;
}

function makeKey(name: string, type = "ed25519"): Key {
  const path = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", name, "-f", path]);
  const line = readFileSync(`${path}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
  const fp = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${path}.pub`], { encoding: "utf8" }).split(" ")[1]!;
  return { line, blob: Buffer.from(line.split(" ")[1]!, "base64"), sshKeygenFp: fp };
}

const kA = makeKey("a");
const kB = makeKey("b");
const kE = makeKey("e", "ecdsa");

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test("fingerprint and key type agree with ssh-keygen", () => {
  assert.equal(fingerprint(kA.blob), kA.sshKeygenFp);
  assert.equal(fingerprint(kE.blob), kE.sshKeygenFp);
  assert.equal(keyTypeOf(kA.blob), "ssh-ed25519");
  assert.equal(keyTypeOf(kE.blob), "ecdsa-sha2-nistp256");
});

const lines = parseKnownHosts(
  [
    "# comment",
    "",
    `web1,10.0.0.1 ${kA.line} comment here`,
    `[10.0.0.2]:2222 ${kA.line}`,
    `*.example.com,!bad.example.com ${kB.line}`,
    `@cert-authority *.ca.test ${kB.line}`,
    `@revoked * ${kE.line}`,
    `garbage-line-without-key`,
    `@bogus host ${kA.line}`,
  ].join("\n"),
);

const cases: [string, string, number, Buffer, ReturnType<typeof judgeHostKey>][] = [
  ["plain name, port 22", "web1", 22, kA.blob, { ok: true }],
  ["second name of a comma list", "10.0.0.1", 22, kA.blob, { ok: true }],
  ["a plain entry does not cover another port", "web1", 2222, kA.blob, { ok: false, reason: "unknown", offered: kA.sshKeygenFp }],
  ["[host]:port entry", "10.0.0.2", 2222, kA.blob, { ok: true }],
  ["[host]:port entry does not cover port 22", "10.0.0.2", 22, kA.blob, { ok: false, reason: "unknown", offered: kA.sshKeygenFp }],
  ["wildcard", "x.example.com", 22, kB.blob, { ok: true }],
  ["negation wins over a wildcard", "bad.example.com", 22, kB.blob, { ok: false, reason: "unknown", offered: kB.sshKeygenFp }],
  ["changed key", "web1", 22, kB.blob, { ok: false, reason: "changed", expected: kA.sshKeygenFp, offered: kB.sshKeygenFp, line: 3 }],
  ["cert-authority does not vouch for a plain key", "h.ca.test", 22, kB.blob, { ok: false, reason: "unknown", offered: kB.sshKeygenFp }],
  ["revoked key refused everywhere", "web1", 22, kE.blob, { ok: false, reason: "revoked", offered: kE.sshKeygenFp, line: 7 }],
];
for (const [name, host, port, blob, want] of cases) test(`judge: ${name}`, () => assert.deepEqual(judgeHostKey(lines, host, port, blob), want));

test("parse: markers recognized, junk and unknown markers skipped", () => {
  assert.deepEqual(
    lines.map((l) => [l.line, l.marker ?? "", l.keyType]),
    [
      [3, "", "ssh-ed25519"],
      [4, "", "ssh-ed25519"],
      [5, "", "ssh-ed25519"],
      [6, "cert-authority", "ssh-ed25519"],
      [7, "revoked", "ecdsa-sha2-nistp256"],
    ],
  );
  assert.deepEqual(knownKeyTypes(lines, "10.0.0.2", 2222), ["ssh-ed25519"]);
});

test("hashed entries written by ssh-keygen -H verify", () => {
  const p = file("hashed", `[127.0.0.9]:2200 ${kA.line}\nplainhost ${kB.line}\n`);
  execFileSync("ssh-keygen", ["-q", "-H", "-f", p], { stdio: "ignore" });
  const text = readFileSync(p, "utf8");
  assert.ok(text.startsWith("|1|") && !text.includes("127.0.0.9"), text);
  assert.deepEqual(verifyHostKey(p, "127.0.0.9", 2200, kA.blob, "strict"), { ok: true });
  assert.deepEqual(verifyHostKey(p, "plainhost", 22, kB.blob, "strict"), { ok: true });
  assert.equal(patternsMatch(text.split(" ")[0]!, "[127.0.0.9]:2201"), false);
  const changed = verifyHostKey(p, "127.0.0.9", 2200, kB.blob, "strict");
  assert.deepEqual(changed, { ok: false, reason: "changed", expected: kA.sshKeygenFp, offered: kB.sshKeygenFp, line: 1 });
});

test("strict: an unknown host is refused and the file is untouched", () => {
  const p = file("strict", `other ${kA.line}\n`);
  assert.deepEqual(verifyHostKey(p, "127.0.0.5", 2222, kA.blob, "strict"), { ok: false, reason: "unknown", offered: kA.sshKeygenFp });
  assert.equal(readFileSync(p, "utf8"), `other ${kA.line}\n`);
});

test("strict: a missing known_hosts means unknown, not a crash", () => {
  assert.deepEqual(verifyHostKey(join(dir, "nope", "kh"), "h", 22, kA.blob, "strict"), { ok: false, reason: "unknown", offered: kA.sshKeygenFp });
});

test("accept-new: creates dir 0700 and file 0600, appends in OpenSSH format, then verifies", () => {
  const p = join(dir, "new", ".ssh", "known_hosts");
  assert.deepEqual(verifyHostKey(p, "127.0.0.5", 2222, kA.blob, "accept-new"), { ok: true, added: true });
  assert.deepEqual(verifyHostKey(p, "web9", 22, kB.blob, "accept-new"), { ok: true, added: true });
  assert.equal(statSync(p).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, "new", ".ssh")).mode & 0o777, 0o700);
  assert.equal(readFileSync(p, "utf8"), `[127.0.0.5]:2222 ${kA.line}\nweb9 ${kB.line}\n`);
  // OpenSSH itself finds what we wrote.
  const found = execFileSync("ssh-keygen", ["-F", "[127.0.0.5]:2222", "-f", p], { encoding: "utf8" });
  assert.match(found, /ssh-ed25519/);
  assert.deepEqual(verifyHostKey(p, "127.0.0.5", 2222, kA.blob, "accept-new"), { ok: true });
});

test("accept-new: appends after a last line without newline", () => {
  const p = file("nonl", `other ${kA.line}`);
  verifyHostKey(p, "h2", 22, kB.blob, "accept-new");
  assert.equal(readFileSync(p, "utf8"), `other ${kA.line}\nh2 ${kB.line}\n`);
});

test("accept-new: a changed key is still refused and nothing is appended", () => {
  const p = file("changed", `[127.0.0.5]:2222 ${kA.line}\n`);
  const v = verifyHostKey(p, "127.0.0.5", 2222, kB.blob, "accept-new");
  assert.deepEqual(v, { ok: false, reason: "changed", expected: kA.sshKeygenFp, offered: kB.sshKeygenFp, line: 1 });
  assert.equal(readFileSync(p, "utf8"), `[127.0.0.5]:2222 ${kA.line}\n`);
});

test("accept-new: a host known only under another key type counts as changed", () => {
  const p = file("othertype", `web1 ${kE.line}\n`);
  const v = verifyHostKey(p, "web1", 22, kA.blob, "accept-new");
  assert.equal(v.ok, false);
  assert.equal(!v.ok && v.reason, "changed");
});
