/**
 * The encoder's raw input: each frame of `raw.<channel>` pushed into the pipeline's appsrc,
 * lent in its ring slot (edge/gst pushShared) or, past half the ring's slots held, copied.
 *
 * Contract
 * - Owns: this encoder's holds on raw.<channel> slots from the first frame on, and the counts
 *   framesIn, framesLent, pushRefused. A lent slot stays held until GStreamer frees the
 *   buffer, so the frame is never copied after capture put it in the ring. Every loan has
 *   ended before a restarted encoder attaches again: the binding stops a worker's pipelines as
 *   its thread exits, and the supervisor starts the next incarnation after that.
 * - Time: a frame's PTS is its capture time minus `baseMono`; frames older than that (a
 *   restarted producer's leftovers) are given back unpushed.
 * - Lifecycle: run() pushes until stop(). stop() also wakes every wait on the ring, so a
 *   waiter for the first frame (the encoder's) sees it too.
 * - Errors: a push that throws (appsrc closed, bad timestamp) rejects run(), its frame given
 *   back first; a push the appsrc refuses is counted, not thrown.
 * Runs on: video-encode, once per frame: allocate nothing here that the push does not need.
 */
import type { GstAppSrc } from '../gst/index.js';
import type { HeldFrame, SlotConsumer } from '../lib/ring/index.js';
import type { EncoderStats } from './encoder-types.js';

export class FrameFeed {
  private open = true;
  private pushedPts = -1;

  constructor(
    private readonly input: SlotConsumer,
    private readonly counts: Pick<EncoderStats, 'framesIn' | 'framesLent' | 'pushRefused'>,
  ) {}

  /** PTS of the first frame the appsrc accepted, -1 before (the encoders' offsets are measured against it). */
  get firstPushedPts(): number {
    return this.pushedPts;
  }

  /** Pushes `first`, then every frame the ring publishes, each stamped `frameNs` long. */
  async run(src: GstAppSrc, first: HeldFrame, baseMono: bigint, frameNs: number): Promise<void> {
    const input = this.input;
    const st = this.counts;
    // Frames are lent to GStreamer, not copied, while this encoder holds at most half the
    // ring's slots: an element that keeps its input (a queue backing up, an encoder holding
    // frames it has not encoded yet, videorate's last frame) must not leave capture without
    // free slots. Past that they are copied and the slot given back at once.
    const lendMax = Math.max(1, Math.floor(input.slots / 2));
    let held: HeldFrame | undefined = first;
    while (this.open) {
      const f = held ?? input.acquire();
      held = undefined;
      if (!f) { await input.wait(); continue; }
      const pts = Number(f.monoNs - baseMono);
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
      if (!pushed) st.pushRefused++;
      else {
        if (this.pushedPts < 0) this.pushedPts = pts;
        st.framesIn++;
        if (lend) st.framesLent++;
      }
    }
  }

  /** Ends run() at its next frame or wake-up; the loop waits untimed, so this wakes the ring. */
  stop(): void {
    this.open = false;
    this.input.wake();
  }
}
