// The folders of reconciler/ follow the flow manifest → snapshots → plan → apply → report: a module
// may import from its own folder or from a lower layer, never from a higher one or a sibling layer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../reconciler/", import.meta.url));

/** Lower number = lower layer. Folders on one rank are independent of each other. */
export const LAYERS: Readonly<Record<string, number>> = {
  model: 0,
  manifest: 1,
  core: 2,
  import: 2,
  scan: 3,
  transport: 4,
  nginx: 5,
  run: 6,
  watch: 7,
  views: 8,
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? tsFiles(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : [],
  );
}

const layerOf = (file: string) => relative(ROOT, file).split("/")[0]!;

/** Every relative import of `src` as [specifier, resolved file]. */
function imports(file: string, src: string): string[] {
  const out: string[] = [];
  for (const m of src.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) out.push(resolve(dirname(file), m[1]!));
  return out;
}

/** The violations in a set of files: "from → to" for each import that goes up or sideways. */
export function layerViolations(files: ReadonlyArray<{ file: string; src: string }>): string[] {
  const bad: string[] = [];
  for (const { file, src } of files) {
    const from = layerOf(file);
    for (const target of imports(file, src)) {
      if (!target.startsWith(ROOT)) continue; // schemas/, package.json
      const to = layerOf(target);
      if (to === from) continue;
      const rf = LAYERS[from], rt = LAYERS[to];
      if (rf === undefined || rt === undefined || rt >= rf) bad.push(`${relative(ROOT, file)} → ${relative(ROOT, target)}`);
    }
  }
  return bad;
}

test("every folder of reconciler/ has a layer, and no file sits at its root", () => {
  for (const file of tsFiles(ROOT)) {
    const rel = relative(ROOT, file);
    assert.ok(rel.includes("/"), `${rel} sits at the root of reconciler/`);
    assert.ok(LAYERS[layerOf(file)] !== undefined, `${rel}: folder has no layer`);
  }
});

test("no module imports a higher or sibling layer", () => {
  const files = tsFiles(ROOT).map((file) => ({ file, src: readFileSync(file, "utf8") }));
  assert.deepEqual(layerViolations(files), []);
});

test("the check catches an upward import (a planner importing a view)", () => {
  const file = join(ROOT, "core", "x.ts");
  assert.deepEqual(layerViolations([{ file, src: `import { a } from "../views/plan-human.js";` }]), ["core/x.ts → views/plan-human.js"]);
  assert.deepEqual(layerViolations([{ file, src: `import { a } from "../import/lsyncd.js";` }]), ["core/x.ts → import/lsyncd.js"]);
  assert.deepEqual(layerViolations([{ file, src: `import { a } from "../model/paths.js";` }]), []);
});
