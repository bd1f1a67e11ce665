/**
 * RTCP feedback messages (RFC 4585 §6.1 common header, §6.2.1 Generic NACK, §6.3.1 PLI;
 * RFC 5104 §4.3.1 FIR).
 *
 * Owns: writing NACK, PLI and FIR into a caller's buffer, and walking a compound RTCP packet
 * for the feedback in it. It does not own what to ask for (nack-generator.ts), what to answer
 * (nack-responder.ts) or keyframe policy (keyframe-request.ts). No I/O, no allocation per
 * packet or per FCI. Runs on: net-send (decode the peer's feedback), `orbox receive` (encode).
 *
 *   Feedback header, §6.1 (PT=205 RTPFB transport layer, PT=206 PSFB payload-specific):
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |V=2|P|   FMT   |       PT      |          length               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                  SSRC of packet sender                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                  SSRC of media source                         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   :            Feedback Control Information (FCI)                 :
 *
 *   Generic NACK FCI (PT=205, FMT=1), §6.2.1, one or more of:
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |            PID                |             BLP               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   PID: a lost packet's sequence number; BLP bit i (LSB = 0) set: PID+i+1 is lost too.
 *
 *   PLI (PT=206, FMT=1), §6.3.1: no FCI (length 2).
 *
 *   FIR FCI (PT=206, FMT=4), RFC 5104 §4.3.1.1, one or more of (header media SSRC is 0):
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                              SSRC                             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Seq nr.       |    Reserved                                   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Encoders write whole packets with V=2, P=0 and return the byte count; they throw
 * BufferTooSmallError before writing anything. NACKs go out alone (reduced-size RTCP,
 * RFC 5506) unless the caller prefixes them with an RR/SDES.
 *
 * Decoding: `forEachFeedback()` walks every packet of a compound and calls a visitor per FCI
 * with numbers and one reused header object. What makes the compound unreadable (a wrong
 * version, a length running past the datagram) throws RtpFormatError with the offset of that
 * packet: nothing after it can be located. A feedback packet that is readable as a unit but
 * wrong inside (shorter than its 12-byte header, a FIR whose FCIs do not divide into 8-byte
 * entries, a bad padding count, more than MAX_NACK_FCIS) is skipped and counted, and the
 * walk goes on.
 */
import { BufferTooSmallError, RtpFormatError } from './errors.js';
import { readU32, writeU32 } from './header.js';
import { seqAdd, seqDiff } from './seq.js';

/** RTCP transport-layer feedback (RFC 4585 §6.1). */
export const RTCP_RTPFB = 205;
/** RTCP payload-specific feedback (RFC 4585 §6.1). */
export const RTCP_PSFB = 206;
/** FMT of a Generic NACK under RTPFB (§6.2.1). */
export const FMT_NACK = 1;
/** FMT of a Picture Loss Indication under PSFB (§6.3.1). */
export const FMT_PLI = 1;
/** FMT of a Full Intra Request under PSFB (RFC 5104 §4.3.1). */
export const FMT_FIR = 4;
/** Bytes of the feedback header (common RTCP header + two SSRCs). */
export const FEEDBACK_HEADER_SIZE = 12;
/** Bytes of a PLI. */
export const PLI_SIZE = 12;
/** Bytes of a FIR with one FCI entry. */
export const FIR_SIZE = 20;
/**
 * Most FCIs a NACK may carry before it is skipped as hostile. A 1500-byte datagram holds at most
 * (1500 - 28 - 12) / 4 = 365; 512 FCIs name up to 8 704 packets, more than the responder keeps
 * (nack-responder.ts, 1024 packets), so an honest NACK never comes close.
 */
export const MAX_NACK_FCIS = 512;

