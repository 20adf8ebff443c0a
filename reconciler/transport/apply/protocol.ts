// The apply stream's wire format, pure: encoding of the header, ops and content frames sent to the
// helper (helper.pl, started by helper.ts) and decoding of its replies. Big-endian, length-prefixed,
// names as bytes; nothing here parses text. Every literal both ends must agree on is in WIRE, which
// helper.ts injects into the Perl as constants of the same names: neither side spells them by hand.
//
// sender → helper
//   header   MAGIC u32 flags(bit0 fsync) u32 lockWaitMs u32 rootLen root
//   op       TAG_OP u32 len [kind:1 actions:u8 u32 pathLen path entry(before) entry(after) copy?]
//            kind is one of the OP_* codes; the helper refuses any other (fatal C_PROTOCOL: it cannot
//            know whether frames follow). Then, for create/update without copy: frames u32 n + n
//            bytes, or u32 FRAME_HOLE u32 n (n zero bytes the helper skips with a seek, so a sparse
//            file stays sparse), ..., ended by u32 FRAME_END (the verdict: the bytes are one version of
//            the file; only then does the helper rename it into place) or u32 FRAME_ABORT (the sender
//            gave up on this file: the helper drops the staging file and replies C_ABORTED)
//   copy     (create with `from` only) u32 fromLen from entry(from as planned) how:1: the helper
//            copies (COPY_BYTES) or hard-links (COPY_LINK) that target file instead of reading
//            frames; no frames follow
//   end      TAG_END
//   entry    type:1 ('-' none, f, d, l, x problem) u32 mode u8 owner(bit0 uid, bit1 gid) u32 uid
//            u32 gid f64 mtimeMs u32 sizeHi u32 sizeLo u32 targetLen target
// helper → sender (after MARKER; anything before it is login-shell noise)
//   R_OK u32 index                      the op is done
//   R_PROBLEM u32 index code:1 u32 len msg  the op was not carried out; the run goes on
//   R_FATAL code:1 u32 len msg          the run stops here (ops without a reply were not done)
//   R_DONE u32 ops u32 ok               after TAG_END: all ops answered
// codes: C_STALE the target no longer matches the plan; C_UNSAFE refused for confinement (symlinked
//   parent, replaced root, bad name); C_IO a system call failed; C_ABORTED the sender aborted the
//   file; C_BUSY another apply holds the root's lock (fatal only); C_PROTOCOL the stream is malformed
//   (fatal only).
import type { Change } from "../../model/change.js";
import { STAGING_DIR, type Entry } from "../../model/snapshot.js";
import { toBytes } from "../../model/paths.js";

export const WIRE = {
  MAGIC: "TSYNCAP1",
  MARKER: "\0TSYNC-APPLY-1\0",
  STAGE_DIR: STAGING_DIR,
  TAG_OP: "O",
  TAG_END: "Z",
  FRAME_END: 0,
  FRAME_ABORT: 0xffffffff,
  FRAME_HOLE: 0xfffffffe,
  COPY_BYTES: "c",
  COPY_LINK: "h",
  /** Which attributes the helper sets: bit0 mode, bit1 owner/group, bit2 times. */
  ACT_MODE: 1,
  ACT_OWNER: 2,
  ACT_TIMES: 4,
  OP_MKDIR: "m",
  OP_CREATE: "c",
  OP_UPDATE: "u",
  OP_SYMLINK: "l",
  OP_CHMOD: "p",
  OP_CHOWN: "o",
  OP_TOUCH: "t",
  OP_DELETE: "d",
  OP_RMDIR: "r",
  R_OK: "K",
  R_PROBLEM: "P",
  R_FATAL: "F",
  R_DONE: "E",
  C_STALE: "s",
  C_UNSAFE: "u",
  C_IO: "i",
  C_ABORTED: "a",
  C_BUSY: "b",
  C_PROTOCOL: "x",
} as const;

