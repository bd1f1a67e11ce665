/**
 * Sparkplug-style 8-bit sequence numbers (telemetry seq and birth/death seq).
 * Every operation masks to 8 bits here, so no caller does arithmetic on a raw seq.
 */

export const SEQ_MODULO = 256;

/** The number after `seq`, wrapping 255 -> 0. */
export function nextSeq(seq: number): number {
  return (seq + 1) & 0xff;
}

/** How many steps from `from` forward to `to` (0..255), e.g. distance(255, 0) = 1. */
export function seqDistance(from: number, to: number): number {
  return (to - from) & 0xff;
}
