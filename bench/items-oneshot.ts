// Issue 13's one-shot shapes: the listing floor of a no-change plan, several targets on one host with
// files of mixed size, and 16 targets on 4 hosts with maxProcesses 5 (checking one SSH login per host).
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import pLimit from "p-limit";
import { alternate, type Ctx } from "./context.js";
import type { DataSet } from "./datasets.js";
import { listingFloorAll } from "./anchors.js";
import { addRow } from "./items-batch.js";
import { expectCode, timed, tsync } from "./procs.js";
import { summarize, type Row } from "./stats.js";
import { verifyTargets } from "./verify.js";
import { writeManifest, type World } from "./world.js";

/** One target: which of the world's hosts (index) and the path there. */
interface Spot {
  readonly host: number;
  readonly path: string;
}

function spots(w: World, set: string, who: string, hosts: readonly number[]): Spot[] {
  const base = join(w.dir, "t", set, who);
  mkdirSync(base, { recursive: true });
  return hosts.map((host, k) => ({ host, path: join(base, `node-${host + 1}-${k}`) }));
}

function manifest(w: World, name: string, src: string, targets: readonly Spot[]): string {
  return writeManifest(w, { name, source: src, targets: targets.map((t) => `${w.hostNames[t.host]}:${t.path}`), locations: true });
}

/** rsync to every target, at most `inFlight` at once (lsyncd's maxProcesses); returns ms. */
async function rsyncEach(w: World, src: string, targets: readonly Spot[], flags: readonly string[], inFlight: number): Promise<number> {
  const limit = pLimit(inFlight);
  const t0 = performance.now();
  const rs = await Promise.all(targets.map((t) => limit(() => timed("rsync", [...flags, "-e", w.rsh, "--", src + "/", `${w.hostNames[t.host]}:${t.path}/`]))));
  rs.forEach((r, i) => expectCode(r, `rsync ${flags.join(" ")} #${i + 1}`));
  return performance.now() - t0;
}

const wipe = (ts: readonly Spot[]) => ts.forEach((t) => rmSync(t.path, { recursive: true, force: true }));
const paths = (ts: readonly Spot[]) => ts.map((t) => t.path);
/** SSH logins each sshd has logged so far (one per connection). */
const logins = (w: World) => w.fleet.hosts.map((_, i) => (w.fleet.log(i).match(/Accepted publickey/g) ?? []).length);

async function tsyncApply(ctx: Ctx, file: string, src: string, targets: readonly Spot[]): Promise<{ ms: number; perHost: number[] }> {
  const before = logins(ctx.w);
  const r = expectCode(await tsync(["apply", "--yes", "-q", "-f", file]), `tsync apply ${file}`);
  const perHost = logins(ctx.w).map((n, i) => n - before[i]!);
  await verifyTargets(`tsync apply ${file}`, src, paths(targets));
  return { ms: r.ms, perHost };
}

/** What the used hosts saw: "1, 1, 1, 1"; a note when any host had more than one connection. */
function loginNote(ctx: Ctx, what: string, seen: readonly number[][], used: ReadonlySet<number>): string {
  const worst = [...used].map((h) => Math.max(...seen.map((s) => s[h]!)));
  if (worst.some((n) => n > 1)) ctx.notes.push(`${what}: more than one SSH connection to a host (${worst.join(", ")})`);
  return `SSH logins per host per tsync run: ${worst.join(", ")} (goal ≤ 1)`;
}

/** A no-change plan against its listing floor (anchors.ts listingFloorAll). */
export async function listingFloor(ctx: Ctx, set: DataSet, targets: readonly string[], file: string): Promise<void> {
  ctx.log(`listing floor: ${set.name}`);
  const floor = () => listingFloorAll(ctx.w, set.src, targets);
  const args = ["plan", "--detailed-exitcode", "-f", file];
  const s = await alternate(ctx.cfg.repsCheap, async () => expectCode(await tsync(args), "tsync plan", [0]).ms, floor);
  await addRow(ctx, { work: `no-change plan vs the listing floor: ${set.name}`, unit: "ms", tsync: summarize(s.tsync), anchor: summarize(s.anchor), anchorName: `local find + ${targets.length} ssh find, in parallel`, target: { max: 1.2, label: "≤ 1.2" } }, args);
}

