/**
 * RTCP sender reports, SDES CNAME and receiver-report parsing (RFC 3550 §6.4.1, §6.4.2,
 * §6.5.1, compound packets §6.1; NTP timestamp format §4).
 *
 * Owns: encoding a compound SR + SDES(CNAME) packet into a caller's buffer, mapping an instant
 * of the box clock to both NTP time and RTP time so a receiver can line streams up; decoding SR
 * and RR report blocks (for loss-based stream choice later). "Now" is always an argument: a test
 * injects the instant and asserts exact bytes. Runs on: net-send (encode, decode of viewers'
 * RRs), test-rig verifiers.
 *
 *   SR (PT=200), §6.4.1:
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |V=2|P|    RC   |   PT=SR=200   |             length            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         SSRC of sender                        |
 *   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *   |              NTP timestamp, most significant word             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |             NTP timestamp, least significant word             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         RTP timestamp                         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     sender's packet count                     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      sender's octet count                     |
 *   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *   |                 report blocks (RC x 24 bytes)                 |
 *
 *   RR (PT=201), §6.4.2: header, SSRC of packet sender, then RC report blocks:
 *   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *   |                 SSRC_1 (SSRC of first source)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | fraction lost |       cumulative number of packets lost       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           extended highest sequence number received           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      interarrival jitter                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         last SR (LSR)                         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                   delay since last SR (DLSR)                  |
 *   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *
 *   SDES (PT=202), §6.5: header (SC chunks), chunk = SSRC, items (type, length, text),
 *   a null item ends the chunk, zero-padded to a 32-bit boundary. CNAME is item type 1.
 */
import { BufferTooSmallError, RtpFormatError } from './errors.js';
import { NEED_MORE, readU32, writeU32 } from './header.js';
import type { RtpSenderState } from './h264-packetizer.js';

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const SDES_CNAME = 1;
/** Seconds from the NTP era 0 epoch (1900-01-01) to the Unix epoch (RFC 868). */
export const NTP_UNIX_OFFSET_S = 2_208_988_800n;

/** A 64-bit NTP timestamp as two unsigned 32-bit words. */
export interface NtpTime { msw: number; lsw: number }

/** NTP time of a Unix-epoch instant in ns (truncated to the 2^-32 s unit). Writes into `out`. */
export function ntpFromUnixNs(ns: bigint, out: NtpTime = { msw: 0, lsw: 0 }): NtpTime {
  const sec = ns / 1_000_000_000n;
  const rem = ns - sec * 1_000_000_000n;
  out.msw = Number(BigInt.asUintN(32, sec + NTP_UNIX_OFFSET_S));
  out.lsw = Number((rem << 32n) / 1_000_000_000n);
  return out;
}

/** Unix-epoch ns of an NTP time (rounded down). */
export function unixNsFromNtp(msw: number, lsw: number): bigint {
  return (BigInt(msw) - NTP_UNIX_OFFSET_S) * 1_000_000_000n + ((BigInt(lsw) * 1_000_000_000n) >> 32n);
}

/** The middle 32 bits of an NTP time: what LSR in a report block echoes (§6.4.1). */
export function ntpMiddle32(t: NtpTime): number {
  return (((t.msw & 0xffff) << 16) | (t.lsw >>> 16)) >>> 0;
}

