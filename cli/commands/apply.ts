// tsync apply [PLANFILE]: converge every target (or exactly a saved plan), then nginx.
import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import { Fleet } from "../../reconciler/run/fleet.js";
import { planManifest } from "../../reconciler/run/plan-run.js";
import { applyPlan } from "../../reconciler/run/apply-run.js";
import { parsePlanJson } from "../../reconciler/views/plan-json.js";
import { toApplyJson } from "../../reconciler/views/apply-json.js";
import { renderApplyHuman } from "../../reconciler/views/apply-human.js";
import { planHumanLines } from "../../reconciler/views/plan-human.js";
import type { Plan } from "../../reconciler/model/plan.js";
import { summarize } from "../../reconciler/model/plan.js";
import { targetSelected } from "../../reconciler/run/plan-run.js";
import { nginxAsRendered } from "../../reconciler/run/stale.js";
import { errorMessage } from "../../reconciler/model/errors.js";
import type { Manifest } from "../../reconciler/model/manifest.js";
import { requireManifest } from "../manifest.js";
import { out, outLines, err, useColor, Exit, EXIT, type GlobalOptions } from "../output.js";
import { planProgressReporter, progressReporter } from "../progress.js";
import { readPlanKey, type PlanKeyOptions } from "../plan-key.js";

export interface ApplyCommandOptions extends GlobalOptions, PlanKeyOptions {
  yes?: boolean;
  allowMassDelete?: boolean;
}

function loadSavedPlan(file: string, manifest: Manifest, opts: ApplyCommandOptions): Plan {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    err(`${file}: cannot read the plan: ${errorMessage(e)}`);
    throw new Exit(EXIT.error);
  }
  const key = readPlanKey(opts);
  let plan: Plan;
  try {
    plan = parsePlanJson(text, file, {
      ...(key ? { key } : {}),
      onUnchecked: () => err(`${file}: warning: the plan is signed but no plan key is set (TSYNC_PLAN_KEY or --plan-key-file); its signature was not checked`),
    });
  } catch (e) {
    err(errorMessage(e));
    throw new Exit(EXIT.error);
  }
  if (plan.manifestDigest !== manifest.digest) {
    err(`${file}: refused: ${manifest.file} changed since the plan was made; nothing was changed (plan again)`);
    throw new Exit(EXIT.error);
  }
  if (!nginxAsRendered(plan, manifest)) {
    err(`${file}: refused: its nginx config is not what ${manifest.file} renders (the plan file was edited); nothing was changed (plan again)`);
    throw new Exit(EXIT.error);
  }
  const targets = plan.targets
    .filter((t) => (!opts.sync?.length || opts.sync.includes(t.sync)) && targetSelected(t.target, opts.target))
    // The refusal is part of the verified plan; the flag lifts it here as it does for a live apply.
    .map(({ refused, ...t }) => (opts.allowMassDelete || refused === undefined ? t : { ...t, refused }));
  const keepNginx = plan.nginx && !opts.sync?.length && !opts.target?.length;
  return { ...plan, targets, ...(keepNginx ? {} : { nginx: undefined }), summary: summarize(targets, keepNginx ? plan.nginx : undefined) };
}

/**
 * SIGINT/SIGTERM while changes are applied: stop at the next file boundary and report what was not
 * applied (killing the process mid-file is safe too, but says nothing). A second signal ends it at once.
 * Installed only after the confirmation prompt, which handles Ctrl-C itself.
 */
function onInterrupt(): { signal: AbortSignal; by: string; off(): void } {
  const ac = new AbortController();
  // Every running remote command listens on it (one per target at least): not a leak past Node's 10.
  setMaxListeners(0, ac.signal);
  const state = { signal: ac.signal, by: "", off: () => {} };
  const handler = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    state.by = sig;
    ac.abort();
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  state.off = () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
  return state;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(question);
    return answer.trim() === "yes";
  } finally {
    rl.close();
  }
}

export async function applyCommand(planFile: string | undefined, opts: ApplyCommandOptions): Promise<void> {
  const manifest = requireManifest(opts);
  const fleet = new Fleet(manifest);
  const color = useColor(opts);
  try {
    const planning = !planFile && !opts.json && !opts.quiet && process.stderr.isTTY ? planProgressReporter(process.stderr) : undefined;
    const plan = planFile
      ? loadSavedPlan(planFile, manifest, opts)
      : await planManifest(manifest, fleet, {
          ...(planning ? { onProgress: planning.update } : {}),
          ...(opts.sync ? { syncs: opts.sync } : {}),
          ...(opts.target ? { targets: opts.target } : {}),
          allowMassDelete: opts.allowMassDelete ?? false,
          ...(opts.target?.length ? { nginx: false } : {}),
        });
    planning?.done();
    const s = plan.summary;
    const hasWork = s.add + s.change + s.delete > 0 || s.nginxChanged;
    if (!opts.json) outLines(planHumanLines(plan, { color, quiet: opts.quiet ?? false }));
    if (hasWork && !opts.yes) {
      if (!process.stdin.isTTY) {
        err("apply: refusing to change targets without confirmation: stdin is not a terminal (pass --yes)");
        throw new Exit(EXIT.error);
      }
      if (!(await confirm("Apply these changes? Only 'yes' is accepted: "))) {
        err("Apply cancelled; nothing was changed.");
        throw new Exit(EXIT.error);
      }
    }
    const progress = !opts.json && !opts.quiet && process.stderr.isTTY ? progressReporter(process.stderr, plan.targets) : undefined;
    const interrupt = onInterrupt();
    // Unreachable targets, problems and an unreadable nginx file have no changes to confirm, but the
    // run must still report them and fail.
    const mustReport = hasWork || s.unreachable > 0 || s.problems > 0 || plan.nginx?.error !== undefined;
    const report = mustReport
      ? await applyPlan(manifest, fleet, plan, {
          ...(planFile !== undefined ? { saved: { deep: plan.deep } } : {}),
          allowMassDelete: opts.allowMassDelete ?? false,
          signal: interrupt.signal,
          ...(progress ? { onProgress: progress.update } : {}),
        })
      : { targets: [], ok: true };
    interrupt.off();
    progress?.done();
    if (opts.json) out(JSON.stringify(toApplyJson(plan, report), null, 2));
    else if (mustReport) {
      out(renderApplyHuman(report, { color, ...(manifest.nginx ? { nginxPath: manifest.nginx.path } : {}) }));
    }
    if (interrupt.signal.aborted) {
      const left = report.targets.reduce((n, o) => n + Math.max(0, o.plan.changes.length - o.applied), 0);
      err(`apply: interrupted by ${interrupt.by}: ${left} change(s) not applied (every file is the old or the new one, none partial); run apply again to finish`);
    }
    throw new Exit(report.ok ? EXIT.ok : EXIT.error);
  } finally {
    await fleet.close();
  }
}
