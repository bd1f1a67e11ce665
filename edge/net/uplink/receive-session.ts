/**
 * One stream of `orbox receive`: a channel's video from the box's uplink (SRTP, RTX, SMPTE
 * 2022-1 FEC), or its audio (SRTP, RTX; no FEC), repaired, decrypted and put back in order, out
 * to a local sink (the re-serving RTSP mount), with feedback to the box.
 *
 *   socket -> SRTP unprotect -> RTX? decode ─┐
 *                                            ├-> [FEC decoder] -> NACK generator -> reorder buffer -> out
 *   FEC sockets -> SRTP -> FEC decoder ──────┘ (rebuilt packets)
 *
 * Contract
 * - Owns: the channel's sockets (RTP, RTCP, FEC columns, FEC rows, per the plan), the SRTP unit
 *   of each port, the RTX pairing, the FEC decoder, the NACK generator, the reorder buffer
 *   (`latencyMs`) and the receiver statistics for the RR.
 * - Feedback: a receiver report (RFC 3550; raw loss **before** repair, what the box's stream
 *   choice reads) every `rrIntervalMs` (100), NACKs as soon as a gap is seen (or `fecWaitMs`
 *   later when FEC is on) and repeated every `retryMs` until the deadline. They go to where the
 *   box's RTCP comes from (symmetric RTP), or, before any came, from the RTP socket back to
 *   the box's RTP source (the box reads RTCP multiplexed on its RTP port, RFC 5761).
 * - The box's sender reports are passed on to `onSenderReport` (the re-served stream keeps its
 *   lip sync).
 * - Lifecycle: start() binds (throws if a port is taken); tick(nowMs) from the owner's timer;
 *   close() idempotent. Nothing from the network throws: bad packets are counted.
 * Runs on: the `orbox receive` process.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import {
  NackGenerator, ReceiverStats, ReorderBuffer, decodeRtx, decodeSenderReport, type Interceptor, type PacketSink, type SenderReport, type StreamInfo,
} from '../../rtp/index.js';
import { SrtpInterceptor } from '../../srtp/index.js';
import type { ReceiveStream, PortKey } from './receive-plan.js';
import { keyingOf } from './units.js';

/** The FEC decoder as the session uses it (edge/rtp's SMPTE 2022-1 decoder). */
export interface FecDecoderLike {
  pushMedia(pkt: Uint8Array, len: number): void;
  pushFec(pkt: Uint8Array, len: number, kind: 'row' | 'column'): void;
  readonly stats: { recovered: number; fecPackets: number; badFec: number };
}

export interface ReceiveSessionOptions {
  /** The stream: a channel's video (H.264, maybe FEC) or its audio (Opus). */
  channel: ReceiveStream;
  /** Receive buffer, ms: repair deadline and reorder wait. */
  latencyMs: number;
  /** Monotonic ms. */
  now: () => number;
  /** Box clock's wall time (ns) for RTCP times. */
  wallNs: () => bigint;
  /** Repaired packets, in order (valid during the call). */
  out: PacketSink;
  /** The box's RTCP (plain, after SRTCP), e.g. its SRs for the re-served mount. */
  onRtcp?: (pkt: Uint8Array, len: number) => void;
  /** Makes the FEC decoder; absent or the SDP without FEC: no FEC. */
  fecDecoder?: (p: { columns: number; rows: number; sink: PacketSink }) => FecDecoderLike;
  cname?: string;
  retryMs?: number;
  /** Copies of each NACK (the feedback path is lossy too). Default 3. */
  nackCopies?: number;
  fecWaitMs?: number;
  rrIntervalMs?: number;
  bindAddress?: string;
  random?: () => number;
}

export interface ReceiveSessionStats {
  channel: string;
  /** Packets of the stream as sent, received the first time (no repair). */
  originals: number;
  /** Loss on the network before repair (from the RR statistics), 0..1. */
  lossBeforeRepair: number;
  rtxRepairs: number;
  fecRepairs: number;
  /** Packets the player never gets (given up at the deadline): the residual. */
  residualLost: number;
  residualLoss: number;
  nacksSent: number;
  late: number;
  srtpDropped: number;
  rrsSent: number;
  fromBox: string | null;
}

