// Machine reports from one hand-built Plan: golden files for JUnit and Markdown, the JUnit XML
// validated by real libxml2 (xmllint-wasm) against fixtures/reports/junit.xsd, hostile names kept
// inert in every context, and the summary line for each plan shape.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { validateXML } from "xmllint-wasm";
import type { Change } from "../../reconciler/model/change.js";
import type { Plan, TargetPlan, NginxPlan } from "../../reconciler/model/plan.js";
import { summarize } from "../../reconciler/model/plan.js";
import type { DirEntry, FileEntry, SymlinkEntry } from "../../reconciler/model/snapshot.js";
import { relPath, type RelPath } from "../../reconciler/model/paths.js";
import { renderJunit } from "../../reconciler/views/junit.js";
import { renderMarkdown } from "../../reconciler/views/markdown.js";
import { summaryLine } from "../../reconciler/views/summary.js";
import { describeChange } from "../../reconciler/views/change-line.js";
import { renderPlanHuman } from "../../reconciler/views/plan-human.js";

const REPORTS = fileURLToPath(new URL("../../../fixtures/reports/", import.meta.url));
const XSD = readFileSync(REPORTS + "junit.xsd", "utf8");

const T = 1_700_000_000_000;
const f = (size: number, mode = 0o644): FileEntry => ({ kind: "file", size, mode, mtimeMs: T });
const d = (mode = 0o755): DirEntry => ({ kind: "dir", mode, mtimeMs: T });
const l = (target: string): SymlinkEntry => ({ kind: "symlink", target, mode: 0o777, mtimeMs: T });
const p = (s: string | Buffer): RelPath => relPath(typeof s === "string" ? Buffer.from(s, "utf8").toString("latin1") : s.toString("latin1"));

const hostile: Change[] = [
  { kind: "mkdir", path: p("-rf"), after: d() },
  { kind: "create", path: p("-rf/new\nline"), after: f(12) },
  { kind: "create", path: p("$(touch /tmp/pwned) `id`"), after: f(0) },
  { kind: "create", path: p("a|b`c` <script>alert(1)</script> ]]> & \"q\""), after: f(7) },
  { kind: "create", path: p("bidi-\u202egnp.exe"), after: f(1) },
  { kind: "create", path: p("```fence"), after: f(1) },
  { kind: "create", path: p("uploads"), before: l("/etc"), after: f(5) },
  { kind: "update", path: p("wp-config.php"), before: f(100), after: f(120) },
  { kind: "symlink", path: p("current"), before: l("releases/1"), after: l(p("releases/2\u0085")) },
  { kind: "chmod", path: p("exec.sh"), before: f(10, 0o644), after: f(10, 0o755) },
  { kind: "delete", path: p(Buffer.from([0xff, 0xfe, 0x01, 0x1b, 0x5b, 0x33, 0x31, 0x6d])), before: f(3) },
  { kind: "delete", path: p("old-link"), before: l("x") },
  { kind: "rmdir", path: p("old dir"), before: d() },
];

function target(sync: string, host: string | undefined, path: string, rest: Partial<TargetPlan>): TargetPlan {
  return { sync, target: host === undefined ? { path } : { host, path }, state: "in-sync", changes: [], problems: [], ...rest };
}

function plan(targets: TargetPlan[], nginx?: NginxPlan): Plan {
  return {
    manifestFile: "tsync.yaml",
    manifestDigest: "3f2a9c0d1e5b7a6c4d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
    createdAt: "2025-05-20T03:00:00.000Z",
    deep: false,
    targets,
    ...(nginx ? { nginx } : {}),
    summary: summarize(targets, nginx),
  };
}

const nginxChanged: NginxPlan = {
  host: "master",
  path: "/etc/nginx/conf.d/tjstein.com.conf",
  before: "upstream backend {\n  server 10.0.1.20;\n}\n",
  after: "upstream backend {\n  server 10.0.1.20;\n  server 10.0.1.21;\n}\n",
  changed: true,
  diff: "--- /etc/nginx/conf.d/tjstein.com.conf\n+++ /etc/nginx/conf.d/tjstein.com.conf\n@@ -1,3 +1,4 @@\n upstream backend {\n   server 10.0.1.20;\n+  server 10.0.1.21;\n }\n",
};

