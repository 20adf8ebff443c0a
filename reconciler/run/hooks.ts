// Runs a sync's onChange hooks on one target after changes landed there (apply, watch batches, audit
// heals). Each hook runs once, in manifest order; a failure is reported, never retried (a hook is not
// idempotent) and never stops the next hook or replication.
import type { Change } from "../model/change.js";
import { formatLocation, type Location, type Sync } from "../model/manifest.js";
import type { RelPath } from "../model/paths.js";
import { errorMessage } from "../model/errors.js";
import { hookInput, hooksFor } from "../core/hooks.js";
import type { Transport } from "../transport/types.js";

export interface HookOutcome {
  readonly run: string;
  /** Changed paths it was given. */
  readonly changes: number;
  readonly ok: boolean;
  /** Exit status, when the command ran. */
  readonly code?: number;
  readonly timedOut?: boolean;
  /** The end of its stderr (bounded), as the target printed it. */
  readonly stderrTail?: string;
  /** One line naming the target, the command and why, when not ok (raw: views escape it). */
  readonly error?: string;
}

/** The last non-empty line of a stderr tail, for one-line messages. */
function lastLine(s: string): string {
  return s.split("\n").map((l) => l.trim()).filter(Boolean).pop() ?? "";
}

/** The changes that landed: all planned ones but those apply reported as not done. */
export function landed(changes: readonly Change[], failed: readonly RelPath[]): Change[] {
  if (failed.length === 0) return [...changes];
  const bad = new Set(failed);
  return changes.filter((c) => !bad.has(c.path));
}

export async function runHooks(sync: Sync, target: Location, transport: Transport, changes: readonly Change[], signal?: AbortSignal): Promise<HookOutcome[]> {
  const out: HookOutcome[] = [];
  const where = formatLocation(target);
  for (const { hook, paths } of hooksFor(sync.onChange, changes)) {
    if (signal?.aborted) break;
    const h = { run: hook.run, paths };
    const name = `onChange \`${h.run}\` on ${where}`;
    try {
      const r = await transport.exec(h.run, {
        cwd: target.path,
        env: { TSYNC_SYNC: sync.name, TSYNC_TARGET: target.host ?? target.path, TSYNC_CHANGES: String(h.paths.length) },
        stdin: hookInput(h.paths),
        timeoutMs: hook.timeoutMs,
        ...(signal ? { signal } : {}),
      });
      const ok = r.code === 0 && !r.timedOut;
      const why = r.timedOut ? `killed after its ${hook.timeoutMs / 1000}s timeout` : `exit status ${r.code}`;
      const tail = lastLine(r.stderrTail);
      out.push({
        run: h.run,
        changes: h.paths.length,
        ok,
        code: r.code,
        ...(r.timedOut ? { timedOut: true } : {}),
        ...(r.stderrTail ? { stderrTail: r.stderrTail } : {}),
        ...(ok ? {} : { error: `${name}: ${why}${tail ? `: ${tail}` : ""}` }),
      });
    } catch (err) {
      out.push({ run: h.run, changes: h.paths.length, ok: false, error: `${name}: ${errorMessage(err)}` });
    }
  }
  return out;
}
