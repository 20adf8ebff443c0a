// Live work items: `tsync watch` against lsyncd (the seed's settings), both running at once on twin
// sources so samples can alternate; completion is seen on the targets' filesystem, not in a log.
import { appendFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Ctx } from "./context.js";
import type { Placed } from "./items-batch.js";
import { cliArgv, peakRssMb, startDaemon, type Daemon } from "./procs.js";
import { startLsyncd, writeLsyncdConfig } from "./lsyncd.js";
import { quantile, summarize, verdict, type Row } from "./stats.js";
import { forget, pollUntil } from "./verify.js";
import { listTree } from "../test/support/trees.js";

const READY = /initial apply done/;

export async function startWatch(manifest: string, timeoutMs: number, nodeFlags: readonly string[] = []): Promise<{ d: Daemon; readyMs: number }> {
  const t0 = performance.now();
  const d = startDaemon(...cliArgv(["watch", "-f", manifest], nodeFlags));
  try {
    await d.waitFor(READY, timeoutMs);
  } catch (e) {
    await d.stop();
    throw e;
  }
  return { d, readyMs: performance.now() - t0 };
}

export function sizeIs(f: string, size: number): boolean {
  try {
    return statSync(f).size === size;
  } catch {
    return false;
  }
}

/** Waits for each target in turn (all must be done anyway): one cheap check at a time. */
async function allTargets(targets: readonly string[], done: (t: string) => boolean, timeoutMs: number, what: string, everyMs: number): Promise<number> {
  let at = 0;
  for (const t of targets) at = await pollUntil(() => done(t), timeoutMs, `${what} on ${t}`, everyMs);
  return at;
}

interface Twin {
  readonly name: "tsync" | "lsyncd";
  readonly src: string;
  readonly targets: readonly string[];
}

async function withDaemons<T>(ctx: Ctx, p: Placed, fn: (twins: Twin[]) => Promise<T>): Promise<T> {
  // lsyncd watches an identical copy (cp -a keeps times), replicating to the targets rsync already filled.
  const lsrc = `${p.set.src}-lsyncd`;
  execFileSync("rm", ["-rf", lsrc]);
  execFileSync("cp", ["-a", p.set.src, lsrc]);
  const watch = await startWatch(p.manifest, 300_000);
  ctx.log(`  tsync watch ready in ${watch.readyMs.toFixed(0)} ms`);
  let lsyncd: Daemon | undefined;
  try {
    const t0 = performance.now();
    lsyncd = await startLsyncd(writeLsyncdConfig(ctx.w, p.set.name, lsrc, p.rsyncTargets), 4, 300_000);
    ctx.log(`  lsyncd ready in ${(performance.now() - t0).toFixed(0)} ms`);
    const twins: Twin[] = [
      { name: "tsync", src: p.set.src, targets: p.tsyncTargets },
      { name: "lsyncd", src: lsrc, targets: p.rsyncTargets },
    ];
    const out = await fn(twins);
    ctx.notes.push(`watch on ${p.set.name}: peak RSS tsync ${peakRssMb(watch.d.child.pid!).toFixed(0)} MB, lsyncd ${peakRssMb(lsyncd.child.pid!).toFixed(0)} MB (its rsync children not counted).`);
    return out;
  } finally {
    await Promise.all([watch.d.stop(), lsyncd?.stop()]);
    forget(p.set.src);
  }
}

/** One new 2 KiB file, from write to present with its full size on all 4 targets. */
async function oneFile(t: Twin, k: number): Promise<number> {
  const name = `live-${t.name}-${k}.txt`;
  const body = Buffer.alloc(2048, `${name}\n`);
  const t0 = performance.now();
  writeFileSync(join(t.src, name), body);
  const t1 = await allTargets(t.targets, (d) => sizeIs(join(d, name), body.length), 60_000, `${t.name} live file ${name}`, 2);
  return t1 - t0;
}

/** 1,000 files of 4 KiB into a new directory, from the first write until every target holds them all, verified by hash. */
async function burst(t: Twin, r: number, n: number): Promise<number> {
  const dir = `burst-${t.name}-${r}`;
  const body = Buffer.alloc(4096, `${dir}\n`);
  const t0 = performance.now();
  mkdirSync(join(t.src, dir));
  for (let i = 0; i < n; i++) writeFileSync(join(t.src, dir, `f${i}.php`), body);
  const count = (d: string) => {
    try {
      return readdirSync(join(d, dir)).filter((x) => !x.startsWith(".")).length === n;
    } catch {
      return false;
    }
  };
  const t1 = await allTargets(t.targets, count, 120_000, `${t.name} burst ${dir}`, 20);
  const want = await listTree(join(t.src, dir), { times: true, timePrecision: "s" });
  for (const d of t.targets) {
    // Counted names can still be mid-rename for rsync's last file; give it a moment, then insist.
    let got = await listTree(join(d, dir), { times: true, timePrecision: "s" });
    if (got !== want) await sleep(500), (got = await listTree(join(d, dir), { times: true, timePrecision: "s" }));
    if (got !== want) throw new Error(`${t.name} burst ${dir}: ${d} differs from the source`);
  }
  return t1 - t0;
}

