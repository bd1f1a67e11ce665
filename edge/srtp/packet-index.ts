/**
 * The SRTP packet index (RFC 3711 §3.3.1, Appendix A): the 48-bit counter ROC * 2^16 + SEQ that
 * keys the keystream of every RTP packet, recovered from the 16-bit sequence number alone.
 *
 * Owns: the index arithmetic both sides share. Indexes live in JS numbers (exact to 2^53; the
 * SRTP index stops at 2^48). The 16-bit step goes through edge/rtp/seq.ts, the one place that
 * masks sequence numbers.
 *
 * Estimation: the index of a packet with sequence number `seq` is the one nearest to the highest
 * index seen so far, `last` (Appendix A's three cases of ROC-1 / ROC / ROC+1 come to this):
 *
 *     est = last + seqDiff(last mod 2^16, seq)        seqDiff in [-32768, 32767]
 *
 * so 65535 -> 0 is one step forward (ROC + 1) and 0 after 65535 arriving late is one step back
 * (ROC - 1). A result below 0 (a late packet before the first one of ROC 0) has no index.
 * Runs on: net-send, `orbox receive` (pure functions, no allocation).
 */
import { seqDiff, SEQ_MOD } from '../rtp/seq.js';

/** 2^48: the size of the SRTP index space; a master key must be replaced before it is reached. */
export const SRTP_INDEX_LIMIT = 2 ** 48;
/** 2^31: the size of the SRTCP index space (RFC 3711 §3.4). */
export const SRTCP_INDEX_LIMIT = 0x8000_0000;

/** ROC * 2^16 + seq. */
export function srtpIndex(roc: number, seq: number): number {
  return roc * SEQ_MOD + seq;
}

/** The rollover counter of an index. */
export function rocOf(index: number): number {
  return Math.floor(index / SEQ_MOD);
}

/** The sequence number of an index. */
export function seqOf(index: number): number {
  return index % SEQ_MOD;
}

/**
 * The index of sequence number `seq` given the highest index `last` seen (>= 0).
 * @returns the estimated index; negative when it would fall before index 0.
 */
export function estimateIndex(last: number, seq: number): number {
  return last + seqDiff(seqOf(last), seq);
}
