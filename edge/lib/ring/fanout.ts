/**
 * One record ring read once in a worker, each record handed to every subscriber in turn: a
 * worker that serves several users of a ring (every recorded channel of an audio input, or of
 * the vitals) spends one consumer cursor on it, not one per user.
 *
 * Contract: the payload is valid during the call only (the read buffer is reused). With
 * `kind`, records of other kinds are skipped. A subscriber that throws is logged and detached;
 * the others go on. run() loops until stop(); stop() is idempotent and wakes the wait.
 */
import type { Logger } from '../log.js';
import { READ_EMPTY, type RingConsumer } from './consumer.js';

export type RecordSubscriber = (payload: Uint8Array, flags: number, wallNs: bigint, monoNs: bigint) => void;

export class RecordFanout {
  private readonly subs = new Set<RecordSubscriber>();
  private running = true;

  constructor(readonly name: string, private readonly ring: RingConsumer, private readonly log?: Logger, private readonly kind?: number) {}

  subscribe(fn: RecordSubscriber): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  async run(): Promise<void> {
    const c = this.ring;
    const buf = new Uint8Array(c.maxPayload);
    while (this.running) {
      const n = c.readInto(buf);
      if (n === READ_EMPTY) { await c.wait(); continue; }
      if (this.kind !== undefined && c.meta.kind !== this.kind) continue;
      const { flags, wallNs, monoNs } = c.meta;
      for (const fn of this.subs) {
        try {
          fn(buf.subarray(0, n), flags, wallNs, monoNs);
        } catch (err) {
          this.subs.delete(fn);
          this.log?.error({ err, ring: this.name }, 'a ring subscriber failed; it is detached');
        }
      }
    }
  }

  stop(): void {
    this.running = false;
    this.ring.wake();
  }
}