const mixed = plan(
  [
    target("site", "www-01", "/var/www/tjstein.com", {}),
    target("site", "www-02", "/var/www/tjstein.com", { state: "drifted", changes: hostile }),
    target("site", "www-03", "/var/www/tjstein.com", { state: "unreachable", error: "www-03: connect ECONNREFUSED 127.0.0.4:2222" }),
    target("site", "www-04", "/var/www/tjstein.com", {
      state: "drifted",
      refused: "maxDelete 25% exceeded: 3 of 4 target files (75%)",
      changes: [1, 2, 3].map((i) => ({ kind: "delete", path: p(`f${i}`), before: f(i) }) as Change),
    }),
    target("uploads", undefined, "/srv/uploads|`x`", {
      problems: [{ side: "source", path: p("private/\u200bkey"), error: "EACCES: permission denied" }],
    }),
  ],
  nginxChanged,
);

const clean = plan([target("site", "www-01", "/var/www/a", {}), target("site", "www-02", "/var/www/a", {})], { ...nginxChanged, before: nginxChanged.after, changed: false, diff: "" });

function golden(name: string, actual: string): void {
  const file = REPORTS + name;
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, "utf8"), `${name} differs; UPDATE_GOLDEN=1 npm test rewrites it after review`);
}

async function validJunit(xml: string): Promise<void> {
  const r = await validateXML({ xml: [{ fileName: "plan.xml", contents: xml }], schema: [{ fileName: "junit.xsd", contents: XSD }] });
  assert.equal(r.valid, true, r.errors.map((e) => e.rawMessage).join("\n"));
}

test("junit golden: mixed plan", () => golden("mixed.golden.xml", renderJunit(mixed)));
test("junit golden: clean plan", () => golden("clean.golden.xml", renderJunit(clean)));
test("markdown golden: mixed plan", () => golden("mixed.golden.md", renderMarkdown(mixed)));
test("markdown golden: clean plan", () => golden("clean.golden.md", renderMarkdown(clean)));

test("junit is schema-valid XML for both plans", async () => {
  await validJunit(renderJunit(mixed));
  await validJunit(renderJunit(clean));
});

test("the schema check can fail: a raw control byte, a stray '<', a missing count", async () => {
  for (const bad of [
    renderJunit(clean).replace('name="www-01', 'name="\x01www-01'),
    renderJunit(clean).replace("</testsuites>", "<</testsuites>"),
    renderJunit(clean).replace(/ failures="0"/, ""),
  ]) {
    const r = await validateXML({ xml: [{ fileName: "bad.xml", contents: bad }], schema: [{ fileName: "junit.xsd", contents: XSD }] });
    assert.equal(r.valid, false, bad);
  }
});

test("junit: every byte 0x00-0xff in a name still yields valid XML", async () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x2f));
  const changes: Change[] = [{ kind: "create", path: p(all), after: f(1) }, { kind: "create", path: p(all.subarray(0x20)), after: f(1) }];
  const x = plan([target("s\u0001", "h", "/p\u202e", { state: "drifted", changes, error: undefined })]);
  await validJunit(renderJunit(x));
});

test("junit structure: suites, cases, kinds and counts agree", () => {
  const xml = renderJunit(mixed);
  const count = (re: RegExp) => (xml.match(re) ?? []).length;
  assert.equal(count(/<testsuite /g), 3, "site, uploads, nginx");
  assert.equal(count(/<testcase /g), 6);
  assert.equal(count(/<failure type="drift"/g), 2, "www-02 and nginx");
  assert.equal(count(/<failure type="refused"/g), 1);
  assert.equal(count(/<error type="unreachable"/g), 1);
  assert.equal(count(/<error type="problems"/g), 1, "uploads: an unreadable path is an error, not a pass");
  assert.match(xml, /<testsuites name="tsync plan" tests="6" failures="3" errors="2"/);
  assert.match(xml, /<testsuite name="site" tests="4" failures="2" errors="1"/);
  assert.match(xml, /classname="site" name="www-02:\/var\/www\/tjstein.com"[^>]*>\n\s*<failure type="drift" message="7 to add, 3 to change, 3 to delete">/);
  // One line per change in the failure body: a newline in a name cannot add a line.
  const body = /<failure type="drift" message="7[^>]*>([^<]*)<\/failure>/.exec(xml)![1]!;
  assert.equal(body.split("\n").length, hostile.length);
});

