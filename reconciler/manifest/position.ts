// Turning a key path in the parsed document into a positioned Diagnostic. Offsets are the truth; line/col
// come late from the LineCounter (eemeli/yaml's own approach).

import { isMap, isScalar, isSeq, isAlias, type Document, type LineCounter, type Node } from "yaml";
import type { Diagnostic, Position } from "../model/diagnostics.js";

export type Seg = string | number;

export interface SourceDoc {
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
}

const PLAIN_KEY = /^[A-Za-z0-9_$][A-Za-z0-9_$-]*$/;

/** ["syncs","site","delay"] → "syncs.site.delay"; indexes as [0]; odd keys quoted: locations["~ /wp-admin/"]. */
export function formatKeyPath(segs: readonly Seg[]): string {
  let out = "";
  for (const s of segs) {
    if (typeof s === "number") out += `[${s}]`;
    else if (PLAIN_KEY.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

export function positionAt(lc: LineCounter, offset: number): Position {
  const { line, col } = lc.linePos(offset);
  return { line, col, offset };
}

/**
 * The source range of the node at `segs` (of its key when `key`), or of the deepest ancestor that exists,
 * so that a diagnostic about a missing or oddly written value still lands near it.
 */
export function locate(src: SourceDoc, segs: readonly Seg[], key = false): [number, number] | undefined {
  let node: unknown = src.doc.contents;
  let best: [number, number] | undefined = rangeOf(node);
  let keyRange: [number, number] | undefined;
  for (const seg of segs) {
    if (isAlias(node)) node = node.resolve(src.doc);
    keyRange = undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      keyRange = rangeOf(pair.key);
      node = pair.value;
      // `key:` with nothing after it: the empty value sits at the end of the line; the key is clearer.
      const empty = isScalar(node) && node.value === null && node.range?.[0] === node.range?.[1];
      best = (empty ? undefined : rangeOf(node)) ?? keyRange ?? best;
    } else if (isSeq(node) && typeof seg === "number") {
      node = node.items[seg];
      best = rangeOf(node) ?? best;
    } else {
      return best;
    }
  }
  return key && keyRange ? keyRange : best;
}

function rangeOf(node: unknown): [number, number] | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? [range[0], range[1]] : undefined;
}

export interface DiagnosticOptions {
  /** Point at the key rather than its value (unknown keys, bad names). */
  readonly key?: boolean;
  readonly severity?: "error" | "warning";
}

export function diagnosticAt(src: SourceDoc, code: string, segs: readonly Seg[], message: string, opts: DiagnosticOptions = {}): Diagnostic {
  const range = locate(src, segs, opts.key);
  return {
    severity: opts.severity ?? "error",
    code,
    message,
    path: formatKeyPath(segs),
    file: src.file,
    ...(range ? { start: positionAt(src.lineCounter, range[0]), end: positionAt(src.lineCounter, range[1]) } : {}),
  };
}

/** Diagnostics in reading order; whole-file ones (no position) first. Stable for equal positions. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => (a.start?.offset ?? -1) - (b.start?.offset ?? -1));
}

/** The closest candidate by edit distance, when close enough to be a plausible typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return best !== undefined && bestDist <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

// Optimal string alignment: a swapped pair of letters ("delya") counts as one edit.
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
