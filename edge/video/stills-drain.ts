/**
 * The channel's JPEG stills and thumbnails, from their appsinks into `snap.<channel>`, each
 * stamped with the capture time of the frame it shows.
 *
 * Contract
 * - Owns: the counts of SnapshotStats (stills, thumbnails, the last still, tooLarge).
 * - Records: RECORD_KIND_JPEG_STILL and RECORD_KIND_JPEG_THUMBNAIL (edge/lib/record-kinds.ts), one JPEG
 *   each, FLAG_SYNC. jpegenc adds no offset and videorate passes the frame's own PTS, so PTS +
 *   `baseMono` is that frame's capture time, exactly the time its hq/lq access units carry.
 * - Lifecycle: one run() per appsink (stills, thumbnails), until it hands out no more.
 * - Errors: a JPEG larger than the ring is counted (`tooLarge`) and dropped, warned about once;
 *   any other ring error rejects run().
 * Runs on: video-encode.
 */
import type { GstAppSink } from '../gst/index.js';
import { FLAG_SYNC, RecordTooLargeError, type RingProducer } from '../lib/ring/index.js';
import type { EncoderOptions, SnapshotStats } from './encoder-types.js';
import { RECORD_KIND_JPEG_STILL } from '../lib/record-kinds.js';

export class StillsDrain {
  private warnedTooLarge = false;

  constructor(
    private readonly channel: string,
    private readonly ring: RingProducer,
    private readonly counts: SnapshotStats,
    private readonly opts: Pick<EncoderOptions, 'clock' | 'log'>,
  ) {}

  /** Stills or thumbnails (`kind`) from `sink` into the ring. */
  async run(kind: number, sink: GstAppSink, baseMono: bigint): Promise<void> {
    const ring = this.ring;
    const st = this.counts;
    for (;;) {
      const s = await sink.pull();
      if (!s) return;
      if (s.ptsNs === null) continue; // never seen: every pushed frame has a PTS
      const mono = baseMono + BigInt(s.ptsNs);
      const wall = this.opts.clock.toWall(mono);
      try {
        ring.write(kind, FLAG_SYNC, wall, mono, s.data);
      } catch (e) {
        if (!(e instanceof RecordTooLargeError)) throw e;
        st.tooLarge++;
        if (!this.warnedTooLarge) {
          this.warnedTooLarge = true;
          this.opts.log?.warn({ channel: this.channel, bytes: e.payloadBytes, max: e.maxPayloadBytes }, 'JPEG still larger than its ring: dropped (lower the snapshot width or the profile\'s jpegenc quality)');
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
}
