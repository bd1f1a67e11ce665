/**
 * H.264 NAL unit facts the RTP side needs (ITU-T H.264 §7.3.1, §7.4.1; RFC 6184 §5.3, §8.1).
 *
 * Owns: NAL unit type constants, the NAL header fields, profile-level-id from an SPS, and the
 * `sprop-parameter-sets` encoding. No bitstream parsing beyond the first bytes.
 *
 *   NAL unit header (H.264 §7.3.1, RFC 6184 §1.3):
 *     +---------------+
 *     |0|1|2|3|4|5|6|7|
 *     +-+-+-+-+-+-+-+-+
 *     |F|NRI|  Type   |
 *     +---------------+
 *
 *   SPS start: NAL header, profile_idc (8), constraint_set0..5 flags + reserved (8), level_idc (8)
 *   = the three bytes of profile-level-id (RFC 6184 §8.1).
 */
import { RtpFormatError } from './errors.js';
import { RTP_FIXED_HEADER } from './header.js';

export const NAL_SLICE = 1;
export const NAL_IDR = 5;
export const NAL_SEI = 6;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;
export const NAL_END_SEQ = 10;
export const NAL_END_STREAM = 11;
export const NAL_FILLER = 12;
/** RFC 6184 §5.7.1 single-time aggregation packet. */
export const NAL_STAP_A = 24;
/** RFC 6184 §5.8 fragmentation unit without DON. */
export const NAL_FU_A = 28;

/** The 5-bit type of a NAL unit header byte. */
export function nalType(headerByte: number): number {
  return headerByte & 0x1f;
}

/** True for VCL NAL unit types (coded slices, 1..5). */
export function isVcl(type: number): boolean {
  return type >= 1 && type <= 5;
}

/**
 * profile-level-id (RFC 6184 §8.1) of an SPS NAL unit (with its header byte), as 6 hex digits.
 * @throws RtpFormatError when `sps` is not an SPS or is shorter than 4 bytes.
 */
export function profileLevelId(sps: Uint8Array): string {
  if (sps.length < 4) throw new RtpFormatError('sps', sps.length, 'shorter than 4 bytes');
  if (nalType(sps[0]) !== NAL_SPS) throw new RtpFormatError('sps', 0, `NAL type ${nalType(sps[0])} is not an SPS`);
  let s = '';
  for (let i = 1; i < 4; i++) s += sps[i].toString(16).padStart(2, '0');
  return s;
}

/** sprop-parameter-sets value (RFC 6184 §8.1): base64 of each parameter set, comma separated. */
export function spropParameterSets(sets: readonly Uint8Array[]): string {
  return sets.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('base64')).join(',');
}

/** Parses a sprop-parameter-sets value back into NAL units (copies). */
export function parseSpropParameterSets(value: string): Buffer[] {
  return value.split(',').filter((s) => s.length > 0).map((s) => Buffer.from(s, 'base64'));
}

/**
 * True when the RTP packet in `buf` starts an access unit a decoder can begin at: its payload
 * (RFC 6184) is an SPS, a PPS or an IDR slice, a STAP-A whose first unit is one of those, or
 * the first fragment of an IDR slice (FU-A with the S bit). Our packetiser sends SPS and PPS
 * ahead of every IDR, so a viewer let in from here never needs a picture it has not seen.
 * False for anything shorter than its headers say.
 */
export function startsKeyframe(buf: Uint8Array, len = buf.length): boolean {
  if (len < RTP_FIXED_HEADER + 1 || buf[0] >> 6 !== 2) return false;
  let off = RTP_FIXED_HEADER + 4 * (buf[0] & 0x0f);
  if (buf[0] & 0x10) {
    if (len < off + 4) return false;
    off += 4 + 4 * ((buf[off + 2] << 8) | buf[off + 3]);
  }
  if (len <= off) return false;
  const starts = (t: number): boolean => t === NAL_SPS || t === NAL_PPS || t === NAL_IDR;
  const type = nalType(buf[off]);
  if (type === NAL_STAP_A) return len > off + 3 && starts(nalType(buf[off + 3]));
  if (type === NAL_FU_A) return len > off + 1 && (buf[off + 1] & 0x80) !== 0 && nalType(buf[off + 1]) === NAL_IDR;
  return starts(type);
}

/**
 * The NAL units of one RTP H.264 payload that are whole in it (RFC 6184 §5.6 single NAL unit,
 * §5.7.1 STAP-A; FU-A fragments are not reassembled): `fn(nal)` for each, a view into `payload`.
 * A STAP-A whose sizes run past the end stops at the last whole unit. Used to learn SPS/PPS
 * from a stream that carries them in band.
 */
export function forEachWholeNal(payload: Uint8Array, fn: (nal: Uint8Array) => void): void {
  if (payload.length < 1) return;
  const t = nalType(payload[0]!);
  if (t >= 1 && t <= 23) { fn(payload); return; }
  if (t !== NAL_STAP_A) return;
  let o = 1;
  while (o + 2 <= payload.length) {
    const n = (payload[o]! << 8) | payload[o + 1]!;
    if (n === 0 || o + 2 + n > payload.length) return;
    fn(payload.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
}
