/**
 * One talk session between the room and a remote expert: Opus over SRTP both ways on the
 * session's own UDP socket, echo-cancelled on the box.
 *
 *   socket -> SRTP unprotect -> RTP -> JitterBuffer (fixed delay) -> [far] opusdec (plc)
 *          -> [far-pcm] -> speaker (VoiceOutput) and -> [ref] webrtcechoprobe (shifted by the echo delay)
 *   pcm.<input> -> [mic] webrtcdsp (AEC against the probe) -> opusenc -> [up] -> RTP -> SRTP -> socket
 *                                                          -> [clean] (levels, ERLE estimate, taps)
 *
 * Contract
 * - Owns: the socket (given bound by the offer; closed by close()), one GstPipeline holding the
 *   three branches above (one clock: every PTS is the box's monotonic clock minus the pipeline's
 *   base time), the jitter buffer, the SRTP contexts of both directions, the Opus packetiser,
 *   the echo delay estimator (delay-estimator.ts: why the reference is shifted), the speaker.
 * - Playout: a 10 ms timer takes the jitter buffer's due slots; a missing packet is decoded as
 *   a zero-length buffer (opusdec's packet loss concealment). Packets from any address but the
 *   answer's host are dropped (counted `foreign`).
 * - Mute / push-to-talk: while muted the room mic is not sent (nothing goes out; the first packet
 *   after carries the RTP marker, RFC 7587 §4.1). `pushToTalk` starts muted.
 * - Echo return loss enhancement shown in stats (`erleDb`): 10 log10 of mic power over cancelled
 *   power, over the last whole second in which the far end played (RMS above -50 dBFS). With
 *   the room talker silent that is ERLE; with double talk it reads lower (near speech kept).
 * - Lifecycle: constructor validates; start() builds and plays the pipeline and starts the
 *   loops; close() (idempotent) stops the timer, the loops, the pipeline, the speaker and the
 *   socket. Errors of the pipeline or a loop go to `onError` once; the owner closes the session.
 * Not yet: RTCP (no SR/RR either way), a peer's in-band FEC or stereo are decoded as mono.
 * Runs on: duplex-voice.
 */
import type { Socket, RemoteInfo } from 'node:dgram';
import { GstPipeline, type GstAppSrc } from '../../gst/index.js';
import type { Logger } from '../../lib/log.js';
import { READ_EMPTY, type RingConsumer } from '../../lib/ring/index.js';
import { decodeRtpHeader, newRtpHeader } from '../../rtp/header.js';
import { OpusPacketizer, opusPacketSamples } from '../../rtp/opus.js';
import { SrtpReceiver, SrtpSender, type SrtpKeying } from '../../srtp/index.js';
import { EchoDelayEstimator } from './delay-estimator.js';
import { JitterBuffer, type JitterStats, type PlayoutSlot } from './jitter-buffer.js';
import { OUTPUT_RATE, VoiceOutput, type VoiceOutputSpec } from './output.js';
import type { VoiceAnswer } from './sdp.js';

export interface EchoOptions {
  /** webrtcdsp noise suppression. Default true. */
  noiseSuppression?: boolean;
  /** webrtcdsp automatic gain control. Default false (it would move the mic level the expert hears). */
  gainControl?: boolean;
  /** A fixed echo delay, ms (a board measured once); default: estimated (delay-estimator.ts). */
  echoDelayMs?: number;
  /** Largest echo delay the estimator looks for, ms. Default 250. */
  maxEchoDelayMs?: number;
}

export interface TalkSessionOptions {
  peer: string;
  answer: VoiceAnswer;
  /** What the box sends with (its offer's `a=crypto`). */
  localKeying: SrtpKeying;
  /** Bound by the offer; the session takes it over. */
  socket: Socket;
  /** The room mic (pcm.<input>) and its format; absent: receive only. */
  mic?: RingConsumer;
  micRate?: number;
  micChannels?: number;
  output: VoiceOutputSpec;
  /** Jitter buffer delay, ms. Default 60. */
  jitterMs?: number;
  /** Opus bitrate to the expert, kbit/s. Default 32. */
  bitrateKbps?: number;
  pushToTalk?: boolean;
  echo?: EchoOptions;
  /** Each block of the echo-cancelled mic (48 kHz mono S16LE) with its capture time (box mono ns). */
  onCleanPcm?: (pcm: Int16Array, monoNs: bigint) => void;
  /** Each block played to the speaker with its play instant (box mono ns). */
  onPlayed?: (pcm: Int16Array, monoNs: bigint) => void;
  log?: Logger;
  onError?: (err: Error) => void;
}

