// Issue 7, CI drift checks, through the CLI against 4 real sshd: exit codes (with and without --json),
// saved plans applied exactly or refused where the source, a target or the manifest moved, tampered
// plan files, --sync/--target narrowing, and the JUnit/Markdown/JSON reports agreeing with each other.
// Targets are checked with find + sha256sum (test/support/trees.ts), never with tsync's own scanner.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { validateXML } from "xmllint-wasm";
import type { Fleet } from "../support/sshd.js";
import { sshdSuite } from "../support/suite.js";
import { runTsync, type CliResult } from "../support/cli.js";
import { assertTreesEqual, listTree } from "../support/trees.js";
import { checkPlanJson } from "../../reconciler/views/plan-json.js";

const ADDRS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const XSD = readFileSync(join(ROOT, "fixtures/reports/junit.xsd"), "utf8");

// An independent compile of the published schema, strict, so the test does not trust plan-json.ts's own.
const ajv = new Ajv2020({ allErrors: true, strict: true });
(addFormats as unknown as { default: (a: Ajv2020) => void }).default(ajv);
const planSchema = ajv.compile(JSON.parse(readFileSync(join(ROOT, "schemas/plan.schema.json"), "utf8")));

let fleet: Fleet;
let dir: string;
const { check } = sshdSuite(ADDRS, "tsync-cli-ci-", (f, d) => ((fleet = f), (dir = d)));

interface PlanDoc {
  manifest: { file: string; digest: string };
  targets: { sync: string; location: string; state: string; error?: string; changes: { action: string; path: string; before?: { mtimeMs?: number }; after?: { size?: number; mtimeMs?: number } }[]; fingerprint: string }[];
  summary: { add: number; change: number; delete: number; targets: number; drifted: number; unreachable: number; refused: number };
}

/** stdout must be exactly one JSON document, valid by plan-json.ts and by an independent Ajv. */
function planJson(r: CliResult): PlanDoc {
  let doc: unknown;
  assert.doesNotThrow(() => (doc = JSON.parse(r.stdout)), `stdout is not only JSON:\n${r.stdout}`);
  assert.equal(checkPlanJson(doc), undefined);
  assert.ok(planSchema(doc), JSON.stringify(planSchema.errors));
  return doc as PlanDoc;
}

/** A target's counts by the summary's rule: a touch that leaves the time as it is (implied) is not counted. */
function countVisible(changes: PlanDoc["targets"][number]["changes"]): { add: number; change: number; delete: number } {
  const n = { add: 0, change: 0, delete: 0 };
  for (const c of changes) {
    if (c.action === "touch" && Math.abs((c.before?.mtimeMs ?? 0) - (c.after?.mtimeMs ?? 0)) < 0.002) continue;
    n[c.action === "create" || c.action === "mkdir" ? "add" : c.action === "delete" || c.action === "rmdir" ? "delete" : "change"]++;
  }
  return n;
}

const byLocation = (doc: PlanDoc) => Object.fromEntries(doc.targets.map((t) => [t.location.split(":")[0], t.state]));

interface Scenario {
  readonly manifest: string;
  readonly src: string;
  /** node-1..node-4 paths of the "site" sync. */
  readonly targets: string[];
}

/**
 * A small source tree, a manifest with the sync "site" to node-1..4 (each at its own path: every sshd
 * serves this one filesystem), and every target already a copy of the source (cp -a, not tsync).
 * `assets` adds a second sync to node-1 and node-2 for the narrowing tests.
 */
function scenario(name: string, opts: { assets?: boolean; nginx?: boolean; rules?: string[]; local?: boolean } = {}): Scenario {
  const base = join(dir, name);
  const src = join(base, "src");
  mkdirSync(join(src, "a"), { recursive: true });
  writeFileSync(join(src, "index.php"), "<?php echo 'v1';\n");
  writeFileSync(join(src, "a", "b.txt"), "b\n");
  writeFileSync(join(src, "c.txt"), "c\n");
  const targets = ADDRS.map((_, i) => join(base, `node-${i + 1}`));
  // cp -a keeps nanosecond times (fs.cpSync rounds them to ms, which is drift at tsync's precision).
  for (const t of targets) execFileSync("cp", ["-a", "--", src, t]);
  const lines = ["version: 1", fleet.manifestHosts(), "syncs:", "  site:", `    source: ${src}`, ...(opts.rules ?? []).map((r) => `    ${r}`), "    targets:", ...targets.map((t, i) => (opts.local ? `      - ${t}` : `      - node-${i + 1}:${t}`))];
  if (opts.assets) {
    const asrc = join(base, "assets-src");
    mkdirSync(asrc, { recursive: true });
    writeFileSync(join(asrc, "logo.svg"), "<svg/>\n");
    lines.push("  assets:", `    source: ${asrc}`, "    targets:", ...[1, 2].map((i) => `      - node-${i}:${join(base, `assets-${i}`)}`));
  }
  if (opts.nginx) {
    mkdirSync(join(base, "nginx"));
    lines.push("nginx:", "  host: node-1", `  path: ${join(base, "nginx", "site.conf")}`, '  test: "true"', '  reload: "true"');
    lines.push("  upstreams:", "    backend: { roles: [master, replica] }", "  servers:", "    - names: [example.test]", "      listen: 80", '      locations: { "/": backend }');
  }
  const manifest = join(base, "tsync.yaml");
  writeFileSync(manifest, lines.join("\n") + "\n");
  return { manifest, src, targets };
}

