/**
 * Per-SSRC SRTP state of one direction (RFC 3711 §3.2.3): the sending side (`SrtpSender`) and
 * the receiving side (`SrtpReceiver`), each keyed by one master key (SDES gives each direction
 * its own) and one suite chosen per context.
 *
 * Sending side: "never reuse a keystream". For each SSRC it keeps the highest SRTP index used
 * (ROC << 16 | seq) and the last SRTCP index. A packet whose index is not above the highest
 * one already protected is refused (SrtpDrop.INDEX_NOT_ABOVE: dropped, never sent), including
 * an RTX or a packetiser restart that reuses a sequence number. 65535 -> 0 increments the ROC;
 * a forward jump of 32768 or more reads as going back and is refused too. `exportState()` gives
 * `{ ssrc, roc, lastSeq, rtcpIndex }` for the caller to persist; `importState()` after a restart
 * makes the sender refuse everything at or below it (the packetiser starts after `lastSeq`).
 * The first SRTCP index sent is 1, as libsrtp (and so GStreamer's srtpenc) does.
 *
 * Receiving side: index estimation (§3.3.1, App. A, see packet-index.ts), a 64-packet replay
 * window for RTP and one for SRTCP (§3.3.2). An SSRC seen for the first time starts a context
 * with ROC 0 and s_l = its sequence number, but only once the packet authenticated, so forged
 * SSRCs cannot fill the table; past `maxStreams` contexts a new SSRC is dropped
 * (SrtpDrop.CONTEXTS_FULL). ROC and window move only after the tag verified.
 *
 * All packet functions return the output length, or a negative SrtpDrop code; they throw only
 * for an `out` too small (BufferTooSmallError). Not thread-safe: one owner (the adapter).
 * Runs on: net-send (sender, and receiver of the peer's RTCP), `orbox receive`.
 */
import { readU32 } from '../rtp/header.js';
import { AesCmHmacSha1Transform } from './aes-cm.js';
import { AeadAes128GcmTransform } from './aes-gcm.js';
import { SrtpDrop, SrtpOptionError } from './errors.js';
import { deriveKeys } from './kdf.js';
import { estimateIndex, rocOf, seqOf, SRTCP_INDEX_LIMIT, SRTP_INDEX_LIMIT, srtpIndex } from './packet-index.js';
import { ReplayWindow } from './replay.js';
import type { SrtpKeying } from './suites.js';
import type { SrtpTransform } from './transform.js';

/** Default bound on per-SSRC contexts (a stream, its RTX and FEC, a few viewers' RTCP). */
export const DEFAULT_MAX_STREAMS = 16;
const RTCP_HEADER = 8;

/** What a sender persists per SSRC to resume without reusing a keystream. */
export interface SrtpSendState {
  ssrc: number;
  /** Rollover counter of the highest index protected (0..2^32-1). */
  roc: number;
  /** Sequence number of the highest index protected; -1 when no RTP was protected yet. */
  lastSeq: number;
  /** Last SRTCP index used (0: none yet). */
  rtcpIndex: number;
}

/** The transform of a keying's suite, with its session keys derived. @throws SrtpOptionError */
export function createTransform(k: SrtpKeying): SrtpTransform {
  const keys = deriveKeys(k);
  switch (k.suite.name) {
    case 'AES_CM_128_HMAC_SHA1_80': return new AesCmHmacSha1Transform(keys);
    case 'AEAD_AES_128_GCM': return new AeadAes128GcmTransform(keys);
  }
}

/**
 * Length of the clear part of an RTP packet (fixed header, CSRCs, extension), or -1 when the
 * packet is too short for it or not version 2. edge/rtp's decodeRtpHeader is not used: it reads
 * the padding count from the last byte, which in SRTP is the tag.
 */
export function rtpClearHeaderLength(pkt: Uint8Array, len: number): number {
  if (len < 12 || pkt[0] >> 6 !== 2) return -1;
  let off = 12 + 4 * (pkt[0] & 0x0f);
  if (pkt[0] & 0x10) {
    if (len < off + 4) return -1;
    off += 4 + 4 * ((pkt[off + 2] << 8) | pkt[off + 3]);
  }
  return off <= len ? off : -1;
}

