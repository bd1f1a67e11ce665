/**
 * One encoded stream out over RTSP: the access units of `video.<channel>.<role>` (handed over by
 * the stream's AccessUnitFanout) -> RFC 6184 packets -> RtspOut mount `/<channel>/<role>`, with
 * RTCP sender reports.
 *
 * Contract
 * - Owns: the stream's H264Packetizer (SSRC, sequence, timestamp offset), its RtspOut handle
 *   and its SR timer.
 * - The mount is created at the first keyframe that carries SPS and PPS (the SDP needs them);
 *   before that, records are skipped. When the SPS/PPS change (an encoder restarted with other
 *   settings) the SDP served from then on is updated.
 * - RTP timestamps are the access unit's capture time at 90 kHz (the packetiser's mapping);
 *   a compound SR+SDES every `srIntervalMs` (default 500 ms, jittered +-25 %) maps the box
 *   clock's wall time to RTP time, so a receiver can line streams up on the box's one clock.
 *   Why that often: the mount's SRs are not sent at a viewer's PLAY, and players (rtpbin,
 *   ffmpeg) play audio and video unsynchronised until they have an SR of each; at 2 s a new
 *   viewer waited up to 2.5 s for lip sync, now up to ~0.6 s. It is within RFC 3550 §6.2's
 *   reduced minimum (360 / session kbit/s seconds: 0.18 s at 2 Mbit/s); ~200 B/s per viewer.
 * - Latency: for each access unit, capture time -> its packets handed to the socket, kept
 *   for the last few hundred access units (stats()).
 * - Audio (a channel with `audio`): the mount's second stream, Opus packets of `audio.<input>`
 *   (onOpusFrame) through an RFC 7587 packetiser of its own (SSRC), timestamps from the same
 *   capture-time mapping at 48 kHz, and an SR+SDES of its own on the same timer with the same
 *   CNAME, so RTCP-synchronising players (rtspsrc/rtpbin, ffmpeg, VLC) keep lip sync.
 * - Viewers: every viewer's RTCP receiver reports (over UDP or TCP, relayed by the RTSP server)
 *   feed a ReceiverReports table; stats().viewers gives each viewer's loss, jitter and RTT
 *   against our SRs (the first SR goes out half an interval after mounting, RFC 3550 §6.2,
 *   so viewers can echo it early). Reports that do not parse are counted, never thrown.
 * - Across a net-send restart: a mount the previous incarnation left in the RTSP server (with
 *   its viewers) is continued, not replaced: the packetiser takes its SSRC, timestamp offset
 *   and next sequence number (RtspOut.rtpState), so players see one stream with a gap.
 * - Lifecycle: constructor validates; onAccessUnit() until stop(); stop() is idempotent and
 *   removes the mount (its viewers get an RTCP BYE: the stream really ended).
 * Runs on: net-send.
 */
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { quantile, sortedCopy } from '../lib/stats.js';
import { H264Packetizer, NalSpans, NAL_PPS, NAL_SPS, OpusPacketizer, ReceiverReports, encodeSenderReportCompound, nalType, splitAnnexB, type ViewerReport } from '../rtp/index.js';
import type { RtspOut, RtspStreamHandle, StreamRole } from './rtsp/index.js';

export interface SenderOptions {
  channel: string;
  role: StreamRole;
  out: RtspOut;
  clock: BoxClock;
  fps: number;
  cname: string;
  srIntervalMs?: number;
  /** The channel's audio (its input's channel count): the mount gets an Opus track, fed by onOpusFrame(). */
  audio?: { channels: 1 | 2 };
  log?: Logger;
  random?: () => number;
}

