// The control socket of `tsync watch` (watch/control.ts): owner-only, one JSON request and answer per
// connection, a stale socket replaced, a live one or a stranger at the path refused. Real unix sockets
// in a temp directory.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { askControl, parseRequest, serveControl } from "../../reconciler/watch/control.js";

const dir = mkdtempSync(join(tmpdir(), "tsync-control-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function send(path: string, text: string): Promise<string> {
  return new Promise((res, rej) => {
    const c = net.connect(path, () => c.write(text));
    let buf = "";
    c.on("data", (d) => (buf += d.toString()));
    c.on("end", () => res(buf));
    c.on("error", rej);
  });
}

test("the socket is mode 0600 and answers one JSON request per connection; malformed requests get an error, not a crash", async () => {
  const path = join(dir, "a.sock");
  const seen: unknown[] = [];
  const server = await serveControl(path, async (req) => (seen.push(req), { ok: true, echo: req }));
  try {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const r = await askControl(path, { op: "pause", what: "www-02" }, 5000);
    assert.deepEqual(r, { ok: true, answer: { ok: true, echo: { op: "pause", what: "www-02" } } });
    assert.deepEqual(JSON.parse(await send(path, "{nope\n")), { ok: false, error: "not JSON" });
    assert.deepEqual(JSON.parse(await send(path, '{"op":"rm -rf"}\n')), { ok: false, error: 'unknown request "rm -rf"' });
    assert.deepEqual(JSON.parse(await send(path, '{"op":"wait","timeoutMs":"soon"}\n')), { ok: false, error: 'unknown request "wait"' });
    assert.equal(seen.length, 1);
  } finally {
    await server.close();
  }
});

test("parseRequest keeps only the fields it knows", () => {
  assert.deepEqual(parseRequest('{"op":"wait","timeoutMs":5,"syncs":["site"],"extra":1}'), { op: "wait", timeoutMs: 5, syncs: ["site"] });
  assert.deepEqual(parseRequest('{"op":"resume"}'), { op: "resume" });
  assert.equal(parseRequest('{"op":"wait","timeoutMs":5,"targets":[1]}'), 'unknown request "wait"');
});

test("a socket left by a dead daemon is replaced; a live daemon's, or a file that is not a socket, is refused", async () => {
  const path = join(dir, "b.sock");
  const first = await serveControl(path, async () => ({ ok: true }));
  await assert.rejects(serveControl(path, async () => ({})), { message: `control socket ${path}: another \`tsync watch\` is running with this status file` });
  await first.close();
  // A crashed daemon leaves its socket file behind, with nobody listening: a process killed with SIGKILL.
  const dead = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((res) => dead.stdout.once("data", res));
  dead.kill("SIGKILL");
  await new Promise((res) => dead.once("exit", res));
  assert.ok(statSync(path).isSocket(), "the dead daemon's socket file is still there");
  const again = await serveControl(path, async () => ({ ok: "again" }));
  assert.deepEqual(await askControl(path, { op: "resume" }, 5000), { ok: true, answer: { ok: "again" } });
  await again.close();
  const file = join(dir, "c.sock");
  writeFileSync(file, "x");
  await assert.rejects(serveControl(file, async () => ({})), { message: `control socket ${file}: something else is there (not a socket); remove it` });
});

test("no daemon: one line naming the socket", async () => {
  const path = join(dir, "none.sock");
  assert.deepEqual(await askControl(path, { op: "resume" }, 5000), { ok: false, error: `no running \`tsync watch\` here (no control socket at ${path})` });
});
