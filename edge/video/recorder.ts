/**
 * One channel's recording of its hq stream: the recorder decides where segments are cut and
 * muxes each segment in a pipeline of its own (gst-pipelines buildSegmentPipeline), fed with
 * the access units the encode pipeline hands to JavaScript, or (passthrough-recorder.ts) the
 * ones a camera sent. One recorder for both kinds of channel.
 *
 * Contract
 * - Owns: the segment pipelines of the moment (the open one, and the one being finalised
 *   after a cut), its segment bookkeeping (segments.ts), the recording's state
 *   (RecordingStatus) and the free-space poll while it is stopped.
 * - Crash safety: every access unit goes through the muxer to the file as it comes (no
 *   splitmuxsink, which held the open GOP in memory to decide its cut: a crash lost a GOP), so
 *   a kill -9 loses the frames in flight (encoder and pipeline, about two) and a power cut
 *   also what the fsync loop had not yet made durable (`fsyncMs`), whatever the GOP.
 * - Segment cuts: at the first keyframe at least `segmentNs` after the segment's first frame,
 *   the next segment's pipeline is made and gets that keyframe, and the previous one gets
 *   end-of-stream (it finalises: cues, duration) in the background. For an encoded channel
 *   the recorder asks for that keyframe when the segment is due (requestKeyframe); a camera's
 *   keyframes come when they come. Segments of one recording share its name stamp and PTS
 *   timeline (running time since its first frame), numbered from 0. A cut costs the JS thread
 *   about 2 ms (parse and play of the next pipeline, measured on x86; the first one of a
 *   process ~80 ms while the plugins load), inside the appsrc's 3 s of slack.
 * - Why apart from the encode pipeline: a write error (a full disk, a failing card) ends this
 *   recording only; the channel keeps encoding and streaming. Inside the encode pipeline the
 *   error went up through the tee, video-encode exited and every viewer stalled while it
 *   crash-looped.
 * - States: off (the channel does not record) | armed (waits for a keyframe to begin) |
 *   opening (folder being made; access units queue, bounded) | recording | stopped (failed:
 *   polls free space) | closed. A failure closes the segment pipelines, finishes their
 *   segments (one that got no frame is deleted: `segment-discarded`; one with frames is
 *   closed as usual) and says why (`recording-state`, e.g. "recording stopped: disk full on
 *   /data/recordings, 0 B free"). It is armed again once `resumeFreeBytes` are free (a full
 *   disk) or after a capped backoff (other errors), and asks the encoder for a keyframe, so a
 *   new recording (new name, from its first frame's capture time) starts at once.
 * - Audio (a channel with `audio`): each segment pipeline has an AAC-LC track fed by the
 *   recording's RecordingAudioFeed (edge/audio/record-feed.ts: PCM through writeAudio(),
 *   stamped on the video's running time from the recording's first frame, silence filled when
 *   none comes, gaps as `recording-audio-gap`). At a cut, audio before the cut's time goes to
 *   the old segment, the rest to the new one; the old segment's audio ends at the first
 *   sample past the cut (or after `AUDIO_CUT_WAIT_MS`). A failure ends it with the video, a
 *   resume starts a new one.
 * - Vitals (`vitals`, a Matroska profile): each segment pipeline has a text track, a cue per
 *   frame pushed right after it with what the monitors showed at its capture time
 *   (record-vitals.ts; samples through writeVitals()). The display state outlives segments
 *   and recordings (an NIBP taken before a cut is still shown after it).
 * - Lifecycle: start(baseMono) once the stream runs; push() per hq access unit; close(deadlineMs)
 *   sends end-of-stream so the open segment is finalised. Idempotent.
 * - Errors: never thrown to the caller (push is on the live path); logged and reported as state.
 * Runs on: video-encode.
 */