export const MAGIC = WIRE.MAGIC;
export const MARKER = Buffer.from(WIRE.MARKER, "latin1");
export const END_OF_OPS = Buffer.from(WIRE.TAG_END, "latin1");
export const FRAME_END = WIRE.FRAME_END;
export const FRAME_ABORT = WIRE.FRAME_ABORT;
export const FRAME_HOLE = WIRE.FRAME_HOLE;
export const ACT_MODE = WIRE.ACT_MODE;
export const ACT_OWNER = WIRE.ACT_OWNER;
export const ACT_TIMES = WIRE.ACT_TIMES;

const KIND_CODE: Record<Change["kind"], string> = {
  mkdir: WIRE.OP_MKDIR, create: WIRE.OP_CREATE, update: WIRE.OP_UPDATE, symlink: WIRE.OP_SYMLINK, chmod: WIRE.OP_CHMOD,
  chown: WIRE.OP_CHOWN, touch: WIRE.OP_TOUCH, delete: WIRE.OP_DELETE, rmdir: WIRE.OP_RMDIR,
};

export function encodeHeader(root: string, opts: { fsync: boolean; lockWaitMs: number }): Buffer {
  const r = Buffer.from(root, "utf8");
  const b = Buffer.alloc(20);
  b.write(MAGIC, 0, "latin1");
  b.writeUInt32BE(opts.fsync ? 1 : 0, 8);
  b.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.round(opts.lockWaitMs))), 12);
  b.writeUInt32BE(r.length, 16);
  return Buffer.concat([b, r]);
}

function ownerBits(e: Entry | undefined): number {
  if (!e || e.kind === "problem") return 0;
  return (e.uid !== undefined ? 1 : 0) | (e.gid !== undefined ? 2 : 0);
}

export function encodeEntry(e: Entry | undefined): Buffer {
  const target = e?.kind === "symlink" ? toBytes(e.target) : Buffer.alloc(0);
  const b = Buffer.alloc(34);
  const type = !e ? "-" : e.kind === "file" ? "f" : e.kind === "dir" ? "d" : e.kind === "symlink" ? "l" : "x";
  b.write(type, 0, "latin1");
  if (e && e.kind !== "problem") {
    b.writeUInt32BE(e.mode >>> 0, 1);
    b.writeUInt8(ownerBits(e), 5);
    b.writeUInt32BE((e.uid ?? 0) >>> 0, 6);
    b.writeUInt32BE((e.gid ?? 0) >>> 0, 10);
    b.writeDoubleBE(e.mtimeMs, 14);
    if (e.kind === "file") {
      b.writeUInt32BE(Math.floor(e.size / 0x100000000), 22);
      b.writeUInt32BE(e.size % 0x100000000, 26);
    }
  }
  b.writeUInt32BE(target.length, 30);
  return Buffer.concat([b, target]);
}

function differs(before: Entry, after: Entry): number {
  if (before.kind === "problem" || after.kind === "problem") return 0;
  let bits = before.mode !== after.mode ? ACT_MODE : 0;
  if ((after.uid !== undefined && after.uid !== before.uid) || (after.gid !== undefined && after.gid !== before.gid)) bits |= ACT_OWNER;
  if (before.mtimeMs !== after.mtimeMs) bits |= ACT_TIMES;
  return bits;
}

/**
 * What the helper should set for a change. Metadata changes set their own attribute plus any other
 * one that differs between before and after, so a planner that folds several into one op converges.
 */
export function actionsFor(c: Change): number {
  switch (c.kind) {
    case "create":
    case "update":
    case "mkdir":
      return ACT_MODE | ACT_TIMES | (ownerBits(c.after) ? ACT_OWNER : 0);
    case "symlink":
      return ownerBits(c.after) ? ACT_OWNER : 0;
    case "chmod":
      return ACT_MODE | differs(c.before, c.after);
    case "chown":
      return (ownerBits(c.after) ? ACT_OWNER : 0) | differs(c.before, c.after);
    case "touch":
      return ACT_TIMES | differs(c.before, c.after);
    case "delete":
    case "rmdir":
      return 0;
  }
}

