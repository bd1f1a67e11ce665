/**
 * The recording of a passthrough channel (an rtsp camera, rtsp-ingest.ts): the access units
 * video-capture wrote into `video.<channel>.hq`, read back and muxed into the same crash-safe
 * segments an encoded channel records, with no decode and no encode.
 *
 * Contract
 * - Owns: one GstPipeline `appsrc (H.264 byte-stream, AUs) ! tee ! <the profile's recording
 *   branch: h264parse ! splitmuxsink>` (gst-pipelines/build.ts recordingBranch), its reader
 *   of the hq ring (consumer index of video-encode in the ring plan), the segment bookkeeping
 *   (segments.ts: the same `segment-opened` / `segment-closed` events and fsyncs).
 * - Time: the first IDR read names the recording and is running time 0; every AU's PTS is its
 *   capture time (the ring record's monotonic time) minus that, so segments carry the box clock.
 * - The ring is read from its newest IDR on (`live`, then the first SYNC record): a
 *   recording never starts on a delta frame; an overrun resumes at the next IDR (the ring's
 *   policy). While the camera is gone nothing arrives, and the segment stays open.
 * - Lifecycle: start(); close(deadlineMs) sends end-of-stream so the open segment is
 *   finalised, then closes. Idempotent.
 * - Errors: a pipeline error is reported through `onError` (the worker restarts, as for an
 *   encoder).
 * Runs on: video-encode.
 */
import { GstPipeline } from '../gst/index.js';
import { recordingBranch, type Profile } from '../../gst-pipelines/index.js';
import { FLAG_SYNC, type RingConsumer } from '../lib/ring/index.js';
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { ChannelConfig } from '../config/index.js';
import { prepareRecordingDir, recordingLocation, type SegmentExtension } from '../recording/index.js';
import { RecordingSegments } from './segments.js';
import type { EncoderEvent, EncoderRecording } from './encoder-types.js';

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
}

export class PassthroughRecorder {
  readonly name: string;
  private state: 'new' | 'running' | 'closed' = 'new';
  private pipeline: GstPipeline | undefined;
  private loop: Promise<void> | undefined;
  private readonly st = { segmentsClosed: 0, aus: 0 };
  private readonly segments: RecordingSegments;

  constructor(private readonly opts: PassthroughRecorderOptions) {
    if (opts.channel.source.type !== 'rtsp' && opts.channel.source.type !== 'onvif') throw new RangeError(`channel ${opts.channel.name}: a passthrough recorder records an rtsp source, got ${opts.channel.source.type}`);
    this.name = opts.channel.name;
    this.segments = new RecordingSegments(this.name, this.st, opts);
  }

  stats(): { aus: number; segmentsClosed: number } { return { ...this.st }; }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.loop = this.run().catch((e: Error) => this.fail(e));
  }

  async close(deadlineMs = 3000): Promise<void> {
    if (this.state === 'closed') return;
    const wasRunning = this.state === 'running';
    this.state = 'closed';
    this.opts.input.wake();
    await this.loop;
    const p = this.pipeline;
    if (p && wasRunning) {
      await p.stop({ eos: true, deadlineMs }).catch(() => undefined);
      await Promise.race([this.segments.settled(), new Promise((r) => setTimeout(r, Math.min(1000, deadlineMs)))]);
    }
    p?.close();
    await this.segments.close();
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
    const ext = profile.recording.extension as SegmentExtension;
    const location = recordingLocation(rec.root, this.name, first.wallNs, ext);
    await prepareRecordingDir(location.dir);
    if (this.state !== 'running') return;
    const src = `${this.name}-src`;
    const description = [
      `appsrc name=${src} is-live=true format=time do-timestamp=false max-bytes=8000000 block=false caps="video/x-h264,stream-format=byte-stream,alignment=au"`,
      `tee name=${this.name}-t`,
    ].join(' ! ') + ' ' + recordingBranch(profile, this.name, `${this.name}-t`, { location: location.pattern, segmentNs: rec.segmentNs });
    const p = new GstPipeline(description, { label: `record ${ch.name}` });
    this.pipeline = p;
    p.on('error', (e) => this.fail(e));
    p.on('element', (m) => this.segments.onElement(m));
    const baseMono = first.monoNs;
    this.segments.start(baseMono, rec);
    p.start();
    this.opts.onEvent?.({ type: 'encoder-started', channel: ch.name, profile: profile.id, encoder: 'passthrough', recording: location.dir, snapshot: null });
    const appsrc = p.appsrc(src);
    for (let r: typeof first | undefined = first; r; r = await this.next()) {
      const pts = r.monoNs - baseMono;
      if (pts < 0n) continue;
      appsrc.push(r.payload, { ptsNs: pts, keyframe: (r.flags & FLAG_SYNC) !== 0 });
      this.st.aus++;
    }
  }
}
