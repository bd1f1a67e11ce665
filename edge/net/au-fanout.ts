/**
 * One encoded ring read once, handed to every sender of that stream: the RTSP mount and each
 * uplink receiver on it. Also reads `audio.<input>` (Opus records: the same record kind value,
 * each one FLAG_SYNC) for the RTSP mounts of the channels with that audio. net-send is one consumer of `video.<channel>.<role>` (one cursor, one
 * overrun policy); what it reads goes to every subscriber in turn.
 *
 * Contract
 * - `subscribe(fn)` adds a sender; `fn(au, keyframe, wallNs, monoNs)` runs synchronously for
 *   each H.264 access unit, in ring order. `au` is valid only during the call (the buffer is
 *   reused for the next record): a subscriber packetises or copies before it returns.
 * - A subscriber that throws is logged and unsubscribed; the others go on.
 * - run() loops until stop(); stop() is idempotent and wakes the wait.
 * Runs on: net-send.
 */
import type { Logger } from '../lib/log.js';
import { FLAG_SYNC, READ_EMPTY, type RingConsumer } from '../lib/ring/index.js';
import { RECORD_KIND_H264_AU } from '../lib/record-kinds.js';

export type AccessUnitSubscriber = (au: Uint8Array, keyframe: boolean, wallNs: bigint, monoNs: bigint) => void;

export class AccessUnitFanout {
  private readonly subs = new Set<AccessUnitSubscriber>();
  private running = true;

  constructor(readonly name: string, private readonly ring: RingConsumer, private readonly log?: Logger) {}

  subscribe(fn: AccessUnitSubscriber): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  async run(): Promise<void> {
    const ring = this.ring;
    const buf = new Uint8Array(ring.maxPayload);
    while (this.running) {
      const n = ring.readInto(buf);
      if (n === READ_EMPTY) { await ring.wait(); continue; }
      if (ring.meta.kind !== RECORD_KIND_H264_AU) continue;
      const au = buf.subarray(0, n);
      const key = (ring.meta.flags & FLAG_SYNC) !== 0;
      const { wallNs, monoNs } = ring.meta;
      for (const fn of this.subs) {
        try {
          fn(au, key, wallNs, monoNs);
        } catch (err) {
          this.subs.delete(fn);
          this.log?.error({ err, stream: this.name }, 'a sender failed on an access unit; it is detached');
        }
      }
    }
  }

  stop(): void {
    this.running = false;
    this.ring.wake();
  }
}