export interface TalkSessionStats {
  state: 'new' | 'running' | 'closed';
  peer: string;
  muted: boolean;
  /** The expert's stream. */
  rx: JitterStats & { packets: number; srtpDropped: number; foreign: number; lastPacketAgoMs: number | null };
  tx: { packets: number; bytes: number; mutedPackets: number; srtpDropped: number };
  /** Echo delay in use (ms) and the estimator's last peak correlation. */
  echoDelayMs: number | null;
  echoPeak: number;
  erleDb: number | null;
}

const MIC_CAPS = (rate: number, ch: number) => `audio/x-raw,format=S16LE,layout=interleaved,rate=${rate},channels=${ch}`;
const PCM48 = MIC_CAPS(OUTPUT_RATE, 1);
let probeSeq = 0;

/** The session's GStreamer description (enum properties must be in the launch string). */
export function talkPipelineDescription(o: { micRate: number; micChannels: number; bitrateKbps: number; probe: string; echo: EchoOptions }): string {
  const sink = (name: string) => `appsink name=${name} sync=false async=false emit-signals=false max-buffers=500 drop=true wait-on-eos=false`;
  const src = (name: string, caps: string) => `appsrc name=${name} is-live=true format=time do-timestamp=false block=false max-bytes=0 caps="${caps}"`;
  return [
    `${src('far', 'audio/x-opus,channel-mapping-family=(int)0,channels=(int)1,rate=(int)48000')} ! opusdec plc=true ! audioconvert ! audioresample ! ${PCM48} ! ${sink('far-pcm')}`,
    `${src('ref', PCM48)} ! webrtcechoprobe name=${o.probe} ! fakesink sync=false async=false`,
    `${src('mic', MIC_CAPS(o.micRate, o.micChannels))} ! audioconvert ! audioresample ! ${PCM48} ! ` +
      `webrtcdsp probe=${o.probe} gain-control=${o.echo.gainControl ?? false} noise-suppression=${o.echo.noiseSuppression ?? true} ! tee name=t ` +
      `t. ! queue max-size-time=200000000 ! opusenc bitrate=${o.bitrateKbps * 1000} frame-size=20 audio-type=restricted-lowdelay ! ${sink('up')} ` +
      `t. ! queue max-size-time=200000000 ! ${sink('clean')}`,
  ].join(' ');
}

/** Keep the reference this much ahead of its echo: webrtcdsp's filter wants the far signal first. */
const REF_LEAD_MS = 10;
/** Far RMS (dBFS) above which a second counts for the ERLE estimate. */
const FAR_ACTIVE_DBFS = -50;

export class TalkSession {
  readonly peer: string;
  private state: 'new' | 'running' | 'closed' = 'new';
  private pipeline: GstPipeline | undefined;
  private far: GstAppSrc | undefined;
  private ref: GstAppSrc | undefined;
  private micSrc: GstAppSrc | undefined;
  private base = 0;
  private originNs = 0n;
  private timer: NodeJS.Timeout | undefined;
  private loops: Promise<unknown>[] = [];
  private readonly jb: JitterBuffer;
  private readonly rx: SrtpReceiver;
  private readonly tx: SrtpSender;
  private readonly pk: OpusPacketizer;
  private readonly est: EchoDelayEstimator;
  private readonly output: VoiceOutput;
  private readonly rtpIn = Buffer.alloc(1500);
  private readonly rtpOut = Buffer.alloc(1600);
  private readonly hdr = newRtpHeader();
  private readonly slots: PlayoutSlot[] = [];
  private muted: boolean;
  private talkspurt = true;
  private lastEstimateMs = 0;
  private lastRxMs: number | undefined;
  private failed = false;
  private readonly c = { packets: 0, srtpDropped: 0, foreign: 0, txPackets: 0, txBytes: 0, mutedPackets: 0, txDropped: 0 };
  // ERLE: power sums over the current second (far, mic in, cancelled out).
  private win = { far: 0, farN: 0, mic: 0, clean: 0, startMs: 0 };
  private erle: number | null = null;

  constructor(private readonly o: TalkSessionOptions) {
    this.peer = o.peer;
    const br = o.bitrateKbps ?? 32;
    if (!Number.isInteger(br) || br < 6 || br > 510) throw new RangeError(`talk session with ${o.peer}: Opus bitrate ${br} kbit/s (6..510)`);
    const d = o.echo?.echoDelayMs;
    if (d !== undefined && !(d >= 0 && d <= 500)) throw new RangeError(`talk session with ${o.peer}: echoDelayMs ${d} is not in 0..500`);
    this.jb = new JitterBuffer({ delayMs: o.jitterMs ?? 60 });
    this.rx = new SrtpReceiver(o.answer.crypto);
    this.tx = new SrtpSender(o.localKeying);
    this.pk = new OpusPacketizer({ payloadType: 97 });
    this.est = new EchoDelayEstimator({ maxDelayMs: o.echo?.maxEchoDelayMs ?? 250 });
    this.output = new VoiceOutput(o.output);
    this.muted = o.pushToTalk ?? false;
  }

