/**
 * One H.264 stream's access units, from its appsink into its encoded ring
 * (`video.<channel>.hq|lq`), each stamped with the capture time of its raw frame.
 *
 * Contract
 * - Owns: the stream's counts (aus, keyframes, bytes), its encode latency over the last 300
 *   access units, and the offset its encoder adds to timestamps.
 * - Records: kind RECORD_KIND_H264_AU, one Annex B access unit each (SPS/PPS repeated before
 *   every IDR by h264parse), FLAG_SYNC on keyframes.
 * - Time: an encoder may add a constant to every timestamp (x264enc adds 1000 h); it is
 *   measured on the first sample and taken off again, so PTS + `baseMono` is the frame's
 *   capture time on the monotonic clock.
 * - Lifecycle: one run() per stream, until its appsink hands out no more (end of stream, stop,
 *   close).
 * - Errors: an access unit larger than the ring's payload rejects run() (RecordTooLargeError),
 *   as does a failing ring write.
 * Runs on: video-encode, once per access unit.
 */
import type { H264Role } from '../../gst-pipelines/index.js';
import type { GstAppSink } from '../gst/index.js';
import type { BoxClock } from '../lib/clock.js';
import { FLAG_SYNC, RecordTooLargeError, type RingProducer } from '../lib/ring/index.js';
import { RECORD_KIND_H264_AU } from '../lib/record-kinds.js';
import { quantile, sortedCopy } from '../lib/stats.js';
import type { EncoderStats } from './encoder-types.js';
import type { FrameFeed } from './frame-feed.js';

export class AccessUnitDrain {
  private readonly lat: number[] = [];

  constructor(
    private readonly ring: RingProducer,
    private readonly clock: BoxClock,
    private readonly counts: EncoderStats['out'][H264Role],
    private readonly feed: Pick<FrameFeed, 'firstPushedPts'>,
    /** Also hands each access unit (bytes valid during the call only) with its running time
     *  to the channel's recorder (hq). */
    private readonly tap?: (au: Uint8Array, rt: number, keyframe: boolean) => void,
  ) {}

  async run(sink: GstAppSink, baseMono: bigint): Promise<void> {
    const ring = this.ring;
    const st = this.counts;
    const lat = this.lat;
    // Each access unit is copied by the binding into this buffer and from it into the ring:
    // nothing is allocated per access unit (a Buffer per AU kept V8's collector busy). Its
    // untouched pages cost no memory.
    const scratch = new Uint8Array(ring.maxPayload);
    let off: number | undefined;
    for (;;) {
      const s = await sink.pullInto(scratch);
      if (!s) return;
      if (s.size > scratch.length) throw new RecordTooLargeError(s.size, scratch.length);
      const pts = s.ptsNs ?? 0;
      // The first access unit is the first frame pushed: the difference is what the encoder
      // added to every timestamp (x264enc: 1000 h minus the first PTS).
      off ??= pts - Math.max(0, this.feed.firstPushedPts);
      const rt = pts - off;
      const mono = baseMono + BigInt(rt);
      const wall = this.clock.toWall(mono);
      ring.write(RECORD_KIND_H264_AU, s.keyframe ? FLAG_SYNC : 0, wall, mono, scratch.subarray(0, s.size));
      this.tap?.(scratch.subarray(0, s.size), rt, s.keyframe);
      st.aus++;
      st.bytes += s.size;
      if (s.keyframe) st.keyframes++;
      lat.push(Number(process.hrtime.bigint() - mono) / 1e6);
      if (lat.length > 300) lat.splice(0, lat.length - 300);
    }
  }

  /** Encode latency (capture -> access unit in the ring), ms: p50/p99 of the last 300. */
  latencyMs(): { p50: number; p99: number } {
    const a = sortedCopy(this.lat);
    const q = (p: number): number => Math.round(quantile(a, p) * 10) / 10;
    return { p50: q(0.5), p99: q(0.99) };
  }
}
