// `tsync import lsyncd FILE.lua`: evaluate the config in a sandboxed Lua VM, map what it recorded to a
// manifest, render commented YAML. The CLI prints `yaml`, lists `warnings` (--strict: exit 1 on any)
// and exits 1 on `errors` (a Lua error, nothing translatable, or a manifest tsync's validation refuses).

import { evaluateLsyncd, type EvalLimits } from "./lsyncd-eval.js";
import { mapRecorded } from "./lsyncd-map.js";
import { renderManifest } from "./lsyncd-render.js";
import { parseManifest } from "../manifest/load.js";
import { formatDiagnostic } from "../model/diagnostics.js";

export interface ImportResult {
  yaml?: string;
  /** "lsyncd.conf:12: unknown option 'foo' ignored" */
  warnings: string[];
  errors: string[];
}

export interface ImportOptions {
  /** address → host name; others are named node-1, node-2 ... in first-seen order. */
  names?: Record<string, string>;
  limits?: Partial<EvalLimits>;
}

export async function importLsyncd(luaSource: string, file: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const evaluated = await evaluateLsyncd(luaSource, file, opts.limits);
  if (!evaluated.ok) return { warnings: [], errors: [evaluated.error] };
  const { draft, warnings } = mapRecorded(evaluated.recorded, file, luaSource, opts.names);
  if (draft.syncs.length === 0) return { warnings, errors: [`${file}: no sync{} could be translated`] };
  const yaml = renderManifest(draft, file);
  // lsyncd accepts what tsync refuses (two syncs writing one target path): say so instead of emitting it silently.
  const diagnostics = parseManifest(yaml, "imported.yaml").diagnostics;
  const errors = diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic);
  return { yaml, warnings: [...warnings, ...diagnostics.filter((d) => d.severity === "warning").map(formatDiagnostic)], errors };
}
