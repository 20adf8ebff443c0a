// A single self-rewriting stderr line of files and bytes per target, at most ~10 redraws a second.
import type { Change } from "../reconciler/change.js";
import type { TargetPlan } from "../reconciler/plan-model.js";
import { formatLocation } from "../reconciler/manifest/model.js";
import { formatBytes } from "../reconciler/render-plan.js";

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
