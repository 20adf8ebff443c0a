// `tsync import lsyncd FILE.lua`: evaluate the config in a sandboxed Lua VM, map what it recorded to a
// manifest, render commented YAML. The CLI prints `yaml`, lists `warnings` (--strict: exit 1 on any)
// and exits 1 on `errors` (a Lua error, nothing translatable, or a manifest tsync's validation refuses).

import { evaluateLsyncd, type EvalLimits } from "./lsyncd-eval.js";
import { mapRecorded, type ManifestDraft } from "./lsyncd-map.js";
import { renderManifest } from "./lsyncd-render.js";
import { parseManifest } from "../manifest/load.js";
import type { Diagnostic } from "../model/diagnostics.js";

export interface ImportResult {
  yaml?: string;
  /** "lsyncd.conf:12: unknown option 'foo' ignored" */
  warnings: string[];
  errors: string[];
}

export interface ImportOptions {
  /** address → host name; others are named node-1, node-2 ... in first-seen order. */
  names?: Record<string, string>;
  /** Absolute directory relative sources and local targets resolve against (lsyncd's working directory). */
  base?: string;
  /** Where the filesystem the config reads is on this machine: "/" (default) or a folder standing for it (tests). */
  fsRoot?: string;
  /** What the config's os.getenv() reads (read-only); absent: every variable is unset. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Reads the files lsyncd reads at startup (excludeFrom, filterFrom); absent: none is read, with a warning. */
  readFile?: (path: string) => string | { error: string };
  limits?: Partial<EvalLimits>;
}

export async function importLsyncd(luaSource: string, file: string, opts: ImportOptions = {}): Promise<ImportResult> {
  // The config may read files below base (lsyncd's working directory), as lsyncd would at startup.
  const files = opts.base !== undefined ? { base: opts.base, root: opts.fsRoot ?? "/" } : undefined;
  const evaluated = await evaluateLsyncd(luaSource, file, opts.limits, opts.env, files);
  if (!evaluated.ok) return { warnings: [], errors: [evaluated.error] };
  const { draft, warnings, skipped } = mapRecorded(evaluated.recorded, file, luaSource, { names: opts.names, base: opts.base, ...(opts.readFile ? { readFile: opts.readFile } : {}) });
  if (draft.syncs.length === 0) {
    // A loop over an environment variable (TARGETS="a,b") calls sync{} as often as the value says.
    const vars = [...new Set(evaluated.recorded.notes.map((n) => /^os\.getenv\('([^']*)'\)/.exec(n.message)?.[1]).filter((v) => v !== undefined))];
    const read = vars.length ? ` (it read ${vars.map((v) => `os.getenv('${v}')`).join(", ")}, which may decide that; pass ${vars.map((v) => `--env ${v}=VALUE`).join(" ")})` : "";
    const none = evaluated.recorded.syncs.length === 0 ? `${file}: the config calls sync{} nowhere, so there is nothing to import${read}` : `${file}: no sync{} could be translated`;
    return { warnings, errors: skipped.length ? skipped : [none] };
  }
  const yaml = renderManifest(draft, file);
  // lsyncd accepts what tsync refuses (two syncs writing one target path): say so, at the lsyncd line
  // that caused it, instead of pointing at a generated file the user has not seen.
  const diagnostics = parseManifest(yaml, "imported.yaml").diagnostics;
  const onLua = (d: Diagnostic) => `${file}${luaLine(draft, d.path)}: ${d.message} (tsync refuses the translation${d.path ? ` at ${d.path}` : ""})`;
  return {
    yaml,
    warnings: [...warnings, ...skipped, ...diagnostics.filter((d) => d.severity === "warning").map(onLua)],
    errors: diagnostics.filter((d) => d.severity === "error").map(onLua),
  };
}

/** ":LINE" of the sync{} behind a manifest key path ("hosts.node-1.address", "syncs.www.targets.0"), or "". */
function luaLine(draft: ManifestDraft, path: string): string {
  const [kind, name, key, index] = path.split(".");
  const sync = kind === "syncs" ? draft.syncs.find((s) => s.name === name) : undefined;
  const line = kind === "hosts" ? draft.hosts.find((h) => h.name === name)?.line : sync?.lines[key === "targets" ? Number(index ?? 0) : 0] ?? sync?.lines[0];
  return line ? `:${line}` : "";
}
