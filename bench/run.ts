// `npm run bench [-- --quick | --huge]`: tsync against rsync and lsyncd on the same data, in one run,
// alternating, repeated; prints `work | tsync | anchor | ratio | target` and writes bench/RESULTS.md.
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { parseConfig } from "./config.js";
import type { Ctx } from "./context.js";
import { makeBig, makeMixed, makeScale, makeSmall, makeWordpress, type DataSet } from "./datasets.js";
import { deepAudit, initialSync, noChangePlan, place, scalePoint, smallChange, validateSeed, type Placed } from "./items-batch.js";
import { liveItems, rssItem } from "./items-live.js";
import { hugeSeries } from "./items-huge.js";
import { listingFloor, manyTargets, sharedHost } from "./items-oneshot.js";
import { environment, writeHugeSection, writeResults } from "./report.js";
import { renderTextTable } from "./stats.js";
import { expectCode, tsync } from "./procs.js";
import { rsyncAll } from "./anchors.js";
import { ensureTools, startWorld } from "./world.js";

const cfg = parseConfig(process.argv.slice(2));
const want = (item: string) => cfg.only === undefined || cfg.only.includes(item);
const t0 = performance.now();
const log = (msg: string) => process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);

ensureTools(cfg.mode === "huge");
const env = environment();
const w = await startWorld();
const ctx: Ctx = { w, cfg, rows: [], profiles: [], notes: [], log };
const sets: DataSet[] = [];
let ok = false;
try {
  if (cfg.mode === "huge") {
    log(`mode huge (${cfg.hugeFiles.join(", ")} files); world in ${w.dir}`);
    await hugeSeries(ctx, sets);
  } else await standard(sets);
  ok = true;
} catch (e) {
  log(`FAILED: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
} finally {
  await w.close(cfg.keep || !ok);
}

const command = `npm run bench${process.argv.length > 2 ? " -- " + process.argv.slice(2).join(" ") : ""}`;
process.stdout.write("\n" + renderTextTable(ctx.rows) + "\n");
if (ctx.rows.length > 0) {
  const out = resolve(new URL("../..", import.meta.url).pathname, cfg.out);
  (cfg.mode === "huge" ? writeHugeSection : writeResults)(out, ctx, env, command, sets, performance.now() - t0);
  log(`wrote ${out}${ok ? "" : " (partial: the run failed)"}`);
}

/** The quick and full runs: WordPress, many small files, one big file, the scale series. */
async function standard(sets: DataSet[]): Promise<void> {
  log(`mode ${cfg.mode}; world in ${w.dir}; generating data sets`);
  const wp = place(ctx, await makeWordpress(w.dir));
  const small = place(ctx, makeSmall(w.dir, cfg.small));
  const big = place(ctx, makeBig(w.dir, cfg.bigBytes));
  sets.push(wp.set, small.set, big.set);

  // Initial sync also leaves every target in sync for the items after it.
  for (const p of [wp, small, big]) await (want("initial") ? initialSync(ctx, p) : prime(ctx, p));
  if (want("plan")) for (const p of [wp, small]) await noChangePlan(ctx, p, false);
  if (want("floor")) for (const p of [wp, small]) await listingFloor(ctx, p.set, p.tsyncTargets, p.manifest);
  // Not first: right after the data sets are written the kernel's writeback shares the cores (at
  // 52bd479 validate took 0.18 s of wall for 0.08 s of CPU there).
  if (want("validate")) await validateSeed(ctx);
  if (want("deep")) for (const p of [wp, small]) await noChangePlan(ctx, p, true);
  if (want("changes")) await smallChange(ctx, small);
  if (want("audit")) await deepAudit(ctx, small);
  if (want("live") || want("burst")) await liveItems(ctx, wp, { latency: want("live"), burst: want("burst") });
  if (want("rss")) await rssItem(ctx, small, small.rsyncTargets);
  if (want("shared")) {
    const mixed = makeMixed(w.dir, 3000);
    sets.push(mixed);
    await sharedHost(ctx, mixed);
  }
  if (want("many")) await manyTargets(ctx, wp.set);

  if (want("scale") || (want("rss") && cfg.rssScale.length > 0)) {
    const points: { files: number; tsync: number; anchor: number }[] = [];
    for (const n of cfg.scale) {
      log(`generating ${n} files`);
      const p = place(ctx, makeScale(w.dir, n));
      sets.push(p.set);
      points.push({ files: n, ...(await scalePoint(ctx, p)) });
      if (want("rss") && cfg.rssScale.includes(n)) await rssItem(ctx, p, p.tsyncTargets);
      // The big series is only needed for this point: free the disk before the next one.
      execFileSync("rm", ["-rf", p.set.src, ...p.tsyncTargets]);
    }
    const first = points[0]!;
    const last = points[points.length - 1]!;
    const files = last.files / first.files;
    const growth = last.tsync / first.tsync;
    ctx.rows.push({
      work: `plan time growth ${first.files} → ${last.files} files (×${files})`,
      unit: "x",
      tsync: { n: 1, median: growth, min: growth, max: growth },
      anchor: { n: 1, median: last.anchor / first.anchor, min: last.anchor / first.anchor, max: last.anchor / first.anchor },
      anchorName: "rsync -n growth",
      value: growth,
      target: { max: files * 1.1, label: `≤ ${(files * 1.1).toFixed(0)}×` },
    });
  }
}

/** Without the initial-sync item, targets still have to start in sync. */
async function prime(c: Ctx, p: Placed): Promise<void> {
  expectCode(await tsync(["apply", "--yes", "-q", "-f", p.manifest]), `prime ${p.set.name}`);
  await rsyncAll(c.w, p.set.src, p.rsyncTargets, ["-a", "--delete"]);
}
