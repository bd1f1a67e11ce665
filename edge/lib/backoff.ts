/**
 * Retry delays: capped exponential backoff with jitter, the one formula every retry of the box
 * uses (the fleet link's reconnect, the guard's restarts, a lost video source, the RTSP
 * server child, a serial port that went away).
 *
 * Why jitter: a fleet of boxes (or a box of workers, or a room of adapters) that fail
 * together must not retry in the same instant; mqtt.js, for one, reconnects on a fixed period.
 * Delay number n (n = failed attempts before it, from 0):
 *   cap = min(maxMs, minMs * 2^n);  delay = round(cap * (1 - jitter * r)),  r in [0, 1)
 * so jitter = 1 is "full jitter" (0..cap) and jitter = 0.5 spreads over (cap/2, cap].
 * Pure: randomness is injected (default Math.random) so tests assert exact delays; timers
 * stay with the caller.
 * Errors: RangeError for a policy outside 0 < minMs <= maxMs, 0 <= jitter <= 1.
 */

export interface BackoffOptions {
  /** First delay in ms (> 0). */
  minMs: number;
  /** Upper bound of any delay in ms (>= minMs). */
  maxMs: number;
  /** Fraction of the delay that is randomised, 0..1. */
  jitter: number;
}

function check(opts: BackoffOptions): void {
  if (!(opts.minMs > 0) || !(opts.maxMs >= opts.minMs)) throw new RangeError(`backoff: need 0 < minMs <= maxMs, found minMs ${opts.minMs}, maxMs ${opts.maxMs}`);
  if (!(opts.jitter >= 0 && opts.jitter <= 1)) throw new RangeError(`backoff: jitter must be within 0..1, found ${opts.jitter}`);
}

/**
 * Delay in ms before the attempt that follows `failed` failures (0 = the first retry), for a
 * caller that keeps the count itself (the guard keeps it in the shared health table).
 */
export function backoffDelay(failed: number, opts: BackoffOptions, random: () => number = Math.random): number {
  check(opts);
  // 2^failed overflows nothing before the cap: stop growing once past it.
  const cap = Math.min(opts.maxMs, opts.minMs * 2 ** Math.min(failed, 40));
  return Math.round(cap * (1 - opts.jitter * random()));
}

/** A retry counter with its policy: next() per failure, reset() once the thing works again. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {
    check(opts);
  }

  /** Delay before the next attempt, in ms; advances the attempt count. */
  next(): number {
    return backoffDelay(this.attempt++, this.opts, this.random);
  }

  /** After a success: start again from minMs. */
  reset(): void {
    this.attempt = 0;
  }

  /** Failures counted since the last reset(). */
  get attempts(): number {
    return this.attempt;
  }
}
