/**
 * The SDP (RFC 8866) that tells one uplink receiver what the box sends it: `orbox uplink sdp
 * <receiver>` prints it, `orbox receive` reads it, and ffmpeg or a GStreamer `rtpbin` plays from it.
 *
 * Per channel of the receiver (ports from edge/config/uplink.ts):
 *   m=video <port> RTP/SAVPF 96 97        (RTP/AVPF without SRTP)
 *   i=<channel>
 *   a=rtcp:<port+1>
 *   a=rtpmap:96 H264/90000                 a=fmtp:96 packetization-mode=1
 *   a=rtcp-fb:96 nack | nack pli | ccm fir (RFC 4585 §4.2, RFC 5104 §7.1)
 *   a=rtpmap:97 rtx/90000                  a=fmtp:97 apt=96;rtx-time=<latencyMs> (RFC 4588 §8.6)
 *   a=ssrc:<media> cname:<cname>, a=ssrc:<rtx> cname:<cname>, a=ssrc-group:FID <media> <rtx> (RFC 5576)
 *   a=crypto:1 <suite> inline:<key||salt>  (RFC 4568; each port its own key)
 *   m=application <port+2> RTP/SAVP 98     SMPTE 2022-1 column FEC (`2dparityfec`), L and D in fmtp
 *   m=application <port+4> RTP/SAVP 98     row FEC, when on (its own port and key)
 *   m=audio <port+6> RTP/SAVPF 111 112     the channel's audio, when it has one:
 *   a=rtcp:<port+7>
 *   a=rtpmap:111 opus/48000/2              a=fmtp:111 ...;sprop-stereo=<0|1> (RFC 7587 §6.1)
 *   a=rtcp-fb:111 nack                     a=rtpmap:112 rtx/48000, a=fmtp:112 apt=111;rtx-time=<latencyMs>
 *   a=ssrc:<opus>/<opus rtx> cname:<the video's CNAME>, a=ssrc-group:FID, a=crypto (its own key)
 * and a `a=group:FEC` per channel tying its FEC m-lines to the video (RFC 5956 §4.1), and
 * `a=group:LS` tying the channel's video and audio (RFC 5888 §7: lip synchronisation; the
 * receivers here line them up by the shared CNAME and the RTCP SRs, both on the box clock).
 * The audio has no FEC: at 50 Opus packets/s a 2022-1 matrix of 5x5 spans 500 ms, longer than
 * the receive buffer, so it could repair nothing in time; the NACK rounds of RTX fit (a packet
 * is 20 ms of sound, and opusdec conceals a residual loss).
 * ffmpeg takes the application m-lines as data streams it does not decode (checked with
 * ffmpeg 5.1); `orbox receive` uses them.
 *
 * The SDP carries keys: it must travel only over an authenticated, encrypted channel.
 * Pure: keys, names and the session version are arguments. Errors: UplinkSdpError.
 * Runs on: control (the local API), `orbox receive` (parse).
 */
import sdpTransform from 'sdp-transform';
import type { UplinkReceiverConfig } from '../../config/uplink.js';
import { UPLINK_PORT, UPLINK_PORT_BLOCK } from '../../config/uplink.js';
import type { ReceiverKeys } from './keys.js';

/** Payload types the uplink uses, the same in every SDP (dynamic range, RFC 3551 §6); both FEC streams use `fec`. */
export const UPLINK_PT = { h264: 96, rtx: 97, fec: 98, opus: 111, opusRtx: 112 } as const;

export class UplinkSdpError extends Error {
  override name = 'UplinkSdpError';
}

export interface UplinkSdpParams {
  boxId: string;
  receiver: UplinkReceiverConfig;
  keys: ReceiverKeys;
  /** `o=` version: bump when the description changes (a rekey). Decimal digits. */
  version?: string;
  /** RTCP CNAME of the box's streams. Default `<boxId>/<channel>`. */
  cname?: (channel: string) => string;
  /** Channels with audio, by name: their input's channel count (Opus `sprop-stereo`). */
  audio?: Readonly<Record<string, { channels: 1 | 2 }>>;
}

