/**
 * The SDP of a talk session (RFC 4566 text, RFC 7587 Opus, RFC 4568 SDES keys):
 * - the box's offer (`orbox voice sdp <peer>`): where the box listens, Opus/48000/2 mono,
 *   RTP/SAVP, sendrecv, and the key the box sends with (`a=crypto`);
 * - the peer's answer (`orbox voice start --sdp FILE`): where to send, its payload type for
 *   opus, and the key it sends with.
 * The offer holds a key: it travels only over the box's local socket (0660) for now; the
 * fleet command and the web console's talk button will carry it over their TLS channels.
 * Errors: VoiceSdpError naming the line or field that is wrong. Runs on: duplex-voice.
 */
import * as sdpTransform from 'sdp-transform';
import { buildOpusMediaSdp } from '../../rtp/opus.js';
import { formatCryptoAttribute, parseCryptoAttribute, type SdesCrypto } from '../../srtp/index.js';
import type { SrtpKeying } from '../../srtp/index.js';

export class VoiceSdpError extends Error {
  constructor(readonly field: string, detail: string) { super(`talk session SDP ${field}: ${detail}`); }
}

/** Payload type of Opus in the box's offer. */
export const VOICE_PT = 97;

export interface VoiceOfferParams {
  boxId: string;
  room: string;
  peer: string;
  /** Address the peer sends to (the box's). */
  host: string;
  port: number;
  /** What the box sends with. */
  keying: SrtpKeying;
  /** `o=` session id (decimal digits). */
  sessionId: string;
}

export function buildVoiceOffer(p: VoiceOfferParams): string {
  const ip = p.host.includes(':') ? 'IP6' : 'IP4';
  const head = [
    'v=0',
    `o=orbox ${p.sessionId} 1 IN ${ip} ${p.host}`,
    `s=orbox talk ${p.boxId}${p.room ? ` (${p.room})` : ''} with ${p.peer}`,
    `c=IN ${ip} ${p.host}`,
    't=0 0',
  ].join('\r\n') + '\r\n';
  const media = buildOpusMediaSdp({ payloadType: VOICE_PT, port: p.port, transport: 'RTP/SAVP', useInbandFec: true });
  return head + media + 'a=sendrecv\r\n' + formatCryptoAttribute({ tag: 1, ...p.keying }) + '\r\n';
}

export interface VoiceAnswer {
  host: string;
  port: number;
  payloadType: number;
  crypto: SdesCrypto;
}

/** Reads the peer's answer. @throws VoiceSdpError for what is missing or not understood. */
export function parseVoiceAnswer(text: string): VoiceAnswer {
  if (!/^v=0/m.test(text)) throw new VoiceSdpError('v=', 'not an SDP description (no v=0 line)');
  const s = sdpTransform.parse(text);
  const m = (s.media ?? []).find((x) => x.type === 'audio');
  if (!m) throw new VoiceSdpError('m=audio', 'no audio media description');
  if (!Number.isInteger(m.port) || m.port <= 0 || m.port > 65535) throw new VoiceSdpError('m=audio', `port ${m.port} is not in 1..65535`);
  if (!/SAVP/.test(m.protocol)) throw new VoiceSdpError('m=audio', `transport ${m.protocol}: the talk session is SRTP only (RTP/SAVP)`);
  const host = m.connection?.ip ?? s.connection?.ip;
  if (!host) throw new VoiceSdpError('c=', 'no connection address');
  const opus = (m.rtp ?? []).find((r) => r.codec.toLowerCase() === 'opus' && r.rate === 48000);
  if (!opus) throw new VoiceSdpError('a=rtpmap', 'no opus/48000 payload type');
  const c = (m.crypto ?? [])[0];
  if (!c) throw new VoiceSdpError('a=crypto', 'missing: the peer must give the key it sends with');
  let crypto: SdesCrypto;
  try { crypto = parseCryptoAttribute(`a=crypto:${c.id} ${c.suite} ${c.config}`); } catch (e) { throw new VoiceSdpError('a=crypto', (e as Error).message); }
  return { host, port: m.port, payloadType: opus.payload, crypto };
}

/** An answer SDP for a peer (tests, labs: a plain GStreamer peer has no SDP of its own). */
export function buildVoiceAnswer(host: string, port: number, keying: SrtpKeying, payloadType = VOICE_PT): string {
  return ['v=0', `o=peer 1 1 IN IP4 ${host}`, 's=talk', `c=IN IP4 ${host}`, 't=0 0'].join('\r\n') + '\r\n' +
    buildOpusMediaSdp({ payloadType, port, transport: 'RTP/SAVP' }) + 'a=sendrecv\r\n' + formatCryptoAttribute({ tag: 1, ...keying }) + '\r\n';
}
