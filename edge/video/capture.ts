/**
 * One channel's capture: its source pipeline into the channel's raw slot ring, and the
 * "no signal" slate that keeps the ring fed while the source is lost.
 *
 * Contract
 * - Owns: the source GstPipeline of one channel (test pattern, V4L2 device or a GStreamer
 *   source description, ending in raw 4:2:0 at the channel's size and at most its rate (a
 *   faster source is thinned, a slower one passes at its own: FIT_RATE) in an appsink),
 *   the slate timer, the retry timer. Writes only into its slot ring (`raw.<channel>`).
 * - Every frame is copied once, by the binding, into a claimed slot and published with its
 *   capture time on the box clock (wall and monotonic ns; the source's own time, i.e. the
 *   running time it stamped plus the pipeline's base time, else arrival in this thread;
 *   strictly increasing). Slot meta: kind FRAME_KIND_RAW, flags FRAME_FLAG_SLATE on slate frames,
 *   user0/user1 = width/height.
 * - Test-pattern frames get a burnt-in capture clock and the channel's name (overlay.ts), and
 *   the A/V sync lamp that flashes on the first frame of each whole UTC second (sync-lamp.ts).
 * - A lost source (bus error, EOS, the source closed, or no frame for `stallMs`, which is how a
 *   V4L2 device that loses its signal without an error shows up) is closed at once; the slate
 *   takes over at the channel's frame rate within one frame interval, and the source is
 *   recreated after a capped exponential backoff with jitter (retry in this owner, not in
 *   the pipeline: a failed source is rebuilt whole). Its first frame ends the slate. Nothing
 *   else (encoder, recording, RTSP) restarts: downstream sees one continuous stream.
 * - Lifecycle: constructor validates; start(); close() (idempotent) stops timers and the
 *   pipeline. State: new -> live | slate (alternating) -> closed.
 * - Errors: the constructor throws RangeError for a channel it cannot describe. Source errors
 *   are never thrown: they are what the slate is for; they are counted and reported through
 *   `onEvent`.
 * Runs on: video-capture.
 */
import { GstPipeline } from '../gst/index.js';
import { Backoff } from '../lib/backoff.js';
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { FRAME_KIND_RAW } from '../lib/record-kinds.js';
import { copyIntoShared, type SlotClaim, type SlotProducer } from '../lib/ring/index.js';
import type { ChannelConfig } from '../config/index.js';
import { clockText, drawText, frameBytes, solidFrame, textScale, textWidth, type Yuv420Format } from './overlay.js';
import { drawSyncLamp } from './sync-lamp.js';

/** Slot meta flag: a slate frame, not the source's. */
export const FRAME_FLAG_SLATE = 1;

export type CaptureState = 'new' | 'live' | 'slate' | 'closed';

export interface CaptureEvent {
  type: 'source-lost' | 'source-up';
  channel: string;
  reason?: string;
  /** Retry number since the source was last stable. */
  attempt?: number;
}

export interface CaptureOptions {
  channel: ChannelConfig;
  format: Yuv420Format;
  ring: SlotProducer;
  clock: BoxClock;
  log?: Logger;
  onEvent?: (e: CaptureEvent) => void;
  /** First retry delay and cap, ms. Defaults 250 and 2000 (so a returning source is back within 3 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** No frame for this long means the source is lost. Default max(600, 10 frame intervals). */
  stallMs?: number;
  /** A source that ran this long resets the backoff. Default 10 000. */
  stableMs?: number;
  random?: () => number;
}

export interface CaptureStats {
  state: CaptureState;
  sourceFrames: number;
  slateFrames: number;
  /** Frames the ring had no free slot for. */
  dropped: number;
  sourceStarts: number;
  losses: number;
  lastLoss?: string;
}

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const PATTERN_RE = /^[a-z0-9-]+$/;

/**
 * How a device's or description's frame rate is fitted to the channel's: frames above the
 * channel's rate are dropped, none is ever held or duplicated. A plain `videorate` holds every
 * frame until the next one arrives (it decides then whether to repeat it): one frame interval
 * of latency on every frame, 33.8 ms at 30 fps (measured, test-rig/latency: glass -> capture
 * appsink 34.5 ms with it, 0.3 ms without). So a source slower than the channel (25 fps into
 * 30) gives its own 25 frames a second, and one of variable rate (0/1) passes as it comes; the
 * encoder stamps each frame with its capture time either way.
 */
