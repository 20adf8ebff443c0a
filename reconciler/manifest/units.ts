// The manifest's small value languages: durations ("500ms", "1s", "2m", "1h") and limits ("25%", "1000").
// Both return undefined for anything else, so callers turn a bad value into a positioned diagnostic.

import type { Limit } from "../model/manifest.js";

const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, rounded to whole ms; undefined unless `s` is a number with a unit ms|s|m|h. */
export function parseDuration(s: string): number | undefined {
  if (typeof s !== "string") return undefined;
  const m = DURATION.exec(s);
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
  // A duration beyond what timers can hold (setTimeout caps at 2^31-1 ms, ~24.8 days) would fire at once.
  return Number.isSafeInteger(ms) && ms <= 2_147_483_647 ? ms : undefined;
}

const COUNT = /^[0-9]+$/;
const PERCENT = /^([0-9]+(?:\.[0-9]+)?)%$/;

/** A non-negative whole count, or a percentage from 0 to 100. */
export function parseLimit(s: string | number): Limit | undefined {
  if (typeof s === "number") return Number.isSafeInteger(s) && s >= 0 ? { kind: "count", value: s } : undefined;
  if (typeof s !== "string") return undefined;
  if (COUNT.test(s)) {
    const value = Number(s);
    return Number.isSafeInteger(value) ? { kind: "count", value } : undefined;
  }
  const m = PERCENT.exec(s);
  if (!m) return undefined;
  const value = Number(m[1]);
  return value <= 100 ? { kind: "percent", value } : undefined;
}
