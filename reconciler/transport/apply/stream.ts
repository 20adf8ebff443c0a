// Drives the apply helper (helper.pl) over any byte pipe: a spawned local process or an SSH exec
// channel. Sends ops and file content in large batches, reads the framed replies as they come, and
// turns them into an ApplyResult. What the helper acknowledged is what counts: if it dies, the rest
// is reported as one io problem naming the cause.
import { createHash } from "node:crypto";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import type { Change } from "../../model/change.js";
import { SourceChangedError, errorMessage } from "../../model/errors.js";
import type { ApplyOptions, ApplyProblem, ApplyResult, ContentSource } from "../types.js";
import {
  END_OF_OPS, FRAME_ABORT, FRAME_END, FRAME_HOLE, ReplyDecoder, WIRE, encodeHeader, encodeOp, sendsContent, u32, type Reply,
} from "./protocol.js";

export interface HelperProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Exit code (128 + signal number when killed). */
  done: Promise<number>;
}

export interface StreamApplyOptions extends ApplyOptions {
  /** fsync each file before renaming it into place (survives power loss; see report for cost). */
  readonly fsync?: boolean;
  /** How long the helper waits for another apply's lock on the same root (default 60 s). */
  readonly lockWaitMs?: number;
}

/** Per-entry small writes measured 3-4x slower than batches of at least this size (STACK.md). */
const BATCH_BYTES = 256 * 1024;
const IDLE_FLUSH_MS = 20;

/** Collects frames and writes them in large batches, honouring backpressure. */
class BatchWriter {
  private parts: Buffer[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private drained: Promise<void> | undefined;
  broken = false;

  constructor(
    private readonly out: Writable,
    private readonly stop: Promise<void>,
  ) {
    // EPIPE after the helper died is reported through its exit, not as an exception.
    out.on("error", () => (this.broken = true));
  }

  push(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
    // A slow source must not hold back what is already batched (the helper takes the lock and
    // acknowledges ops only once it sees them).
    this.timer ??= setTimeout(() => this.writeOut(), IDLE_FLUSH_MS);
  }

  async maybeFlush(): Promise<void> {
    if (this.size >= BATCH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.writeOut()) return;
    // One shared wait per drain cycle, however many callers are behind it.
    this.drained ??= this.waitDrain().finally(() => (this.drained = undefined));
    await this.drained;
  }

  /** Hands the batch to the stream; false when the stream wants us to wait for 'drain'. */
  private writeOut(): boolean {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.size > 0) {
      const parts = this.parts;
      this.parts = [];
      this.size = 0;
      if (this.broken || this.out.destroyed || this.out.writableEnded) this.broken = true;
      else writeBatched(this.out, parts);
    }
    return this.broken || !this.out.writableNeedDrain;
  }

  private async waitDrain(): Promise<void> {
    const ac = new AbortController();
    const drained = await Promise.race([
      once(this.out, "drain", { signal: ac.signal }).then(() => true, () => false),
      this.stop.then(() => false),
    ]);
    ac.abort();
    if (!drained) this.broken = true;
  }
}

/** A part this big is written as it is: copying a large file's chunks into batches cost a copy per byte sent. */
const OWN_WRITE = 64 * 1024;

/** Writes the small parts joined into batches and each large part on its own. */
export function writeBatched(out: Writable, parts: readonly Buffer[]): void {
  let run: Buffer[] = [];
  let size = 0;
  const writeRun = () => {
    if (run.length > 0) out.write(run.length === 1 ? run[0]! : Buffer.concat(run, size));
    run = [];
    size = 0;
  };
  for (const b of parts) {
    if (b.length >= OWN_WRITE) {
      writeRun();
      out.write(b);
    } else {
      run.push(b);
      size += b.length;
    }
  }
  writeRun();
}

const BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/**
 * Pushes `chunk`, found at file offset `at`, as data frames and hole frames: every run of aligned
 * all-zero 4 KiB blocks becomes a hole (like rsync --sparse; Node has no SEEK_DATA, so zeros are
 * found in what was read). Returns the data bytes pushed.
 */
