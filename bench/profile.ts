// Where a tsync run spends its time: runs the CLI once under `node --cpu-prof` and folds the V8 profile
// into self time per function (main thread only; hash workers write their own profiles, folded too).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { tsync, expectCode } from "./procs.js";

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Hot {
  readonly fn: string;
  readonly selfMs: number;
  readonly pct: number;
}

export interface ProfileSummary {
  readonly wallMs: number;
  readonly sampledMs: number;
  readonly top: readonly Hot[];
  readonly files: number;
}

const ROOT = new URL("../..", import.meta.url).pathname;

function label(n: CpuNode): string {
  const f = n.callFrame;
  const name = f.functionName || "(anonymous)";
  if (f.url === "") return name;
  let where = f.url.replace(/^file:\/\//, "");
  where = where.startsWith(ROOT) ? relative(ROOT, where) : where.replace(/^.*node_modules\//, "node_modules/");
  return `${name} ${where}:${f.lineNumber + 1}`;
}

/** Self time per function label, in ms, summed over profiles. */
export function foldProfiles(profiles: readonly CpuProfile[]): { self: Map<string, number>; total: number } {
  const self = new Map<string, number>();
  let total = 0;
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    p.samples.forEach((id, i) => {
      const ms = (p.timeDeltas[i] ?? 0) / 1000;
      const n = byId.get(id);
      if (n === undefined) return;
      const key = label(n);
      self.set(key, (self.get(key) ?? 0) + ms);
      total += ms;
    });
  }
  return { self, total };
}

/** Runs `tsync args` under the profiler and returns the top functions by self time. */
export async function profileTsync(args: readonly string[], okCodes: readonly number[] = [0], top = 12): Promise<ProfileSummary> {
  const dir = mkdtempSync("/tmp/tsync-prof-");
  try {
    const r = expectCode(await tsync(args, ["--cpu-prof", `--cpu-prof-dir=${dir}`]), `profiled tsync ${args[0]}`, okCodes);
    const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
    const profiles = files.map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile);
    const { self, total } = foldProfiles(profiles);
    const hot = [...self.entries()]
      .filter(([k]) => k !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, ms]) => ({ fn, selfMs: ms, pct: total > 0 ? (100 * ms) / total : 0 }));
    const idle = self.get("(idle)") ?? 0;
    return { wallMs: r.ms, sampledMs: total - idle, top: [{ fn: "(idle: waiting on IO/children)", selfMs: idle, pct: total > 0 ? (100 * idle) / total : 0 }, ...hot], files: files.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function renderProfile(title: string, p: ProfileSummary): string {
  const lines = [`#### ${title}`, "", `wall ${(p.wallMs / 1000).toFixed(2)} s, CPU sampled ${(p.sampledMs / 1000).toFixed(2)} s over ${p.files} profile(s) (main thread + workers)`, "", "| self ms | % of samples | function |", "|---:|---:|---|"];
  for (const h of p.top) lines.push(`| ${h.selfMs.toFixed(0)} | ${h.pct.toFixed(1)} | \`${h.fn.replace(/\|/g, "\\|")}\` |`);
  return lines.join("\n");
}
