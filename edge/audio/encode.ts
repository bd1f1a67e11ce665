/**
 * One audio input's Opus encoder: PCM records from `pcm.<input>` through GStreamer's opusenc
 * into `audio.<input>`, one Opus packet of 20 ms per record.
 *
 * Contract
 * - Owns: the input's GstPipeline (appsrc -> opusenc -> appsink), the table that carries each
 *   PCM record's capture time and flags to the Opus packet that starts with it.
 * - Encoder: 20 ms frames, `bitrateKbps` (default 64), constrained VBR (opusenc's default), audio-type
 *   restricted-lowdelay (CELT only: 2.5 ms of look-ahead instead of 6.5 ms, no SILK, so no
 *   in-band FEC is sent), at the input's own rate (opusenc takes 8/16/24/48 kHz as they are).
 * - Records (edge/lib/record-kinds.ts): kind RECORD_KIND_OPUS_FRAME, one Opus packet (RFC 6716,
 *   as RFC 7587 carries it) each; FLAG_SYNC on every one (each decodes alone), AUDIO_FLAG_GAP
 *   when the PCM record it starts with was gap silence.
 * - Time: a PCM record's PTS is its capture time minus `baseMono` (the first record's), so the
 *   running time is capture time. opusenc trims its look-ahead (2.5 ms in restricted-lowdelay,
 *   LOOKAHEAD_NS) from its first packet (17.5 ms of PTS span) and stamps every later one 2.5 ms
 *   before the PCM record it mostly holds: what a decoder gives for a packet (its 960 samples,
 *   with no pre-skip over RTP) starts at the end of the packet's PTS span minus 20 ms. That
 *   instant is the capture time an Opus record carries (exact: taken from the PCM record's own
 *   stamp minus the offset), so an RTP timestamp made from it puts the decoded audio at the
 *   time it was captured. Its gap flag is that PCM record's. A packet with no such record
 *   (opusenc resynchronised) gets `baseMono` + that instant.
 * - Lifecycle: constructor validates; start() waits for the first record, then builds and plays
 *   the pipeline and runs the feed and the drain; close() (idempotent) stops both and the
 *   pipeline.
 * - Errors: a pipeline error or a failing loop goes to `onError` (the worker exits and the
 *   supervisor restarts it with a fresh pipeline).
 * Runs on: audio-encode.
 */
import { GstPipeline, type GstAppSrc } from '../gst/index.js';
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { AUDIO_FLAG_GAP, RECORD_KIND_OPUS_FRAME } from '../lib/record-kinds.js';
import { FLAG_SYNC, READ_EMPTY, RecordTooLargeError, type RingConsumer, type RingProducer } from '../lib/ring/index.js';
import type { AudioInputConfig } from '../config/index.js';

export interface AudioEncoderOptions {
  input: AudioInputConfig;
  pcm: RingConsumer;
  out: RingProducer;
  clock: BoxClock;
  /** Target bitrate, kbit/s (6..510). Default 64. */
  bitrateKbps?: number;
  log?: Logger;
  onError?: (err: Error) => void;
}

export interface AudioEncoderStats {
  recordsIn: number;
  gapRecordsIn: number;
  pushRefused: number;
  framesOut: number;
  bytesOut: number;
  /** Opus packets whose PTS matched no PCM record. */
  unmatched: number;
  /** Capture -> Opus packet in the ring, ms, last packet. */
  latencyMs: number;
}

/** The opusenc settings (enum properties must be in the launch string: the binding cannot set them). */
export function encoderDescription(a: AudioInputConfig, bitrateKbps: number): string {
  const caps = `audio/x-raw,format=S16LE,layout=interleaved,rate=${a.rate},channels=${a.channels}`;
  return `appsrc name=pcm-src is-live=true format=time do-timestamp=false block=false max-bytes=0 caps="${caps}" ! ` +
    `opusenc bitrate=${bitrateKbps * 1000} frame-size=20 audio-type=restricted-lowdelay ! ` +
    `appsink name=opus-sink sync=false async=false emit-signals=false max-buffers=500 drop=false wait-on-eos=false`;
}

interface Pending { pts: number; mono: bigint; wall: bigint; flags: number }

/** PTS within this of a PCM record's is that record's packet (GStreamer rounds ns). */
const MATCH_NS = 1_000_000;
/** One Opus packet: 20 ms. */
const FRAME_NS = 20_000_000;
/** opusenc's look-ahead in restricted-lowdelay mode (libopus: Fs / 400), what it trims from its first packet. */
export const LOOKAHEAD_NS = 2_500_000;

