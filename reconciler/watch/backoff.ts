// Retry pacing for a failing target: exponential, capped, jittered so four targets that went down
// together do not hammer a recovering host in lockstep. Randomness is injected for tests.

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly factor: number;
  /** 0..1: the delay is drawn from [raw × (1 − jitter), raw], so the cap is never exceeded. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.2 };

/** Delay before retry number `attempt` (0 = first retry). Pure. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const raw = Math.min(policy.maxMs, policy.baseMs * Math.pow(policy.factor, Math.max(0, attempt)));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(raw * (1 - policy.jitter * r));
}

export class Backoff {
  #attempt = 0;
  constructor(
    private readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next retry; each call counts one more failure. */
  next(): number {
    return backoffDelay(this.#attempt++, this.policy, this.random);
  }

  /** Consecutive failures since the last success. */
  get failures(): number {
    return this.#attempt;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
