/**
 * `orbox receive`: the receiving end of the uplink, at the expert's site or the hospital video
 * platform. Reads the uplink SDP, runs one ReceiveSession per channel (repair, SRTP, reorder
 * within the receive buffer) and re-serves each channel on `rtsp://<host>:<rtspPort>/<channel>`
 * for any local player, through the same RTSP serving the box uses (RtspOut).
 *
 * Contract
 * - A channel's mount appears once its SPS and PPS went by (in band, before each IDR); until
 *   then its packets are repaired and dropped.
 * - A channel with audio (an m=audio in the SDP) has a second ReceiveSession (SRTP, RTX, reorder
 *   within the same buffer) whose Opus packets go to the mount's audio track; its packets
 *   before the mount exists are dropped.
 * - The box's sender reports (video's and audio's, one CNAME, one clock) are relayed to the
 *   mount, so local players keep lip sync.
 * - Lifecycle: start() (throws when a port is taken or the SDP is wrong: ReceivePlanError),
 *   stats(), close() idempotent.
 * Runs on: its own process (`orbox receive`), never on the box.
 */
import type { LogSink } from '../../lib/log.js';
import { NAL_PPS, NAL_SPS, St2022FecDecoder, forEachWholeNal, nalType } from '../../rtp/index.js';
import { RtspOut, type RtspStreamHandle } from '../rtsp/index.js';
import { planFromSdp, type ReceivePlan } from './receive-plan.js';
import { ReceiveSession, type ReceiveSessionStats } from './receive-session.js';

export interface UplinkReceiverOptions {
  sdp: string;
  /** Listen here instead of the SDP's first port (a receiver behind a NAT or a proxy). */
  port?: number;
  rtspHost?: string;
  rtspPort: number;
  /** UDP ports of the local RTSP server's relays (RtspOut). Default 24000, 200 ports. */
  rtspRtpPortStart?: number;
  latencyMs: number;
  log?: LogSink;
  now?: () => number;
  wallNs?: () => bigint;
}

export interface ReceiverChannelStats extends ReceiveSessionStats {
  url: string;
  mounted: boolean;
  /** The channel's audio, null when the SDP has none. */
  audio: ReceiveSessionStats | null;
}

interface Entry { session: ReceiveSession; audio: ReceiveSession | null; handle: RtspStreamHandle | null; url: string }

const RTP_HEADER = 12;

export class UplinkReceiver {
  readonly plan: ReceivePlan;
  private out: RtspOut | undefined;
  private readonly sessions: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly now: () => number;
  private readonly wallNs: () => bigint;

  /** @throws ReceivePlanError for an SDP it cannot use. */
  constructor(private readonly o: UplinkReceiverOptions) {
    this.plan = planFromSdp(o.sdp, o.port);
    this.now = o.now ?? (() => performance.now());
    this.wallNs = o.wallNs ?? (() => BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n));
  }

  async start(): Promise<void> {
    const out = new RtspOut({ host: this.o.rtspHost ?? '127.0.0.1', port: this.o.rtspPort, rtpPortStart: this.o.rtspRtpPortStart ?? 24_000, rtpPortCount: 200, log: this.o.log });
    this.out = out;
    await out.start();
    for (const ch of this.plan.channels) {
      const entry: Entry = { session: null as never, audio: null, handle: null, url: out.url(ch.name, null) };
      const audio = ch.audio;
      let sps: Uint8Array | null = null, pps: Uint8Array | null = null;
      const session = new ReceiveSession({
        channel: ch, latencyMs: this.o.latencyMs, now: this.now, wallNs: this.wallNs,
        fecDecoder: (p) => new St2022FecDecoder({ sink: p.sink, columns: p.columns, rows: p.rows }),
        out: (pkt, len) => {
          if (!entry.handle) {
            const cc = pkt[0]! & 0x0f;
            forEachWholeNal(pkt.subarray(RTP_HEADER + 4 * cc, len), (nal) => {
              const t = nalType(nal[0]!);
              if (t === NAL_SPS) sps = nal.slice();
              else if (t === NAL_PPS) pps = nal.slice();
            });
            if (!sps || !pps || this.closed) return;
            entry.handle = out.addStream(ch.name, null, { sps, pps, payloadType: ch.mediaPt, ...(audio ? { audio: { channels: audio.channels, payloadType: audio.mediaPt } } : {}) });
            this.o.log?.info({ url: entry.url }, 'channel re-served');
          }
          entry.handle.send(pkt, len);
        },
        onRtcp: (pkt, len) => { entry.handle?.sendRtcp(pkt, len); },
      });
      entry.session = session;
      this.sessions.push(entry);
      await session.start();
      if (audio) {
        entry.audio = new ReceiveSession({
          channel: audio, latencyMs: this.o.latencyMs, now: this.now, wallNs: this.wallNs,
          out: (pkt, len) => { entry.handle?.sendAudio(pkt, len); },
          onRtcp: (pkt, len) => { entry.handle?.sendAudioRtcp(pkt, len); },
        });
        await entry.audio.start();
      }
    }
    this.timer = setInterval(() => {
      const now = this.now();
      for (const s of this.sessions) { s.session.tick(now); s.audio?.tick(now); }
    }, 5);
  }

  stats(): ReceiverChannelStats[] {
    return this.sessions.map((s) => ({ ...s.session.stats(), url: s.url, mounted: s.handle?.mounted ?? false, audio: s.audio?.stats() ?? null }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all(this.sessions.flatMap((s) => [s.session.close(), ...(s.audio ? [s.audio.close()] : [])]));
    await this.out?.close();
  }
}

/** One line per channel for the console every few seconds. */
export function formatReceiverStats(s: ReceiverChannelStats): string {
  const pct = (x: number) => `${(x * 100).toFixed(x && x < 0.001 ? 4 : 2)}%`;
  return `${s.channel}: ${s.mounted ? s.url : 'waiting for the stream'}; loss before repair ${pct(s.lossBeforeRepair)}, ` +
    `repaired ${s.rtxRepairs} by RTX + ${s.fecRepairs} by FEC, residual ${s.residualLost} (${pct(s.residualLoss)}), ` +
    `${s.nacksSent} NACKs${s.srtpDropped ? `, ${s.srtpDropped} SRTP drops` : ''}${s.fromBox ? ` from ${s.fromBox}` : ''}` +
    (s.audio ? `; audio: ${s.audio.originals} packets, loss before repair ${pct(s.audio.lossBeforeRepair)}, ${s.audio.rtxRepairs} by RTX, residual ${s.audio.residualLost}` : '');
}