const snapshot = (t: string) => listTree(t, { times: true, dirTimes: true, timePrecision: "ns" });
const snapshots = (ts: readonly string[]) => Promise.all(ts.map(snapshot));
const sameAsSource = (s: Scenario, i: number) => assertTreesEqual(s.src, s.targets[i]!, { times: true, timePrecision: "ms" });

/** One line, naming what it must, and no stack trace. */
function assertOneLineError(stderr: string, ...must: RegExp[]): void {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at |internal error|Error:/m);
  for (const re of must) assert.match(stderr, re);
}

describe("exit codes", () => {
  let s: Scenario;
  before(() => {
    s = scenario("exit");
  });

  test("in sync: 0, with and without --json", () =>
    check(async () => {
      const [human, json] = await Promise.all([[], ["--json"]].map((j) => runTsync(["plan", "--detailed-exitcode", ...j, "-f", s.manifest])));
      assert.equal(human!.code, 0, human!.stdout + human!.stderr);
      assert.match(human!.stdout, /No changes\. 4 targets in sync\.\n$/);
      assert.equal(json!.code, 0, json!.stderr);
      assert.deepEqual(planJson(json!).targets.map((t) => t.state), ["in-sync", "in-sync", "in-sync", "in-sync"]);
    }));

  test("drifted: 2 with --detailed-exitcode, 0 without; with and without --json", () =>
    check(async () => {
      appendFileSync(join(s.targets[1]!, "c.txt"), "edited on node-2\n");
      const runs = [[[], 0], [["--json"], 0], [["--detailed-exitcode"], 2], [["--detailed-exitcode", "--json"], 2]] as const;
      const results = await Promise.all(runs.map(([extra]) => runTsync(["plan", ...extra, "-f", s.manifest])));
      for (const [i, [extra, code]] of runs.entries()) {
        const r = results[i]!;
        assert.equal(r.code, code, `${extra.join(" ")}: ${r.stdout}${r.stderr}`);
        if (!(extra as readonly string[]).includes("--json")) {
          assert.match(r.stdout, /node-2:\S+ 1 change\n\s+~ update\s+c\.txt/);
          assert.match(r.stdout, /Plan: 0 to add, 1 to change, 0 to delete on 1 target\.\n$/);
          continue;
        }
        const doc = planJson(r);
        assert.deepEqual(byLocation(doc), { "node-1": "in-sync", "node-2": "drifted", "node-3": "in-sync", "node-4": "in-sync" });
        assert.deepEqual(doc.summary, { add: 0, change: 1, delete: 0, targets: 4, drifted: 1, unreachable: 0, refused: 0, problems: 0, nginxChanged: false });
      }
      const heal = await runTsync(["apply", "--yes", "-f", s.manifest]);
      assert.equal(heal.code, 0, heal.stdout + heal.stderr);
    }));

  test("unreachable: 1 even when the others are in sync, naming the target; the others are planned", () =>
    check(async () => {
      await fleet.stop(2);
      try {
        const runs = [["--detailed-exitcode"], ["--detailed-exitcode", "--json"], ["--json"]];
        const [human, ...jsons] = await Promise.all(runs.map((extra) => runTsync(["plan", ...extra, "-f", s.manifest])));
        assert.equal(human!.code, 1, human!.stdout + human!.stderr);
        assert.match(human!.stdout, /site: node-3:\S+ unreachable: .*node-3 \(127\.0\.0\.4:\d+\)/);
        assert.equal(human!.stdout.match(/ in sync$/gm)?.length, 3, human!.stdout);
        assert.match(human!.stdout, /No changes\. 3 targets in sync; 1 unreachable\.\n$/);
        for (const json of jsons) {
          assert.equal(json.code, 1, json.stderr);
          const doc = planJson(json);
          assert.deepEqual(byLocation(doc), { "node-1": "in-sync", "node-2": "in-sync", "node-3": "unreachable", "node-4": "in-sync" });
          assert.match(doc.targets[2]!.error ?? "", /node-3 \(127\.0\.0\.4:\d+\)/);
          assert.equal(doc.summary.unreachable, 1);
        }
      } finally {
        await fleet.start(2);
      }
    }));

  test("invalid manifest: 1; with --json stdout is empty and diagnostics are on stderr (plan, apply); validate --json prints them as its document", () =>
    check(async () => {
      const bad = join(dir, "exit", "bad.yaml");
      writeFileSync(bad, readFileSync(s.manifest, "utf8").replace("  site:\n", "  site:\n    delay: soon\n"));
      const missing = join(dir, "exit", "missing.yaml");
      const quiet = [["plan", "--detailed-exitcode"], ["plan", "--detailed-exitcode", "--json"], ["apply", "--yes", "--json"], ["validate"]];
      const runs = [...quiet.map((a) => [...a, "-f", bad]), ["plan", "--json", "-f", missing], ["validate", "--json", "-f", bad], ["validate", "--json", "-f", missing]];
      const results = await Promise.all(runs.map((a) => runTsync(a)));
      for (const [i, args] of runs.entries()) {
        const r = results[i]!;
        const where = args.at(-1) === bad ? /bad\.yaml:\d+:\d+: syncs\.site\.delay: / : /missing\.yaml: /;
        assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, where, args.join(" "));
        if (args[0] !== "validate" || !args.includes("--json")) {
          assert.equal(r.stdout, "", `${args.join(" ")} printed on stdout`);
          continue;
        }
        const diags = JSON.parse(r.stdout) as { severity: string; message: string }[];
        assert.ok(diags.length > 0 && diags.every((d) => typeof d.message === "string"));
        assert.ok(diags.some((d) => d.severity === "error"));
      }
    }));
});

