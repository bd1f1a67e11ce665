/**
 * Record ring stats: a snapshot of one ring's counters for status and the guard.
 *
 * Owns: reading the producer's header counters and every attached consumer's block
 * (layout.ts) from any thread, the supervisor's included, without attaching a side: it
 * moves no cursor and claims no slot. Every value is read with Atomics.load, but the words
 * are not read at one instant, so a snapshot may be a moment stale and its counters need
 * not agree with each other exactly (a consumer's backlog is capped at the capacity).
 *
 * Errors: RingLayoutError from the view (layout.ts).
 */
import * as layout from './layout.js';
import { RingView } from './layout.js';

const {
  H_COMMIT, H_NEXT_SEQ, H_PRODUCER_EPOCH, H_BYTES_LO, H_BYTES_HI,
  C_ATTACHED, C_READ_POS, C_RECORDS_READ, C_OVERRUNS, C_LOST, u32, commitPos,
} = layout;

export interface RingConsumerStats {
  index: number;
  attached: boolean;
  /** Bytes between this consumer's cursor and the producer's head. */
  backlogBytes: number;
  recordsRead: number;
  overruns: number;
  /** Records this consumer never saw (overwritten before it got to them). */
  lost: number;
}

export interface RingStats {
  capacity: number;
  recordsWritten: number;
  bytesWritten: number;
  producerEpoch: number;
  /** Largest consumer backlog as a share of capacity, 0..1. */
  fill: number;
  consumers: RingConsumerStats[];
}

/** A read-only view of a ring's counters. */
class StatsView extends RingView {
  stats(): RingStats {
    const w = this.words;
    const commit = commitPos(Atomics.load(w, H_COMMIT));
    const consumers: RingConsumerStats[] = [];
    let maxBacklog = 0;
    for (let i = 0; i < this.maxConsumers; i++) {
      const b = this.cword(i, 0);
      const attached = Atomics.load(w, b + C_ATTACHED) === 1;
      if (!attached) continue;
      const backlog = Math.min(this.capacity, u32(commit - Atomics.load(w, b + C_READ_POS)));
      maxBacklog = Math.max(maxBacklog, backlog);
      consumers.push({
        index: i, attached, backlogBytes: backlog,
        recordsRead: u32(Atomics.load(w, b + C_RECORDS_READ)),
        overruns: u32(Atomics.load(w, b + C_OVERRUNS)),
        lost: u32(Atomics.load(w, b + C_LOST)),
      });
    }
    return {
      capacity: this.capacity,
      recordsWritten: u32(Atomics.load(w, H_NEXT_SEQ)),
      bytesWritten: u32(Atomics.load(w, H_BYTES_HI)) * 2 ** 32 + u32(Atomics.load(w, H_BYTES_LO)),
      producerEpoch: Atomics.load(w, H_PRODUCER_EPOCH),
      fill: maxBacklog / this.capacity,
      consumers,
    };
  }
}

/** A snapshot of a ring's counters, readable from any thread (values may be a moment stale). */
export function ringStats(sab: SharedArrayBuffer): RingStats {
  return new StatsView(sab).stats();
}
