/**
 * What `orbox receive` listens for, read from an uplink SDP (the one `orbox uplink sdp` prints,
 * sdp.ts): per channel, the video port and its RTCP port, the H.264 and RTX payload types and
 * the RTX pairing (`apt=`, `a=ssrc-group:FID`), the SMPTE 2022-1 FEC ports with L and D, and
 * the SDES key of each port; and the channel's audio (`m=audio`, Opus, tied to the video by
 * its `i=` or a `<channel>-audio` mid) with its ports, RTX pairing and key.
 *
 * Ports: the SDP's, or, with `basePort` (a receiver behind a NAT or a proxy listening elsewhere),
 * the same layout moved so the first video port is `basePort`.
 * Errors: ReceivePlanError names the line or m-section that is wrong (no video, a port out of
 * range, a key that does not parse, an RTX type without apt). Pure.
 * Runs on: the `orbox receive` process.
 */
import sdpTransform from 'sdp-transform';

export class ReceivePlanError extends Error {
  override name = 'ReceivePlanError';
  constructor(readonly where: string, detail: string) {
    super(`uplink SDP, ${where}: ${detail}`);
  }
}

export interface PortKey {
  suite: string;
  /** base64 of master key || salt, as in `inline:`. */
  inline: string;
}

/** One RTP stream to receive (a ReceiveSession's): the channel's video, or its audio. */
export interface ReceiveStream {
  /** The channel's name (the video m-line's `i=`), used in the local RTSP path; `<name>/audio` for its audio. */
  name: string;
  kind: 'video' | 'audio';
  rtpPort: number;
  rtcpPort: number;
  /** Payload type of the media (H264, or opus). */
  mediaPt: number;
  /** RTP clock rate: 90000 (H.264), 48000 (Opus). */
  clockRate: number;
  rtx: { pt: number; ssrc: number | null } | null;
  /** The media SSRC if the SDP names it (a=ssrc), else null (learnt from the first packet). */
  mediaSsrc: number | null;
  /** Repair window the SDP advertises (rtx-time, ms), null when absent. */
  rtxTimeMs: number | null;
  key: PortKey | null;
  fec: {
    columns: number;
    rows: number;
    columnPort: number;
    columnKey: PortKey | null;
    rowPort: number | null;
    rowKey: PortKey | null;
  } | null;
}

/** The channel's audio: an Opus stream (RFC 7587) with its channel count (`sprop-stereo`). */
export interface ReceiveAudio extends ReceiveStream {
  kind: 'audio';
  channels: 1 | 2;
}

export interface ReceiveChannel extends ReceiveStream {
  kind: 'video';
  audio: ReceiveAudio | null;
}

export interface ReceivePlan {
  session: string;
  /** The box's address as the SDP gives it (c=): informative; feedback goes to where packets come from. */
  connection: string | null;
  channels: ReceiveChannel[];
}

const portOk = (p: number) => Number.isInteger(p) && p > 0 && p < 65536;

function keyOf(m: sdpTransform.MediaDescription, where: string): PortKey | null {
  const c = m.crypto?.[0];
  if (!c) {
    if (m.protocol.includes('SAVP')) throw new ReceivePlanError(where, `${m.protocol} without an a=crypto line`);
    return null;
  }
  const inline = /^inline:([A-Za-z0-9+/=]+)/.exec(c.config);
  if (!inline) throw new ReceivePlanError(where, `a=crypto key parameters "${c.config}" are not inline:<base64>`);
  return { suite: c.suite, inline: inline[1]! };
}

