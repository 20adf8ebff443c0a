// Loading the manifest for a command: diagnostics are printed and end the command with exit 1.
import { existsSync } from "node:fs";
import { loadManifest } from "../reconciler/manifest/load.js";
import type { Manifest } from "../reconciler/model/manifest.js";
import { hasErrors } from "../reconciler/model/diagnostics.js";
import { err, printDiagnostics, Exit, EXIT, type GlobalOptions } from "./output.js";

export function manifestPath(opts: GlobalOptions): string {
  return opts.manifest ?? "tsync.yaml";
}

export function requireManifest(opts: GlobalOptions): Manifest {
  const file = manifestPath(opts);
  if (!existsSync(file)) {
    err(`${file}: no manifest here${opts.manifest ? "" : " (use -f FILE, or create tsync.yaml)"}`);
    throw new Exit(EXIT.error);
  }
  const { manifest, diagnostics } = loadManifest(file);
  if (!manifest || hasErrors(diagnostics)) {
    printDiagnostics(diagnostics);
    throw new Exit(EXIT.error);
  }
  printDiagnostics(diagnostics); // warnings
  checkNarrowing(manifest, opts);
  return manifest;
}

/** --sync/--target naming something the manifest does not have is an error, not an empty run. */
function checkNarrowing(manifest: Manifest, opts: GlobalOptions): void {
  for (const s of opts.sync ?? []) {
    if (!manifest.syncs.some((x) => x.name === s)) {
      err(`--sync ${s}: no such sync in ${manifest.file} (have: ${manifest.syncs.map((x) => x.name).join(", ")})`);
      throw new Exit(EXIT.error);
    }
  }
  for (const t of opts.target ?? []) {
    if (t !== "local" && !manifest.hosts.has(t)) {
      err(`--target ${t}: no such host in ${manifest.file} (have: ${[...manifest.hosts.keys(), "local"].join(", ")})`);
      throw new Exit(EXIT.error);
    }
  }
}
