// `--huge`: issue 12's large-site rows. At each size (100k and 1M files by default) the source goes to
// one local and one SSH target, as a web master with one replica would run it; the anchors are rsync to
// the same two targets and lsyncd on its own twin pair. Then the growth between the sizes, and what 10M
// files would need at that growth. One daemon at a time: the tree is too big to watch twice at once.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { alternate, type Ctx } from "./context.js";
import { makeScale, type DataSet } from "./datasets.js";
import { CLI, expectCode, peakRssMb, timed, type Daemon } from "./procs.js";
import { startLsyncd, writeLsyncdConfig } from "./lsyncd.js";
import { quantile, summarize, type Row, type Summary } from "./stats.js";
import { sizeIs, startWatch } from "./items-live.js";
import { pollUntil } from "./verify.js";
import { targetPath, writeManifest, type World } from "./world.js";

/** Where one tool keeps its two copies: a local directory and a directory on node-1. */
interface Pair {
  readonly local: string;
  readonly remote: string;
}

interface Point {
  readonly files: number;
  readonly planMs: number;
  readonly planMb: number;
  readonly watchMb: number;
}

/** A run's wall time and peak RSS, from GNU time around the process (one-shot commands end before /proc can be read). */
async function measured(cmd: string, args: readonly string[], what: string, ok: readonly number[] = [0]): Promise<{ ms: number; mb: number; stdout: string }> {
  const dir = mkdtempSync("/tmp/tsync-huge-time-");
  const out = join(dir, "time");
  try {
    const r = expectCode(await timed("/usr/bin/time", ["-f", "%M", "-o", out, cmd, ...args], { timeoutMs: 60 * 60_000 }), what, ok);
    return { ms: r.ms, mb: Number(readFileSync(out, "utf8").trim().split("\n").pop()) / 1024, stdout: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const one = (v: number): Summary => ({ n: 1, median: v, min: v, max: v });

function pairFor(w: World, set: string, who: string): Pair {
  const p = { local: join(w.dir, "t", set, who, "local"), remote: targetPath(w, set, who, 0) };
  for (const d of [p.local, p.remote]) mkdirSync(d, { recursive: true });
  return p;
}

/** rsync SRC/ to both halves of a pair at once; returns the wall time and the local rsync's peak RSS. */
async function rsyncPair(w: World, src: string, p: Pair, flags: readonly string[], what: string): Promise<{ ms: number; mb: number; stdout: string }> {
  const t0 = performance.now();
  const [local, remote] = await Promise.all([
    measured("rsync", [...flags, "--exclude=/.tsync-tmp", "--", `${src}/`, `${p.local}/`], `${what} (local)`),
    measured("rsync", [...flags, "--exclude=/.tsync-tmp", "-e", w.rsh, "--", `${src}/`, `${w.hostNames[0]}:${p.remote}/`], `${what} (ssh)`),
  ]);
  return { ms: performance.now() - t0, mb: Math.max(local.mb, remote.mb), stdout: local.stdout + remote.stdout };
}

function writeHugeManifest(w: World, name: string, src: string, p: Pair): string {
  // A quick audit every 3 minutes (croner's seconds field): the bench times the first one, then
  // takes the live samples right after it, so no audit runs under them.
  return writeManifest(w, { name, source: src, targets: [p.local, `${w.hostNames[0]}:${p.remote}`], locations: true, extra: ['audit: { quick: "0 */3 * * * *" }'] });
}

/** `samples` new 2 KiB files, one at a time: write → full size on both halves of the pair. */
async function liveSamples(src: string, p: Pair, tag: string, samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < samples; k++) {
    const name = `huge-live-${tag}-${k}.txt`;
    const body = Buffer.alloc(2048, `${name}\n`);
    const t0 = performance.now();
    writeFileSync(join(src, name), body);
    let at = 0;
    for (const d of [p.local, p.remote]) at = await pollUntil(() => sizeIs(join(d, name), body.length), 120_000, `${tag} live ${name} on ${d}`, 2);
    out.push(at - t0);
    await sleep(300);
  }
  return out;
}

async function watchPoint(ctx: Ctx, set: DataSet, manifest: string, tp: Pair): Promise<{ mb: number; readyMs: number; auditMs: number; live: number[] }> {
  const { d, readyMs } = await startWatch(manifest, 3 * 60 * 60_000);
  ctx.log(`  tsync watch ready in ${(readyMs / 1000).toFixed(1)} s`);
  try {
    const auditMs = await firstAudit(d);
    const live = await liveSamples(set.src, tp, "tsync", 10);
    ctx.log(`  quick audit ${(auditMs / 1000).toFixed(1)} s; live p50 ${quantile(live, 0.5).toFixed(0)} ms`);
    return { mb: peakRssMb(d.child.pid!), readyMs, auditMs, live };
  } finally {
    await d.stop();
  }
}

/** The duration the daemon logs for its first scheduled quick audit. */
async function firstAudit(d: Daemon): Promise<number> {
  const re = /audit quick: [^\n]* in (\d+) ms/;
  await d.waitFor(re, 60 * 60_000);
  return Number(re.exec(d.output())![1]);
}

async function lsyncdPoint(ctx: Ctx, set: DataSet, lp: Pair): Promise<{ mb: number; readyMs: number; live: number[] }> {
  const t0 = performance.now();
  const d = await startLsyncd(writeLsyncdConfig(ctx.w, `${set.name}-huge`, set.src, [lp.local, `${ctx.w.hostNames[0]}:${lp.remote}`], true), 2, 3 * 60 * 60_000);
  const readyMs = performance.now() - t0;
  ctx.log(`  lsyncd startup done in ${(readyMs / 1000).toFixed(1)} s`);
  try {
    const live = await liveSamples(set.src, lp, "lsyncd", 10);
    return { mb: peakRssMb(d.child.pid!), readyMs, live };
  } finally {
    await d.stop();
  }
}

async function hugePoint(ctx: Ctx, files: number, sets: DataSet[]): Promise<Point> {
  const { w, cfg } = ctx;
  ctx.log(`huge: generating ${files} files`);
  const set = makeScale(w.dir, files);
  sets.push(set);
  const tp = pairFor(w, set.name, "tsync");
  const lp = pairFor(w, set.name, "lsyncd");
  const manifest = writeHugeManifest(w, `${set.name}-huge`, set.src, tp);
  try {
    const apply = await measured(CLI, ["apply", "--yes", "-q", "-f", manifest], `tsync apply ${set.name}`);
    const fill = await rsyncPair(w, set.src, lp, ["-a", "--delete"], `rsync fill ${set.name}`);
    ctx.log(`  initial: tsync apply ${(apply.ms / 1000).toFixed(1)} s / ${apply.mb.toFixed(0)} MB; rsync -a pair ${(fill.ms / 1000).toFixed(1)} s`);
    // Independent check that tsync's apply converged: rsync's own itemized dry run finds nothing to do.
    const check = await rsyncPair(w, set.src, tp, ["-a", "--delete", "-n", "-i"], `rsync check ${set.name}`);
    if (check.stdout.trim() !== "") throw new Error(`after tsync apply, rsync -ani still sees changes on ${set.name}:\n${check.stdout.split("\n").slice(0, 10).join("\n")}`);

    const planArgs = ["plan", "--detailed-exitcode", "-f", manifest];
    const mbs: number[] = [];
    const reps = files >= 1_000_000 ? 1 : cfg.repsCheap;
    const s = await alternate(
      reps,
      async () => {
        const r = await measured(CLI, planArgs, `tsync plan ${set.name}`);
        if (!/No changes\./.test(r.stdout)) throw new Error(`tsync plan ${set.name} after a verified apply is not clean:\n${r.stdout.slice(-2000)}`);
        mbs.push(r.mb);
        return r.ms;
      },
      async () => (await rsyncPair(w, set.src, tp, ["-a", "--delete", "-n"], `rsync -an ${set.name}`)).ms,
    );
    const rsyncMb = (await rsyncPair(w, set.src, tp, ["-a", "--delete", "-n"], `rsync -an ${set.name}`)).mb;
    const big = files >= 1_000_000;
    const label = `${files} files → 1 local + 1 SSH`;
    const planRow: Row = { work: `no-change plan: ${label}`, unit: "ms", tsync: summarize(s.tsync), anchor: summarize(s.anchor), anchorName: "rsync -an --delete ×2", target: big ? { max: 1.0, label: "≤ 1.0" } : { label: "report" } };
    const planMb = quantile(mbs, 0.5);
    const rssRow: Row = { work: `peak RSS of plan: ${label}`, unit: "MB", tsync: one(planMb), anchor: one(rsyncMb), anchorName: "rsync -an (local side)", judge: planMb, target: big ? { max: 250, label: "≤ 250 MB" } : { label: "report" } };
    ctx.rows.push(planRow, rssRow);
    ctx.log(`  plan ${(planRow.tsync!.median / 1000).toFixed(1)} s / ${planMb.toFixed(0)} MB; rsync -an ${(planRow.anchor!.median / 1000).toFixed(1)} s / ${rsyncMb.toFixed(0)} MB`);

    const tw = await watchPoint(ctx, set, manifest, tp);
    const audit = await rsyncPair(w, set.src, tp, ["-a", "--delete", "-n"], `rsync -an ${set.name}`);
    const lw = await lsyncdPoint(ctx, set, lp);
    const p50 = quantile(tw.live, 0.5);
    ctx.rows.push(
      { work: `peak RSS of watch: ${label}`, unit: "MB", tsync: one(tw.mb), anchor: one(lw.mb), anchorName: "lsyncd", judge: tw.mb, target: big ? { max: 400, label: "≤ 400 MB" } : files >= 100_000 ? { max: 150, label: "≤ 150 MB" } : { label: "report" } },
      { work: `watch ready (initial comparison done): ${label}`, unit: "ms", tsync: one(tw.readyMs), anchor: one(lw.readyMs), anchorName: "lsyncd startup", target: big ? { max: 1.0, label: "≤ 1.0" } : { label: "report" } },
      { work: `quick audit, no drift: ${label}`, unit: "ms", tsync: one(tw.auditMs), anchor: one(audit.ms), anchorName: "rsync -an --delete ×2", target: { max: 1.5, label: "≤ 1.5" } },
      {
        work: `live: one new file on both, p50 of ${tw.live.length}: ${label}`,
        unit: "ms",
        tsync: one(p50),
        anchor: one(quantile(lw.live, 0.5)),
        anchorName: "lsyncd (delay=1)",
        judge: p50,
        target: { max: 250, label: "≤ 250 ms" },
        note: `tsync samples ${tw.live.map((x) => x.toFixed(0)).join(", ")} ms; lsyncd ${lw.live.map((x) => x.toFixed(0)).join(", ")} ms; initial tsync apply ${(apply.ms / 1000).toFixed(1)} s (${apply.mb.toFixed(0)} MB), rsync -a ×2 ${(fill.ms / 1000).toFixed(1)} s`,
      },
    );
    return { files, planMs: planRow.tsync!.median, planMb, watchMb: tw.mb };
  } finally {
    // Free the disk before the next size.
    execFileSync("rm", ["-rf", set.src, tp.local, tp.remote, lp.local, lp.remote]);
  }
}

/** The growth rows between the smallest and the largest size, and the 10M extrapolation. */
function growth(ctx: Ctx, points: readonly Point[]): void {
  if (points.length < 2) return;
  const a = points[0]!;
  const b = points[points.length - 1]!;
  const files = b.files / a.files;
  const limit = { max: files * 1.05, label: `≤ ${(files * 1.05).toFixed(1)}×` };
  const rows: [string, number, number][] = [
    ["plan time", a.planMs, b.planMs],
    ["plan peak RSS", a.planMb, b.planMb],
    ["watch peak RSS", a.watchMb, b.watchMb],
  ];
  for (const [what, x, y] of rows) {
    const g = y / x;
    ctx.rows.push({ work: `${what} growth ${a.files} → ${b.files} files (×${files})`, unit: "x", tsync: one(g), anchorName: "", value: g, target: limit });
  }
  // Power-law fit through the two points: each ×10 in files multiplies cost by the same factor.
  const k = (x: number, y: number) => Math.log(y / x) / Math.log(files);
  const at = (x: number, y: number, n: number) => y * Math.pow(n / b.files, k(x, y));
  const n = 10_000_000;
  ctx.notes.push(
    `10M files, extrapolated from the ${a.files} → ${b.files} growth (cost ∝ files^k): no-change plan ≈ ${(at(a.planMs, b.planMs, n) / 1000).toFixed(0)} s ` +
      `and ${at(a.planMb, b.planMb, n).toFixed(0)} MB (k = ${k(a.planMs, b.planMs).toFixed(2)} / ${k(a.planMb, b.planMb).toFixed(2)}); ` +
      `watch ≈ ${at(a.watchMb, b.watchMb, n).toFixed(0)} MB (k = ${k(a.watchMb, b.watchMb).toFixed(2)}). ` +
      `The tree itself: ${n / 10} directories, so ${n / 10} inotify watches (fs.inotify.max_user_watches must allow it).`,
  );
}

export async function hugeSeries(ctx: Ctx, sets: DataSet[]): Promise<void> {
  const points: Point[] = [];
  for (const n of ctx.cfg.hugeFiles) points.push(await hugePoint(ctx, n, sets));
  growth(ctx, points);
}
