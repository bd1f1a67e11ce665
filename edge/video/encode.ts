/**
 * One channel's encode pipeline: raw frames from the slot ring through the board profile's
 * H.264 encoder into the `hq` and `lq` encoded rings, the hq stream's recording, and the
 * channel's JPEG stills (with thumbnails) into `snap.<channel>`.
 *
 * Contract
 * - Owns: the channel's GstPipeline (appsrc -> tee -> hq/lq encoders -> appsinks, snapshot ->
 *   jpegenc -> appsinks; built by gst-pipelines/build.ts), and the parts that move its data,
 *   one module each: frame-feed.ts (raw.<channel> -> appsrc, frames lent in their slots),
 *   au-drain.ts (hq/lq appsinks -> video.<channel>.hq|lq), stills-drain.ts (JPEG appsinks ->
 *   snap.<channel>), recorder.ts (the hq recording in a pipeline of its own, fed by the hq
 *   drain: a recording that cannot write never stops this pipeline).
 * - Time: the pipeline's timestamps are capture times. A frame's PTS is its capture time on
 *   the monotonic clock minus `baseMono` (the capture time of the first frame this pipeline
 *   saw), so running time = capture time since the first frame, and every record the parts
 *   write carries the capture time of its raw frame (wall = the box clock's mapping of that
 *   monotonic time).
 * - Recording: segments named by the capture time of the first frame (edge/recording
 *   naming), cut by the recorder at the keyframe after `segmentNs`. With the channel's audio
 *   input (`audio`), they hold an AAC-LC track on the same running time (the recorder's
 *   pipeline, recorder.ts, fed by edge/audio/record-feed.ts: PCM from `pcm.<input>`, silence
 *   filled when none comes).
 * - Lifecycle: constructor validates and builds nothing; start() begins waiting for the first
 *   frame, then builds and plays the pipeline; close() sends end-of-stream so every access unit
 *   is encoded and handed on, then closes the recorder (which finalises its open segment) and
 *   the pipeline, bounded by a deadline. Idempotent.
 * - Errors: an encode pipeline error, or a part's loop that fails, is reported through
 *   `onError` (the worker decides: it exits and the supervisor restarts it); a recording error
 *   is the recorder's (recorder.ts: the recording stops and says why, the channel goes on);
 *   a parse error of the built description throws from start().
 * - A decoded camera channel (`decodedCamera`: an rtsp/onvif source with `decode: true`,
 *   frames decoded by rtsp-ingest.ts into raw.<channel>): the same pipeline without its hq
 *   branch and without a recorder; its lq and stills are made exactly as a captured channel's.
 * Runs on: video-encode.
 */
import { GstPipeline } from '../gst/index.js';
import { ENCODER_FACTS, buildChannelPipeline, type H264Role, type Profile } from '../../gst-pipelines/index.js';
import { RECORD_KIND_JPEG_STILL, RECORD_KIND_JPEG_THUMBNAIL } from '../lib/record-kinds.js';
import { recordingLocation, type SegmentExtension } from '../recording/index.js';
import { AccessUnitDrain } from './au-drain.js';
import { FrameFeed } from './frame-feed.js';
import { bitrateProperty, channelProfile } from './profile.js';
import { ChannelRecorder } from './recorder.js';
import { snapshotGeometry } from './snapshot.js';
import { StillsDrain } from './stills-drain.js';
import type { EncoderOptions, EncoderRecording, EncoderStats } from './encoder-types.js';

export type { EncoderEvent, EncoderOptions, EncoderRecording, EncoderStats, SnapshotStats } from './encoder-types.js';

