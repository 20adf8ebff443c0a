// A single self-rewriting stderr line of files and bytes per target, at most ~10 redraws a second.
import type { Change } from "../reconciler/model/change.js";
import type { TargetPlan } from "../reconciler/model/plan.js";
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

export function progressReporter(stream: NodeJS.WriteStream) {
  const perTarget = new Map<string, { done: number; total: number; bytes: number }>();
  let last = 0;
  const draw = () => {
    const parts = [...perTarget].map(([name, p]) => `${name} ${p.done}/${p.total} ${formatBytes(p.bytes)}`);
    const line = parts.join(" | ");
    stream.write("\r\x1b[K" + line.slice(0, (stream.columns ?? 120) - 1));
  };
  return {
    update: (tp: TargetPlan, _change: Change, bytes: number) => {
      const key = formatLocation(tp.target);
      const p = perTarget.get(key) ?? { done: 0, total: tp.changes.length, bytes: 0 };
      p.done++;
      p.bytes += bytes;
      perTarget.set(key, p);
      const now = Date.now();
      if (now - last > 100) {
        last = now;
        draw();
      }
    },
    done: () => {
      if (perTarget.size > 0) stream.write("\r\x1b[K");
    },
  };
}
