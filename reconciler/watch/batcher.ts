// Coalesces a sync's events into batches. A batch leaves when the tree has been quiet for `settleMs`
// (one save goes out fast) and never later than `delayMs` after its first event (a steady stream
// cannot starve the targets). Only one batch is in flight per sync; what arrives meanwhile waits for
// the next one, so no event is lost and batches never overlap.
import type { RelPath } from "../model/paths.js";
import { compareRel } from "../model/paths.js";
import type { Clock, TimerHandle } from "./clock.js";

export interface BatcherOptions {
  readonly delayMs: number;
  /** Quiet time that ends a batch early; default min(100 ms, delayMs). */
  readonly settleMs?: number;
  readonly clock: Clock;
  /** Runs one batch (paths deduplicated, byte-sorted). The next batch waits for it to settle. */
  readonly onBatch: (paths: RelPath[]) => Promise<void>;
  /** A rejected onBatch: reported, the batcher carries on. */
  readonly onError?: (err: unknown) => void;
}

export class Batcher {
  #pending = new Set<RelPath>();
  #firstAt = 0;
  #lastAt = 0;
  #timer: TimerHandle | undefined;
  #flight: Promise<void> | undefined;
  #stopped = false;
  readonly #settleMs: number;

  constructor(private readonly opts: BatcherOptions) {
    this.#settleMs = Math.max(0, opts.settleMs ?? Math.min(100, opts.delayMs));
  }

  /** Distinct paths waiting for the next batch. */
  get pending(): number {
    return this.#pending.size;
  }

  get inFlight(): boolean {
    return this.#flight !== undefined;
  }

  add(path: RelPath): void {
    if (this.#stopped) return;
    const now = this.opts.clock.now();
    if (this.#pending.size === 0) this.#firstAt = now;
    this.#pending.add(path);
    this.#lastAt = now;
    // Lazy re-arming: the timer is checked against the moving deadline when it fires, instead of
    // being replaced on every event of a 5,000-event burst.
    if (this.#timer === undefined && !this.#flight) this.#arm();
  }

  #due(): number {
    return Math.min(this.#lastAt + this.#settleMs, this.#firstAt + this.opts.delayMs);
  }

  #arm(): void {
    const wait = Math.max(0, this.#due() - this.opts.clock.now());
    this.#timer = this.opts.clock.setTimeout(() => this.#fire(), wait);
  }

  #fire(): void {
    this.#timer = undefined;
    if (this.#stopped || this.#flight || this.#pending.size === 0) return;
    if (this.opts.clock.now() < this.#due()) return this.#arm();
    this.#send();
  }

  #send(): void {
    const paths = [...this.#pending].sort(compareRel);
    this.#pending = new Set();
    this.#flight = (async () => {
      try {
        await this.opts.onBatch(paths);
      } catch (err) {
        this.opts.onError?.(err);
      }
    })().finally(() => {
      this.#flight = undefined;
      if (this.#pending.size > 0 && !this.#stopped) this.#arm();
    });
  }

  /** Stop taking events and drop the pending ones; resolves when the batch in flight has settled. */
  async stop(): Promise<number> {
    this.#stopped = true;
    this.opts.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const dropped = this.#pending.size;
    this.#pending.clear();
    await this.#flight;
    return dropped;
  }
}
