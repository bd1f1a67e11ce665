/**
 * Replay protection (RFC 3711 §3.3.2): a sliding window of the last 64 indexes below the highest
 * one authenticated. Used for the SRTP index (48 bits) and the SRTCP index (31 bits) alike.
 *
 * Owns: the "seen?" question for one SSRC and one packet kind. The caller checks before
 * authenticating (cheap rejection) and accepts only after the tag verified, so a forged packet
 * never moves the window.
 *
 *      index:   top-63  ...  top-1   top  | top+1 ...
 *               [ 64 slots, one per index ] newer: always fresh
 *      older than top-63: TOO_OLD
 *
 * Layout: 64 slots addressed by `index mod 64`, each holding the index last accepted into it
 * (or -1). Inside the window the 64 indexes map to distinct slots, so "slot holds index" is
 * exactly "index was accepted"; a slot's older occupant is at least 64 below and out of the
 * window. This avoids shifting a 64-bit mask held in two 32-bit halves.
 * Runs on: `orbox receive`, net-send (for the peer's RTCP). Allocates once per stream.
 */
import { SrtpDrop } from './errors.js';

/** Window size in packets (RFC 3711 §3.3.2 minimum; libsrtp and GStreamer default to 128). */
export const REPLAY_WINDOW = 64;

export class ReplayWindow {
  private top = -1;
  private readonly slots = new Float64Array(REPLAY_WINDOW).fill(-1);

  /** The highest index accepted, -1 before the first. */
  get highest(): number {
    return this.top;
  }

  /** 0 when `index` may be accepted, else SrtpDrop.REPLAYED or SrtpDrop.TOO_OLD. */
  check(index: number): number {
    if (index > this.top) return 0;
    if (this.top - index >= REPLAY_WINDOW) return SrtpDrop.TOO_OLD;
    return this.slots[index % REPLAY_WINDOW] === index ? SrtpDrop.REPLAYED : 0;
  }

  /** Marks `index` seen (after it authenticated and `check` returned 0). */
  accept(index: number): void {
    this.slots[index % REPLAY_WINDOW] = index;
    if (index > this.top) this.top = index;
  }
}