import { statfs, unlink } from 'node:fs/promises';
import { buildSegmentPipeline, type Profile } from '../../gst-pipelines/index.js';
import { GstPipeline, type GstAppSrc, type GstError, type PushOptions } from '../gst/index.js';
import { Backoff } from '../lib/backoff.js';
import { prepareRecordingDir, recordingLocation, scanSegment, type RecordingLocation, type SegmentExtension } from '../recording/index.js';
import { RecordingAudioFeed, type RecordingAudioStats } from '../audio/index.js';
import type { VitalSample } from '../devices/index.js';
import { RecordingSegments } from './segments.js';
import { RecordingVitalsText, cueDurationNs } from './record-vitals.js';
import type { EncoderOptions, EncoderRecording, EncoderStats, RecorderState, RecordingStatus } from './encoder-types.js';

export type { RecorderState, RecordingStatus } from './encoder-types.js';

export interface ChannelRecorderOptions extends Pick<EncoderOptions, 'clock' | 'log' | 'onEvent'> {
  channel: string;
  /** The channel's fitted profile (muxer, extension). */
  profile: Profile;
  recording: EncoderRecording;
  counts: Pick<EncoderStats, 'segmentsClosed'>;
  /** Forces an IDR on the hq stream (segment cuts, restarts); a camera's channel passes a no-op. */
  requestKeyframe: () => void;
  /** Free space a stopped recording needs before it starts again after a full disk, bytes.
   *  Default 8 MiB (a few seconds of a 1080p hq stream, enough for a segment's first GOPs). */
  resumeFreeBytes?: number;
  /** Free-space poll period while stopped, ms. Default 1000. */
  pollMs?: number;
  /** The channel's audio input, recorded as AAC-LC next to the video (PCM through writeAudio()). */
  audio?: { input: string; rate: number; channels: number };
  /** The monitors' numerics as a text track (samples through writeVitals()); `fps` sets the cue length. */
  vitals?: { fps: number };
}

/** Access units held while the folder is made (a couple of seconds at 60 fps). */
const MAX_QUEUED = 150;
/** How long a finished segment's audio waits for the first sample past the cut, ms. */
const AUDIO_CUT_WAIT_MS = 1000;
/** How long a finished segment may take to finalise (end-of-stream through its muxer), ms. */
const FINALISE_MS = 5000;

/** One segment: its file and the pipeline muxing into it. */
interface Segment {
  readonly seq: number;
  readonly path: string;
  readonly startRt: number;
  readonly pipeline: GstPipeline;
  readonly src: GstAppSrc;
  readonly audioSrc: GstAppSrc | undefined;
  readonly vitalsSrc: GstAppSrc | undefined;
  audioEnded: boolean;
  /** Closed by a failure or close(): finalising stops, the failure handler owns its bookkeeping. */
  aborted: boolean;
  /** Resolves at the pipeline's end-of-stream, or when wake() is called (a failure, close()). */
  readonly ended: Promise<void>;
  readonly wake: () => void;
}

export class ChannelRecorder {
  private state: RecorderState = 'off';
  /** The recording of the moment: where its segments go, the next segment's number. */
  private loc: RecordingLocation | undefined;
  private nextSeq = 0;
  /** The segment frames go to now. */
  private cur: Segment | undefined;
  /** Segments after their cut, finalising (normally one, for a moment). */
  private readonly ending = new Set<Segment>();
  private segments: RecordingSegments | undefined;
  /** The audio feed of the recording of the moment (fresh after a resume). */
  private audioFeed: RecordingAudioFeed | undefined;
  /** Audio routing at a cut: samples before `audioCutRt` still go to `audioOld`. */
  private audioOld: Segment | undefined;
  private audioCutRt = 0;
  private audioCutTimer: NodeJS.Timeout | undefined;
  /** Audio counts of the feeds before the current one. */
  private readonly audioDone: RecordingAudioStats = { records: 0, gapRecords: 0, filledMs: 0, dropped: 0, pushRefused: 0 };
  private baseMono = 0n;
  private queued: { au: Uint8Array; rt: number; keyframe: boolean }[] = [];
  private keyframeAsked = false;
  private lastRt = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private retryAt = 0;
  private diskFull = false;
  private closing: Promise<void> | undefined;
  private finishing: Promise<void> = Promise.resolve();
  private readonly retry = new Backoff({ minMs: 1000, maxMs: 30_000, jitter: 0.2 });
  private readonly resumeFree: number;
  private readonly st: RecordingStatus = { state: 'off', reason: null, freeBytes: null, starts: 0, failures: 0, discarded: 0, skipped: 0 };
  private readonly vitals: RecordingVitalsText | undefined;
  private readonly cueNs: number;

