/**
 * What a cipher suite does to one packet, given the index the context chose. One implementation
 * per suite (aes-cm.ts, aes-gcm.ts); the per-SSRC state (context.ts) is the same for both.
 *
 * Contract
 * - `pkt[0, len)` is read; the result is written to `out[0, result)`. `out` may be `pkt` itself
 *   (in place) as long as it has room for the trailer.
 * - Lengths were checked by the caller (header present, trailer present); an `out` too small
 *   throws BufferTooSmallError before anything is written.
 * - Unprotect returns SrtpDrop.AUTH_FAILED when the tag does not verify; nothing is written then.
 * - Node's crypto allocates the cipher object and the update() output per packet (it has no
 *   "into a caller's buffer" form); nothing else is allocated.
 * Runs on: net-send, `orbox receive`.
 */
import type { SrtpSuite } from './suites.js';

export interface SrtpTransform {
  readonly suite: SrtpSuite;
  /** RTP: `hdrLen` bytes stay clear (fixed header, CSRCs, extension), the rest is encrypted. */
  protectRtp(pkt: Uint8Array, len: number, hdrLen: number, ssrc: number, index: number, out: Uint8Array): number;
  unprotectRtp(pkt: Uint8Array, len: number, hdrLen: number, ssrc: number, index: number, out: Uint8Array): number;
  /** RTCP: the first 8 bytes stay clear; always encrypts (E = 1). `index` < 2^31. */
  protectRtcp(pkt: Uint8Array, len: number, ssrc: number, index: number, out: Uint8Array): number;
  /** The E flag + SRTCP index word of a protected RTCP packet (its place depends on the suite). */
  srtcpIndexWord(pkt: Uint8Array, len: number): number;
  unprotectRtcp(pkt: Uint8Array, len: number, ssrc: number, indexWord: number, out: Uint8Array): number;
}
