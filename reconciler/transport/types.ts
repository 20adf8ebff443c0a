// The small interface between the reconciler and a machine holding trees. Implemented for local paths
// (transport/local/) and SSH (transport/ssh/); tests of the pure core use a fake.
import { Readable } from "node:stream";
import type { Change } from "../model/change.js";
import type { RelPath } from "../model/paths.js";
import type { Snapshot } from "../model/snapshot.js";
import type { ScanOptions } from "../scan/options.js";

/** Content of source files, streamed to a target's apply. */
export interface ContentSource {
  /**
   * One source file, opened for sending. The transport checks the size (and the plan's hash, when it
   * has one) of what it receives against the plan.
   */
  open(path: RelPath): Promise<SourceFile>;
}

export interface SourceFile {
  /**
   * The file's bytes. Fails with a SourceChangedError, after the last chunk, when the file changed
   * while it was read (what was read may be torn): the file is then never put in place.
   */
  readonly stream: Readable;
  /** Fewer blocks allocated than its size: runs of zero blocks are sent as holes, not bytes. */
  readonly sparse?: boolean;
  /**
   * The whole file, already read and checked unchanged while read (small files): the same bytes as
   * `stream`, which a sender may then skip, and which several targets' sends may share.
   */
  readonly bytes?: Buffer;
}

/** A SourceFile of bytes already read whole; its stream is made only if someone asks for it. */
export function wholeFile(bytes: Buffer): SourceFile {
  return {
    bytes,
    get stream() {
      return Readable.from([bytes]);
    },
  };
}

export interface ApplyOptions {
  /** Called after each change is done, for progress (bytes: content bytes sent for it; 0 for a copy made on the target). */
  readonly onProgress?: (change: Change, bytes: number) => void;
  readonly signal?: AbortSignal;
}

/** A change that could not be carried out; the rest of the batch carries on where it safely can. */
export interface ApplyProblem {
  readonly path: RelPath;
  readonly kind: Change["kind"];
  /** "stale" when the target no longer matched `before`; "unsafe" when a path escaped the root. */
  readonly code: "stale" | "unsafe" | "io";
  readonly message: string;
}

export interface ApplyResult {
  readonly applied: number;
  readonly bytes: number;
  readonly problems: readonly ApplyProblem[];
}

export interface Transport {
  /** The host name ("local" for the machine running tsync), for messages. */
  readonly host: string;
  /** Scan the tree at `root`. A missing root yields an empty snapshot; unreadable paths become problem entries. */
  scan(root: string, opts: ScanOptions): Promise<Snapshot>;
  /** BLAKE2b-512 hex of the given files; a path that cannot be hashed is left out of the result. */
  hash(root: string, paths: readonly RelPath[], signal?: AbortSignal): Promise<Map<RelPath, string>>;
  /** Whole content of one file (for --diff and nginx configs); absent file: undefined. */
  readFile(root: string, path: RelPath, signal?: AbortSignal): Promise<Buffer | undefined>;
  /** Content for applying to other trees. */
  contentSource(root: string): ContentSource;
  /** Carry out `changes` in order under `root`, atomically per file and confined to root. */
  apply(root: string, changes: readonly Change[], content: ContentSource, opts?: ApplyOptions): Promise<ApplyResult>;
  /** Run a command (nginx test/reload): exit code and combined output. */
  run(command: string, signal?: AbortSignal): Promise<{ code: number; output: string }>;
  /** Replace a whole small file atomically (temp file + rename beside it): nginx configs. */
  writeFile(absPath: string, data: Buffer, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
