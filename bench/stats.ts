// Pure arithmetic and formatting for benchmark samples: medians, ranges, ratios and the verdict
// against a target. No IO, so the table logic can be checked by eye and reused by the report.

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  // Linear interpolation between closest ranks (the common "type 7" definition).
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  return { n: samples.length, median: quantile(samples, 0.5), min: Math.min(...samples), max: Math.max(...samples) };
}

export type Unit = "ms" | "MB" | "x";

export function fmtValue(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return "—";
  if (unit === "MB") return `${v.toFixed(v < 10 ? 1 : 0)} MB`;
  if (unit === "x") return `${v.toFixed(2)}×`;
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v.toFixed(v < 10 ? 1 : 0)} ms`;
}

/** "1.23 s (1.10–1.40)" for several samples; just the value for one. */
export function fmtSummary(s: Summary | undefined, unit: Unit): string {
  if (s === undefined || s.n === 0) return "—";
  if (s.n === 1 || s.min === s.max) return fmtValue(s.median, unit);
  return `${fmtValue(s.median, unit)} (${fmtValue(s.min, unit)}–${fmtValue(s.max, unit)})`;
}

/** A target like "≤ 0.8" (ratio), "≤ 250 MB" or "report". */
export interface Target {
  readonly max?: number;
  readonly label: string;
}

export interface Row {
  readonly work: string;
  readonly unit: Unit;
  readonly tsync?: Summary;
  readonly anchor?: Summary;
  readonly anchorName: string;
  /** Overrides the median ratio (e.g. a growth factor that has no anchor). */
  readonly value?: number;
  readonly target: Target;
  /** What the target judges when it is not the ratio (e.g. tsync's own MB against "≤ 250 MB"). */
  readonly judge?: number;
  readonly note?: string;
}

export function ratioOf(row: Row): number {
  if (row.value !== undefined) return row.value;
  if (row.tsync === undefined || row.anchor === undefined || row.anchor.median === 0) return NaN;
  return row.tsync.median / row.anchor.median;
}

export type Verdict = "met" | "MISSED" | "report";

export function verdict(row: Row): Verdict {
  if (row.target.max === undefined) return "report";
  const v = row.judge ?? ratioOf(row);
  if (!Number.isFinite(v)) return "MISSED";
  return v <= row.target.max ? "met" : "MISSED";
}

export function renderRow(row: Row): string[] {
  const r = ratioOf(row);
  return [
    row.work,
    fmtSummary(row.tsync, row.unit),
    row.anchor ? `${fmtSummary(row.anchor, row.unit)} ${row.anchorName}`.trim() : row.anchorName,
    Number.isFinite(r) ? r.toFixed(2) : "—",
    `${row.target.label} ${verdict(row)}`,
  ];
}

export const HEADER = ["work", "tsync", "anchor", "ratio", "target"];

export function renderMarkdownTable(rows: readonly Row[]): string {
  const lines = [`| ${HEADER.join(" | ")} |`, `|${HEADER.map(() => "---").join("|")}|`];
  for (const row of rows) lines.push(`| ${renderRow(row).map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`);
  return lines.join("\n");
}

/** Fixed-width text for the terminal. */
export function renderTextTable(rows: readonly Row[]): string {
  const cells = [HEADER, ...rows.map(renderRow)];
  const widths = HEADER.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((x, i) => x.padEnd(widths[i]!)).join(" | ").trimEnd()).join("\n");
}
