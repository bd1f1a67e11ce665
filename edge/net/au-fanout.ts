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
import { FLAG_SYNC, RecordFanout, type RingConsumer } from '../lib/ring/index.js';
import { RECORD_KIND_H264_AU } from '../lib/record-kinds.js';

export type AccessUnitSubscriber = (au: Uint8Array, keyframe: boolean, wallNs: bigint, monoNs: bigint) => void;

/** The ring's RecordFanout, H.264 access units only, SYNC read as keyframe. */
export class AccessUnitFanout {
  private readonly fan: RecordFanout;

  constructor(readonly name: string, ring: RingConsumer, log?: Logger) {
    this.fan = new RecordFanout(name, ring, log, RECORD_KIND_H264_AU);
  }

  subscribe(fn: AccessUnitSubscriber): () => void {
    return this.fan.subscribe((au, flags, wallNs, monoNs) => fn(au, (flags & FLAG_SYNC) !== 0, wallNs, monoNs));
  }

  run(): Promise<void> {
    return this.fan.run();
  }

  stop(): void {
    this.fan.stop();
  }
}