type PortName = 'rtp' | 'rtcp' | 'fecColumns' | 'fecRows';

/** Socket receive buffer asked for (the kernel caps it at net.core.rmem_max). */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;

export class ReceiveSession {
  private sockets: Partial<Record<PortName, Socket>> = {};
  private state: 'new' | 'running' | 'closed' = 'new';
  /** RFC 3550 statistics of the media SSRC, made at its first packet. */
  private rx: ReceiverStats | null = null;
  private mediaSsrc: number | null;
  private readonly reorder: ReorderBuffer;
  private readonly nack: NackGenerator;
  private fec: FecDecoderLike | null = null;
  private readonly srtp: Partial<Record<PortName, SrtpInterceptor>> = {};
  private inRtp!: PacketSink;
  private inRtcp!: PacketSink;
  private inFec: Partial<Record<'fecColumns' | 'fecRows', PacketSink>> = {};
  private rtcpOut!: PacketSink;
  private media!: PacketSink;
  private box: { address: string; port: number } | null = null;
  private boxRtcp: { address: string; port: number } | null = null;
  private readonly rtxBuf = new Uint8Array(1500);
  /** Sequence numbers FEC rebuilt whose original has not come (yet). */
  private readonly rebuilt = new Uint8Array(65536);
  private readonly rtcpBuf = new Uint8Array(512);
  private nextRrAt = 0;
  private readonly sr: SenderReport = { ssrc: 0, ntp: { msw: 0, lsw: 0 }, rtpTimestamp: 0, packetCount: 0, octetCount: 0 };
  private readonly st = { originals: 0, rtxRepairs: 0, fecRepairs: 0, srtpDropped: 0, rrsSent: 0, late: 0 };
  private readonly ourSsrc: number;
  private info: StreamInfo;

  constructor(private readonly o: ReceiveSessionOptions) {
    const c = o.channel;
    const random = o.random ?? Math.random;
    this.ourSsrc = (random() * 2 ** 32) >>> 0;
    this.mediaSsrc = c.mediaSsrc;
    this.info = { name: c.name, kind: c.kind, ssrc: c.mediaSsrc ?? 0, payloadType: c.mediaPt, clockRate: c.clockRate };
    this.reorder = new ReorderBuffer({ latencyMs: o.latencyMs }, o.out);
    this.nack = new NackGenerator({
      now: o.now, senderSsrc: this.ourSsrc, latencyMs: o.latencyMs, retryMs: o.retryMs ?? 20, copies: o.nackCopies ?? 3,
      fecWaitMs: c.fec ? (o.fecWaitMs ?? 5) : 0,
    });
  }

