// tsync validate: prints nothing but errors (and, with --json, also the diagnostics as an array on
// stdout: its document; humans and CI logs still get them on stderr, as with plan and apply).
import { existsSync } from "node:fs";
import { loadManifest } from "../../reconciler/manifest/load.js";
import { hasErrors } from "../../reconciler/model/diagnostics.js";
import { manifestPath } from "../manifest.js";
import { out, err, printDiagnostics, Exit, EXIT, type GlobalOptions } from "../output.js";

export function validateCommand(opts: GlobalOptions): void {
  const file = manifestPath(opts);
  if (!existsSync(file)) {
    const d = { severity: "error", code: "no-manifest", message: "no such file", path: "", file };
    if (opts.json) out(JSON.stringify([d], null, 2));
    err(`${file}: no such file`);
    throw new Exit(EXIT.error);
  }
  const { diagnostics } = loadManifest(file);
  if (opts.json) out(JSON.stringify(diagnostics, null, 2));
  printDiagnostics(diagnostics);
  throw new Exit(hasErrors(diagnostics) ? EXIT.error : EXIT.ok);
}
