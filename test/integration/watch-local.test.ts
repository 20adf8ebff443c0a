// `tsync watch` as a process, with a local source, local targets and a local nginx file (test and
// reload are `true`): signals. No sshd needed; watch-ssh.test.ts covers the SSH side.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, test } from "node:test";
import { CLI } from "../support/cli.js";
import type { StatusDoc } from "../../reconciler/watch/status.js";

const base = mkdtempSync(join(tmpdir(), "tsync-watch-local-"));
after(() => rmSync(base, { recursive: true, force: true }));

interface Rig {
  readonly src: string;
  readonly dst: string;
  readonly file: string;
  readonly statusFile: string;
  readonly logFile: string;
  readonly nginxConf: string;
}

function rig(name: string): Rig {
  const d = join(base, name);
  const r = { src: join(d, "src"), dst: join(d, "dst"), file: join(d, "tsync.yaml"), statusFile: join(d, "status.json"), logFile: join(d, "tsync.log"), nginxConf: join(d, "site.conf") };
  mkdirSync(r.src, { recursive: true });
  return r;
}

function writeManifest(r: Rig, opts: { serverName?: string; drifted?: "keep" | "down" } = {}): void {
  const nginx = opts.serverName
    ? [
        "hosts:",
        "  web: { address: 127.0.0.9, roles: [web] }",
        "nginx:",
        `  path: ${r.nginxConf}`,
        "  test: 'true'",
        "  reload: 'true'",
        ...(opts.drifted ? [`  drifted: ${opts.drifted}`] : []),
        "  upstreams: { backend: { roles: [web] } }",
        "  servers:",
        `    - names: [${opts.serverName}]`,
        '      locations: { "/": backend }',
      ]
    : [];
  writeFileSync(
    r.file,
    ["version: 1", "settings:", `  statusFile: ${r.statusFile}`, `  logFile: ${r.logFile}`, "syncs:", "  site:", `    source: ${r.src}`, `    targets: [${r.dst}]`, "    delay: 100ms", ...nginx, ""].join("\n"),
  );
}

const log = (r: Rig) => (existsSync(r.logFile) ? readFileSync(r.logFile, "utf8") : "");
function status(r: Rig): StatusDoc | undefined {
  try {
    return JSON.parse(readFileSync(r.statusFile, "utf8")) as StatusDoc;
  } catch {
    return undefined;
  }
}

async function waitFor(what: string, fn: () => boolean, r: Rig, timeoutMs = 30_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n--- log ---\n${log(r)}`);
    await sleep(intervalMs);
  }
}

function startWatch(r: Rig): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, "watch", "-f", r.file], { stdio: "ignore", env: { ...process.env, NO_COLOR: "1" } });
  return { child, exited: new Promise((res) => child.once("exit", (code) => res(code))) };
}

test("regression (issue 17 defect 1): after SIGHUP nginx gets the new manifest's config (drifted: keep, then down)", async () => {
  const r = rig("hup");
  writeFileSync(join(r.src, "index.html"), "hi\n");
  writeManifest(r, { serverName: "a.example.test" });
  const w = startWatch(r);
  try {
    await waitFor("the first config", () => existsSync(r.nginxConf) && readFileSync(r.nginxConf, "utf8").includes("server_name a.example.test;"), r);
    writeManifest(r, { serverName: "b.example.test" });
    w.child.kill("SIGHUP");
    await waitFor("the reloaded manifest's config (drifted: keep)", () => readFileSync(r.nginxConf, "utf8").includes("server_name b.example.test;"), r);
    writeManifest(r, { serverName: "c.example.test", drifted: "down" });
    w.child.kill("SIGHUP");
    await waitFor("the config after a reload to drifted: down", () => readFileSync(r.nginxConf, "utf8").includes("server_name c.example.test;"), r);
  } finally {
    w.child.kill("SIGTERM");
  }
  assert.equal(await w.exited, 0, log(r));
});

test("regression (issue 18 item 9): SIGTERM during the initial apply stops at a file boundary, exit 0; the next start catches up", async () => {
  const r = rig("term");
  const N = 32;
  const big = Buffer.alloc(4 << 20, 0x61);
  const names = Array.from({ length: N }, (_, i) => `f${String(i).padStart(2, "0")}.bin`);
  for (const n of names) writeFileSync(join(r.src, n), big);
  writeManifest(r);
  const present = () => (existsSync(r.dst) ? readdirSync(r.dst).filter((n) => names.includes(n)) : []);

  const w = startWatch(r);
  await waitFor("the initial apply to be in flight", () => present().length > 0, r, 60_000, 5);
  w.child.kill("SIGTERM");
  assert.equal(await w.exited, 0, log(r));
  const got = present();
  assert.ok(got.length < N, `all ${N} files were sent after SIGTERM: the stop did not reach the apply\n${log(r)}`);
  for (const n of got) assert.equal(statSync(join(r.dst, n)).size, big.length, `${n} is partial`);
  assert.deepEqual(existsSync(join(r.dst, ".tsync-tmp")) ? readdirSync(join(r.dst, ".tsync-tmp")) : [], [], "no staging file is left behind");
  const st = status(r)!;
  assert.equal(st.state, "stopped");
  const t = st.syncs[0]!.targets[0]!;
  assert.notEqual(t.state, "in-sync", "a half-done apply is not recorded as a sync");
  assert.equal(t.lastSyncAt, undefined);
  assert.equal(t.failures, 0, "nor as a failure");
  assert.match(log(r), /stopped at a file boundary: \d+ of \d+ changes applied, the rest is left for the next start/);

  const again = startWatch(r);
  try {
    await waitFor("the next start to catch up", () => status(r)?.state === "running", r, 120_000);
    assert.deepEqual(present().sort(), names);
    for (const n of names) assert.equal(statSync(join(r.dst, n)).size, big.length);
    assert.equal(status(r)!.syncs[0]!.targets[0]!.state, "in-sync");
  } finally {
    again.child.kill("SIGTERM");
  }
  assert.equal(await again.exited, 0, log(r));
});
