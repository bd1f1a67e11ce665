/**
 * One channel's encode pipeline: raw frames from the slot ring through the board profile's
 * H.264 encoder into the `hq` and `lq` encoded rings, the hq stream's recording, and the
 * channel's JPEG stills (with thumbnails) into `snap.<channel>`.
 *
 * Contract
 * - Owns: the channel's GstPipeline (appsrc -> tee -> hq/lq encoders -> appsinks, hq also ->
 *   splitmuxsink, snapshot -> jpegenc -> appsinks; built by gst-pipelines/build.ts), the
 *   SegmentSyncer of its recording, the frame counts of its segments. Writes
 *   video.<channel>.hq|lq and snap.<channel>; reads raw.<channel>.
 * - Input: a raw frame is lent to the pipeline in its slot (edge/gst pushShared): the slot
 *   stays held until GStreamer frees the buffer, so the frame is never copied after capture
 *   put it in the ring. Past half the ring's slots held, frames are copied instead. Every
 *   loan has ended before a restarted encoder attaches again: the binding stops a worker's
 *   pipelines as its thread exits, and the supervisor starts the next incarnation after that.
 * - Time: the pipeline's timestamps are capture times. A frame's PTS is its capture time on
 *   the monotonic clock minus `baseMono` (the capture time of the first frame this pipeline
 *   saw), so running time = capture time since the first frame. Encoders may add a constant
 *   (x264enc adds 1000 h); it is measured on each appsink's first sample and taken off again,
 *   so every access unit written to a ring carries the capture time of its raw frame (wall =
 *   the box clock's mapping of that monotonic time).
 * - Records: kind RECORD_KIND_H264_AU, one Annex B access unit each (SPS/PPS repeated before
 *   every IDR by h264parse), FLAG_SYNC on keyframes. Stills: RECORD_KIND_JPEG_STILL and
 *   RECORD_KIND_JPEG_THUMBNAIL (edge/lib/record-kinds.ts), one JPEG each, FLAG_SYNC, stamped
 *   with the capture time of their frame: jpegenc adds no offset and videorate passes the
 *   frame's own PTS, so PTS + `baseMono` is that frame's capture time, exactly the time its
 *   hq/lq access units carry. A still larger than its ring is counted (`tooLarge`) and dropped.
 * - Recording: segments named by the capture time of the first frame (edge/recording
 *   naming), cut by splitmuxsink at the keyframe after `segmentNs`; each open segment is
 *   fdatasync'ed every `fsyncMs` (SegmentSyncer); `segment-opened` / `segment-closed` events
 *   (times as decimal ns strings: events travel as JSON) carry what the catalog needs. Frames
 *   per segment are left to the catalog's owner, which counts them in the closed file
 *   (counting timestamps here was off by one at cuts: splitmuxsink's fragment running times
 *   are not exactly the keyframes' own).
 * - Lifecycle: constructor validates and builds nothing; start() begins waiting for the first
 *   frame, then builds and plays the pipeline; close() sends end-of-stream so the open segment
 *   is finalised (bounded by a deadline), closes the syncer and the pipeline. Idempotent.
 * - Errors: a pipeline error is reported through `onError` (the worker decides: it exits and
 *   the supervisor restarts it, a fresh pipeline and a fresh recording); a parse error of the
 *   built description throws from start().
 * Runs on: video-encode.
 */
import { stat } from 'node:fs/promises';
import { GstPipeline, type GstAppSink } from '../gst/index.js';
import { ENCODER_FACTS, buildChannelPipeline, type H264Role, type Profile } from '../../gst-pipelines/index.js';
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { RECORD_KIND_H264_AU, RECORD_KIND_JPEG_STILL, RECORD_KIND_JPEG_THUMBNAIL } from '../lib/record-kinds.js';
import { FLAG_SYNC, RecordTooLargeError, type RingProducer, type SlotConsumer } from '../lib/ring/index.js';
import { SegmentSyncer, parseSegmentPath, prepareRecordingDir, recordingLocation, type SegmentExtension } from '../recording/index.js';
import type { ChannelConfig } from '../config/index.js';
import { bitrateProperty, channelProfile } from './profile.js';
import { snapshotGeometry } from './snapshot.js';