export interface SenderStats {
  url: string;
  /** Viewers can play it now. */
  mounted: boolean;
  /** Why its mount failed (e.g. its UDP ports are taken), null when mounted or not tried yet. */
  mountError: string | null;
  aus: number;
  packets: number;
  dropped: number;
  srs: number;
  /** RTCP packets from viewers that did not parse. */
  badRtcp: number;
  /** Every viewer that sent a receiver report within the last 30 s (RFC 3550 identity: its SSRC). */
  viewers: ViewerReport[];
  /** Capture -> first packet sent, ms: p50 / p99 / max over the recent window. */
  latencyMs: { p50: number; p99: number; max: number; n: number };
  /** The audio track (null when the channel has none): Opus packets and SRs sent, timestamp resyncs (the source was away). */
  audio: { packets: number; srs: number; resyncs: number; badRtcp: number; viewers: ViewerReport[] } | null;
}

const eq = (a: Uint8Array | null, b: Uint8Array | null): boolean => !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);

export class StreamSender {
  private pz: H264Packetizer | undefined;
  private handle: RtspStreamHandle | undefined;
  private running = true;
  private srTimer: NodeJS.Timeout | undefined;
  private readonly spans = new NalSpans(32);
  private readonly rtcp = new Uint8Array(512);
  /** Apart from `rtcp`: a UDP send keeps a reference to its buffer until it is done, and both SRs go out in one tick. */
  private readonly audioRtcp = new Uint8Array(512);
  private readonly lat: number[] = [];
  private readonly random: () => number;
  private readonly st = { aus: 0, packets: 0, srs: 0, badRtcp: 0 };
  private reports: ReceiverReports | undefined;
  private opus: OpusPacketizer | undefined;
  private audioReports: ReceiverReports | undefined;
  private readonly ast = { packets: 0, srs: 0, badRtcp: 0 };
  readonly url: string;

  constructor(private readonly o: SenderOptions) {
    this.random = o.random ?? Math.random;
    this.url = o.out.url(o.channel, o.role);
  }

