/**
 * Opus over RTP (RFC 7587): the payloader of one outgoing Opus stream, the packet duration
 * read from an Opus packet's TOC byte (RFC 6716 §3.1), and the SDP media description
 * (RFC 7587 §6-7).
 *
 * Owns: one outgoing Opus RTP stream (one SSRC): its sequence numbers, its timestamp mapping
 * from capture time, its packet/octet counters (for RTCP SR) and a history ring of packet
 * buffers. Lifecycle: construct (validates options), then `packetize()` once per Opus packet,
 * in capture order. No I/O, no timers. Runs on: net-send (and duplex-voice), one per stream.
 *
 * Packet written (RFC 7587 §4.2: exactly one Opus packet per RTP packet, no payload header):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                timestamp (48 kHz, whatever the input rate)    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                             SSRC                              |
 *   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *   | TOC | one Opus packet (RFC 6716 §3), 1..1275 bytes per frame  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   TOC (RFC 6716 §3.1):  |config (5)|s|c (2)|   config -> mode, bandwidth, frame duration;
 *                         c = 0: 1 frame, 1 or 2: 2 frames, 3: a count byte follows (M = low 6 bits)
 *
 * Timestamp (RFC 7587 §4.1, RFC 3550 §5.1): 48 kHz for every Opus stream (§4.1: "the RTP
 * timestamp is incremented with a 48000 Hz clock rate for all modes of Opus and all sampling
 * rates"), ts = offset + floor(captureNs * 48000 / 1e9) mod 2^32, as h264-packetizer.ts maps
 * video at 90 kHz, so one RTCP SR maps both to the same wall clock. Within a run of packets whose
 * capture times follow each other by their durations (within TS_TOLERANCE ticks, 1 ms), the
 * timestamp advances by exactly the previous packet's duration, so a receiver sees a gapless
 * stream; a larger step resynchronises to the mapping above.
 * Marker (RFC 7587 §4.1: M = 1 on the first packet of a talkspurt, after a silence period):
 * set on the stream's first packet, on a resynchronised timestamp (the source was away), and
 * when the caller says a talkspurt starts (after frames it did not send).
 * Errors: RtpOptionError naming the option; RtpFormatError (with the byte offset) for an Opus
 * packet whose TOC cannot be read; BufferTooSmallError for a packet larger than the MTU.
 */
import { BufferTooSmallError, RtpFormatError, RtpOptionError } from './errors.js';
import { RTP_FIXED_HEADER, writeFixedHeader } from './header.js';
import { cryptoRandomU32, DEFAULT_MTU, MAX_MTU, type RandomU32, type RtpSenderState } from './h264-packetizer.js';
import { seqAdd, tsAdd, tsDiff, u32 } from './seq.js';

/** RTP clock rate of Opus, whatever the input's sampling rate (RFC 7587 §4.1). */
export const OPUS_CLOCK_RATE = 48_000;
/** Longest Opus packet (RFC 6716 §3.2.5, R5): 120 ms, in 48 kHz samples. */
export const OPUS_MAX_PACKET_SAMPLES = 5760;
/** How far (48 kHz ticks, 1 ms) a capture time may stray from the previous packet's end and still continue it. */
export const TS_TOLERANCE = 48;

/** Frame duration per TOC config (RFC 6716 §3.1, Table 2), in 48 kHz samples. */
const FRAME_SAMPLES: readonly number[] = [
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK NB, MB, WB: 10/20/40/60 ms
  480, 960, 480, 960, //                                               Hybrid SWB, FB: 10/20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, // CELT: 2.5/5/10/20 ms
];

/**
 * Duration of one Opus packet in 48 kHz samples, from its TOC byte and (code 3) frame count
 * byte. Reads `len` bytes of `buf` from `off`. @throws RtpFormatError (offset in `buf`) for an
 * empty packet, a code 3 packet without its count byte, a count of 0, or more than 120 ms.
 */
export function opusPacketSamples(buf: Uint8Array, off = 0, len = buf.length - off): number {
  if (len < 1) throw new RtpFormatError('opus-toc', off, 'empty Opus packet (RFC 6716 §3.4 R1)');
  const toc = buf[off];
  const per = FRAME_SAMPLES[toc >>> 3];
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code !== 3) frames = 2;
  else {
    if (len < 2) throw new RtpFormatError('opus-toc', off + 1, 'code 3 packet without its frame count byte (RFC 6716 §3.2.5 R6)');
    frames = buf[off + 1] & 0x3f;
    if (frames === 0) throw new RtpFormatError('opus-toc', off + 1, 'code 3 packet with a frame count of 0 (RFC 6716 §3.2.5 R5)');
  }
  const n = per * frames;
  if (n > OPUS_MAX_PACKET_SAMPLES) throw new RtpFormatError('opus-toc', off + 1, `${frames} frames of ${per / 48} ms exceed 120 ms (RFC 6716 §3.2.5 R5)`);
  return n;
}