/** RTX pairing of a media section (apt=, FID) and its media SSRC. */
function rtxOf(m: sdpTransform.MediaDescription, pt: number, where: string): Pick<ReceiveStream, 'rtx' | 'rtxTimeMs' | 'mediaSsrc'> {
  const rtxMap = m.rtp.find((r) => r.codec.toLowerCase() === 'rtx');
  const fid = m.ssrcGroups?.find((g) => g.semantics === 'FID')?.ssrcs.split(/\s+/).map(Number);
  const mediaSsrc = fid?.[0] ?? (m.ssrcs?.[0] ? Number(m.ssrcs[0].id) : null);
  if (!rtxMap) return { rtx: null, rtxTimeMs: null, mediaSsrc };
  const f = m.fmtp.find((x) => x.payload === rtxMap.payload)?.config ?? '';
  const apt = /(?:^|;)\s*apt=(\d+)/.exec(f);
  if (!apt || Number(apt[1]) !== pt) throw new ReceivePlanError(where, `RTX payload type ${rtxMap.payload} has no apt=${pt} (a=fmtp:${rtxMap.payload} ${f || '(none)'})`);
  const rt = /(?:^|;)\s*rtx-time=(\d+)/.exec(f);
  return { rtx: { pt: rtxMap.payload, ssrc: fid && fid.length === 2 ? fid[1]! : null }, rtxTimeMs: rt ? Number(rt[1]) : null, mediaSsrc };
}

