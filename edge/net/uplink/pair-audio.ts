/**
 * The audio of one (receiver, channel) pair: the channel's Opus packets (`audio.<input>`) out as
 * their own RTP stream (RFC 7587) on the pair's audio ports, with RTX and SRTP, and the
 * receiver's feedback on it in.
 *
 * Contract
 * - Owns: the stream's OpusPacketizer (SSRC and timestamp offset from the key file, so a
 *   restarted sender continues the SDP's stream), its chain, wire inward: SRTP (the channel's
 *   audio key: a key of its own, so no keystream is shared with the video's), index
 *   reservation (as the video's: a restart never repeats an index), NACK responder (RFC 4588
 *   RTX on the audio RTX SSRC), and its sender reports.
 * - No FEC: at 50 packets/s a SMPTE 2022-1 5x5 matrix spans 500 ms, beyond the receive buffer;
 *   retransmission fits (sdp.ts says the same to the receiver).
 * - Lip sync: the Opus timestamps come from each packet's capture instant on the box clock at
 *   48 kHz (opus.ts) as the video's do at 90 kHz, and each SR maps the box clock's wall time
 *   now to both, under the video's CNAME: a receiver grouping by CNAME (rtpbin, ffmpeg) lines
 *   the two up. The first SR goes with the first packets, then every ~1 s (jittered).
 * - The sockets are the pair's (pair-sender.ts binds them): `rtpWire` / `rtcpWire` send to the
 *   receiver's audio ports; the pair hands the receiver's audio RTCP to `onRtcp`.
 * - Errors: nothing from the network throws (bad RTCP is counted); an Opus packet whose TOC does
 *   not parse is counted as dropped. close() idempotent.
 * Runs on: net-send.
 */
import type { BoxClock } from '../../lib/clock.js';
import {
  InterceptorChain, NackResponder, OpusPacketizer, ReceiverReports, encodeSenderReportCompound, type Interceptor, type PacketSink, type StreamInfo,
} from '../../rtp/index.js';
import { IndexReservation } from './index-reservation.js';
import type { IndexJournal } from './index-journal.js';
import { keyId, type ChannelKeys, type SrtpSuiteName } from './keys.js';
import type { SrtpPortUnit, UplinkUnits } from './unit-types.js';
import { UPLINK_PT } from './sdp.js';

export interface PairAudioOptions {
  /** `<receiver>/<channel>`, for stats and NACK bookkeeping. */
  name: string;
  /** The channel's video CNAME (the receiver groups the two streams by it). */
  cname: string;
  /** Null when the receiver has SRTP off (SSRCs then random). */
  keys: ChannelKeys['audio'] | null;
  suite: SrtpSuiteName;
  rtx: boolean;
  /** The receiver's buffer, ms: how old a packet may be and still be resent. */
  latencyMs: number;
  /** Share of the audio rate RTX may use (the receiver's maxRepairShare). */
  repairShare: number;
  journal: IndexJournal;
  units: UplinkUnits;
  clock: BoxClock;
  /** Monotonic ms. */
  now: () => number;
  random: () => number;
  rtpWire: PacketSink;
  rtcpWire: PacketSink;
}

export interface PairAudioStats {
  ssrc: number;
  packets: number;
  bytes: number;
  rtxPackets: number;
  srs: number;
  nacks: number;
  /** Opus packets that could not be sent (unreadable TOC, larger than the MTU). */
  dropped: number;
  /** The receiver's view of the audio (its RRs), null before one came. */
  receiverReport: { cumulativeLost: number; jitterMs: number | null; rttMs: number | null } | null;
  rtcpDropped: number;
}

export class PairAudio {
  readonly ssrc: number;
  readonly rtxSsrc: number;
  private readonly pz: OpusPacketizer;
  private readonly chain: InterceptorChain;
  private readonly responder: NackResponder | null;
  private readonly media: PacketSink;
  private readonly rtcpOut: PacketSink;
  private readonly rtcpIn: PacketSink;
  private readonly reports: ReceiverReports;
  private readonly srtp: SrtpPortUnit | null = null;
  private readonly rtcpBuf = new Uint8Array(256);
  private nextSrAt = 0;
  private closed = false;
  private readonly st = { packets: 0, bytes: 0, rtxPackets: 0, srs: 0, dropped: 0, rtcpDropped: 0 };

