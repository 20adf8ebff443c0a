// One-shot work items: initial sync, no-change plans, a small change set, the deep audit and the
// plan-time scale series. tsync runs as the CLI child process; each anchor is what a user of rsync
// would run; every converging run is verified with an independent hash listing of every target.
import { appendFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { alternate, type Ctx } from "./context.js";
import type { DataSet } from "./datasets.js";
import { deepFloorAll, rsyncAll, remoteB2sumAll } from "./anchors.js";
import { tsync, expectCode, timed, timedAll, type Ran } from "./procs.js";
import { profileTsync } from "./profile.js";
import { summarize, verdict, type Row } from "./stats.js";
import { forget, verifyTargets } from "./verify.js";
import { targetPaths, writeManifest } from "./world.js";

/** Adds a row; when tsync misses its target, profiles the same tsync command once. */
export async function addRow(ctx: Ctx, row: Row, profileArgs?: readonly string[], okCodes: readonly number[] = [0]): Promise<void> {
  ctx.rows.push(row);
  ctx.log(`  ${row.work}: tsync ${row.tsync?.median.toFixed(0)} ms, anchor ${row.anchor?.median.toFixed(0)} ms → ${verdict(row)}`);
  if (verdict(row) === "MISSED" && ctx.cfg.profile && profileArgs) {
    ctx.log(`  profiling: tsync ${profileArgs.join(" ")}`);
    ctx.profiles.push({ title: row.work, p: await profileTsync(profileArgs, okCodes) });
  }
}

/**
 * A plan right after a verified apply should find nothing. When it does, that is a tsync bug worth
 * reporting, not a reason to lose the rest of the run: the timing stands, the finding goes to the notes.
 */
function expectClean(ctx: Ctx, r: Ran, what: string): Ran {
  expectCode(r, what, [0, 2]);
  if (r.code === 2 || !/No changes\./.test(r.stdout)) {
    const summary = r.stdout.trim().split("\n").pop() ?? "";
    const first = r.stdout.split("\n").find((l) => /^\s+[~+-]/.test(l))?.trim() ?? "";
    const note = `${what}: plan after a verified apply was not clean — "${summary}" (first change: \`${first}\`)`;
    if (!ctx.notes.includes(note)) ctx.notes.push(note), ctx.log(`  NOTE ${note}`);
  }
  return r;
}

export interface Placed {
  readonly set: DataSet;
  readonly manifest: string;
  readonly tsyncTargets: readonly string[];
  readonly rsyncTargets: readonly string[];
}

export function place(ctx: Ctx, set: DataSet): Placed {
  const tsyncTargets = targetPaths(ctx.w, set.name, "tsync");
  return {
    set,
    tsyncTargets,
    rsyncTargets: targetPaths(ctx.w, set.name, "rsync"),
    manifest: writeManifest(ctx.w, { name: set.name, source: set.src, targets: tsyncTargets }),
  };
}

const wipe = (ts: readonly string[]) => ts.forEach((t) => rmSync(t, { recursive: true, force: true }));

async function tsyncApply(p: Placed): Promise<number> {
  const r = expectCode(await tsync(["apply", "--yes", "-q", "-f", p.manifest]), `tsync apply ${p.set.name}`);
  await verifyTargets(`tsync apply ${p.set.name}`, p.set.src, p.tsyncTargets);
  return r.ms;
}

async function rsyncApply(ctx: Ctx, p: Placed): Promise<number> {
  const ms = await rsyncAll(ctx.w, p.set.src, p.rsyncTargets, ["-a", "--delete"]);
  await verifyTargets(`rsync ${p.set.name}`, p.set.src, p.rsyncTargets);
  return ms;
}

/** `cp -a` of the source into every dir at once, on this machine, no tool and no network; returns ms. */
function copyAll(src: string, dirs: readonly string[]): Promise<number> {
  return timedAll(dirs.map((d) => ["cp", ["-a", "--", src, d]] as const), "cp -a");
}

export async function initialSync(ctx: Ctx, p: Placed): Promise<void> {
  ctx.log(`initial sync → 4 targets: ${p.set.describe}`);
  // The floor: the 4 targets' files created by this machine's kernel alone. All targets share its
  // filesystem (a fleet spreads that over its hosts), and every tool pays it; run after each anchor.
  const copies = targetPaths(ctx.w, p.set.name, "cp");
  const floor: number[] = [];
  const s = await alternate(
    ctx.cfg.reps,
    () => (wipe(p.tsyncTargets), tsyncApply(p)),
    async () => {
      wipe(p.rsyncTargets);
      const ms = await rsyncApply(ctx, p);
      wipe(copies);
      floor.push(await copyAll(p.set.src, copies));
      return ms;
    },
  );
  wipe(copies);
  const row: Row = { work: `initial sync → 4 targets: ${p.set.name}`, unit: "ms", tsync: summarize(s.tsync), anchor: summarize(s.anchor), anchorName: "rsync -a --delete ×4", target: { max: 0.7, label: "≤ 0.7" } };
  const f = summarize(floor);
  ctx.rows.push({
    work: `initial sync vs the file-creation floor: ${p.set.name}`,
    unit: "ms",
    tsync: summarize(s.tsync),
    anchor: f,
    anchorName: `cp -a ×4 on this machine (no SSH); the floor is ${(f.median / row.anchor!.median).toFixed(2)}× rsync`,
    target: { label: "report" },
  });
  // A miss is profiled from empty targets, as measured; the profiled run leaves them in sync again.
  if (verdict(row) === "MISSED" && ctx.cfg.profile) wipe(p.tsyncTargets);
  await addRow(ctx, row, ["apply", "--yes", "-q", "-f", p.manifest]);
}

export async function noChangePlan(ctx: Ctx, p: Placed, deep: boolean): Promise<void> {
  const args = ["plan", "--detailed-exitcode", ...(deep ? ["--deep"] : []), "-f", p.manifest];
  ctx.log(`no-change ${deep ? "deep " : ""}plan: ${p.set.name}`);
  // A deep plan's floor (anchors.ts deepFloorAll) runs after each rsync, as the initial sync's does.
  const floor: number[] = [];
  const s = await alternate(
    ctx.cfg.repsCheap,
    async () => expectClean(ctx, await tsync(args), `tsync plan${deep ? " --deep" : ""} ${p.set.name}`).ms,
    async () => {
      const ms = await rsyncAll(ctx.w, p.set.src, p.rsyncTargets, deep ? ["-ac", "--delete", "--dry-run"] : ["-a", "--delete", "--dry-run"]);
      if (deep) floor.push(await deepFloorAll(ctx.w, p.set.src, p.tsyncTargets));
      return ms;
    },
  );
  const [tsyncMs, anchorMs] = [summarize(s.tsync), summarize(s.anchor)];
  if (deep) {
    const f = summarize(floor);
    ctx.rows.push({
      work: `no-change deep plan vs its floor: ${p.set.name}`,
      unit: "ms",
      tsync: tsyncMs,
      anchor: f,
      anchorName: `local find + ${p.tsyncTargets.length} ssh (find & find | xargs b2sum), in parallel; the floor is ${(f.median / anchorMs.median).toFixed(2)}× rsync -acn`,
      target: { label: "report" },
    });
  }
  const row: Row = deep
    ? { work: `no-change deep plan: ${p.set.name}`, unit: "ms", tsync: tsyncMs, anchor: anchorMs, anchorName: "rsync -ac --delete -n ×4", target: { max: 1.0, label: "≤ 1.0" } }
    : { work: `no-change plan: ${p.set.name}`, unit: "ms", tsync: tsyncMs, anchor: anchorMs, anchorName: "rsync -a --delete -n ×4", target: { max: 1.0, label: "≤ 1.0" } };
  await addRow(ctx, row, args, [0, 2]);
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.push(r);
    }
  };
  walk("");
  return out.sort();
}