export async function liveItems(ctx: Ctx, p: Placed, what: { latency: boolean; burst: boolean }): Promise<void> {
  ctx.log(`live: ${p.set.name} (tsync watch and lsyncd side by side)`);
  await withDaemons(ctx, p, async ([ts, ls]) => {
    if (what.latency) {
      const s: Record<string, number[]> = { tsync: [], lsyncd: [] };
      for (let k = 0; k < ctx.cfg.liveSamples; k++) {
        for (const t of k % 2 === 0 ? [ts!, ls!] : [ls!, ts!]) {
          s[t.name]!.push(await oneFile(t, k));
          await sleep(300);
        }
      }
      for (const [q, label] of [[0.5, "p50"], [0.95, "p95"]] as const) {
        const tv = quantile(s.tsync!, q);
        const av = quantile(s.lsyncd!, q);
        const row: Row = {
          work: `live: one new file on all 4, ${label} of ${ctx.cfg.liveSamples}`,
          unit: "ms",
          tsync: { n: 1, median: tv, min: tv, max: tv },
          anchor: { n: 1, median: av, min: av, max: av },
          anchorName: "lsyncd (delay=1)",
          target: { max: 0.2, label: "≤ 0.2" },
          note: `tsync samples ${fmtList(s.tsync!)}; lsyncd ${fmtList(s.lsyncd!)}`,
        };
        ctx.rows.push(row);
        ctx.log(`  ${row.work}: tsync ${tv.toFixed(0)} ms, lsyncd ${av.toFixed(0)} ms → ${verdict(row)}`);
      }
    }
    if (what.burst) {
      const s: Record<string, number[]> = { tsync: [], lsyncd: [] };
      for (let r = 0; r < ctx.cfg.burstReps; r++) {
        for (const t of r % 2 === 0 ? [ts!, ls!] : [ls!, ts!]) {
          s[t.name]!.push(await burst(t, r, ctx.cfg.burstFiles));
          await sleep(1500);
        }
      }
      const row: Row = { work: `live: ${ctx.cfg.burstFiles}-file burst complete on all 4`, unit: "ms", tsync: summarize(s.tsync!), anchor: summarize(s.lsyncd!), anchorName: "lsyncd (delay=1)", target: { max: 0.5, label: "≤ 0.5" } };
      ctx.rows.push(row);
      ctx.log(`  ${row.work}: tsync ${row.tsync!.median.toFixed(0)} ms, lsyncd ${row.anchor!.median.toFixed(0)} ms → ${verdict(row)}`);
    }
  });
}

const fmtList = (xs: readonly number[]) => xs.map((x) => x.toFixed(0)).join(", ") + " ms";

/**
 * Peak RSS of the daemons on one tree: start (initial comparison), then 100 edited files replicated,
 * then the kernel's high-water mark. One daemon at a time, on the same in-sync targets.
 */
export async function rssItem(ctx: Ctx, p: Placed, lsyncdTargets: readonly string[]): Promise<void> {
  ctx.log(`peak RSS: ${p.set.describe}`);
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(p.set.src, rel), { withFileTypes: true })) {
      if (files.length >= 100) return;
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) files.push(r);
    }
  };
  walk("");
  const edit = async (targets: readonly string[], tag: string) => {
    for (const f of files) appendFileSync(join(p.set.src, f), `${tag}\n`);
    const last = files[files.length - 1]!;
    const size = statSync(join(p.set.src, last)).size;
    await allTargets(targets, (d) => sizeIs(join(d, last), size), 120_000, `${tag} edits`, 20);
  };
  const watch = await startWatch(p.manifest, 1_800_000);
  let tsyncMb: number;
  try {
    await edit(p.tsyncTargets, "tsync-rss");
    tsyncMb = peakRssMb(watch.d.child.pid!);
  } finally {
    await watch.d.stop();
  }
  const t0 = performance.now();
  const lsyncd = await startLsyncd(writeLsyncdConfig(ctx.w, `${p.set.name}-rss`, p.set.src, lsyncdTargets), 4, 1_800_000);
  const lsyncdReady = performance.now() - t0;
  let lsyncdMb: number;
  try {
    await edit(lsyncdTargets, "lsyncd-rss");
    lsyncdMb = peakRssMb(lsyncd.child.pid!);
  } finally {
    await lsyncd.stop();
    forget(p.set.src);
  }
  // Issue 12's goals: ≤ 150 MB at 100k files, ≤ 400 MB at 1M.
  const limit = p.set.files >= 1_000_000 ? { max: 400, label: "≤ 400 MB" } : p.set.files >= 100_000 ? { max: 150, label: "≤ 150 MB" } : { label: "report" };
  const row: Row = {
    work: `peak RSS of watch: ${p.set.files} files`,
    unit: "MB",
    tsync: { n: 1, median: tsyncMb, min: tsyncMb, max: tsyncMb },
    anchor: { n: 1, median: lsyncdMb, min: lsyncdMb, max: lsyncdMb },
    anchorName: "lsyncd",
    // The target is absolute (MB), not a ratio.
    judge: tsyncMb,
    target: limit,
    note: `ready: tsync watch ${(watch.readyMs / 1000).toFixed(1)} s, lsyncd startup ${(lsyncdReady / 1000).toFixed(1)} s`,
  };
  ctx.rows.push(row);
  ctx.log(`  ${row.work}: tsync ${tsyncMb.toFixed(0)} MB, lsyncd ${lsyncdMb.toFixed(0)} MB (ready ${watch.readyMs.toFixed(0)} / ${lsyncdReady.toFixed(0)} ms)`);
}
