// `node dist/bench/gen-tree.js DIR FILES`: the bench's scale-series tree (makeScale's shape: FILES files
// of 64 B–8 KiB in FILES/10 directories, seeded, fixed mtime) at DIR, for profiling one size by hand.
import { makeScale } from "./datasets.js";

const [dir, count] = process.argv.slice(2);
const files = Number(count);
if (dir === undefined || !Number.isInteger(files) || files < 1) {
  process.stderr.write("usage: node dist/bench/gen-tree.js DIR FILES\n");
  process.exit(2);
}
const set = makeScale(dir, files);
process.stdout.write(`${set.src}: ${set.describe}, ${(set.bytes / 1e6).toFixed(0)} MB\n`);
