// tsync wait / pause / resume: requests to the running `tsync watch` over its control socket (next to
// settings.statusFile). Without a running daemon they say so in one line and exit 1.
import { askControl, controlSocketFor, type ControlRequest } from "../../reconciler/watch/control.js";
import type { PauseAnswer, WaitAnswer } from "../../reconciler/watch/daemon.js";
import { parseDuration } from "../../reconciler/manifest/units.js";
import { requireManifest } from "../manifest.js";
import { out, err, Exit, EXIT, type GlobalOptions } from "../output.js";

export interface WaitCommandOptions extends GlobalOptions {
  timeout?: string;
}

const DEFAULT_WAIT = "5m";

function socketOf(opts: GlobalOptions, what: string): string {
  const file = requireManifest(opts).settings.statusFile;
  if (!file) {
    err(`${what}: the manifest sets no settings.statusFile, so \`tsync watch\` has no control socket`);
    throw new Exit(EXIT.error);
  }
  return controlSocketFor(file);
}

async function ask<T>(opts: GlobalOptions, what: string, req: ControlRequest, timeoutMs: number): Promise<T> {
  const r = await askControl(socketOf(opts, what), req, timeoutMs);
  if (!r.ok) {
    err(`${what}: ${r.error}`);
    throw new Exit(EXIT.error);
  }
  return r.answer as T;
}

export async function waitCommand(opts: WaitCommandOptions): Promise<void> {
  const timeoutMs = parseDuration(opts.timeout ?? DEFAULT_WAIT);
  if (timeoutMs === undefined) {
    err(`wait: --timeout ${opts.timeout}: must be a duration like "30s" or "5m"`);
    throw new Exit(EXIT.error);
  }
  const t0 = Date.now();
  const a = await ask<WaitAnswer>(opts, "wait", { op: "wait", timeoutMs, ...(opts.sync?.length ? { syncs: opts.sync } : {}), ...(opts.target?.length ? { targets: opts.target } : {}) }, timeoutMs + 30_000);
  if (opts.json) out(JSON.stringify(a, null, 2));
  if (a.error) {
    err(`wait: ${a.error}`);
    throw new Exit(EXIT.error);
  }
  if (!opts.json) {
    for (const p of a.paused) err(`wait: ${p.target} (sync ${p.sync}) is paused since ${p.since}: not waited for`);
    if (a.ok) {
      if (!opts.quiet) out(`${a.targets} target${a.targets === 1 ? "" : "s"} caught up in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
    } else {
      for (const b of a.behind) err(`wait: ${b.target} (sync ${b.sync}) still behind: ${b.why}`);
      err(`wait: timed out after ${opts.timeout ?? DEFAULT_WAIT}: ${a.behind.length} of ${a.targets} targets not caught up`);
    }
  }
  throw new Exit(a.ok ? EXIT.ok : EXIT.error);
}

export async function pauseCommand(what: string, opts: GlobalOptions): Promise<void> {
  const a = await ask<PauseAnswer>(opts, "pause", { op: "pause", what }, 30_000);
  if (!a.ok) {
    err(`pause: ${a.error ?? "refused"}`);
    throw new Exit(EXIT.error);
  }
  if (!opts.quiet) out(`paused ${what}: ${a.targets.join(", ")} (events keep queueing; \`tsync resume ${what}\` catches up)`);
  throw new Exit(EXIT.ok);
}

export async function resumeCommand(what: string | undefined, opts: GlobalOptions): Promise<void> {
  const a = await ask<PauseAnswer>(opts, "resume", { op: "resume", ...(what ? { what } : {}) }, 30_000);
  if (!a.ok) {
    err(`resume: ${a.error ?? "refused"}`);
    throw new Exit(EXIT.error);
  }
  if (!opts.quiet) out(`resumed ${what ?? "everything"}: catching up ${a.targets.join(", ") || "no target (another pause still holds them)"}`);
  throw new Exit(EXIT.ok);
}
