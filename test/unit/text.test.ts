// Issue 18 item 2: the one escaping of text from a target or the source (reconciler/model/text.ts),
// and displayPath built on it: what a terminal would act on becomes visible, the rest stays as it is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { escapeLines, escapeText } from "../../reconciler/model/text.js";
import { displayPath, relPath } from "../../reconciler/model/paths.js";
import { renderPlanHuman } from "../../reconciler/views/plan-human.js";
import { summarize, type Plan, type TargetPlan } from "../../reconciler/model/plan.js";

const textCases: [string, string, string, string][] = [
  // name, input, escapeText, escapeLines
  ["OSC title, BEL, clear screen", "\x1b]0;t\x07\x1b[2J", "\\u{1b}]0;t\\u{7}\\u{1b}[2J", "\\u{1b}]0;t\\u{7}\\u{1b}[2J"],
  ["C1 CSI U+009B and NEL U+0085", "a\u009b31mb\u0085", "a\\u{9b}31mb\\u{85}", "a\\u{9b}31mb\\u{85}"],
  ["DEL and NUL", "a\x7fb\x00", "a\\u{7f}b\\u{0}", "a\\u{7f}b\\u{0}"],
  ["bidi overrides and isolates", "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", "\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{202e}\\u{2066}\\u{2067}\\u{2068}\\u{2069}", "\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{202e}\\u{2066}\\u{2067}\\u{2068}\\u{2069}"],
  ["newline, CR, tab: one line vs. our lines", "a\nb\r\n\tc", "a\\nb\\r\\n\\tc", "a\nb\\r\n\tc"],
  ["ordinary text stays", "café 日本 🚀 \"q\" \\", "café 日本 🚀 \"q\" \\", "café 日本 🚀 \"q\" \\"],
];
for (const [name, input, one, lines] of textCases) {
  test(`escapeText / escapeLines: ${name}`, () => {
    assert.equal(escapeText(input), one);
    assert.equal(escapeLines(input), lines);
  });
}

const u = (s: string) => relPath(Buffer.from(s, "utf8").toString("latin1"));
const pathCases: [string, string, string][] = [
  ["plain UTF-8", "wp-content/café.txt", "wp-content/café.txt"],
  ["C1 CSI U+009B", "a\u009b31mb.txt", '"a\\u{9b}31mb.txt"'],
  ["bidi override U+202E", "invoice-\u202egnp.exe", '"invoice-\\u{202e}gnp.exe"'],
  ["bidi isolate U+2066", "x\u2066y", '"x\\u{2066}y"'],
  ["ESC", "a\x1b[2Jb", '"a\\x1b[2Jb"'],
];
for (const [name, input, want] of pathCases) test(`displayPath: ${name}`, () => assert.equal(displayPath(u(input)), want));

test("renderPlanHuman: a diff, a target error, a refusal and a problem from the target are escaped; our colours stay", () => {
  const drifted: TargetPlan = {
    sync: "site",
    target: { path: "/dst" },
    state: "drifted",
    changes: [{ kind: "update", path: u("notes.txt"), before: { kind: "file", size: 1, mode: 0o644, mtimeMs: 0 }, after: { kind: "file", size: 2, mode: 0o644, mtimeMs: 0 } }],
    refused: "would delete \u009b2J",
    problems: [{ side: "target", path: u("p"), error: "EACCES \x1b]0;x\x07" }],
  };
  const down: TargetPlan = { sync: "site", target: { host: "www", path: "/dst" }, state: "unreachable", changes: [], error: "ssh: \x1b[2J\u202e", problems: [] };
  const plan: Plan = { manifestFile: "t.yaml", manifestDigest: "0", createdAt: "", deep: false, targets: [drifted, down], summary: summarize([drifted, down], undefined) };
  const diffs = new Map([["site\0/dst\0notes.txt", "--- target/notes.txt\n+++ source/notes.txt\n@@ -1 +1 @@\n-\x1b]0;t\x07\x1b[2J\n+ok\n"]]);
  const out = renderPlanHuman(plan, { color: true, diffs });
  const withoutOurColours = out.replace(/\x1b\[\d+m/g, "");
  assert.doesNotMatch(withoutOurColours, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
  assert.ok(withoutOurColours.includes("-\\u{1b}]0;t\\u{7}\\u{1b}[2J"), withoutOurColours);
  assert.ok(withoutOurColours.includes("ssh: \\u{1b}[2J\\u{202e}"));
  assert.ok(withoutOurColours.includes("refused: would delete \\u{9b}2J"));
  assert.ok(withoutOurColours.includes("EACCES \\u{1b}]0;x\\u{7}"));
  assert.match(out, /\x1b\[31m/, "colours are ours and still there");
});
