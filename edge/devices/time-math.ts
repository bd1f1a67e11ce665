/**
 * Time helpers shared by the drivers: unwrapping a device's wrapping 32-bit tick counter, the
 * device clock offset/drift estimate, and the timeline that stamps wave blocks at their first
 * sample.
 *
 * Why: JavaScript numbers do not wrap; every u32 tick difference goes through `u32Delta` so the
 * wrap of IntelliVue's relative time (125 us ticks, wraps after ~6.2 days) is one tested place.
 */

/** Signed difference b - a of two u32 counters, assuming they are less than 2^31 apart. */
export function u32Delta(a: number, b: number): number {
  return ((b - a) | 0);
}

/** Extends a wrapping u32 counter to a monotonically growing bigint. */
export class U32Unwrapper {
  private last: number | undefined;
  private extended = 0n;
  /** Returns the extended value of `v`; backwards jumps of less than 2^31 are allowed (reordering). */
  push(v: number): bigint {
    v >>>= 0;
    if (this.last === undefined) {
      this.last = v;
      this.extended = BigInt(v);
      return this.extended;
    }
    const d = u32Delta(this.last, v);
    this.extended += BigInt(d);
    this.last = v;
    return this.extended;
  }
  reset(): void {
    this.last = undefined;
    this.extended = 0n;
  }
}

/**
 * Estimates offset (host - device) and drift of a device clock from (host, device) pairs.
 * The offset is the minimum over a window (transport delay only ever adds to the host time),
 * the drift a least-squares slope over the window. Pure: feed it pairs, read the estimate.
 */
export class ClockOffsetEstimator {
  private readonly host: bigint[] = [];
  private readonly dev: bigint[] = [];
  constructor(private readonly window = 64) {}
  add(hostNs: bigint, deviceNs: bigint): void {
    if (deviceNs === 0n) return;
    this.host.push(hostNs);
    this.dev.push(deviceNs);
    if (this.host.length > this.window) {
      this.host.shift();
      this.dev.shift();
    }
  }
  /** host - device in ns (minimum over the window), undefined before the first pair. */
  offsetNs(): bigint | undefined {
    let best: bigint | undefined;
    for (let i = 0; i < this.host.length; i++) {
      const o = this.host[i]! - this.dev[i]!;
      if (best === undefined || o < best) best = o;
    }
    return best;
  }
  /** Device clock drift relative to the host in parts per million (positive: device runs fast). */
  driftPpm(): number | undefined {
    const n = this.host.length;
    if (n < 8) return undefined;
    const h0 = this.host[0]!;
    const d0 = this.dev[0]!;
    let sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (let i = 0; i < n; i++) {
      const x = Number(this.host[i]! - h0) / 1e9;
      const y = Number(this.dev[i]! - d0) / 1e9;
      sx += x; sy += y; sxx += x * x; sxy += x * y;
    }
    const den = n * sxx - sx * sx;
    if (den === 0) return undefined;
    return ((n * sxy - sx * sy) / den - 1) * 1e6;
  }
  count(): number {
    return this.host.length;
  }
}

/**
 * Stamps consecutive wave blocks of one wave at their first sample. A block's first sample is
 * estimated from its arrival (arrival - n * period); while that estimate stays within
 * `toleranceNs` of the continuation of the previous block, the continuation is used, so a
 * gapless wave gets gapless timestamps instead of serial-read jitter. A larger jump (device
 * restarted, samples lost) resynchronises to the estimate.
 */
export class WaveTimeline {
  private nextWall: bigint | undefined;
  private nextMono = 0n;
  resyncs = 0;
  constructor(private readonly toleranceNs = 150_000_000n) {}
  stamp(arrival: { wallNs: bigint; monoNs: bigint }, count: number, periodNs: bigint): { wallNs: bigint; monoNs: bigint } {
    const span = BigInt(count) * periodNs;
    const estWall = arrival.wallNs - span;
    const estMono = arrival.monoNs - span;
    let wallNs = estWall;
    let monoNs = estMono;
    if (this.nextWall !== undefined) {
      const d = estMono - this.nextMono;
      if (d <= this.toleranceNs && d >= -this.toleranceNs) {
        wallNs = this.nextWall;
        monoNs = this.nextMono;
      } else {
        this.resyncs++;
      }
    }
    this.nextWall = wallNs + span;
    this.nextMono = monoNs + span;
    return { wallNs, monoNs };
  }
  reset(): void {
    this.nextWall = undefined;
  }
}
