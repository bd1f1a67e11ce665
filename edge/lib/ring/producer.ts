/**
 * Record ring producer: appends framed records to a ring (layout.ts) and publishes them.
 *
 * Owns: the producer's side of the ordering argument, its reservation policy and crash
 * recovery. Exactly one producer per ring at a time (the supervisor enforces it); it never
 * blocks and never waits for consumers. Runs on the producing worker's thread.
 *
 * Ordering argument, the producer's half (Atomics are sequentially consistent; plain
 * typed-array accesses are not; the consumer's half is in consumer.ts):
 *  - The producer advances RESERVE (Atomics.store) before it writes a single byte (in chunks:
 *    it reserves up to RESERVE_AHEAD bytes beyond the record, so most records need no RESERVE
 *    store; consumers then treat data as overwritten up to one chunk early, i.e. a ring gives
 *    a slow consumer capacity - RESERVE_AHEAD bytes of slack), and
 *    advances COMMIT (Atomics.store) only after the record and the header words NEXT_SEQ,
 *    LAST_SYNC, BYTES_WRITTEN are written with plain stores: a consumer that reads COMMIT
 *    with Atomics.load is ordered after all of them. A consumer reads records only below
 *    COMMIT, so it never sees a half-written record. Those are the only two atomic stores
 *    per record, and a producer that append()s a burst and publish()es it once makes one
 *    COMMIT store for the whole burst; the rest is plain memory traffic (this is what makes
 *    the ring an order of magnitude cheaper than postMessage per small record).
 *  - The producer never waits for consumers: writing may overwrite bytes a slow consumer has
 *    not read; the consumer's seqlock check (consumer.ts) discards such a copy.
 *  - It moves COMMIT with an exchange, which clears COMMIT's WAITING bit and returns the old
 *    value, and notifies only when the old value had the bit (the wake-up argument is in
 *    consumer.ts, next to the compare-exchange that sets the bit).
 *
 * Lifecycle: `new RingProducer(sab)` in the producing worker. A producer that attaches after
 * a crash pads over a record left half-written (recover(), done by its constructor) and
 * counts itself in PRODUCER_EPOCH.
 *
 * Errors: RecordTooLargeError; RingLayoutError from the view (layout.ts).
 */
import * as layout from './layout.js';
import { RingView } from './layout.js';

// Module-local copies, not named imports: see "Hot paths" in layout.ts.
const {
  H_COMMIT, H_LAST_SYNC, H_HAS_SYNC, H_NEXT_SEQ, H_PRODUCER_EPOCH, H_BYTES_LO, H_BYTES_HI, H_RESERVE, WAITING,
  RECORD_HEADER_BYTES, R_LEN, R_KIND_FLAGS, R_SEQ, R_SPARE, R_WALL_LO, R_MONO_LO, KIND_PAD, FLAG_SYNC,
  u32, commitPos, recordBytes,
} = layout;

/** Bytes the producer reserves beyond a record (at most capacity/16). */
export const RESERVE_AHEAD = 16 * 1024;

export class RecordTooLargeError extends Error {
  override name = 'RecordTooLargeError';
  constructor(readonly payloadBytes: number, readonly maxPayloadBytes: number) {
    super(`record of ${payloadBytes} bytes does not fit a ring whose largest record is ${maxPayloadBytes} bytes`);
  }
}

/**
 * The producer side. Exactly one per ring at a time (the supervisor enforces it); it never
 * blocks. Runs on the producing worker's thread.
 */
