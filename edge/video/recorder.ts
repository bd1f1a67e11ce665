/**
 * One channel's recording of its hq stream, in a pipeline of its own (gst-pipelines
 * buildRecorderPipeline), fed with the access units the encode pipeline hands to JavaScript.
 *
 * Contract
 * - Owns: the recorder pipeline of the moment, its segment bookkeeping (segments.ts), the
 *   recording's state (RecordingStatus) and the free-space poll while it is stopped.
 * - Why apart: a write error (a full disk, a failing card) ends this pipeline only; the
 *   channel keeps encoding and streaming. Inside the encode pipeline the error went up through
 *   the tee, video-encode exited and every viewer stalled while it crash-looped.
 * - States: off (the channel does not record) | armed (waits for a keyframe to begin) |
 *   opening (folder and pipeline being made; access units queue, bounded) | recording |
 *   stopped (failed: polls free space) | closed. A failure closes the pipeline, finishes its
 *   open segments (one that got no frame is deleted: `segment-discarded`; one with frames is
 *   closed as usual) and says why (`recording-state`, e.g. "recording stopped: disk full on
 *   /data/recordings, 0 B free"). It is armed again once `resumeFreeBytes` are free (a full
 *   disk) or after a capped backoff (other errors), and asks the encoder for a keyframe, so a
 *   new recording (new name, from its first frame's capture time) starts at once.
 * - Audio (a channel with `audio`): each recorder pipeline has an AAC-LC track fed by a fresh
 *   RecordingAudioFeed (edge/audio/record-feed.ts: PCM through writeAudio(), stamped on the
 *   video's running time from the recording's first frame, silence filled when none comes, gaps
 *   as `recording-audio-gap`); a failure ends it with the video, a resume starts a new one.
 * - Segment cuts: splitmuxsink's keyframe requests end at the appsrc, so the recorder asks
 *   for the keyframe itself when a segment has reached its length (requestKeyframe).
 * - Lifecycle: start(baseMono) once the encode pipeline runs; push() per hq access unit;
 *   close(deadlineMs) sends end-of-stream so the open segment is finalised. Idempotent.
 * - Errors: never thrown to the caller (push is on the live path); logged and reported as state.
 * Runs on: video-encode.
 */
import { statfs, unlink } from 'node:fs/promises';
import { buildRecorderPipeline, type Profile } from '../../gst-pipelines/index.js';
import { GstPipeline, type GstAppSrc, type GstError } from '../gst/index.js';
import { Backoff } from '../lib/backoff.js';
import { prepareRecordingDir, recordingLocation, scanSegment, type SegmentExtension } from '../recording/index.js';
import { RecordingAudioFeed, type RecordingAudioStats } from '../audio/index.js';
import { RecordingSegments } from './segments.js';
import type { EncoderOptions, EncoderRecording, EncoderStats, RecorderState, RecordingStatus } from './encoder-types.js';

export type { RecorderState, RecordingStatus } from './encoder-types.js';

export interface ChannelRecorderOptions extends Pick<EncoderOptions, 'clock' | 'log' | 'onEvent'> {
  channel: string;
  /** The channel's fitted profile (muxer, extension). */
  profile: Profile;
  recording: EncoderRecording;
  counts: Pick<EncoderStats, 'segmentsClosed'>;
  /** Forces an IDR on the hq stream (segment cuts, restarts). */
  requestKeyframe: () => void;
  /** Free space a stopped recording needs before it starts again after a full disk, bytes.
   *  Default 8 MiB (a few seconds of a 1080p hq stream, enough for a segment's first GOPs). */
  resumeFreeBytes?: number;
  /** Free-space poll period while stopped, ms. Default 1000. */
  pollMs?: number;
  /** The channel's audio input, recorded as AAC-LC next to the video (PCM through writeAudio()). */
  audio?: { input: string; rate: number; channels: number };
}

/** Access units held while the folder and pipeline are made (a couple of seconds at 60 fps). */
const MAX_QUEUED = 150;

export class ChannelRecorder {
  private state: RecorderState = 'off';
  private pipeline: GstPipeline | undefined;
  private src: GstAppSrc | undefined;
  private segments: RecordingSegments | undefined;
  /** The audio feed of the pipeline of the moment (one per pipeline: fresh after a resume). */
  private audioFeed: RecordingAudioFeed | undefined;
  private audioSrc: GstAppSrc | undefined;
  /** Audio counts of the feeds before the current one. */
  private readonly audioDone: RecordingAudioStats = { records: 0, gapRecords: 0, filledMs: 0, dropped: 0, pushRefused: 0 };
  private baseMono = 0n;
  private queued: { au: Uint8Array; rt: number; keyframe: boolean }[] = [];
  private segStartRt = -1;
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

