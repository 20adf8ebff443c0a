// One read of a small source file for all the targets an apply sends it to (issue 13: an initial sync
// to 4 targets read every source file 4 times). The first target's open reads and checks it as
// always (unchanged while read, else SourceChangedError, and that target reads nothing torn); the
// others get the same checked bytes, and each send still checks size and the plan's hash. Holds a file
// only until its last reader has it, and at most `budget` bytes at once (a slow target must not make
// the whole tree resident): past it, later readers read the file themselves.
import type { Change } from "../model/change.js";
import type { RelPath } from "../model/paths.js";
import { wholeFile, type ContentSource, type SourceFile } from "../transport/types.js";

interface Held {
  /** Readers still to come. */
  left: number;
  /** The checked bytes, or undefined when the first read gave none to share (large, failed, over budget). */
  readonly bytes: Promise<Buffer | undefined>;
}

export const SHARE_BUDGET = 64 << 20;

/** `readers`: how many sends of each path this apply makes (paths read once are passed straight through). */
export function sharedContent(inner: ContentSource, readers: ReadonlyMap<RelPath, number>, budget = SHARE_BUDGET): ContentSource {
  const held = new Map<RelPath, Held>();
  let heldBytes = 0;
  const drop = (path: RelPath, h: Held) => {
    if (held.get(path) !== h) return;
    held.delete(path);
    void h.bytes.then((b) => void (heldBytes -= b?.length ?? 0));
  };
  return {
    async open(path: RelPath): Promise<SourceFile> {
      const h = held.get(path);
      if (h) {
        if (--h.left <= 0) drop(path, h);
        const bytes = await h.bytes;
        return bytes ? wholeFile(bytes) : inner.open(path);
      }
      const want = readers.get(path) ?? 0;
      if (want <= 1) return inner.open(path);
      const file = inner.open(path);
      const bytes = file.then(
        (f) => (f.bytes && heldBytes + f.bytes.length <= budget ? ((heldBytes += f.bytes.length), f.bytes) : undefined),
        () => undefined,
      );
      held.set(path, { left: want - 1, bytes });
      return file;
    },
  };
}

/** How many of these changes send each path's content (a copy made on the target sends none). */
export function sendCounts(changes: Iterable<Change>): Map<RelPath, number> {
  const n = new Map<RelPath, number>();
  for (const c of changes) if ((c.kind === "create" && c.from === undefined) || c.kind === "update") n.set(c.path, (n.get(c.path) ?? 0) + 1);
  return n;
}