export class RingProducer extends RingView {
  private pos: number;
  private seq: number;
  /** What RESERVE says; the producer writes freely below it. */
  private reserved: number;
  /** What COMMIT says; [published, pos) are appended records not yet published. */
  private published: number;
  /** Start of the newest appended SYNC record not yet published, or -1. */
  private pendingSync = -1;
  private readonly ahead: number;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.recover();
    this.pos = commitPos(Atomics.load(this.words, H_COMMIT));
    this.reserved = this.pos;
    this.published = this.pos;
    this.seq = u32(Atomics.load(this.words, H_NEXT_SEQ));
    this.ahead = Math.min(RESERVE_AHEAD, this.capacity >> 4);
    Atomics.add(this.words, H_PRODUCER_EPOCH, 1);
  }

  /**
   * A producer that died between reserving and committing left [COMMIT, RESERVE) half
   * written; cover it with pads so consumers step over it. Consumers already treat that
   * span as overwritten (RESERVE moved), so nothing they copied is trusted.
   */
  private recover(): void {
    const commit = commitPos(Atomics.load(this.words, H_COMMIT));
    const reserve = u32(Atomics.load(this.words, H_RESERVE));
    let gap = u32(reserve - commit);
    if (gap === 0) return;
    let pos = commit;
    while (gap > 0) {
      const off = pos & this.mask;
      const n = Math.min(gap, this.capacity - off);
      this.writePad(off, n);
      pos = u32(pos + n);
      gap -= n;
    }
    this.commit(reserve);
  }

  /** Moves COMMIT to `pos` and wakes the consumers parked since the last move. */
  private commit(pos: number): void {
    if (Atomics.exchange(this.words, H_COMMIT, pos | 0) & WAITING) Atomics.notify(this.words, H_COMMIT);
  }

  private writePad(off: number, size: number): void {
    this.u32v[(off >> 2) + R_LEN] = size;
    this.u32v[(off >> 2) + R_KIND_FLAGS] = KIND_PAD;
  }

  /**
   * Appends one record and wakes waiting consumers. `payload` is copied into the ring (the
   * only copy). Returns the record's sequence number.
   * @throws RecordTooLargeError when the payload exceeds `maxPayload`.
   */
  write(kind: number, flags: number, wallNs: bigint, monoNs: bigint, payload: Uint8Array): number {
    const seq = this.append(kind, flags, wallNs, monoNs, payload);
    this.publish();
    return seq;
  }

  /**
   * Appends a record whose payload is written in place by `fill` (zero-copy for a producer
   * that can render straight into the ring). `fill` gets a view of exactly `len` bytes.
   */
  writeWith(kind: number, flags: number, wallNs: bigint, monoNs: bigint, len: number, fill: (dst: Uint8Array) => void): number {
    const off = this.reserve(len);
    const start = off + RECORD_HEADER_BYTES;
    fill(this.bytes.subarray(start, start + len));
    const seq = this.stage(off, len, kind, flags, wallNs, monoNs);
    this.publish();
    return seq;
  }

  private reserve(len: number): number {
    if (len > this.maxPayload || len < 0) throw new RecordTooLargeError(len, this.maxPayload);
    const total = recordBytes(len);
    let off = this.pos & this.mask;
    const tail = this.capacity - off;
    const pad = total > tail ? tail : 0;
    const end = u32(this.pos + pad + total);
    const beyond = u32(end - this.reserved);
    if (beyond !== 0 && beyond < 0x80000000) {
      // Reserve past this record too, but never so far that a consumer which has read
      // everything before this record would count as overrun.
      const ahead = Math.max(0, Math.min(this.ahead, this.capacity - pad - total));
      this.reserved = u32(end + ahead);
      Atomics.store(this.words, H_RESERVE, this.reserved | 0);
    }
    if (pad) {
      this.writePad(off, tail);
      this.pos = u32(this.pos + tail);
      off = 0;
    }
    return off;
  }

  /**
   * Appends one record without publishing it: consumers see it at the next publish() or
   * write(). A producer with a burst of records (the samples of one device message, the
   * packets of one frame) appends them all and publishes once: one COMMIT store and at most
   * one wake-up for the burst instead of one per record. Returns the record's sequence number.
   * @throws RecordTooLargeError when the payload exceeds `maxPayload`.
   */
  append(kind: number, flags: number, wallNs: bigint, monoNs: bigint, payload: Uint8Array): number {
    // length, not byteLength, on the hot paths here: for a Uint8Array they are equal, and
    // Node 20's V8 inlines the one but calls a builtin for the other (15 ns a call, measured).
    const len = payload.length;
    const off = this.reserve(len);
    this.bytes.set(payload, off + RECORD_HEADER_BYTES);
    return this.stage(off, len, kind, flags, wallNs, monoNs);
  }

  /** Makes every appended record visible to consumers and wakes those waiting. */
  publish(): void {
    if (this.pos === this.published) return;
    const w = this.words;
    // Plain stores, published by the COMMIT store below (see the ordering argument).
    w[H_NEXT_SEQ] = this.seq | 0;
    if (this.pendingSync !== -1) {
      w[H_LAST_SYNC] = this.pendingSync | 0;
      w[H_HAS_SYNC] = 1;
      this.pendingSync = -1;
    }
    const lo = u32(w[H_BYTES_LO]) + u32(this.pos - this.published);
    if (lo > 0xffffffff) w[H_BYTES_HI] = (w[H_BYTES_HI] + 1) | 0;
    w[H_BYTES_LO] = u32(lo) | 0;
    this.published = this.pos;
    this.commit(this.pos);
  }

  /** Writes a record's header and moves past it; nothing is visible before publish(). */
  private stage(off: number, len: number, kind: number, flags: number, wallNs: bigint, monoNs: bigint): number {
    const seq = this.seq;
    const u32v = this.u32v;
    const h = off >> 2;
    u32v[h + R_LEN] = len;
    u32v[h + R_KIND_FLAGS] = (kind & 0xffff) | ((flags & 0xffff) << 16);
    u32v[h + R_SEQ] = seq;
    u32v[h + R_SPARE] = 0;
    this.i64[(h + R_WALL_LO) >> 1] = wallNs;
    this.i64[(h + R_MONO_LO) >> 1] = monoNs;
    if (flags & FLAG_SYNC) this.pendingSync = this.pos;
    this.pos = u32(this.pos + recordBytes(len));
    this.seq = u32(seq + 1);
    return seq;
  }
}
