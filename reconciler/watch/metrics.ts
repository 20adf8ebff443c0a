// /metrics (Prometheus text format, via prom-client) and /healthz for `tsync watch`, both read from
// the same status document `tsync status` shows, so the numbers agree. Plain HTTP on the address
// settings.metrics names: read-only, nothing in a request changes anything.
import http from "node:http";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { StatusDoc, TargetStatus } from "./status.js";

/** A target still catching up counts as healthy for this long after its oldest unapplied event. */
export const HEALTHY_LAG_MS = 60_000;

const processMetrics = new Registry();
collectDefaultMetrics({ register: processMetrics });

/** The series of one status document, in a registry of their own (a scrape is a fresh snapshot). */
export function statusRegistry(doc: StatusDoc, now: number): Registry {
  const reg = new Registry();
  const T = ["sync", "target"] as const;
  const g = (name: string, help: string, labelNames: readonly string[] = T) => new Gauge({ name, help, labelNames, registers: [reg] });
  const c = (name: string, help: string) => new Counter({ name, help, labelNames: T, registers: [reg] });
  const up = g("tsync_daemon_running", "1 while the daemon runs (not starting or stopping).", []);
  up.set(doc.state === "running" ? 1 : 0);
  const inSync = g("tsync_target_in_sync", "1 when the target has everything the source has (state in-sync).");
  const paused = g("tsync_target_paused", "1 while the target is paused (tsync pause).");
  const state = g("tsync_target_state", "1 for the target's current state.", ["sync", "target", "state"]);
  const lastSync = g("tsync_target_last_sync_timestamp_seconds", "When the last plan applied to the target succeeded (Unix time).");
  const pending = g("tsync_target_pending_events", "Source events not yet applied to the target.");
  const behind = g("tsync_target_behind_seconds", "How long the oldest unapplied event has waited (0: caught up).");
  const problems = g("tsync_target_problems", "Paths tsync cannot read or replicate in the last full plan.");
  const bytes = c("tsync_target_sent_bytes_total", "Content bytes sent to the target.");
  const changes = c("tsync_target_applied_changes_total", "Changes carried out on the target (files sent or copied, directories, links, metadata, deletes).");
  const batches = c("tsync_target_batches_total", "Plans with changes applied to the target (live batches, full plans, heals).");
  const failures = c("tsync_target_failures_total", "Times the target became unreachable or failed.");
  const found = c("tsync_target_drift_found_total", "Changes of drift audits found on the target.");
  const healed = c("tsync_target_drift_healed_total", "Changes of drift healed on the target.");
  const hookRuns = c("tsync_target_hook_runs_total", "onChange commands run on the target.");
  const hookFailures = c("tsync_target_hook_failures_total", "onChange commands that failed on the target (exit status, timeout).");
  const watcher = g("tsync_sync_watcher_mode", "1 for the sync's source watcher mode (inotify, polling, none).", ["sync", "mode"]);
  const queue = g("tsync_sync_queue_depth", "Jobs (batches, audits, retries) waiting behind the running one.", ["sync"]);
  const syncPending = g("tsync_sync_pending_events", "Distinct paths waiting for the sync's next batch.", ["sync"]);
  const audit = g("tsync_sync_last_audit_duration_seconds", "How long the sync's last audit of this kind took.", ["sync", "kind"]);
  const auditAt = g("tsync_sync_last_audit_timestamp_seconds", "When the sync's last audit of this kind ran (Unix time).", ["sync", "kind"]);
  for (const s of doc.syncs) {
    watcher.set({ sync: s.name, mode: s.watcher.mode }, 1);
    queue.set({ sync: s.name }, s.queueDepth);
    syncPending.set({ sync: s.name }, s.pendingEvents);
    if (s.lastAudit?.durationMs !== undefined) audit.set({ sync: s.name, kind: s.lastAudit.kind }, s.lastAudit.durationMs / 1000);
    if (s.lastAudit) auditAt.set({ sync: s.name, kind: s.lastAudit.kind }, Date.parse(s.lastAudit.at) / 1000);
    for (const t of s.targets) {
      const l = { sync: s.name, target: t.target };
      inSync.set(l, t.state === "in-sync" ? 1 : 0);
      paused.set(l, t.state === "paused" ? 1 : 0);
      state.set({ ...l, state: t.state }, 1);
      if (t.lastSyncAt) lastSync.set(l, Date.parse(t.lastSyncAt) / 1000);
      pending.set(l, t.pendingEvents ?? 0);
      behind.set(l, t.behindSince ? Math.max(0, now - Date.parse(t.behindSince)) / 1000 : 0);
      problems.set(l, t.problems);
      const tot = t.totals;
      bytes.inc(l, tot?.bytesSent ?? 0);
      changes.inc(l, tot?.changesApplied ?? 0);
      batches.inc(l, tot?.batches ?? 0);
      failures.inc(l, tot?.failures ?? 0);
      found.inc(l, tot?.driftFound ?? 0);
      healed.inc(l, tot?.driftHealed ?? 0);
      hookRuns.inc(l, t.hookRuns ?? 0);
      hookFailures.inc(l, t.hookFailures ?? 0);
    }
  }
  return reg;
}