export interface OpusPacketizerOptions {
  /** RTP payload type, dynamic range 96..127. Default 97 (96 is the channel's video). */
  payloadType?: number;
  /** Largest RTP packet (header + payload) in bytes. Default 1400. */
  mtu?: number;
  /** SSRC. Default: drawn from `random`. */
  ssrc?: number;
  /** First sequence number. Default: drawn from `random`. */
  initialSequence?: number;
  /** Timestamp offset added to the capture-time clock. Default: drawn from `random`. */
  timestampOffset?: number;
  /** Packet buffers kept before reuse (an RTX responder's store). Default 256 (5 s of 20 ms). */
  historyDepth?: number;
  /** Randomness for SSRC, sequence and timestamp offset. Default: node:crypto. */
  random?: RandomU32;
}

/** The packet of one Opus frame; the object is reused by the next `packetize()` call. */
export interface OpusRtpPacket {
  /** The packet is bytes [0, length) of `buf`; valid until `historyDepth` more packets. */
  buf: Buffer;
  length: number;
  sequence: number;
  timestamp: number;
  marker: boolean;
  /** The Opus packet's duration, 48 kHz samples. */
  samples: number;
}

export class OpusPacketizer implements RtpSenderState {
  readonly payloadType: number;
  readonly mtu: number;
  readonly ssrc: number;
  readonly timestampOffset: number;
  readonly clockRate = OPUS_CLOCK_RATE;
  readonly historyDepth: number;
  private seq: number;
  private packets = 0;
  private octets = 0;
  /** RTP timestamp the next packet continues from, or -1 before the first. */
  private nextTs = -1;
  private readonly history: Buffer[] = [];
  private slot = 0;
  /** Timestamp resynchronisations after the first packet (capture time jumped). */
  resyncs = 0;

  readonly packet: OpusRtpPacket = { buf: Buffer.alloc(0), length: 0, sequence: 0, timestamp: 0, marker: false, samples: 0 };

  /** @throws RtpOptionError naming the option out of range. */
  constructor(opts: OpusPacketizerOptions = {}) {
    const random = opts.random ?? cryptoRandomU32;
    this.payloadType = opts.payloadType ?? 97;
    if (!Number.isInteger(this.payloadType) || this.payloadType < 96 || this.payloadType > 127) {
      throw new RtpOptionError('payloadType', `${this.payloadType} is not a dynamic type (96..127)`);
    }
    this.mtu = opts.mtu ?? DEFAULT_MTU;
    if (!Number.isInteger(this.mtu) || this.mtu < RTP_FIXED_HEADER + 2 || this.mtu > MAX_MTU) {
      throw new RtpOptionError('mtu', `${this.mtu} is not in ${RTP_FIXED_HEADER + 2}..${MAX_MTU}`);
    }
    this.historyDepth = opts.historyDepth ?? 256;
    if (!Number.isInteger(this.historyDepth) || this.historyDepth < 16) throw new RtpOptionError('historyDepth', `${this.historyDepth} is below 16`);
    this.ssrc = u32(opts.ssrc ?? random());
    this.seq = opts.initialSequence ?? random() & 0xffff;
    if (!Number.isInteger(this.seq) || this.seq < 0 || this.seq > 0xffff) throw new RtpOptionError('initialSequence', `${this.seq} is not in 0..65535`);
    this.timestampOffset = u32(opts.timestampOffset ?? random());
    const arena = Buffer.alloc(this.mtu * this.historyDepth);
    for (let i = 0; i < this.historyDepth; i++) this.history.push(arena.subarray(i * this.mtu, (i + 1) * this.mtu));
  }

  get packetCount(): number { return this.packets; }
  get octetCount(): number { return this.octets; }
  get nextSequence(): number { return this.seq; }

  /** RTP timestamp of a box-clock instant (ns): offset + ns * 48 kHz, modulo 2^32. */
  timestampAt(ns: bigint): number {
    const ticks = Number(BigInt.asUintN(32, (ns * 6n) / 125_000n));
    return tsAdd(this.timestampOffset, ticks);
  }

