// Issue 18, "never silent" (SPEC §4), through the CLI on local targets: what tsync cannot fix must fail
// plan, apply and the reports instead of printing "in sync" / "Apply complete." with exit 0.
// No sshd needed; SSH roots that are files are covered by ssh.test.ts ("cannot enter the root directory").
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, test } from "node:test";
import { CLI, runTsync } from "../support/cli.js";

const base = mkdtempSync(join(tmpdir(), "tsync-not-silent-"));
after(() => rmSync(base, { recursive: true, force: true }));
let seq = 0;
const NOBODY = 65534;

/** A source with one file, a local target, an optional nginx section; returns the manifest path. */
function world(opts: { source?: "dir" | "file"; target?: "missing" | "file"; nginxPath?: string } = {}): { manifest: string; src: string; dst: string } {
  const dir = join(base, `w${++seq}`);
  mkdirSync(dir);
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  if (opts.source === "file") writeFileSync(src, "not a tree\n");
  else {
    mkdirSync(src);
    writeFileSync(join(src, "index.html"), "hello\n");
  }
  if (opts.target === "file") writeFileSync(dst, "not a tree either\n");
  const nginx = opts.nginxPath
    ? [
        "hosts:",
        "  web: { address: 127.0.0.9, roles: [web] }",
        "nginx:",
        `  path: ${opts.nginxPath}`,
        "  test: 'true'",
        "  reload: 'true'",
        "  upstreams: { backend: { roles: [web] } }",
        "  servers:",
        "    - names: [example.test]",
        '      locations: { "/": backend }',
      ]
    : [];
  const manifest = join(dir, "tsync.yaml");
  writeFileSync(manifest, ["version: 1", "syncs:", "  site:", `    source: ${src}`, `    targets: [${dst}]`, ...nginx, ""].join("\n"));
  return { manifest, src, dst };
}

test("regression (issue 18 item 4): a local target root that is a regular file is an error, never 'in sync'", async () => {
  const w = world({ target: "file" });
  const plan = await runTsync(["plan", "-f", w.manifest, "--detailed-exitcode"]);
  assert.equal(plan.code, 1, plan.stdout + plan.stderr);
  assert.match(plan.stdout, new RegExp(`site: ${w.dst} unreachable: local: cannot list ${w.dst}: cannot enter the root directory \\(it is a regular file\\)`));
  assert.doesNotMatch(plan.stdout, /^site: .* in sync/m);
  const apply = await runTsync(["apply", "-f", w.manifest, "--yes"]);
  assert.equal(apply.code, 1, apply.stdout + apply.stderr);
  assert.match(apply.stdout, /Apply finished with errors/);
});

test("regression (issue 18 item 4): a source root that is a regular file fails the whole sync", async () => {
  const w = world({ source: "file" });
  const plan = await runTsync(["plan", "-f", w.manifest, "--detailed-exitcode"]);
  assert.equal(plan.code, 1, plan.stdout + plan.stderr);
  assert.match(plan.stdout, new RegExp(`source ${w.src}: local: cannot list ${w.src}: cannot enter the root directory \\(it is a regular file\\)`));
});

test("a missing source is one error for its sync, not every target 'unreachable'; the other syncs still run", async () => {
  const w = world();
  const dir = join(w.src, "..");
  const [gone, t1, t2] = ["gone", "t1", "t2"].map((n) => join(dir, n));
  const manifest = join(dir, "two.yaml");
  writeFileSync(manifest, ["version: 1", "syncs:", "  lost:", `    source: ${gone}`, `    targets: [${t1}, ${t2}]`, "  site:", `    source: ${w.src}`, `    targets: [${w.dst}]`, ""].join("\n"));
  const plan = await runTsync(["plan", "-f", manifest, "--detailed-exitcode"]);
  assert.equal(plan.code, 1, plan.stdout + plan.stderr);
  assert.equal(plan.stdout.split(`source ${gone} does not exist`).length - 1, 1, "said once, not once per target:\n" + plan.stdout);
  assert.match(plan.stdout, new RegExp(`^lost: error: source ${gone} does not exist\n  not planned: ${t1}, ${t2}$`, "m"));
  assert.doesNotMatch(plan.stdout, /unreachable/, "the targets were never contacted");
  assert.match(plan.stdout, /^Plan: 2 to add, 0 to change, 0 to delete on 1 target; 2 targets not planned: source failed\.$/m);
  const json = JSON.parse((await runTsync(["plan", "-f", manifest, "--json"])).stdout) as { targets: { sync: string; state: string; cause?: string }[] };
  assert.deepEqual(json.targets.map((t) => [t.sync, t.state, t.cause]), [["lost", "unreachable", "source"], ["lost", "unreachable", "source"], ["site", "drifted", undefined]]);
  const apply = await runTsync(["apply", "-f", manifest, "--yes"]);
  assert.equal(apply.code, 1, apply.stdout + apply.stderr);
  assert.match(apply.stdout, new RegExp(`^lost: error: source ${gone} does not exist\n  not applied: ${t1}, ${t2}$`, "m"));
  assert.match(apply.stdout, new RegExp(`^site: ${w.dst} applied 2 change\\(s\\)`, "m"));
  assert.ok(!existsSync(t1) && !existsSync(t2), "nothing was written for the sync whose source is missing");
});