export class ChannelEncoder {
  readonly name: string;
  readonly profile: Profile;
  private pipeline: GstPipeline | undefined;
  private state: 'new' | 'running' | 'closing' | 'closed' = 'new';
  private recordingDir: string | null = null;
  private closing: Promise<void> | undefined;
  private loops: Promise<unknown>[] = [];
  private readonly st: EncoderStats = {
    framesIn: 0, framesLent: 0, pushRefused: 0, segmentsClosed: 0,
    out: { hq: { aus: 0, keyframes: 0, keyframesRequested: 0, bytes: 0 }, lq: { aus: 0, keyframes: 0, keyframesRequested: 0, bytes: 0 } },
    latencyMs: { hq: { p50: 0, p99: 0 }, lq: { p50: 0, p99: 0 } },
    bitrateKbps: { hq: null, lq: null },
    snapshot: null,
    recording: null,
    recordingAudio: null,
  };
  private readonly frames: FrameFeed;
  private readonly aus: Record<H264Role, AccessUnitDrain>;
  private readonly recorder: ChannelRecorder | undefined;

  constructor(private readonly opts: EncoderOptions) {
    this.name = opts.channel.name;
    this.profile = channelProfile(opts.profile, opts.channel);
    if (opts.snapshot && opts.channel.snapshot.enabled) {
      const s = this.profile.roles.snapshot;
      this.st.snapshot = { intervalS: s.intervalS, width: s.width, height: s.height, stills: 0, thumbnails: 0, lastBytes: 0, lastCaptureNs: null, tooLarge: 0 };
    }
    this.frames = new FrameFeed(opts.input, this.st);
    if (opts.decodedCamera && opts.out.hq) throw new RangeError(`channel ${this.name}: a decoded camera channel's hq is the camera's own; no hq ring is written here`);
    if (!opts.decodedCamera && !opts.out.hq) throw new RangeError(`channel ${this.name}: no hq ring`);
    if (opts.channel.record && opts.recording && !opts.decodedCamera) {
      this.recorder = new ChannelRecorder({
        channel: this.name, profile: this.profile, recording: opts.recording, counts: this.st,
        clock: opts.clock, log: opts.log, onEvent: opts.onEvent,
        requestKeyframe: () => { this.requestKeyframe('hq'); },
        audio: opts.audio ? { input: opts.audio.input, rate: opts.audio.rate, channels: opts.audio.channels } : undefined,
        vitals: opts.vitals ? { fps: opts.channel.source.fps } : undefined,
        ...opts.recorder,
      });
      const r = this.recorder;
      opts.audio?.pcm.subscribe((pcm, flags, wall, mono) => r.writeAudio(pcm, flags, wall, mono));
      opts.vitals?.subscribe((s) => r.writeVitals(s));
    }
    const rec = this.recorder;
    // A decoded camera's hq drain has a ring of its own nobody reads (it never runs: no hq branch).
    const au = (role: H264Role): AccessUnitDrain => new AccessUnitDrain(opts.out[role] ?? opts.out.lq, opts.clock, this.st.out[role], this.frames,
      role === 'hq' && rec ? (unit, rt, key) => rec.push(unit, rt, key) : undefined);
    this.aus = { hq: au('hq'), lq: au('lq') };
  }

  stats(): EncoderStats {
    for (const r of ['hq', 'lq'] as H264Role[]) {
      this.st.latencyMs[r] = this.aus[r].latencyMs();
      this.st.bitrateKbps[r] = this.readBitrate(r);
    }
    this.st.recording = this.recorder?.status() ?? null;
    this.st.recordingAudio = this.recorder?.audioStats() ?? null;
    return structuredClone(this.st);
  }

