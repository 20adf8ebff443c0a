// The SSH transport against real OpenSSH daemons on 127.0.0.2-5: verification, listing, hashing,
// and how failures look (refused, frozen, wrong key) — each within a bounded time.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, createReadStream, existsSync, ftruncateSync, linkSync, openSync, writeSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { after, afterEach, before, test } from "node:test";
import { HostKeyError, TransportError } from "../../reconciler/model/errors.js";
import type { Host } from "../../reconciler/model/manifest.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { Entry } from "../../reconciler/model/snapshot.js";
import { fingerprint } from "../../reconciler/transport/ssh/hostkeys.js";
import { SshConnection, SshPool } from "../../reconciler/transport/ssh/connection.js";
import { SshTransport } from "../../reconciler/transport/ssh/ssh-transport.js";
import { LocalTransport } from "../../reconciler/transport/local/local-transport.js";
import { scanLocal } from "../../reconciler/scan/local.js";
import { planSync } from "../../reconciler/core/planner.js";
import { startSshdFleet, type Fleet } from "../support/sshd.js";
import { makeHostileTree, PWNED_MARKERS } from "../support/trees.js";
import { rewrittenWhileSent } from "../support/sources.js";

let fleet: Fleet;
let failed = false;
const work = mkdtempSync(join(tmpdir(), "tsync-ssh-it-"));
const R = (s: string) => s as RelPath;
const noExclude = { exclude: () => false, owners: false, hash: "none" } as const;

before(async () => {
  fleet = await startSshdFleet({ addresses: ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] });
});
afterEach((t) => {
  if (!(t as { passed?: boolean }).passed) failed = true;
});
after(async () => {
  await fleet?.close({ keep: failed });
  if (!failed) rmSync(work, { recursive: true, force: true });
});

function host(i: number, over: Partial<Host> = {}): Host {
  const h = fleet.hosts[i]!;
  return { name: `node-${i + 1}`, address: h.address, port: h.port, user: fleet.user, identityFile: fleet.identityFile, knownHosts: fleet.knownHosts, hostKeyChecking: "strict", roles: [], ...over };
}

async function rejects(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TransportError, `not a TransportError: ${String(err)}`);
    return err;
  }
  assert.fail("expected a TransportError");
}

