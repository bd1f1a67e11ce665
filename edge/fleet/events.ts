/**
 * Box events (FleetEvent on orbox/v1/<box>/event): numbers each with a 64-bit seq and queues it
 * in the outbox, so events reach the console in order and survive time offline.
 *
 * Owns the event seq, kept in the store's meta `event_seq`: read by open(), written every 64
 * events and by save().
 *
 * Lifecycle: open() after the store opens; publish() while it is open; save() before it closes.
 * Errors: publish() throws what the store throws (disk full, closed).
 */
import { type Severity, encodeEvent } from './codec.js';
import type { Outbox } from './outbox.js';
import type { FleetStore } from './store.js';

export interface EventOptions {
  severity?: Severity;
  fields?: Record<string, string>;
}

export class EventQueue {
  private seq = 0n;

  constructor(
    private readonly store: FleetStore,
    private readonly outbox: Outbox,
    private readonly topic: string,
    private readonly now: () => number,
  ) {}

  open(): void {
    this.seq = BigInt(this.store.getMeta('event_seq') ?? '0');
  }

  /** Queues an event; returns its seq. */
  publish(kind: string, message: string, opts: EventOptions): bigint {
    const seq = ++this.seq;
    const payload = encodeEvent({ seq, timestampMs: this.now(), kind, severity: opts.severity ?? 'info', message, fields: opts.fields ?? {} });
    this.outbox.enqueue(this.topic, payload, this.now());
    // Persist the counter now and then; after a crash the seq restarts a little lower, which the
    // console reads as a restart of the box (boot id in the birth tells it so anyway).
    if (seq % 64n === 0n) this.store.setMeta('event_seq', seq.toString());
    return seq;
  }

  save(): void {
    this.store.setMeta('event_seq', this.seq.toString());
  }
}
