// deploy/tsync-watch.service: hardened (systemd-analyze's exposure score ≤ 4.0, issue 19), and its
// Type=notify readiness: `tsync watch` sends READY=1 only once the initial apply is done. The notify
// socket is a fake, a unix datagram socket served by python3, as systemd's own is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { CLI } from "../support/cli.js";
import { killOnExit } from "../support/processes.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const UNIT = join(ROOT, "deploy/tsync-watch.service");

test("deploy/tsync-watch.service scores at most 4.0 in systemd-analyze security", () => {
  const out = execFileSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", UNIT], { encoding: "utf8" });
  const m = /Overall exposure level for tsync-watch\.service: (\d+\.\d+)/.exec(out);
  assert.ok(m, out);
  assert.ok(Number(m[1]) <= 4.0, `exposure ${m[1]}:\n${out}`);
  const unit = readFileSync(UNIT, "utf8");
  assert.match(unit, /^Type=notify$/m);
  assert.match(unit, /^NotifyAccess=all$/m, "readiness comes from systemd-notify, a child of the main process");
});

// Prints every datagram as one JSON line; recv() drops the barrier's fd, which is what releases it.
const RECEIVER = `
import socket, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

test("tsync watch signals READY=1 to $NOTIFY_SOCKET once the initial apply is done, and not before", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tsync-notify-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  mkdirSync(join(src, "a"), { recursive: true });
  for (let i = 0; i < 50; i++) writeFileSync(join(src, "a", `f${i}.txt`), `file ${i}\n`);
  const manifest = join(dir, "tsync.yaml");
  writeFileSync(manifest, `version: 1\nhosts: {}\nsettings: { statusFile: status.json }\nsyncs:\n  site: { source: ${src}, targets: [${dst}] }\n`);

  const sock = join(dir, "notify.sock");
  const receiver = spawn("python3", ["-c", RECEIVER, sock], { stdio: ["ignore", "pipe", "inherit"] });
  killOnExit(() => receiver.kill("SIGKILL"));
  t.after(() => receiver.kill("SIGKILL"));
  const lines = createInterface({ input: receiver.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, "bound");

  const watch = spawn(process.execPath, [CLI, "watch", "-f", manifest], { env: { ...process.env, NOTIFY_SOCKET: sock }, stdio: ["ignore", "ignore", "pipe"] });
  killOnExit(() => watch.kill("SIGKILL"));
  let stderr = "";
  watch.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  t.after(() => watch.kill("SIGKILL"));
  const exited = new Promise<number | null>((resolve) => watch.on("exit", (code) => resolve(code)));

  const first = await lines.next();
  assert.ok(!first.done, `the receiver got nothing; tsync said:\n${stderr}`);
  const message = JSON.parse(first.value as string) as string;
  // At the moment of READY=1 every file is already on the target: "started" means "in sync".
  for (let i = 0; i < 50; i++) assert.equal(readFileSync(join(dst, "a", `f${i}.txt`), "utf8"), `file ${i}\n`);
  const vars = Object.fromEntries(message.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  assert.equal(vars.READY, "1", message);
  assert.equal(vars.STATUS, "initial apply done: 1 of 1 targets in sync; live sync running");
  assert.doesNotMatch(stderr, /cannot signal readiness/);

  watch.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
});