/** 10 changed, 10 added, 10 deleted: a distinct, deterministic choice of files every round. */
function mutate(src: string, files: readonly string[], round: number): void {
  const stride = Math.max(1, Math.floor(files.length / 64));
  const pick = (k: number) => files[((round * 20 + k) * stride + round) % files.length]!;
  for (let k = 0; k < 10; k++) appendFileSync(join(src, pick(k)), `changed in round ${round}\n`);
  for (let k = 10; k < 20; k++) rmSync(join(src, pick(k)), { force: true });
  for (let k = 0; k < 10; k++) {
    const f = join(src, dirname(pick(k)), `added-r${round}-${k}.txt`);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, `added in round ${round} #${k}\n`.repeat(100));
  }
}

export async function smallChange(ctx: Ctx, p: Placed): Promise<void> {
  ctx.log(`10 changed + 10 added + 10 deleted: ${p.set.name}`);
  const files = listFiles(p.set.src);
  const t: number[] = [];
  const a: number[] = [];
  let profileNext = false;
  for (let round = 0; round < ctx.cfg.repsCheap; round++) {
    mutate(p.set.src, files, round);
    forget(p.set.src);
    // Both tools converge their own targets to the same new source; who goes first alternates.
    if (round % 2 === 0) {
      t.push(await tsyncApply(p));
      a.push(await rsyncApply(ctx, p));
    } else {
      a.push(await rsyncApply(ctx, p));
      t.push(await tsyncApply(p));
    }
    profileNext = true;
  }
  const row: Row = { work: `10 changed + 10 added + 10 deleted: ${p.set.name}`, unit: "ms", tsync: summarize(t), anchor: summarize(a), anchorName: "rsync -a --delete ×4", target: { max: 0.8, label: "≤ 0.8" } };
  ctx.rows.push(row);
  ctx.log(`  ${row.work}: tsync ${row.tsync!.median.toFixed(0)} ms, anchor ${row.anchor!.median.toFixed(0)} ms → ${verdict(row)}`);
  if (verdict(row) === "MISSED" && ctx.cfg.profile && profileNext) {
    mutate(p.set.src, files, 1000);
    forget(p.set.src);
    ctx.profiles.push({ title: row.work, p: await profileTsync(["apply", "--yes", "-q", "-f", p.manifest]) });
    await rsyncApply(ctx, p);
  }
}