/** The header of the feedback packet being visited; one object reused for every packet. */
export interface FeedbackHeader {
  /** RTCP_RTPFB or RTCP_PSFB. */
  packetType: number;
  /** Feedback message type (the 5-bit count field). */
  fmt: number;
  senderSsrc: number;
  mediaSsrc: number;
  /** Offset of the packet in the caller's buffer. */
  offset: number;
  /** Bytes of the packet (its length field), padding included. */
  size: number;
  /** Number of FCIs in it (NACK: 4-byte entries; FIR: 8-byte entries; PLI: 0). */
  fciCount: number;
}

export function newFeedbackHeader(): FeedbackHeader {
  return { packetType: 0, fmt: 0, senderSsrc: 0, mediaSsrc: 0, offset: 0, size: 0, fciCount: 0 };
}

/** Called by `forEachFeedback`; every hook is optional. The header object is reused: copy what you keep. */
export interface FeedbackVisitor {
  /** Once per Generic NACK packet, before its FCIs. */
  onNackPacket?(h: FeedbackHeader): void;
  /** Once per NACK FCI: `pid` lost, and PID+i+1 for each set bit i of `blp`. */
  onNack?(h: FeedbackHeader, pid: number, blp: number): void;
  onPli?(h: FeedbackHeader): void;
  /** Once per FIR FCI: `ssrc` is the stream asked to send a decoder refresh point. */
  onFir?(h: FeedbackHeader, ssrc: number, seqNr: number): void;
}

/** What one walk saw. Reset by every `forEachFeedback` call it is passed to. */
export interface FeedbackCounts {
  /** RTCP packets in the compound (every type). */
  packets: number;
  nackPackets: number;
  nackFcis: number;
  plis: number;
  firFcis: number;
  /** RTPFB/PSFB packets with another FMT (TMMBR, REMB, ...): not ours, passed over. */
  otherFeedback: number;
  /** Feedback packets skipped as malformed inside (see the module comment). */
  malformed: number;
  /** NACKs skipped for carrying more than MAX_NACK_FCIS. */
  oversized: number;
}

export function newFeedbackCounts(): FeedbackCounts {
  return { packets: 0, nackPackets: 0, nackFcis: 0, plis: 0, firFcis: 0, otherFeedback: 0, malformed: 0, oversized: 0 };
}

function resetCounts(c: FeedbackCounts): void {
  c.packets = 0; c.nackPackets = 0; c.nackFcis = 0; c.plis = 0; c.firFcis = 0;
  c.otherFeedback = 0; c.malformed = 0; c.oversized = 0;
}

/**
 * Number of FCIs `encodeNack` writes for `seqs[0..count)`. Greedy from the oldest: each FCI
 * takes the oldest sequence number not yet covered as PID and the next 16 as BLP bits, which
 * is the fewest FCIs when `seqs` is in ascending serial-number order (seq.ts `seqNewer`).
 * Unordered input still encodes every number, in more FCIs than needed; repeats are merged.
 */
export function nackFciCount(seqs: ArrayLike<number>, count: number): number {
  let fcis = 0;
  let pid = -1;
  for (let i = 0; i < count; i++) {
    const s = seqs[i]! & 0xffff;
    if (pid >= 0) {
      const d = seqDiff(pid, s);
      if (d >= 0 && d <= 16) continue;
    }
    pid = s;
    fcis++;
  }
  return fcis;
}

/** Bytes `encodeNack` writes for `seqs[0..count)` (12 + 4 per FCI). */
export function nackSize(seqs: ArrayLike<number>, count: number): number {
  return FEEDBACK_HEADER_SIZE + 4 * nackFciCount(seqs, count);
}

/**
 * Writes a Generic NACK from `senderSsrc` about `mediaSsrc` asking for `seqs[0..count)`
 * (16-bit sequence numbers, best in ascending serial order: see `nackFciCount`).
 * @returns bytes written. @throws BufferTooSmallError (nothing written); RangeError for count 0.
 */
