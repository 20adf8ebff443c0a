// /healthz's verdict and the /metrics series, from a status document (watch/metrics.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import parsePrometheus from "parse-prometheus-text-format";
import { HEALTHY_LAG_MS, health, statusRegistry } from "../../reconciler/watch/metrics.js";
import type { StatusDoc, TargetStatus } from "../../reconciler/watch/status.js";

const NOW = Date.UTC(2026, 0, 1, 12);
const ago = (ms: number) => new Date(NOW - ms).toISOString();
const target = (over: Partial<TargetStatus>): TargetStatus => ({ target: "www-01:/var/www", state: "in-sync", failures: 0, problems: 0, drift: 0, ...over });
const doc = (targets: TargetStatus[], state: StatusDoc["state"] = "running"): StatusDoc => ({
  formatVersion: 1, pid: 1, startedAt: ago(3600_000), updatedAt: ago(0), state, manifestFile: "tsync.yaml", manifestDigest: "x",
  syncs: [{ name: "site", source: "/src", watcher: { mode: "inotify" }, pendingEvents: 3, queueDepth: 1, targets, lastAudit: { at: ago(60_000), kind: "quick", drift: 0, result: "in-sync", durationMs: 1500 } }],
});

test("healthz: 200 when every target is in sync, paused, or catching up within the bound; 503 otherwise, and while not running", () => {
  assert.equal(health(doc([target({}), target({ state: "paused" })]), NOW).status, 200);
  assert.equal(health(doc([target({ state: "syncing", behindSince: ago(HEALTHY_LAG_MS - 1000) })]), NOW).status, 200);
  assert.equal(health(doc([target({ state: "syncing", behindSince: ago(HEALTHY_LAG_MS + 1000) })]), NOW).status, 503);
  assert.equal(health(doc([target({ state: "syncing" })]), NOW).status, 503, "the initial apply: not yet in sync");
  for (const state of ["drifted", "problems", "unreachable", "failed"] as const) assert.equal(health(doc([target({ state })]), NOW).status, 503, state);
  assert.equal(health(doc([target({})], "starting"), NOW).status, 503);
  const h = health(doc([target({ state: "unreachable", lastError: "connect ECONNREFUSED" })]), NOW);
  assert.deepEqual(h.body, { ok: false, state: "running", targets: [{ sync: "site", target: "www-01:/var/www", state: "unreachable", healthy: false, error: "connect ECONNREFUSED" }] });
});

test("metrics: the status document's numbers, per target and per sync", async () => {
  const t = target({ state: "syncing", pendingEvents: 7, behindSince: ago(2000), lastSyncAt: ago(5000), hookRuns: 4, hookFailures: 1, totals: { bytesSent: 1234, changesApplied: 56, batches: 3, failures: 2, driftFound: 9, driftHealed: 8 } });
  const text = await statusRegistry(doc([t]), NOW).metrics();
  const f = new Map(parsePrometheus(text).map((x) => [x.name, x]));
  const v = (name: string) => Number(f.get(name)!.metrics[0]!.value);
  assert.deepEqual(
    ["tsync_target_in_sync", "tsync_target_pending_events", "tsync_target_behind_seconds", "tsync_target_sent_bytes_total", "tsync_target_applied_changes_total", "tsync_target_batches_total", "tsync_target_failures_total", "tsync_target_drift_found_total", "tsync_target_drift_healed_total", "tsync_target_hook_runs_total", "tsync_target_hook_failures_total", "tsync_sync_queue_depth", "tsync_sync_pending_events", "tsync_sync_last_audit_duration_seconds"].map(v),
    [0, 7, 2, 1234, 56, 3, 2, 9, 8, 4, 1, 1, 3, 1.5],
  );
  assert.equal(v("tsync_target_last_sync_timestamp_seconds"), (NOW - 5000) / 1000);
  assert.deepEqual(f.get("tsync_target_state")!.metrics[0]!.labels, { sync: "site", target: "www-01:/var/www", state: "syncing" });
});
