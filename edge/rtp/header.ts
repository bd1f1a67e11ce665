/**
 * RTP fixed header codec (RFC 3550 §5.1, header extension §5.3.1).
 *
 * Owns: reading and writing the RTP fixed header, CSRC list and header extension in a caller's
 * buffer. It does not own payloads, padding removal beyond reporting it, or sequencing (that is
 * the packetiser's job, with seq.ts).
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           timestamp                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           synchronization source (SSRC) identifier            |
 *    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *    |            contributing source (CSRC) identifiers             |
 *    |                             ....                              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |      defined by profile       |           length              |   (X=1, §5.3.1)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                        header extension                       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Decode: `decodeRtpHeader(buf, len, out)` fills a caller's `RtpHeader` (reused across packets,
 * so decoding allocates nothing) and returns the payload offset; it returns NEED_MORE when `len`
 * is shorter than the header says, and throws RtpFormatError (with the offset) for a wrong
 * version or padding longer than the packet. Encode: `encodeRtpHeader(h, buf, off)` writes and
 * returns the byte count, throwing BufferTooSmallError before writing anything if it does not fit.
 * Runs on: net-send (encode), test-rig receivers (decode).
 */
import { BufferTooSmallError, RtpFormatError } from './errors.js';

/** Size of the fixed header without CSRCs or extension. */
export const RTP_FIXED_HEADER = 12;
/** Returned by decoders when the buffer ends before the structure does. */
export const NEED_MORE = -1;

export interface RtpHeader {
  padding: boolean;
  marker: boolean;
  /** 0..127 */
  payloadType: number;
  /** 0..65535 */
  sequenceNumber: number;
  /** 0..2^32-1 */
  timestamp: number;
  /** 0..2^32-1 */
  ssrc: number;
  /** Number of valid entries in `csrc` (0..15). */
  csrcCount: number;
  /** CSRC identifiers; only the first `csrcCount` are meaningful. */
  csrc: number[];
  /** True when a header extension is present (X bit). */
  extension: boolean;
  /** The 16-bit "defined by profile" field of the extension. */
  extensionProfile: number;
  /** Offset and length in bytes of the extension data (after its 4-byte head) in the buffer. */
  extensionOffset: number;
  extensionLength: number;
  /** Number of padding bytes at the end of the packet (0 when P=0). Decode only. */
  paddingLength: number;
}

/** A zeroed header object to reuse across decodes. */
export function newRtpHeader(): RtpHeader {
  return {
    padding: false, marker: false, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0,
    csrcCount: 0, csrc: [], extension: false, extensionProfile: 0, extensionOffset: 0,
    extensionLength: 0, paddingLength: 0,
  };
}

/**
 * Decodes the header of the RTP packet in `buf[0..len)` into `out`.
 * @returns the offset of the payload, or NEED_MORE if `len` is too short for the header.
 *   The payload is `buf[result .. len - out.paddingLength)`.
 * @throws RtpFormatError for version != 2 or a padding count beyond the payload.
 */
export function decodeRtpHeader(buf: Uint8Array, len: number, out: RtpHeader): number {
  if (len > buf.length) len = buf.length;
  if (len < RTP_FIXED_HEADER) return NEED_MORE;
  const b0 = buf[0];
  if (b0 >> 6 !== 2) throw new RtpFormatError('rtp-header', 0, `version ${b0 >> 6}, expected 2`);
  const cc = b0 & 0x0f;
  out.padding = (b0 & 0x20) !== 0;
  out.extension = (b0 & 0x10) !== 0;
  out.marker = (buf[1] & 0x80) !== 0;
  out.payloadType = buf[1] & 0x7f;
  out.sequenceNumber = (buf[2] << 8) | buf[3];
  out.timestamp = ((buf[4] << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7]) >>> 0;
  out.ssrc = ((buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]) >>> 0;
  let off = RTP_FIXED_HEADER;
  if (len < off + 4 * cc) return NEED_MORE;
  out.csrcCount = cc;
  for (let i = 0; i < cc; i++, off += 4) {
    out.csrc[i] = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
  }
  if (out.extension) {
    if (len < off + 4) return NEED_MORE;
    out.extensionProfile = (buf[off] << 8) | buf[off + 1];
    const words = (buf[off + 2] << 8) | buf[off + 3];
    off += 4;
    if (len < off + 4 * words) return NEED_MORE;
    out.extensionOffset = off;
    out.extensionLength = 4 * words;
    off += 4 * words;
  } else {
    out.extensionProfile = 0;
    out.extensionOffset = 0;
    out.extensionLength = 0;
  }
  out.paddingLength = 0;
  if (out.padding) {
    const p = buf[len - 1];
    if (p === 0 || off + p > len) {
      throw new RtpFormatError('rtp-header', len - 1, `padding count ${p} does not fit a ${len - off}-byte payload`);
    }
    out.paddingLength = p;
  }
  return off;
}

/** Bytes `encodeRtpHeader` writes for `h` (12 + 4*CSRC + extension). */
export function rtpHeaderSize(h: RtpHeader): number {
  return RTP_FIXED_HEADER + 4 * h.csrcCount + (h.extension ? 4 + h.extensionLength : 0);
}

/**
 * Writes the fixed header and CSRCs of `h` at `buf[off..]`. With `h.extension`, writes the
 * extension head and leaves `h.extensionLength` bytes (a multiple of 4) for the caller to fill.
 * The P bit is written from `h.padding`; adding the padding bytes is the caller's job.
 * @returns bytes written.
 * @throws BufferTooSmallError when the header does not fit (nothing is written then).
 */
export function encodeRtpHeader(h: RtpHeader, buf: Uint8Array, off: number): number {
  const size = rtpHeaderSize(h);
  if (off + size > buf.length) throw new BufferTooSmallError('rtp-header', size, buf.length - off);
  const cc = h.csrcCount & 0x0f;
  buf[off] = 0x80 | (h.padding ? 0x20 : 0) | (h.extension ? 0x10 : 0) | cc;
  buf[off + 1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  buf[off + 2] = (h.sequenceNumber >>> 8) & 0xff;
  buf[off + 3] = h.sequenceNumber & 0xff;
  writeU32(buf, off + 4, h.timestamp);
  writeU32(buf, off + 8, h.ssrc);
  let o = off + RTP_FIXED_HEADER;
  for (let i = 0; i < cc; i++, o += 4) writeU32(buf, o, h.csrc[i]);
  if (h.extension) {
    buf[o] = (h.extensionProfile >>> 8) & 0xff;
    buf[o + 1] = h.extensionProfile & 0xff;
    const words = h.extensionLength >>> 2;
    buf[o + 2] = (words >>> 8) & 0xff;
    buf[o + 3] = words & 0xff;
    o += 4 + h.extensionLength;
  }
  return o - off;
}

/** Writes the 12-byte fixed header with no CSRC and no extension: the packetiser's hot path. */
export function writeFixedHeader(
  buf: Uint8Array, marker: boolean, payloadType: number, seq: number, timestamp: number, ssrc: number,
): void {
  buf[0] = 0x80;
  buf[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  buf[2] = (seq >>> 8) & 0xff;
  buf[3] = seq & 0xff;
  writeU32(buf, 4, timestamp);
  writeU32(buf, 8, ssrc);
}

/** Big-endian 32-bit write (value taken modulo 2^32). */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Big-endian 32-bit read, unsigned. */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}
