// One read of a source file for all the targets an apply sends it to (issue 13: an initial sync to 4
// targets read every source file 4 times). A small file read whole is held until its last reader has
// it. A streamed one (over 256 KiB) is fanned out: each chunk its first reader pulls is handed to every
// reader that joined, and is let go once they all have it. A chunk held back for a target that has not
// opened the file yet is dropped when the file's window is full (that target then reads the file
// itself); a chunk an open reader has not taken yet makes the fastest wait, so a file costs at most
// `window` bytes however far apart the targets are. What a torn read gave (the source's
// changed-while-read failure after its last chunk) reaches every reader that took it, and none of them
// puts the file in place; later readers read the file afresh. A sparse file keeps its own stream per
// target (its holes are sent as holes). At most `budget` bytes are held at once over all files: past
// it, later readers read the file themselves.
import { Readable } from "node:stream";
import type { Change } from "../model/change.js";
import type { RelPath } from "../model/paths.js";
import { wholeFile, type ContentSource, type SourceFile } from "../transport/types.js";

export const SHARE_BUDGET = 64 << 20;
/** How far a streamed file's first reader may run ahead of the rest (bytes held per file). */
export const SHARE_WINDOW = 16 << 20;

/** What the first reader's open gave the rest: a file's bytes, its fan-out, or nothing (failed, sparse, over budget). */
interface Held {
  /** Readers still to come. */
  left: number;
  readonly shared: Promise<{ bytes: Buffer } | Fanout | undefined>;
}

/** `readers`: how many sends of each path this apply makes (paths read once are passed straight through). */
export function sharedContent(inner: ContentSource, readers: ReadonlyMap<RelPath, number>, budget = SHARE_BUDGET, window = SHARE_WINDOW): ContentSource {
  const held = new Map<RelPath, Held>();
  let heldBytes = 0;

  /** The first reader's file, and what the others may take from it. */
  function share(f: SourceFile, want: number): { file: SourceFile; shared?: { bytes: Buffer } | Fanout } {
    if (f.bytes) {
      if (heldBytes + f.bytes.length > budget) return { file: f };
      heldBytes += f.bytes.length;
      return { file: f, shared: { bytes: f.bytes } };
    }
    if (f.sparse || heldBytes >= budget) return { file: f };
    const fan = new Fanout(f.stream, want, window, () => heldBytes >= budget, (delta) => void (heldBytes += delta));
    return { file: fan.join()!, shared: fan };
  }

  return {
    async open(path: RelPath): Promise<SourceFile> {
      const h = held.get(path);
      if (h) {
        if (--h.left <= 0) {
          held.delete(path);
          void h.shared.then((s) => void (s && !(s instanceof Fanout) && (heldBytes -= s.bytes.length)));
        }
        const s = await h.shared;
        return (s instanceof Fanout ? s.join() : s && wholeFile(s.bytes)) ?? inner.open(path);
      }
      const want = readers.get(path) ?? 0;
      if (want <= 1) return inner.open(path);
      const read = inner.open(path).then((f) => share(f, want));
      held.set(path, { left: want - 1, shared: read.then((r) => r.shared, () => undefined) });
      return (await read).file;
    },
  };
}

/** A reader's place in a fan-out: the index of the next chunk it takes. */
interface Cursor {
  at: number;
}

/** One source stream read once for every reader that joins before its first chunk is let go. */
class Fanout {
  private readonly it: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  /** Index in the file of chunks[0]. */
  private base = 0;
  private bytes = 0;
  private ended = false;
  private failure: unknown;
  private pulling: Promise<void> | undefined;
  private readonly cursors = new Set<Cursor>();
  private wake: (() => void)[] = [];
  /** False once a chunk is gone that a newcomer would need (or the source was closed). */
  private joinable = true;

  constructor(
    private readonly src: Readable,
    /** Readers still to join, the first included. */
    private pending: number,
    private readonly window: number,
    private readonly overBudget: () => boolean,
    private readonly account: (delta: number) => void,
  ) {
    this.it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** A reader's stream from the file's first byte, or undefined when the file can no longer be joined. */
  join(): SourceFile | undefined {
    if (!this.joinable) return undefined;
    if (this.pending > 0) this.pending--;
    const me: Cursor = { at: 0 };
    this.cursors.add(me);
    // One chunk read ahead per reader at most: what a reader has not taken stays counted here.
    const stream = Readable.from(this.read(me), { highWaterMark: 1 });
    // On close, not in the generator: a stream destroyed before its first read never runs it.
    stream.once("close", () => this.leave(me));
    return { stream };
  }

  private async *read(me: Cursor): AsyncGenerator<Buffer> {
    for (let c = await this.next(me); c; c = await this.next(me)) yield c;
  }

  private async next(me: Cursor): Promise<Buffer | undefined> {
    for (;;) {
      const i = me.at - this.base;
      if (i < this.chunks.length) {
        const c = this.chunks[i]!;
        me.at++;
        this.trim();
        this.notify(); // a reader waiting for the slowest may go on, or give up on newcomers
        return c;
      }
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return undefined;
      }
      if (this.pulling) await this.pulling;
      else if (this.full() && !this.giveUpOnNewcomers()) await new Promise<void>((res) => this.wake.push(res));
      else await (this.pulling = this.pull());
    }
  }

  private full(): boolean {
    return this.chunks.length > 0 && (this.bytes >= this.window || this.overBudget());
  }

  /** The oldest chunk is held only for readers yet to join: they will read the file themselves. */
  private giveUpOnNewcomers(): boolean {
    for (const c of this.cursors) if (c.at === this.base) return false;
    this.joinable = false;
    this.trim();
    return true;
  }

  private async pull(): Promise<void> {
    try {
      const r = await this.it.next();
      if (r.done) this.end();
      else {
        this.chunks.push(r.value);
        this.bytes += r.value.length;
        this.account(r.value.length);
      }
    } catch (err) {
      this.failure = err ?? new Error("read failed");
      this.end();
    } finally {
      this.pulling = undefined;
      this.notify();
    }
  }

  private end(): void {
    this.ended = true;
    this.src.destroy();
    // A torn or failed read is for the readers that took part in it, not for newcomers.
    if (this.failure !== undefined) this.joinable = false;
  }

  /** Lets go of the chunks every reader has, unless a reader still to join would need them. */
  private trim(): void {
    if (this.joinable && this.pending > 0) return;
    let min = Infinity;
    for (const c of this.cursors) min = Math.min(min, c.at);
    let n = 0;
    let freed = 0;
    while (n < this.chunks.length && this.base + n < min) freed += this.chunks[n++]!.length;
    if (n === 0) return;
    this.chunks.splice(0, n);
    this.base += n;
    this.bytes -= freed;
    this.account(-freed);
  }

  private leave(me: Cursor): void {
    if (!this.cursors.delete(me)) return;
    if (this.cursors.size === 0 && !(this.ended && this.joinable)) {
      // Nobody reads on: close the file; newcomers (a target that was slow to start) read it themselves.
      this.joinable = false;
      if (!this.ended) this.src.destroy();
    }
    this.trim();
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }
}

/** How many of these changes send each path's content (a copy made on the target sends none). */
export function sendCounts(changes: Iterable<Change>): Map<RelPath, number> {
  const n = new Map<RelPath, number>();
  for (const c of changes) if ((c.kind === "create" && c.from === undefined) || c.kind === "update") n.set(c.path, (n.get(c.path) ?? 0) + 1);
  return n;
}