  constructor(private readonly opts: ChannelRecorderOptions) {
    this.resumeFree = opts.resumeFreeBytes ?? 8 * 1024 * 1024;
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
    if (this.segStartRt < 0) this.segStartRt = rt;
    if (keyframe && rt - this.segStartRt >= segNs) { this.segStartRt = rt; this.keyframeAsked = false; }
    // splitmuxsink cuts at the first keyframe past max-size-time; ask for it when it is due.
    if (!this.keyframeAsked && rt - this.segStartRt >= segNs - 50_000_000) { this.keyframeAsked = true; this.opts.requestKeyframe(); }
    this.lastRt = rt;
    try {
      if (!this.src!.push(au, { ptsNs: rt, keyframe })) this.st.skipped++;
    } catch {
      this.st.skipped++; // closed under us by a failure: its handler reports it
    }
  }

  private open(rt: number): void {
    this.setState('opening', null);
    const wall = this.opts.clock.toWall(this.baseMono + BigInt(rt));
    void this.build(wall, rt).then(
      () => {
        if (this.state !== 'opening') return;
        this.setState('recording', null);
        this.st.starts++;
        this.segStartRt = -1;
        this.keyframeAsked = false;
        const q = this.queued;
        this.queued = [];
        for (const x of q) if (this.current() === 'recording') this.write(x.au, x.rt, x.keyframe);
      },
      (err: Error) => this.fail(err),
    );
  }

  private async build(startWall: bigint, startRt: number): Promise<void> {
    const rec = this.opts.recording;
    const ext = this.opts.profile.recording.extension as SegmentExtension;
    const loc = recordingLocation(rec.root, this.opts.channel, startWall, ext);
    await prepareRecordingDir(loc.dir);
    if (this.state !== 'opening') return;
    const a = this.opts.audio;
    const built = buildRecorderPipeline(this.opts.profile, this.opts.channel, {
      location: loc.pattern, segmentNs: rec.segmentNs, ...(a ? { audio: { rate: a.rate, channels: a.channels } } : {}),
    });
    const p = new GstPipeline(built.description, { label: `record ${this.opts.channel}` });
    const segs = new RecordingSegments(this.opts.channel, this.opts.counts, this.opts);
    p.on('error', (e) => this.fail(e));
    p.on('element', (m) => segs.onElement(m));
    this.pipeline = p;
    this.segments = segs;
    segs.start(this.baseMono, rec);
    p.start();
    this.src = p.appsrc(built.names.source);
    if (a && built.names.audio) {
      const ch = this.opts.channel;
      const feed = new RecordingAudioFeed({
        channel: ch, rate: a.rate, channels: a.channels, clock: this.opts.clock,
        onGap: (start, end, filled) => this.opts.onEvent?.({ type: 'recording-audio-gap', channel: ch, input: a.input, startNs: String(start), endNs: String(end), filled }),
      });
      // The audio starts with the recording's first frame: no sound before the first picture.
      this.audioSrc = p.appsrc(built.names.audio);
      feed.start(this.audioSrc, this.baseMono, startRt);
      this.audioFeed = feed;
    }
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
    this.audioSrc = undefined;
  }

  /** The recording failed: the pipeline goes, its segments are finished, the poll begins. */
  private fail(err: Error): void {
    if (this.state !== 'recording' && this.state !== 'opening') return;
    const p = this.pipeline;
    const segs = this.segments;
    this.pipeline = undefined;
    this.src = undefined;
    this.segments = undefined;
    this.endAudio();
    this.queued = [];
    this.st.failures++;
    // Stopped at once (push() skips from now on); the event waits for the free-space check
    // below, so the first word out already says whether the disk is full.
    this.state = 'stopped';
    p?.close();
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
    const p = this.pipeline;
    const segs = this.segments;
    if (p && was === 'recording' && p.state === 'playing') {
      const t0 = Date.now();
      const eos = new Promise<boolean>((resolve) => {
        p.once('eos', () => resolve(true));
        p.once('error', () => resolve(false));
        setTimeout(() => resolve(false), Math.max(200, deadlineMs - 600)).unref?.();
      });
      let drained = false;
      const audioSrc = this.audioSrc;
      this.endAudio();
      try {
        // The muxer finalises a segment only once every one of its pads has ended.
        audioSrc?.endOfStream();
        drained = this.src!.endOfStream() && (await eos);
      } catch { drained = false; }
      if (!drained) this.opts.log?.warn({ channel: this.opts.channel }, 'recording end-of-stream did not drain in time; the last segment is closed by recovery');
      await p.stop({ eos: false });
      await Promise.race([segs!.settled(), new Promise((r) => setTimeout(r, Math.max(100, Math.min(1000, deadlineMs - (Date.now() - t0)))))]);
    }
    this.endAudio();
    await this.finishing;
    await segs?.close();
    p?.close();
  }
}
