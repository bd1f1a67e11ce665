/**
 * The audio of one channel's recording: PCM records from `pcm.<input>` into the recorder
 * recording's audio appsrc, which GStreamer encodes to AAC-LC and the segment's muxer muxes
 * next to the video (gst-pipelines/build.ts buildSegmentPipeline, SegmentTarget.audio).
 *
 * Why the recorder encodes AAC itself (and not audio-encode into an `aac.<input>` ring, as the
 * design map sketches): the muxers wait for data on every pad, so a recorder whose audio stops
 * coming (audio-encode or audio-capture restarting, a ring overrun) would hold the video back
 * until its 3 s queue filled and then stall the whole channel pipeline. The one who feeds the
 * muxer must be able to fill a hole, and filling PCM with silence is trivial where filling an
 * AAC stream is not. Encoding is cheap (avenc_aac at 48 kHz mono: ~1 % of a core).
 *
 * Contract
 * - Owns: the silence filler of one recorded channel's audio. Records come through write()
 *   (the worker's RecordFanout of `pcm.<input>`, edge/lib/ring/fanout.ts, hands each record to
 *   every channel recording that input: one ring cursor per worker).
 * - Time: a PCM record's PTS is its capture time (monotonic) minus the video's `baseMono`
 *   (running time 0 of the channel's pipeline) minus the AAC encoder's delay (AAC_ENCODERS:
 *   the priming samples every decoder outputs first, measured), so that the decoded audio of a
 *   sample lands at the instant it was captured, on the video's timeline. Records before that
 *   time 0 are dropped.
 * - Gaps: a run of gap-flagged records (the source was away: audio-capture wrote silence) is
 *   reported once it ends as `onGap(startWallNs, endWallNs)`. When no record comes for
 *   `fillAfterMs` (default 200), silence is pushed up to `fillAfterMs` behind now, so the
 *   muxer never waits on audio; records that arrive later for time already filled are
 *   dropped. Filled time is reported as a gap too.
 * - Lifecycle: start(appsrc, baseMono, fromPts); write() until close() (idempotent); records
 *   written before start() or after close() are dropped. The recorder (edge/video/recorder.ts)
 *   makes one per recording (its sink routes samples to the segment of their time): a
 *   recording that stops and resumes gets a fresh feed.
 * - Errors: a push the appsrc refuses is counted (pushRefused), never thrown.
 * Runs on: video-encode.
 */
import type { GstAppSrc } from '../gst/index.js';

/** Where the feed pushes: an appsrc, or the recorder's router to its segments' appsrcs. */
export type AudioSink = Pick<GstAppSrc, 'push'>;
import type { BoxClock } from '../lib/clock.js';
import { AUDIO_FLAG_GAP } from '../lib/record-kinds.js';

export type AacEncoder = 'avenc_aac' | 'voaacenc';

/**
 * AAC-LC encoders GStreamer 1.22 has here, and the delay (priming samples) each puts before
 * the first input sample, measured: a click at 1.000 s encoded with `<enc> ! aacparse !
 * matroskamux|mpegtsmux`, decoded by ffmpeg, lands 1024 samples (avenc_aac) or 1600 samples
 * at 48 kHz (voaacenc) late.
 */
export const AAC_ENCODERS: Record<AacEncoder, { delaySamples: number }> = {
  avenc_aac: { delaySamples: 1024 },
  voaacenc: { delaySamples: 1600 },
};

export interface RecordingAudioFeedOptions {
  /** The channel (for stats and messages). */
  channel: string;
  rate: number;
  channels: number;
  encoder?: AacEncoder;
  clock: BoxClock;
  /** Silence is filled when no record came for this long, ms. Default 200. */
  fillAfterMs?: number;
  onGap?: (startWallNs: bigint, endWallNs: bigint, filled: boolean) => void;
}

export interface RecordingAudioStats {
  records: number;
  gapRecords: number;
  /** Silence pushed by the filler, ms. */
  filledMs: number;
  /** Records dropped: before time 0, or for time already filled. */
  dropped: number;
  pushRefused: number;
}

/** The recorder's PCM chunks: 20 ms (what audio-capture writes too). */
const CHUNK_MS = 20;
/** A record starting within this of where the last ended continues it (ns). */
const CONTINUE_NS = 1_000_000;