export async function renderMetrics(doc: StatusDoc, now: number): Promise<{ contentType: string; text: string }> {
  const merged = Registry.merge([processMetrics, statusRegistry(doc, now)]);
  return { contentType: merged.contentType, text: await merged.metrics() };
}

/** Healthy: in sync, paused on purpose, or catching up with events younger than HEALTHY_LAG_MS. */
function targetHealthy(t: TargetStatus, now: number): boolean {
  if (t.state === "in-sync" || t.state === "paused") return true;
  return t.state === "syncing" && t.behindSince !== undefined && now - Date.parse(t.behindSince) < HEALTHY_LAG_MS;
}

/** 200 while the daemon runs and every target is healthy; 503 otherwise. The body says which. */
export function health(doc: StatusDoc, now: number): { status: 200 | 503; body: Record<string, unknown> } {
  const targets = doc.syncs.flatMap((s) => s.targets.map((t) => ({ sync: s.name, target: t.target, state: t.state, healthy: targetHealthy(t, now), ...(t.lastError && t.state !== "in-sync" ? { error: t.lastError } : {}) })));
  const ok = doc.state === "running" && targets.every((t) => t.healthy);
  return { status: ok ? 200 : 503, body: { ok, state: doc.state, targets } };
}

export interface MetricsServer {
  readonly address: string;
  close(): Promise<void>;
}

/** Listens on host:port; a port in use (or an address not on this machine) rejects with one line. */
/** `status` is undefined until the daemon exists: both paths answer 503 then. */
export async function serveMetrics(host: string, port: number, status: () => StatusDoc | undefined, clock: () => number = Date.now): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405, { allow: "GET, HEAD" }).end();
    const doc = status();
    if (!doc && (path === "/metrics" || path === "/healthz")) return void res.writeHead(503, { "content-type": "text/plain" }).end("tsync watch is starting\n");
    if (path === "/metrics") {
      void renderMetrics(doc!, clock()).then(
        (m) => res.writeHead(200, { "content-type": m.contentType }).end(m.text),
        (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`),
      );
      return;
    }
    if (path === "/healthz") {
      const h = health(doc!, clock());
      return void res.writeHead(h.status, { "content-type": "application/json" }).end(JSON.stringify(h.body) + "\n");
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("tsync: /metrics or /healthz\n");
  });
  const shown = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  await new Promise<void>((res, rej) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      rej(new Error(`metrics: cannot listen on ${shown}: ${err.code === "EADDRINUSE" ? "the port is in use" : err.code === "EADDRNOTAVAIL" ? "no such address on this machine" : err.message}`)),
    );
    server.listen(port, host, () => res());
  });
  return { address: shown, close: () => new Promise<void>((res) => (server.closeAllConnections(), server.close(() => res()))) };
}
