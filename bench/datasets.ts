// The data sets, generated fresh in the bench's temp dir: Debian's WordPress tree, many small files,
// one big file, and the scale series. Deterministic (seeded) so runs compare.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { genTree, wordpressTree } from "../test/support/trees.js";

export interface DataSet {
  readonly name: string;
  readonly src: string;
  readonly files: number;
  readonly bytes: number;
  readonly describe: string;
}

/** An old fixed mtime: rsync and tsync both compare times, and no file looks "just written". */
const MTIME = 1_700_000_000;

export async function makeWordpress(root: string): Promise<DataSet> {
  const src = join(root, "src", "wordpress");
  const info = await wordpressTree(src);
  const { files, bytes } = countTree(src);
  const what = info.origin === "debian-package" ? `Debian wordpress ${info.version}` : `generated WordPress-shaped tree (${info.note})`;
  return { name: "wordpress", src, files, bytes, describe: `${what}: ${files} files, ${(bytes / 1e6).toFixed(0)} MB` };
}

export function makeSmall(root: string, o: { files: number; dirs: number; size: number }): DataSet {
  const name = `small-${o.files / 1000}k`;
  const src = join(root, "src", name);
  const r = genTree(src, { ...o, seed: 0x5eed, mtime: MTIME });
  return { name, src, files: r.files, bytes: r.bytes, describe: `${o.files} × ${o.size / 1024} KiB files in ${o.dirs} dirs` };
}

export function makeBig(root: string, bytes: number): DataSet {
  const name = `big-${bytes >> 20}M`;
  const src = join(root, "src", name);
  genTree(src, { files: 1, dirs: 0, size: bytes, seed: 0xb16, mtime: MTIME });
  return { name, src, files: 1, bytes, describe: `one ${bytes >> 20} MiB file` };
}

/** Files of 1–40 KiB (log-uniform), the shape a new user tries first (issue 13). */
export function makeMixed(root: string, files: number): DataSet {
  const name = `mixed-${files / 1000}k`;
  const src = join(root, "src", name);
  const r = genTree(src, { files, dirs: Math.max(1, Math.round(files / 10)), size: [1024, 40 * 1024], seed: 0x13, mtime: MTIME });
  return { name, src, files, bytes: r.bytes, describe: `${files} files (1–40 KiB) in ${files / 10} dirs` };
}

export function makeScale(root: string, files: number): DataSet {
  const name = `scale-${files >= 1e6 ? files / 1e6 + "M" : files / 1000 + "k"}`;
  const src = join(root, "src", name);
  const r = genTree(src, { files, dirs: Math.max(1, Math.round(files / 10)), size: [64, 8192], seed: 0x5ca1e + files, mtime: MTIME });
  return { name, src, files, bytes: r.bytes, describe: `${files} files (64 B–8 KiB) in ${files / 10} dirs` };
}

function countTree(dir: string): { files: number; bytes: number } {
  // Counting only for the description; verification uses test/support/trees.
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}