/** 3 targets, two of them on one host, files of 1–40 KiB: initial sync, no-change plan, deep plan. */
export async function sharedHost(ctx: Ctx, set: DataSet): Promise<void> {
  const hosts = [0, 0, 1];
  const used = new Set(hosts);
  const ts = spots(ctx.w, set.name, "tsync", hosts);
  const rs = spots(ctx.w, set.name, "rsync", hosts);
  const file = manifest(ctx.w, `${set.name}-shared`, set.src, ts);
  const shape = `${set.name} → 3 targets, 2 on one host`;
  ctx.log(`initial sync: ${shape}`);
  const seen: number[][] = [];
  const init = await alternate(
    ctx.cfg.reps,
    async () => {
      wipe(ts);
      const r = await tsyncApply(ctx, file, set.src, ts);
      seen.push(r.perHost);
      return r.ms;
    },
    async () => (wipe(rs), rsyncEach(ctx.w, set.src, rs, ["-a", "--delete"], 5)),
  );
  await verifyTargets("rsync", set.src, paths(rs));
  await addRow(ctx, { work: `initial sync: ${shape}`, unit: "ms", tsync: summarize(init.tsync), anchor: summarize(init.anchor), anchorName: "rsync -a --delete ×3", target: { max: 0.7, label: "≤ 0.7" }, note: loginNote(ctx, shape, seen, used) });
  for (const deep of [false, true]) {
    const args = ["plan", "--detailed-exitcode", ...(deep ? ["--deep"] : []), "-f", file];
    ctx.log(`no-change ${deep ? "deep " : ""}plan: ${shape}`);
    const s = await alternate(ctx.cfg.repsCheap, async () => expectCode(await tsync(args), "tsync plan", [0]).ms, () => rsyncEach(ctx.w, set.src, rs, deep ? ["-ac", "--delete", "-n"] : ["-a", "--delete", "-n"], 5));
    const row: Row = { work: `no-change ${deep ? "deep " : ""}plan: ${shape}`, unit: "ms", tsync: summarize(s.tsync), anchor: summarize(s.anchor), anchorName: `rsync -a${deep ? "c" : ""} --delete -n ×3`, target: { max: 1.0, label: "≤ 1.0" } };
    await addRow(ctx, row, args);
  }
}

/** WordPress → 16 targets on 4 hosts, maxProcesses 5; rsync ×16 with 5 in flight. Leaves no targets behind. */
export async function manyTargets(ctx: Ctx, set: DataSet): Promise<void> {
  const hosts = Array.from({ length: 16 }, (_, k) => k % 4);
  const used = new Set(hosts);
  const ts = spots(ctx.w, `${set.name}-16`, "tsync", hosts);
  const rs = spots(ctx.w, `${set.name}-16`, "rsync", hosts);
  const file = manifest(ctx.w, `${set.name}-16`, set.src, ts);
  const shape = `${set.name} → 16 targets on 4 hosts, maxProcesses 5`;
  ctx.log(`initial sync: ${shape}`);
  const seen: number[][] = [];
  const s = await alternate(
    ctx.cfg.reps,
    async () => {
      wipe(ts);
      const r = await tsyncApply(ctx, file, set.src, ts);
      seen.push(r.perHost);
      return r.ms;
    },
    async () => {
      wipe(rs);
      const ms = await rsyncEach(ctx.w, set.src, rs, ["-a", "--delete"], 5);
      await verifyTargets("rsync ×16", set.src, paths(rs));
      return ms;
    },
  );
  if (ctx.cfg.profile) wipe(ts);
  await addRow(ctx, { work: `initial sync: ${shape}`, unit: "ms", tsync: summarize(s.tsync), anchor: summarize(s.anchor), anchorName: "rsync -a --delete ×16, 5 in flight", target: { max: 0.7, label: "≤ 0.7" }, note: loginNote(ctx, shape, seen, used) }, ["apply", "--yes", "-q", "-f", file]);
  wipe(ts);
  wipe(rs);
}
