// One read of a source file for all the targets an apply sends it to (issue 13: an initial sync to 4
// targets read every source file 4 times). The first target's open reads and checks it as always
// (unchanged while read, else SourceChangedError, and that target reads nothing torn); the others get
// the same checked bytes, and each send still checks size and the plan's hash. A file the source
// streams (over 256 KiB) is read whole by its first reader when it fits, so it too is read once;
// a sparse one keeps its stream (its holes are sent as holes). Holds a file only until its last reader
// has it, and at most `budget` bytes at once (a slow target must not make the whole tree resident):
// past it, later readers read the file themselves.
import { Readable } from "node:stream";
import type { Change } from "../model/change.js";
import type { RelPath } from "../model/paths.js";
import { wholeFile, type ContentSource, type SourceFile } from "../transport/types.js";

interface Held {
  /** Readers still to come. */
  left: number;
  /** The checked bytes, or undefined when the first read gave none to share (failed, sparse, over budget). */
  readonly bytes: Promise<Buffer | undefined>;
}

export const SHARE_BUDGET = 64 << 20;
/** The largest streamed file read whole to be shared. */
export const SHARE_FILE_MAX = 16 << 20;

/** `readers`: how many sends of each path this apply makes (paths read once are passed straight through). */
export function sharedContent(inner: ContentSource, readers: ReadonlyMap<RelPath, number>, budget = SHARE_BUDGET, fileMax = SHARE_FILE_MAX): ContentSource {
  const held = new Map<RelPath, Held>();
  let heldBytes = 0;
  const drop = (path: RelPath, h: Held) => {
    if (held.get(path) !== h) return;
    held.delete(path);
    void h.bytes.then((b) => void (heldBytes -= b?.length ?? 0));
  };

  /**
   * The first reader's file, and its bytes to share when they fit (counted in heldBytes as they come).
   * A streamed file that does not fit keeps its stream: what was read so far, then the rest, or the
   * read's own failure (a torn file fails for this reader as before; the others read it themselves).
   */
  async function first(f: SourceFile): Promise<{ file: SourceFile; share?: Buffer }> {
    if (f.bytes) {
      if (heldBytes + f.bytes.length > budget) return { file: f };
      heldBytes += f.bytes.length;
      return { file: f, share: f.bytes };
    }
    if (f.sparse) return { file: f };
    const it = f.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const head: Buffer[] = [];
    let n = 0;
    const giveBack = (failure?: unknown) => {
      heldBytes -= n;
      return { file: { stream: Readable.from(resume(head, it, f.stream, failure)) } };
    };
    for (;;) {
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } catch (err) {
        return giveBack(err ?? new Error("read failed"));
      }
      if (r.done) {
        const bytes = Buffer.concat(head, n);
        return { file: wholeFile(bytes), share: bytes };
      }
      head.push(r.value);
      n += r.value.length;
      heldBytes += r.value.length;
      if (n > fileMax || heldBytes > budget) return giveBack();
    }
  }

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
      const read = inner.open(path).then(first);
      held.set(path, { left: want - 1, bytes: read.then((r) => r.share, () => undefined) });
      return (await read).file;
    },
  };
}

/** What was read, then the rest of the source's stream (or the failure that ended it); closes it when done. */
async function* resume(head: readonly Buffer[], it: AsyncIterator<Buffer>, src: Readable, failure?: unknown): AsyncGenerator<Buffer> {
  try {
    yield* head;
    if (failure !== undefined) throw failure;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  } finally {
    src.destroy();
  }
}

/** How many of these changes send each path's content (a copy made on the target sends none). */
export function sendCounts(changes: Iterable<Change>): Map<RelPath, number> {
  const n = new Map<RelPath, number>();
  for (const c of changes) if ((c.kind === "create" && c.from === undefined) || c.kind === "update") n.set(c.path, (n.get(c.path) ?? 0) + 1);
  return n;
}
