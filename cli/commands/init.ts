// tsync init: writes a commented starter tsync.yaml (or, with --from-lsyncd, the import of an lsyncd
// config). It asks nothing, never overwrites a file, and writes nothing that does not validate.
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { parseManifest } from "../../reconciler/manifest/load.js";
import { parseStarterLocation, starterManifest, type StarterLocation } from "../../reconciler/manifest/starter.js";
import { formatDiagnostic, hasErrors } from "../../reconciler/model/diagnostics.js";
import { errorMessage } from "../../reconciler/model/errors.js";
import { packageFile } from "../../reconciler/model/package-files.js";
import { TOOL } from "../../reconciler/model/version.js";
import { err, out, Exit, EXIT, type GlobalOptions } from "../output.js";

export interface InitCommandOptions extends Pick<GlobalOptions, "manifest" | "quiet"> {
  source?: string;
  target?: string[];
  stdout?: boolean;
  fromLsyncd?: string;
}

const SCHEMA = packageFile("schemas/manifest.schema.json");

function location(flag: string, spec: string): StarterLocation {
  const l = parseStarterLocation(spec);
  if (typeof l === "string") {
    err(`${flag} ${spec}: ${l}`);
    throw new Exit(EXIT.error);
  }
  // A local path means what it meant where it was typed, wherever the manifest is written.
  return l.address === undefined && !l.path.startsWith("~") ? { path: resolve(l.path) } : l;
}

export async function initCommand(opts: InitCommandOptions): Promise<void> {
  const file = opts.manifest ?? "tsync.yaml";
  if (!opts.stdout && existsSync(file)) {
    err(`${file} exists; tsync init never overwrites a manifest (remove it, or write elsewhere with -f FILE or --stdout)`);
    throw new Exit(EXIT.error);
  }
  if (opts.fromLsyncd !== undefined) {
    if (opts.source !== undefined || opts.target !== undefined) {
      err("--from-lsyncd takes the sources and targets from the lsyncd config: drop --source and --target");
      throw new Exit(EXIT.error);
    }
    const { importLsyncdCommand } = await import("./import.js");
    return importLsyncdCommand(opts.fromLsyncd, { ...(opts.stdout ? {} : { output: file }), ...(opts.quiet ? { quiet: true } : {}) });
  }
  const text = starterManifest({
    ...(opts.source !== undefined ? { source: location("--source", opts.source) } : {}),
    targets: (opts.target ?? []).map((t) => location("--target", t)),
    schemaPath: SCHEMA,
    tool: TOOL,
  });
  // What is written validates: a flag combination the rules refuse (a target inside the source, two
  // targets nesting) is reported here, as the lines `tsync validate` would print, and nothing is written.
  const { diagnostics } = parseManifest(text, resolve(file));
  if (hasErrors(diagnostics)) {
    for (const d of diagnostics) err(`tsync init: ${formatDiagnostic(d).replace(/^[^:]*:\d+:\d+: /, "")}`);
    err("nothing written: fix the --source/--target flags");
    throw new Exit(EXIT.error);
  }
  if (opts.stdout) return out(text);
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o644); // O_EXCL: a file created meanwhile is not overwritten either
  } catch (e) {
    err(`${file}: cannot create: ${errorMessage(e)}`);
    throw new Exit(EXIT.error);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  if (!opts.quiet) {
    const f = opts.manifest === undefined ? "" : ` -f ${file}`;
    const todo = (opts.target ?? []).length === 0 ? "put your hosts and source in it (the 192.0.2.x hosts are placeholders), then " : "";
    err(`Wrote ${file}: ${todo}tsync validate${f} && tsync plan${f}`);
  }
}
