// What every work item receives, and the alternating runner they share.
import type { BenchConfig } from "./config.js";
import type { World } from "./world.js";
import type { Row } from "./stats.js";
import type { ProfileSummary } from "./profile.js";

export interface Ctx {
  readonly w: World;
  readonly cfg: BenchConfig;
  readonly rows: Row[];
  readonly profiles: { title: string; p: ProfileSummary }[];
  readonly notes: string[];
  log(msg: string): void;
}

/**
 * Runs tsync and the anchor alternately, `reps` times each, swapping who goes first every round so
 * warm caches and background noise fall on both sides alike. Returns the samples in ms.
 */
export async function alternate(reps: number, tsyncRun: (rep: number) => Promise<number>, anchorRun: (rep: number) => Promise<number>): Promise<{ tsync: number[]; anchor: number[] }> {
  const t: number[] = [];
  const a: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    if (rep % 2 === 0) {
      t.push(await tsyncRun(rep));
      a.push(await anchorRun(rep));
    } else {
      a.push(await anchorRun(rep));
      t.push(await tsyncRun(rep));
    }
  }
  return { tsync: t, anchor: a };
}