export function encodeNack(
  senderSsrc: number, mediaSsrc: number, seqs: ArrayLike<number>, count: number, buf: Uint8Array, off = 0,
): number {
  if (count <= 0) throw new RangeError('encodeNack: a NACK names at least one packet');
  const size = nackSize(seqs, count);
  if (off + size > buf.length) throw new BufferTooSmallError('rtcp-nack', size, buf.length - off);
  writeFeedbackHeader(buf, off, FMT_NACK, RTCP_RTPFB, size, senderSsrc, mediaSsrc);
  let o = off + FEEDBACK_HEADER_SIZE - 4; // points at the FCI being filled
  let pid = -1;
  let blp = 0;
  for (let i = 0; i < count; i++) {
    const s = seqs[i]! & 0xffff;
    if (pid >= 0) {
      const d = seqDiff(pid, s);
      if (d === 0) continue;
      if (d > 0 && d <= 16) { blp |= 1 << (d - 1); continue; }
      writeFci(buf, o, pid, blp);
    }
    o += 4;
    pid = s;
    blp = 0;
  }
  writeFci(buf, o, pid, blp);
  return size;
}

function writeFci(buf: Uint8Array, o: number, pid: number, blp: number): void {
  buf[o] = pid >>> 8; buf[o + 1] = pid & 0xff;
  buf[o + 2] = (blp >>> 8) & 0xff; buf[o + 3] = blp & 0xff;
}

/**
 * Calls `fn` for every sequence number one NACK FCI names, PID first, then PID+i+1 for each
 * set BLP bit in ascending order. @returns how many (1..17).
 */
export function forEachNackedSeq(pid: number, blp: number, fn: (seq: number) => void): number {
  fn(pid & 0xffff);
  let n = 1;
  for (let i = 0; i < 16; i++) {
    if (blp & (1 << i)) { fn(seqAdd(pid, i + 1)); n++; }
  }
  return n;
}

/** Writes a PLI (12 bytes). @throws BufferTooSmallError. */
export function encodePli(senderSsrc: number, mediaSsrc: number, buf: Uint8Array, off = 0): number {
  if (off + PLI_SIZE > buf.length) throw new BufferTooSmallError('rtcp-pli', PLI_SIZE, buf.length - off);
  writeFeedbackHeader(buf, off, FMT_PLI, RTCP_PSFB, PLI_SIZE, senderSsrc, mediaSsrc);
  return PLI_SIZE;
}

/**
 * Writes a FIR with one entry asking `targetSsrc` for a decoder refresh point, request number
 * `seqNr` (0..255; the same number again means a repetition of the same request, RFC 5104
 * §4.3.1.2). The header's media SSRC is 0 (§4.3.1.2). @returns 20. @throws BufferTooSmallError.
 */
export function encodeFir(senderSsrc: number, targetSsrc: number, seqNr: number, buf: Uint8Array, off = 0): number {
  if (off + FIR_SIZE > buf.length) throw new BufferTooSmallError('rtcp-fir', FIR_SIZE, buf.length - off);
  writeFeedbackHeader(buf, off, FMT_FIR, RTCP_PSFB, FIR_SIZE, senderSsrc, 0);
  writeU32(buf, off + 12, targetSsrc);
  buf[off + 16] = seqNr & 0xff;
  buf[off + 17] = 0; buf[off + 18] = 0; buf[off + 19] = 0;
  return FIR_SIZE;
}

function writeFeedbackHeader(
  buf: Uint8Array, off: number, fmt: number, pt: number, size: number, senderSsrc: number, mediaSsrc: number,
): void {
  const words = size / 4 - 1;
  buf[off] = 0x80 | fmt;
  buf[off + 1] = pt;
  buf[off + 2] = (words >>> 8) & 0xff;
  buf[off + 3] = words & 0xff;
  writeU32(buf, off + 4, senderSsrc);
  writeU32(buf, off + 8, mediaSsrc);
}

