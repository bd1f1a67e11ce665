/**
 * The box clock: one time base for every record of every worker.
 *
 * Owns: the mapping from the monotonic clock (CLOCK_MONOTONIC via `process.hrtime.bigint()`,
 * the same in every thread of the process) to wall-clock nanoseconds (UTC, disciplined by
 * NTP/PTP on the box). The supervisor takes one anchor at start and hands it to every worker,
 * so two workers stamping the same instant get the same wall time: the endoscope, the audio
 * and the ECG line up because they are stamped from one anchor, not from each worker's own
 * reading of the wall clock.
 *
 * Runs on: every thread. Pure apart from reading the monotonic clock; tests inject anchors.
 * Units: nanoseconds as bigint (a JS number loses precision past 2^53 ns ~ 104 days).
 */

export interface ClockAnchor {
  /** Wall-clock time in ns since the Unix epoch at the instant `monoNs` was read. */
  readonly wallNs: bigint;
  /** Monotonic clock reading in ns at the same instant. */
  readonly monoNs: bigint;
}

export interface Timestamp {
  readonly wallNs: bigint;
  readonly monoNs: bigint;
}

/** A time source: BoxClock satisfies it; tests inject their own. */
export interface ClockLike {
  now(): Timestamp;
}

/** Reads the wall clock and the monotonic clock as close together as this runtime allows. */
export function takeAnchor(): ClockAnchor {
  const m0 = process.hrtime.bigint();
  const wallMs = performance.timeOrigin + performance.now();
  const m1 = process.hrtime.bigint();
  return { wallNs: BigInt(Math.round(wallMs * 1e6)), monoNs: (m0 + m1) / 2n };
}

export class BoxClock {
  readonly anchor: ClockAnchor;
  constructor(anchor: ClockAnchor = takeAnchor()) {
    this.anchor = anchor;
  }

  /** Current monotonic time in ns. */
  monoNs(): bigint {
    return process.hrtime.bigint();
  }

  /** Current box time (wall clock on the box's single anchor) in ns since the epoch. */
  wallNs(): bigint {
    return this.toWall(process.hrtime.bigint());
  }

  /** Both readings of one instant. */
  now(): Timestamp {
    const monoNs = process.hrtime.bigint();
    return { wallNs: this.toWall(monoNs), monoNs };
  }

  /** Wall time of a monotonic reading taken on this box. */
  toWall(monoNs: bigint): bigint {
    return this.anchor.wallNs + (monoNs - this.anchor.monoNs);
  }
}

/** Milliseconds since the epoch of a ns box time, for logs and JSON. */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}