function checkMax(n: number | undefined): number {
  const v = n ?? DEFAULT_MAX_STREAMS;
  if (!Number.isInteger(v) || v < 1) throw new SrtpOptionError('maxStreams', `must be an integer >= 1, got ${n}`);
  return v;
}

class SendStream {
  /** Highest SRTP index protected, -1 before the first. */
  lastIndex = -1;
  /** Last SRTCP index used; the next one sent is this + 1. */
  rtcpIndex = 0;
  constructor(readonly ssrc: number) {}
}

export class SrtpSender {
  private readonly transform: SrtpTransform;
  private readonly streams = new Map<number, SendStream>();
  private readonly maxStreams: number;

  /** @throws SrtpOptionError for a key or salt of the wrong length, or a bad maxStreams. */
  constructor(keying: SrtpKeying, opts: { maxStreams?: number } = {}) {
    this.transform = createTransform(keying);
    this.maxStreams = checkMax(opts.maxStreams);
  }

  get suite() { return this.transform.suite; }

  private stream(ssrc: number): SendStream | undefined {
    let s = this.streams.get(ssrc);
    if (!s && this.streams.size < this.maxStreams) this.streams.set(ssrc, (s = new SendStream(ssrc)));
    return s;
  }

  /** Protects the RTP packet `pkt[0, len)` into `out`; returns the SRTP length or an SrtpDrop code. */
  protectRtp(pkt: Uint8Array, len: number, out: Uint8Array): number {
    const hdr = rtpClearHeaderLength(pkt, len);
    if (hdr < 0) return SrtpDrop.TOO_SHORT;
    const ssrc = readU32(pkt, 8);
    const seq = (pkt[2] << 8) | pkt[3];
    const s = this.stream(ssrc);
    if (!s) return SrtpDrop.CONTEXTS_FULL;
    const index = s.lastIndex < 0 ? seq : estimateIndex(s.lastIndex, seq);
    if (index <= s.lastIndex) return SrtpDrop.INDEX_NOT_ABOVE;
    if (index >= SRTP_INDEX_LIMIT) return SrtpDrop.INDEX_EXHAUSTED;
    const n = this.transform.protectRtp(pkt, len, hdr, ssrc, index, out);
    s.lastIndex = index;
    return n;
  }

  /** Protects the RTCP compound packet `pkt[0, len)` (encrypted, E = 1); returns the SRTCP length or an SrtpDrop code. */
  protectRtcp(pkt: Uint8Array, len: number, out: Uint8Array): number {
    if (len < RTCP_HEADER || pkt[0] >> 6 !== 2) return SrtpDrop.TOO_SHORT;
    const ssrc = readU32(pkt, 4);
    const s = this.stream(ssrc);
    if (!s) return SrtpDrop.CONTEXTS_FULL;
    const index = s.rtcpIndex + 1;
    if (index >= SRTCP_INDEX_LIMIT) return SrtpDrop.INDEX_EXHAUSTED;
    const n = this.transform.protectRtcp(pkt, len, ssrc, index, out);
    s.rtcpIndex = index;
    return n;
  }

  /** Per-SSRC state to persist (see SrtpSendState). */
  exportState(): SrtpSendState[] {
    return [...this.streams.values()].map((s) => ({
      ssrc: s.ssrc,
      roc: s.lastIndex < 0 ? 0 : rocOf(s.lastIndex),
      lastSeq: s.lastIndex < 0 ? -1 : seqOf(s.lastIndex),
      rtcpIndex: s.rtcpIndex,
    }));
  }

  /**
   * Resumes from persisted state: later packets must be above it. Where this sender already has
   * state for an SSRC, the higher of the two is kept (importing never lowers a floor).
   * @throws SrtpOptionError for a value out of range, or more SSRCs than maxStreams.
   */
  importState(states: readonly SrtpSendState[]): void {
    for (const st of states) {
      const bad = (field: string, v: unknown) => new SrtpOptionError(`state.${field}`, `out of range for SSRC ${st.ssrc}: ${v}`);
      if (!Number.isInteger(st.ssrc) || st.ssrc < 0 || st.ssrc > 0xffff_ffff) throw bad('ssrc', st.ssrc);
      if (!Number.isInteger(st.lastSeq) || st.lastSeq < -1 || st.lastSeq > 0xffff) throw bad('lastSeq', st.lastSeq);
      if (!Number.isInteger(st.roc) || st.roc < 0 || st.roc > 0xffff_ffff || (st.lastSeq < 0 && st.roc !== 0)) throw bad('roc', st.roc);
      if (!Number.isInteger(st.rtcpIndex) || st.rtcpIndex < 0 || st.rtcpIndex >= SRTCP_INDEX_LIMIT) throw bad('rtcpIndex', st.rtcpIndex);
      const s = this.stream(st.ssrc);
      if (!s) throw new SrtpOptionError('state', `more than ${this.maxStreams} SSRCs`);
      const last = st.lastSeq < 0 ? -1 : srtpIndex(st.roc, st.lastSeq);
      if (last > s.lastIndex) s.lastIndex = last;
      if (st.rtcpIndex > s.rtcpIndex) s.rtcpIndex = st.rtcpIndex;
    }
  }
}

