// The files an lsyncd config may read while the importer evaluates it (readdir, dofile, require,
// io.open for reading): only below --base, which stands for lsyncd's working directory (by default
// the config's own directory), read-only and bounded. Called synchronously from the Lua VM in the
// evaluation worker; answers are strings because that is all the driver needs to pass back.

import { readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { posix } from "node:path";

export interface ReadScope {
  /** Absolute: lsyncd's working directory as the config sees it; reads must stay below it. */
  readonly base: string;
  /** Where that filesystem is on this machine ("/": here; a test gives a folder standing for "/"). */
  readonly root: string;
}

const MAX_FILE_BYTES = 1024 * 1024;
const MAX_READS = 200;

/** "+TEXT" (a file), "+NAME\t1|0\n..." (a directory listing, 1 = directory) or "-REASON". */
export type Answer = string;

export function makeReader(scope: ReadScope): { read: (p: string) => Answer; list: (p: string) => Answer } {
  let reads = 0;
  const inside = (dir: string, p: string) => p === dir || p.startsWith(dir === "/" ? "/" : `${dir}/`);
  /** The real path for `p` as the config names it, or a reason it is not readable. */
  const locate = (p: string): { real: string; abs: string } | { error: string } => {
    if (++reads > MAX_READS) return { error: `more than ${MAX_READS} file reads` };
    const abs = posix.resolve(scope.base, p);
    if (!inside(scope.base, abs)) return { error: `outside --base ${scope.base} (the importer reads files only below it)` };
    const real = scope.root === "/" ? abs : posix.join(scope.root, abs);
    try {
      // A symlink below base must not lead out of it.
      const resolved = realpathSync(real);
      const top = realpathSync(scope.root === "/" ? scope.base : posix.join(scope.root, scope.base));
      if (!inside(top, resolved)) return { error: `a symlink to outside --base ${scope.base}` };
      return { real: resolved, abs };
    } catch (e) {
      return { error: code(e) };
    }
  };
  return {
    read(p) {
      const at = locate(p);
      if ("error" in at) return `-${at.error}`;
      try {
        const st = statSync(at.real);
        if (!st.isFile()) return "-not a regular file where tsync import runs";
        if (st.size > MAX_FILE_BYTES) return `-larger than ${MAX_FILE_BYTES} bytes`;
        return `+${readFileSync(at.real, "utf8")}`;
      } catch (e) {
        return `-${code(e)}`;
      }
    },
    list(p) {
      const at = locate(p);
      if ("error" in at) return `-${at.error}`;
      try {
        // lsyncd's readdir: "." and ".." left out; a symlink is not a directory (d_type, no stat).
        const entries = readdirSync(at.real, { withFileTypes: true });
        return `+${entries.map((e) => `${e.name}\t${e.isDirectory() ? 1 : 0}\n`).join("")}`;
      } catch (e) {
        return `-${code(e)}`;
      }
    },
  };
}

/** The reason, said of the machine the import runs on (lsyncd's own may differ). */
function code(e: unknown): string {
  const c = (e as NodeJS.ErrnoException).code;
  return `${here(c)} where tsync import runs`;
}
function here(c: string | undefined): string {
  return c === "ENOENT" ? "no such file or directory" : c === "ENOTDIR" ? "not a directory" : c === "EACCES" ? "permission denied" : (c ?? "unreadable");
}