test("--sync and --target naming nothing in the manifest are errors listing what there is, never an empty run", async () => {
  const w = world();
  const sync = await runTsync(["plan", "-f", w.manifest, "--sync", "nosuch"]);
  assert.equal(sync.code, 1, sync.stdout + sync.stderr);
  assert.equal(sync.stderr, `--sync nosuch: no such sync in ${w.manifest} (have: site)\n`);
  const target = await runTsync(["apply", "--yes", "-f", w.manifest, "--target", "www-09"]);
  assert.equal(target.code, 1, target.stdout + target.stderr);
  assert.equal(target.stderr, `--target www-09: no such host in ${w.manifest} (have: local)\n`);
  assert.ok(!existsSync(w.dst), "nothing applied");
});

test("regression (issue 18 item 5): a FIFO where the source has a file fails plan, apply and the next plan", async () => {
  const w = world();
  mkdirSync(w.dst);
  writeFileSync(join(w.src, "feed"), "data\n");
  execFileSync("mkfifo", [join(w.dst, "feed")]);
  const plan = await runTsync(["plan", "-f", w.manifest, "--detailed-exitcode"]);
  assert.equal(plan.code, 1, "problems are errors (exit 1), not drift apply would heal (2)\n" + plan.stdout);
  assert.match(plan.stdout, /! cannot read target feed: is a FIFO/);
  assert.match(plan.stdout, /1 path apply cannot fix on 1 target\.$/m);

  const apply = await runTsync(["apply", "-f", w.manifest, "--yes"]);
  assert.equal(apply.code, 1, apply.stdout + apply.stderr);
  assert.match(apply.stdout, new RegExp(`site: ${w.dst} problems: ${w.dst}: 1 path apply cannot fix; first: target feed: is a FIFO`));
  assert.match(apply.stdout, /Apply finished with errors/);
  assert.doesNotMatch(apply.stdout, /Apply complete/);

  const again = await runTsync(["plan", "-f", w.manifest, "--detailed-exitcode"]);
  assert.equal(again.code, 1, "index.html was applied, the FIFO is still there: still not in sync\n" + again.stdout);
  assert.match(again.stdout, new RegExp(`site: ${w.dst} not in sync: 1 path\\(s\\) apply cannot fix`));

  const json = await runTsync(["plan", "-f", w.manifest, "--json"]);
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.stdout).summary.problems, 1);
  const junit = await runTsync(["plan", "-f", w.manifest, "--format", "junit"]);
  assert.match(junit.stdout, /<error type="problems" message="1 path apply cannot fix">/);
  const md = await runTsync(["plan", "-f", w.manifest, "--format", "markdown"]);
  assert.match(md.stdout, /\| ❌ problems \|/);
  const applyJson = await runTsync(["apply", "-f", w.manifest, "--yes", "--json"]);
  assert.equal(applyJson.code, 1);
  const result = JSON.parse(applyJson.stdout).result;
  assert.equal(result.ok, false);
  assert.equal(result.targets[0].status, "problems");
});

test("regression (issue 18 item 6): apply fails when it cannot read the nginx config, it does not call it unchanged", async () => {
  // As a login that may not read the file (root reads everything): nobody owns the trees, not the config.
  const w = world({ nginxPath: join(base, `w${seq + 1}`, "site.conf") });
  const nginxPath = join(base, `w${seq}`, "site.conf");
  writeFileSync(nginxPath, "# deployed by hand\n", { mode: 0o600 });
  chmodSync(base, 0o755);
  execFileSync("chown", ["-R", `${NOBODY}:${NOBODY}`, join(base, `w${seq}`)]);
  chownSync(nginxPath, 0, 0);
  const as = { uid: NOBODY, gid: NOBODY };
  const plan = await runTsync(["plan", "-f", w.manifest], as);
  assert.equal(plan.code, 1, plan.stdout + plan.stderr);
  assert.match(plan.stdout, new RegExp(`nginx ${nginxPath} error: cannot read ${nginxPath}: .*EACCES`));
  // With changes to apply (the target is missing) and without (second run): both must fail.
  for (const round of ["with changes", "without changes"]) {
    const apply = await runTsync(["apply", "-f", w.manifest, "--yes"], as);
    assert.equal(apply.code, 1, `${round}\n${apply.stdout}${apply.stderr}`);
    assert.match(apply.stdout, new RegExp(`nginx ${nginxPath} failed: nginx ${nginxPath}: cannot read ${nginxPath}: .*EACCES`), round);
    assert.doesNotMatch(apply.stdout, /unchanged|Apply complete/, round);
  }
});

test("issue 18 item 9: SIGINT during apply stops at a file boundary, exits 1 and says what was not applied", async () => {
  const w = world();
  const N = 32;
  const big = Buffer.alloc(4 << 20, 0x62);
  const names = Array.from({ length: N }, (_, i) => `f${String(i).padStart(2, "0")}.bin`);
  for (const n of names) writeFileSync(join(w.src, n), big);
  const child = spawn(process.execPath, [CLI, "apply", "-f", w.manifest, "--yes"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const present = () => (existsSync(w.dst) ? readdirSync(w.dst).filter((n) => names.includes(n)) : []);
  for (const deadline = Date.now() + 60_000; present().length === 0; await sleep(5)) if (Date.now() > deadline) assert.fail(`apply never started\n${out}`);
  child.kill("SIGINT");
  assert.equal(await exited, 1, out);
  const got = present();
  assert.ok(got.length < N, `all ${N} files were sent after SIGINT\n${out}`);
  for (const n of got) assert.equal(statSync(join(w.dst, n)).size, big.length, `${n} is partial`);
  assert.match(out, /apply: interrupted by SIGINT: \d+ change\(s\) not applied \(every file is the old or the new one, none partial\); run apply again to finish/);
  assert.match(out, /partial: .*apply aborted/);
  const again = await runTsync(["apply", "-f", w.manifest, "--yes"]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.deepEqual(present().sort(), names);
});
