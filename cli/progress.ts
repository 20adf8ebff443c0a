// Progress on a terminal's stderr, rewritten in place at most ~10 times a second: one line while a plan
// scans, one line per target while apply runs.
import type { Change } from "../reconciler/model/change.js";
import { isImplied, visibleChanges, type TargetPlan } from "../reconciler/model/plan.js";
import { sendsContent } from "../reconciler/transport/apply/protocol.js";
import { formatLocation } from "../reconciler/model/manifest.js";
import { formatBytes } from "../reconciler/views/change-line.js";
import type { PlanProgress } from "../reconciler/run/plan-run.js";

/** One self-rewriting stderr line while a plan scans and hashes: a large tree is not a silent wait. */
export function planProgressReporter(stream: NodeJS.WriteStream) {
  const parts = new Map<string, string>();
  let last = 0;
  let drawn = false;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    drawn = true;
    const line = "planning: " + [...parts.values()].join(" | ");
    stream.write("\r\x1b[K" + line.slice(0, (stream.columns ?? 120) - 1));
  };
  return {
    update: (e: PlanProgress) => {
      const verb = e.step === "scan" ? "scanning" : "hashing";
      const noun = e.step === "scan" ? "entries" : "files";
      parts.set(`${e.sync}\0${e.where}`, e.state === "start" ? `${e.where} ${verb}…` : `${e.where} ${e.count?.toLocaleString("en-US")} ${noun}`);
      draw(e.state === "start");
    },
    done: () => {
      if (drawn) stream.write("\r\x1b[K");
    },
  };
}

interface TargetProgress {
  readonly label: string;
  /** Counted as the plan's summary counts them: an implied touch is neither shown nor counted. */
  readonly total: number;
  readonly totalBytes: number;
  done: number;
  bytes: number;
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return (hms[0]! > 0 ? `${hms[0]}:${String(hms[1]).padStart(2, "0")}` : `${hms[1]}`) + `:${String(hms[2]).padStart(2, "0")}`;
}

/**
 * One line per target, rsync --info=progress2 style: changes done of the plan's count, percent, rate and
 * ETA. Percent, rate and ETA go by bytes when the target has content to send, else by changes.
 */
export function progressLine(p: TargetProgress, elapsedMs: number): string {
  const byBytes = p.totalBytes > 0;
  const fraction = byBytes ? p.bytes / p.totalBytes : p.total > 0 ? p.done / p.total : 1;
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? (byBytes ? p.bytes : p.done) / seconds : 0;
  const left = byBytes ? p.totalBytes - p.bytes : p.total - p.done;
  const eta = rate > 0 ? duration(left / rate) : "--:--";
  const n = (x: number) => x.toLocaleString("en-US");
  const speed = byBytes ? `${formatBytes(Math.round(rate))}/s` : `${n(Math.round(rate))} changes/s`;
  return `${p.label} ${n(p.done)}/${n(p.total)} ${Math.floor(fraction * 100)}% ${formatBytes(p.bytes)}${byBytes ? ` of ${formatBytes(p.totalBytes)}` : ""} ${speed} ETA ${eta}`;
}

/**
 * Apply progress on a terminal: the lines of `targets` that have work, rewritten in place at most ~10
 * times a second. The caller only creates it when stderr is a TTY: on a pipe nothing is drawn.
 */
export function progressReporter(stream: NodeJS.WriteStream, targets: readonly TargetPlan[], now: () => number = () => performance.now()) {
  const started = now();
  const perTarget = new Map<TargetPlan, TargetProgress>();
  for (const tp of targets) {
    if (tp.state !== "drifted" || tp.refused) continue;
    const visible = visibleChanges(tp.changes);
    if (visible.length === 0) continue;
    const totalBytes = tp.changes.reduce((n, c) => n + (sendsContent(c) ? c.after.size : 0), 0);
    perTarget.set(tp, { label: formatLocation(tp.target), total: visible.length, totalBytes, done: 0, bytes: 0 });
  }
  let last = -Infinity;
  let drawn = 0;
  const draw = () => {
    const width = (stream.columns ?? 120) - 1;
    const lines = [...perTarget.values()].map((p) => progressLine(p, now() - started).slice(0, width));
    // Back to the first line drawn last time, then rewrite every line.
    stream.write((drawn > 1 ? `\x1b[${drawn - 1}A` : "") + "\r" + lines.map((l) => "\x1b[K" + l).join("\n"));
    drawn = lines.length;
  };
  return {
    update: (tp: TargetPlan, change: Change, bytes: number) => {
      const p = perTarget.get(tp);
      if (!p) return;
      if (!isImplied(change)) p.done++;
      p.bytes += bytes;
      const t = now();
      if (t - last >= 100 || p.done === p.total) {
        last = t;
        draw();
      }
    },
    done: () => {
      if (drawn === 0) return;
      stream.write((drawn > 1 ? `\x1b[${drawn - 1}A` : "") + "\r\x1b[J");
      drawn = 0;
    },
  };
}
