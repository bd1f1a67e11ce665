/**
 * One audio input's capture: its source into the input's PCM ring `pcm.<input>`, in fixed
 * records stamped on the box clock, silence marked as a gap while the source is away, and the
 * input's levels.
 *
 * Contract
 * - Owns: the source of one input (the test-tone generator, or a GStreamer pipeline for ALSA
 *   and `gst:` sources, see source.ts), the gap timer, the retry timer, the level meter. Writes
 *   only into its record ring.
 * - Records (edge/lib/record-kinds.ts): kind RECORD_KIND_PCM_S16LE, `recordMs` (10 or 20 ms) of
 *   interleaved S16LE at the input's rate and channels each; flags FLAG_SYNC on every record,
 *   plus AUDIO_FLAG_GAP on silence written while the source was away. Each record carries the
 *   capture time of its first sample on the box clock (wall and monotonic ns), strictly
 *   increasing.
 * - Time: test-tone records start on samples of the wall clock's own grid (sample k is k / rate
 *   s after the epoch), so their times are exact. A pipeline source's buffer is stamped with
 *   its own capture time, running time plus the pipeline's base time (GStreamer's system clock
 *   is CLOCK_MONOTONIC, the box clock's; alsasrc is told not to provide its own clock), or its
 *   arrival minus its duration when that is not plausible; within a run of buffers that follow
 *   each other within TOLERANCE_NS a record's time is counted in samples from the run's first,
 *   so records are gapless and sample-accurate to the source's clock.
 * - A lost source (bus error, end of stream, the appsink closed, or no buffer for `stallMs`: an
 *   unplugged USB microphone) is closed at once; gap records (silence) continue the ring from
 *   where the source stopped, in real time, and the source is rebuilt after a capped exponential
 *   backoff with jitter. Its first buffer ends the gap; records resume at its own capture times
 *   (a record that would overlap the gap's last one is trimmed of the overlapping samples).
 * - Lifecycle: constructor validates; start(); close() (idempotent) stops timers and the
 *   pipeline. State: new -> live | gap (alternating) -> closed.
 * - Errors: the constructor throws RangeError for an input it cannot describe. Source errors
 *   are never thrown: they are what the gap is for; they are counted and reported via `onEvent`.
 * Runs on: audio-capture.
 */
import { GstPipeline } from '../gst/index.js';
import { Backoff } from '../lib/backoff.js';
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { AUDIO_FLAG_GAP, RECORD_KIND_PCM_S16LE } from '../lib/record-kinds.js';
import { FLAG_SYNC, type RingProducer } from '../lib/ring/index.js';
import type { AudioInputConfig } from '../config/index.js';
import { LevelMeter, type AudioLevels } from './levels.js';
import { PCM_SINK, parseAudioDevice, sourceDescription, type AudioSource } from './source.js';
import { fillTestTone } from './tone.js';

export type AudioCaptureState = 'new' | 'live' | 'gap' | 'closed';

export interface AudioCaptureEvent {
  type: 'audio-source-lost' | 'audio-source-up';
  input: string;
  reason?: string;
  /** Retry number since the source was last stable. */
  attempt?: number;
  /** audio-source-lost: how long until the source is tried again. */
  retryMs?: number;
}

export interface AudioCaptureOptions {
  input: AudioInputConfig;
  ring: RingProducer;
  clock: BoxClock;
  /** Record length, ms: 10 or 20. Default 20 (one Opus frame). */
  recordMs?: 10 | 20;
  log?: Logger;
  onEvent?: (e: AudioCaptureEvent) => void;
  /** First retry delay and cap, ms. Defaults 250 and 2000. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** No buffer for this long means the source is lost. Default 500. */
  stallMs?: number;
  /** A source that ran this long resets the backoff. Default 10 000. */
  stableMs?: number;
  random?: () => number;
  /** Resolves an alsa-path name to a card number (tests). Default: /dev/snd/by-path. */
  cardOf?: (path: string) => number;
}

export interface AudioCaptureStats {
  state: AudioCaptureState;
  source: AudioSource['type'];
  records: number;
  gapRecords: number;
  /** Samples dropped: partial records at a discontinuity, overlap after a gap. */
  droppedSamples: number;
  /** Runs of buffers whose times did not follow (source restarts, dropped buffers). */
  resyncs: number;
  sourceStarts: number;
  losses: number;
  lastLoss?: string;
  levels: AudioLevels;
}

