/**
 * Reconnect delays: capped exponential backoff with jitter.
 *
 * Why: mqtt.js reconnects on a fixed period; after a broker restart every box of a hospital
 * would reconnect in the same second. Delay n (n = failed attempts so far, from 0) is
 *   cap = min(maxMs, minMs * 2^n);  delay = cap * (1 - jitter * r),  r in [0, 1)
 * so jitter = 1 is "full jitter" (0..cap) and jitter = 0.5 spreads over [cap/2, cap).
 * Pure: the random source is injected so tests assert exact delays.
 */

export interface BackoffOptions {
  /** First delay in ms (> 0). */
  minMs: number;
  /** Upper bound of any delay in ms (>= minMs). */
  maxMs: number;
  /** Fraction of the delay that is randomised, 0..1. */
  jitter: number;
}

export class Backoff {
  private attempt = 0;
  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {
    if (!(opts.minMs > 0) || !(opts.maxMs >= opts.minMs)) throw new RangeError('backoff: need 0 < minMs <= maxMs');
    if (!(opts.jitter >= 0 && opts.jitter <= 1)) throw new RangeError('backoff: jitter must be within 0..1');
  }

  /** Delay before the next attempt, in ms; advances the attempt count. */
  next(): number {
    // 2^attempt overflows nothing before the cap: stop growing once past it.
    const cap = Math.min(this.opts.maxMs, this.opts.minMs * 2 ** Math.min(this.attempt, 40));
    this.attempt++;
    return Math.round(cap * (1 - this.opts.jitter * this.random()));
  }

  /** After a successful connection: start again from minMs. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
