// Putting a rendered config in place on `nginx.host`: plan (read + diff) and apply (write, test,
// restore or reload). All IO goes through the Transport, so local and SSH hosts behave the same.
// Apply never leaves a config nginx rejected on disk, and never reloads one.
import { createTwoFilesPatch } from "diff";
import { basename, dirname } from "node:path";
import { TsyncError, errorMessage } from "../model/errors.js";
import type { Manifest, NginxSettings } from "../model/manifest.js";
import { fromBytes } from "../model/paths.js";
import type { NginxPlan } from "../model/plan.js";
import type { Transport } from "../transport/types.js";
import { shq } from "../scan/listing.js";
import { renderNginx } from "./render.js";
import { unusableWebAddresses } from "./web-address.js";

export type NginxApplyResult = { ok: true; reloaded: boolean } | { ok: false; error: string };

function where(host: string | undefined, path: string): string {
  return host === undefined ? path : `${host}:${path}`;
}

async function readCurrent(transport: Transport, path: string): Promise<Buffer | undefined> {
  return transport.readFile(dirname(path), fromBytes(Buffer.from(basename(path), "utf8")));
}

/** Compare the file on `nginx.host` with the render. Failures land in `error`, never thrown. */
export async function planNginx(manifest: Manifest, transport: Transport, down?: ReadonlySet<string>): Promise<NginxPlan> {
  const nginx = manifest.nginx;
  if (nginx === undefined) throw new TsyncError("nginx-missing", `${manifest.file}: the manifest has no nginx section`);
  const base = { ...(nginx.host === undefined ? {} : { host: nginx.host }), path: nginx.path };
  const unusable = await unusableWebAddresses(manifest);
  if (unusable.length > 0) return { ...base, after: "", changed: false, diff: "", error: `${manifest.file}: ${unusable.join("; ")}` };
  let rendered: { text: string; warnings: string[] };
  try {
    rendered = renderNginx(manifest, down);
  } catch (err) {
    if (!(err instanceof TsyncError)) throw err;
    return { ...base, after: "", changed: false, diff: "", error: `${manifest.file}: ${err.message}` };
  }
  const after = rendered.text;
  const warnings = rendered.warnings.length > 0 ? { warnings: rendered.warnings } : {};
  let current: Buffer | undefined;
  try {
    current = await readCurrent(transport, nginx.path);
  } catch (err) {
    return { ...base, after, changed: false, diff: "", error: `cannot read ${where(nginx.host, nginx.path)}: ${errorMessage(err)}`, ...warnings };
  }
  const before = current?.toString("utf8");
  if (before === after) return { ...base, before, after, changed: false, diff: "", ...warnings };
  const label = where(nginx.host, nginx.path);
  const diff = createTwoFilesPatch(before === undefined ? "/dev/null" : label, label, before ?? "", after, undefined, undefined, {
    context: 3,
  });
  return { ...base, ...(before === undefined ? {} : { before }), after, changed: true, diff, ...warnings };
}

/** nginx's own diagnostics out of a command's output: its `[emerg]`-style lines, else the tail. */
export function nginxErrorLines(output: string, code: number): string {
  const lines = output.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  const own = lines.filter((l) => /\[(emerg|alert|crit|error)\]/.test(l));
  const picked = own.length > 0 ? own : lines.slice(-3);
  return picked.length > 0 ? picked.join("; ") : `exit code ${code}, no output`;
}

/** Put the old bytes back, or remove the new file when there was none. Returns a problem, if any. */
async function restore(transport: Transport, path: string, old: Buffer | undefined): Promise<string | undefined> {
  try {
    if (old !== undefined) {
      await transport.writeFile(path, old);
      return undefined;
    }
    const r = await transport.run(`rm -f -- ${shq(path)}`);
    return r.code === 0 ? undefined : nginxErrorLines(r.output, r.code);
  } catch (err) {
    return errorMessage(err);
  }
}

async function runStep(transport: Transport, command: string): Promise<{ code: number; output: string }> {
  try {
    return await transport.run(command);
  } catch (err) {
    return { code: -1, output: errorMessage(err) };
  }
}

/**
 * Write `plan.after` atomically, run `settings.test`; on failure restore the old file byte-exact and
 * report nginx's lines; on success run `settings.reload`. A file that changed since the plan is refused.
 */
export async function applyNginx(plan: NginxPlan, settings: NginxSettings, transport: Transport): Promise<NginxApplyResult> {
  const label = where(plan.host, plan.path);
  if (plan.error !== undefined) return { ok: false, error: plan.error };
  if (!plan.changed) return { ok: true, reloaded: false };
  let old: Buffer | undefined;
  try {
    old = await readCurrent(transport, plan.path);
  } catch (err) {
    return { ok: false, error: `cannot read ${label}: ${errorMessage(err)}` };
  }
  // The restore must be byte-exact, so it uses these bytes, not the (decoded) plan.before.
  if (old?.toString("utf8") !== plan.before) {
    return { ok: false, error: `${label} changed since the plan was made; run plan again (nothing written)` };
  }
  try {
    await transport.writeFile(plan.path, Buffer.from(plan.after, "utf8"));
  } catch (err) {
    return { ok: false, error: `cannot write ${label}: ${errorMessage(err)}` };
  }
  const test = await runStep(transport, settings.test);
  if (test.code !== 0) {
    const problem = await restore(transport, plan.path, old);
    const kept = problem === undefined ? (old === undefined ? "new file removed" : "old config restored") : `RESTORING FAILED: ${problem}`;
    return { ok: false, error: `${label}: nginx test failed (${kept}, not reloaded): ${nginxErrorLines(test.output, test.code)}` };
  }
  const reload = await runStep(transport, settings.reload);
  if (reload.code !== 0) {
    // Keeping a tested-but-not-loaded file would make the next plan see "no changes" and never
    // reload; putting the old one back keeps disk equal to what nginx runs, so a re-run retries.
    const problem = await restore(transport, plan.path, old);
    const kept = problem === undefined ? (old === undefined ? "new file removed" : "old config restored") : `RESTORING FAILED: ${problem}`;
    return { ok: false, error: `${label}: nginx reload failed (${kept}): ${nginxErrorLines(reload.output, reload.code)}` };
  }
  return { ok: true, reloaded: true };
}