/** How far a buffer's capture time may stray from where the previous one ended and still continue it. */
export const TOLERANCE_NS = 5_000_000n;
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export class AudioCapture {
  readonly name: string;
  readonly rate: number;
  readonly channels: number;
  readonly recordMs: number;
  /** Frames (samples per channel) per record. */
  readonly recordFrames: number;
  private stateValue: AudioCaptureState = 'new';
  private readonly source: AudioSource;
  private pipeline: GstPipeline | undefined;
  private gen = 0;
  private readonly retry: Backoff;
  private readonly stallMs: number;
  private readonly stableMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private sourceStartedMono = 0n;
  private lastSourceMono = 0n;
  /** The record being filled and where it stands. */
  private readonly acc: Int16Array;
  private readonly accBytes: Uint8Array;
  private accFill = 0;
  private accStart = 0n;
  /** Capture time where the next sample of the current run is expected, or -1n. */
  private runNext = -1n;
  /** End of the last record written (monotonic ns), or -1n. */
  private lastEnd = -1n;
  private lastMono = 0n;
  /** test-tone: sample index (since the epoch) of the next record. */
  private toneNext = -1;
  private readonly silence: Int16Array;
  private readonly meter: LevelMeter;
  private readonly st = { records: 0, gapRecords: 0, droppedSamples: 0, resyncs: 0, sourceStarts: 0, losses: 0, lastLoss: undefined as string | undefined };

  constructor(private readonly opts: AudioCaptureOptions) {
    const a = opts.input;
    if (!NAME_RE.test(a.name)) throw new RangeError(`audio input name "${a.name}"`);
    this.name = a.name;
    this.rate = a.rate;
    this.channels = a.channels;
    this.recordMs = opts.recordMs ?? 20;
    if (this.recordMs !== 10 && this.recordMs !== 20) throw new RangeError(`audio input ${a.name}: records of ${String(this.recordMs)} ms (10 or 20)`);
    this.recordFrames = (this.rate * this.recordMs) / 1000;
    const bytes = this.recordFrames * this.channels * 2;
    if (bytes > opts.ring.maxPayload) throw new RangeError(`audio input ${a.name}: a ${bytes}-byte record does not fit the ring`);
    this.source = parseAudioDevice(a.name, a.device);
    // Build the description once now so a bad one fails the constructor, not every retry.
    if (this.source.type === 'gst' || this.source.type === 'alsa') sourceDescription(this.source, this.rate, this.channels);
    this.acc = new Int16Array(this.recordFrames * this.channels);
    this.accBytes = new Uint8Array(this.acc.buffer);
    this.silence = new Int16Array(this.acc.length);
    this.meter = new LevelMeter(this.recordMs);
    this.stallMs = opts.stallMs ?? 500;
    this.stableMs = opts.stableMs ?? 10_000;
    // Jitter: inputs (and boxes) that lose a shared source must not retry in step.
    this.retry = new Backoff({ minMs: opts.retryInitialMs ?? 250, maxMs: opts.retryMaxMs ?? 2000, jitter: 0.5 }, opts.random);
  }

  get state(): AudioCaptureState { return this.stateValue; }

  /** The input's levels over the last second. */
  levels(): AudioLevels { return this.meter.levels(); }

  stats(): AudioCaptureStats {
    return { state: this.stateValue, source: this.source.type, ...this.st, levels: this.meter.levels() };
  }

  start(): void {
    if (this.stateValue !== 'new') return;
    if (this.source.type === 'test-tone') {
      this.stateValue = 'live';
      this.tickTimer = setInterval(() => this.toneTick(), this.recordMs / 2);
      return;
    }
    this.stateValue = 'gap';
    this.startSource();
    this.tickTimer = setInterval(() => this.tick(), this.recordMs / 2);
  }

  close(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.gen++;
    clearTimeout(this.retryTimer);
    clearInterval(this.tickTimer);
    this.pipeline?.close();
    this.pipeline = undefined;
  }

  // ---- test tone ----

  /** Writes every whole record of the pattern that has been "captured" by now. */
  private toneTick(): void {
    const c = this.opts.clock;
    const nowWall = c.wallNs();
    const rate = BigInt(this.rate);
    const n = this.recordFrames;
    if (this.toneNext < 0) {
      // Start on the record grid of the wall clock, so every second starts a record.
      const s = Number((nowWall * rate) / 1_000_000_000n);
      this.toneNext = (Math.floor(s / n) + 1) * n;
    }
    const nanosPerFrame = (k: number): bigint => (BigInt(k) * 1_000_000_000n) / rate;
    // Resume a stalled loop without a burst of more than a second.
    if (nanosPerFrame(this.toneNext) < nowWall - 1_000_000_000n) this.toneNext = Math.floor(Number((nowWall * rate) / 1_000_000_000n) / n) * n;
    while (nanosPerFrame(this.toneNext + n) <= nowWall) {
      fillTestTone(this.acc, this.toneNext, this.rate, this.channels);
      const wall = nanosPerFrame(this.toneNext);
      this.write(this.acc, 0, wall - c.anchor.wallNs + c.anchor.monoNs, wall);
      this.toneNext += n;
    }
  }

  // ---- pipeline source ----

  private startSource(): void {
    if (this.stateValue === 'closed') return;
    const gen = ++this.gen;
    this.st.sourceStarts++;
    let p: GstPipeline;
    try {
      const desc = sourceDescription(this.source as Exclude<AudioSource, { type: 'test-tone' }>, this.rate, this.channels, this.opts.cardOf);
      p = new GstPipeline(desc, { label: `audio ${this.name}` });
    } catch (e) {
      // A device that is not there (alsa-path without a card) or a description that does not
      // parse: the same as a lost source.
      this.lost(gen, `build: ${(e as Error).message}`);
      return;
    }
    this.pipeline = p;
    p.on('error', (e) => this.lost(gen, `error: ${e.message}`));
    p.on('eos', () => this.lost(gen, 'end of stream'));
    p.on('warning', (w) => this.opts.log?.debug({ input: this.name, warning: w.message }, 'audio source warning'));
    this.sourceStartedMono = process.hrtime.bigint();
    this.lastSourceMono = this.sourceStartedMono;
    try {
      p.start();
    } catch (e) {
      this.lost(gen, `start: ${(e as Error).message}`);
      return;
    }
    void this.pullLoop(gen, p);
  }

  private async pullLoop(gen: number, p: GstPipeline): Promise<void> {
    const sink = p.appsink(PCM_SINK);
    // Buffers are copied by the binding into this scratch (nothing allocated per buffer);
    // 64 KiB is 340 ms of 48 kHz stereo, more than any source's buffer.
    const scratch = new Uint8Array(64 * 1024);
    const samples = new Int16Array(scratch.buffer);
    const frameBytes = 2 * this.channels;
    for (;;) {
      const got = await sink.pullInto(scratch);
      if (gen !== this.gen || !got) {
        if (gen === this.gen) this.lost(gen, 'source closed');
        return;
      }
      const arrival = process.hrtime.bigint();
      const frames = Math.floor(Math.min(got.size, scratch.length) / frameBytes);
      const durNs = BigInt(Math.round((frames * 1e9) / this.rate));
      this.sourceUp(arrival);
      this.addSamples(samples, frames, this.bufferStart(p, got.ptsNs, arrival, durNs));
    }
  }

  /** A buffer's capture time on the monotonic clock (see the module contract). */
  private bufferStart(p: GstPipeline, ptsNs: number | null, arrival: bigint, durNs: bigint): bigint {
    const base = p.baseTimeNs();
    if (ptsNs !== null && base !== null) {
      const t = BigInt(Math.round(base + ptsNs));
      const ageMs = Number(arrival - t) / 1e6;
      if (ageMs >= 0 && ageMs < this.stallMs) return t;
    }
    return arrival - durNs;
  }

  /** Cuts a buffer's frames into records; `start` is the capture time of its first frame. */
  private addSamples(samples: Int16Array, frames: number, start: bigint): void {
    const ch = this.channels;
    const rate = this.rate;
    const at = (t0: bigint, k: number): bigint => t0 + BigInt(Math.round((k * 1e9) / rate));
    let t0 = start;
    if (this.runNext >= 0n) {
      const d = start - this.runNext;
      if (d >= -TOLERANCE_NS && d <= TOLERANCE_NS) t0 = this.runNext; // the run continues: count samples
      else {
        this.st.resyncs++;
        this.st.droppedSamples += this.accFill;
        this.accFill = 0;
      }
    }
    let i = 0;
    // After a gap, or a source whose clock stepped back: drop what overlaps the last record.
    if (this.accFill === 0 && this.lastEnd >= 0n && t0 < this.lastEnd) {
      const skip = Math.min(frames, Math.ceil((Number(this.lastEnd - t0) * rate) / 1e9));
      i = skip;
      this.st.droppedSamples += skip;
    }
    // The run's time is kept as its start and a frame count, so rounding never accumulates.
    let runStart = t0, runFrames = 0;
    while (i < frames) {
      if (this.accFill === 0) this.accStart = at(runStart, runFrames + i);
      const take = Math.min(frames - i, this.recordFrames - this.accFill);
      this.acc.set(samples.subarray(i * ch, (i + take) * ch), this.accFill * ch);
      this.accFill += take;
      i += take;
      if (this.accFill === this.recordFrames) {
        this.write(this.acc, 0, this.accStart);
        this.accFill = 0;
        // Re-base the run on the record just written (exact: it was computed from the run).
        runStart = at(this.accStart, this.recordFrames);
        runFrames = -i;
      }
    }
    this.runNext = at(runStart, runFrames + frames);
  }

  private sourceUp(mono: bigint): void {
    this.lastSourceMono = mono;
    if (this.stateValue === 'gap') {
      this.stateValue = 'live';
      this.opts.log?.info({ input: this.name, attempt: this.retry.attempts }, 'audio source up');
      this.opts.onEvent?.({ type: 'audio-source-up', input: this.name, attempt: this.retry.attempts });
    }
    if (this.retry.attempts > 0 && Number(mono - this.sourceStartedMono) / 1e6 > this.stableMs) this.retry.reset();
  }

  /** Stall watch while live; gap records while away. */
  private tick(): void {
    const now = process.hrtime.bigint();
    if (this.stateValue === 'live') {
      const ageMs = Number(now - this.lastSourceMono) / 1e6;
      if (ageMs > this.stallMs) this.lost(this.gen, `no audio for ${Math.round(ageMs)} ms`);
      return;
    }
    if (this.stateValue !== 'gap') return;
    // Silence from where the source stopped (or from now, before it ever ran), in real time.
    const recNs = BigInt(this.recordMs) * 1_000_000n;
    if (this.lastEnd < 0n) this.lastEnd = now - recNs;
    // A loop stalled for more than a second does not write a burst: the gap restarts now.
    if (this.lastEnd < now - 1_000_000_000n) this.lastEnd = now - recNs;
    while (this.lastEnd + recNs <= now) this.write(this.silence, AUDIO_FLAG_GAP, this.lastEnd);
  }

  /** The source of generation `gen` is gone: close it, gap on, retry later. */
  private lost(gen: number, reason: string): void {
    if (gen !== this.gen || this.stateValue === 'closed') return;
    this.gen++;
    const p = this.pipeline;
    this.pipeline = undefined;
    // close() releases at once; stop() would wait for a source that may never answer.
    setImmediate(() => p?.close());
    this.st.losses++;
    this.st.lastLoss = reason;
    this.st.droppedSamples += this.accFill;
    this.accFill = 0;
    this.runNext = -1n;
    const wasLive = this.stateValue === 'live';
    this.stateValue = 'gap';
    const delay = this.retry.next();
    if (wasLive || this.retry.attempts === 1) this.opts.log?.warn({ input: this.name, reason, retryMs: delay }, 'audio source lost; gap on');
    else this.opts.log?.info({ input: this.name, reason, retryMs: delay }, 'audio source lost; gap on');
    this.opts.onEvent?.({ type: 'audio-source-lost', input: this.name, reason, attempt: this.retry.attempts, retryMs: delay });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.startSource(), delay);
  }

  // ---- ring ----

  private write(rec: Int16Array, flags: number, mono: bigint, wall?: bigint): void {
    let m = mono;
    // Strictly increasing, whatever a source's clock did.
    if (this.st.records + this.st.gapRecords > 0 && m <= this.lastMono) m = this.lastMono + 1000n;
    this.lastMono = m;
    this.lastEnd = m + BigInt(Math.round((this.recordFrames * 1e9) / this.rate));
    const bytes = rec === this.acc ? this.accBytes : new Uint8Array(rec.buffer, rec.byteOffset, rec.byteLength);
    this.opts.ring.write(RECORD_KIND_PCM_S16LE, FLAG_SYNC | flags, wall ?? this.opts.clock.toWall(m), m, bytes);
    const gap = (flags & AUDIO_FLAG_GAP) !== 0;
    this.meter.add(rec, gap);
    if (gap) this.st.gapRecords++; else this.st.records++;
  }
}
