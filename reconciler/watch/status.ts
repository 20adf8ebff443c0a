// The status document of a running `tsync watch` and its writer. The file is the daemon's only
// interface to `tsync status`, monitoring and humans, so it is replaced atomically (never half
// written) and kept fresh: on every state change at once, otherwise at most once a second.
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../transport/local/atomic-write.js";
import type { Clock, TimerHandle } from "./clock.js";

export const STATUS_FORMAT_VERSION = 1;

/** `problems`: nothing left to apply, but paths tsync cannot read or replicate (not in sync). */
/** `syncing`: work in flight or source events not yet applied; `paused`: `tsync pause`, sent nothing. */
export type TargetStatusState = "in-sync" | "syncing" | "drifted" | "problems" | "unreachable" | "failed" | "paused";
export type WatcherMode = "inotify" | "polling" | "none";

export interface AuditStatus {
  /** ISO 8601. */
  readonly at: string;
  readonly kind: "quick" | "deep";
  /** Changes found across the audited targets (0: no drift). */
  readonly drift: number;
  readonly result: "in-sync" | "healed" | "reported" | "failed";
  readonly error?: string;
  /** How long the audit's plan (and heal) took. */
  readonly durationMs?: number;
}

/** Counted since the daemon started (a reload keeps them): what /metrics exports as counters. */
export interface TargetTotals {
  readonly bytesSent: number;
  /** Changes carried out (files sent or copied, directories, links, metadata, deletes). */
  readonly changesApplied: number;
  /** Plans applied to this target (live batches, full plans, heals) that had changes. */
  readonly batches: number;
  /** Times it became unreachable or failed. */
  readonly failures: number;
  readonly driftFound: number;
  readonly driftHealed: number;
}

export interface TargetStatus {
  /** "www-01:/var/www/site" or "/srv/copy". */
  readonly target: string;
  readonly state: TargetStatusState;
  readonly lastSyncAt?: string;
  readonly lastError?: string;
  /** Consecutive failures; the next retry is at `retryAt`. */
  readonly failures: number;
  readonly retryAt?: string;
  /** Paths that could not be read or replicated in the last full plan (reported, never acted on). */
  readonly problems: number;
  /** Changes found by the last audit and left alone (onDrift: report). */
  readonly drift: number;
  readonly totals?: TargetTotals;
  /** onChange commands run on this target since the daemon started, and how many of them failed. */
  readonly hookRuns?: number;
  readonly hookFailures?: number;
  /** The last failed hook: when, and the one-line reason (exit status or timeout, stderr's last line). */
  readonly lastHookFailure?: { readonly at: string; readonly error: string };
  /** Source events seen that have not reached this target yet (a paused target's keep counting). */
  readonly pendingEvents?: number;
  /** The oldest of them arrived no earlier than this: how far behind the target is. */
  readonly behindSince?: string;
  /** `tsync pause`: since when. */
  readonly pausedSince?: string;
}

export interface SyncStatus {
  readonly name: string;
  readonly source: string;
  readonly watcher: { readonly mode: WatcherMode; readonly reason?: string };
  /** Distinct paths waiting for the next batch. */
  readonly pendingEvents: number;
  /** Jobs (batches, audits, retries) waiting behind the running one. */
  readonly queueDepth: number;
  readonly lastSyncAt?: string;
  readonly lastAudit?: AuditStatus;
  readonly lastError?: string;
  readonly targets: readonly TargetStatus[];
}

export interface StatusDoc {
  readonly formatVersion: typeof STATUS_FORMAT_VERSION;
  readonly pid: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly state: "starting" | "running" | "stopping" | "stopped";
  readonly manifestFile: string;
  readonly manifestDigest: string;
  readonly syncs: readonly SyncStatus[];
}

/** `tsync status` exits 1 unless every target is in sync or paused (paused on purpose, as /healthz). */
export function allInSync(doc: StatusDoc): boolean {
  return doc.syncs.every((s) => s.targets.every((t) => t.state === "in-sync" || t.state === "paused"));
}

export interface StatusWriterOptions {
  readonly file: string;
  readonly clock: Clock;
  /** Builds the current document; called at write time so a throttled write is never stale. */
  readonly snapshot: () => StatusDoc;
  readonly minIntervalMs?: number;
  readonly onError?: (message: string) => void;
  /** Injected for tests; default: temp file beside `file` + rename. */
  readonly write?: (file: string, data: string) => Promise<void>;
}

export class StatusWriter {
  #lastWrite = -Infinity;
  #timer: TimerHandle | undefined;
  #chain: Promise<void> = Promise.resolve();
  #failing = false;
  readonly #minInterval: number;
  readonly #write: (file: string, data: string) => Promise<void>;

  constructor(private readonly opts: StatusWriterOptions) {
    this.#minInterval = opts.minIntervalMs ?? 1000;
    this.#write = opts.write ?? writeFileAtomic;
  }

  /** Something changed. `stateChange`: write now; otherwise at most once per interval. */
  notify(stateChange: boolean): void {
    const { clock } = this.opts;
    if (stateChange) {
      void this.flush();
      return;
    }
    if (this.#timer !== undefined) return;
    const wait = this.#lastWrite + this.#minInterval - clock.now();
    if (wait <= 0) void this.flush();
    else this.#timer = clock.setTimeout(() => void this.flush(), wait);
  }

  /** Write the current document now (after any write in progress). */
  flush(): Promise<void> {
    this.opts.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lastWrite = this.opts.clock.now();
    const data = JSON.stringify(this.opts.snapshot(), null, 2) + "\n";
    this.#chain = this.#chain.then(async () => {
      try {
        await this.#write(this.opts.file, data);
        this.#failing = false;
      } catch (err) {
        // Reported once per failing streak: a full disk must not flood the log every second.
        if (!this.#failing) this.opts.onError?.(`cannot write status file ${this.opts.file}: ${(err as Error).message}`);
        this.#failing = true;
      }
    });
    return this.#chain;
  }

  /** Cancels a throttled write (the caller flushes the final document itself). */
  close(): void {
    this.opts.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export type ReadStatusResult =
  | { readonly ok: true; readonly doc: StatusDoc; readonly stale?: string }
  | { readonly ok: false; readonly error: string };

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reads a status file for `tsync status`. Never throws; a dead daemon's file is returned with `stale`. */
export async function readStatus(file: string, isAlive: (pid: number) => boolean = pidAlive): Promise<ReadStatusResult> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: false, error: `no status at ${file}: is \`tsync watch\` running?` };
    return { ok: false, error: `cannot read status file ${file}: ${(err as Error).message}` };
  }
  let doc: StatusDoc;
  try {
    doc = JSON.parse(text) as StatusDoc;
  } catch {
    return { ok: false, error: `${file}: not a tsync status file (invalid JSON)` };
  }
  if (doc === null || typeof doc !== "object" || doc.formatVersion !== STATUS_FORMAT_VERSION || !Array.isArray(doc.syncs))
    return { ok: false, error: `${file}: not a tsync status file (format version ${String((doc as { formatVersion?: unknown })?.formatVersion)})` };
  if (doc.state === "stopped")
    return { ok: true, doc, stale: `the daemon (pid ${doc.pid}) stopped at ${doc.updatedAt}: this status is its last word` };
  if (!isAlive(doc.pid))
    return { ok: true, doc, stale: `pid ${doc.pid} is not running: this status is stale (last updated ${doc.updatedAt})` };
  return { ok: true, doc };
}
