/**
 * One channel to one uplink receiver: the access units of the channel's hq or lq stream (the
 * choice made per receiver, stream-choice.ts) out as one RTP stream with repair and SRTP, and
 * the receiver's feedback in.
 *
 * Contract
 * - Owns: the pair's UDP sockets on the box side (RTP + RTX, RTCP, FEC columns, FEC rows; the
 *   layout in edge/config/uplink.ts), its H264Packetizer (one SSRC and sequence across hq/lq
 *   switches: the receiver sees one stream whose SPS changes at an IDR), its interceptor chains
 *   and its StreamChoice.
 * - Chain of the media port, wire inward: SRTP, index reservation, FEC encoder, NACK responder
 *   (RFC 4588 RTX), keyframe requests (PLI/FIR). The FEC ports have chains of their own: SRTP with
 *   their own key, index reservation. Inbound RTCP (SRTCP) goes through the media chain to the
 *   receiver-report table that feeds the choice. RTCP from the receiver is taken on the RTCP
 *   port and on the RTP port (a receiver multiplexing RTCP, RFC 5761).
 * - Symmetric RTP (RFC 4961): everything is sent from the box-side ports the receiver answers to.
 *   Without SRTP only datagrams from the receiver's address are read; with SRTP the
 *   authentication tag decides.
 * - Switching: when the choice wants the other stream, its encoder is asked for an IDR
 *   (`requestKeyframe`, not rate-limited: switches are rare) and the pair switches at that
 *   stream's next keyframe; until then it goes on sending the current one.
 * - Sender reports every ~1 s (jittered) so the receiver's reports carry a fresh RTT.
 * - Audio (a channel with audio, `audio` set): the channel's Opus on the block's audio ports
 *   (RTP + RTCP) through a PairAudio (pair-audio.ts: own key, SSRCs, RTX, SRs on the box clock
 *   under the video's CNAME), fed by `onOpusFrame()`; sent whichever video stream is chosen.
 * - Lifecycle: `start()` resolves the receiver's host and binds the sockets (throws when a port
 *   is taken); `onAccessUnit()` from the channel's AccessUnitFanouts; `tick(nowMs)` from net-send's
 *   timer; `close()` idempotent.
 * Runs on: net-send.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { BoxClock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import {
  H264Packetizer, InterceptorChain, KeyframeRequests, NackResponder, ReceiverReports, encodeSenderReportCompound,
  type Interceptor, type PacketSink, type StreamInfo,
} from '../../rtp/index.js';
import { UPLINK_PORT, type UplinkPair } from '../../config/uplink.js';
import { UPLINK_PT } from './sdp.js';
import { StreamChoice, type ChoiceState, type StreamRole } from './stream-choice.js';
import { IndexReservation } from './index-reservation.js';
import { keyId, type ChannelKeys, type SrtpSuiteName } from './keys.js';
import type { IndexJournal } from './index-journal.js';
import { PairAudio, type PairAudioStats } from './pair-audio.js';

export type { FecParams, FecUnit, SrtpPortParams, SrtpPortUnit, UplinkUnits } from './unit-types.js';
import type { SrtpPortUnit, FecUnit, UplinkUnits } from './unit-types.js';

export interface PairSenderOptions {
  pair: UplinkPair;
  boxId: string;
  fps: number;
  /** Media bitrate of hq, kbit/s: sizes the RTX bucket. */
  hqKbps: number;
  /** Null when the receiver has SRTP off. */
  keys: ChannelKeys | null;
  /** The channel's audio (its input's channel count); absent: video only. */
  audio?: { channels: 1 | 2 } | null;
  suite: SrtpSuiteName;
  journal: IndexJournal;
  units: UplinkUnits;
  clock: BoxClock;
  /** Monotonic ms. */
  now: () => number;
  /** Asks the channel's encoder for an IDR on `role` (PLI/FIR are limited by the caller). */
  requestKeyframe: (role: StreamRole, reason: string) => void;
  /** PLI/FIR from the receiver: the caller rate-limits across receivers. */
  onKeyframeRequest: (role: StreamRole, kind: 'pli' | 'fir') => void;
  log?: Logger;
  /** Where the pair's sockets listen. Default: the loopback address for a receiver on
   *  loopback (a lab, the demo: nothing is opened on the box's network), else all interfaces. */
  bindAddress?: string;
  random?: () => number;
}