  /**
   * The RTP packet of one Opus packet captured at `captureNs` (box clock, ns; the capture time
   * of its first sample). `talkspurt` forces the marker bit (the first frame sent after frames
   * that were not). Returns the reused `packet`.
   * @throws RtpFormatError for an unreadable TOC, BufferTooSmallError past the MTU.
   */
  packetize(frame: Uint8Array, captureNs: bigint, talkspurt = false): OpusRtpPacket {
    const samples = opusPacketSamples(frame);
    const len = RTP_FIXED_HEADER + frame.length;
    if (len > this.mtu) throw new BufferTooSmallError('opus-rtp', len, this.mtu);
    const mapped = this.timestampAt(captureNs);
    let ts = mapped;
    let marker = talkspurt;
    if (this.nextTs < 0) marker = true;
    else if (Math.abs(tsDiff(mapped, this.nextTs)) <= TS_TOLERANCE) ts = this.nextTs;
    else { marker = true; this.resyncs++; }
    this.nextTs = tsAdd(ts, samples);
    const buf = this.history[this.slot];
    this.slot = (this.slot + 1) % this.historyDepth;
    writeFixedHeader(buf, marker, this.payloadType, this.seq, ts, this.ssrc);
    buf.set(frame, RTP_FIXED_HEADER);
    const p = this.packet;
    p.buf = buf; p.length = len; p.sequence = this.seq; p.timestamp = ts; p.marker = marker; p.samples = samples;
    this.seq = seqAdd(this.seq, 1);
    this.packets = u32(this.packets + 1);
    this.octets = u32(this.octets + frame.length);
    return p;
  }
}

export interface OpusSdpParams {
  /** Dynamic payload type. Default 97. */
  payloadType?: number;
  /** `m=` port. Default 0 (RTSP: the port comes from SETUP). */
  port?: number;
  /** `m=` transport. Default RTP/AVP. */
  transport?: 'RTP/AVP' | 'RTP/AVPF' | 'RTP/SAVP' | 'RTP/SAVPF';
  /** Channels this sender sends (sprop-stereo). Default 1. */
  channels?: 1 | 2;
  /** Whether this side prefers to receive stereo (`stereo`). Default false. */
  receiveStereo?: boolean;
  /** In-band FEC wanted from the peer (`useinbandfec`). Default true. */
  useInbandFec?: boolean;
  /** `maxaveragebitrate` in b/s (6000..510000), omitted when absent. */
  maxAverageBitrate?: number;
  /** `a=ptime`, ms. Default 20. */
  ptimeMs?: number;
  /** Absolute `rtsp://...` URL for the media's `a=control`, omitted when absent. */
  controlUrl?: string;
}

/**
 * The media description of one Opus stream (RFC 7587 §7: `opus/48000/2` always; §6.1 fmtp
 * parameters), CRLF line ends, to append after a session's `t=` lines:
 *
 *   m=audio <port> RTP/AVP <pt>
 *   a=rtpmap:<pt> opus/48000/2
 *   a=fmtp:<pt> minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0[;maxaveragebitrate=<b/s>]
 *   a=ptime:20
 *   [a=control:<absolute control URL>]
 *
 * @throws RtpOptionError naming the bad field.
 */
export function buildOpusMediaSdp(p: OpusSdpParams = {}): string {
  const pt = p.payloadType ?? 97;
  if (!Number.isInteger(pt) || pt < 96 || pt > 127) throw new RtpOptionError('payloadType', `${pt} is not a dynamic type (96..127)`);
  const port = p.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RtpOptionError('port', `${port} is not in 0..65535`);
  const channels = p.channels ?? 1;
  if (channels !== 1 && channels !== 2) throw new RtpOptionError('channels', `${String(channels)} is not 1 or 2`);
  const ptime = p.ptimeMs ?? 20;
  if (![10, 20, 40, 60].includes(ptime)) throw new RtpOptionError('ptimeMs', `${ptime} is not 10, 20, 40 or 60`);
  const fmtp = [`minptime=10`, `useinbandfec=${p.useInbandFec ?? true ? 1 : 0}`, `stereo=${p.receiveStereo ? 1 : 0}`, `sprop-stereo=${channels === 2 ? 1 : 0}`];
  if (p.maxAverageBitrate !== undefined) {
    const b = p.maxAverageBitrate;
    if (!Number.isInteger(b) || b < 6000 || b > 510_000) throw new RtpOptionError('maxAverageBitrate', `${b} is not in 6000..510000 (RFC 7587 §6.1)`);
    fmtp.push(`maxaveragebitrate=${b}`);
  }
  const lines = [
    `m=audio ${port} ${p.transport ?? 'RTP/AVP'} ${pt}`,
    `a=rtpmap:${pt} opus/48000/2`,
    `a=fmtp:${pt} ${fmtp.join(';')}`,
    `a=ptime:${ptime}`,
  ];
  if (p.controlUrl !== undefined) {
    if (!/^rtsps?:\/\/[^\s/]+\/\S*$/.test(p.controlUrl)) throw new RtpOptionError('controlUrl', `'${p.controlUrl}' is not an absolute rtsp:// URL`);
    lines.push(`a=control:${p.controlUrl}`);
  }
  return lines.join('\r\n') + '\r\n';
}
