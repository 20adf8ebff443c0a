// Issue 18 item 2: text from a target or the source never drives the operator's terminal. A target
// file holding an OSC title + clear-screen sequence shown by `plan --diff`, names with a C1 CSI
// (U+009B) and a bidi override (U+202E) in plan, apply and status human output: all escaped, while
// --json keeps the exact names. Local targets only: the escaping is in the views, not the transport.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runTsync } from "../support/cli.js";

const base = mkdtempSync(join(tmpdir(), "tsync-cli-escape-"));
after(() => rmSync(base, { recursive: true, force: true }));

/** Anything a terminal would act on: C0 but newline, DEL, C1, bidi overrides and isolates. */
// eslint-disable-next-line no-control-regex
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/u;
const TITLE = "\x1b]0;pwned\x07\x1b[2J";
const CSI_NAME = "a\u009b31mb.txt";
const BIDI_NAME = "invoice-\u202egnp.exe";

function assertNoRaw(what: string, text: string): void {
  const m = RAW.exec(text);
  assert.equal(m, null, `${what}: raw U+${m?.[0].codePointAt(0)!.toString(16).padStart(4, "0")} at ${m?.index}:\n${JSON.stringify(text)}`);
}

function setup(name: string): { manifest: string; src: string; dst: string } {
  const dir = join(base, name);
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  mkdirSync(src, { recursive: true });
  mkdirSync(dst, { recursive: true });
  const manifest = join(dir, "tsync.yaml");
  writeFileSync(manifest, `version: 1\nhosts: {}\nsyncs:\n  site:\n    source: ${src}\n    targets: [${dst}]\n`);
  return { manifest, src, dst };
}

test("plan --diff of a target file holding ESC]0;title BEL ESC[2J prints no raw ESC or BEL", async () => {
  const s = setup("diff");
  writeFileSync(join(s.src, "notes.txt"), "line one\nline two\n");
  writeFileSync(join(s.dst, "notes.txt"), `line one\n${TITLE}line two\r\n`);
  const r = await runTsync(["plan", "--diff", "-f", s.manifest]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /~ update {2}notes\.txt/);
  assertNoRaw("plan --diff", r.stdout + r.stderr);
  // Shown, not hidden: the operator sees what the target holds.
  assert.ok(r.stdout.includes("-\\u{1b}]0;pwned\\u{7}\\u{1b}[2Jline two\\r"), r.stdout);
});

test("names with U+009B and U+202E: escaped in plan and apply human output, exact in --json", async () => {
  const s = setup("names");
  writeFileSync(join(s.src, CSI_NAME), "x\n");
  writeFileSync(join(s.src, BIDI_NAME), "y\n");
  const plan = await runTsync(["plan", "-f", s.manifest]);
  assert.equal(plan.code, 0, plan.stdout + plan.stderr);
  assertNoRaw("plan", plan.stdout + plan.stderr);
  assert.ok(plan.stdout.includes('+ create  "a\\u{9b}31mb.txt"'), plan.stdout);
  assert.ok(plan.stdout.includes('+ create  "invoice-\\u{202e}gnp.exe"'), plan.stdout);

  const json = await runTsync(["plan", "--json", "-f", s.manifest]);
  const doc = JSON.parse(json.stdout) as { targets: { changes: { action: string; path: string; pathBase64?: string }[] }[] };
  const paths = doc.targets[0]!.changes.filter((c) => c.action === "create").map((c) => c.path).sort();
  assert.deepEqual(paths, [CSI_NAME, BIDI_NAME].sort(), "JSON keeps the exact names");

  const apply = await runTsync(["apply", "--yes", "-f", s.manifest]);
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assertNoRaw("apply", apply.stdout + apply.stderr);
  assert.ok(apply.stdout.includes('"invoice-\\u{202e}gnp.exe"'), apply.stdout);
  assert.equal(readFileSync(join(s.dst, BIDI_NAME), "utf8"), "y\n", "the name itself replicates exactly");
});

test("status: names and remote errors in the status file are escaped in human output, exact in --json", async () => {
  const dir = join(base, "status");
  mkdirSync(dir, { recursive: true });
  const now = new Date().toISOString();
  const error = `www-02: 1 change(s) not applied; first: create ${CSI_NAME}: ${TITLE}permission denied`;
  const status = {
    formatVersion: 1,
    pid: process.pid,
    startedAt: now,
    updatedAt: now,
    state: "running",
    manifestFile: "tsync.yaml",
    manifestDigest: "ab".repeat(32),
    syncs: [
      {
        name: "site",
        source: `/srv/${BIDI_NAME}`,
        watcher: { mode: "inotify" },
        pendingEvents: 0,
        queueDepth: 0,
        lastError: error,
        lastAudit: { at: now, kind: "quick", drift: 1, result: "reported", error },
        targets: [{ target: "www-02:/var/www/site", state: "failed", failures: 1, problems: 0, drift: 0, lastError: error }],
      },
    ],
  };
  const file = join(dir, "tsync.status");
  writeFileSync(file, JSON.stringify(status));
  const r = await runTsync(["status", "--file", file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /error: www-02: 1 change\(s\) not applied/);
  assertNoRaw("status", r.stdout + r.stderr);
  assert.ok(r.stdout.includes("a\\u{9b}31mb.txt: \\u{1b}]0;pwned\\u{7}\\u{1b}[2Jpermission denied"), r.stdout);
  assert.ok(r.stdout.includes("(source /srv/invoice-\\u{202e}gnp.exe)"), r.stdout);
  const j = await runTsync(["status", "--json", "--file", file]);
  assert.equal((JSON.parse(j.stdout) as typeof status).syncs[0]!.targets[0]!.lastError, error, "JSON keeps the exact text");
});