/** An independent listing: Node's own lstat walk over raw-byte names. */
function walk(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (abs: Buffer, rel: string) => {
    const st = lstatSync(abs);
    const meta = { mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
    if (st.isDirectory()) {
      out.set(rel, { kind: "dir", ...meta });
      for (const name of readdirSync(abs, { encoding: "buffer" }))
        visit(Buffer.concat([abs, Buffer.from("/"), name]), rel === "" ? name.toString("latin1") : `${rel}/${name.toString("latin1")}`);
    } else if (st.isSymbolicLink()) out.set(rel, { kind: "symlink", target: readlinkSync(abs, { encoding: "buffer" }).toString("latin1"), ...meta });
    else out.set(rel, { kind: "file", size: st.size, ...meta });
  };
  visit(Buffer.from(root), "");
  return out;
}

test("round trip to each host: key auth, verified host key, raw bytes both ways", async () => {
  const before = readFileSync(fleet.knownHosts);
  await Promise.all(
    fleet.hosts.map(async (h, i) => {
      const conn = await SshConnection.open(host(i));
      try {
        const payload = Buffer.from([0, 0xff, 0xc3, 0x0a, 0x41]);
        const r = await conn.exec("cat; echo; id -u; echo \"$SSH_CONNECTION\"", { stdin: payload });
        assert.equal(r.code, 0);
        assert.deepEqual(r.stdout.subarray(0, 5), payload);
        const [, uid, sshConn] = r.stdout.subarray(5).toString().split("\n");
        assert.equal(uid, "0");
        assert.match(sshConn!, new RegExp(` ${h.address.replace(/\./g, "\\.")} ${h.port}$`));
        assert.equal((await conn.exec("exit 7")).code, 7);
      } finally {
        await conn.close();
      }
    }),
  );
  assert.deepEqual(readFileSync(fleet.knownHosts), before, "strict mode never writes known_hosts");
});

test("remote scan of hostile names equals an independent listing; nothing is executed", async () => {
  const root = join(work, "hostile tree 'x'");
  makeHostileTree(root);
  const t = new SshTransport(host(1));
  try {
    const snap = await t.scan(root, noExclude);
    assert.deepEqual(new Map([...snap].sort()), new Map([...walk(root)].sort()));
    assert.equal(snap.get(R("link -> etc"))?.kind, "symlink");
    assert.ok([...snap.keys()].some((p) => Buffer.from(p, "latin1").length === 255));
    for (const m of PWNED_MARKERS) assert.equal(existsSync(m), false, `${m} exists: a name was run as shell`);

    const excl = await t.scan(root, { ...noExclude, owners: true, exclude: (p) => p.startsWith("dir with\n") });
    assert.equal([...excl.keys()].filter((p) => p.startsWith("dir with")).length, 0);
    assert.equal((excl.get(R("private")) as { uid?: number }).uid, 0);

    const only = await t.scan(root, { ...noExclude, only: [R("dir with\nnewline"), R("gone")] });
    assert.deepEqual([...only.keys()].sort(), [...walk(root).keys()].filter((p) => p === "" || p.startsWith("dir with\nnewline")).sort());

    // A partial scan returns ancestors as entries alone, exactly as the local scanner does.
    const deep = [...walk(root).keys()].find((p) => p.split("/").length >= 2)! as RelPath;
    const partial = await t.scan(root, { ...noExclude, only: [deep, R("gone/too")] });
    assert.deepEqual(new Map([...partial].sort()), new Map([...(await scanLocal(root, { ...noExclude, only: [deep, R("gone/too")] }))].sort()));
    assert.ok(partial.has(deep.slice(0, deep.indexOf("/")) as RelPath), "the parent of a listed path is there");

    assert.equal((await t.scan(join(work, "no such root"), noExclude)).size, 0);
    writeFileSync(join(work, "plain-file"), "");
    const e = await rejects(t.scan(join(work, "plain-file"), noExclude));
    assert.match(e.message, /^node-2 \(127\.0\.0\.3:\d+\): cannot list .*plain-file: cannot enter the root directory$/);
  } finally {
    await t.close();
  }
});

test("remote hash equals b2sum; symlinks and missing files are left out", async () => {
  const root = join(work, "hostile tree 'x'");
  const t = new SshTransport(host(2));
  try {
    const snap = await t.scan(root, { ...noExclude, hash: "all" });
    const files = [...snap].filter(([, e]) => e.kind === "file");
    assert.ok(files.length > 20);
    for (const [p, e] of files) {
      const want = execFileSync("b2sum", { input: readFileSync(Buffer.from(join(root, p), "latin1")) }).toString().split(" ")[0];
      assert.equal((e as { hash?: string }).hash, want, p);
    }
    const h = await t.hash(root, [R("link -> etc"), R("nope"), R("-rf")]);
    assert.deepEqual([...h.keys()], ["-rf"]);
  } finally {
    await t.close();
  }
});

test("readFile, contentSource and writeFile move raw bytes; writeFile is atomic beside its target", async () => {
  const root = join(work, "hostile tree 'x'");
  const t = new SshTransport(host(3));
  try {
    assert.deepEqual(await t.readFile(root, R("binary-with-nul")), Buffer.from([0, 1, 2, 0xff, 0, 0x0a, 0x0d]));
    assert.equal(await t.readFile(root, R("nope")), undefined);
    assert.equal(await t.readFile(root, R("link -> etc")), undefined, "never read through a symlink");
    assert.equal(await t.readFile(join(work, "no root"), R("x")), undefined);
    const name = R(Buffer.from([0xff, 0xfe, 0x6c, 0x61, 0x74, 0x69, 0x6e]).toString("latin1"));
    const s = await t.contentSource(root).open(name);
    assert.deepEqual(await buffer(s.stream), readFileSync(Buffer.from(join(root, name), "latin1")));
    await assert.rejects(t.contentSource(root).open(R("nope")).then((f) => buffer(f.stream)), /nope is no longer a regular file/);

    const conf = join(work, "nginx", "site.conf");
    mkdirSync(join(work, "nginx"));
    writeFileSync(conf, "old\n", { mode: 0o640 });
    await t.writeFile(conf, Buffer.from("new\n"));
    assert.equal(readFileSync(conf, "utf8"), "new\n");
    assert.equal(statSync(conf).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(join(work, "nginx")), ["site.conf"]);
    const bad = await rejects(t.writeFile(join(work, "no dir", "x.conf"), Buffer.from("x")));
    assert.match(bad.message, /^node-4 \(127\.0\.0\.5:\d+\): cannot write .*x\.conf: /);

    assert.deepEqual(await t.run("echo out; echo err >&2; exit 3"), { code: 3, output: "out\nerr\n" });
  } finally {
    await t.close();
  }
});

test("a changed host key is refused with both fingerprints, also under accept-new, and nothing runs", async () => {
  const other = join(work, "other_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
  const otherLine = readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  const h = fleet.hosts[1]!;
  const kh = join(work, "known_hosts.changed");
  writeFileSync(kh, `[${h.address}]:${h.port} ${otherLine}\n`);
  const marker = join(work, "ran-anyway");
  const offered = fingerprint(Buffer.from(h.hostPubKey.split(" ")[1]!, "base64"));
  const expected = fingerprint(Buffer.from(otherLine.split(" ")[1]!, "base64"));
  for (const mode of ["strict", "accept-new"] as const) {
    const t = new SshTransport(host(1, { knownHosts: kh, hostKeyChecking: mode }));
    const e = await rejects(t.run(`touch ${marker}`));
    await t.close();
    assert.ok(e instanceof HostKeyError);
    assert.equal(e.host, "node-2");
    assert.equal(e.message, `node-2 (${h.address}:${h.port}): host key changed: expected ${expected}, offered ${offered} — if this is expected, remove the old key from ${kh}:1`);
    assert.equal(existsSync(marker), false);
    assert.equal(readFileSync(kh, "utf8"), `[${h.address}]:${h.port} ${otherLine}\n`);
  }
});

test("an unknown host key: refused under strict, appended under accept-new, then trusted", async () => {
  const kh = join(work, "fresh", ".ssh", "known_hosts");
  const e = await rejects(SshConnection.open(host(0, { knownHosts: kh })));
  assert.ok(e instanceof HostKeyError);
  assert.match(e.message, /^node-1 \(127\.0\.0\.2:\d+\): host key unknown \(offered SHA256:[A-Za-z0-9+/]{43}\) and hostKeyChecking is strict/);
  assert.equal(existsSync(kh), false);

  const c = await SshConnection.open(host(0, { knownHosts: kh, hostKeyChecking: "accept-new" }));
  await c.close();
  const h = fleet.hosts[0]!;
  assert.equal(readFileSync(kh, "utf8"), `[${h.address}]:${h.port} ${h.hostPubKey}\n`);
  assert.equal(statSync(kh).mode & 0o777, 0o600);
  const again = await SshConnection.open(host(0, { knownHosts: kh }));
  assert.equal((await again.exec("true")).code, 0);
  await again.close();
});

test("hashed known_hosts verifies every host", async () => {
  const kh = fleet.writeHashedKnownHosts();
  assert.ok(!readFileSync(kh, "utf8").includes("127.0.0."));
  for (const i of fleet.hosts.keys()) {
    const c = await SshConnection.open(host(i, { knownHosts: kh }));
    assert.equal((await c.exec("true")).code, 0);
    await c.close();
  }
});

test("a wrong user key: authentication failed, naming user and key", async () => {
  const key = join(work, "stranger");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const e = await rejects(SshConnection.open(host(0, { identityFile: key })));
  assert.equal(e.message, `node-1 (127.0.0.2:${fleet.hosts[0]!.port}): authentication failed for user root (key ${key})`);
  const missing = await rejects(SshConnection.open(host(0, { identityFile: join(work, "no-key") })));
  assert.match(missing.message, /cannot read identity file .*no-key: ENOENT$/);
});

test("a stopped sshd: connection refused within seconds; the pool reconnects after a restart", async () => {
  const pool = new SshPool();
  const h = host(2);
  const conn = await pool.get(h);
  await fleet.stop(2);
  const t0 = Date.now();
  const lost = await rejects(conn.exec("true"));
  assert.equal(lost.host, "node-3");
  const refused = await rejects(pool.get(h));
  assert.equal(refused.message, `node-3 (127.0.0.4:${fleet.hosts[2]!.port}): connection refused`);
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  await fleet.start(2);
  const back = await pool.get(h);
  assert.notEqual(back, conn);
  assert.equal((await back.exec("echo back")).stdout.toString(), "back\n");
  await pool.closeAll();
});

test("a frozen (SIGSTOPped) sshd fails within the keepalive bound instead of hanging", async () => {
  const conn = await SshConnection.open(host(3));
  fleet.pause(3);
  try {
    const t0 = Date.now();
    const [running, fresh] = await Promise.all([rejects(conn.exec("sleep 1; echo late")), rejects(SshConnection.open(host(3)))]);
    const took = Date.now() - t0;
    assert.match(running.message, /^node-4 \(127\.0\.0\.5:\d+\): timed out: no answer to keepalives for 8 s$/);
    assert.match(fresh.message, /^node-4 \(127\.0\.0\.5:\d+\): timed out \(no SSH handshake within 10 s\)$/);
    assert.ok(took < 15_000, `took ${took} ms`);
  } finally {
    fleet.resume(3);
    await conn.close();
  }
  const ok = await SshConnection.open(host(3));
  await ok.close();
});

test("a server that hangs up mid-handshake is reported as closed at once, not as a timeout", async () => {
  // An SSH banner, then the TCP connection ends: ssh2 closes without an error event.
  const server = createServer((s) => s.end("SSH-2.0-OpenSSH_9.2\r\n"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.9", r));
  try {
    const port = (server.address() as AddressInfo).port;
    const e = await rejects(SshConnection.open(host(0, { address: "127.0.0.9", port, hostKeyChecking: "accept-new" })));
    assert.equal(e.message, `node-1 (127.0.0.9:${port}): connection closed during the SSH handshake`);
    assert.equal(e.code, "ssh-closed");
  } finally {
    server.close();
  }
});

test("an aborted command is signalled on the host, not left running", async () => {
  const conn = await SshConnection.open(host(0));
  const pidFile = join(work, "sleeper.pid");
  try {
    const t0 = Date.now();
    const e = await rejects(conn.exec(`echo $$ > ${pidFile}; exec sleep 30`, { signal: AbortSignal.timeout(500) }));
    assert.equal(e.code, "aborted");
    assert.ok(Date.now() - t0 < 3000);
    const pid = Number(readFileSync(pidFile, "utf8"));
    const deadline = Date.now() + 3000;
    while (spawnSync("kill", ["-0", String(pid)]).status === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual(spawnSync("kill", ["-0", String(pid)]).status, 0, "remote sleep still running");
    assert.equal((await conn.exec("echo still usable")).stdout.toString(), "still usable\n");
  } finally {
    await conn.close();
  }
});

test("a noisy shell rc (stdout junk before every command) does not corrupt listings, hashes or reads", async () => {
  const noise = join(work, "noisy-rc.sh");
  writeFileSync(noise, `printf 'Welcome to %s\\n\\0\\0f\\0 644\\0junk\\0./fake\\0' "$(hostname)"; echo "last login: never"\n`);
  const noisy = await startSshdFleet({ addresses: ["127.0.0.6"], setEnv: { BASH_ENV: noise } });
  let ok = false;
  try {
    const h = noisy.hosts[0]!;
    const nh: Host = { name: "noisy", address: h.address, port: h.port, user: "root", identityFile: noisy.identityFile, knownHosts: noisy.knownHosts, hostKeyChecking: "strict", roles: [] };
    const conn = await SshConnection.open(nh);
    assert.match((await conn.exec("true")).stdout.toString("latin1"), /^Welcome to .*\x00\x00f\x00 644\x00junk\x00\.\/fake\x00last login: never\n$/s, "the rc really runs");
    await conn.close();
    const root = join(work, "hostile tree 'x'");
    const t = new SshTransport(nh);
    const quiet = new SshTransport(host(0));
    try {
      assert.deepEqual(await t.scan(root, { ...noExclude, hash: "all" }), await quiet.scan(root, { ...noExclude, hash: "all" }));
      assert.deepEqual(await t.readFile(root, R("binary-with-nul")), Buffer.from([0, 1, 2, 0xff, 0, 0x0a, 0x0d]));
      assert.equal(await t.readFile(root, R("nope")), undefined);
      assert.equal((await t.run("echo hi")).output, "hi\n");
      assert.equal((await t.scan(join(work, "no such root"), noExclude)).size, 0);
    } finally {
      await t.close();
      await quiet.close();
    }
    ok = true;
  } finally {
    await noisy.close({ keep: !ok });
  }
});

test("apply over SSH runs the remote helper through the same connection", async () => {
  const root = join(work, "apply-target");
  const src = join(work, "apply-source");
  mkdirSync(src);
  writeFileSync(join(src, "f"), "hello\n");
  const t = new SshTransport(host(1));
  try {
    const now = Date.now();
    const res = await t.apply(
      root,
      [
        { kind: "mkdir", path: R(""), after: { kind: "dir", mode: 0o755, mtimeMs: now } },
        { kind: "create", path: R("f"), after: { kind: "file", size: 6, mode: 0o640, mtimeMs: now } },
      ],
      { open: async (p) => ({ stream: createReadStream(join(src, p)) }) },
    );
    assert.deepEqual(res.problems, []);
    assert.equal(readFileSync(join(root, "f"), "utf8"), "hello\n");
    assert.equal(statSync(join(root, "f")).mode & 0o777, 0o640);
  } finally {
    await t.close();
  }
});

test("apply over SSH: a large source file rewritten in place while it is sent is never placed torn, is reported, and the next apply converges", async () => {
  const root = join(work, "torn-target");
  const src = join(work, "torn-source");
  mkdirSync(src);
  mkdirSync(root);
  const file = join(src, "big.bin");
  const SIZE = 4 << 20; // several read chunks, so the rewrite lands between them
  writeFileSync(file, Buffer.alloc(SIZE, 0x6f));
  utimesSync(file, 1_500_000_000, 1_500_000_000); // the rewrite's mtime (now) is then surely different
  const planned = () => {
    const st = lstatSync(file);
    return [{ kind: "create" as const, path: R("big.bin"), after: { kind: "file" as const, size: st.size, mode: 0o644, mtimeMs: st.mtimeMs } }];
  };
  const local = new LocalTransport();
  const t = new SshTransport(host(1));
  try {
    const cs = rewrittenWhileSent(local.contentSource(src), file, Buffer.alloc(SIZE, 0x6e));
    const r1 = await t.apply(root, planned(), cs);
    assert.equal(cs.rewrites, 1);
    assert.equal(r1.applied, 0);
    assert.deepEqual(r1.problems.map((x) => [x.path, x.code]), [["big.bin", "io"]]);
    assert.match(r1.problems[0]!.message, /source changed while it was read/);
    assert.equal(existsSync(join(root, "big.bin")), false, "the torn file was not put in place");
    assert.deepEqual(readdirSync(root), [], "no staging left");
    const r2 = await t.apply(root, planned(), local.contentSource(src));
    assert.deepEqual(r2, { applied: 1, bytes: SIZE, problems: [] });
    assert.ok(readFileSync(join(root, "big.bin")).equals(Buffer.alloc(SIZE, 0x6e)));
  } finally {
    await t.close();
  }
});

test("an SSH source file rewritten in place while it is read is not put in place on the target; read again, it converges", async () => {
  const root = join(work, "torn-from-ssh-target");
  const src = join(work, "torn-from-ssh-source");
  mkdirSync(src);
  mkdirSync(root);
  const file = join(src, "big.bin");
  const SIZE = 32 << 20; // far more than the pipe and channel buffers: cat is still reading at the rewrite
  writeFileSync(file, Buffer.alloc(SIZE, 0x6f));
  utimesSync(file, 1_500_000_000, 1_500_000_000);
  const planned = () => [{ kind: "create" as const, path: R("big.bin"), after: { kind: "file" as const, size: SIZE, mode: 0o644, mtimeMs: lstatSync(file).mtimeMs } }];
  const source = new SshTransport(host(1));
  const local = new LocalTransport();
  try {
    const cs = rewrittenWhileSent(source.contentSource(src), file, Buffer.alloc(SIZE, 0x6e));
    const r1 = await local.apply(root, planned(), cs);
    assert.equal(cs.rewrites, 1);
    assert.deepEqual(r1.problems.map((x) => [x.path, x.code, x.message]), [["big.bin", "io", "source changed while it was read"]]);
    assert.equal(existsSync(join(root, "big.bin")), false, "the torn file was not put in place");
    const r2 = await local.apply(root, planned(), source.contentSource(src));
    assert.deepEqual(r2, { applied: 1, bytes: SIZE, problems: [] });
    assert.ok(readFileSync(join(root, "big.bin")).equals(Buffer.alloc(SIZE, 0x6e)));
  } finally {
    await source.close();
  }
});

test("apply over SSH: a sparse file stays sparse (holes neither sent nor allocated), content byte-exact", async () => {
  const root = join(work, "sparse-target");
  const src = join(work, "sparse-source");
  mkdirSync(src);
  mkdirSync(root);
  const file = join(src, "disk.img");
  const SIZE = 64 << 20;
  const fd = openSync(file, "w");
  writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 32 << 20);
  ftruncateSync(fd, SIZE);
  closeSync(fd);
  assert.ok(statSync(file).blocks * 512 <= 8192, "the source really is sparse");
  const st0 = lstatSync(file);
  const t = new SshTransport(host(1));
  try {
    const r = await t.apply(root, [{ kind: "create", path: R("disk.img"), after: { kind: "file", size: SIZE, mode: 0o644, mtimeMs: st0.mtimeMs } }], new LocalTransport().contentSource(src));
    assert.deepEqual(r, { applied: 1, bytes: 4096, problems: [] }, "only the data block is sent");
    const st = statSync(join(root, "disk.img"));
    assert.equal(st.size, SIZE);
    assert.ok(st.blocks * 512 <= 64 * 1024, `target allocates ${st.blocks * 512} bytes`);
    assert.ok(readFileSync(join(root, "disk.img")).equals(readFileSync(file)), "byte-exact");
  } finally {
    await t.close();
  }
});

test("preserve hardlinks over SSH: the target scan sees shared inodes; names of one source inode become one target inode; a re-plan is empty", async () => {
  const src = join(work, "links-source");
  const root = join(work, "links-target");
  mkdirSync(join(src, "d"), { recursive: true });
  mkdirSync(root);
  const body = Buffer.alloc(5 << 20, 0x6c);
  writeFileSync(join(src, "a"), body);
  for (const n of ["b", "c", "d/e", "d/\xff f"]) linkSync(join(src, "a"), Buffer.from(join(src, n), "latin1"));
  const rules = { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false, hardlinks: true } };
  const opts = { ...noExclude, links: true };
  const local = new LocalTransport();
  const t = new SshTransport(host(1));
  try {
    const plan = planSync(await local.scan(src, opts), await t.scan(root, opts), rules);
    const r = await t.apply(root, plan, local.contentSource(src));
    assert.deepEqual(r.problems, []);
    assert.equal(r.bytes, body.length, "the content is sent once");
    const names = ["a", "b", "c", "d/e", "d/\xff f"].map((n) => Buffer.from(join(root, n), "latin1"));
    assert.equal(new Set(names.map((n) => lstatSync(n).ino)).size, 1, "one inode");
    const seen = await t.scan(root, opts);
    assert.equal((seen.get(R("d/\xff f")) as { link?: string }).link, (seen.get(R("a")) as { link?: string }).link, "the SSH scan reports the shared inode");
    assert.deepEqual(planSync(await local.scan(src, opts), seen, rules), []);
  } finally {
    await t.close();
  }
});

test("measure: per-exec latency and a 20k-file listing", async (t) => {
  const conn = await SshConnection.open(host(0));
  const n = 100;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) await conn.exec("true");
  const perExec = (performance.now() - t0) / n;
  await conn.close();
  const big = join(work, "big");
  spawnSync("sh", ["-c", `mkdir -p "$1" && cd "$1" && for d in $(seq 1 200); do mkdir d$d; (cd d$d && touch $(seq -f f%g.php 1 100)); done`, "sh", big]);
  const tr = new SshTransport(host(0));
  t0 = performance.now();
  const snap = await tr.scan(big, noExclude);
  const listMs = performance.now() - t0;
  t0 = performance.now();
  const hashed = await tr.scan(big, { ...noExclude, hash: "all" });
  const hashMs = performance.now() - t0;
  await tr.close();
  assert.equal(snap.size, 1 + 200 + 20_000);
  assert.equal([...hashed.values()].filter((e) => e.kind === "file" && e.hash).length, 20_000);
  t.diagnostic(`per-exec latency ${perExec.toFixed(1)} ms; listing 20,201 entries ${listMs.toFixed(0)} ms; listing+hashing ${hashMs.toFixed(0)} ms`);
  assert.ok(perExec < 100, `per exec ${perExec} ms`);
  assert.ok(listMs < 10_000, `listing ${listMs} ms`);
});