/** Whether the op carries file content frames (a create copied on the target does not). */
export function sendsContent(c: Change): c is Extract<Change, { kind: "create" | "update" }> {
  return c.kind === "update" || (c.kind === "create" && c.from === undefined);
}

export function encodeOp(c: Change): Buffer {
  const path = toBytes(c.path);
  const after = c.kind === "delete" || c.kind === "rmdir" ? undefined : c.after;
  const head = Buffer.alloc(6);
  head.write(KIND_CODE[c.kind], 0, "latin1");
  head.writeUInt8(actionsFor(c), 1);
  head.writeUInt32BE(path.length, 2);
  const parts = [head, path, encodeEntry(c.before), encodeEntry(after)];
  if (c.kind === "create" && c.from) {
    const from = toBytes(c.from.path);
    parts.push(u32(from.length), from, encodeEntry(c.from.entry), Buffer.from(c.from.link ? WIRE.COPY_LINK : WIRE.COPY_BYTES, "latin1"));
  }
  const body = Buffer.concat(parts);
  const prefix = Buffer.alloc(5);
  prefix.write(WIRE.TAG_OP, 0, "latin1");
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** A big-endian u32: lengths in ops and the header of each content frame. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export type Reply =
  | { readonly tag: "ok"; readonly index: number }
  | { readonly tag: "problem"; readonly index: number; readonly code: string; readonly message: string }
  | { readonly tag: "fatal"; readonly code: string; readonly message: string }
  | { readonly tag: "end"; readonly ops: number; readonly ok: number };

/** Incremental decoder of the helper's stdout: feed chunks as they arrive, get whole replies back. */
export class ReplyDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private started = false;
  /** Bytes seen before the marker (login-shell noise), kept short for error messages. */
  noise = "";

  push(chunk: Buffer): Reply[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (!this.started) {
      const at = this.buf.indexOf(MARKER);
      if (at < 0) {
        // Keep a tail that may hold the start of a marker split across chunks.
        const keep = Math.max(0, this.buf.length - MARKER.length + 1);
        this.noise = (this.noise + this.buf.subarray(0, keep).toString("latin1")).slice(-500);
        this.buf = this.buf.subarray(keep);
        return [];
      }
      this.noise = (this.noise + this.buf.subarray(0, at).toString("latin1")).slice(-500);
      this.buf = this.buf.subarray(at + MARKER.length);
      this.started = true;
    }
    const out: Reply[] = [];
    for (;;) {
      const r = this.next();
      if (!r) break;
      out.push(r);
    }
    return out;
  }

  get sawMarker(): boolean {
    return this.started;
  }

  private next(): Reply | undefined {
    const b = this.buf;
    if (b.length < 1) return undefined;
    const tag = String.fromCharCode(b[0]!);
    let need: number;
    if (tag === WIRE.R_OK) need = 5;
    else if (tag === WIRE.R_DONE) need = 9;
    else if (tag === WIRE.R_PROBLEM) need = b.length < 10 ? 10 : 10 + b.readUInt32BE(6);
    else if (tag === WIRE.R_FATAL) need = b.length < 6 ? 6 : 6 + b.readUInt32BE(2);
    else throw new Error(`apply helper sent an unknown reply tag 0x${b[0]!.toString(16)}`);
    if (b.length < need) return undefined;
    this.buf = b.subarray(need);
    switch (tag) {
      case WIRE.R_OK:
        return { tag: "ok", index: b.readUInt32BE(1) };
      case WIRE.R_DONE:
        return { tag: "end", ops: b.readUInt32BE(1), ok: b.readUInt32BE(5) };
      case WIRE.R_PROBLEM:
        return { tag: "problem", index: b.readUInt32BE(1), code: String.fromCharCode(b[5]!), message: b.subarray(10, need).toString("utf8") };
      default:
        return { tag: "fatal", code: String.fromCharCode(b[1]!), message: b.subarray(6, need).toString("utf8") };
    }
  }
}