/** Record kind of one H.264 access unit (Annex B) in an encoded ring. */

export interface EncoderRecording {
  /** Root folder of recordings (segments go to <root>/<channel>/<yyyymmdd>/). */
  root: string;
  segmentNs: bigint;
  fsyncMs: number;
}

export interface EncoderEvent {
  type: 'segment-opened' | 'segment-closed' | 'encoder-started';
  [k: string]: unknown;
}

export interface EncoderOptions {
  channel: ChannelConfig;
  /** The board profile (not yet fitted to the channel). */
  profile: Profile;
  input: SlotConsumer;
  out: Record<H264Role, RingProducer>;
  /** `snap.<channel>`: stills and thumbnails. Without it (or with the channel's snapshots
   *  off) the pipeline has no snapshot branch. */
  snapshot?: RingProducer;
  clock: BoxClock;
  recording?: EncoderRecording;
  log?: Logger;
  onEvent?: (e: EncoderEvent) => void;
  onError?: (e: Error) => void;
}

export interface EncoderStats {
  framesIn: number;
  /** Of framesIn, those handed to GStreamer in their ring slot, without a copy (the rest were copied). */
  framesLent: number;
  pushRefused: number;
  out: Record<H264Role, { aus: number; keyframes: number; bytes: number }>;
  segmentsClosed: number;
  /** Encode latency (capture -> access unit in the ring), ms, last few seconds: p50/p99. */
  latencyMs: Record<H264Role, { p50: number; p99: number }>;
  /** The encoders' target bitrate as read back from the elements, kbit/s (null before the
   *  pipeline runs, or where the encoder keeps it inside a structure). */
  bitrateKbps: Record<H264Role, number | null>;
  /** JPEG stills (null when the channel takes none). */
  snapshot: SnapshotStats | null;
}

export interface SnapshotStats {
  intervalS: number;
  width: number;
  height: number;
  stills: number;
  thumbnails: number;
  /** Bytes of the last still. */
  lastBytes: number;
  /** Capture time of the last still, ns since the epoch (decimal string: stats travel as JSON). */
  lastCaptureNs: string | null;
  /** Stills (or thumbnails) larger than the ring could hold, dropped. */
  tooLarge: number;
}

interface OpenSeg { path: string; seq: number; startRt: number }

export class ChannelEncoder {
  readonly name: string;
  readonly profile: Profile;
  private pipeline: GstPipeline | undefined;
  private state: 'new' | 'running' | 'closing' | 'closed' = 'new';
  private baseMono = 0n;
  private firstPushedPts = -1;
  private recordingDir: string | null = null;
  private readonly offsets: Partial<Record<H264Role, number>> = {};
  private syncer: SegmentSyncer | undefined;
  private readonly openSegs = new Map<string, OpenSeg>();
  private closing: Promise<void> | undefined;
  private loops: Promise<unknown>[] = [];
  private pendingEvents: Promise<unknown>[] = [];
  private readonly lat: Record<H264Role, number[]> = { hq: [], lq: [] };
  private readonly st: EncoderStats = {
    framesIn: 0, framesLent: 0, pushRefused: 0, segmentsClosed: 0,
    out: { hq: { aus: 0, keyframes: 0, bytes: 0 }, lq: { aus: 0, keyframes: 0, bytes: 0 } },
    latencyMs: { hq: { p50: 0, p99: 0 }, lq: { p50: 0, p99: 0 } },
    bitrateKbps: { hq: null, lq: null },
    snapshot: null,
  };
  private warnedTooLarge = false;

  constructor(private readonly opts: EncoderOptions) {
    this.name = opts.channel.name;
    this.profile = channelProfile(opts.profile, opts.channel);
    if (opts.snapshot && opts.channel.snapshot.enabled) {
      const s = this.profile.roles.snapshot;
      this.st.snapshot = { intervalS: s.intervalS, width: s.width, height: s.height, stills: 0, thumbnails: 0, lastBytes: 0, lastCaptureNs: null, tooLarge: 0 };
    }
  }