/** The receiver's SDP text (CRLF line ends). @throws UplinkSdpError when keys are missing. */
export function buildUplinkSdp(p: UplinkSdpParams): string {
  const r = p.receiver;
  const srtp = r.srtp.enabled;
  const media: sdpTransform.MediaDescription[] = [];
  const groups: { type: string; mids: string }[] = [];
  r.channels.forEach((ch, k) => {
    const keys = p.keys.channels[ch];
    if (srtp && !keys) throw new UplinkSdpError(`no uplink keys for receiver "${r.name}" channel "${ch}"`);
    const port = r.port + UPLINK_PORT_BLOCK * k;
    const crypto = (b64: string | undefined) => (srtp && b64 ? { crypto: [{ id: 1, suite: p.keys.suite, config: `inline:${b64}` }] } : {});
    const cname = (p.cname ?? ((c: string) => `${p.boxId}/${c}`))(ch);
    const pts = [UPLINK_PT.h264, ...(r.rtx ? [UPLINK_PT.rtx] : [])];
    const v: sdpTransform.MediaDescription = {
      type: 'video', port: port + UPLINK_PORT.rtp, protocol: srtp ? 'RTP/SAVPF' : 'RTP/AVPF', payloads: pts.join(' '),
      description: ch,
      mid: `${ch}-video`,
      rtcp: { port: port + UPLINK_PORT.rtcp },
      rtp: [{ payload: UPLINK_PT.h264, codec: 'H264', rate: 90000 }, ...(r.rtx ? [{ payload: UPLINK_PT.rtx, codec: 'rtx', rate: 90000 }] : [])],
      fmtp: [{ payload: UPLINK_PT.h264, config: 'packetization-mode=1' }, ...(r.rtx ? [{ payload: UPLINK_PT.rtx, config: `apt=${UPLINK_PT.h264};rtx-time=${r.latencyMs}` }] : [])],
      rtcpFb: [
        { payload: UPLINK_PT.h264, type: 'nack' },
        { payload: UPLINK_PT.h264, type: 'nack', subtype: 'pli' },
        { payload: UPLINK_PT.h264, type: 'ccm', subtype: 'fir' },
      ],
      ...(keys ? {
        ssrcs: [
          { id: keys.mediaSsrc, attribute: 'cname', value: cname },
          ...(r.rtx ? [{ id: keys.rtxSsrc, attribute: 'cname', value: cname }] : []),
        ],
        ...(r.rtx ? { ssrcGroups: [{ semantics: 'FID', ssrcs: `${keys.mediaSsrc} ${keys.rtxSsrc}` }] } : {}),
      } : {}),
      ...crypto(keys?.media),
    };
    media.push(v);
    if (r.fec.enabled) {
      const fecLine = (what: 'columns' | 'rows', off: number, pt: number, key: string | undefined): sdpTransform.MediaDescription => ({
        type: 'application', port: port + off, protocol: srtp ? 'RTP/SAVP' : 'RTP/AVP', payloads: String(pt),
        description: `${ch} FEC ${what} (SMPTE 2022-1, L=${r.fec.columns} D=${r.fec.rows})`,
        mid: `${ch}-fec-${what}`,
        rtp: [{ payload: pt, codec: '2dparityfec', rate: 90000 }],
        fmtp: [{ payload: pt, config: `L=${r.fec.columns};D=${r.fec.rows};repair-window=${r.latencyMs * 1000}` }],
        ...crypto(key),
      });
      const mids = [`${ch}-video`, `${ch}-fec-columns`];
      media.push(fecLine('columns', UPLINK_PORT.fecColumns, UPLINK_PT.fec, keys?.fecColumns));
      if (r.fec.rowFec) {
        media.push(fecLine('rows', UPLINK_PORT.fecRows, UPLINK_PT.fec, keys?.fecRows));
        mids.push(`${ch}-fec-rows`);
      }
      groups.push({ type: 'FEC', mids: mids.join(' ') });
    }
    const audio = p.audio?.[ch];
    if (audio) {
      const ak = keys?.audio;
      if (srtp && !ak) throw new UplinkSdpError(`no uplink audio keys for receiver "${r.name}" channel "${ch}"`);
      const apts = [UPLINK_PT.opus, ...(r.rtx ? [UPLINK_PT.opusRtx] : [])];
      media.push({
        type: 'audio', port: port + UPLINK_PORT.audioRtp, protocol: srtp ? 'RTP/SAVPF' : 'RTP/AVPF', payloads: apts.join(' '),
        description: ch,
        mid: `${ch}-audio`,
        rtcp: { port: port + UPLINK_PORT.audioRtcp },
        rtp: [{ payload: UPLINK_PT.opus, codec: 'opus', rate: 48000, encoding: 2 }, ...(r.rtx ? [{ payload: UPLINK_PT.opusRtx, codec: 'rtx', rate: 48000 }] : [])],
        fmtp: [
          // What the box's encoder sends (edge/audio/encode.ts: CELT low delay, no in-band FEC).
          { payload: UPLINK_PT.opus, config: `minptime=10;useinbandfec=0;stereo=0;sprop-stereo=${audio.channels === 2 ? 1 : 0}` },
          ...(r.rtx ? [{ payload: UPLINK_PT.opusRtx, config: `apt=${UPLINK_PT.opus};rtx-time=${r.latencyMs}` }] : []),
        ],
        ptime: 20,
        rtcpFb: [{ payload: UPLINK_PT.opus, type: 'nack' }],
        ...(ak ? {
          ssrcs: [
            { id: ak.ssrc, attribute: 'cname', value: cname },
            ...(r.rtx ? [{ id: ak.rtxSsrc, attribute: 'cname', value: cname }] : []),
          ],
          ...(r.rtx ? { ssrcGroups: [{ semantics: 'FID', ssrcs: `${ak.ssrc} ${ak.rtxSsrc}` }] } : {}),
        } : {}),
        ...crypto(ak?.key),
      });
      groups.push({ type: 'LS', mids: `${ch}-video ${ch}-audio` });
    }
  });
  const version = p.version ?? '1';
  if (!/^\d+$/.test(version)) throw new UplinkSdpError(`session version "${version}" is not decimal digits`);
  const ipv6 = r.host.includes(':');
  const session: sdpTransform.SessionDescription = {
    version: 0,
    origin: { username: '-', sessionId: sessionId(p.boxId, r.name), sessionVersion: Number(version), netType: 'IN', ipVer: 4, address: '0.0.0.0' },
    name: `orbox ${p.boxId} uplink to ${r.name}`,
    connection: { version: ipv6 ? 6 : 4, ip: r.host },
    timing: { start: 0, stop: 0 },
    groups,
    media,
  };
  return sdpTransform.write(session);
}

/** A stable `o=` session id per (box, receiver): decimal digits from a hash of both names. */
function sessionId(boxId: string, receiver: string): number {
  let h = 2166136261;
  for (const c of `${boxId}\0${receiver}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}
