// Time as an injected dependency: the batcher, backoff retries and the status writer all run on a
// Clock so tests can drive them with FakeClock instead of sleeping.

export type TimerHandle = { readonly __timer: unique symbol } | object;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (h) => {
    if (h !== undefined) clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};

interface FakeTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Lets pending promise callbacks (and the I/O-free async code they start) run. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A manual clock: time moves only through advance()/tick(), due timers run in (time, creation) order. */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<FakeTimer>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t: FakeTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.add(t);
    return t;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.#timers.delete(handle as FakeTimer);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  #nextDue(until: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers)
      if (t.at <= until && (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq))) best = t;
    return best;
  }

  /** Synchronous: runs every timer due within `ms`, including ones those timers schedule. */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (let t = this.#nextDue(until); t; t = this.#nextDue(until)) {
      this.#timers.delete(t);
      this.#now = t.at;
      t.fn();
    }
    this.#now = until;
  }

  /** Like advance(), but lets async work started by each timer settle before the next one fires. */
  async tick(ms: number): Promise<void> {
    const until = this.#now + ms;
    await flushMicrotasks();
    for (let t = this.#nextDue(until); t; t = this.#nextDue(until)) {
      this.#timers.delete(t);
      this.#now = t.at;
      t.fn();
      await flushMicrotasks();
    }
    this.#now = until;
    await flushMicrotasks();
  }
}
