// Where cli/ writes, and how it decides on colour. Machine output (--json) owns stdout alone; human
// messages about the run go to stderr.
import { formatDiagnostic, type Diagnostic } from "../reconciler/model/diagnostics.js";
import { escapeLines } from "../reconciler/model/text.js";

export interface GlobalOptions {
  manifest?: string;
  sync?: string[];
  target?: string[];
  json?: boolean;
  color?: boolean; // commander's --no-color sets this to false
  quiet?: boolean;
  verbose?: boolean;
}

export function useColor(opts: GlobalOptions, stream: NodeJS.WriteStream = process.stdout): boolean {
  if (opts.color === false || process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  return Boolean(stream.isTTY);
}

export function out(text: string): void {
  process.stdout.write(text.endsWith("\n") || text === "" ? text : text + "\n");
}

/** Lines written in ~64 KiB pieces as they come: a plan of a million changes never becomes one string. */
export function outLines(lines: Iterable<string>): void {
  let piece = "";
  for (const l of lines) {
    piece += l + "\n";
    if (piece.length >= 1 << 16) {
      process.stdout.write(piece);
      piece = "";
    }
  }
  if (piece !== "") process.stdout.write(piece);
}

/** Messages may embed remote stderr or a plan file's text: escaped, line structure kept (model/text.ts). */
export function err(text: string): void {
  const safe = escapeLines(text);
  process.stderr.write(safe.endsWith("\n") ? safe : safe + "\n");
}

export function printDiagnostics(diags: readonly Diagnostic[]): void {
  for (const d of diags) err(formatDiagnostic(d));
}

/** Exit codes of SPEC §2. */
export const EXIT = { ok: 0, error: 1, changes: 2 } as const;

/** Thrown by commands to end with a code after printing what they had to say. */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