export class AudioEncoder {
  readonly name: string;
  readonly bitrateKbps: number;
  private state: 'new' | 'running' | 'closed' = 'new';
  private pipeline: GstPipeline | undefined;
  private baseMono = 0n;
  private readonly pending: Pending[] = [];
  private loops: Promise<unknown>[] = [];
  private readonly st: AudioEncoderStats = { recordsIn: 0, gapRecordsIn: 0, pushRefused: 0, framesOut: 0, bytesOut: 0, unmatched: 0, latencyMs: 0 };

  constructor(private readonly opts: AudioEncoderOptions) {
    this.name = opts.input.name;
    this.bitrateKbps = opts.bitrateKbps ?? 64;
    if (!Number.isInteger(this.bitrateKbps) || this.bitrateKbps < 6 || this.bitrateKbps > 510) throw new RangeError(`audio input ${this.name}: Opus bitrate ${this.bitrateKbps} kbit/s (6..510)`);
  }

  stats(): AudioEncoderStats { return { ...this.st }; }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.loops.push(this.feed().catch((e: Error) => this.fail(e)));
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.opts.pcm.wake();
    this.pipeline?.close();
    this.pipeline = undefined;
    await Promise.allSettled(this.loops);
  }

  private fail(e: Error): void {
    if (this.state === 'closed') return;
    this.opts.log?.error({ err: e, input: this.name }, 'audio encoder failed');
    this.opts.onError?.(e);
  }

  private async feed(): Promise<void> {
    const c = this.opts.pcm;
    const buf = new Uint8Array(c.maxPayload);
    let src: GstAppSrc | undefined;
    while (this.state === 'running') {
      const n = c.readInto(buf);
      if (n === READ_EMPTY) { await c.wait(); continue; }
      const m = c.meta;
      if (!src) {
        this.baseMono = m.monoNs;
        const p = new GstPipeline(encoderDescription(this.opts.input, this.bitrateKbps), { label: `opus ${this.name}` });
        this.pipeline = p;
        p.on('error', (e) => this.fail(e));
        p.start();
        src = p.appsrc('pcm-src');
        this.loops.push(this.drain(p).catch((e: Error) => this.fail(e)));
      }
      const pts = Number(m.monoNs - this.baseMono);
      if (pts < 0) continue; // older than the first record: a ring replay after a restart
      const frames = n / (2 * this.opts.input.channels);
      const gap = (m.flags & AUDIO_FLAG_GAP) !== 0;
      this.pending.push({ pts, mono: m.monoNs, wall: m.wallNs, flags: gap ? AUDIO_FLAG_GAP : 0 });
      if (this.pending.length > 500) this.pending.splice(0, this.pending.length - 500);
      this.st.recordsIn++;
      if (gap) this.st.gapRecordsIn++;
      if (!src.push(buf.subarray(0, n), { ptsNs: pts, durationNs: Math.round((frames * 1e9) / this.opts.input.rate) })) this.st.pushRefused++;
    }
  }

  private async drain(p: GstPipeline): Promise<void> {
    const sink = p.appsink('opus-sink');
    const out = this.opts.out;
    const scratch = new Uint8Array(Math.min(out.maxPayload, 64 * 1024));
    for (;;) {
      const s = await sink.pullInto(scratch);
      if (!s) return;
      if (s.size > scratch.length) throw new RecordTooLargeError(s.size, scratch.length);
      // The instant the packet's decoded samples start (see the contract), as running time.
      const start = (s.ptsNs ?? 0) + (s.durationNs ?? FRAME_NS) - FRAME_NS;
      // The PCM record the packet mostly holds starts LOOKAHEAD_NS after that.
      const want = start + LOOKAHEAD_NS;
      while (this.pending.length && this.pending[0].pts < want - MATCH_NS) this.pending.shift();
      const hit = this.pending.length && Math.abs(this.pending[0].pts - want) <= MATCH_NS ? this.pending.shift() : undefined;
      let mono: bigint, wall: bigint, flags = FLAG_SYNC;
      if (hit) {
        const d = BigInt(start - hit.pts);
        mono = hit.mono + d; wall = hit.wall + d; flags |= hit.flags;
      } else { this.st.unmatched++; mono = this.baseMono + BigInt(start); wall = this.opts.clock.toWall(mono); }
      out.write(RECORD_KIND_OPUS_FRAME, flags, wall, mono, scratch.subarray(0, s.size));
      this.st.framesOut++;
      this.st.bytesOut += s.size;
      this.st.latencyMs = Math.round(Number(process.hrtime.bigint() - mono) / 1e5) / 10;
    }
  }
}
