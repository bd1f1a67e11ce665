/**
 * SMPTE ST 2022-1 FEC packet header codec: the RFC 2733 §3.2 FEC header with the 2022-1
 * extension word (E=1), behind a 12-byte RTP fixed header whose P, X, CC and M bits are
 * recovery fields (RFC 2733 §3.2), not a description of the FEC packet itself.
 *
 * Owns: reading and writing the first 28 bytes of a 2022-1 FEC packet in a caller's buffer.
 * It does not own the XOR (st2022-1-encoder.ts, st2022-1-decoder.ts).
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|X|  CC   |M|     PT      |       sequence number         |  RTP fixed header;
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  P, X, CC, M are the
 *    |                           timestamp                           |  XOR of the media
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  packets' (recovery)
 *    |                             SSRC                              |
 *    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *    |      SNBase low bits          |        Length recovery        |  byte 12
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |E| PT recovery |                    Mask                       |  byte 16
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                          TS recovery                          |  byte 20
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |N|D|type |index|    Offset     |      NA       |SNBase ext bits|  byte 24
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                 XOR of the protected bytes ...                |  byte 28
 *
 * SNBase: the first media sequence number protected. Length recovery: XOR of the protected
 * lengths. E=1 says the 2022-1 word at byte 24 follows (a plain RFC 2733 header is refused).
 * Mask: 0 in 2022-1 (the matrix geometry replaces it). D: 1 for a row packet (protects SNBase,
 * SNBase+1, ... SNBase+NA-1, Offset = 1), 0 for a column packet (SNBase, SNBase+Offset, ...
 * NA packets, Offset = L). type 0 is XOR, the only one defined here. SNBase ext: the high bits
 * for 24-bit sequence spaces, 0 over RTP. Field layout and D/Offset/NA semantics checked
 * against GStreamer 1.22 `rtpst2022-1-fecenc`/`-fecdec` (the interop oracle).
 *
 * Decode: `decodeSt2022Fec(buf, len, out)` fills a reused header object and returns the offset
 * of the FEC payload (28), NEED_MORE when `len` < 28, and throws RtpFormatError (with the byte
 * offset) for V != 2, E = 0, type != 0, Offset or NA of 0, or a row packet with Offset != 1.
 * Encode: `encodeSt2022FecHeader(h, buf, off)` writes the 28 bytes, BufferTooSmallError first.
 * Runs on: net-send (encoder), the `orbox receive` process (decoder).
 */
import { BufferTooSmallError, RtpFormatError } from './errors.js';
import { NEED_MORE, RTP_FIXED_HEADER, readU32, writeU32 } from './header.js';

/** Size of the FEC header after the RTP fixed header (RFC 2733 12 bytes + 2022-1 4 bytes). */
export const ST2022_FEC_HEADER = 16;
/** Bytes before a FEC packet's XOR payload: RTP fixed header + FEC header. */
export const ST2022_FEC_OVERHEAD = RTP_FIXED_HEADER + ST2022_FEC_HEADER;

export type FecDirection = 'row' | 'column';

export interface St2022FecHeader {
  /** RTP P bit of the FEC packet: XOR of the media packets' P bits. */
  paddingRecovery: boolean;
  /** RTP X bit of the FEC packet: XOR of the media packets' X bits. */
  extensionRecovery: boolean;
  /** RTP CC field of the FEC packet (0..15): XOR of the media packets' CC fields. */
  csrcCountRecovery: number;
  /** RTP M bit of the FEC packet: XOR of the media packets' markers. */
  markerRecovery: boolean;
  /** The FEC stream's own payload type, sequence number, timestamp and SSRC. */
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** First media sequence number protected (16 bits). */
  snBase: number;
  /** XOR of the protected lengths (bytes after each media packet's fixed header). */
  lengthRecovery: number;
  /** E bit: true for a 2022-1 header (always true after a decode). */
  extended: boolean;
  /** XOR of the media payload types (7 bits). */
  ptRecovery: number;
  /** 24-bit mask, 0 in 2022-1. */
  mask: number;
  /** XOR of the media timestamps. */
  tsRecovery: number;
  /** N bit (reserved for a further extension, 0). */
  n: boolean;
  /** D bit: 'row' (D=1) or 'column' (D=0). */
  direction: FecDirection;
  /** 0 = XOR. */
  type: number;
  index: number;
  /** Distance between protected sequence numbers: 1 for rows, L for columns. */
  offset: number;
  /** Number of media packets protected: L for rows, D for columns. */
  na: number;
  snBaseExt: number;
}

/** A zeroed header to reuse across decodes. */
export function newSt2022FecHeader(): St2022FecHeader {
  return {
    paddingRecovery: false, extensionRecovery: false, csrcCountRecovery: 0, markerRecovery: false,
    payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0,
    snBase: 0, lengthRecovery: 0, extended: true, ptRecovery: 0, mask: 0, tsRecovery: 0,
    n: false, direction: 'row', type: 0, index: 0, offset: 1, na: 1, snBaseExt: 0,
  };
}