export interface SenderReport {
  ssrc: number;
  ntp: NtpTime;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

/** Bytes of an SR without report blocks. */
export const SR_SIZE = 28;

/** Bytes of an SDES packet with one CNAME chunk (`cname` as UTF-8). */
export function sdesCnameSize(cname: string): number {
  const text = Buffer.byteLength(cname, 'utf8');
  // header 4 + SSRC 4 + type 1 + length 1 + text + at least one null byte, padded to 4.
  return 4 + ((4 + 2 + text + 1 + 3) & ~3);
}

/**
 * Writes an SR with no report blocks (a send-only box receives nothing to report on).
 * @returns bytes written (28). @throws BufferTooSmallError.
 */
export function encodeSenderReport(sr: SenderReport, buf: Uint8Array, off: number): number {
  if (off + SR_SIZE > buf.length) throw new BufferTooSmallError('rtcp-sr', SR_SIZE, buf.length - off);
  buf[off] = 0x80; // V=2, P=0, RC=0
  buf[off + 1] = RTCP_SR;
  buf[off + 2] = 0;
  buf[off + 3] = SR_SIZE / 4 - 1;
  writeU32(buf, off + 4, sr.ssrc);
  writeU32(buf, off + 8, sr.ntp.msw);
  writeU32(buf, off + 12, sr.ntp.lsw);
  writeU32(buf, off + 16, sr.rtpTimestamp);
  writeU32(buf, off + 20, sr.packetCount);
  writeU32(buf, off + 24, sr.octetCount);
  return SR_SIZE;
}

/**
 * Writes an SDES packet with one chunk holding the CNAME item.
 * @returns bytes written. @throws BufferTooSmallError; RtpFormatError if the CNAME exceeds 255 bytes.
 */
export function encodeSdesCname(ssrc: number, cname: string, buf: Uint8Array, off: number): number {
  const text = Buffer.from(cname, 'utf8');
  if (text.length > 255) throw new RtpFormatError('rtcp-sdes', 0, `CNAME of ${text.length} bytes exceeds 255`);
  const size = sdesCnameSize(cname);
  if (off + size > buf.length) throw new BufferTooSmallError('rtcp-sdes', size, buf.length - off);
  buf[off] = 0x81; // V=2, P=0, SC=1
  buf[off + 1] = RTCP_SDES;
  buf[off + 2] = ((size / 4 - 1) >>> 8) & 0xff;
  buf[off + 3] = (size / 4 - 1) & 0xff;
  writeU32(buf, off + 4, ssrc);
  buf[off + 8] = SDES_CNAME;
  buf[off + 9] = text.length;
  buf.set(text, off + 10);
  buf.fill(0, off + 10 + text.length, off + size); // null item + padding
  return size;
}

/**
 * Builds the compound packet a sender sends every few seconds: SR + SDES(CNAME) (§6.1: every
 * compound packet carries a CNAME). The SR maps `nowNs` (box clock, Unix epoch ns) to NTP time
 * and to the stream's RTP time via `stream.timestampAt(nowNs)`.
 * @returns bytes written. @throws BufferTooSmallError.
 */
export function encodeSenderReportCompound(
  stream: RtpSenderState, cname: string, nowNs: bigint, buf: Uint8Array, off = 0,
): number {
  const sr: SenderReport = {
    ssrc: stream.ssrc,
    ntp: ntpFromUnixNs(nowNs),
    rtpTimestamp: stream.timestampAt(nowNs),
    packetCount: stream.packetCount,
    octetCount: stream.octetCount,
  };
  const need = SR_SIZE + sdesCnameSize(cname);
  if (off + need > buf.length) throw new BufferTooSmallError('rtcp-compound', need, buf.length - off);
  const n = encodeSenderReport(sr, buf, off);
  return n + encodeSdesCname(stream.ssrc, cname, buf, off + n);
}

/** One report block (§6.4.1); reused across calls by the decoders. */
export interface ReportBlock {
  /** SSRC of the source this block reports on (ours, for viewers' RRs). */
  ssrc: number;
  /** Fraction lost since the previous report, 0..255 (x/256). */
  fractionLost: number;
  /** Cumulative packets lost, signed 24-bit (duplicates can make it negative). */
  cumulativeLost: number;
  /** Extended highest sequence number received. */
  extendedHighestSequence: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP time of the last SR received (0: none yet). */
  lastSr: number;
  /** Delay since that SR, in 1/65536 s. */
  delaySinceLastSr: number;
}

export function newReportBlock(): ReportBlock {
  return { ssrc: 0, fractionLost: 0, cumulativeLost: 0, extendedHighestSequence: 0, jitter: 0, lastSr: 0, delaySinceLastSr: 0 };
}

/** Decodes the 24-byte report block at `buf[off..]` into `out`. */
export function decodeReportBlock(buf: Uint8Array, off: number, out: ReportBlock): ReportBlock {
  out.ssrc = readU32(buf, off);
  out.fractionLost = buf[off + 4];
  const lost = (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7];
  out.cumulativeLost = lost & 0x800000 ? lost - 0x1000000 : lost;
  out.extendedHighestSequence = readU32(buf, off + 8);
  out.jitter = readU32(buf, off + 12);
  out.lastSr = readU32(buf, off + 16);
  out.delaySinceLastSr = readU32(buf, off + 20);
  return out;
}

/** Decodes an SR's sender info at the start of `buf[off..]` (the SR header included). */
export function decodeSenderReport(buf: Uint8Array, off: number, len: number, out: SenderReport): number {
  if (len - off < SR_SIZE) return NEED_MORE;
  if (buf[off] >> 6 !== 2) throw new RtpFormatError('rtcp', off, `version ${buf[off] >> 6}, expected 2`);
  if (buf[off + 1] !== RTCP_SR) throw new RtpFormatError('rtcp', off + 1, `packet type ${buf[off + 1]} is not SR`);
  out.ssrc = readU32(buf, off + 4);
  out.ntp.msw = readU32(buf, off + 8);
  out.ntp.lsw = readU32(buf, off + 12);
  out.rtpTimestamp = readU32(buf, off + 16);
  out.packetCount = readU32(buf, off + 20);
  out.octetCount = readU32(buf, off + 24);
  return SR_SIZE;
}

/**
 * Walks a compound RTCP packet `buf[0..len)` and calls `onBlock` for every report block of
 * every SR and RR in it, with the reporter's SSRC and a reused block object (copy what you keep).
 * @returns the number of report blocks seen.
 * @throws RtpFormatError (offset of the bad packet header) for a wrong version, a length past
 *   the end, or a report count that does not fit its packet. A truncated datagram is malformed,
 *   not "need more": RTCP arrives in whole datagrams.
 */
export function forEachReportBlock(
  buf: Uint8Array, len: number, onBlock: (reporterSsrc: number, block: ReportBlock) => void,
  block: ReportBlock = newReportBlock(),
): number {
  if (len > buf.length) len = buf.length;
  let off = 0;
  let blocks = 0;
  while (off < len) {
    if (len - off < 4) throw new RtpFormatError('rtcp', off, 'truncated packet header');
    const b0 = buf[off];
    if (b0 >> 6 !== 2) throw new RtpFormatError('rtcp', off, `version ${b0 >> 6}, expected 2`);
    const rc = b0 & 0x1f;
    const pt = buf[off + 1];
    const size = 4 * (((buf[off + 2] << 8) | buf[off + 3]) + 1);
    if (off + size > len) throw new RtpFormatError('rtcp', off, `length ${size} runs past the datagram end (${len - off} left)`);
    if (pt === RTCP_SR || pt === RTCP_RR) {
      const first = off + (pt === RTCP_SR ? SR_SIZE : 8);
      if (first + 24 * rc > off + size) throw new RtpFormatError('rtcp', off, `${rc} report blocks do not fit ${size} bytes`);
      const reporter = readU32(buf, off + 4);
      for (let i = 0; i < rc; i++) {
        onBlock(reporter, decodeReportBlock(buf, first + 24 * i, block));
        blocks++;
      }
    }
    off += size;
  }
  return blocks;
}