export interface PairStats {
  receiver: string;
  channel: string;
  /** Where it sends, `host:port`. */
  to: string;
  sending: StreamRole | null;
  choice: ChoiceState;
  srtp: boolean;
  aus: number;
  packets: number;
  mediaBytes: number;
  rtxPackets: number;
  rtxBytes: number;
  fecPackets: number;
  fecBytes: number;
  srs: number;
  /** RTCP datagrams taken from the receiver / dropped (SRTP failures, foreign senders, bad). */
  rtcpIn: number;
  rtcpDropped: number;
  receiverReport: { lossBeforeRepair: number | null; rttMs: number | null; jitterMs: number | null; cumulativeLost: number } | null;
  nacks: number;
  rtxRateLimited: number;
  rtxNotInHistory: number;
  keyframeRequests: number;
  srtpDrops: Record<string, number>;
  /** The channel's audio on this pair, null when it has none. */
  audio: PairAudioStats | null;
}

type SocketName = 'rtp' | 'rtcp' | 'fecColumns' | 'fecRows' | 'audioRtp' | 'audioRtcp';

/** Socket send buffer asked for (the kernel caps it at net.core.wmem_max). */
const SEND_BUFFER_BYTES = 4 * 1024 * 1024;

export class UplinkPairSender {
  private sockets: Partial<Record<SocketName, Socket>> = {};
  private host = '';
  private state: 'new' | 'running' | 'closed' = 'new';
  private readonly choice: StreamChoice;
  private sending: StreamRole | null = null;
  private switchAsked: StreamRole | null = null;
  private pz!: H264Packetizer;
  private media!: PacketSink;
  private rtcpOut!: PacketSink;
  private rtcpIn!: PacketSink;
  private chain!: InterceptorChain;
  private fecChains: InterceptorChain[] = [];
  private responder!: NackResponder;
  private keyframes!: KeyframeRequests;
  private srtpUnits: SrtpPortUnit[] = [];
  private fec: FecUnit | null = null;
  private reports!: ReceiverReports;
  private lastReportCount = 0;
  private trouble = { rateLimited: 0, notInHistory: 0 };
  private nextSrAt = 0;
  private readonly rtcpBuf = new Uint8Array(256);
  private readonly random: () => number;
  private readonly st = { aus: 0, packets: 0, mediaBytes: 0, rtxPackets: 0, rtxBytes: 0, fecPackets: 0, fecBytes: 0, srs: 0, rtcpIn: 0, rtcpDropped: 0 };
  private info!: StreamInfo;
  private audio: PairAudio | null = null;

  constructor(private readonly o: PairSenderOptions) {
    const r = o.pair.receiver;
    this.choice = new StreamChoice({ mode: r.stream, latencyMs: r.latencyMs });
    this.random = o.random ?? Math.random;
  }

  get name(): string {
    return `${this.o.pair.receiver.name}/${this.o.pair.channel}`;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    const r = this.o.pair.receiver;
    this.host = (await lookup(r.host)).address;
    const family = this.host.includes(':') ? 'udp6' : 'udp4';
    const names: SocketName[] = ['rtp', 'rtcp', ...(r.fec.enabled ? ['fecColumns' as const, ...(r.fec.rowFec ? ['fecRows' as const] : [])] : []), ...(this.o.audio ? ['audioRtp' as const, 'audioRtcp' as const] : [])];
    try {
      for (const n of names) this.sockets[n] = await this.bind(family, this.o.pair.localPort + UPLINK_PORT[n]);
    } catch (err) {
      this.closeSockets();
      throw err;
    }
    this.build();
    this.state = 'running';
    // The first SR goes with the first packets: the receiver learns from it where to send its
    // feedback (symmetric RTP through a NAT or proxy), so its first NACKs are not lost.
    this.nextSrAt = 0;
  }