/**
 * Walks the compound RTCP packet `buf[0..len)` and calls `visitor` for each NACK FCI, PLI and
 * FIR FCI in it. Other packet types (SR, RR, SDES, BYE, APP, other feedback) are passed over.
 * @returns `counts` (reset first), what the walk saw.
 * @throws RtpFormatError with the offset of the packet whose header is unreadable: a wrong
 *   version, fewer than 4 bytes left, or a length past the datagram end. Hooks already called
 *   for the packets before it stay called. RTCP comes in whole datagrams: short is malformed.
 */
export function forEachFeedback(
  buf: Uint8Array, len: number, visitor: FeedbackVisitor,
  h: FeedbackHeader = newFeedbackHeader(), counts: FeedbackCounts = newFeedbackCounts(),
): FeedbackCounts {
  if (len > buf.length) len = buf.length;
  resetCounts(counts);
  let off = 0;
  while (off < len) {
    if (len - off < 4) throw new RtpFormatError('rtcp', off, `truncated packet header (${len - off} bytes left)`);
    const b0 = buf[off];
    if (b0 >> 6 !== 2) throw new RtpFormatError('rtcp', off, `version ${b0 >> 6}, expected 2`);
    const pt = buf[off + 1];
    const size = 4 * (((buf[off + 2] << 8) | buf[off + 3]) + 1);
    if (off + size > len) throw new RtpFormatError('rtcp', off, `length ${size} runs past the datagram end (${len - off} left)`);
    counts.packets++;
    if (pt === RTCP_RTPFB || pt === RTCP_PSFB) visitFeedback(buf, off, size, b0, pt, visitor, h, counts);
    off += size;
  }
  return counts;
}

function visitFeedback(
  buf: Uint8Array, off: number, size: number, b0: number, pt: number,
  visitor: FeedbackVisitor, h: FeedbackHeader, counts: FeedbackCounts,
): void {
  const fmt = b0 & 0x1f;
  const isNack = pt === RTCP_RTPFB && fmt === FMT_NACK;
  const isPli = pt === RTCP_PSFB && fmt === FMT_PLI;
  const isFir = pt === RTCP_PSFB && fmt === FMT_FIR;
  if (!isNack && !isPli && !isFir) { counts.otherFeedback++; return; }
  if (size < FEEDBACK_HEADER_SIZE) { counts.malformed++; return; }
  let fciBytes = size - FEEDBACK_HEADER_SIZE;
  if (b0 & 0x20) {
    // Padding (RFC 3550 §6.4.1): the last byte counts the padding bytes, itself included.
    const pad = buf[off + size - 1];
    if (pad === 0 || pad > fciBytes) { counts.malformed++; return; }
    fciBytes -= pad;
  }
  h.packetType = pt;
  h.fmt = fmt;
  h.senderSsrc = readU32(buf, off + 4);
  h.mediaSsrc = readU32(buf, off + 8);
  h.offset = off;
  h.size = size;
  const fci = off + FEEDBACK_HEADER_SIZE;
  if (isNack) {
    const n = fciBytes >>> 2;
    if (n === 0 || fciBytes % 4 !== 0) { counts.malformed++; return; }
    if (n > MAX_NACK_FCIS) { counts.oversized++; return; }
    h.fciCount = n;
    counts.nackPackets++;
    counts.nackFcis += n;
    visitor.onNackPacket?.(h);
    if (visitor.onNack) {
      for (let i = 0; i < n; i++) {
        const o = fci + 4 * i;
        visitor.onNack(h, (buf[o] << 8) | buf[o + 1], (buf[o + 2] << 8) | buf[o + 3]);
      }
    }
  } else if (isPli) {
    h.fciCount = 0;
    counts.plis++;
    visitor.onPli?.(h);
  } else {
    const n = fciBytes >>> 3;
    if (n === 0 || fciBytes % 8 !== 0) { counts.malformed++; return; }
    h.fciCount = n;
    counts.firFcis += n;
    if (visitor.onFir) {
      for (let i = 0; i < n; i++) visitor.onFir(h, readU32(buf, fci + 8 * i), buf[fci + 8 * i + 4]);
    }
  }
}
