/**
 * Typed errors and drop reasons of the SRTP layer.
 *
 * Two kinds of failure, kept apart on purpose:
 * - Bad input from the network (a forged tag, a replay, a runt) is never an exception: the
 *   packet functions return a negative `SrtpDrop` code and the caller counts it. Throwing per
 *   packet would be slow and would let a peer turn garbage into control flow.
 * - A caller breaking a contract (an output buffer too small, a key of the wrong length, a
 *   persisted state out of range, an SDES line we cannot use) throws one of the classes below,
 *   each naming what is wrong; SdesError also carries the character offset in the attribute.
 * Output buffers too small throw edge/rtp's BufferTooSmallError, re-exported here.
 */
export { BufferTooSmallError } from '../rtp/errors.js';

/** Why a packet was not protected or not unprotected. Every value is negative. */
export const SrtpDrop = {
  /** Shorter than its header plus the trailer the suite needs, or not RTP/RTCP version 2. */
  TOO_SHORT: -1,
  /** The authentication tag (HMAC-SHA1-80 or GCM) does not match. */
  AUTH_FAILED: -2,
  /** Inside the 64-packet replay window and already received. */
  REPLAYED: -3,
  /** Older than the replay window (more than 63 below the highest index received). */
  TOO_OLD: -4,
  /** A new SSRC authenticated, but the table of per-SSRC contexts is full. */
  CONTEXTS_FULL: -5,
  /** Sending side: the SRTP/SRTCP index is not above the highest one already used for this SSRC. */
  INDEX_NOT_ABOVE: -6,
  /** Sending side: the index space is used up (2^48 RTP, 2^31-1 SRTCP): the key must change. */
  INDEX_EXHAUSTED: -7,
  /** The packet (plus the trailer) does not fit the output buffers of the adapter. */
  TOO_LONG: -8,
  /** The adapter was closed. */
  CLOSED: -9,
} as const;

export type SrtpDropCode = (typeof SrtpDrop)[keyof typeof SrtpDrop];
export type SrtpDropReason = keyof typeof SrtpDrop;

const REASONS = Object.keys(SrtpDrop) as SrtpDropReason[];

/** The name of a drop code (for stats and logs). */
export function dropReason(code: number): SrtpDropReason {
  for (const r of REASONS) if (SrtpDrop[r] === code) return r;
  throw new RangeError(`not an SrtpDrop code: ${code}`);
}

/** A key, salt, option or persisted state the SRTP layer cannot use; `option` names it. */
export class SrtpOptionError extends Error {
  override readonly name = 'SrtpOptionError';
  readonly option: string;
  constructor(option: string, message: string) {
    super(`srtp option ${option}: ${message}`);
    this.option = option;
  }
}

/** What part of an `a=crypto` line is wrong. */
export type SdesField = 'attribute' | 'tag' | 'suite' | 'key-method' | 'key' | 'lifetime' | 'mki' | 'session-param';

/** An `a=crypto` attribute (RFC 4568 §9.1) we cannot parse or do not support. */
export class SdesError extends Error {
  override readonly name = 'SdesError';
  readonly field: SdesField;
  /** Character offset in the attribute text where the problem starts. */
  readonly offset: number;
  constructor(field: SdesField, offset: number, message: string) {
    super(`a=crypto ${field} at char ${offset}: ${message}`);
    this.field = field;
    this.offset = offset;
  }
}
