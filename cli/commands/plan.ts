// tsync plan: compare source and every target, print what apply would do; changes nothing.
// The other output formats and --diff (the `diff` package) are loaded only when asked for.
import { writeFileAtomic } from "../../reconciler/transport/local/atomic-write.js";
import { errorMessage } from "../../reconciler/model/errors.js";
import { Fleet } from "../../reconciler/run/fleet.js";
import { planManifest } from "../../reconciler/run/plan-run.js";
import { planHumanLines } from "../../reconciler/views/plan-human.js";
import type { Plan } from "../../reconciler/model/plan.js";
import { requireManifest } from "../manifest.js";
import { out, outLines, err, useColor, Exit, EXIT, type GlobalOptions } from "../output.js";
import { planProgressReporter } from "../progress.js";
import { readPlanKey, type PlanKeyOptions } from "../plan-key.js";

export interface PlanCommandOptions extends GlobalOptions, PlanKeyOptions {
  deep?: boolean;
  diff?: boolean;
  out?: string;
  detailedExitcode?: boolean;
  format?: "human" | "json" | "junit" | "markdown";
}

/**
 * 1 for errors (unreachable target, nginx unreadable, problems), else 2 for changes under
 * --detailed-exitcode. Problems are errors, not drift: 2 tells CI "apply will converge it", and apply
 * cannot fix an unreadable path or a FIFO; someone has to.
 */
export function planExitCode(plan: Plan, detailed: boolean): number {
  if (plan.summary.unreachable > 0 || plan.summary.problems > 0 || plan.nginx?.error) return EXIT.error;
  const changes = plan.summary.add + plan.summary.change + plan.summary.delete > 0 || plan.summary.nginxChanged;
  return detailed && changes ? EXIT.changes : EXIT.ok;
}

/** Atomically, owner-only; a path that cannot be written is the user's error, not an internal one. */
async function writePlanFile(file: string, doc: unknown): Promise<void> {
  try {
    await writeFileAtomic(file, JSON.stringify(doc, null, 2) + "\n", { mode: 0o600 });
  } catch (e) {
    err(`${file}: cannot save the plan: ${errorMessage(e)}`);
    throw new Exit(EXIT.error);
  }
}

export async function planCommand(opts: PlanCommandOptions): Promise<void> {
  const manifest = requireManifest(opts);
  const key = readPlanKey(opts);
  const fleet = new Fleet(manifest);
  const format = opts.json ? "json" : (opts.format ?? "human");
  try {
    const progress = format === "human" && !opts.quiet && process.stderr.isTTY ? planProgressReporter(process.stderr) : undefined;
    const plan = await planManifest(manifest, fleet, {
      ...(progress ? { onProgress: progress.update } : {}),
      ...(opts.sync ? { syncs: opts.sync } : {}),
      ...(opts.target ? { targets: opts.target } : {}),
      deep: opts.deep ?? false,
      onWarning: (m) => err(`warning: ${m}`),
      // Any plan document may be applied later (`plan --json > p.json` too): pin the content it sends.
      hashContent: opts.out !== undefined || format === "json",
      ...(opts.target?.length ? { nginx: false } : {}),
    });
    progress?.done();
    // Every plan document may be applied later, so each is signed when there is a key.
    const doc = async () => {
      const { signPlanJson, toPlanJson } = await import("../../reconciler/views/plan-json.js");
      return key ? signPlanJson(toPlanJson(plan), key) : toPlanJson(plan);
    };
    if (opts.out) await writePlanFile(opts.out, await doc());
    if (format === "json") out(JSON.stringify(await doc(), null, 2));
    else if (format === "junit") out((await import("../../reconciler/views/junit.js")).renderJunit(plan));
    else if (format === "markdown") out((await import("../../reconciler/views/markdown.js")).renderMarkdown(plan));
    else {
      const diffs = opts.diff ? await (await import("../../reconciler/run/text-diff.js")).textDiffs(manifest, fleet, plan) : undefined;
      outLines(planHumanLines(plan, { color: useColor(opts), quiet: opts.quiet ?? false, verbose: opts.verbose ?? false, ...(diffs ? { diffs } : {}) }));
      if (opts.out) err(`Saved the plan to ${opts.out}; apply exactly it with: tsync apply ${opts.out}`);
    }
    throw new Exit(planExitCode(plan, opts.detailedExitcode ?? false));
  } finally {
    await fleet.close();
  }
}
