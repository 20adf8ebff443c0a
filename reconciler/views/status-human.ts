// Human rendering of the status document for `tsync status` (`--json` prints the document itself).
// Returns a string; only cli/ writes to stdout. Error texts embed remote stderr and file names, and
// the status file is only as trustworthy as whoever could write it: every text is escaped (model/text.ts).
import { escapeText as esc } from "../model/text.js";
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
  paused: "35",
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
  let line = `    ${esc(t.target).padEnd(30)} ${paint(COLORS[t.state] ?? "0", String(t.state).padEnd(11))} last sync ${ago(t.lastSyncAt, now)}`;
  if (t.pausedSince) line += `, paused ${ago(t.pausedSince, now)} (${esc(t.pausedSince)})`;
  if (t.pendingEvents) line += `, ${t.pendingEvents} event${t.pendingEvents === 1 ? "" : "s"} not yet applied`;
  if (t.behindSince) line += `, behind since ${ago(t.behindSince, now)}`;
  if (t.drift > 0) line += `, ${t.drift} drifted change${t.drift === 1 ? "" : "s"} (reported)`;
  if (t.problems > 0) line += `, ${t.problems} path${t.problems === 1 ? "" : "s"} tsync cannot fix`;
  if (t.hookFailures) line += `, ${t.hookFailures} of ${t.hookRuns ?? 0} onChange run${t.hookRuns === 1 ? "" : "s"} failed`;
  if (t.lastError && t.state !== "in-sync") line += `\n      error: ${esc(t.lastError)}`;
  if (t.lastHookFailure) line += `\n      last hook failure ${ago(t.lastHookFailure.at, now)}: ${esc(t.lastHookFailure.error)}`;
  if (t.retryAt) line += `\n      retry #${t.failures + 1} at ${esc(t.retryAt)}`;
  return line;
}

function renderSync(s: SyncStatus, o: RenderStatusOptions, now: number): string[] {
  const lines = [`  sync ${esc(s.name)}  (source ${esc(s.source)})`];
  const w = s.watcher.mode === "inotify" ? "inotify" : `${esc(s.watcher.mode)}${s.watcher.reason ? `: ${esc(s.watcher.reason)}` : ""}`;
  lines.push(`    watcher ${w}; ${s.pendingEvents} pending event${s.pendingEvents === 1 ? "" : "s"}, ${s.queueDepth} queued job${s.queueDepth === 1 ? "" : "s"}`);
  const a = s.lastAudit;
  lines.push(
    a
      ? `    last audit ${esc(a.kind)} ${ago(a.at, now)}: ${esc(a.result)}${a.drift > 0 ? ` (${a.drift} change${a.drift === 1 ? "" : "s"})` : ""}${a.error ? `: ${esc(a.error)}` : ""}`
      : "    last audit never",
  );
  if (s.lastError) lines.push(`    last error: ${esc(s.lastError)}`);
  for (const t of s.targets) lines.push(renderTarget(t, o, now));
  return lines;
}

export function renderStatus(doc: StatusDoc, o: RenderStatusOptions): string {
  const now = o.now ?? Date.now();
  const lines: string[] = [];
  if (o.stale) lines.push(`warning: ${esc(o.stale)}`);
  lines.push(`tsync watch (pid ${doc.pid}) ${esc(String(doc.state))}, started ${ago(doc.startedAt, now)}, updated ${ago(doc.updatedAt, now)}; manifest ${esc(doc.manifestFile)}`);
  for (const s of doc.syncs) lines.push(...renderSync(s, o, now));
  const targets = doc.syncs.flatMap((s) => s.targets);
  const paused = targets.filter((t) => t.state === "paused").length;
  const bad = targets.filter((t) => t.state !== "in-sync" && t.state !== "paused").length;
  const also = paused > 0 ? ` (${paused} paused)` : "";
  lines.push(bad === 0 ? (paused === 0 ? `All ${targets.length} targets in sync.` : `${targets.length - paused} of ${targets.length} targets in sync${also}.`) : `${bad} of ${targets.length} targets not in sync${also}.`);
  return lines.join("\n") + "\n";
}
