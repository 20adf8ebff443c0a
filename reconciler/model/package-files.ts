// Files the package ships beside its code (package.json, the JSON schemas, helper.pl, the worker
// entry points), found from the package's root. The same lookup works from tsc's dist/ tree and
// from the one-file bundle the `tsync` command runs (dist/tsync.js), where every module shares one
// import.meta.url and a path relative to "this module" would point anywhere.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The nearest directory above this module that holds package.json: the package's root. */
function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`tsync: no package.json above ${fileURLToPath(import.meta.url)}: the installation is incomplete`);
    dir = up;
  }
  return (root = dir);
}

/** Absolute path of a file shipped with the package, given relative to its root. */
export function packageFile(rel: string): string {
  return join(packageRoot(), rel);
}