  stats(): EncoderStats {
    for (const r of ['hq', 'lq'] as H264Role[]) {
      const a = [...this.lat[r]].sort((x, y) => x - y);
      const q = (p: number): number => (a.length ? Math.round(a[Math.min(a.length - 1, Math.floor(p * a.length))] * 10) / 10 : 0);
      this.st.latencyMs[r] = { p50: q(0.5), p99: q(0.99) };
      this.st.bitrateKbps[r] = this.readBitrate(r);
    }
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
    if (!this.pipeline) throw new RangeError('the channel\'s pipeline is not built yet');
    this.pipeline.set(`${this.name}-${role}-enc`, prop, value);
    const back = this.readBitrate(role);
    if (back !== kbps) throw new RangeError(`${enc} reads back ${back} kbit/s after being set`);
    return back;
  }

  /** The encoder's current target bitrate, kbit/s; null before the pipeline runs or where it
   *  cannot be read as one property. */
  readBitrate(role: H264Role): number | null {
    const p = this.pipeline;
    if (!p || p.state === 'closed') return null;
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
    this.opts.input.wake(); // the frame loop waits untimed
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
      // Bus messages of the final fragment arrive with the EOS; let their handlers finish.
      await Promise.race([Promise.all(this.pendingEvents), new Promise((r) => setTimeout(r, Math.min(1000, left())))]);
    }
    await this.syncer?.close();
    p?.close();
    this.state = 'closed';
  }

  private fail(e: Error): void {
    if (this.state !== 'running') return;
    this.opts.log?.error({ channel: this.name, err: e }, 'encode pipeline failed');
    this.opts.onError?.(e);
  }

  // ---- input ----

  private async feed(): Promise<void> {
    // Everything slow is done before the first frame is asked for: the recording folder's
    // fsyncs and parsing the pipeline (tens of ms, most of a build). video-capture starts a
    // channel's source only once its encoder has asked (SlotProducer.consumersReady), so the
    // first frame finds an encoder that only has to name its recording and start; frames
    // captured meanwhile wait in the ring, and a wait longer than its slots would lose some.
    const ch = this.opts.channel;
    const rec = ch.record ? this.opts.recording : undefined;
    const ext = this.profile.recording.extension as SegmentExtension;
    let preparedDir = '';
    if (rec) {
      preparedDir = recordingLocation(rec.root, this.name, this.opts.clock.wallNs(), ext).dir;
      await prepareRecordingDir(preparedDir);
    }
    if (this.state !== 'running') return;
    const built = this.parse(rec);
    const input = this.opts.input;
    let first = input.acquire();
    while (!first && this.state === 'running') { await input.wait(); first = input.acquire(); }
    if (!first) return;
    // The first frame's capture time names the recording and is running time 0.
    this.baseMono = first.monoNs;
    try {
      if (rec) {
        const location = recordingLocation(rec.root, this.name, first.wallNs, ext);
        if (location.dir !== preparedDir) await prepareRecordingDir(location.dir); // the day changed meanwhile
        this.pipeline!.set(built.names.recorder!, 'location', location.pattern);
        this.recordingDir = location.dir;
      }
      this.begin(built, rec);
    } catch (e) {
      input.release(first);
      throw e;
    }
    const src = this.pipeline!.appsrc(`${this.name}-src`);
    const frameNs = Math.round(1e9 / ch.source.fps);
    // Frames are lent to GStreamer, not copied, while this encoder holds at most half the
    // ring's slots: an element that keeps its input (a queue backing up, an encoder holding
    // frames it has not encoded yet, videorate's last frame) must not leave capture without
    // free slots. Past that they are copied and the slot given back at once.
    const lendMax = Math.max(1, Math.floor(input.slots / 2));
    let held: typeof first | undefined = first;
    while (this.state === 'running') {
      const f = held ?? input.acquire();
      held = undefined;
      if (!f) { await input.wait(); continue; }
      const pts = Number(f.monoNs - this.baseMono);
      if (pts < 0) { input.release(f); continue; } // a frame older than the first (a restarted producer's leftovers)
      const lend = input.holding() <= lendMax;
      let pushed: boolean;
      try {
        const timing = { ptsNs: pts, durationNs: frameNs };
        pushed = lend ? src.pushShared(f.bytes, timing, input.loan(f)) : src.push(f.bytes, timing);
      } catch (e) {
        input.release(f); // a push that throws lent nothing
        throw e;
      }
      if (!lend) input.release(f); // copied: the slot is free at once
      if (!pushed) this.st.pushRefused++;
      else {
        if (this.firstPushedPts < 0) this.firstPushedPts = pts;
        this.st.framesIn++;
        if (lend) this.st.framesLent++;
      }
    }
  }

  /** Parses the channel's pipeline (not started; its recording location is set at the first frame). */
  private parse(rec: EncoderRecording | undefined): ReturnType<typeof buildChannelPipeline> {
    const ch = this.opts.channel;
    const stills = this.st.snapshot !== null;
    const built = buildChannelPipeline(this.profile, {
      channel: ch.name,
      input: { kind: 'appsrc', width: ch.source.width, height: ch.source.height, fps: ch.source.fps },
      roles: stills ? ['hq', 'lq', 'snapshot'] : ['hq', 'lq'],
      // A placeholder: splitmuxsink reads its location when it starts.
      recording: rec ? { location: 'unnamed-%05d', segmentNs: rec.segmentNs } : undefined,
      thumbnail: stills ? snapshotGeometry(ch).thumbnail : undefined,
    });
    const p = new GstPipeline(built.description, { label: `encode ${ch.name}` });
    this.pipeline = p;
    p.on('error', (e) => this.fail(e));
    p.on('warning', (w) => this.opts.log?.debug({ channel: ch.name, warning: w.message }, 'encode warning'));
    p.on('element', (m) => {
      if (m.kind === 'fragment-opened') this.track(this.onOpened(m.location, m.runningTimeNs));
      else if (m.kind === 'fragment-closed') this.track(this.onClosed(m.location, m.runningTimeNs));
    });
    return built;
  }

  /** Starts the parsed pipeline, its recording's syncer and the loops draining its appsinks. */
  private begin(built: ReturnType<typeof buildChannelPipeline>, rec: EncoderRecording | undefined): void {
    const ch = this.opts.channel;
    const p = this.pipeline!;
    if (rec) {
      this.syncer = new SegmentSyncer({
        periodMs: rec.fsyncMs,
        now: () => this.opts.clock.wallNs(),
        onError: (err, path) => this.opts.log?.warn({ err, path }, 'segment sync failed'),
      });
      this.syncer.start();
    }
    p.start();
    for (const role of ['hq', 'lq'] as H264Role[]) {
      this.loops.push(this.drain(role, p.appsink(built.names.sinks[role]!)).catch((e: Error) => this.fail(e)));
    }
    if (built.names.thumbnail) {
      this.loops.push(this.drainStills(RECORD_KIND_JPEG_STILL, p.appsink(built.names.sinks.snapshot!)).catch((e: Error) => this.fail(e)));
      this.loops.push(this.drainStills(RECORD_KIND_JPEG_THUMBNAIL, p.appsink(built.names.thumbnail!)).catch((e: Error) => this.fail(e)));
    }
    this.opts.onEvent?.({
      type: 'encoder-started', channel: ch.name, profile: this.profile.id, encoder: this.profile.roles.hq.encoder.factory, recording: this.recordingDir,
      snapshot: this.st.snapshot ? { intervalS: this.st.snapshot.intervalS, width: this.st.snapshot.width, height: this.st.snapshot.height } : null,
    });
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((e: Error) => this.opts.log?.warn({ err: e, channel: this.name }, 'segment bookkeeping failed'));
    this.pendingEvents.push(q);
    void q.finally(() => { this.pendingEvents = this.pendingEvents.filter((x) => x !== q); });
  }

  // ---- output ----

  private async drain(role: H264Role, sink: GstAppSink): Promise<void> {
    const ring = this.opts.out[role];
    const st = this.st.out[role];
    const lat = this.lat[role];
    // Each access unit is copied by the binding into this buffer and from it into the ring:
    // nothing is allocated per access unit (a Buffer per AU kept V8's collector busy). Its
    // untouched pages cost no memory.
    const scratch = new Uint8Array(ring.maxPayload);
    for (;;) {
      const s = await sink.pullInto(scratch);
      if (!s) return;
      if (s.size > scratch.length) throw new RecordTooLargeError(s.size, scratch.length);
      const pts = s.ptsNs ?? 0;
      // The first access unit is the first frame pushed: the difference is what the encoder
      // added to every timestamp (x264enc: 1000 h minus the first PTS).
      const off = (this.offsets[role] ??= pts - Math.max(0, this.firstPushedPts));
      const rt = pts - off;
      const mono = this.baseMono + BigInt(rt);
      const wall = this.opts.clock.toWall(mono);
      ring.write(RECORD_KIND_H264_AU, s.keyframe ? FLAG_SYNC : 0, wall, mono, scratch.subarray(0, s.size));
      st.aus++;
      st.bytes += s.size;
      if (s.keyframe) st.keyframes++;
      lat.push(Number(process.hrtime.bigint() - mono) / 1e6);
      if (lat.length > 300) lat.splice(0, lat.length - 300);
    }
  }

  /** Stills or thumbnails from their appsink into `snap.<channel>`, stamped with their frame's capture time. */
  private async drainStills(kind: number, sink: GstAppSink): Promise<void> {
    const ring = this.opts.snapshot!;
    const st = this.st.snapshot!;
    for (;;) {
      const s = await sink.pull();
      if (!s) return;
      if (s.ptsNs === null) continue; // never seen: every pushed frame has a PTS
      const mono = this.baseMono + BigInt(s.ptsNs);
      const wall = this.opts.clock.toWall(mono);
      try {
        ring.write(kind, FLAG_SYNC, wall, mono, s.data);
      } catch (e) {
        if (!(e instanceof RecordTooLargeError)) throw e;
        st.tooLarge++;
        if (!this.warnedTooLarge) {
          this.warnedTooLarge = true;
          this.opts.log?.warn({ channel: this.name, bytes: e.payloadBytes, max: e.maxPayloadBytes }, 'JPEG still larger than its ring: dropped (lower the snapshot width or the profile\'s jpegenc quality)');
        }
        continue;
      }
      if (kind === RECORD_KIND_JPEG_STILL) {
        st.stills++;
        st.lastBytes = s.data.length;
        st.lastCaptureNs = String(wall);
      } else {
        st.thumbnails++;
      }
    }
  }

  // ---- recording ----

  private wallAtRt(rt: number): bigint {
    return this.opts.clock.toWall(this.baseMono + BigInt(Math.max(0, Math.round(rt))));
  }

  private async onOpened(path: string, rt: number): Promise<void> {
    const seq = parseSegmentPath(path)?.seq ?? 0;
    this.openSegs.set(path, { path, seq, startRt: rt });
    this.opts.onEvent?.({ type: 'segment-opened', channel: this.name, seq, path, startNs: String(this.wallAtRt(rt)) });
    await this.syncer?.segmentOpened(path);
  }

  private async onClosed(path: string, rt: number): Promise<void> {
    // splitmuxsink opens the next fragment before it reports the previous one closed.
    const seg = this.openSegs.get(path) ?? { path, seq: parseSegmentPath(path)?.seq ?? 0, startRt: 0 };
    this.openSegs.delete(path);
    await this.syncer?.segmentClosed(path);
    this.st.segmentsClosed++;
    const bytes = await stat(path).then((st) => st.size, () => 0);
    this.opts.onEvent?.({
      type: 'segment-closed', channel: this.name, seq: seg.seq, path,
      startNs: String(this.wallAtRt(seg.startRt)), endNs: String(this.wallAtRt(rt)), bytes,
      // What the file holds is counted by the catalog's owner in the file itself (frame-scan).
      frames: null,
    });
  }
}