export class RecordingAudioFeed {
  readonly delayNs: number;
  private readonly fillAfterNs: number;
  private state: 'new' | 'running' | 'closed' = 'new';
  private src: AudioSink | undefined;
  private baseMono = 0n;
  /** Running time (ns, encoder's timeline) the next pushed sample starts at; -1 before start(). */
  private nextPts = -1;
  private lastRecordAt = 0n;
  private gapStart: bigint | null = null;
  private fillTimer: NodeJS.Timeout | undefined;
  private readonly silence: Uint8Array;
  private readonly st: RecordingAudioStats = { records: 0, gapRecords: 0, filledMs: 0, dropped: 0, pushRefused: 0 };

  constructor(private readonly o: RecordingAudioFeedOptions) {
    if (![8000, 16000, 24000, 48000].includes(o.rate)) throw new RangeError(`channel ${o.channel}: audio rate ${o.rate}`);
    if (o.channels !== 1 && o.channels !== 2) throw new RangeError(`channel ${o.channel}: audio channels ${o.channels}`);
    const enc = o.encoder ?? 'avenc_aac';
    if (!AAC_ENCODERS[enc]) throw new RangeError(`channel ${o.channel}: AAC encoder ${enc} is not one of ${Object.keys(AAC_ENCODERS).join(', ')}`);
    this.delayNs = Math.round((AAC_ENCODERS[enc].delaySamples * 1e9) / o.rate);
    this.fillAfterNs = (o.fillAfterMs ?? 200) * 1e6;
    this.silence = new Uint8Array((o.rate * CHUNK_MS / 1000) * 2 * o.channels);
  }

  stats(): RecordingAudioStats { return { ...this.st }; }

  /**
   * Starts feeding `src`; `baseMono` is the video's running time 0, `fromPts` (ns of running
   * time) where the recording's video begins: earlier records are dropped, and silence is
   * filled from there when none comes (the muxer waits for the first buffer of every pad).
   */
  start(src: AudioSink, baseMono: bigint, fromPts = 0): void {
    if (this.state !== 'new') return;
    if (!Number.isFinite(fromPts) || fromPts < 0) throw new RangeError(`channel ${this.o.channel}: audio fromPts ${fromPts}`);
    this.state = 'running';
    this.src = src;
    this.baseMono = baseMono;
    this.nextPts = fromPts;
    this.lastRecordAt = this.o.clock.monoNs();
    this.fillTimer = setInterval(() => this.fill(), 50);
  }

  close(): void {
    this.state = 'closed';
    clearInterval(this.fillTimer);
  }

  /** One PCM record of the input (valid during the call). */
  write(pcm: Uint8Array, flags: number, wallNs: bigint, monoNs: bigint): void {
    if (this.state !== 'running') return;
    this.lastRecordAt = this.o.clock.monoNs();
    const pts = Number(monoNs - this.baseMono) - this.delayNs;
    const dur = Math.round((pcm.length * 1e9) / (2 * this.o.channels * this.o.rate));
    if (pts < 0 || (this.nextPts >= 0 && pts < this.nextPts - CONTINUE_NS)) { this.st.dropped++; return; }
    this.st.records++;
    if ((flags & AUDIO_FLAG_GAP) !== 0) { this.st.gapRecords++; this.gapStart ??= wallNs; }
    else this.endGap(wallNs, false);
    this.push(pcm, pts, dur);
  }

  /** Silence up to fillAfter behind now, when records stopped coming. */
  private fill(): void {
    if (this.state !== 'running' || this.nextPts < 0) return;
    const now = this.o.clock.monoNs();
    if (now - this.lastRecordAt < BigInt(this.fillAfterNs)) return;
    const until = Number(now - this.baseMono) - this.delayNs - this.fillAfterNs;
    const chunkNs = CHUNK_MS * 1e6;
    if (this.nextPts + chunkNs > until) return;
    this.gapStart ??= this.o.clock.toWall(this.baseMono + BigInt(this.nextPts + this.delayNs));
    while (this.nextPts + chunkNs <= until) {
      this.push(this.silence, this.nextPts, chunkNs);
      this.st.filledMs += CHUNK_MS;
    }
    this.filling = true;
  }

  private filling = false;

  private endGap(atWall: bigint, filled: boolean): void {
    if (this.gapStart === null) return;
    const start = this.gapStart;
    this.gapStart = null;
    this.o.onGap?.(start, atWall, filled || this.filling);
    this.filling = false;
  }

  private push(data: Uint8Array, pts: number, dur: number): void {
    if (!this.src!.push(data, { ptsNs: pts, durationNs: dur })) this.st.pushRefused++;
    this.nextPts = pts + dur;
  }
}
