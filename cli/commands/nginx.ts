// tsync nginx: print the config rendered from the manifest's roles (what apply would deploy).
import { renderNginx } from "../../reconciler/nginx/render.js";
import { unusableWebAddresses } from "../../reconciler/nginx/web-address.js";
import { requireManifest } from "../manifest.js";
import { out, err, Exit, EXIT, type GlobalOptions } from "../output.js";

export async function nginxCommand(opts: GlobalOptions): Promise<void> {
  const manifest = requireManifest(opts);
  if (!manifest.nginx) {
    err(`${manifest.file}: has no nginx section; nothing to render`);
    throw new Exit(EXIT.error);
  }
  const unusable = await unusableWebAddresses(manifest);
  for (const u of unusable) err(`${manifest.file}: ${u}`);
  if (unusable.length > 0) throw new Exit(EXIT.error);
  const { text, warnings } = renderNginx(manifest);
  for (const w of warnings) err(`warning: ${w}`);
  if (opts.json) out(JSON.stringify({ path: manifest.nginx.path, host: manifest.nginx.host ?? null, config: text }, null, 2));
  else out(text);
}
