// Apply progress on a terminal (issue 19): per target, counts that agree with the plan's summary,
// percent, rate and ETA; driven by a fake clock, written to a fake terminal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { progressLine, progressReporter } from "../../cli/progress.js";
import type { Change } from "../../reconciler/model/change.js";
import { summarize, type TargetPlan } from "../../reconciler/model/plan.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { DirEntry, FileEntry } from "../../reconciler/model/snapshot.js";

const T = 1_700_000_000_000;
const p = (s: string) => s as RelPath;
const d: DirEntry = { kind: "dir", mode: 0o755, mtimeMs: T };
const f = (size: number): FileEntry => ({ kind: "file", size, mode: 0o644, mtimeMs: T, hash: String(size) });

const mkdir: Change = { kind: "mkdir", path: p("a"), after: d };
const big: Change = { kind: "create", path: p("a/big"), after: f(3072) };
const small: Change = { kind: "create", path: p("a/small"), after: f(1024) };
const copied: Change = { kind: "create", path: p("a/copy"), after: f(4096), from: { path: p("old"), entry: f(4096) } };
const del: Change = { kind: "delete", path: p("old"), before: f(4096) };
// Restores a's time after writing into it: apply needs it, the plan neither shows nor counts it.
const implied: Change = { kind: "touch", path: p("a"), before: d, after: d };

const target = (host: string, changes: Change[], extra: Partial<TargetPlan> = {}): TargetPlan => ({
  sync: "site", target: { host, path: "/var/www" }, state: changes.length ? "drifted" : "in-sync", changes, problems: [], ...extra,
});

function terminal() {
  const out = { text: "", columns: 200, write: (s: string) => ((out.text += s), true) };
  return out;
}

/** What the terminal shows: the text after the last cursor-up/carriage return, escapes removed. */
function screen(text: string): string[] {
  const lastDraw = text.split(/\x1b\[\d+A\r|\r/).pop()!;
  return lastDraw.replace(/\x1b\[K/g, "").split("\n");
}

test("progress counts what the plan counts, with percent, rate and ETA per target", () => {
  const www1 = target("www-01", [mkdir, big, small, copied, implied, del]);
  const www2 = target("www-02", [del]);
  const unreachable = target("www-03", [], { state: "unreachable", error: "down" });
  const refused = target("www-04", [del], { refused: "maxDelete" });
  const s = summarize([www1]);
  assert.equal(s.add + s.change + s.delete, 5, "the plan shows 5 changes for www-01");

  let clock = 0;
  const term = terminal();
  const progress = progressReporter(term as unknown as NodeJS.WriteStream, [www1, www2, unreachable, refused], () => clock);
  clock = 500;
  progress.update(www1, mkdir, 0);
  assert.deepEqual(screen(term.text), [
    "www-01:/var/www 1/5 0% 0 B of 4.0 KiB 0 B/s ETA --:--",
    "www-02:/var/www 0/1 0% 0 B 0 changes/s ETA --:--",
  ]);
  clock = 1000;
  progress.update(www1, big, 3072);
  assert.deepEqual(screen(term.text), [
    "www-01:/var/www 2/5 75% 3.0 KiB of 4.0 KiB 3.0 KiB/s ETA 0:00",
    "www-02:/var/www 0/1 0% 0 B 0 changes/s ETA --:--",
  ]);
  clock = 1050;
  const before = term.text;
  progress.update(www1, small, 1024);
  assert.equal(term.text, before, "within 100 ms of the last draw: not redrawn");
  progress.update(www2, del, 0);
  assert.match(screen(term.text)[1]!, /1\/1 100%/, "a target's last change is drawn at once");
  clock = 4000;
  progress.update(www1, copied, 0);
  progress.update(www1, implied, 0);
  progress.update(www1, del, 0);
  assert.deepEqual(screen(term.text), [
    "www-01:/var/www 5/5 100% 4.0 KiB of 4.0 KiB 1.0 KiB/s ETA 0:00",
    "www-02:/var/www 1/1 100% 0 B 0 changes/s ETA 0:00",
  ]);
  progress.done();
  assert.ok(term.text.endsWith("\x1b[1A\r\x1b[J"), "done() clears both lines");
});

test("ETA from the rate so far; a long one shows hours", () => {
  const line = progressLine({ label: "node-1", total: 51_063, totalBytes: 10 * 1024 ** 3, done: 16_887, bytes: 1024 ** 3 }, 100_000);
  assert.equal(line, "node-1 16,887/51,063 10% 1.0 GiB of 10 GiB 10 MiB/s ETA 15:00");
  assert.match(progressLine({ label: "n", total: 10, totalBytes: 100 * 1024 ** 3, done: 1, bytes: 1024 ** 3 }, 100_000), / ETA 2:45:00$/);
  assert.equal(progressLine({ label: "n", total: 100, totalBytes: 0, done: 25, bytes: 0 }, 5000), "n 25/100 25% 0 B 5 changes/s ETA 0:15");
});

test("nothing is drawn for a plan without work", () => {
  const term = terminal();
  const progress = progressReporter(term as unknown as NodeJS.WriteStream, [target("www-01", [])], () => 0);
  progress.done();
  assert.equal(term.text, "");
});