function pushSparse(w: BatchWriter, chunk: Buffer, at: number): number {
  let data = 0;
  const emit = (from: number, to: number, hole: boolean): void => {
    if (to <= from) return;
    if (hole) {
      w.push(u32(FRAME_HOLE));
      w.push(u32(to - from));
    } else {
      w.push(u32(to - from));
      w.push(chunk.subarray(from, to));
      data += to - from;
    }
  };
  let pos = Math.min(chunk.length, (BLOCK - (at % BLOCK)) % BLOCK); // an unaligned head is data
  let runStart = 0;
  let runHole = false;
  for (; pos + BLOCK <= chunk.length; pos += BLOCK) {
    const zero = chunk.subarray(pos, pos + BLOCK).equals(ZERO_BLOCK);
    if (zero !== runHole) {
      emit(runStart, pos, runHole);
      runStart = pos;
      runHole = zero;
    }
  }
  if (runHole) {
    emit(runStart, pos, true); // a partial tail block is data
    runStart = pos;
  }
  emit(runStart, chunk.length, false);
  return data;
}

/**
 * Streams one file's content as frames; returns why it was aborted (undefined when sent whole) and
 * the data bytes sent. The end frame is the verdict the helper waits for before it renames the file
 * into place, so it is written only after every check of what was read passed: size, the plan's
 * hash (deep plans), and the source's own changed-while-read check.
 */
async function sendContent(
  w: BatchWriter, content: ContentSource, c: Extract<Change, { kind: "create" | "update" }>, signal?: AbortSignal,
): Promise<{ why: string | undefined; bytes: number }> {
  const size = c.after.size;
  const digest = c.after.hash !== undefined ? createHash("blake2b512") : undefined;
  let got = 0;
  let bytes = 0;
  let stream: Readable | undefined;
  let why: string | undefined;
  try {
    const file = await content.open(c.path);
    // A small file read whole is one chunk; no stream needs to be made for it.
    const chunks: Iterable<Buffer> | Readable = file.bytes ? [file.bytes] : (stream = file.stream);
    for await (const raw of chunks) {
      const chunk: Buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      if (chunk.length === 0) continue; // a zero-length frame means "end of file"
      if (signal?.aborted) { why = "apply aborted"; break; }
      if (w.broken) return { why: "apply helper went away", bytes };
      if (got + chunk.length > size) { why = `source changed: more than the planned ${size} bytes`; break; }
      digest?.update(chunk);
      if (file.sparse) bytes += pushSparse(w, chunk, got);
      else {
        w.push(u32(chunk.length));
        w.push(chunk);
        bytes += chunk.length;
      }
      got += chunk.length;
      await w.maybeFlush();
    }
    if (!why && got !== size) why = `source changed: ${got} bytes, the plan says ${size}`;
    if (!why && digest && digest.digest("hex") !== c.after.hash) why = "source changed: the content read is not what the plan hashed";
  } catch (err) {
    why = err instanceof SourceChangedError ? err.message : `cannot read source: ${errorMessage(err)}`;
  } finally {
    stream?.destroy();
  }
  w.push(u32(why ? FRAME_ABORT : FRAME_END));
  return { why, bytes };
}

function problemCode(code: string): ApplyProblem["code"] {
  return code === WIRE.C_STALE ? "stale" : code === WIRE.C_UNSAFE ? "unsafe" : "io";
}

function oneLine(s: string): string {
  return s.trim().split(/\r?\n/).filter(Boolean).slice(-3).join("; ");
}