  stats(): SenderStats {
    const a = sortedCopy(this.lat);
    const q = (p: number): number => Math.round(quantile(a, p) * 100) / 100;
    return {
      url: this.url, mounted: this.handle?.mounted ?? false, mountError: this.handle?.mountError ?? null, ...this.st, dropped: this.handle?.dropped ?? 0,
      viewers: this.reports?.snapshot(this.o.clock.wallNs()) ?? [],
      latencyMs: { p50: q(0.5), p99: q(0.99), max: a.length ? Math.round(a[a.length - 1] * 100) / 100 : 0, n: a.length },
      audio: this.o.audio ? { ...this.ast, resyncs: this.opus?.resyncs ?? 0, viewers: this.audioReports?.snapshot(this.o.clock.wallNs()) ?? [] } : null,
    };
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.srTimer);
    await this.handle?.close().catch(() => undefined);
  }

  /** One access unit of the stream (an AccessUnitFanout subscriber: `au` is valid during the call). */
  onAccessUnit(au: Uint8Array, keyframe: boolean, wallNs: bigint, monoNs: bigint): void {
    if (!this.running) return;
    if (keyframe) this.checkParameterSets(au);
    const pz = this.pz;
    const h = this.handle;
    if (!pz || !h) return;
    const b = pz.packetize(au, wallNs, keyframe);
    h.sendAll(b.packets, b.lengths, b.count);
    this.lat.push(Number(process.hrtime.bigint() - monoNs) / 1e6);
    if (this.lat.length > 600) this.lat.splice(0, this.lat.length - 600);
    this.st.aus++;
    this.st.packets += b.count;
  }

  /**
   * One Opus packet of the channel's audio input (`audio.<input>`, valid during the call),
   * stamped with the instant its decoded samples start: its RTP timestamp comes from that
   * instant on the box clock, as the video's does, so one SR each maps both to the same NTP
   * time and a player lines them up. Dropped until the mount exists (its first keyframe).
   */
  onOpusFrame(frame: Uint8Array, wallNs: bigint): void {
    if (!this.running || !this.opus || !this.handle) return;
    const p = this.opus.packetize(frame, wallNs);
    if (this.handle.sendAudio(p.buf, p.length)) this.ast.packets++;
  }

  private checkParameterSets(au: Uint8Array): void {
    let sps: Uint8Array | null = null;
    let pps: Uint8Array | null = null;
    try {
      splitAnnexB(au, this.spans);
    } catch {
      return;
    }
    for (let i = 0; i < this.spans.count; i++) {
      const nal = au.subarray(this.spans.offsets[i], this.spans.offsets[i] + this.spans.lengths[i]);
      const t = nalType(nal[0]);
      if (t === NAL_SPS) sps = nal.slice();
      else if (t === NAL_PPS) pps = nal.slice();
    }
    if (!sps || !pps) return;
    if (!this.handle) {
      // The stream an earlier net-send left in the RTSP server goes on (its viewers stayed):
      // same SSRC and timestamp offset, the next sequence number.
      const was = this.o.out.rtpState(this.o.channel, this.o.role);
      this.pz = new H264Packetizer(was ? { sps, pps, ssrc: was.ssrc, initialSequence: was.nextSequence, timestampOffset: was.timestampOffset } : { sps, pps });
      if (was) this.o.log?.info({ url: this.url, ssrc: was.ssrc, sequence: was.nextSequence }, 'stream continued from the previous net-send');
      this.handle = this.o.out.addStream(this.o.channel, this.o.role, { sps, pps, framerate: this.o.fps, audio: this.o.audio }, { ssrc: this.pz.ssrc, timestampOffset: this.pz.timestampOffset });
      if (this.o.audio) {
        const opus = new OpusPacketizer({ payloadType: 97 });
        this.opus = opus;
        const ar = new ReceiverReports({ mediaSsrc: opus.ssrc });
        this.audioReports = ar;
        this.handle.onAudioRtcp = (packet) => {
          try { ar.onRtcp(packet, packet.length, this.o.clock.wallNs()); } catch { this.ast.badRtcp++; }
        };
      }
      const reports = new ReceiverReports({ mediaSsrc: this.pz.ssrc });
      this.reports = reports;
      this.handle.onRtcp = (packet) => {
        try {
          reports.onRtcp(packet, packet.length, this.o.clock.wallNs());
        } catch {
          this.st.badRtcp++; // a viewer's malformed report: counted, the stream goes on
        }
      };
      this.o.log?.info({ url: this.url }, 'stream published');
      this.scheduleSr(0.5);
    } else if (!eq(sps, this.pz!.currentSps) || !eq(pps, this.pz!.currentPps)) {
      // The packetiser picks the new sets up from the stream itself; viewers joining from now
      // on get them in the SDP.
      void this.handle.updateSdp({ sps, pps, framerate: this.o.fps, audio: this.o.audio }).catch((e: Error) => this.o.log?.warn({ err: e, url: this.url }, 'SDP update failed'));
    }
  }

  /** @param scale of the interval: the first SR goes out after half of one (RFC 3550 §6.2 initial interval). */
  private scheduleSr(scale = 1): void {
    const base = (this.o.srIntervalMs ?? 500) * scale;
    const delay = Math.round(base * (0.75 + 0.5 * this.random())); // RFC 3550 §6.2: randomised interval
    this.srTimer = setTimeout(() => {
      if (!this.running) return;
      if (this.pz && this.handle && this.pz.packetCount > 0) {
        const n = encodeSenderReportCompound(this.pz, this.o.cname, this.o.clock.wallNs(), this.rtcp);
        if (this.handle.sendRtcp(this.rtcp, n)) this.st.srs++;
      }
      // The audio's SR carries the same CNAME: players group the two by it for lip sync (RFC 3550 §6.5.1).
      if (this.opus && this.handle && this.opus.packetCount > 0) {
        const n = encodeSenderReportCompound(this.opus, this.o.cname, this.o.clock.wallNs(), this.audioRtcp);
        if (this.handle.sendAudioRtcp(this.audioRtcp, n)) this.ast.srs++;
      }
      this.scheduleSr();
    }, delay);
  }
}
