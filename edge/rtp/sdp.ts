/**
 * SDP description of one H.264 RTP stream (RFC 8866 (SDP, formerly RFC 4566) §5; RFC 6184
 * §8.1-8.2.1 for the H.264 media type parameters; RFC 2326 §C.1.1 for `a=control`).
 *
 * Owns: the text a DESCRIBE answers with. Pure: the session id and version are arguments.
 *
 *   v=0
 *   o=- <sess-id> <sess-version> IN IP4 <origin address>
 *   s=<session name>
 *   c=IN IP4 0.0.0.0
 *   t=0 0
 *   a=control:*
 *   m=video 0 RTP/AVP <pt>
 *   a=rtpmap:<pt> H264/90000
 *   a=fmtp:<pt> packetization-mode=1;profile-level-id=<hex6>;sprop-parameter-sets=<b64 SPS>,<b64 PPS>
 *   a=control:<absolute control URL>
 *
 * The media-level control URL is absolute because GStreamer's rtspsrc resolves a relative one
 * against the parent path (`/or1/hq` + `streamid=0` -> `/or1/streamid=0`), which the RTSP
 * server package does not know (see edge/net/rtsp).
 * Errors: RtpOptionError naming the bad field. Runs on: net-send.
 */
import { RtpOptionError } from './errors.js';
import { profileLevelId, spropParameterSets } from './h264.js';

export interface H264SdpParams {
  /** SPS and PPS NAL units (header byte included, no start code). */
  sps: Uint8Array;
  pps: Uint8Array;
  /** Absolute `rtsp://host:port/path/streamid=0` URL for the media's `a=control`. */
  controlUrl: string;
  /** Dynamic payload type. Default 96. */
  payloadType?: number;
  /** `s=` line. Default 'orbox'. */
  sessionName?: string;
  /** Unicast IPv4 address of the origin (`o=`). Default 127.0.0.1. */
  originAddress?: string;
  /** `o=` session id (decimal digits). Default '0'. Pass a stable value per stream. */
  sessionId?: string;
  /** `o=` version, bumped when the description changes. Default '0'. */
  sessionVersion?: string;
  /** Optional `a=framerate` (RFC 8866 §6.8). */
  framerate?: number;
}

const SAFE_TEXT = /^[^\r\n\0]*$/;
const DIGITS = /^\d+$/;

/** Builds the SDP text (CRLF line ends, RFC 8866 §5). @throws RtpOptionError. */
export function buildH264Sdp(p: H264SdpParams): string {
  const pt = p.payloadType ?? 96;
  if (!Number.isInteger(pt) || pt < 96 || pt > 127) throw new RtpOptionError('payloadType', `${pt} is not a dynamic type (96..127)`);
  if (!/^rtsps?:\/\/[^\s/]+\/\S*$/.test(p.controlUrl)) throw new RtpOptionError('controlUrl', `'${p.controlUrl}' is not an absolute rtsp:// URL`);
  const name = p.sessionName ?? 'orbox';
  if (!SAFE_TEXT.test(name) || name.length === 0) throw new RtpOptionError('sessionName', 'empty or contains CR/LF/NUL');
  const origin = p.originAddress ?? '127.0.0.1';
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(origin)) throw new RtpOptionError('originAddress', `'${origin}' is not an IPv4 address`);
  const sid = p.sessionId ?? '0';
  const ver = p.sessionVersion ?? '0';
  if (!DIGITS.test(sid)) throw new RtpOptionError('sessionId', `'${sid}' is not decimal digits`);
  if (!DIGITS.test(ver)) throw new RtpOptionError('sessionVersion', `'${ver}' is not decimal digits`);
  const plid = profileLevelId(p.sps);
  const lines = [
    'v=0',
    `o=- ${sid} ${ver} IN IP4 ${origin}`,
    `s=${name}`,
    'c=IN IP4 0.0.0.0',
    't=0 0',
    'a=control:*',
    `m=video 0 RTP/AVP ${pt}`,
    `a=rtpmap:${pt} H264/90000`,
    `a=fmtp:${pt} packetization-mode=1;profile-level-id=${plid};sprop-parameter-sets=${spropParameterSets([p.sps, p.pps])}`,
  ];
  if (p.framerate !== undefined) {
    if (!(p.framerate > 0 && p.framerate <= 1000)) throw new RtpOptionError('framerate', `${p.framerate} is not in (0, 1000]`);
    lines.push(`a=framerate:${p.framerate}`);
  }
  lines.push(`a=control:${p.controlUrl}`);
  return lines.join('\r\n') + '\r\n';
}