const FIT_RATE = 'videorate drop-only=true';

/** The source part of the capture pipeline, ending in the channel's raw caps and the appsink. */
export function sourceDescription(ch: ChannelConfig, format: Yuv420Format, sinkName = 'capture-sink'): string {
  const s = ch.source;
  let rate = `${s.fps}/1`;
  let head: string;
  switch (s.type) {
    case 'test-pattern':
      if (!PATTERN_RE.test(s.pattern)) throw new RangeError(`channel ${ch.name}: pattern "${s.pattern}" is not a videotestsrc pattern nick`);
      // videotestsrc renders straight into the ring's format and size: no conversion.
      head = `videotestsrc is-live=true pattern=${s.pattern}`;
      break;
    case 'v4l2':
      if (/["\s]/.test(s.device)) throw new RangeError(`channel ${ch.name}: device path "${s.device}" has spaces or quotes`);
      head = `v4l2src device=${s.device} ! videoconvert ! videoscale ! ${FIT_RATE}`;
      rate = `[0/1,${s.fps}/1]`;
      break;
    case 'gst':
      head = `${s.description} ! videoconvert ! videoscale ! ${FIT_RATE}`;
      rate = `[0/1,${s.fps}/1]`;
      break;
    case 'rtsp':
    case 'onvif':
      // A camera's H.264 is passed through (rtsp-ingest.ts), never decoded into the raw ring.
      throw new RangeError(`channel ${ch.name}: an rtsp source is passed through by RtspIngest, not captured to raw frames`);
  }
  const caps = `video/x-raw,format=${format},width=${s.width},height=${s.height},framerate=${rate}`;
  return `${head} ! capsfilter caps="${caps}" ! appsink name=${sinkName} sync=false async=false emit-signals=false max-buffers=2 drop=true wait-on-eos=false`;
}

/** The slate: dark blue, "NO SIGNAL" and the channel's name (rendered once per source; rtsp-ingest.ts's decode uses it too). */
export function slateFrame(g: { width: number; height: number; format: Yuv420Format }, channel: string): Uint8Array {
  const frame = solidFrame(g, 40, 160, 118);
  const scale = textScale(g.height);
  const big = scale * 3;
  const msg = 'NO SIGNAL';
  drawText(frame, g, msg, Math.max(0, (g.width - textWidth(msg, big)) >> 1), Math.max(0, (g.height >> 1) - 12 * big), big);
  drawText(frame, g, channel, Math.max(0, (g.width - textWidth(channel, scale * 2)) >> 1), (g.height >> 1) + 2 * big, scale * 2);
  return frame;
}

export class ChannelCapture {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  private stateValue: CaptureState = 'new';
  private pipeline: GstPipeline | undefined;
  private gen = 0;
  private sourceStartedMono = 0n;
  private lastSourceMono = 0n;
  private lastStampMono = 0n;
  private retryTimer: NodeJS.Timeout | undefined;
  private slateTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private slateNext = 0;
  private readonly slate: Uint8Array;
  /** Where a frame goes when every slot is held (it is dropped). */
  private scratch: Uint8Array | undefined;
  private readonly frameLen: number;
  private readonly intervalMs: number;
  private readonly stallMs: number;
  private readonly retry: Backoff;
  private readonly stableMs: number;
  private readonly scale: number;
  private readonly overlay: boolean;
  private readonly description: string;
  private readonly st = { sourceFrames: 0, slateFrames: 0, dropped: 0, sourceStarts: 0, losses: 0, lastLoss: undefined as string | undefined };

  constructor(private readonly opts: CaptureOptions) {
    const ch = opts.channel;
    if (!NAME_RE.test(ch.name)) throw new RangeError(`channel name "${ch.name}"`);
    this.name = ch.name;
    this.width = ch.source.width;
    this.height = ch.source.height;
    this.fps = ch.source.fps;
    if (this.width % 2 || this.height % 2) throw new RangeError(`channel ${ch.name}: 4:2:0 needs an even size, got ${this.width}x${this.height}`);
    this.frameLen = frameBytes(ch.source);
    if (this.frameLen > opts.ring.slotBytes) throw new RangeError(`channel ${ch.name}: a ${this.frameLen}-byte frame does not fit a ${opts.ring.slotBytes}-byte slot`);
    this.description = sourceDescription(ch, opts.format);
    this.intervalMs = 1000 / this.fps;
    this.stallMs = opts.stallMs ?? Math.max(600, 10 * this.intervalMs);
    // Jitter: the boxes of a fleet that lose a shared source must not retry in step.
    this.retry = new Backoff({ minMs: opts.retryInitialMs ?? 250, maxMs: opts.retryMaxMs ?? 2000, jitter: 0.5 }, opts.random);
    this.stableMs = opts.stableMs ?? 10_000;
    this.scale = textScale(this.height);
    this.overlay = ch.source.type === 'test-pattern';
    this.slate = slateFrame({ width: this.width, height: this.height, format: opts.format }, ch.name);
  }

  get state(): CaptureState { return this.stateValue; }

  stats(): CaptureStats {
    return { state: this.stateValue, ...this.st };
  }

  start(): void {
    if (this.stateValue !== 'new') return;
    this.stateValue = 'slate';
    this.startSource();
    this.watchdog = setInterval(() => this.checkStall(), Math.min(200, this.stallMs / 3));
  }

  close(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.gen++;
    clearTimeout(this.retryTimer);
    clearTimeout(this.slateTimer);
    clearInterval(this.watchdog);
    this.pipeline?.close();
    this.pipeline = undefined;
  }

  // ---- source ----

  private startSource(): void {
    if (this.stateValue === 'closed') return;
    const gen = ++this.gen;
    this.st.sourceStarts++;
    let p: GstPipeline;
    try {
      p = new GstPipeline(this.description, { label: `capture ${this.name}` });
    } catch (e) {
      // A description that cannot even be built (device node missing from the description
      // parser's point of view, bad lab description): same as a lost source.
      this.lost(gen, `parse: ${(e as Error).message}`);
      return;
    }
    this.pipeline = p;
    p.on('error', (e) => this.lost(gen, `error: ${e.message}`));
    p.on('eos', () => this.lost(gen, 'end of stream'));
    p.on('warning', (w) => this.opts.log?.debug({ channel: this.name, warning: w.message }, 'source warning'));
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

  /**
   * Each source frame is copied by the binding straight into a claimed slot (the only copy;
   * nothing is allocated per frame). The claim is held while the pull waits, which costs the
   * ring one of its slots, not a frame.
   */
  private async pullLoop(gen: number, p: GstPipeline): Promise<void> {
    const sink = p.appsink('capture-sink');
    for (;;) {
      const claim = this.opts.ring.claim();
      const into = claim ? claim.bytes.subarray(0, this.frameLen) : (this.scratch ??= new Uint8Array(this.frameLen));
      const got = await sink.pullInto(into);
      if (gen !== this.gen || !got) {
        if (claim) this.opts.ring.abandon(claim);
        if (gen === this.gen) this.lost(gen, 'source closed');
        return;
      }
      const arrival = process.hrtime.bigint();
      this.sourceUp(arrival);
      if (!claim) { this.st.dropped++; continue; }
      if (got.size < this.frameLen) into.fill(0, got.size);
      this.publishClaim(claim, 0, this.captureMono(p, got.ptsNs, arrival));
    }
  }

  /**
   * The source's own capture time on the monotonic clock: running time at capture (a live
   * source's PTS; for V4L2 the driver's timestamp) plus the pipeline's base time. Arrival
   * time when the source gives none, or when its time is not plausible (in the future, or
   * older than the stall limit: a source clock that is not the host's).
   */
  private captureMono(p: GstPipeline, ptsNs: number | null, arrival: bigint): bigint {
    const base = p.baseTimeNs();
    if (ptsNs === null || base === null) return arrival;
    const t = BigInt(Math.round(base + ptsNs));
    const ageMs = Number(arrival - t) / 1e6;
    return ageMs >= 0 && ageMs < this.stallMs ? t : arrival;
  }

  private sourceUp(mono: bigint): void {
    this.lastSourceMono = mono;
    if (this.stateValue === 'slate') {
      this.stateValue = 'live';
      clearTimeout(this.slateTimer);
      this.slateTimer = undefined;
      this.opts.log?.info({ channel: this.name, attempt: this.retry.attempts }, 'source up');
      this.opts.onEvent?.({ type: 'source-up', channel: this.name, attempt: this.retry.attempts });
    }
    if (this.retry.attempts > 0 && Number(mono - this.sourceStartedMono) / 1e6 > this.stableMs) this.retry.reset();
  }

  private checkStall(): void {
    if (this.stateValue !== 'live' && !(this.stateValue === 'slate' && this.pipeline)) return;
    const ageMs = Number(process.hrtime.bigint() - this.lastSourceMono) / 1e6;
    if (ageMs > this.stallMs) this.lost(this.gen, `no frame for ${Math.round(ageMs)} ms`);
  }

  /** The source of generation `gen` is gone: close it, slate on, retry later. */
  private lost(gen: number, reason: string): void {
    if (gen !== this.gen || this.stateValue === 'closed') return;
    this.gen++;
    const p = this.pipeline;
    this.pipeline = undefined;
    // close() releases at once; stop() would wait for a source that may never answer.
    setImmediate(() => p?.close());
    this.st.losses++;
    this.st.lastLoss = reason;
    const wasLive = this.stateValue === 'live';
    this.stateValue = 'slate';
    if (!this.slateTimer) {
      this.slateNext = performance.now();
      this.slateTick();
    }
    const delay = this.retry.next();
    if (wasLive || this.retry.attempts === 1) this.opts.log?.warn({ channel: this.name, reason, retryMs: delay }, 'source lost; slate on');
    else this.opts.log?.info({ channel: this.name, reason, retryMs: delay }, 'source lost; slate on');
    this.opts.onEvent?.({ type: 'source-lost', channel: this.name, reason, attempt: this.retry.attempts });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.startSource(), delay);
  }

  // ---- slate ----

  private slateTick(): void {
    if (this.stateValue !== 'slate') { this.slateTimer = undefined; return; }
    this.publishSlate();
    // Drift-free: the next deadline follows from the first, not from when this one ran.
    this.slateNext += this.intervalMs;
    const now = performance.now();
    if (this.slateNext < now - 5 * this.intervalMs) this.slateNext = now; // stalled loop: do not burst
    this.slateTimer = setTimeout(() => this.slateTick(), Math.max(0, this.slateNext - now));
  }

  // ---- ring ----

  private publishSlate(): void {
    const claim = this.opts.ring.claim();
    if (!claim) { this.st.dropped++; return; }
    copyIntoShared(claim.bytes, this.slate);
    this.publishClaim(claim, FRAME_FLAG_SLATE, process.hrtime.bigint());
  }

  /** Stamps, overlays and publishes a claimed slot that holds a whole frame. */
  private publishClaim(claim: SlotClaim, flags: number, captureMono: bigint): void {
    // Capture times strictly increase, even across a source restart or a slate switch.
    let mono = captureMono;
    if (mono <= this.lastStampMono) mono = this.lastStampMono + 1000n;
    this.lastStampMono = mono;
    const wall = this.opts.clock.toWall(mono);
    const frame = claim.bytes.subarray(0, this.frameLen);
    const g = { width: this.width, height: this.height, format: this.opts.format };
    if (this.overlay || flags & FRAME_FLAG_SLATE) {
      const s = this.scale;
      drawText(frame, g, clockText(wall), 8 * s, 8 * s, s);
      if (this.overlay && !(flags & FRAME_FLAG_SLATE)) {
        drawText(frame, g, this.name, 8 * s, 22 * s, s);
        drawSyncLamp(frame, g, wall, 1e9 / this.fps);
      }
    }
    this.opts.ring.publish(claim, this.frameLen, { kind: FRAME_KIND_RAW, flags, wallNs: wall, monoNs: mono, user0: this.width, user1: this.height });
    if (flags & FRAME_FLAG_SLATE) this.st.slateFrames++; else this.st.sourceFrames++;
  }
}
