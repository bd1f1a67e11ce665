/**
 * The recording of a passthrough channel (an rtsp camera, rtsp-ingest.ts): the access units
 * video-capture wrote into `video.<channel>.hq`, read back and handed to the same recorder an
 * encoded channel has (recorder.ts ChannelRecorder: same segments, cuts, events, fsyncs,
 * write-failure handling), with no decode and no encode.
 *
 * Contract
 * - Owns: its reader of the hq ring (consumer index of video-encode in the ring plan) and the
 *   channel's ChannelRecorder.
 * - Time: the first IDR read is running time 0 and names the recording; every AU's PTS is its
 *   capture time (the ring record's monotonic time) minus that, so segments carry the box clock.
 * - Cuts: at the camera's first keyframe past the segment length (a camera cannot be asked
 *   for one here: rtsp-ingest owns the camera), so a segment is up to one camera GOP longer.
 * - The ring is read from its newest IDR on (`live`, then the first SYNC record): a
 *   recording never starts on a delta frame; an overrun resumes at the next IDR (the ring's
 *   policy). While the camera is gone nothing arrives, and the segment stays open.
 * - Lifecycle: start(); close(deadlineMs) lets the recorder finalise its open segment, then
 *   closes. Idempotent.
 * - Errors: a write failure is the recorder's (it stops, says why, resumes: recorder.ts); an
 *   error of the ring loop is reported through `onError` (the worker restarts).
 * Runs on: video-encode.
 */
import type { Profile } from '../../gst-pipelines/index.js';
import { FLAG_SYNC, type RingConsumer } from '../lib/ring/index.js';
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { ChannelConfig } from '../config/index.js';
import { recordingLocation, type SegmentExtension } from '../recording/index.js';
import { ChannelRecorder, type RecordingStatus } from './recorder.js';
import type { EncoderEvent, EncoderRecording, VitalsFeed } from './encoder-types.js';

export interface PassthroughRecorderOptions {
  channel: ChannelConfig;
  profile: Profile;
  /** The channel's hq ring, read as video-encode. */
  input: RingConsumer;
  recording: EncoderRecording;
  clock: BoxClock;
  log?: Logger;
  onEvent?: (e: EncoderEvent) => void;
  onError?: (e: Error) => void;
  /** The monitors' samples, recorded as the segments' text track. */
  vitals?: VitalsFeed;
}

export class PassthroughRecorder {
  readonly name: string;
  private state: 'new' | 'running' | 'closed' = 'new';
  private loop: Promise<void> | undefined;
  private readonly st = { segmentsClosed: 0, aus: 0 };
  private readonly recorder: ChannelRecorder;

  constructor(private readonly opts: PassthroughRecorderOptions) {
    if (opts.channel.source.type !== 'rtsp' && opts.channel.source.type !== 'onvif') throw new RangeError(`channel ${opts.channel.name}: a passthrough recorder records an rtsp source, got ${opts.channel.source.type}`);
    this.name = opts.channel.name;
    this.recorder = new ChannelRecorder({
      channel: this.name, profile: opts.profile, recording: opts.recording, counts: this.st,
      clock: opts.clock, log: opts.log, onEvent: opts.onEvent,
      // The camera's keyframes come when they come (rtsp-ingest owns the camera).
      requestKeyframe: () => undefined,
      vitals: opts.vitals ? { fps: opts.channel.source.fps } : undefined,
    });
    const r = this.recorder;
    opts.vitals?.subscribe((s) => r.writeVitals(s));
  }

  stats(): { aus: number; segmentsClosed: number; recording: RecordingStatus } {
    return { ...this.st, recording: this.recorder.status() };
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.loop = this.run().catch((e: Error) => this.fail(e));
  }

  async close(deadlineMs = 3000): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.opts.input.wake();
    await this.loop;
    await this.recorder.close(deadlineMs);
  }

  private fail(e: Error): void {
    if (this.state !== 'running') return;
    this.opts.log?.error({ channel: this.name, err: e }, 'passthrough recording failed');
    this.opts.onError?.(e);
  }

  private async next(): Promise<ReturnType<RingConsumer['read']>> {
    for (;;) {
      if (this.state !== 'running') return undefined;
      const r = this.opts.input.read();
      if (r) return r;
      await this.opts.input.wait(500);
    }
  }

  private async run(): Promise<void> {
    const { channel: ch, profile, recording: rec } = this.opts;
    let first = await this.next();
    while (first && !(first.flags & FLAG_SYNC)) first = await this.next();
    if (!first) return;
    const baseMono = first.monoNs;
    this.recorder.start(baseMono);
    const dir = recordingLocation(rec.root, this.name, first.wallNs, profile.recording.extension as SegmentExtension).dir;
    this.opts.onEvent?.({ type: 'encoder-started', channel: ch.name, profile: profile.id, encoder: 'passthrough', recording: dir, snapshot: null });
    for (let r: typeof first | undefined = first; r; r = await this.next()) {
      const pts = r.monoNs - baseMono;
      if (pts < 0n) continue;
      this.recorder.push(r.payload, Number(pts), (r.flags & FLAG_SYNC) !== 0);
      this.st.aus++;
    }
  }
}