  constructor(private readonly opts: ChannelRecorderOptions) {
    this.resumeFree = opts.resumeFreeBytes ?? 8 * 1024 * 1024;
    const mkv = opts.profile.recording.muxer === 'matroskamux';
    if (opts.vitals && !mkv) opts.log?.warn({ channel: opts.channel, muxer: opts.profile.recording.muxer }, 'recording without the vitals text track: this profile records MPEG-TS, which carries no text');
    this.vitals = opts.vitals && mkv ? new RecordingVitalsText() : undefined;
    this.cueNs = cueDurationNs(opts.vitals?.fps ?? 30);
    if (!Number.isInteger(this.resumeFree) || this.resumeFree < 0) throw new RangeError(`recorder ${opts.channel}: resumeFreeBytes must be a non-negative integer (got ${opts.resumeFreeBytes})`);
    if (opts.pollMs !== undefined && !(opts.pollMs >= 10)) throw new RangeError(`recorder ${opts.channel}: pollMs must be >= 10 (got ${opts.pollMs})`);
  }

  /** The state read afresh (TypeScript narrows `this.state` across calls that change it). */
  private current(): RecorderState {
    return this.state;
  }

  status(): RecordingStatus {
    return { ...this.st, state: this.state };
  }

  /** The recording's audio counts, summed over its pipelines (null without audio). */
  audioStats(): RecordingAudioStats | null {
    if (!this.opts.audio) return null;
    const cur = this.audioFeed?.stats();
    const d = this.audioDone;
    return cur
      ? { records: d.records + cur.records, gapRecords: d.gapRecords + cur.gapRecords, filledMs: d.filledMs + cur.filledMs, dropped: d.dropped + cur.dropped, pushRefused: d.pushRefused + cur.pushRefused }
      : { ...d };
  }

  /** One PCM record of the audio input (valid during the call); dropped unless recording. */
  writeAudio(pcm: Uint8Array, flags: number, wallNs: bigint, monoNs: bigint): void {
    this.audioFeed?.write(pcm, flags, wallNs, monoNs);
  }

  /** One monitor sample (numerics, alarms, gaps; waves are not shown); dropped without a vitals track. */
  writeVitals(s: VitalSample): void {
    this.vitals?.write(s);
  }

  /** Begins recording at the next keyframe; PTS of pushed units count from `baseMono`. */
  start(baseMono: bigint): void {
    if (this.state !== 'off') return;
    this.baseMono = baseMono;
    this.setState('armed', null);
  }

  /**
   * One hq access unit (Annex B) at running time `rt` (ns since baseMono). The bytes are read
   * during the call only (copied if they must wait).
   */
  push(au: Uint8Array, rt: number, keyframe: boolean): void {
    const s = this.state;
    if (s === 'off' || s === 'closed') return;
    if (s === 'stopped' || (s === 'armed' && !keyframe)) { this.st.skipped++; return; }
    if (s === 'armed') { this.open(rt); }
    if (this.state === 'opening') {
      if (this.queued.length < MAX_QUEUED) this.queued.push({ au: au.slice(), rt, keyframe });
      else this.st.skipped++;
      return;
    }
    this.write(au, rt, keyframe);
  }

  /** Finalises the open segment (end-of-stream, up to `deadlineMs`) and releases everything. */
  close(deadlineMs = 3000): Promise<void> {
    this.closing ??= this.doClose(deadlineMs);
    return this.closing;
  }