/** Reads the plan from SDP text. @throws ReceivePlanError. */
export function planFromSdp(text: string, basePort?: number): ReceivePlan {
  let s: sdpTransform.SessionDescription;
  try {
    s = sdpTransform.parse(text);
  } catch (err) {
    throw new ReceivePlanError('the whole text', `does not parse (${(err as Error).message})`);
  }
  if (!s.media?.length) throw new ReceivePlanError('the whole text', 'no m= line');
  const byMid = new Map(s.media.filter((m) => m.mid).map((m) => [String(m.mid), m]));
  const channels: ReceiveChannel[] = [];
  s.media.forEach((m, i) => {
    if (m.type !== 'video') return;
    const where = `m-section ${i + 1} (m=video ${m.port})`;
    if (!portOk(m.port)) throw new ReceivePlanError(where, `port ${m.port} is not 1..65535`);
    const h264 = m.rtp.find((r) => r.codec.toUpperCase() === 'H264');
    if (!h264) throw new ReceivePlanError(where, 'no H264 payload type (a=rtpmap:<pt> H264/90000)');
    const rtxMap = m.rtp.find((r) => r.codec.toLowerCase() === 'rtx');
    let rtx: ReceiveChannel['rtx'] = null;
    let rtxTimeMs: number | null = null;
    if (rtxMap) {
      const f = m.fmtp.find((x) => x.payload === rtxMap.payload)?.config ?? '';
      const apt = /(?:^|;)\s*apt=(\d+)/.exec(f);
      if (!apt || Number(apt[1]) !== h264.payload) throw new ReceivePlanError(where, `RTX payload type ${rtxMap.payload} has no apt=${h264.payload} (a=fmtp:${rtxMap.payload} ${f || '(none)'})`);
      const rt = /(?:^|;)\s*rtx-time=(\d+)/.exec(f);
      rtxTimeMs = rt ? Number(rt[1]) : null;
      const fid = m.ssrcGroups?.find((g) => g.semantics === 'FID')?.ssrcs.split(/\s+/).map(Number);
      rtx = { pt: rtxMap.payload, ssrc: fid && fid.length === 2 ? fid[1]! : null };
    }
    const fidMedia = m.ssrcGroups?.find((g) => g.semantics === 'FID')?.ssrcs.split(/\s+/).map(Number)[0];
    const mediaSsrc = fidMedia ?? (m.ssrcs?.[0] ? Number(m.ssrcs[0].id) : null);
    const rtcpPort = m.rtcp?.port ?? m.port + 1;
    const name = (m.description ?? '').trim() || String(m.mid ?? `video${i}`).replace(/-video$/, '');
    let fec: ReceiveChannel['fec'] = null;
    const group = s.groups?.find((g) => g.type === 'FEC' && m.mid !== undefined && g.mids.split(/\s+/)[0] === String(m.mid));
    if (group) {
      const [, colMid, rowMid] = group.mids.split(/\s+/);
      const col = colMid ? byMid.get(colMid) : undefined;
      if (!col) throw new ReceivePlanError(where, `a=group:FEC names "${colMid}", which has no m-section`);
      const f = col.fmtp[0]?.config ?? '';
      const L = Number(/(?:^|;)\s*L=(\d+)/.exec(f)?.[1]);
      const D = Number(/(?:^|;)\s*D=(\d+)/.exec(f)?.[1]);
      if (!(L >= 1 && D >= 1)) throw new ReceivePlanError(`m-section of "${colMid}"`, `no L= and D= in a=fmtp (${f || 'none'})`);
      const row = rowMid ? byMid.get(rowMid) : undefined;
      if (rowMid && !row) throw new ReceivePlanError(where, `a=group:FEC names "${rowMid}", which has no m-section`);
      fec = {
        columns: L, rows: D,
        columnPort: col.port, columnKey: keyOf(col, `m-section of "${colMid}"`),
        rowPort: row ? row.port : null, rowKey: row ? keyOf(row, `m-section of "${rowMid}"`) : null,
      };
    }
    channels.push({ name, kind: 'video', rtpPort: m.port, rtcpPort, mediaPt: h264.payload, clockRate: 90000, rtx, mediaSsrc: mediaSsrc ?? null, rtxTimeMs, key: keyOf(m, where), fec, audio: null });
  });
  if (channels.length === 0) throw new ReceivePlanError('the whole text', 'no m=video line');
  s.media.forEach((m, i) => {
    if (m.type !== 'audio') return;
    const where = `m-section ${i + 1} (m=audio ${m.port})`;
    const named = (m.description ?? '').trim() || String(m.mid ?? '').replace(/-audio$/, '');
    const ch = channels.find((c) => c.name === named);
    if (!ch) throw new ReceivePlanError(where, `names channel "${named}", which has no m=video`);
    if (ch.audio) throw new ReceivePlanError(where, `a second m=audio for channel "${named}"`);
    if (!portOk(m.port)) throw new ReceivePlanError(where, `port ${m.port} is not 1..65535`);
    const opus = m.rtp.find((r) => r.codec.toLowerCase() === 'opus');
    if (!opus) throw new ReceivePlanError(where, 'no opus payload type (a=rtpmap:<pt> opus/48000/2)');
    const { rtx, rtxTimeMs, mediaSsrc } = rtxOf(m, opus.payload, where);
    const f = m.fmtp.find((x) => x.payload === opus.payload)?.config ?? '';
    ch.audio = {
      name: `${ch.name}/audio`, kind: 'audio', rtpPort: m.port, rtcpPort: m.rtcp?.port ?? m.port + 1, mediaPt: opus.payload, clockRate: 48000,
      rtx, mediaSsrc, rtxTimeMs, key: keyOf(m, where), fec: null, channels: /(?:^|;)\s*sprop-stereo=1/.test(f) ? 2 : 1,
    };
  });
  if (basePort !== undefined) {
    if (!portOk(basePort)) throw new ReceivePlanError('--port', `${basePort} is not 1..65535`);
    const shift = basePort - channels[0]!.rtpPort;
    for (const c of channels) {
      c.rtpPort += shift; c.rtcpPort += shift;
      if (c.audio) { c.audio.rtpPort += shift; c.audio.rtcpPort += shift; }
      if (c.fec) { c.fec.columnPort += shift; if (c.fec.rowPort !== null) c.fec.rowPort += shift; }
      for (const p of [c.rtpPort, c.rtcpPort, c.fec?.columnPort, c.fec?.rowPort, c.audio?.rtpPort, c.audio?.rtcpPort]) if (p != null && !portOk(p)) throw new ReceivePlanError('--port', `${basePort} moves channel "${c.name}" to port ${p}, outside 1..65535`);
    }
  }
  return { session: s.name ?? '', connection: s.connection?.ip ?? null, channels };
}