class RecvStream {
  readonly rtp = new ReplayWindow();
  readonly rtcp = new ReplayWindow();
}

export class SrtpReceiver {
  private readonly transform: SrtpTransform;
  private readonly streams = new Map<number, RecvStream>();
  private readonly maxStreams: number;
  private readonly tag: number;
  private readonly rtcpTrailer: number;

  /** @throws SrtpOptionError for a key or salt of the wrong length, or a bad maxStreams. */
  constructor(keying: SrtpKeying, opts: { maxStreams?: number } = {}) {
    this.transform = createTransform(keying);
    this.maxStreams = checkMax(opts.maxStreams);
    this.tag = keying.suite.tagLength;
    this.rtcpTrailer = keying.suite.rtcpOverhead;
  }

  get suite() { return this.transform.suite; }

  /** SSRCs with a context. */
  get streamCount(): number { return this.streams.size; }

  /** The highest SRTP index authenticated for `ssrc`, -1 if none. */
  highestIndex(ssrc: number): number {
    return this.streams.get(ssrc)?.rtp.highest ?? -1;
  }

  /** Unprotects the SRTP packet `pkt[0, len)` into `out`; returns the RTP length or an SrtpDrop code. */
  unprotectRtp(pkt: Uint8Array, len: number, out: Uint8Array): number {
    if (len > pkt.length) return SrtpDrop.TOO_SHORT;
    const hdr = rtpClearHeaderLength(pkt, len);
    if (hdr < 0 || len < hdr + this.tag) return SrtpDrop.TOO_SHORT;
    const ssrc = readU32(pkt, 8);
    const seq = (pkt[2] << 8) | pkt[3];
    const s = this.streams.get(ssrc);
    let index = seq;
    if (s && s.rtp.highest >= 0) {
      index = estimateIndex(s.rtp.highest, seq);
      if (index < 0) return SrtpDrop.TOO_OLD;
      const w = s.rtp.check(index);
      if (w < 0) return w;
    }
    const n = this.transform.unprotectRtp(pkt, len, hdr, ssrc, index, out);
    if (n < 0) return n;
    const st = s ?? this.create(ssrc);
    if (!st) return SrtpDrop.CONTEXTS_FULL;
    st.rtp.accept(index);
    return n;
  }

  /** Unprotects the SRTCP packet `pkt[0, len)` into `out`; returns the RTCP length or an SrtpDrop code. */
  unprotectRtcp(pkt: Uint8Array, len: number, out: Uint8Array): number {
    if (len > pkt.length || len < RTCP_HEADER + this.rtcpTrailer || pkt[0] >> 6 !== 2) return SrtpDrop.TOO_SHORT;
    const ssrc = readU32(pkt, 4);
    const word = this.transform.srtcpIndexWord(pkt, len);
    const index = word & 0x7fff_ffff;
    const s = this.streams.get(ssrc);
    if (s) {
      const w = s.rtcp.check(index);
      if (w < 0) return w;
    }
    const n = this.transform.unprotectRtcp(pkt, len, ssrc, word, out);
    if (n < 0) return n;
    const st = s ?? this.create(ssrc);
    if (!st) return SrtpDrop.CONTEXTS_FULL;
    st.rtcp.accept(index);
    return n;
  }

  private create(ssrc: number): RecvStream | undefined {
    if (this.streams.size >= this.maxStreams) return undefined;
    const s = new RecvStream();
    this.streams.set(ssrc, s);
    return s;
  }
}