  /** Starts: parses the pipeline, asks for the first frame and starts the pipeline with it. */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.loops.push(this.feed().catch((e: Error) => this.fail(e)));
  }

  /**
   * Changes a stream's target bitrate while playing and returns what the encoder reads back
   * (kbit/s). @throws RangeError where the value is out of range or the encoder cannot.
   */
  setBitrate(role: H264Role, kbps: number): number {
    if (!Number.isInteger(kbps) || kbps < 64 || kbps > 100_000) throw new RangeError('must be an integer from 64 to 100000 kbit/s');
    const enc = this.profile.roles[role].encoder.factory;
    const { prop, value } = bitrateProperty(enc, kbps);
    if (!prop) throw new RangeError(`${enc} takes its bitrate inside a structure; it cannot change while playing`);
    if (role === 'hq' && this.opts.decodedCamera) throw new RangeError('the hq stream is the camera\'s own H.264 (set it in the camera)');
    if (!this.pipeline) throw new RangeError('the channel\'s pipeline is not built yet');
    this.pipeline.set(`${this.name}-${role}-enc`, prop, value);
    const back = this.readBitrate(role);
    if (back !== kbps) throw new RangeError(`${enc} reads back ${back} kbit/s after being set`);
    return back;
  }

  /**
   * Asks the stream's encoder for an IDR now (a receiver's PLI/FIR, or an uplink switching
   * to this stream). On hq it also lands in the recording: one extra keyframe, not a cut.
   * Returns false while the pipeline is not playing yet (the first frame starts with one).
   */
  requestKeyframe(role: H264Role): boolean {
    const p = this.pipeline;
    if (!p || p.state !== 'playing' || (role === 'hq' && this.opts.decodedCamera)) return false;
    p.forceKeyUnit(`${this.name}-${role}-sink`);
    this.st.out[role].keyframesRequested++;
    return true;
  }

  /** The encoder's current target bitrate, kbit/s; null before the pipeline runs or where it
   *  cannot be read as one property. */
  readBitrate(role: H264Role): number | null {
    const p = this.pipeline;
    if (!p || p.state === 'closed' || (role === 'hq' && this.opts.decodedCamera)) return null;
    const f = ENCODER_FACTS[this.profile.roles[role].encoder.factory];
    if (!f || f.bitrateProp.includes('.')) return null;
    const v = Number(p.get(`${this.name}-${role}-enc`, f.bitrateProp));
    return Number.isFinite(v) ? Math.round((v * f.bitrateUnitBps) / 1000) : null;
  }

  /** Finalises the open segment (end-of-stream, up to `deadlineMs`) and releases everything. */
  close(deadlineMs = 3000): Promise<void> {
    this.closing ??= this.doClose(deadlineMs);
    return this.closing;
  }

  private async doClose(deadlineMs: number): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = 'closing';
    this.frames.stop(); // also ends feed()'s wait for the first frame: it waits untimed on the same ring
    const p = this.pipeline;
    // A pipeline parsed but never started (no first frame yet) has nothing to finalise.
    if (p && wasRunning && p.state === 'playing') {
      const t0 = Date.now();
      const left = (): number => Math.max(100, deadlineMs - (Date.now() - t0));
      // End-of-stream from the source end, so every queued frame is encoded and muxed, and
      // the appsinks hand out what they hold before they report the end.
      const eos = new Promise<boolean>((resolve) => {
        p.once('eos', () => resolve(true));
        p.once('error', () => resolve(false));
        setTimeout(() => resolve(false), Math.max(200, deadlineMs - 600)).unref?.();
      });
      let drained = false;
      try {
        drained = p.appsrc(`${this.name}-src`).endOfStream() && (await eos);
      } catch {
        drained = false;
      }
      if (!drained) this.opts.log?.warn({ channel: this.name }, 'end-of-stream did not drain in time; the last segment is closed by recovery');
      await Promise.race([Promise.all(this.loops), new Promise((r) => setTimeout(r, Math.min(500, left())))]);
      await p.stop({ eos: false });
    }
    // Every access unit has reached the recorder now: its end-of-stream finalises the segment.
    await this.recorder?.close(Math.max(300, deadlineMs - 300));
    p?.close();
    this.state = 'closed';
  }

  private fail(e: Error): void {
    if (this.state !== 'running') return;
    this.opts.log?.error({ channel: this.name, err: e }, 'encode pipeline failed');
    this.opts.onError?.(e);
  }

  private async feed(): Promise<void> {
    // Everything slow is done before the first frame is asked for: the recording folder's
    // fsyncs and parsing the pipeline (tens of ms, most of a build). video-capture starts a
    // channel's source only once its encoder has asked (SlotProducer.consumersReady), so the
    // first frame finds an encoder that only has to name its recording and start; frames
    // captured meanwhile wait in the ring, and a wait longer than its slots would lose some.
    const ch = this.opts.channel;
    const rec = this.recorder ? this.opts.recording : undefined;
    const ext = this.profile.recording.extension as SegmentExtension;
    if (this.state !== 'running') return;
    const built = this.parse();
    const input = this.opts.input;
    let first = input.acquire();
    while (!first && this.state === 'running') { await input.wait(); first = input.acquire(); }
    if (!first) return;
    // The first frame's capture time names the recording and is running time 0.
    const baseMono = first.monoNs;
    try {
      // The recorder makes its folder itself (at its first keyframe, queueing meanwhile):
      // a folder that cannot be made (full disk) stops the recording, not the channel.
      if (rec) this.recordingDir = recordingLocation(rec.root, this.name, first.wallNs, ext).dir;
      this.begin(built, baseMono);
    } catch (e) {
      input.release(first);
      throw e;
    }
    await this.frames.run(this.pipeline!.appsrc(`${this.name}-src`), first, baseMono, Math.round(1e9 / ch.source.fps));
  }

  /** Parses the channel's pipeline (not started). The recording is a pipeline of its own (recorder.ts). */
  private parse(): ReturnType<typeof buildChannelPipeline> {
    const ch = this.opts.channel;
    const stills = this.st.snapshot !== null;
    const built = buildChannelPipeline(this.profile, {
      channel: ch.name,
      input: { kind: 'appsrc', width: ch.source.width, height: ch.source.height, fps: ch.source.fps },
      roles: [...(this.opts.decodedCamera ? [] : ['hq' as const]), 'lq', ...(stills ? ['snapshot' as const] : [])],
      thumbnail: stills ? snapshotGeometry(ch).thumbnail : undefined,
    });
    const p = new GstPipeline(built.description, { label: `encode ${ch.name}` });
    this.pipeline = p;
    p.on('error', (e) => this.fail(e));
    p.on('warning', (w) => this.opts.log?.debug({ channel: ch.name, warning: w.message }, 'encode warning'));
    return built;
  }

  /** Starts the parsed pipeline, its recording's syncer and the loops draining its appsinks. */
  private begin(built: ReturnType<typeof buildChannelPipeline>, baseMono: bigint): void {
    const ch = this.opts.channel;
    const p = this.pipeline!;
    p.start();
    this.recorder?.start(baseMono);
    for (const role of (this.opts.decodedCamera ? ['lq'] : ['hq', 'lq']) as H264Role[]) {
      this.loops.push(this.aus[role].run(p.appsink(built.names.sinks[role]!), baseMono).catch((e: Error) => this.fail(e)));
    }
    if (built.names.thumbnail) {
      const stills = new StillsDrain(this.name, this.opts.snapshot!, this.st.snapshot!, this.opts);
      this.loops.push(stills.run(RECORD_KIND_JPEG_STILL, p.appsink(built.names.sinks.snapshot!), baseMono).catch((e: Error) => this.fail(e)));
      this.loops.push(stills.run(RECORD_KIND_JPEG_THUMBNAIL, p.appsink(built.names.thumbnail!), baseMono).catch((e: Error) => this.fail(e)));
    }
    this.opts.onEvent?.({
      type: 'encoder-started', channel: ch.name, profile: this.profile.id, encoder: this.profile.roles.hq.encoder.factory, recording: this.recordingDir,
      snapshot: this.st.snapshot ? { intervalS: this.st.snapshot.intervalS, width: this.st.snapshot.width, height: this.st.snapshot.height } : null,
    });
  }
}