  private bind(family: 'udp4' | 'udp6', port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: family, reuseAddr: false });
      s.once('error', reject);
      s.bind(port, this.o.bindAddress ?? (isLoopback(this.host) ? this.host : undefined), () => {
        s.off('error', reject);
        s.on('error', (err) => this.o.log?.warn({ err, pair: this.name, port }, 'uplink socket error'));
        // An IDR leaves as one burst; a send buffer smaller than it drops its tail at the source.
        try { s.setSendBufferSize(SEND_BUFFER_BYTES); } catch { /* the kernel's cap (wmem_max) stands */ }
        resolve(s);
      });
    });
  }

  /** The wire end of one socket: datagrams to the receiver's matching port. */
  private wire(n: SocketName): PacketSink {
    const s = this.sockets[n]!;
    const port = this.o.pair.remotePort + UPLINK_PORT[n];
    return (pkt, len) => s.send(pkt, 0, len, port, this.host);
  }

  private build(): void {
    const o = this.o, r = o.pair.receiver, keys = o.keys;
    const mediaSsrc = keys?.mediaSsrc ?? ((this.random() * 2 ** 32) >>> 0);
    const rtxSsrc = keys?.rtxSsrc ?? (((mediaSsrc + 1 + Math.floor(this.random() * 1000)) >>> 0) || 1);
    const srtpOn = r.srtp.enabled && keys !== null;
    const reservation = (b64: string) => new IndexReservation(o.journal, keyId(b64));
    const units: Interceptor[] = [];
    let mediaRes: IndexReservation | null = null;
    if (srtpOn) {
      mediaRes = reservation(keys.media);
      const resume = [mediaSsrc, rtxSsrc].map((ssrc) => ({ ssrc, lastIndex: mediaRes!.startOf(ssrc) - 1, rtcpIndex: mediaRes!.rtcpStartOf(ssrc) }));
      const srtp = o.units.srtp({ masterB64: keys.media, suite: o.suite, resume, label: `${this.name} media` });
      this.srtpUnits.push(srtp);
      units.push(srtp, mediaRes);
    }
    if (r.fec.enabled) {
      const fecSink = (n: 'fecColumns' | 'fecRows', b64: string | undefined): { sink: PacketSink; seq: number } => {
        const w = this.wire(n);
        const counted: PacketSink = (pkt, len) => { this.st.fecPackets++; this.st.fecBytes += len; w(pkt, len); };
        if (!srtpOn || !b64) return { sink: counted, seq: Math.floor(this.random() * 65536) };
        const res = reservation(b64);
        // SMPTE 2022-1 FEC packets carry SSRC 0.
        const srtp = o.units.srtp({ masterB64: b64, suite: o.suite, resume: [{ ssrc: 0, lastIndex: res.startOf(0) - 1, rtcpIndex: res.rtcpStartOf(0) }], label: `${this.name} ${n}` });
        this.srtpUnits.push(srtp);
        const chain = new InterceptorChain([srtp, res]);
        this.fecChains.push(chain);
        const fecInfo: StreamInfo = { name: `${this.name}/${n}`, kind: 'video', ssrc: 0, payloadType: UPLINK_PT.fec, clockRate: 90000 };
        return { sink: chain.bindLocalStream(fecInfo, counted), seq: res.startOf(0) & 0xffff };
      };
      const col = fecSink('fecColumns', keys?.fecColumns);
      const row = r.fec.rowFec ? fecSink('fecRows', keys?.fecRows) : { sink: () => {}, seq: 0 };
      this.fec = o.units.fecEncoder({
        columns: r.fec.columns, rows: r.fec.rows, rowFec: r.fec.rowFec, columnSink: col.sink, rowSink: row.sink,
        payloadType: UPLINK_PT.fec, columnSeq: col.seq, rowSeq: row.seq,
      });
      units.push(this.fec);
    }
    const bytesPerSec = (o.hqKbps * 1000) / 8;
    this.responder = new NackResponder({
      now: o.now, maxAgeMs: Math.max(250, r.latencyMs * 2), rtxShare: Math.max(0.01, r.maxRepairShare),
      // A burst of loss asks for a burst of repair: a quarter second of media.
      burstBytes: Math.max(64_000, bytesPerSec / 4),
    });
    this.keyframes = new KeyframeRequests({
      now: o.now, minIntervalMs: 0,
      onKeyframeRequest: (_n, kind) => { if (this.sending) o.onKeyframeRequest(this.sending, kind); },
    });
    if (r.rtx) units.push(this.responder);
    units.push(this.keyframes);
    this.chain = new InterceptorChain(units);
    const rtxStart = mediaRes ? mediaRes.startOf(rtxSsrc) : undefined;
    this.info = {
      name: this.name, kind: 'video', ssrc: mediaSsrc, payloadType: UPLINK_PT.h264, clockRate: 90000,
      ...(r.rtx ? { rtx: { ssrc: rtxSsrc, payloadType: UPLINK_PT.rtx, ...(rtxStart ? { initialSequence: rtxStart & 0xffff } : {}) } } : {}),
    };
    const mediaStart = mediaRes ? mediaRes.startOf(mediaSsrc) : 0;
    this.pz = new H264Packetizer({
      payloadType: UPLINK_PT.h264, ssrc: mediaSsrc, mtu: 1200,
      ...(keys?.rtpTimestampOffset !== undefined ? { timestampOffset: keys.rtpTimestampOffset } : {}),
      ...(mediaStart > 0 ? { initialSequence: mediaStart & 0xffff } : {}),
    });
    const rtpWire = this.wire('rtp');
    const counted: PacketSink = (pkt, len) => {
      if (len >= 12 && ((pkt[8]! << 24) | (pkt[9]! << 16) | (pkt[10]! << 8) | pkt[11]!) >>> 0 === rtxSsrc && (pkt[1]! & 0x7f) === UPLINK_PT.rtx) {
        this.st.rtxPackets++; this.st.rtxBytes += len;
      }
      rtpWire(pkt, len);
    };
    this.media = this.chain.bindLocalStream(this.info, counted);
    this.rtcpOut = this.chain.bindRtcpWriter(this.wire('rtcp'));
    this.reports = new ReceiverReports({ mediaSsrc });
    this.rtcpIn = this.chain.bindRtcpReader((pkt, len) => {
      try {
        this.reports.onRtcp(pkt, len, o.clock.wallNs());
      } catch {
        this.st.rtcpDropped++;
      }
      this.onReceiverRtcp(o.now());
    });
    const fromReceiver = (msg: Buffer, from: { address: string }) => {
      if (!srtpOn && from.address !== this.host) { this.st.rtcpDropped++; return; }
      this.st.rtcpIn++;
      this.rtcpIn(msg, msg.length);
    };
    this.sockets.rtcp!.on('message', fromReceiver);
    this.sockets.rtp!.on('message', (msg, from) => {
      // RTCP multiplexed on the RTP port (RFC 5761 §4: payload types 64-95 with the marker bit are RTCP 192-223).
      if (msg.length >= 8 && msg[1]! >= 192 && msg[1]! <= 223) fromReceiver(msg, from);
      else this.st.rtcpDropped++;
    });
    if (o.audio) this.buildAudio(srtpOn);
  }

  private buildAudio(srtpOn: boolean): void {
    const o = this.o, r = o.pair.receiver;
    if (srtpOn && !o.keys?.audio) {
      // Never in clear when the receiver asked for SRTP (receiverKeys adds audio keys to a channel with audio).
      o.log?.warn({ pair: this.name }, 'uplink audio off: the key file has no audio key for this channel');
      return;
    }
    const audio = new PairAudio({
      name: this.name, cname: `${o.boxId}/${o.pair.channel}`, keys: srtpOn ? o.keys?.audio ?? null : null, suite: o.suite,
      rtx: r.rtx, latencyMs: r.latencyMs, repairShare: r.maxRepairShare, journal: o.journal, units: o.units, clock: o.clock,
      now: o.now, random: this.random, rtpWire: this.wire('audioRtp'), rtcpWire: this.wire('audioRtcp'),
    });
    this.audio = audio;
    const fromReceiver = (msg: Buffer, from: { address: string }) => {
      if (!srtpOn && from.address !== this.host) { this.st.rtcpDropped++; return; }
      this.st.rtcpIn++;
      audio.onRtcp(msg, msg.length);
    };
    this.sockets.audioRtcp!.on('message', fromReceiver);
    this.sockets.audioRtp!.on('message', (msg, from) => {
      if (msg.length >= 8 && msg[1]! >= 192 && msg[1]! <= 223) fromReceiver(msg, from);
      else this.st.rtcpDropped++;
    });
  }

  /**
   * One Opus packet of the channel's audio input (valid during the call), stamped with the
   * capture instant of its first sample. Dropped when the channel has no audio on this pair.
   */
  onOpusFrame(frame: Uint8Array, wallNs: bigint): void {
    if (this.state === 'running') this.audio?.onOpusFrame(frame, wallNs);
  }

  /** One access unit of the channel's `role` stream (`au` valid during the call). */
  onAccessUnit(role: StreamRole, au: Uint8Array, keyframe: boolean, wallNs: bigint, _monoNs: bigint): void {
    if (this.state !== 'running') return;
    const want = this.choice.state.want;
    if (this.sending !== want) {
      if (role === want && keyframe) {
        if (this.sending) this.o.log?.info({ pair: this.name, from: this.sending, to: want, reason: this.choice.state.reason }, 'uplink switches stream');
        this.sending = want;
        this.switchAsked = null;
      } else if (this.switchAsked !== want) {
        this.switchAsked = want;
        this.o.requestKeyframe(want, this.sending ? `uplink ${this.name} switching to ${want}` : `uplink ${this.name} starting`);
      }
    }
    if (role !== this.sending) return;
    const b = this.pz.packetize(au, wallNs, keyframe);
    for (let i = 0; i < b.count; i++) {
      this.media(b.packets[i]!, b.lengths[i]!);
      this.st.mediaBytes += b.lengths[i]!;
    }
    this.st.packets += b.count;
    this.st.aus++;
  }

  /** Timers: the chain's and sender reports. */
  tick(nowMs: number): void {
    if (this.state !== 'running') return;
    this.chain.tick(nowMs);
    for (const c of this.fecChains) c.tick(nowMs);
    this.audio?.tick(nowMs);
    if (nowMs >= this.nextSrAt && this.pz.packetCount > 0) {
      const n = encodeSenderReportCompound(this.pz, `${this.o.boxId}/${this.o.pair.channel}`, this.o.clock.wallNs(), this.rtcpBuf);
      this.rtcpOut(this.rtcpBuf, n);
      this.st.srs++;
      this.nextSrAt = nowMs + 1000 * (0.75 + 0.5 * this.random());
    }
  }

  /**
   * After each RTCP packet from the receiver (its reports and NACKs went through the chain and
   * the report table): the choice is fed what changed. Only here, not on the 5 ms timer: nothing
   * it reads moves between RTCP packets, and the report snapshot allocates.
   */
  private onReceiverRtcp(nowMs: number): void {
    const rs = this.responder.statsOf(this.name);
    if (rs) {
      const limited = rs.rateLimited - this.trouble.rateLimited, missing = rs.notInHistory - this.trouble.notInHistory;
      if (limited > 0) this.choice.repairTrouble(nowMs, `${limited} retransmissions over the bandwidth cap`);
      if (missing > 0) this.choice.repairTrouble(nowMs, `${missing} asked after they left the history`);
      this.trouble = { rateLimited: rs.rateLimited, notInHistory: rs.notInHistory };
    }
    const v = this.latestViewer();
    if (v && v.reports !== this.lastReportCount) {
      this.lastReportCount = v.reports;
      this.choice.report(nowMs, v.cumulativeLost, v.extendedHighestSequence, v.rttMs, v.jitterMs);
      // A repeat NACK within an RTT of a resend crossed it on the way: not resent again.
      if (v.rttMs !== null) this.responder.setMinResendInterval(Math.max(8, 0.75 * v.rttMs));
    }
  }

  private latestViewer() {
    if (this.reports.size === 0) return undefined;
    const all = this.reports.snapshot(this.o.clock.wallNs());
    let best = all[0];
    for (const v of all) if (v.lastReportAgeMs < (best?.lastReportAgeMs ?? Infinity)) best = v;
    return best;
  }

  stats(): PairStats {
    const r = this.o.pair.receiver;
    const rs = this.responder?.statsOf(this.name);
    const v = this.state === 'running' ? this.latestViewer() : undefined;
    const drops: Record<string, number> = {};
    for (const u of this.srtpUnits) for (const [k, n] of Object.entries(u.stats())) drops[k] = (drops[k] ?? 0) + n;
    for (const [k, n] of Object.entries(this.audio?.srtpDrops() ?? {})) drops[`audio ${k}`] = n;
    return {
      receiver: r.name, channel: this.o.pair.channel, to: `${r.host}:${this.o.pair.remotePort}`,
      sending: this.sending, choice: { ...this.choice.state }, srtp: r.srtp.enabled,
      ...this.st,
      receiverReport: v ? { lossBeforeRepair: this.choice.state.loss, rttMs: v.rttMs, jitterMs: v.jitterMs, cumulativeLost: v.cumulativeLost } : null,
      nacks: rs?.nacksReceived ?? 0, rtxRateLimited: rs?.rateLimited ?? 0, rtxNotInHistory: rs?.notInHistory ?? 0,
      keyframeRequests: this.keyframes?.stats.requested ?? 0,
      srtpDrops: drops,
      audio: this.audio?.stats() ?? null,
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.chain?.close();
    for (const c of this.fecChains) c.close();
    this.audio?.close();
    this.closeSockets();
  }

  private closeSockets(): void {
    for (const s of Object.values(this.sockets)) { try { s.close(); } catch { /* already closed */ } }
    this.sockets = {};
  }
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address);
}