const STRUCT = 'st2022-1-fec';

/**
 * Decodes the first 28 bytes of the FEC packet in `buf[0..len)` into `out`.
 * @returns the offset of the XOR payload (ST2022_FEC_OVERHEAD), or NEED_MORE when shorter.
 * @throws RtpFormatError for a version other than 2, E=0, a type other than XOR, Offset or NA
 *   of 0, or a row packet (D=1) whose Offset is not 1. `offset` is the byte found wrong.
 */
export function decodeSt2022Fec(buf: Uint8Array, len: number, out: St2022FecHeader): number {
  if (len > buf.length) len = buf.length;
  if (len < ST2022_FEC_OVERHEAD) return NEED_MORE;
  const b0 = buf[0];
  if (b0 >> 6 !== 2) throw new RtpFormatError(STRUCT, 0, `version ${b0 >> 6}, expected 2`);
  if ((buf[16] & 0x80) === 0) throw new RtpFormatError(STRUCT, 16, 'E=0: no SMPTE 2022-1 extension word');
  const w = buf[24];
  const type = (w >> 3) & 0x07;
  if (type !== 0) throw new RtpFormatError(STRUCT, 24, `type ${type}, only 0 (XOR) is supported`);
  const offset = buf[25];
  const na = buf[26];
  const row = (w & 0x40) !== 0;
  if (offset === 0) throw new RtpFormatError(STRUCT, 25, 'Offset 0');
  if (na === 0) throw new RtpFormatError(STRUCT, 26, 'NA 0');
  if (row && offset !== 1) throw new RtpFormatError(STRUCT, 25, `row packet (D=1) with Offset ${offset}, expected 1`);
  out.paddingRecovery = (b0 & 0x20) !== 0;
  out.extensionRecovery = (b0 & 0x10) !== 0;
  out.csrcCountRecovery = b0 & 0x0f;
  out.markerRecovery = (buf[1] & 0x80) !== 0;
  out.payloadType = buf[1] & 0x7f;
  out.sequenceNumber = (buf[2] << 8) | buf[3];
  out.timestamp = readU32(buf, 4);
  out.ssrc = readU32(buf, 8);
  out.snBase = (buf[12] << 8) | buf[13];
  out.lengthRecovery = (buf[14] << 8) | buf[15];
  out.extended = true;
  out.ptRecovery = buf[16] & 0x7f;
  out.mask = (buf[17] << 16) | (buf[18] << 8) | buf[19];
  out.tsRecovery = readU32(buf, 20);
  out.n = (w & 0x80) !== 0;
  out.direction = row ? 'row' : 'column';
  out.type = type;
  out.index = w & 0x07;
  out.offset = offset;
  out.na = na;
  out.snBaseExt = buf[27];
  return ST2022_FEC_OVERHEAD;
}

/**
 * Writes the RTP fixed header and FEC header of `h` at `buf[off..off+28)`. Fields are masked
 * to their widths; E is written as `h.extended`.
 * @returns ST2022_FEC_OVERHEAD.
 * @throws BufferTooSmallError when 28 bytes do not fit (nothing is written then).
 */
export function encodeSt2022FecHeader(h: St2022FecHeader, buf: Uint8Array, off: number): number {
  if (off + ST2022_FEC_OVERHEAD > buf.length) throw new BufferTooSmallError(STRUCT, ST2022_FEC_OVERHEAD, buf.length - off);
  buf[off] = 0x80 | (h.paddingRecovery ? 0x20 : 0) | (h.extensionRecovery ? 0x10 : 0) | (h.csrcCountRecovery & 0x0f);
  buf[off + 1] = (h.markerRecovery ? 0x80 : 0) | (h.payloadType & 0x7f);
  buf[off + 2] = (h.sequenceNumber >>> 8) & 0xff;
  buf[off + 3] = h.sequenceNumber & 0xff;
  writeU32(buf, off + 4, h.timestamp);
  writeU32(buf, off + 8, h.ssrc);
  buf[off + 12] = (h.snBase >>> 8) & 0xff;
  buf[off + 13] = h.snBase & 0xff;
  buf[off + 14] = (h.lengthRecovery >>> 8) & 0xff;
  buf[off + 15] = h.lengthRecovery & 0xff;
  buf[off + 16] = (h.extended ? 0x80 : 0) | (h.ptRecovery & 0x7f);
  buf[off + 17] = (h.mask >>> 16) & 0xff;
  buf[off + 18] = (h.mask >>> 8) & 0xff;
  buf[off + 19] = h.mask & 0xff;
  writeU32(buf, off + 20, h.tsRecovery);
  buf[off + 24] = (h.n ? 0x80 : 0) | (h.direction === 'row' ? 0x40 : 0) | ((h.type & 0x07) << 3) | (h.index & 0x07);
  buf[off + 25] = h.offset & 0xff;
  buf[off + 26] = h.na & 0xff;
  buf[off + 27] = h.snBaseExt & 0xff;
  return ST2022_FEC_OVERHEAD;
}
