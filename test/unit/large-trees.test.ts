// Sizes of a large site (issue 12) through the code that handles whole plans at once: nothing may
// depend on a change count fitting a call's argument list or the stack.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change } from "../../reconciler/model/change.js";
import type { TargetPlan } from "../../reconciler/model/plan.js";
import { summarize } from "../../reconciler/model/plan.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import type { FileEntry } from "../../reconciler/model/snapshot.js";
import { renderPlanHuman } from "../../reconciler/views/plan-human.js";

test("plan rendering: 200,000 creates in one directory (an uploads folder) render, one line each", () => {
  const after: FileEntry = { kind: "file", size: 0, mode: 0o644, mtimeMs: 1_700_000_000_000 };
  const changes: Change[] = [];
  for (let i = 0; i < 200_000; i++) changes.push({ kind: "create", path: `uploads/f${i}.jpg` as RelPath, after });
  const targets: TargetPlan[] = [{ sync: "site", target: { path: "/srv" }, state: "drifted", changes, problems: [] }];
  const text = renderPlanHuman({ manifestFile: "tsync.yaml", manifestDigest: "ab".repeat(32), createdAt: "2026-01-01T00:00:00.000Z", deep: false, targets, summary: summarize(targets) }, { color: false, verbose: true });
  assert.equal(text.split("\n").filter((l) => l.includes("uploads/f")).length, 200_000);
});
