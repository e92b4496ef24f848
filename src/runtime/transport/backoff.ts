// Reconnect delays: exponential growth, bounded, with jitter so that many nodes that lost the
// same peer do not redial it in lockstep. "Equal jitter" (half fixed, half random) from Marc
// Brooker, "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015): it spreads retries
// like full jitter but never retries immediately after a failure.
import { assert } from '../../core/result.ts';
import type { Random } from '../../core/random.ts';

export interface BackoffOptions {
  /** Ceiling of the first delay. */
  readonly initialDelayMs: number;
  /** Ceiling of every delay. */
  readonly maxDelayMs: number;
}

export class Backoff {
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #random: Random;
  #failures = 0;

  constructor(options: BackoffOptions, random: Random) {
    assert(options.initialDelayMs > 0, `initialDelayMs must be positive, got ${options.initialDelayMs}`);
    assert(options.maxDelayMs >= options.initialDelayMs, 'maxDelayMs must be >= initialDelayMs');
    this.#initialDelayMs = options.initialDelayMs;
    this.#maxDelayMs = options.maxDelayMs;
    this.#random = random;
  }

  /** Consecutive failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** The delay after one more failure, in [ceiling/2, ceiling). */
  next(): number {
    // Capping the exponent keeps 2^n finite; the ceiling is reached long before 2^30.
    const ceiling = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    return ceiling / 2 + this.#random.float() * (ceiling / 2);
  }

  reset(): void {
    this.#failures = 0;
  }
}