test("markdown: names cannot break the table, the code fence or the HTML", () => {
  const md = renderMarkdown(mixed);
  const rows = md.split("\n").filter((x) => x.startsWith("| "));
  for (const r of rows) assert.equal(r.replace(/\\\|/g, "").split("|").length, 8, r);
  assert.ok(md.includes("/srv/uploads\\|\\`x\\`"));
  const outsideCode = md.replace(/^(`{3,})[a-z]*\n[\s\S]*?^\1$/gm, "");
  assert.ok(md.includes("<script>") && !outsideCode.includes("<script>"), "raw HTML only inside code blocks");
  assert.ok(!outsideCode.includes("```fence"));
  assert.ok(!md.includes("\u202e") && md.includes("\\u{202e}"));
  assert.ok(md.includes("````text\n"), "fence longer than the ``` inside a name");
  assert.match(md, /<details><summary>nginx → master:\/etc\/nginx\/conf.d\/tjstein.com.conf: config changes<\/summary>\n\n```diff\n/);
  assert.ok(md.trimEnd().endsWith(summaryLine(mixed)));
});

test("markdown caps long change lists", () => {
  const many: Change[] = Array.from({ length: 250 }, (_, i) => ({ kind: "create", path: p(`f${i}`), after: f(1) }));
  const md = renderMarkdown(plan([target("s", "h", "/p", { state: "drifted", changes: many })]));
  assert.ok(md.includes("+ create f199 (1 B)\n... and 50 more\n"));
  assert.ok(!md.includes("f200 "));
});

const summaries: [string, Plan, string][] = [
  ["mixed", mixed, "Plan: 7 to add, 3 to change, 6 to delete on 2 targets; nginx config changes; 1 unreachable; 1 refused; 1 path apply cannot fix on 1 target."],
  ["clean", clean, "No changes. 2 targets in sync."],
  ["one target", plan([target("s", "h", "/p", {})]), "No changes. 1 target in sync."],
  ["in sync but one unreachable", plan([target("s", "a", "/p", {}), target("s", "b", "/p", { state: "unreachable", error: "b: timeout" })]), "No changes. 1 target in sync; 1 unreachable."],
  ["source failed, one host down", plan([target("s", "a", "/p", { state: "unreachable", cause: "source", error: "source /src does not exist" }), target("s", "b", "/p", { state: "unreachable", cause: "source", error: "source /src does not exist" }), target("t", "c", "/p", { state: "unreachable", error: "c: timeout" })]), "No changes. 0 targets in sync; 1 unreachable; 2 targets not planned: source failed."],
  ["nginx only", plan([target("s", "a", "/p", {})], nginxChanged), "Plan: 0 to add, 0 to change, 0 to delete; nginx config changes."],
  // Issue 18 item 5: nothing to change, but a FIFO where the source has a file is not "in sync".
  ["problems only", plan([target("s", "a", "/p", {}), target("s", "b", "/p", { problems: [{ side: "target", path: p("pipe"), error: "is a FIFO, not a file, directory or symlink" }] })]), "No changes. 1 target in sync; 1 path apply cannot fix on 1 target."],
  ["drift", plan([target("s", "a", "/p", { state: "drifted", changes: [hostile[1]!] })]), "Plan: 1 to add, 0 to change, 0 to delete on 1 target."],
];
for (const [name, pl, want] of summaries) test(`summaryLine: ${name}`, () => assert.equal(summaryLine(pl), want));

test("describeChange escapes names and shows what matters per kind", () => {
  assert.deepEqual(hostile.map(describeChange).slice(0, 3), ["+ mkdir -rf/", '+ create "-rf/new\\nline" (12 B)', "+ create $(touch /tmp/pwned) `id` (0 B)"]);
  assert.equal(describeChange(hostile[6]!), "-/+ create uploads (5 B, replaces symlink -> /etc)");
  assert.equal(describeChange(hostile[9]!), "~ chmod exec.sh (0644 -> 0755)");
  assert.equal(describeChange(hostile[10]!), '- delete "\\xff\\xfe\\x01\\x1b[31m"');
});

test("issue 14: plan -q drops the changes but never which target failed and why", () => {
  const text = renderPlanHuman(mixed, { color: false, quiet: true });
  assert.equal(
    text,
    [
      "site: www-03:/var/www/tjstein.com unreachable: www-03: connect ECONNREFUSED 127.0.0.4:2222",
      "site: www-04:/var/www/tjstein.com refused: maxDelete 25% exceeded: 3 of 4 target files (75%)",
      summaryLine(mixed),
      "",
    ].join("\n"),
  );
});
