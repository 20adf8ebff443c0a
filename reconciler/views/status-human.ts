// Human rendering of the status document for `tsync status` (`--json` prints the document itself).
// Returns a string; only cli/ writes to stdout. Names come from the manifest and error texts from
// the daemon, so they are shown as they are; file paths never appear here.
import type { StatusDoc, SyncStatus, TargetStatus, TargetStatusState } from "../watch/status.js";

export interface RenderStatusOptions {
  readonly color: boolean;
  /** From readStatus: shown first, so nobody trusts an old file. */
  readonly stale?: string;
  /** For "3s ago"; default Date.now(). */
  readonly now?: number;
}

const COLORS: Record<TargetStatusState, string> = {
  "in-sync": "32",
  syncing: "36",
  drifted: "33",
  problems: "31",
  unreachable: "31",
  failed: "31",
};

function ago(iso: string | undefined, now: number): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function renderTarget(t: TargetStatus, o: RenderStatusOptions, now: number): string {
  const paint = (code: string, s: string) => (o.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  let line = `    ${t.target.padEnd(30)} ${paint(COLORS[t.state], t.state.padEnd(11))} last sync ${ago(t.lastSyncAt, now)}`;
  if (t.drift > 0) line += `, ${t.drift} drifted change${t.drift === 1 ? "" : "s"} (reported)`;
  if (t.problems > 0) line += `, ${t.problems} path${t.problems === 1 ? "" : "s"} tsync cannot fix`;
  if (t.lastError && t.state !== "in-sync") line += `\n      error: ${t.lastError}`;
  if (t.retryAt) line += `\n      retry #${t.failures + 1} at ${t.retryAt}`;
  return line;
}

function renderSync(s: SyncStatus, o: RenderStatusOptions, now: number): string[] {
  const lines = [`  sync ${s.name}  (source ${s.source})`];
  const w = s.watcher.mode === "inotify" ? "inotify" : `${s.watcher.mode}${s.watcher.reason ? `: ${s.watcher.reason}` : ""}`;
  lines.push(`    watcher ${w}; ${s.pendingEvents} pending event${s.pendingEvents === 1 ? "" : "s"}, ${s.queueDepth} queued job${s.queueDepth === 1 ? "" : "s"}`);
  const a = s.lastAudit;
  lines.push(
    a
      ? `    last audit ${a.kind} ${ago(a.at, now)}: ${a.result}${a.drift > 0 ? ` (${a.drift} change${a.drift === 1 ? "" : "s"})` : ""}${a.error ? `: ${a.error}` : ""}`
      : "    last audit never",
  );
  if (s.lastError) lines.push(`    last error: ${s.lastError}`);
  for (const t of s.targets) lines.push(renderTarget(t, o, now));
  return lines;
}

export function renderStatus(doc: StatusDoc, o: RenderStatusOptions): string {
  const now = o.now ?? Date.now();
  const lines: string[] = [];
  if (o.stale) lines.push(`warning: ${o.stale}`);
  lines.push(`tsync watch (pid ${doc.pid}) ${doc.state}, started ${ago(doc.startedAt, now)}, updated ${ago(doc.updatedAt, now)}; manifest ${doc.manifestFile}`);
  for (const s of doc.syncs) lines.push(...renderSync(s, o, now));
  const targets = doc.syncs.flatMap((s) => s.targets);
  const bad = targets.filter((t) => t.state !== "in-sync").length;
  lines.push(bad === 0 ? `All ${targets.length} targets in sync.` : `${bad} of ${targets.length} targets not in sync.`);
  return lines.join("\n") + "\n";
}