  /** Binds every port of the channel. @throws when one is taken. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    const c = this.o.channel;
    const ports: [PortName, number, PortKey | null][] = [['rtp', c.rtpPort, c.key], ['rtcp', c.rtcpPort, c.key]];
    if (c.fec && this.o.fecDecoder) {
      ports.push(['fecColumns', c.fec.columnPort, c.fec.columnKey]);
      if (c.fec.rowPort !== null) ports.push(['fecRows', c.fec.rowPort, c.fec.rowKey]);
    }
    try {
      for (const [n, port] of ports) this.sockets[n] = await this.bind(port);
    } catch (err) {
      this.closeSockets();
      throw err;
    }
    this.build(ports);
    this.state = 'running';
  }

  private bind(port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4' });
      s.once('error', reject);
      s.bind(port, this.o.bindAddress, () => {
        s.off('error', reject);
        s.on('error', () => { /* an ICMP error from a send: the next send tries again */ });
        // An IDR arrives as one burst (hundreds of packets at 1080p): the kernel's default
        // buffer (~208 KiB) drops its tail before the event loop gets to it. Capped by rmem_max.
        try { s.setRecvBufferSize(RECV_BUFFER_BYTES); } catch { /* the kernel's cap stands */ }
        resolve(s);
      });
    });
  }

  private build(ports: [PortName, number, PortKey | null][]): void {
    const c = this.o.channel;
    const srtpOf = (key: PortKey | null, n: PortName): Interceptor | null => {
      if (!key) return null;
      const k = keyingOf(key.suite, key.inline);
      const u = new SrtpInterceptor({ local: k, remote: k });
      this.srtp[n] = u;
      return u;
    };
    const mediaSrtp = srtpOf(c.key, 'rtp');
    // What reaches the player: in order, after the NACK generator has seen it.
    const toReorder: PacketSink = (pkt, len) => this.reorder.push(pkt, len, this.o.now());
    const afterNack = this.nack.bindRemoteStream(this.info, toReorder);
    this.media = (pkt, len) => {
      this.fec?.pushMedia(pkt, len);
      afterNack(pkt, len);
    };
    if (c.fec && this.o.fecDecoder) {
      this.fec = this.o.fecDecoder({
        columns: c.fec.columns, rows: c.fec.rows,
        sink: (pkt, len) => {
          // Rebuilt; counted as a repair unless its original still turns up (a FEC packet on its
          // own port can overtake the last media packet it covers).
          this.rebuilt[(pkt[2]! << 8) | pkt[3]!] = 1;
          this.st.fecRepairs++;
          afterNack(pkt, len);
        },
      });
      for (const [n] of ports) {
        if (n !== 'fecColumns' && n !== 'fecRows') continue;
        const kind = n === 'fecColumns' ? 'column' : 'row';
        const plain: PacketSink = (pkt, len) => this.fec!.pushFec(pkt, len, kind);
        const key = n === 'fecColumns' ? c.fec.columnKey : c.fec.rowKey;
        const s = srtpOf(key, n);
        this.inFec[n] = s ? s.bindRemoteStream!({ ...this.info, name: `${c.name}/${n}`, ssrc: 0 }, plain) : plain;
      }
    }
    const demux: PacketSink = (pkt, len) => this.onRtp(pkt, len);
    this.inRtp = mediaSrtp ? mediaSrtp.bindRemoteStream!(this.info, demux) : demux;
    const rtcpApp: PacketSink = (pkt, len) => this.onBoxRtcp(pkt, len);
    this.inRtcp = mediaSrtp ? mediaSrtp.bindRtcpReader!(rtcpApp) : rtcpApp;
    const wire: PacketSink = (pkt, len) => {
      if (this.boxRtcp) this.sockets.rtcp!.send(pkt, 0, len, this.boxRtcp.port, this.boxRtcp.address);
      // Before the box's first RTCP: back where its RTP came from, from the socket it came to
      // (symmetric RTP, RFC 4961), which the box reads RTCP on too (RFC 5761 §4). Port + 1 of
      // the RTP source was a guess a NAT or a relay breaks: the first second's NACKs were lost.
      else if (this.box) this.sockets.rtp!.send(pkt, 0, len, this.box.port, this.box.address);
    };
    const protectedWire = mediaSrtp ? mediaSrtp.bindRtcpWriter!(wire) : wire;
    this.rtcpOut = protectedWire;
    this.nack.bindRtcpWriter(protectedWire);
    this.sockets.rtp!.on('message', (msg, from) => {
      if (!this.box) this.box = { address: from.address, port: from.port };
      this.inRtp(msg, msg.length);
    });
    this.sockets.rtcp!.on('message', (msg, from: RemoteInfo) => {
      this.boxRtcp = { address: from.address, port: from.port };
      this.inRtcp(msg, msg.length);
    });
    for (const n of ['fecColumns', 'fecRows'] as const) this.sockets[n]?.on('message', (msg) => this.inFec[n]?.(msg, msg.length));
  }

  /** A plain RTP packet from the box: RTX is turned back into the original; originals are counted. */
  private onRtp(pkt: Uint8Array, len: number): void {
    if (len < 12) return;
    const c = this.o.channel;
    const pt = pkt[1]! & 0x7f;
    const ssrc = ((pkt[8]! << 24) | (pkt[9]! << 16) | (pkt[10]! << 8) | pkt[11]!) >>> 0;
    if (c.rtx && pt === c.rtx.pt) {
      if (this.mediaSsrc === null) return; // cannot pair it before the media stream was seen
      try {
        const n = decodeRtx(pkt, len, this.mediaSsrc, c.mediaPt, this.rtxBuf);
        this.st.rtxRepairs++;
        this.media(this.rtxBuf, n);
      } catch {
        // a malformed retransmission: as if it were lost
      }
      return;
    }
    if (pt !== c.mediaPt) return;
    if (!this.rx || this.rx.ssrc !== ssrc) {
      // The first packet, or a new media SSRC (a box restarted without keeping it): reports start over.
      this.mediaSsrc = ssrc;
      this.rx = new ReceiverStats(ssrc, c.clockRate);
    }
    this.st.originals++;
    const seq = (pkt[2]! << 8) | pkt[3]!;
    if (this.rebuilt[seq]) { this.rebuilt[seq] = 0; this.st.fecRepairs--; }
    this.rebuilt[(seq + 0x8000) & 0xffff] = 0; // half a cycle away: a mark there is stale
    this.rx.onPacket((pkt[2]! << 8) | pkt[3]!, ((pkt[4]! << 24) | (pkt[5]! << 16) | (pkt[6]! << 8) | pkt[7]!) >>> 0, this.o.wallNs());
    this.media(pkt, len);
  }

  private onBoxRtcp(pkt: Uint8Array, len: number): void {
    // Walk the compound for SRs of the media SSRC (RFC 3550 §6.4.1).
    let off = 0;
    while (off + 4 <= len) {
      const words = ((pkt[off + 2]! << 8) | pkt[off + 3]!) + 1;
      const size = words * 4;
      if (off + size > len) break;
      if (pkt[off + 1] === 200 && decodeSenderReport(pkt, off, off + size, this.sr) > 0 && (this.mediaSsrc === null || this.sr.ssrc === this.mediaSsrc)) {
        this.rx?.onSenderReport(this.sr.ntp, this.o.wallNs());
      }
      off += size;
    }
    this.o.onRtcp?.(pkt, len);
  }

  tick(nowMs: number): void {
    if (this.state !== 'running') return;
    this.nack.tick(nowMs);
    this.reorder.release(nowMs);
    if (this.rx && nowMs >= this.nextRrAt) {
      const n = this.rx.encodeReport(this.ourSsrc, this.o.cname ?? `orbox-receive/${this.o.channel.name}`, this.o.wallNs(), this.rtcpBuf);
      this.rtcpOut(this.rtcpBuf, n);
      this.st.rrsSent++;
      this.nextRrAt = nowMs + (this.o.rrIntervalMs ?? 100);
    }
  }

  stats(): ReceiveSessionStats {
    const s = this.rx;
    const expected = s ? s.packetsReceived + s.cumulativeLost : 0;
    const ns = this.nack.statsOf(this.o.channel.name);
    const r = this.reorder.stats;
    let srtpDropped = 0;
    for (const u of Object.values(this.srtp)) for (const v of Object.values(u.stats.inboundDropped)) srtpDropped += v;
    return {
      channel: this.o.channel.name,
      originals: this.st.originals,
      lossBeforeRepair: s && expected > 0 ? Math.max(0, s.cumulativeLost) / expected : 0,
      rtxRepairs: this.st.rtxRepairs, fecRepairs: this.st.fecRepairs,
      residualLost: r.lost, residualLoss: r.emitted + r.lost > 0 ? r.lost / (r.emitted + r.lost) : 0,
      nacksSent: ns?.nacksSent ?? 0, late: r.late, srtpDropped, rrsSent: this.st.rrsSent,
      fromBox: this.box ? `${this.box.address}:${this.box.port}` : null,
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.nack.close();
    for (const u of Object.values(this.srtp)) u.close();
    this.closeSockets();
  }

  private closeSockets(): void {
    for (const s of Object.values(this.sockets)) { try { s.close(); } catch { /* closed */ } }
    this.sockets = {};
  }
}
