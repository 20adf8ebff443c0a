// tsync status: what the running `tsync watch` last wrote to settings.statusFile.
import { readStatus, allInSync } from "../../reconciler/watch/status.js";
import { renderStatus } from "../../reconciler/views/status-human.js";
import { requireManifest } from "../manifest.js";
import { out, err, useColor, Exit, EXIT, type GlobalOptions } from "../output.js";

export interface StatusCommandOptions extends GlobalOptions {
  file?: string;
}

export async function statusCommand(opts: StatusCommandOptions): Promise<void> {
  const file = opts.file ?? requireManifest(opts).settings.statusFile;
  if (!file) {
    err("status: the manifest sets no settings.statusFile (or pass --file)");
    throw new Exit(EXIT.error);
  }
  const r = await readStatus(file);
  if (!r.ok) {
    err(r.error);
    throw new Exit(EXIT.error);
  }
  if (opts.json) out(JSON.stringify(r.stale ? { ...r.doc, stale: r.stale } : r.doc, null, 2));
  else out(renderStatus(r.doc, { color: useColor(opts), ...(r.stale ? { stale: r.stale } : {}) }));
  throw new Exit(!r.stale && allInSync(r.doc) ? EXIT.ok : EXIT.error);
}