export async function deepAudit(ctx: Ctx, p: Placed): Promise<void> {
  ctx.log(`deep audit: ${p.set.name}`);
  const args = ["plan", "--deep", "--detailed-exitcode", "-f", p.manifest];
  const s = await alternate(
    ctx.cfg.reps,
    async () => expectClean(ctx, await tsync(args), `tsync plan --deep ${p.set.name}`).ms,
    () => remoteB2sumAll(ctx.w, p.tsyncTargets),
  );
  await addRow(ctx, { work: `deep audit of ${p.set.files} files on 4 targets`, unit: "ms", tsync: summarize(s.tsync), anchor: summarize(s.anchor), anchorName: "ssh find | xargs b2sum ×4", target: { max: 1.2, label: "≤ 1.2" } }, args, [0, 2]);
}

/** One size of the scale series: tsync's initial apply (verified), then no-change plans vs rsync -n on the same targets. */
export async function scalePoint(ctx: Ctx, p: Placed): Promise<{ tsync: number; anchor: number }> {
  ctx.log(`scale: ${p.set.describe}`);
  const applyMs = await tsyncApply(p);
  const reps = p.set.files >= 1_000_000 ? 1 : ctx.cfg.repsCheap;
  const args = ["plan", "--detailed-exitcode", "-f", p.manifest];
  const s = await alternate(
    reps,
    async () => expectClean(ctx, await tsync(args), `tsync plan ${p.set.name}`).ms,
    () => rsyncAll(ctx.w, p.set.src, p.tsyncTargets, ["-a", "--delete", "--dry-run", "--exclude=/.tsync-tmp"]),
  );
  const row: Row = { work: `no-change plan: ${p.set.name}`, unit: "ms", tsync: summarize(s.tsync), anchor: summarize(s.anchor), anchorName: "rsync -a --delete -n ×4", target: { label: "report" }, note: `initial tsync apply ${(applyMs / 1000).toFixed(1)} s` };
  ctx.rows.push(row);
  ctx.log(`  ${row.work}: tsync ${row.tsync!.median.toFixed(0)} ms, anchor ${row.anchor!.median.toFixed(0)} ms (apply ${applyMs.toFixed(0)} ms)`);
  return { tsync: row.tsync!.median, anchor: row.anchor!.median };
}

/** `tsync validate` of the seed's manifest, against Node's own start-up (`node -e 0`). */
export async function validateSeed(ctx: Ctx): Promise<void> {
  const seed = fileURLToPath(new URL("../../fixtures/seed/tsync.yaml", import.meta.url));
  ctx.log("tsync validate: the seed manifest");
  const s = await alternate(
    ctx.cfg.repsCheap,
    async () => expectCode(await tsync(["validate", "-f", seed]), "tsync validate").ms,
    async () => expectCode(await timed(process.execPath, ["-e", "0"]), "node -e 0").ms,
  );
  const row: Row = { work: "tsync validate of the seed manifest (wall)", unit: "ms", tsync: summarize(s.tsync), anchor: summarize(s.anchor), anchorName: "node -e 0 (Node's start-up alone)", judge: summarize(s.tsync).median, target: { max: 120, label: "≤ 120 ms" } };
  await addRow(ctx, row, ["validate", "-f", seed]);
}
