/**
 * Sequence-number and timestamp arithmetic for RTP (RFC 3550 §5.1, Appendix A.1).
 *
 * Owns: every operation on a 16-bit sequence number or a 32-bit RTP timestamp. JavaScript
 * numbers do not wrap like Go's uint16/uint32, so no other module adds to, subtracts from or
 * compares these values directly: they call the helpers here, which mask to 16 or 32 bits.
 *
 * Runs on: any thread (pure functions and a tiny stateful unwrapper, no I/O, no allocation).
 *
 * Conventions: "newer" uses serial-number arithmetic (RFC 1982): `b` is newer than `a` when the
 * forward distance from a to b is less than half the space. Unwrapping extends a 16-bit
 * sequence number (or 32-bit timestamp) to a monotonic counter held in a JS number (exact up to
 * 2^53: at 10 000 packets/s that is 28 000 years).
 */

/** 2^16, the size of the RTP sequence-number space. */
export const SEQ_MOD = 0x1_0000;
/** 2^32, the size of the RTP timestamp (and SSRC) space. */
export const TS_MOD = 0x1_0000_0000;

/** Masks to 16 bits (any integer, negative included). */
export function seq16(n: number): number {
  return n & 0xffff;
}

/** Masks to 32 bits, unsigned (any integer up to 2^53, negative included). */
export function u32(n: number): number {
  // `>>> 0` only sees the low 32 bits of an int32 conversion, which is exact for |n| < 2^53
  // because ToInt32 takes the value modulo 2^32.
  return n >>> 0;
}

/** a + b modulo 2^16. */
export function seqAdd(a: number, b: number): number {
  return (a + b) & 0xffff;
}

/** a + b modulo 2^32 (unsigned). */
export function tsAdd(a: number, b: number): number {
  return (a + b) >>> 0;
}

/** Signed distance from a to b in the 16-bit space, in [-32768, 32767]: b - a. */
export function seqDiff(a: number, b: number): number {
  const d = (b - a) & 0xffff;
  return d >= 0x8000 ? d - SEQ_MOD : d;
}

/** Signed distance from a to b in the 32-bit space, in [-2^31, 2^31 - 1]: b - a. */
export function tsDiff(a: number, b: number): number {
  return (b - a) | 0;
}

/** True when sequence number b comes after a (serial-number arithmetic). */
export function seqNewer(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

/** True when timestamp b comes after a (serial-number arithmetic). */
export function tsNewer(a: number, b: number): boolean {
  return tsDiff(a, b) > 0;
}

/**
 * Extends wrapping counters (16-bit sequence numbers or 32-bit timestamps) to a monotonic
 * space. The first value seen maps to itself; each later value maps to the extended value
 * nearest to the previous one, so late (reordered) packets map below it, not a cycle ahead.
 */
export class Unwrapper {
  private readonly bits: 16 | 32;
  private last = 0;
  private started = false;

  /** @param bits 16 for sequence numbers, 32 for timestamps. */
  constructor(bits: 16 | 32) {
    this.bits = bits;
  }

  /** Returns the extended value of `v` (which must already be within 0..2^bits-1). */
  unwrap(v: number): number {
    if (!this.started) {
      this.started = true;
      this.last = v;
      return v;
    }
    const d = this.bits === 16 ? seqDiff(this.last, v) : tsDiff(this.last, v);
    const ext = this.last + d;
    // Only move forward: a late packet is mapped but does not pull the reference back.
    if (d > 0) this.last = ext;
    return ext;
  }

  /** Forgets the history (a new SSRC or a stream restart). */
  reset(): void {
    this.started = false;
    this.last = 0;
  }
}