export async function applyOverStream(
  proc: HelperProcess, root: string, changes: readonly Change[], content: ContentSource, opts: StreamApplyOptions = {},
): Promise<ApplyResult> {
  const decoder = new ReplyDecoder();
  // Per change: answered or not, in a byte each. Only problems keep their reply, and content bytes
  // are held only until the change is answered: an initial sync of a million files kept a reply
  // object and two map entries per change (~100 MB per target).
  const answered = new Uint8Array(changes.length);
  const problemReplies = new Map<number, Extract<Reply, { tag: "problem" }>>();
  const senderNotes = new Map<number, string>();
  const sent = new Map<number, number>();
  let applied = 0;
  let bytes = 0;
  let fatal: Extract<Reply, { tag: "fatal" }> | undefined;
  let protocolError: string | undefined;
  let stderrTail = "";

  proc.stderr.on("data", (d: Buffer) => (stderrTail = (stderrTail + d.toString("utf8")).slice(-2000)));
  const onReply = (r: Reply): void => {
    if (r.tag === "fatal") fatal = r;
    else if (r.tag === "end") return;
    else if (r.index < changes.length && answered[r.index] === 0) {
      answered[r.index] = 1;
      if (r.tag === "problem") problemReplies.set(r.index, r);
      else {
        const c = changes[r.index]!;
        // Content bytes that went over the wire: none for a copy made on the target, no holes.
        const n = sent.get(r.index) ?? 0;
        sent.delete(r.index);
        applied++;
        bytes += n;
        opts.onProgress?.(c, n);
      }
    }
  };
  const stdoutDone = new Promise<void>((resolve) => {
    proc.stdout.on("data", (chunk: Buffer) => {
      if (protocolError) return;
      try {
        for (const r of decoder.push(chunk)) onReply(r);
      } catch (err) {
        protocolError = errorMessage(err);
      }
    });
    proc.stdout.on("end", resolve);
    proc.stdout.on("close", resolve);
    proc.stdout.on("error", () => resolve());
  });

  const exited = proc.done.then(() => undefined);
  const stop = opts.signal
    ? Promise.race([exited, once(opts.signal, "abort").then(() => undefined, () => undefined)])
    : exited;
  const w = new BatchWriter(proc.stdin, stop);
  w.push(encodeHeader(root, { fsync: opts.fsync ?? false, lockWaitMs: opts.lockWaitMs ?? 60_000 }));
  for (const [i, c] of changes.entries()) {
    if (opts.signal?.aborted || w.broken) break;
    w.push(encodeOp(c));
    if (sendsContent(c)) {
      const { why, bytes: n } = await sendContent(w, content, c, opts.signal);
      // A problem may already be answered (the helper gave up on the file early): nothing to count then.
      if (answered[i] === 0) sent.set(i, n);
      if (why) senderNotes.set(i, why);
    }
    await w.maybeFlush();
  }
  const aborted = opts.signal?.aborted ?? false;
  if (!aborted && !w.broken) w.push(END_OF_OPS);
  await w.flush();
  proc.stdin.end();
  const [code] = await Promise.all([proc.done, stdoutDone]);

  const problems: ApplyProblem[] = [];
  for (const [i, r] of [...problemReplies].sort((a, b) => a[0] - b[0])) {
    const c = changes[i]!;
    const message = r.code === WIRE.C_ABORTED ? (senderNotes.get(i) ?? r.message) : r.message;
    problems.push({ path: c.path, kind: c.kind, code: problemCode(r.code), message });
  }
  const firstMissing = answered.indexOf(0);
  if (firstMissing >= 0) {
    const cause = aborted
      ? "apply aborted before this change"
      : fatal
        ? fatal.message
        : protocolError
          ? `apply helper protocol error: ${protocolError}`
          : `apply helper exited with code ${code}` +
            (stderrTail.trim() ? `: ${oneLine(stderrTail)}` : decoder.sawMarker ? "" : ` before starting${decoder.noise.trim() ? ` (output: ${oneLine(decoder.noise)})` : ""}`);
    const at = changes[firstMissing]!;
    problems.push({ path: at.path, kind: at.kind, code: fatal?.code === WIRE.C_UNSAFE ? "unsafe" : "io", message: cause });
  }
  return { applied, bytes, problems };
}
