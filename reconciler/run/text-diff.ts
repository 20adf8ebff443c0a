// Unified diffs of changed text files for `plan --diff`. Binary or large files get no diff.
import { createTwoFilesPatch } from "diff";
import type { Manifest } from "../model/manifest.js";
import type { Plan } from "../model/plan.js";
import type { Fleet } from "./fleet.js";
import { diffKey } from "../model/plan.js";
import { writesFile } from "../model/change.js";
import { displayPath } from "../model/paths.js";

const MAX_BYTES = 1024 * 1024;

function asText(b: Buffer | undefined): string | undefined {
  if (!b || b.length > MAX_BYTES || b.includes(0)) return undefined;
  const s = b.toString("utf8");
  return Buffer.byteLength(s) === b.length && !s.includes("\uFFFD") ? s : undefined;
}

/** diffKey → unified diff, for every update/create of a text file ≤ 1 MiB in the plan. */
export async function textDiffs(manifest: Manifest, fleet: Fleet, plan: Plan): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const t of plan.targets) {
    const sync = manifest.syncs.find((s) => s.name === t.sync);
    if (!sync) continue;
    for (const c of t.changes) {
      if (!writesFile(c) || c.after.size > MAX_BYTES) continue;
      try {
        const [src, dst] = await Promise.all([
          fleet.transport(sync.source.host).readFile(sync.source.path, c.path),
          c.kind === "update" ? fleet.transport(t.target.host).readFile(t.target.path, c.path) : Promise.resolve(Buffer.alloc(0)),
        ]);
        const a = asText(dst), b = asText(src);
        if (a === undefined || b === undefined) continue;
        const name = displayPath(c.path);
        const patch = createTwoFilesPatch(`target/${name}`, `source/${name}`, a, b, undefined, undefined, { context: 3, timeout: 2000 });
        if (patch) out.set(diffKey(t, c.path), patch.replace(/^=+\n/, ""));
      } catch {
        // A diff is a courtesy: an unreadable file simply shows no diff.
      }
    }
  }
  return out;
}