/** Source changes every saved-plan test plans: one update, one new file in a new directory. */
function changeSource(s: Scenario): void {
  writeFileSync(join(s.src, "index.php"), "<?php echo 'v2, longer';\n");
  mkdirSync(join(s.src, "new"));
  writeFileSync(join(s.src, "new", "n.txt"), "new\n");
}

async function savePlan(s: Scenario, name: string, extra: string[] = []): Promise<string> {
  const file = join(dir, `${name}.plan.json`);
  const r = await runTsync(["plan", "--out", file, ...extra, "-f", s.manifest]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /Saved the plan to /);
  planJson({ ...r, stdout: readFileSync(file, "utf8") });
  return file;
}

describe("saved plans", () => {
  test("apply PLANFILE applies exactly the plan: a source change made after planning is not applied", () =>
    check(async () => {
      const s = scenario("exact");
      changeSource(s);
      const file = await savePlan(s, "exact");
      assert.equal(statSync(file).mode & 0o777, 0o600, "a plan file is not world-readable");
      writeFileSync(join(s.src, "later.txt"), "made after the plan\n");
      appendFileSync(join(s.src, "c.txt"), "also after the plan\n");
      const r = await runTsync(["apply", file, "--yes", "-f", s.manifest]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Apply complete\./);
      const c = readFileSync(join(s.targets[0]!, "c.txt"), "utf8");
      for (const t of s.targets) {
        assert.equal(readFileSync(join(t, "index.php"), "utf8"), "<?php echo 'v2, longer';\n");
        assert.equal(readFileSync(join(t, "new", "n.txt"), "utf8"), "new\n");
        assert.equal(existsSync(join(t, "later.txt")), false, `${t}: later.txt was not in the plan`);
        assert.equal(readFileSync(join(t, "c.txt"), "utf8"), c);
      }
      assert.equal(c, "c\n");
      // What is left is exactly what happened after the plan.
      const again = await runTsync(["plan", "--json", "-f", s.manifest]);
      const doc = planJson(again);
      for (const t of doc.targets) assert.deepEqual(t.changes.filter((x) => x.action !== "touch").map((x) => [x.action, x.path]), [["update", "c.txt"], ["create", "later.txt"]]);
    }));

  test("a file the plan sends changed on the source (same size and mtime): every target refused, untouched, exit 1 naming it", () =>
    check(async () => {
      const s = scenario("src-moved");
      changeSource(s);
      const file = await savePlan(s, "src-moved");
      // A plan captured from stdout is a plan document too, and pins the content it sends as well.
      const captured = join(dir, "src-moved.stdout.json");
      const json = await runTsync(["plan", "--json", "-f", s.manifest]);
      planJson(json);
      writeFileSync(captured, json.stdout);
      const p = join(s.src, "index.php");
      const st = statSync(p);
      writeFileSync(p, "<?php echo 'V2, LONGER';\n");
      utimesSync(p, st.atime, st.mtime);
      const before = await snapshots(s.targets);
      for (const plan of [file, captured]) {
        const r = await runTsync(["apply", plan, "--yes", "-f", s.manifest]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        for (let i = 0; i < 4; i++) assert.match(r.stdout, new RegExp(`node-${i + 1}:\\S+ stale: .*source index\\.php changed since the plan`));
        assert.deepEqual(await snapshots(s.targets), before);
      }
    }));

  test("a planned path changed on one target: only that target refused, the other three applied, exit 1", () =>
    check(async () => {
      const s = scenario("one-moved");
      changeSource(s);
      const file = await savePlan(s, "one-moved");
      appendFileSync(join(s.targets[1]!, "index.php"), "// hot fix on node-2\n");
      const before = await snapshot(s.targets[1]!);
      const r = await runTsync(["apply", file, "--yes", "-f", s.manifest]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /node-2:\S+ stale: .*index\.php changed on the target since the plan/);
      assert.equal(r.stdout.match(/ stale: /g)?.length, 1, r.stdout);
      assert.equal(await snapshot(s.targets[1]!), before);
      for (const i of [0, 2, 3]) await sameAsSource(s, i);
    }));

  test("a path the plan relies on being absent appeared on one target: that target refused", () =>
    check(async () => {
      const s = scenario("absent-moved");
      changeSource(s);
      const file = await savePlan(s, "absent-moved");
      mkdirSync(join(s.targets[3]!, "new"));
      writeFileSync(join(s.targets[3]!, "new", "n.txt"), "someone else's\n");
      const before = await snapshot(s.targets[3]!);
      const r = await runTsync(["apply", file, "--yes", "--json", "-f", s.manifest]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const doc = JSON.parse(r.stdout) as { plan: unknown; result: { ok: boolean; targets: { location: string; status: string; error?: string }[] } };
      assert.equal(checkPlanJson(doc.plan), undefined);
      assert.equal(doc.result.ok, false);
      assert.deepEqual(doc.result.targets.map((t) => t.status), ["applied", "applied", "applied", "stale"]);
      assert.match(doc.result.targets[3]!.error ?? "", /node-4:\S+: refused, new.* changed on the target since the plan \(was absent/);
      assert.equal(await snapshot(s.targets[3]!), before);
      for (const i of [0, 1, 2]) await sameAsSource(s, i);
    }));

  test("manifest edited after planning: the whole plan is refused, nothing changed anywhere", () =>
    check(async () => {
      const s = scenario("manifest-moved");
      changeSource(s);
      const file = await savePlan(s, "manifest-moved");
      appendFileSync(s.manifest, "    exclude: ['*.log']\n");
      const before = await snapshots(s.targets);
      const r = await runTsync(["apply", file, "--yes", "-f", s.manifest]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(r.stdout, "");
      assertOneLineError(r.stderr, /manifest-moved\.plan\.json: refused: .*tsync\.yaml changed since the plan was made/);
      assert.deepEqual(await snapshots(s.targets), before);
    }));

  test("tampered plan files: truncated, schema-invalid, or schema-valid but edited: one clear line, exit 1, nothing changed", () =>
    check(async () => {
      const s = scenario("tamper");
      changeSource(s);
      const file = await savePlan(s, "tamper");
      const text = readFileSync(file, "utf8");
      const doc = JSON.parse(text) as PlanDoc;
      const edit = (fn: (d: PlanDoc) => void): string => {
        const d = structuredClone(doc);
        fn(d);
        return JSON.stringify(d, null, 2);
      };
      const cases: [string, string, RegExp][] = [
        ["truncated", text.slice(0, Math.floor(text.length / 2)), /not a tsync plan: .*JSON/],
        ["empty", "", /not a tsync plan/],
        ["schema-invalid action", edit((d) => (d.targets[0]!.changes[0]!.action = "explode")), /not a valid tsync plan: \/targets\/0\/changes\/0\/action /],
        ["a path renamed", edit((d) => (d.targets[1]!.changes.find((c) => c.path === "new/n.txt")!.path = "new/evil.txt")), /the plan for node-2:\S+ was edited after it was made \(fingerprint mismatch\)/],
        ["a size changed", edit((d) => (d.targets[2]!.changes.find((c) => c.action === "update")!.after!.size = 1)), /the plan for node-3:\S+ was edited after it was made/],
        ["a change dropped", edit((d) => d.targets[3]!.changes.pop()), /the plan for node-4:\S+ was edited/],
      ];
      const before = await snapshots(s.targets);
      const files = cases.map(([name, content]) => {
        const bad = join(dir, `tamper-${name.replace(/\W+/g, "-")}.json`);
        writeFileSync(bad, content);
        if (name !== "truncated" && name !== "empty") assert.equal(checkPlanJson(JSON.parse(content)) === undefined, name !== "schema-invalid action", name);
        return bad;
      });
      // Refusals change nothing, so they can run at once; the truncated one also with --json.
      const runs = [...files.map((f) => ["apply", f, "--yes", "-f", s.manifest]), ["apply", files[0]!, "--yes", "--json", "-f", s.manifest]];
      const results = await Promise.all(runs.map((a) => runTsync(a)));
      for (const [i, r] of results.entries()) {
        const [name, , want] = cases[i] ?? cases[0]!;
        const bad = runs[i]![1]!;
        assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, "", `${name}: ${runs[i]!.join(" ")}: nothing on stdout when the plan file is refused`);
        assertOneLineError(r.stderr, new RegExp(bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), want);
      }
      assert.deepEqual(await snapshots(s.targets), before);
      // The untouched plan still applies.
      const ok = await runTsync(["apply", file, "--yes", "-f", s.manifest]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      for (let i = 0; i < 4; i++) await sameAsSource(s, i);
    }));
});

describe("saved plans: nginx and maxDelete", () => {
  test("the nginx config in a saved plan: edited → the whole plan refused; as made → deployed", () =>
    check(async () => {
      const s = scenario("nginx", { nginx: true });
      changeSource(s);
      const file = await savePlan(s, "nginx");
      const doc = JSON.parse(readFileSync(file, "utf8")) as PlanDoc & { nginx: { changed: boolean; after: string } };
      assert.equal(doc.nginx.changed, true);
      assert.match(doc.nginx.after, /upstream backend/);
      const conf = join(dir, "nginx", "nginx", "site.conf");
      const edited = join(dir, "nginx-edited.json");
      writeFileSync(edited, JSON.stringify({ ...doc, nginx: { ...doc.nginx, after: doc.nginx.after + "server { listen 8080; location / { proxy_pass http://evil.test; } }\n" } }));
      assert.equal(checkPlanJson(JSON.parse(readFileSync(edited, "utf8"))), undefined, "still schema-valid");
      const before = await snapshots(s.targets);
      const r = await runTsync(["apply", edited, "--yes", "-f", s.manifest]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assertOneLineError(r.stderr, /nginx-edited\.json: refused: its nginx config is not what .*tsync\.yaml renders/);
      assert.equal(existsSync(conf), false);
      assert.deepEqual(await snapshots(s.targets), before);
      const ok = await runTsync(["apply", file, "--yes", "-f", s.manifest]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.equal(readFileSync(conf, "utf8"), doc.nginx.after);
      for (let i = 0; i < 4; i++) await sameAsSource(s, i);
    }));

  test("a saved plan refused by maxDelete stays refused; --allow-mass-delete lifts it", () =>
    check(async () => {
      const s = scenario("mass", { rules: ["maxDelete: 1"] });
      rmSync(join(s.src, "c.txt"));
      rmSync(join(s.src, "a"), { recursive: true });
      const file = await savePlan(s, "mass");
      assert.equal((JSON.parse(readFileSync(file, "utf8")) as PlanDoc).summary.refused, 4);
      const before = await snapshots(s.targets);
      const r = await runTsync(["apply", file, "--yes", "-f", s.manifest]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(r.stdout.match(/^site: node-\d:\S+ refused: .*maxDelete 1/gm)?.length, 4, r.stdout);
      assert.deepEqual(await snapshots(s.targets), before);
      const lifted = await runTsync(["apply", file, "--yes", "--allow-mass-delete", "-f", s.manifest]);
      assert.equal(lifted.code, 0, lifted.stdout + lifted.stderr);
      for (let i = 0; i < 4; i++) await sameAsSource(s, i);
    }));
});

// Issue 18 item 1: a saved plan may only narrow what the current manifest and source justify.
type Doc = { targets: { sync: string; target: { host?: string; path: string }; location: string; refused?: string; changes: Record<string, unknown>[]; fingerprint: string }[]; signature?: string };

/** What a forger does after editing: recompute every unkeyed fingerprint (plan-json.ts's public recipe). */
function refingerprint(d: Doc): void {
  for (const t of d.targets) t.fingerprint = "sha256:" + createHash("sha256").update(JSON.stringify([t.sync, t.target.host ?? null, t.target.path, t.refused ?? null, t.changes])).digest("hex");
}

/** A file as a plan's `before` shows it, read with stat (so that the target re-check passes). */
function fileEntry(path: string): Record<string, unknown> {
  const st = statSync(path);
  return { type: "file", mode: "0" + (st.mode & 0o7777).toString(8).padStart(3, "0"), mtimeMs: st.mtimeMs, size: st.size };
}

/**
 * One target's saved plan alone (so that nothing legitimate is applied either), edited by `fn`,
 * re-fingerprinted. Each forgery starts from another target, so that none depends on another's outcome.
 */
function forge(file: string, out: string, target: number, fn: (t: Doc["targets"][number]) => void): string {
  const d = JSON.parse(readFileSync(file, "utf8")) as Doc;
  d.targets = d.targets.slice(target, target + 1);
  fn(d.targets[0]!);
  refingerprint(d);
  writeFileSync(out, JSON.stringify(d, null, 2));
  return out;
}

/** Changed source (index.php, new/n.txt) and a mode change (a/b.txt 0755), so the plan has a chmod too. */
function forgeScenario(name: string, local: boolean): { s: Scenario; victim: string } {
  const s = scenario(name, { local });
  changeSource(s);
  chmodSync(join(s.src, "a", "b.txt"), 0o755);
  const victim = join(dir, name, "victim");
  mkdirSync(victim);
  writeFileSync(join(victim, "keep.txt"), "not a target of any sync\n");
  return { s, victim };
}

for (const local of [false, true]) {
  describe(`saved plans only narrow (${local ? "local" : "SSH"} targets)`, () => {
    test("forged target path, forged host, a delete of a source file, chmod 04777, a ../ path: each refused, nothing written, exit 1; the plan as made applies", () =>
      check(async () => {
        const name = `forged-${local ? "local" : "ssh"}`;
        const { s, victim } = forgeScenario(name, local);
        const file = await savePlan(s, name);
        const at = (n: string) => join(dir, `${name}-${n}.json`);
        const cases: [string, RegExp][] = [
          [forge(file, at("path"), 0, (t) => {
            t.target.path = victim;
            t.location = t.target.host ? `${t.target.host}:${victim}` : victim;
            t.changes = [{ action: "delete", path: "keep.txt", before: fileEntry(join(victim, "keep.txt")) }];
          }), /refused, not a target of sync site in /],
          [forge(file, at("host"), 0, (t) => {
            t.target.host = "node-2";
            t.location = `node-2:${t.target.path}`;
          }), /node-2:\S+node-1 refused: .*not a target of sync site in /],
          [forge(file, at("delete"), 1, (t) => {
            t.changes.push({ action: "delete", path: "c.txt", before: fileEntry(join(s.targets[1]!, "c.txt")) });
          }), /stale: .*the plan's delete of c\.txt is not a change a fresh plan of this target makes/],
          [forge(file, at("chmod"), 2, (t) => {
            const c = t.changes.find((x) => x.action === "chmod")!;
            (c.after as { mode: string }).mode = "04777";
          }), /stale: .*the plan's chmod of a\/b\.txt does not give it what the source has/],
          // A mkdir relies only on the path being absent, which the target re-check confirms for any path.
          [forge(file, at("dotdot"), 3, (t) => {
            t.changes.unshift({ action: "mkdir", path: "../victim/made-by-a-plan", after: { type: "dir", mode: "0755", mtimeMs: Date.now() } });
          }), /stale: .*the plan's mkdir of \.\.\/victim\/made-by-a-plan is not a change a fresh plan/],
        ];
        const watched = [...s.targets, victim, s.src];
        const before = await snapshots(watched);
        // Refusals change nothing, and each forgery aims at its own target, so they can run at once.
        const results = await Promise.all(cases.map(([f]) => runTsync(["apply", f, "--yes", "-f", s.manifest])));
        // Every case is checked before failing, so that a regression shows which forgeries got through.
        const wrong = results.flatMap((r, i) =>
          r.code === 1 && cases[i]![1].test(r.stdout) && /nothing was changed on this target/.test(r.stdout) && !/^\s+at /m.test(r.stdout + r.stderr)
            ? []
            : [`${cases[i]![0]}: exit ${r.code}\n${r.stdout}${r.stderr}`],
        );
        assert.deepEqual(wrong, []);
        assert.deepEqual(await snapshots(watched), before);
        const ok = await runTsync(["apply", file, "--yes", "-f", s.manifest]);
        assert.equal(ok.code, 0, ok.stdout + ok.stderr);
        for (let i = 0; i < 4; i++) await sameAsSource(s, i);
        assert.equal(statSync(join(s.targets[0]!, "a", "b.txt")).mode & 0o7777, 0o755);
      }));
  });
}

describe("signed plans (TSYNC_PLAN_KEY, --plan-key-file)", () => {
  test("signed plan applies; tampered signed plan, unsigned plan with a key set, wrong key: one line, exit 1, nothing changed", () =>
    check(async () => {
      const { s } = forgeScenario("signed", true);
      const env = { TSYNC_PLAN_KEY: "correct horse battery staple" };
      const keyFile = join(dir, "signed", "plan.key");
      writeFileSync(keyFile, env.TSYNC_PLAN_KEY + "\n", { mode: 0o600 });
      const wrongKey = join(dir, "signed", "wrong.key");
      writeFileSync(wrongKey, "another key\n", { mode: 0o600 });
      const signed = join(dir, "signed.plan.json");
      const made = await runTsync(["plan", "--out", signed, "-f", s.manifest], { env });
      assert.equal(made.code, 0, made.stdout + made.stderr);
      const doc = JSON.parse(readFileSync(signed, "utf8")) as Doc;
      assert.match(doc.signature ?? "", /^hmac-sha256:[0-9a-f]{64}$/);
      assert.ok(planSchema(doc), JSON.stringify(planSchema.errors));
      const unsigned = await savePlan(s, "signed-unsigned");
      assert.equal((JSON.parse(readFileSync(unsigned, "utf8")) as Doc).signature, undefined, "no key, no signature");
      const tampered = join(dir, "signed-tampered.json");
      const t = structuredClone(doc);
      (t.targets[0]!.changes.find((x) => x.action === "chmod")!.after as { mode: string }).mode = "04777";
      refingerprint(t);
      writeFileSync(tampered, JSON.stringify(t, null, 2));
      const before = await snapshots([...s.targets, s.src]);
      const runs: [string[], NodeJS.ProcessEnv, RegExp][] = [
        [["apply", tampered, "--yes"], env, /signed-tampered\.json: refused: the plan's signature does not match the plan key/],
        [["apply", unsigned, "--yes"], env, /signed-unsigned\.plan\.json: refused: the plan is not signed and a plan key is set/],
        [["apply", unsigned, "--yes", "--plan-key-file", keyFile], {}, /refused: the plan is not signed and a plan key is set/],
        [["apply", signed, "--yes", "--plan-key-file", wrongKey], {}, /signed\.plan\.json: refused: the plan's signature does not match the plan key/],
        [["apply", signed, "--yes", "--plan-key-file", join(dir, "no-such.key")], {}, /no-such\.key: cannot read the plan key: ENOENT/],
      ];
      const results = await Promise.all(runs.map(([a, e]) => runTsync([...a, "-f", s.manifest], { env: e })));
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, 1, `${runs[i]![0].join(" ")}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, "");
        assertOneLineError(r.stderr, runs[i]![2]);
      }
      assert.deepEqual(await snapshots([...s.targets, s.src]), before);
      // Re-indenting does not break the signature (it covers the canonical form); the key file's newline is not part of the key.
      const reindented = join(dir, "signed-reindented.json");
      writeFileSync(reindented, JSON.stringify(doc));
      const ok = await runTsync(["apply", reindented, "--yes", "--plan-key-file", keyFile, "-f", s.manifest]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      for (let i = 0; i < 4; i++) await sameAsSource(s, i);
    }));
});

describe("--sync / --target narrowing", () => {
  test("plan, apply and saved plans touch only what is named", () =>
    check(async () => {
      const s = scenario("narrow", { assets: true });
      changeSource(s);
      const assets = [1, 2].map((i) => join(dir, "narrow", `assets-${i}`));
      const locs = (doc: PlanDoc) => doc.targets.map((t) => `${t.sync}@${t.location.split(":")[0]}`);

      const [all, bySync, byTarget, both] = await Promise.all([
        ["--json"],
        ["--json", "--sync", "assets"],
        ["--json", "--target", "node-2", "--target", "node-4"],
        ["--detailed-exitcode", "--sync", "site", "--target", "node-1"],
      ].map((a) => runTsync(["plan", ...a, "-f", s.manifest])));
      assert.deepEqual(locs(planJson(all!)), ["site@node-1", "site@node-2", "site@node-3", "site@node-4", "assets@node-1", "assets@node-2"]);
      assert.deepEqual(locs(planJson(bySync!)), ["assets@node-1", "assets@node-2"]);
      assert.deepEqual(locs(planJson(byTarget!)), ["site@node-2", "site@node-4", "assets@node-2"]);
      assert.equal(both!.code, 2);
      assert.equal(both!.stdout.match(/^site: /gm)?.length, 1, both!.stdout);

      // A live apply narrowed to node-3's site.
      const untouched = await snapshots([s.targets[0]!, s.targets[1]!, s.targets[3]!]);
      const live = await runTsync(["apply", "--yes", "--sync", "site", "--target", "node-3", "-f", s.manifest]);
      assert.equal(live.code, 0, live.stdout + live.stderr);
      await sameAsSource(s, 2);
      assert.deepEqual(await snapshots([s.targets[0]!, s.targets[1]!, s.targets[3]!]), untouched);
      assert.equal(existsSync(assets[0]!), false);

      // One saved plan of everything, applied a piece at a time.
      const file = await savePlan(s, "narrow");
      const one = await runTsync(["apply", file, "--yes", "--target", "node-1", "--sync", "site", "-f", s.manifest]);
      assert.equal(one.code, 0, one.stdout + one.stderr);
      assert.equal(one.stdout.match(/ applied /g)?.length, 1, one.stdout);
      await sameAsSource(s, 0);
      assert.equal(existsSync(assets[0]!), false, "assets was not selected");
      assert.deepEqual(await snapshots([s.targets[1]!, s.targets[3]!]), [untouched[1], untouched[2]]);
      const second = await runTsync(["apply", file, "--yes", "--sync", "assets", "-f", s.manifest]);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      for (const a of assets) assert.equal(readFileSync(join(a, "logo.svg"), "utf8"), "<svg/>\n");
      assert.deepEqual(await snapshots([s.targets[1]!, s.targets[3]!]), [untouched[1], untouched[2]]);
      // Re-applying a part already applied is refused (the target moved: by this very plan), the rest goes.
      const rest = await runTsync(["apply", file, "--yes", "--sync", "site", "-f", s.manifest]);
      assert.equal(rest.code, 1, rest.stdout + rest.stderr);
      assert.match(rest.stdout, /node-1:\S+ stale: /);
      assert.match(rest.stdout, /node-2:\S+ applied/);
      assert.match(rest.stdout, /node-4:\S+ applied/);
      for (let i = 0; i < 4; i++) await sameAsSource(s, i);
    }));
});

describe("reports", () => {
  test("junit (XSD-valid), markdown and json agree on every count; unreachable is an error case", () =>
    check(async () => {
      const s = scenario("reports");
      // node-1 in sync; node-2: new dir + file; node-3: one update and one delete; node-4 down.
      rmSync(join(s.targets[1]!, "a"), { recursive: true });
      appendFileSync(join(s.targets[2]!, "c.txt"), "drift\n");
      writeFileSync(join(s.targets[2]!, "stray.txt"), "not on the source\n");
      await fleet.stop(3);
      try {
        const [json, junit, md] = await Promise.all(
          [["--json"], ["--format", "junit"], ["--format", "markdown"]].map((f) => runTsync(["plan", "--detailed-exitcode", ...f, "-f", s.manifest])),
        );
        for (const r of [json, junit, md]) assert.equal(r.code, 1, r.stdout + r.stderr);
        const doc = planJson(json!);
        const counts = doc.targets.map((t) => countVisible(t.changes));
        // node-2: mkdir a, create a/b.txt, and its root's time (changed by the rm) restored;
        // node-3: update c.txt, delete stray.txt, root time restored.
        assert.deepEqual(counts, [{ add: 0, change: 0, delete: 0 }, { add: 2, change: 1, delete: 0 }, { add: 0, change: 2, delete: 1 }, { add: 0, change: 0, delete: 0 }]);
        assert.deepEqual(doc.summary, { add: 2, change: 3, delete: 1, targets: 4, drifted: 2, unreachable: 1, refused: 0, problems: 0, nginxChanged: false });
        const summary = "Plan: 2 to add, 3 to change, 1 to delete on 2 targets; 1 unreachable.";
        const text = (n: { add: number; change: number; delete: number }) => `${n.add} to add, ${n.change} to change, ${n.delete} to delete`;

        const v = await validateXML({ xml: [{ fileName: "plan.xml", contents: junit!.stdout }], schema: [{ fileName: "junit.xsd", contents: XSD }] });
        assert.equal(v.valid, true, v.errors.map((e) => e.rawMessage).join("\n"));
        const x = junit!.stdout;
        assert.match(x, /<testsuites name="tsync plan" tests="4" failures="2" errors="1"/);
        const cases = [...x.matchAll(/<testcase classname="site" name="(node-\d):[^"]*"[^>]*?(\/>|>\s*<(failure|error) type="(\w+)" message="([^"]*)")/g)];
        assert.deepEqual(
          cases.map((m) => [m[1], m[4] ?? "pass", m[4] === "drift" ? m[5] : undefined]),
          [
            ["node-1", "pass", undefined],
            ["node-2", "drift", text(counts[1]!)],
            ["node-3", "drift", text(counts[2]!)],
            ["node-4", "unreachable", undefined],
          ],
        );

        const m = md!.stdout;
        assert.ok(m.startsWith("### tsync plan\n"), m);
        assert.ok(m.trimEnd().endsWith(summary), m);
        const rows = [...m.matchAll(/^\| site \| (node-\d):\S* \| ([^|]+) \| ([^|]*) \| ([^|]*) \| ([^|]*) \|$/gm)].map((r) => [r[1], r[2]!.trim(), r[3]!.trim(), r[4]!.trim(), r[5]!.trim()]);
        assert.deepEqual(rows, [
          ["node-1", "✅ in sync", "0", "0", "0"],
          ["node-2", "⚠️ drifted", ...Object.values(counts[1]!).map(String)],
          ["node-3", "⚠️ drifted", ...Object.values(counts[2]!).map(String)],
          ["node-4", "❌ unreachable", "–", "–", "–"],
        ]);
        for (const i of [1, 2]) assert.ok(m.includes(`<summary>site → node-${i + 1}:${s.targets[i]}: ${text(counts[i]!)}</summary>`), m);
        assert.match(m, /^~ touch \.\/ \(times\)$/m, "the root directory is shown as './'");

        const human = await runTsync(["plan", "-f", s.manifest]);
        assert.ok(human.stdout.trimEnd().endsWith(summary), human.stdout);
      } finally {
        await fleet.start(3);
      }
    }));

  test("the docs/ci.md recipe: plan --detailed-exitcode --format markdown --out plan.json, then apply plan.json", () =>
    check(async () => {
      const recipe = readFileSync(join(ROOT, "docs/ci.md"), "utf8");
      assert.match(recipe, /tsync plan --detailed-exitcode --format markdown --out plan\.json/);
      const s = scenario("recipe");
      changeSource(s);
      const out = join(dir, "recipe", "plan.json");
      const r = await runTsync(["plan", "--detailed-exitcode", "--format", "markdown", "--out", out, "-f", s.manifest]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.ok(r.stdout.startsWith("### tsync plan\n"), r.stdout);
      // Per target: mkdir new, create new/n.txt; update index.php and the root's time.
      assert.match(r.stdout, /Plan: 8 to add, 8 to change, 0 to delete on 4 targets\.\n$/);
      assert.equal(r.stdout.match(/^\| site \| node-\d:\S+ \| ⚠️ drifted \| 2 \| 2 \| 0 \|$/gm)?.length, 4, r.stdout);
      const doc = planJson({ ...r, stdout: readFileSync(out, "utf8") });
      assert.equal(doc.summary.drifted, 4);
      for (const t of doc.targets) for (const c of t.changes) if (c.action === "create" || c.action === "update") assert.match(JSON.stringify(c.after), /"hash":"[0-9a-f]{128}"/, "a saved plan pins the content it sends");
      const a = await runTsync(["apply", out, "--yes", "-f", s.manifest]);
      assert.equal(a.code, 0, a.stdout + a.stderr);
      for (let i = 0; i < 4; i++) await sameAsSource(s, i);
      const again = await runTsync(["plan", "--detailed-exitcode", "--format", "markdown", "-f", s.manifest]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.match(again.stdout, /No changes\. 4 targets in sync\.\n$/);
      const nowhere = join(dir, "recipe", "no-such-dir", "plan.json");
      const unwritable = await runTsync(["plan", "--detailed-exitcode", "--format", "markdown", "--out", nowhere, "-f", s.manifest]);
      assert.equal(unwritable.code, 1, unwritable.stdout + unwritable.stderr);
      assertOneLineError(unwritable.stderr, /no-such-dir\/plan\.json: cannot save the plan: ENOENT/);
    }));
});
