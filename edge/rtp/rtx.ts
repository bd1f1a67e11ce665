/**
 * RTP retransmission payload format (RFC 4588 §4), SSRC-multiplexed (§8.3: the RTX stream has
 * its own SSRC, declared in SDP with `a=ssrc-group:FID <media> <rtx>` and `a=fmtp:<rtxPt> apt=<pt>`).
 *
 * Owns: turning an original RTP packet into its retransmission packet and back, in caller's
 * buffers, with no allocation. It does not own when to resend (nack-responder.ts) nor which
 * streams pair up (the SDP / StreamInfo.rtx).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |V=2|P|X|  CC   |M|  RTX PT     |   RTX stream's own seq nr     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 timestamp (the original's)                    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                          RTX SSRC                             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   :     CSRC list and header extension, as in the original        :
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |            OSN                |                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
 *   |                  Original RTP Packet Payload                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * §4: the timestamp and marker are the original's, the sequence number runs in the RTX
 * stream's own space, OSN (original sequence number) leads the payload, and the original's
 * padding is removed (an RTX packet we write has P=0). The CSRC list and header extension
 * are copied byte for byte (GStreamer's rtprtxsend does the same), so decoding gives back the
 * original bit-exact whenever the original had no padding.
 *
 * Errors: RtpFormatError (offset) for an input that is not RTP, or an RTX packet too short to
 * hold its OSN; BufferTooSmallError when the output does not fit (nothing written).
 * Runs on: net-send (encode, in the NACK responder), `orbox receive` (decode).
 */
import { BufferTooSmallError, RtpFormatError } from './errors.js';
import { NEED_MORE, decodeRtpHeader, newRtpHeader, writeU32 } from './header.js';

/** Bytes the RTX packet adds to its original (the OSN). */
export const RTX_OVERHEAD = 2;

// One scratch header for both directions: neither function calls out while it is in use.
const scratch = newRtpHeader();

/**
 * Writes at `out[outOff..]` the RTX packet of the original RTP packet `orig[0..origLen)`.
 * @param rtxSsrc SSRC of the RTX stream. @param rtxPayloadType its payload type (0..127).
 * @param rtxSeq its sequence number for this packet (0..65535; the caller advances it with seq.ts).
 * @returns bytes written: original length - original padding + 2.
 * @throws RtpFormatError (offset in `orig`) when `orig` is not a whole RTP packet;
 *   BufferTooSmallError when the RTX packet does not fit `out`.
 */
export function encodeRtx(
  orig: Uint8Array, origLen: number, rtxSsrc: number, rtxPayloadType: number, rtxSeq: number,
  out: Uint8Array, outOff = 0,
): number {
  const payloadOff = headerOf(orig, origLen, 'rtx-original');
  const payloadEnd = Math.min(origLen, orig.length) - scratch.paddingLength;
  const size = payloadEnd + RTX_OVERHEAD;
  if (outOff + size > out.length) throw new BufferTooSmallError('rtx', size, out.length - outOff);
  out.set(orig.subarray(0, payloadOff), outOff);
  out[outOff] &= ~0x20; // the original's padding is not carried over (§4)
  out[outOff + 1] = (orig[1] & 0x80) | (rtxPayloadType & 0x7f);
  out[outOff + 2] = (rtxSeq >>> 8) & 0xff;
  out[outOff + 3] = rtxSeq & 0xff;
  writeU32(out, outOff + 8, rtxSsrc);
  out[outOff + payloadOff] = orig[2]; // OSN
  out[outOff + payloadOff + 1] = orig[3];
  out.set(orig.subarray(payloadOff, payloadEnd), outOff + payloadOff + RTX_OVERHEAD);
  return size;
}

/**
 * The original sequence number carried by the RTX packet `rtx[0..len)`.
 * @throws RtpFormatError as `decodeRtx`.
 */
export function rtxOsn(rtx: Uint8Array, len: number): number {
  const payloadOff = headerOf(rtx, len, 'rtx');
  checkOsn(rtx, len, payloadOff);
  return (rtx[payloadOff] << 8) | rtx[payloadOff + 1];
}

/**
 * Writes at `out[outOff..]` the original packet an RTX packet `rtx[0..len)` carries: the RTX
 * header with `mediaSsrc`, `mediaPayloadType` (the apt of the RTX payload type) and the OSN
 * as sequence number, then the payload after the OSN. Padding of the RTX packet is dropped.
 * @returns bytes written (RTX length - padding - 2).
 * @throws RtpFormatError (offset in `rtx`) when it is not RTP or holds no OSN;
 *   BufferTooSmallError when the original does not fit `out`.
 */
export function decodeRtx(
  rtx: Uint8Array, len: number, mediaSsrc: number, mediaPayloadType: number, out: Uint8Array, outOff = 0,
): number {
  const payloadOff = headerOf(rtx, len, 'rtx');
  const payloadEnd = checkOsn(rtx, len, payloadOff);
  const size = payloadEnd - RTX_OVERHEAD;
  if (outOff + size > out.length) throw new BufferTooSmallError('rtx-original', size, out.length - outOff);
  out.set(rtx.subarray(0, payloadOff), outOff);
  out[outOff] &= ~0x20;
  out[outOff + 1] = (rtx[1] & 0x80) | (mediaPayloadType & 0x7f);
  out[outOff + 2] = rtx[payloadOff];
  out[outOff + 3] = rtx[payloadOff + 1];
  writeU32(out, outOff + 8, mediaSsrc);
  out.set(rtx.subarray(payloadOff + RTX_OVERHEAD, payloadEnd), outOff + payloadOff);
  return size;
}

/**
 * `decodeRtx` with the pairing looked up: `apt` maps RTX payload type -> original payload type
 * (the SDP's `apt=`), `ssrcOf` maps RTX SSRC -> media SSRC (the `FID` group).
 * @returns bytes written, or -1 when the packet's payload type or SSRC is not an RTX one we know.
 */
export function decodeRtxWith(
  rtx: Uint8Array, len: number, apt: ReadonlyMap<number, number>, ssrcOf: ReadonlyMap<number, number>,
  out: Uint8Array, outOff = 0,
): number {
  if (Math.min(len, rtx.length) < 12) throw new RtpFormatError('rtx', 0, `${len}-byte packet is shorter than an RTP header`);
  const pt = apt.get(rtx[1] & 0x7f);
  const ssrc = ssrcOf.get(((rtx[8] << 24) | (rtx[9] << 16) | (rtx[10] << 8) | rtx[11]) >>> 0);
  if (pt === undefined || ssrc === undefined) return -1;
  return decodeRtx(rtx, len, ssrc, pt, out, outOff);
}

/** Decodes the header into `scratch`; @returns the payload offset. */
function headerOf(buf: Uint8Array, len: number, structure: string): number {
  const off = decodeRtpHeader(buf, len, scratch);
  if (off === NEED_MORE) throw new RtpFormatError(structure, Math.min(len, buf.length), 'packet ends inside its RTP header');
  return off;
}

/** @returns the payload end (padding excluded) once it has room for the OSN. */
function checkOsn(buf: Uint8Array, len: number, payloadOff: number): number {
  const end = Math.min(len, buf.length) - scratch.paddingLength;
  if (end - payloadOff < RTX_OVERHEAD) throw new RtpFormatError('rtx', payloadOff, `${end - payloadOff}-byte payload has no room for the OSN`);
  return end;
}