  constructor(private readonly o: PairAudioOptions) {
    const k = o.keys;
    this.ssrc = k?.ssrc ?? (((o.random() * 2 ** 32) >>> 0) || 1);
    this.rtxSsrc = k?.rtxSsrc ?? (((this.ssrc + 1 + Math.floor(o.random() * 1000)) >>> 0) || 1);
    const units: Interceptor[] = [];
    let res: IndexReservation | null = null;
    if (k) {
      res = new IndexReservation(o.journal, keyId(k.key));
      const resume = [this.ssrc, this.rtxSsrc].map((ssrc) => ({ ssrc, lastIndex: res!.startOf(ssrc) - 1, rtcpIndex: res!.rtcpStartOf(ssrc) }));
      this.srtp = o.units.srtp({ masterB64: k.key, suite: o.suite, resume, label: `${o.name} audio` });
      units.push(this.srtp, res);
    }
    // Opus at 64 kbit/s is ~8 kB/s: the responder's floor (32 kB/s) and a small bucket bound it.
    this.responder = o.rtx ? new NackResponder({ now: o.now, maxAgeMs: Math.max(250, o.latencyMs * 2), rtxShare: Math.max(0.01, o.repairShare), historyPackets: 256, burstBytes: 16_000 }) : null;
    if (this.responder) units.push(this.responder);
    this.chain = new InterceptorChain(units);
    const rtxStart = res ? res.startOf(this.rtxSsrc) : 0;
    const info: StreamInfo = {
      name: `${o.name}/audio`, kind: 'audio', ssrc: this.ssrc, payloadType: UPLINK_PT.opus, clockRate: 48000,
      ...(o.rtx ? { rtx: { ssrc: this.rtxSsrc, payloadType: UPLINK_PT.opusRtx, ...(rtxStart > 0 ? { initialSequence: rtxStart & 0xffff } : {}) } } : {}),
    };
    const start = res ? res.startOf(this.ssrc) : 0;
    this.pz = new OpusPacketizer({
      payloadType: UPLINK_PT.opus, ssrc: this.ssrc, mtu: 1200,
      ...(k ? { timestampOffset: k.rtpTimestampOffset } : {}),
      ...(start > 0 ? { initialSequence: start & 0xffff } : {}),
    });
    const wire = o.rtpWire, rtxSsrc = this.rtxSsrc;
    const counted: PacketSink = (pkt, len) => {
      if (len >= 12 && ((pkt[8]! << 24) | (pkt[9]! << 16) | (pkt[10]! << 8) | pkt[11]!) >>> 0 === rtxSsrc) this.st.rtxPackets++;
      wire(pkt, len);
    };
    this.media = this.chain.bindLocalStream(info, counted);
    this.rtcpOut = this.chain.bindRtcpWriter(o.rtcpWire);
    this.reports = new ReceiverReports({ mediaSsrc: this.ssrc });
    this.rtcpIn = this.chain.bindRtcpReader((pkt, len) => {
      try { this.reports.onRtcp(pkt, len, o.clock.wallNs()); } catch { this.st.rtcpDropped++; }
    });
  }

  /** One Opus packet (valid during the call) whose first sample was captured at `wallNs` (box clock). */
  onOpusFrame(frame: Uint8Array, wallNs: bigint): void {
    if (this.closed) return;
    let p;
    try {
      p = this.pz.packetize(frame, wallNs);
    } catch {
      this.st.dropped++;
      return;
    }
    this.media(p.buf, p.length);
    this.st.packets++;
    this.st.bytes += p.length;
  }

  /** The receiver's RTCP for the audio (SRTCP when on), as it came off the socket. */
  onRtcp(pkt: Uint8Array, len: number): void {
    if (!this.closed) this.rtcpIn(pkt, len);
  }

  /** The chain's timers and the audio's SRs. */
  tick(nowMs: number): void {
    if (this.closed) return;
    this.chain.tick(nowMs);
    if (nowMs >= this.nextSrAt && this.pz.packetCount > 0) {
      const n = encodeSenderReportCompound(this.pz, this.o.cname, this.o.clock.wallNs(), this.rtcpBuf);
      this.rtcpOut(this.rtcpBuf, n);
      this.st.srs++;
      this.nextSrAt = nowMs + 1000 * (0.75 + 0.5 * this.o.random());
    }
  }

  /** SRTP drops of the audio port, by reason. */
  srtpDrops(): Record<string, number> {
    return this.srtp?.stats() ?? {};
  }

  stats(): PairAudioStats {
    const v = this.reports.size > 0 ? this.reports.snapshot(this.o.clock.wallNs())[0] : undefined;
    return {
      ssrc: this.ssrc, ...this.st,
      nacks: this.responder?.statsOf(`${this.o.name}/audio`)?.nacksReceived ?? 0,
      receiverReport: v ? { cumulativeLost: v.cumulativeLost, jitterMs: v.jitterMs, rttMs: v.rttMs } : null,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.chain.close();
  }
}
