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

/** What plan and apply need to know about a target root before they list or write it. */
export interface RootProbe {
  /** Where the work happens: the root itself, or the real directory a symlinked root resolves to. */
  readonly path: string;
  /** Set when the root is a symlink: its target as read (readlink). */
  readonly link?: string;
  /** The remote work runs as root (uid 0, or sudo: true): it may chown. */
  readonly privileged: boolean;
  /** The ids of a `chown` spec on this host; a name that does not exist there is in `unknown`. */
  readonly owner?: { readonly uid?: number; readonly gid?: number; readonly unknown?: string };
}

export interface ExecOptions {
  /** Working directory (a target root). */
  readonly cwd: string;
  /** Added to the environment the command gets (the login's, over SSH). */
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: Buffer;
  /** Then the command's whole process group is killed (TERM, KILL 5 s later). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface ExecResult {
  /** Exit status; 128+n when killed by signal n. */
  readonly code: number;
  readonly timedOut: boolean;
  /** The last few KiB of stderr (stdout is discarded). */
  readonly stderrTail: string;
}

/** How much of a command's stderr is kept. */
export const STDERR_TAIL_BYTES = 4096;

export interface Transport {
  /** The host name ("local" for the machine running tsync), for messages. */
  readonly host: string;
  /** Resolve a target root (and the ids of `chown` names) once; cached for the connection's life. */
  probeRoot(root: string, chown?: { readonly user?: string; readonly group?: string }, signal?: AbortSignal): Promise<RootProbe>;
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
  /** Run a command with input, environment and a timeout (onChange hooks); never retried. */
  exec(command: string, opts: ExecOptions): Promise<ExecResult>;
  /** Replace a whole small file atomically (temp file + rename beside it): nginx configs. */
  writeFile(absPath: string, data: Buffer, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