  private write(au: Uint8Array, rt: number, keyframe: boolean): void {
    const segNs = Number(this.opts.recording.segmentNs);
    let seg = this.cur;
    if (seg && keyframe && rt - seg.startRt >= segNs) {
      const old = seg;
      seg = this.cur = this.openSegment(rt);
      this.endSegment(old, rt);
    }
    // The first frame of a recording is a keyframe (armed waits for one), so is every cut's.
    seg ??= this.cur = this.openSegment(rt);
    if (!seg) return;
    // Ask for the cut's keyframe a little early, so it comes at the segment length.
    if (!this.keyframeAsked && rt - seg.startRt >= segNs - 50_000_000) { this.keyframeAsked = true; this.opts.requestKeyframe(); }
    this.lastRt = rt;
    try {
      if (!seg.src.push(au, { ptsNs: rt, keyframe })) this.st.skipped++;
      // Right after the frame, so the muxer never waits on the text pad.
      if (seg.vitalsSrc) seg.vitalsSrc.push(this.vitals!.cueFor(this.opts.clock.toWall(this.baseMono + BigInt(rt))), { ptsNs: rt, durationNs: this.cueNs });
    } catch {
      this.st.skipped++; // closed under us by a failure: its handler reports it
    }
  }

  private open(rt: number): void {
    this.setState('opening', null);
    const wall = this.opts.clock.toWall(this.baseMono + BigInt(rt));
    void this.begin(wall, rt).then(
      () => {
        if (this.state !== 'opening') return;
        this.setState('recording', null);
        this.st.starts++;
        const q = this.queued;
        this.queued = [];
        for (const x of q) if (this.current() === 'recording') this.write(x.au, x.rt, x.keyframe);
      },
      (err: Error) => this.fail(err),
    );
  }

  /** A new recording: its folder, bookkeeping and audio feed; segments open as frames come. */
  private async begin(startWall: bigint, startRt: number): Promise<void> {
    const rec = this.opts.recording;
    const ext = this.opts.profile.recording.extension as SegmentExtension;
    const loc = recordingLocation(rec.root, this.opts.channel, startWall, ext);
    await prepareRecordingDir(loc.dir);
    if (this.state !== 'opening') return;
    this.loc = loc;
    this.nextSeq = 0;
    const segs = new RecordingSegments(this.opts.channel, this.opts.counts, this.opts);
    this.segments = segs;
    segs.start(this.baseMono, rec);
    const a = this.opts.audio;
    if (a) {
      const ch = this.opts.channel;
      const feed = new RecordingAudioFeed({
        channel: ch, rate: a.rate, channels: a.channels, clock: this.opts.clock,
        onGap: (start, end, filled) => this.opts.onEvent?.({ type: 'recording-audio-gap', channel: ch, input: a.input, startNs: String(start), endNs: String(end), filled }),
      });
      // The audio starts with the recording's first frame: no sound before the first picture.
      feed.start({ push: (data, o) => this.pushAudio(data, o) }, this.baseMono, startRt);
      this.audioFeed = feed;
    }
  }

  /** Segment `nextSeq` from running time `rt`: its pipeline plays, its file exists. */
  private openSegment(rt: number): Segment | undefined {
    const loc = this.loc!;
    const seq = this.nextSeq++;
    const path = loc.pathOf(seq);
    const a = this.opts.audio;
    let p: GstPipeline | undefined;
    try {
      const built = buildSegmentPipeline(this.opts.profile, this.opts.channel, { path, ...(a ? { audio: { rate: a.rate, channels: a.channels } } : {}), vitals: this.vitals !== undefined });
      p = new GstPipeline(built.description, { label: `record ${this.opts.channel} #${seq}` });
      p.on('error', (e) => this.fail(e));
      p.start();
      let wake!: () => void;
      const ended = new Promise<void>((r) => { wake = r; });
      p.once('eos', wake);
      const seg: Segment = {
        seq, path, startRt: rt, pipeline: p, src: p.appsrc(built.names.source),
        audioSrc: built.names.audio ? p.appsrc(built.names.audio) : undefined,
        vitalsSrc: built.names.vitals ? p.appsrc(built.names.vitals) : undefined,
        audioEnded: false, aborted: false, ended, wake,
      };
      this.keyframeAsked = false;
      // filesink made the file when the pipeline started: the syncer can open it.
      this.segments!.opened(path, rt);
      return seg;
    } catch (e) {
      p?.close();
      this.fail(e as Error);
      return undefined;
    }
  }

