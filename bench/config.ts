// Bench modes: --quick (< 2 min, small data), the default full run (< 20 min), and --huge: issue 12's
// large-site rows alone (100k and 1M files; ~1 h), written into their own section of RESULTS.md.
import { parseArgs } from "node:util";

export interface BenchConfig {
  readonly mode: "quick" | "full" | "huge";
  /** File counts of the --huge series (`--huge-files 20000,200000` for a trial run). */
  readonly hugeFiles: readonly number[];
  /** Repetitions of each alternated tsync/anchor pair; cheap items get `repsCheap`. */
  readonly reps: number;
  readonly repsCheap: number;
  readonly liveSamples: number;
  readonly burstFiles: number;
  readonly burstReps: number;
  readonly small: { readonly files: number; readonly dirs: number; readonly size: number };
  readonly bigBytes: number;
  /** File counts of the scale series (plan growth); the first and last give the growth factor. */
  readonly scale: readonly number[];
  /** Scale sizes (besides the small set) at which watch's peak RSS is measured. */
  readonly rssScale: readonly number[];
  /** Profile tsync once for every missed row (default in the full run; `--profile` in quick). */
  readonly profile: boolean;
  readonly keep: boolean;
  readonly out: string;
  readonly only?: readonly string[];
}

const USAGE = `usage: npm run bench -- [--quick | --huge [--huge-files N,N]] [--reps N] [--profile | --no-profile] [--keep] [--out FILE] [--only item,...]
items: validate, initial, plan, floor, deep, changes, audit, live, burst, rss, shared, many, scale`;

export function parseConfig(argv: readonly string[]): BenchConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: "boolean", default: false },
      huge: { type: "boolean", default: false },
      "huge-files": { type: "string" },
      reps: { type: "string" },
      profile: { type: "boolean" },
      "no-profile": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      out: { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    process.exit(0);
  }
  const quick = values.quick === true;
  const huge = values.huge === true;
  if (quick && huge) throw new Error("--quick and --huge: pick one");
  const hugeFiles = (values["huge-files"] ?? "100000,1000000").split(",").map(Number);
  if (hugeFiles.some((n) => !Number.isInteger(n) || n < 1000)) throw new Error(`--huge-files: file counts ≥ 1000, not ${values["huge-files"]}`);
  const reps = values.reps !== undefined ? Number(values.reps) : quick ? 1 : 3;
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: a positive integer, not ${values.reps}`);
  const out = values.out ?? (quick ? "bench/RESULTS.quick.md" : "bench/RESULTS.md");
  const base = { hugeFiles, reps, profile: values["no-profile"] ? false : (values.profile ?? !quick), keep: values.keep === true, out, ...(values.only ? { only: values.only.split(",") } : {}) };
  if (quick)
    return {
      ...base,
      mode: "quick",
      repsCheap: Math.max(reps, 3),
      liveSamples: 6,
      burstFiles: 1000,
      burstReps: reps,
      small: { files: 5000, dirs: 500, size: 4096 },
      bigBytes: 64 << 20,
      scale: [500, 5000],
      rssScale: [],
    };
  return {
    ...base,
    mode: huge ? "huge" : "full",
    repsCheap: Math.max(reps, 5),
    liveSamples: 20,
    burstFiles: 1000,
    burstReps: reps,
    small: { files: 20_000, dirs: 2000, size: 4096 },
    bigBytes: 512 << 20,
    scale: [10_000, 100_000],
    rssScale: [100_000],
  };
}