  get running(): boolean { return this.state === 'running'; }
  /** SSRC of the room mic's stream to the expert. */
  get ssrc(): number { return this.pk.ssrc; }
  get isMuted(): boolean { return this.muted; }

  /** Mutes (true) or opens (false) the room mic towards the expert. */
  mute(on: boolean): void {
    if (this.muted && !on) this.talkspurt = true;
    this.muted = on;
  }

  /** The echo delay in use, ms (fixed, or the estimate), or undefined while none is known. */
  get echoDelayMs(): number | undefined { return this.o.echo?.echoDelayMs ?? this.est.delayMs; }

  stats(): TalkSessionStats {
    const now = nowMs();
    return {
      state: this.state, peer: this.peer, muted: this.muted,
      rx: { ...this.jb.stats(), packets: this.c.packets, srtpDropped: this.c.srtpDropped, foreign: this.c.foreign, lastPacketAgoMs: this.lastRxMs === undefined ? null : Math.round(now - this.lastRxMs) },
      tx: { packets: this.c.txPackets, bytes: this.c.txBytes, mutedPackets: this.c.mutedPackets, srtpDropped: this.c.txDropped },
      echoDelayMs: this.echoDelayMs ?? null, echoPeak: this.est.lastPeak, erleDb: this.erle,
    };
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    const probe = `orbox-aec-probe-${process.pid}-${probeSeq++}`;
    const p = new GstPipeline(talkPipelineDescription({
      micRate: this.o.micRate ?? 48000, micChannels: this.o.micChannels ?? 1, bitrateKbps: this.o.bitrateKbps ?? 32, probe, echo: this.o.echo ?? {},
    }), { label: `talk ${this.peer}` });
    this.pipeline = p;
    p.on('error', (e) => this.fail(e));
    p.start();
    this.far = p.appsrc('far');
    this.ref = p.appsrc('ref');
    this.micSrc = p.appsrc('mic');
    this.output.open();
    this.originNs = process.hrtime.bigint();
    this.win.startMs = nowMs();
    this.o.socket.on('message', this.onPacket);
    this.loops.push(this.pullFar(p).catch((e: Error) => this.fail(e)));
    this.loops.push(this.pullUp(p).catch((e: Error) => this.fail(e)));
    this.loops.push(this.pullClean(p).catch((e: Error) => this.fail(e)));
    if (this.o.mic) this.loops.push(this.pumpMic(this.o.mic).catch((e: Error) => this.fail(e)));
    this.timer = setInterval(() => this.tick(), 10);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.timer);
    this.o.socket.off('message', this.onPacket);
    this.o.mic?.wake();
    this.pipeline?.close();
    this.pipeline = undefined;
    await Promise.allSettled(this.loops);
    this.output.close();
    try { this.o.socket.close(); } catch { /* already closed */ }
  }

  private fail(e: Error): void {
    if (this.state === 'closed' || this.failed) return;
    this.failed = true;
    this.o.log?.error({ err: e, peer: this.peer }, 'talk session failed');
    this.o.onError?.(e);
  }

  /** Pipeline time of a box monotonic instant. */
  private pts(monoNs: bigint | number): number { return Number(monoNs) - this.base; }

  private readonly onPacket = (msg: Buffer, from: RemoteInfo): void => {
    if (this.state !== 'running') return;
    if (from.address !== this.o.answer.host) { this.c.foreign++; return; }
    if (msg.length > this.rtpIn.length) { this.c.srtpDropped++; return; }
    const n = this.rx.unprotectRtp(msg, msg.length, this.rtpIn);
    if (n < 0) { this.c.srtpDropped++; return; }
    let off: number;
    try { off = decodeRtpHeader(this.rtpIn, n, this.hdr); } catch { this.c.srtpDropped++; return; }
    if (off < 0 || this.hdr.payloadType !== this.o.answer.payloadType) return;
    const payload = this.rtpIn.subarray(off, n - this.hdr.paddingLength);
    let samples = 960;
    try { samples = opusPacketSamples(payload); } catch { return; }
    this.c.packets++;
    this.lastRxMs = nowMs();
    this.jb.push(this.hdr.sequenceNumber, this.hdr.timestamp, payload, this.lastRxMs, samples);
  };

  private tick(): void {
    if (this.state !== 'running' || !this.far) return;
    if (!this.base) { const b = this.pipeline?.baseTimeNs(); if (b == null) return; this.base = b; }
    const now = nowMs();
    for (const s of this.jb.pop(now, this.slots)) {
      // The slot's scheduled play instant: the timer runs late by up to a tick; the schedule does not.
      const pts = Math.max(0, Math.round(s.atMs * 1e6) - this.base);
      if (s.kind === 'packet') this.far.push(s.payload, { ptsNs: pts, durationNs: 20_000_000 });
      else this.far.push(new Uint8Array(0), { ptsNs: pts, durationNs: 20_000_000 });
    }
    if (now - this.lastEstimateMs >= 1000 && this.o.echo?.echoDelayMs === undefined) {
      this.lastEstimateMs = now;
      this.est.estimate();
    }
    if (now - this.win.startMs >= 1000) {
      const w = this.win;
      if (w.farN > 0 && 10 * Math.log10(w.far / w.farN / 32768 ** 2) > FAR_ACTIVE_DBFS && w.clean > 0) this.erle = Math.round(10 * Math.log10(w.mic / w.clean) * 10) / 10;
      this.win = { far: 0, farN: 0, mic: 0, clean: 0, startMs: now };
    }
  }

  private at48(ptsNs: number): number { return Math.round(((ptsNs + this.base - Number(this.originNs)) * OUTPUT_RATE) / 1e9); }

  private async pullFar(p: GstPipeline): Promise<void> {
    const sink = p.appsink('far-pcm');
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const s = await sink.pullInto(buf);
      if (!s) return;
      const pcm = buf.slice(0, Math.min(s.size, buf.length));
      const pts = s.ptsNs ?? 0;
      this.output.write(pcm, pts);
      const x = new Int16Array(pcm.buffer, 0, pcm.length >> 1);
      this.o.onPlayed?.(x, BigInt(pts + this.base));
      let e = 0; for (let i = 0; i < x.length; i++) e += x[i] * x[i];
      this.win.far += e; this.win.farN += x.length;
      this.est.addFar(x, this.at48(pts));
      const shift = Math.round(Math.max(0, (this.echoDelayMs ?? 0) - REF_LEAD_MS) * 1e6);
      this.ref?.push(pcm, { ptsNs: pts + shift, durationNs: s.durationNs ?? 20_000_000 });
    }
  }

  private async pumpMic(c: RingConsumer): Promise<void> {
    const buf = new Uint8Array(c.maxPayload);
    const rate = this.o.micRate ?? 48000, ch = this.o.micChannels ?? 1;
    const estimate = rate === OUTPUT_RATE && ch === 1;
    while (this.state === 'running') {
      const n = c.readInto(buf);
      if (n === READ_EMPTY) { await c.wait(); continue; }
      if (!this.base || !this.micSrc) continue;
      const pts = this.pts(c.meta.monoNs);
      if (pts < 0) continue;
      const x = new Int16Array(buf.buffer.slice(0, n));
      if (estimate) {
        this.est.addMic(x, this.at48(pts));
        let e = 0; for (let i = 0; i < x.length; i++) e += x[i] * x[i];
        this.win.mic += e;
      }
      this.micSrc.push(new Uint8Array(x.buffer), { ptsNs: pts, durationNs: Math.round(((n / (2 * ch)) * 1e9) / rate) });
    }
  }

  private async pullUp(p: GstPipeline): Promise<void> {
    const sink = p.appsink('up');
    const buf = new Uint8Array(4000);
    for (;;) {
      const s = await sink.pullInto(buf);
      if (!s) return;
      if (this.muted) { this.c.mutedPackets++; continue; }
      const pkt = this.pk.packetize(buf.subarray(0, s.size), BigInt((s.ptsNs ?? 0) + this.base), this.talkspurt);
      this.talkspurt = false;
      const n = this.tx.protectRtp(pkt.buf, pkt.length, this.rtpOut);
      if (n < 0) { this.c.txDropped++; continue; }
      this.c.txPackets++;
      this.c.txBytes += n;
      this.o.socket.send(this.rtpOut.subarray(0, n), this.o.answer.port, this.o.answer.host);
    }
  }

  private async pullClean(p: GstPipeline): Promise<void> {
    const sink = p.appsink('clean');
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const s = await sink.pullInto(buf);
      if (!s) return;
      const x = new Int16Array(buf.slice(0, s.size).buffer);
      let e = 0; for (let i = 0; i < x.length; i++) e += x[i] * x[i];
      this.win.clean += e;
      this.o.onCleanPcm?.(x, BigInt((s.ptsNs ?? 0) + this.base));
    }
  }
}

function nowMs(): number { return Number(process.hrtime.bigint()) / 1e6; }