  /** Segment `seg` ends at running time `endRt` (the next one's first frame): it finalises in the background. */
  private endSegment(seg: Segment, endRt: number): void {
    this.ending.add(seg);
    if (seg.audioSrc) {
      this.audioOld = seg;
      this.audioCutRt = endRt;
      clearTimeout(this.audioCutTimer);
      this.audioCutTimer = setTimeout(() => this.endOldAudio(), AUDIO_CUT_WAIT_MS);
    }
    this.endVideoOf(seg);
    void this.finalise(seg, endRt, FINALISE_MS);
  }

  /** Waits for `seg`'s end-of-stream (its muxer has written cues and duration), then books it closed. */
  private async finalise(seg: Segment, endRt: number, deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      seg.ended.then(() => !seg.aborted),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), deadlineMs); }),
    ]);
    clearTimeout(timer);
    this.ending.delete(seg);
    if (seg.aborted) return; // the failure handler finishes it
    if (!drained) this.opts.log?.warn({ channel: this.opts.channel, path: seg.path }, 'segment did not finalise in time; it is closed as it is (readable up to its last frame)');
    await seg.pipeline.stop({ eos: false }).catch(() => undefined);
    seg.pipeline.close();
    await this.segments?.closed(seg.path, endRt);
  }

  /** The feed's samples: before the cut's time to the finishing segment, the rest to the open one. */
  private pushAudio(data: Uint8Array, o: PushOptions): boolean {
    const old = this.audioOld;
    if (old && Number(o.ptsNs) < this.audioCutRt) return this.pushTo(old, data, o);
    if (old) this.endOldAudio();
    const cur = this.cur;
    return cur ? this.pushTo(cur, data, o) : false;
  }

  private pushTo(seg: Segment, data: Uint8Array, o: PushOptions): boolean {
    if (!seg.audioSrc || seg.audioEnded || seg.aborted) return false;
    try { return seg.audioSrc.push(data, o); } catch { return false; }
  }

  private endOldAudio(): void {
    clearTimeout(this.audioCutTimer);
    const old = this.audioOld;
    this.audioOld = undefined;
    if (old) this.endAudioOf(old);
  }

  /** A segment's video ends, and its text track with it (the text follows the frames). */
  private endVideoOf(seg: Segment): void {
    try { seg.src.endOfStream(); seg.vitalsSrc?.endOfStream(); } catch { /* closed by a failure */ }
  }

  /** A segment's audio pad ends (the muxer finalises once all its pads have). */
  private endAudioOf(seg: Segment): void {
    if (!seg.audioSrc || seg.audioEnded) return;
    seg.audioEnded = true;
    try { seg.audioSrc.endOfStream(); } catch { /* closed by a failure */ }
  }

  /** The current audio feed ends (its counts kept). */
  private endAudio(): void {
    const f = this.audioFeed;
    if (!f) return;
    f.close();
    const s = f.stats();
    const d = this.audioDone;
    d.records += s.records; d.gapRecords += s.gapRecords; d.filledMs += s.filledMs; d.dropped += s.dropped; d.pushRefused += s.pushRefused;
    this.audioFeed = undefined;
    this.endOldAudio();
  }

  /** Every segment of the recording of the moment, open or finalising. */
  private allSegments(): Segment[] {
    return [...(this.cur ? [this.cur] : []), ...this.ending];
  }

  /** The recording failed: the pipeline goes, its segments are finished, the poll begins. */
  private fail(err: Error): void {
    if (this.state !== 'recording' && this.state !== 'opening') return;
    const open = this.allSegments();
    const segs = this.segments;
    this.cur = undefined;
    this.ending.clear();
    this.segments = undefined;
    this.loc = undefined;
    this.endAudio();
    this.queued = [];
    this.st.failures++;
    // Stopped at once (push() skips from now on); the event waits for the free-space check
    // below, so the first word out already says whether the disk is full.
    this.state = 'stopped';
    for (const seg of open) { seg.aborted = true; seg.pipeline.close(); seg.wake(); }
    this.finishing = this.finishing.then(async () => {
      const free = await this.freeBytes();
      const text = `${err.message} ${(err as GstError).debug ?? ''} ${(err as NodeJS.ErrnoException).code ?? ''}`;
      this.diskFull = /no space|ENOSPC|disk full|quota/i.test(text) || (free !== null && free < this.resumeFree);
      const reason = this.diskFull
        ? `recording stopped: disk full on ${this.opts.recording.root}, ${free ?? '?'} B free`
        : `recording stopped: ${err.message}`;
      this.opts.log?.warn({ channel: this.opts.channel, err, freeBytes: free }, reason);
      if (this.current() === 'stopped') this.setState('stopped', reason);
      if (segs) await this.finishSegments(segs);
      this.retryAt = Date.now() + this.retry.next();
      if (this.state === 'stopped') this.poll();
    }).catch((e: Error) => this.opts.log?.warn({ err: e, channel: this.opts.channel }, 'recorder failure handling failed'));
  }

  /** Segments left open by a failed pipeline: none with frames is lost, none without is kept. */
  private async finishSegments(segs: RecordingSegments): Promise<void> {
    await Promise.race([segs.settled(), new Promise((r) => setTimeout(r, 1000))]);
    for (const path of segs.openPaths()) {
      const frames = scanSegment(path)?.frames ?? 0;
      if (frames === 0) {
        await unlink(path).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') this.opts.log?.warn({ err: e, path }, 'empty segment not deleted'); });
        this.st.discarded++;
        await segs.discard(path);
      } else {
        await segs.closeAfterFailure(path, this.lastRt);
      }
    }
    await segs.close();
  }

  private poll(): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      void (async () => {
        if (this.state !== 'stopped') return;
        const free = await this.freeBytes();
        const ready = this.diskFull ? free !== null && free >= this.resumeFree : Date.now() >= this.retryAt;
        if (this.state !== 'stopped') return;
        if (!ready) {
          if (this.diskFull) this.setState('stopped', `recording stopped: disk full on ${this.opts.recording.root}, ${free ?? '?'} B free`);
          return this.poll();
        }
        this.opts.log?.info({ channel: this.opts.channel, freeBytes: free }, 'recording resumes');
        this.setState('armed', null);
        this.opts.requestKeyframe();
      })();
    }, this.opts.pollMs ?? 1000);
  }

  private async freeBytes(): Promise<number | null> {
    try {
      const s = await statfs(this.opts.recording.root);
      this.st.freeBytes = s.bavail * s.bsize;
    } catch {
      this.st.freeBytes = null;
    }
    return this.st.freeBytes;
  }

  private setState(state: RecorderState, reason: string | null): void {
    const changed = state !== this.state || reason !== this.st.reason;
    this.state = state;
    this.st.state = state;
    this.st.reason = reason;
    if (state === 'recording') this.retry.reset();
    if (changed && state !== 'opening') {
      this.opts.onEvent?.({ type: 'recording-state', channel: this.opts.channel, state, reason, freeBytes: this.st.freeBytes });
    }
  }

  private async doClose(deadlineMs: number): Promise<void> {
    const was = this.state;
    this.state = 'closed';
    clearTimeout(this.pollTimer);
    const segs = this.segments;
    const cur = this.cur;
    const finishing: Promise<void>[] = [];
    if (cur && was === 'recording') {
      // Every access unit has been pushed: the open segment ends with the last one. The muxer
      // finalises only once every one of its pads has ended.
      this.endAudio();
      this.endAudioOf(cur);
      this.endVideoOf(cur);
      finishing.push(this.finalise(cur, this.lastRt, Math.max(200, deadlineMs - 600)));
    }
    this.cur = undefined;
    this.endAudio();
    for (const seg of this.ending) this.endAudioOf(seg);
    await Promise.race([
      Promise.all([...finishing, this.finishing]),
      new Promise((r) => setTimeout(r, Math.max(300, deadlineMs - 200))),
    ]);
    // Whatever did not finalise in time is closed now; catalog recovery closes its segment.
    for (const seg of this.ending) { seg.aborted = true; seg.pipeline.close(); seg.wake(); }
    if (cur) cur.pipeline.close();
    await segs?.settled();
    await segs?.close();
  }
}
