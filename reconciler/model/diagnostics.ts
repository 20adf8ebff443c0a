// Positioned findings about user input. Loading collects all of them instead of stopping at the first.

export interface Position {
  readonly line: number; // 1-based
  readonly col: number; // 1-based
  readonly offset: number; // 0-based, in characters of the source
}

export interface Diagnostic {
  readonly severity: "error" | "warning";
  /** Stable, machine-readable: "schema", "unknown-host", "duplicate-key", ... */
  readonly code: string;
  readonly message: string;
  /** Dotted key path in the manifest ("syncs.site.delay"); "" for the whole document. */
  readonly path: string;
  readonly file: string;
  readonly start?: Position;
  readonly end?: Position;
}

/** `tsync.yaml:12:7: syncs.site.delay: must be a duration like "1s"` */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.start ? `${d.file}:${d.start.line}:${d.start.col}` : d.file;
  const severity = d.severity === "warning" ? "warning: " : "";
  return d.path ? `${where}: ${severity}${d.path}: ${d.message}` : `${where}: ${severity}${d.message}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}
