// docs/ci.md's GitHub Actions workflow, run as written: its YAML block is parsed out of the doc and
// each `run:` step is executed by bash the way a runner does (bash -eo pipefail, $GITHUB_PATH and
// $GITHUB_STEP_SUMMARY files), against a real sshd, with the manifest's relative
// `knownHosts: deploy/known_hosts` and `identityFile: ~/.ssh/tsync_drift` as the doc describes.
// `npm ci` is the one step not run: installing the package is install-tarball.test.ts's job; here
// node_modules/.bin/tsync is this checkout's build.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { Fleet } from "../support/sshd.js";
import { sshdSuite } from "../support/suite.js";
import { CLI } from "../support/cli.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const DOC = readFileSync(join(ROOT, "docs/ci.md"), "utf8");

interface Step {
  name?: string;
  run?: string;
  env?: Record<string, string>;
}

/** The workflow: the first ```yaml block of the doc. */
function workflowSteps(): Step[] {
  const block = /```yaml\n([\s\S]*?)```/.exec(DOC);
  assert.ok(block, "docs/ci.md has a ```yaml workflow block");
  const wf = parse(block[1]!) as { jobs: Record<string, { steps: Step[] }> };
  return Object.values(wf.jobs)[0]!.steps;
}

const steps = workflowSteps();
const step = (name: string) => {
  const s = steps.find((x) => x.name === name);
  assert.ok(s?.run, `docs/ci.md has a run step named ${JSON.stringify(name)}`);
  return s;
};

let fleet: Fleet;
let dir: string;
const { check } = sshdSuite(["127.0.0.2"], "tsync-docs-ci-", (f, d) => ((fleet = f), (dir = d)));

let workspace: string;
let home: string;
let src: string;
let target: string;

/** One step as a runner runs it: GitHub's default shell for `run`, the step's env (secrets filled in). */
function runStep(s: Step, secrets: Record<string, string> = {}) {
  const ghPath = join(dir, "github_path");
  const summary = join(dir, "step_summary");
  writeFileSync(summary, "");
  const extra = existsSync(ghPath) ? readFileSync(ghPath, "utf8").split("\n").filter(Boolean) : [];
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, NO_COLOR: "1", GITHUB_PATH: ghPath, GITHUB_STEP_SUMMARY: summary, PATH: [...extra, process.env.PATH].join(":") };
  for (const [k, v] of Object.entries(s.env ?? {})) {
    const secret = /^\$\{\{ secrets\.(\w+) \}\}$/.exec(v);
    env[k] = secret ? secrets[secret[1]!] : v;
  }
  const r = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", s.run!], { cwd: workspace, env, encoding: "utf8" });
  return { code: r.status, out: r.stdout + r.stderr, summary: readFileSync(summary, "utf8") };
}

// Root-level hooks run at once on Node 20; inside a describe they wait for sshdSuite's fleet.
describe("docs/ci.md", () => {
  before(() => {
    workspace = join(dir, "repo");
    home = join(dir, "home");
    src = join(dir, "site");
    target = join(dir, "node-1");
    mkdirSync(join(workspace, "deploy"), { recursive: true });
    mkdirSync(join(workspace, "node_modules/.bin"), { recursive: true });
    mkdirSync(home);
    mkdirSync(src);
    mkdirSync(target);
    writeFileSync(join(src, "index.php"), "<?php echo 1;\n");
    copyFileSync(fleet.knownHosts, join(workspace, "deploy/known_hosts"));
    const bin = join(workspace, "node_modules/.bin/tsync");
    writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
    chmodSync(bin, 0o755);
    const h = fleet.hosts[0]!;
    writeFileSync(
      join(workspace, "tsync.yaml"),
      `version: 1
defaults: { user: ${fleet.user}, identityFile: ~/.ssh/tsync_drift, knownHosts: deploy/known_hosts, hostKeyChecking: strict }
hosts:
  node-1: { address: ${h.address}, port: ${h.port} }
syncs:
  site: { source: ${src}, targets: ["node-1:${target}"] }
`,
    );
  });

  test("the doc's workflow: PATH step, guard, key install, then plan exits 2 on drift and 0 in sync", () =>
    check(async () => {
      assert.equal(runStep(step("Put the installed tsync on PATH")).code, 0);
      assert.equal(runStep(step("Refuse a manifest that would trust unknown host keys")).code, 0, "strict passes the guard");
      const key = readFileSync(fleet.identityFile, "utf8").trimEnd();
      const install = runStep(step("Install SSH key and known_hosts"), { TSYNC_SSH_KEY: key });
      assert.equal(install.code, 0, install.out);
      assert.equal(statSync(join(home, ".ssh/tsync_drift")).mode & 0o777, 0o600);

      const drift = runStep(step("tsync plan (drift check)"));
      assert.equal(drift.code, 2, drift.out);
      assert.match(drift.out, /::error title=Drift detected::/);
      assert.match(drift.summary, /index\.php/, "the Markdown report went to the job summary");
      assert.ok(existsSync(join(workspace, "plan.json")), "--out saved the plan for the upload step");

      const apply = spawnSync(join(workspace, "node_modules/.bin/tsync"), ["apply", "--yes"], { cwd: workspace, env: { ...process.env, HOME: home }, encoding: "utf8" });
      assert.equal(apply.status, 0, apply.stderr);
      const clean = runStep(step("tsync plan (drift check)"));
      assert.equal(clean.code, 0, clean.out);
      assert.match(clean.out, /No drift/);

      assert.equal(runStep(step("Remove the key")).code, 0);
      assert.ok(!existsSync(join(home, ".ssh/tsync_drift")));
    }));

  test("the doc's guard refuses accept-new however YAML spells it", () =>
    check(async () => {
      const guard = step("Refuse a manifest that would trust unknown host keys");
      const manifest = join(workspace, "tsync.yaml");
      const original = readFileSync(manifest, "utf8");
      try {
        for (const spelling of ["accept-new", '"accept-new"', "'accept-new'", "  accept-new"]) {
          writeFileSync(manifest, original.replace("hostKeyChecking: strict", `hostKeyChecking: ${spelling}`));
          const r = runStep(guard);
          assert.equal(r.code, 1, `${spelling}: ${r.out}`);
          assert.match(r.out, /::error title=Insecure manifest::/);
        }
        writeFileSync(manifest, original.replace("hostKeyChecking: strict", '"hostKeyChecking" : accept-new'));
        assert.equal(runStep(guard).code, 1, "a quoted key and a space before the colon");
      } finally {
        writeFileSync(manifest, original);
      }
    }));

  test("no recipe in docs/ or deploy/ runs npx tsync (npm's tsync is another package)", () => {
    for (const f of ["docs/ci.md", "deploy/tsync-watch.service"]) assert.doesNotMatch(readFileSync(join(ROOT, f), "utf8"), /npx (--no-install )?tsync/, f);
  });
});
