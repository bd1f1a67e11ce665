/**
 * The recording's segment bookkeeping: the recorder's cuts (recorder.ts opens and closes each
 * segment itself) become `segment-opened` / `segment-closed` events, and each open segment is
 * fdatasync'ed every `fsyncMs` (SegmentSyncer); each sync is logged at debug level
 * (`segment synced`, path, durable bytes, wall time) so a power cut can be replayed from the
 * log (test-rig/video/crash.test.ts).
 *
 * Contract
 * - Owns: the SegmentSyncer, the segments open now, the bookkeeping still under way, the count
 *   segmentsClosed.
 * - Events: times are wall times as decimal ns strings (events travel as JSON), mapped from
 *   the segments' running times (first frame; the next segment's first frame, or the last
 *   frame) through `baseMono`. Frames per segment are left to the catalog's owner, which
 *   counts them in the closed file (frame-scan).
 * - Lifecycle: start() at the first frame (starts the syncer when the channel records);
 *   opened() / closed() per segment as the recorder cuts; settled() resolves when
 *   the bookkeeping begun so far has ended; close() closes the syncer.
 * - Errors: a failed step (sync, event handler) is logged as a warning, never thrown.
 * Runs on: video-encode.
 */
import { stat } from 'node:fs/promises';
import { SegmentSyncer, parseSegmentPath } from '../recording/index.js';
import type { EncoderOptions, EncoderRecording, EncoderStats } from './encoder-types.js';

interface OpenSeg { path: string; seq: number; startRt: number }

export class RecordingSegments {
  private baseMono = 0n;
  private syncer: SegmentSyncer | undefined;
  private readonly openSegs = new Map<string, OpenSeg>();
  private pendingEvents: Promise<unknown>[] = [];

  constructor(
    private readonly channel: string,
    private readonly counts: Pick<EncoderStats, 'segmentsClosed'>,
    private readonly opts: Pick<EncoderOptions, 'clock' | 'log' | 'onEvent'>,
  ) {}

  /** Segment times count from `baseMono`; `rec` (when the channel records) sets the fsync period. */
  start(baseMono: bigint, rec: EncoderRecording | undefined): void {
    this.baseMono = baseMono;
    if (rec) {
      this.syncer = new SegmentSyncer({
        periodMs: rec.fsyncMs,
        now: () => this.opts.clock.wallNs(),
        onError: (err, path) => this.opts.log?.warn({ err, path }, 'segment sync failed'),
        onSync: (p) => this.opts.log?.debug({ channel: this.channel, path: p.path, bytes: p.bytes, atNs: String(p.atNs) }, 'segment synced'),
      });
      this.syncer.start();
    }
  }

  /** The recorder opened segment `path` (its file exists) at running time `rt`, its first frame. */
  opened(path: string, rt: number): void {
    this.track(this.onOpened(path, rt));
  }

  /** The muxer finalised segment `path`; it ends at running time `rt`. */
  closed(path: string, rt: number): Promise<void> {
    return this.track(this.onClosed(path, rt));
  }

  /** Resolves when the bookkeeping begun so far has ended (it never rejects). */
  settled(): Promise<unknown> {
    return Promise.all(this.pendingEvents);
  }

  async close(): Promise<void> {
    await this.syncer?.close();
  }

  /** Segments opened and not closed (a failed recorder finishes them: recorder.ts). */
  openPaths(): string[] {
    return [...this.openSegs.keys()];
  }

  /** A segment that got no frame was deleted: forgotten here, `segment-discarded` for the catalog. */
  async discard(path: string): Promise<void> {
    const seg = this.openSegs.get(path);
    this.openSegs.delete(path);
    await this.syncer?.segmentClosed(path).catch(() => undefined);
    this.opts.onEvent?.({ type: 'segment-discarded', channel: this.channel, seq: seg?.seq ?? parseSegmentPath(path)?.seq ?? 0, path });
  }

  /** A segment whose recorder failed ends at running time `rt` (its last pushed frame). */
  closeAfterFailure(path: string, rt: number): Promise<void> {
    return this.onClosed(path, rt).catch((e: Error) => this.opts.log?.warn({ err: e, channel: this.channel, path }, 'segment bookkeeping failed'));
  }

  private track(p: Promise<unknown>): Promise<void> {
    const q = p.then(() => undefined, (e: Error) => this.opts.log?.warn({ err: e, channel: this.channel }, 'segment bookkeeping failed'));
    this.pendingEvents.push(q);
    void q.finally(() => { this.pendingEvents = this.pendingEvents.filter((x) => x !== q); });
    return q;
  }

  private wallAtRt(rt: number): bigint {
    return this.opts.clock.toWall(this.baseMono + BigInt(Math.max(0, Math.round(rt))));
  }

  private async onOpened(path: string, rt: number): Promise<void> {
    const seq = parseSegmentPath(path)?.seq ?? 0;
    this.openSegs.set(path, { path, seq, startRt: rt });
    this.opts.onEvent?.({ type: 'segment-opened', channel: this.channel, seq, path, startNs: String(this.wallAtRt(rt)) });
    await this.syncer?.segmentOpened(path);
  }

  private async onClosed(path: string, rt: number): Promise<void> {
    // The recorder opens the next segment before the previous one is finalised.
    const seg = this.openSegs.get(path) ?? { path, seq: parseSegmentPath(path)?.seq ?? 0, startRt: 0 };
    this.openSegs.delete(path);
    await this.syncer?.segmentClosed(path);
    this.counts.segmentsClosed++;
    const bytes = await stat(path).then((st) => st.size, () => 0);
    this.opts.onEvent?.({
      type: 'segment-closed', channel: this.channel, seq: seg.seq, path,
      startNs: String(this.wallAtRt(seg.startRt)), endNs: String(this.wallAtRt(rt)), bytes,
      // What the file holds is counted by the catalog's owner in the file itself (frame-scan).
      frames: null,
    });
  }
}
