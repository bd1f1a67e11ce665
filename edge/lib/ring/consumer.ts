/**
 * Record ring consumer: reads a ring's records (layout.ts) one at a time or in runs, and
 * waits for more without blocking its event loop.
 *
 * Owns: the consumer's side of the ordering argument, the wake-up argument, the overrun
 * policy, and a consumer's cursor and counters in its block of the shared memory. Up to
 * `maxConsumers` consumers per ring, each in its own slot; runs on the consuming worker's
 * thread.
 *
 * Ordering argument, the consumer's half (the producer's is in producer.ts):
 *  - A consumer reads records only below COMMIT, which it reads with Atomics.load: the
 *    producer stores COMMIT after the record and the header words, so they are all written.
 *  - The producer never waits for consumers, so it may overwrite bytes a slow consumer has
 *    not read. The consumer therefore copies a record out and only then re-reads RESERVE: if
 *    RESERVE has moved more than `capacity` past the record's start, the copy may be torn and
 *    is discarded as an overrun (a seqlock check). On weakly ordered CPUs (ARM) the engine's
 *    Atomics.load is an acquire load, which does not stop earlier plain loads from being
 *    satisfied late; we keep the check anyway and size rings so that overruns are rare, and
 *    the ring test runs the race on the target board too.
 *  - Wake-ups go through COMMIT's WAITING bit, so both sides touch one word. A consumer with
 *    nothing to read sets WAITING by compare-exchange on the COMMIT value it has caught up
 *    with (or finds it set by another consumer) and waits on that value with the bit. The
 *    producer publishes with an exchange, which clears the bit and returns the old value,
 *    and notifies only when the old value had it. No wake-up is lost: the exchange and the
 *    compare-exchange are atomic on one word, so either the consumer's bit is in the value
 *    the producer replaced (the producer notifies) or the consumer's compare-exchange fails
 *    against the new position (it does not sleep); a notify that precedes the wait finds
 *    COMMIT changed, so the wait returns at once. One notify wakes every consumer parked so
 *    far; a producer of a busy stream whose consumers keep up makes one atomic operation per
 *    publish and no notify. (Two words, a park count the producer re-read after its COMMIT
 *    store, cost a second atomic operation per publish.)
 *
 * Overrun policy: a consumer that falls more than `capacity` bytes behind gets an overrun
 * (OVERRUNS += 1, records it never saw counted in LOST) and resumes at the most recent
 * record flagged SYNC that is still in the ring and not older than where it was; if there is
 * none, it skips records until the next SYNC record arrives. Streams whose records stand
 * alone (vitals, commands) flag every record SYNC.
 *
 * Lifecycle: `new RingConsumer(sab, index)` in the consuming worker; its cursor lives in
 * shared memory, so a consumer recreated after its worker restarted resumes where the last
 * one stopped; detach() frees the slot for a consumer that should start afresh.
 *
 * Errors: RangeError (a destination smaller than the next record, which stays unread);
 * RingLayoutError from the view (layout.ts) or for a consumer index outside the ring.
 */
import * as layout from './layout.js';
import { RingView, RingLayoutError } from './layout.js';

// Module-local copies, not named imports: see "Hot paths" in layout.ts.
const {
  H_COMMIT, H_LAST_SYNC, H_HAS_SYNC, H_NEXT_SEQ, H_RESERVE, WAITING,
  C_ATTACHED, C_READ_POS, C_RECORDS_READ, C_OVERRUNS, C_LOST, C_AWAIT_SYNC, C_EXPECT_SEQ,
  RECORD_HEADER_BYTES, R_LEN, R_KIND_FLAGS, R_SEQ, R_WALL_LO, R_WALL_HI, R_MONO_LO, R_MONO_HI, KIND_PAD, FLAG_SYNC,
  u32, commitPos, recordBytes, join64,
} = layout;

/** How long wait() polls before it parks (see RingConsumer.spin). */
const SPIN_MS = 0.002;

/** Result of a non-blocking read attempt; negative values are not lengths. */
export const READ_EMPTY = -1;

/**
 * Where readBatch() describes the records it copied. Allocate one per consumer and reuse it;
 * nothing is allocated per record.
 */
export class RingBatch {
  count = 0;
  readonly offset: Uint32Array;
  readonly length: Uint32Array;
  readonly kind: Uint16Array;
  readonly flags: Uint16Array;
  readonly seq: Uint32Array;
  /** Per record: wall lo, wall hi, mono lo, mono hi (32-bit halves). */
  readonly time: Uint32Array;
  private dst: Uint8Array | undefined;
  private dst32: Uint32Array | undefined;

  constructor(readonly maxRecords = 1024) {
    this.offset = new Uint32Array(maxRecords);
    this.length = new Uint32Array(maxRecords);
    this.kind = new Uint16Array(maxRecords);
    this.flags = new Uint16Array(maxRecords);
    this.seq = new Uint32Array(maxRecords);
    this.time = new Uint32Array(maxRecords * 4);
  }

  /** A 32-bit view of the destination buffer, cached while the same buffer is reused. */
  view(dst: Uint8Array): Uint32Array {
    if (this.dst !== dst) {
      if (dst.byteOffset & 3) throw new RangeError('readBatch needs a destination aligned to 4 bytes');
      this.dst = dst;
      this.dst32 = new Uint32Array(dst.buffer, dst.byteOffset, dst.byteLength >> 2);
    }
    return this.dst32!;
  }

  wallNs(i: number): bigint { return join64(this.time[i * 4], this.time[i * 4 + 1]); }
  monoNs(i: number): bigint { return join64(this.time[i * 4 + 2], this.time[i * 4 + 3]); }
}

/** What a consumer learns of a record besides its payload. */
export interface RecordMeta {
  readonly kind: number;
  readonly flags: number;
  /** Producer's record sequence number (u32, wraps). */
  readonly seq: number;
  /** Capture time on the box clock, ns since the epoch. */
  readonly wallNs: bigint;
  /** Capture time on the monotonic clock, ns. */
  readonly monoNs: bigint;
}

export interface RingRecord extends RecordMeta {
  payload: Uint8Array;
}

/**
 * The consumer's reusable metadata: timestamps are kept as 32-bit halves and become bigints
 * only when asked for, so reading a record allocates nothing.
 */
class LastMeta implements RecordMeta {
  kind = 0;
  flags = 0;
  seq = 0;
  wallLo = 0; wallHi = 0; monoLo = 0; monoHi = 0;
  get wallNs(): bigint { return join64(this.wallLo, this.wallHi); }
  get monoNs(): bigint { return join64(this.monoLo, this.monoHi); }
}

/**
 * One consumer's side. Its cursor lives in shared memory, so a consumer recreated after its
 * worker restarted resumes where the last one stopped (at-least-once: a record being read
 * when the worker died is read again). Runs on the consuming worker's thread.
 */
export class RingConsumer extends RingView {
  readonly index: number;
  private readonly base: number;
  /** Metadata of the last record read by readInto(); valid until the next read. */
  readonly meta = new LastMeta();
  // Local mirrors of this consumer's shared words: the hot path reads these and writes the
  // shared copies (READ_POS atomically, the counters plainly: only status reads them).
  private pos: number;
  private commitSeen: number;
  private expectSeq: number;
  private awaitSync: boolean;

  /**
   * @param index consumer slot 0..maxConsumers-1, fixed per consumer by the ring plan.
   * @param startAt where a consumer attaching for the first time starts: 'live' (only new
   *   records) or 'oldest' (everything still in the ring).
   */
  constructor(sab: SharedArrayBuffer, index: number, startAt: 'live' | 'oldest' = 'live') {
    super(sab);
    if (!Number.isInteger(index) || index < 0 || index >= this.maxConsumers) {
      throw new RingLayoutError(`consumer index ${index} outside 0..${this.maxConsumers - 1}`);
    }
    this.index = index;
    this.base = this.cword(index, 0);
    const w = this.words;
    if (Atomics.compareExchange(w, this.base + C_ATTACHED, 0, 1) === 0) {
      // Without a walkable start we cannot find a record boundary in the middle of old
      // data, so "oldest" means the start of the ring while it has not yet wrapped, else live.
      const fromStart = startAt === 'oldest' && u32(Atomics.load(w, H_RESERVE)) <= this.capacity;
      Atomics.store(w, this.base + C_EXPECT_SEQ, fromStart ? 0 : Atomics.load(w, H_NEXT_SEQ));
      Atomics.store(w, this.base + C_READ_POS, fromStart ? 0 : commitPos(Atomics.load(w, H_COMMIT)));
    }
    this.pos = u32(Atomics.load(w, this.base + C_READ_POS));
    this.commitSeen = this.pos;
    this.expectSeq = u32(Atomics.load(w, this.base + C_EXPECT_SEQ));
    this.awaitSync = Atomics.load(w, this.base + C_AWAIT_SYNC) === 1;
  }

  /** Bytes written but not yet read by this consumer (may be stale by the time it returns). */
  get backlog(): number {
    return u32(commitPos(Atomics.load(this.words, H_COMMIT)) - this.pos);
  }

  /**
   * Copies the next record's payload into `dst` and fills `this.meta`.
   * @returns the payload length, READ_EMPTY when there is nothing to read.
   * @throws RangeError when `dst` is smaller than the record (the record stays unread).
   */
  readInto(dst: Uint8Array): number {
    return this.next(dst);
  }

  /** Reads the next record into a fresh buffer, or undefined when the ring is empty. */
  read(): RingRecord | undefined {
    const n = this.next(undefined);
    if (n === READ_EMPTY) return undefined;
    const m = this.meta;
    return { kind: m.kind, flags: m.flags, seq: m.seq, wallNs: m.wallNs, monoNs: m.monoNs, payload: this.lastCopy! };
  }

  private lastCopy: Uint8Array | undefined;

  private next(dst: Uint8Array | undefined): number {
    const u32v = this.u32v;
    for (;;) {
      const r = this.pos;
      if (this.caughtUp(r)) return READ_EMPTY;
      const off = r & this.mask;
      const h = off >> 2;
      // Header words may be torn if the producer is overwriting them; everything below is
      // bounded by what was committed, and the seqlock check after the copy decides.
      const len = u32v[h + R_LEN];
      const kf = u32v[h + R_KIND_FLAGS];
      const kind = kf & 0xffff;
      const avail = u32(this.commitSeen - r);
      if (kind === KIND_PAD) {
        if (!this.padFits(off, len, avail) || this.overwritten(r)) { this.overrun(); continue; }
        this.advance(u32(r + len));
        continue;
      }
      const total = recordBytes(len);
      if (!this.recordFits(off, len, total, avail)) { this.overrun(); continue; }
      const flags = kf >>> 16;
      const seq = u32v[h + R_SEQ];
      const m = this.meta;
      m.wallLo = u32v[h + R_WALL_LO]; m.wallHi = u32v[h + R_WALL_HI] | 0;
      m.monoLo = u32v[h + R_MONO_LO]; m.monoHi = u32v[h + R_MONO_HI] | 0;
      if (this.skips(flags)) {
        // Skipped records are counted as lost through the sequence gap at the next read.
        if (this.overwritten(r)) { this.overrun(); continue; }
        this.advance(u32(r + total));
        continue;
      }
      const start = off + RECORD_HEADER_BYTES;
      let copy: Uint8Array | undefined;
      if (dst) {
        if (dst.length < len) throw new RangeError(`buffer of ${dst.length} bytes is smaller than the ${len}-byte record`);
        // set(subarray) beats a byte loop from 16 bytes up (measured: 64 B in ~70 ns vs ~160 ns).
        const bytes = this.bytes;
        if (len <= 16) for (let i = 0; i < len; i++) dst[i] = bytes[start + i];
        else dst.set(bytes.subarray(start, start + len));
      } else {
        copy = this.bytes.slice(start, start + len);
      }
      // Seqlock check: anything the producer reserved more than one ring ago may have been
      // written over the bytes we just copied.
      if (this.overwritten(r)) { this.overrun(); continue; }
      this.lastCopy = copy;
      m.kind = kind; m.flags = flags; m.seq = seq;
      this.consumed(this.take(seq), 1);
      this.advance(u32(r + total));
      return len;
    }
  }

  /**
   * Reads a run of whole records at once: one copy of the run into `dst`, one seqlock check
   * and one cursor update for all of them. For consumers of many small records (RTP-sized
   * encoded chunks, vitals, PCM periods) this is several times cheaper per record than
   * readInto(), because the producer's cache line is touched once per run, not per record.
   * Record i's payload is `dst[batch.offset[i] .. + batch.length[i]]`.
   * @returns how many records `batch` now describes (0 when the ring is empty).
   * @throws RangeError when the next record alone is larger than `dst` (it stays unread).
   */
  readBatch(dst: Uint8Array, batch: RingBatch): number {
    const u32v = this.u32v;
    for (;;) {
      let r = this.pos;
      if (this.caughtUp(r)) return 0;
      // Walk record boundaries from the ring's headers; the check after the copy says
      // whether what was walked and copied is intact.
      const commit = this.commitSeen;
      let startOff = r & this.mask;
      let p = r;
      let n = 0;
      let bytes = 0;
      let corrupt = false;
      while (p !== commit && n < batch.maxRecords) {
        const off = p & this.mask;
        if (off < startOff && p !== r) break; // wrapped: the next batch starts at offset 0
        const len = u32v[(off >> 2) + R_LEN];
        const kind = u32v[(off >> 2) + R_KIND_FLAGS] & 0xffff;
        const avail = u32(commit - p);
        if (kind === KIND_PAD) {
          if (n > 0) break;
          if (!this.padFits(off, len, avail)) { corrupt = true; break; }
          p = u32(p + len);
          r = p;
          startOff = p & this.mask;
          continue;
        }
        const total = recordBytes(len);
        if (!this.recordFits(off, len, total, avail)) { corrupt = true; break; }
        if (bytes + total > dst.length) {
          if (n === 0) throw new RangeError(`buffer of ${dst.length} bytes is smaller than the ${total}-byte record`);
          break;
        }
        bytes += total;
        n++;
        p = u32(p + total);
      }
      if (!corrupt && bytes > 0) {
        const from = r & this.mask;
        dst.set(this.bytes.subarray(from, from + bytes));
      }
      if (corrupt || this.overwritten(this.pos)) { this.overrun(); continue; }
      if (n === 0) { this.advance(p); continue; } // only a pad
      // Parse the private copy.
      const d32 = batch.view(dst);
      let o = 0;
      let kept = 0;
      let lost = 0;
      for (let i = 0; i < n; i++) {
        const h = o >> 2;
        const len = d32[h + R_LEN];
        const kf = d32[h + R_KIND_FLAGS];
        const flags = kf >>> 16;
        const seq = d32[h + R_SEQ];
        const total = recordBytes(len);
        if (this.skips(flags)) { o += total; continue; }
        lost += this.take(seq);
        batch.offset[kept] = o + RECORD_HEADER_BYTES;
        batch.length[kept] = len;
        batch.kind[kept] = kf & 0xffff;
        batch.flags[kept] = flags;
        batch.seq[kept] = seq;
        batch.time[kept * 4] = d32[h + R_WALL_LO]; batch.time[kept * 4 + 1] = d32[h + R_WALL_HI];
        batch.time[kept * 4 + 2] = d32[h + R_MONO_LO]; batch.time[kept * 4 + 3] = d32[h + R_MONO_HI];
        kept++;
        o += total;
      }
      this.consumed(lost, kept);
      this.advance(p);
      if (kept > 0) { batch.count = kept; return kept; }
    }
  }

  // The checks next() and readBatch() share. Every one is bounded by what was committed; none
  // trusts a header word it read from the ring until the seqlock check (overwritten()) passed.

  /** True when the cursor `r` is at COMMIT (re-read only when the last one seen is reached). */
  private caughtUp(r: number): boolean {
    if (r !== this.commitSeen) return false;
    this.commitSeen = commitPos(Atomics.load(this.words, H_COMMIT));
    return r === this.commitSeen;
  }

  /** A pad at data offset `off` of `len` bytes is whole: 8-aligned, committed, inside the data area. */
  private padFits(off: number, len: number, avail: number): boolean {
    return len >= 8 && len <= avail && (len & 7) === 0 && off + len <= this.capacity;
  }

  /** A record at data offset `off` of `len` payload bytes (`total` in the ring) is committed and inside the data area. */
  private recordFits(off: number, len: number, total: number, avail: number): boolean {
    return len <= this.maxPayload && total <= avail && off + total <= this.capacity;
  }

  /** The seqlock check: RESERVE has moved more than one ring past position `from`, so the
   *  producer may have written over what was read from there. */
  private overwritten(from: number): boolean {
    return u32(Atomics.load(this.words, H_RESERVE) - from) > this.capacity;
  }

  /** After an overrun with no SYNC record to resume at, records up to the next SYNC one are skipped. */
  private skips(flags: number): boolean {
    return this.awaitSync && (flags & FLAG_SYNC) === 0;
  }

  /** Hands out the record numbered `seq`: ends a skip, returns how many records the sequence
   *  gap says were lost before it. */
  private take(seq: number): number {
    if (this.awaitSync) { this.awaitSync = false; this.words[this.base + C_AWAIT_SYNC] = 0; }
    const gap = u32(seq - this.expectSeq);
    this.expectSeq = u32(seq + 1);
    return gap > 0 && gap < 0x80000000 ? gap : 0;
  }

  /** Counts `records` handed out and `lost` in the shared counters (plain stores: only status reads them). */
  private consumed(lost: number, records: number): void {
    const w = this.words;
    const b = this.base;
    if (lost) w[b + C_LOST] = (w[b + C_LOST] + lost) | 0;
    w[b + C_EXPECT_SEQ] = this.expectSeq | 0;
    w[b + C_RECORDS_READ] = (w[b + C_RECORDS_READ] + records) | 0;
  }

  /** Steps the cursor to `pos` (past a record, a run or a pad) and publishes it in READ_POS. */
  private advance(pos: number): void {
    this.pos = pos;
    Atomics.store(this.words, this.base + C_READ_POS, pos | 0);
  }

  /** Moves a consumer that was overtaken to the resume point of the overrun policy. */
  private overrun(): void {
    const w = this.words;
    const r = this.pos;
    w[this.base + C_OVERRUNS] = (w[this.base + C_OVERRUNS] + 1) | 0;
    const reserve = u32(Atomics.load(w, H_RESERVE));
    const commit = commitPos(Atomics.load(w, H_COMMIT));
    this.commitSeen = commit;
    if (Atomics.load(w, H_HAS_SYNC) === 1) {
      const sync = u32(Atomics.load(w, H_LAST_SYNC));
      const syncIsValid = u32(reserve - sync) <= this.capacity;
      const syncIsAhead = u32(sync - r) < 0x80000000 && u32(commit - sync) < 0x80000000;
      if (syncIsValid && syncIsAhead) {
        this.advance(sync);
        return;
      }
    }
    // No resumable record in the ring yet: start at the head and skip to the next SYNC one.
    this.awaitSync = true;
    w[this.base + C_AWAIT_SYNC] = 1;
    this.advance(commit);
  }

  /**
   * Resolves when a record may be available, wake() was called, or `timeoutMs` (if given)
   * passed, without blocking the event loop (Atomics.waitAsync). A pending wait does not keep
   * a worker's event loop alive by itself: the worker must hold it open some other way (its
   * heartbeat timer does).
   *
   * Loops that wait for every record should not pass a timeout, and end through wake(): for
   * each timed wait the engine schedules a timer on the thread's event loop (the thread is
   * signalled to arm it, and it fires at the deadline) even when a record answers the wait
   * first. On a 30 fps stream that was two fifths of net-send's wake-ups (measured: 123 -> 75
   * per second with one channel).
   */
  async wait(timeoutMs?: number): Promise<void> {
    if (this.spin()) return;
    const seen = this.park();
    if (seen === undefined) return;
    const res = Atomics.waitAsync(this.words, H_COMMIT, seen, timeoutMs ?? Infinity);
    if (res.async) await res.value;
  }

  /** Ends every pending wait() on this ring now (a stopping loop's way out of an untimed wait);
   *  consumers on other threads that wake find nothing new and wait again. */
  wake(): void {
    Atomics.notify(this.words, H_COMMIT);
  }

  /**
   * Blocks the thread until a record may be available or `timeoutMs` passed (Atomics.wait):
   * for a thread with no event loop to keep running (a tool, a benchmark's reference). A
   * worker must use wait().
   */
  waitBlocking(timeoutMs: number): void {
    const seen = this.park();
    if (seen !== undefined) Atomics.wait(this.words, H_COMMIT, seen, timeoutMs);
  }

  /**
   * Polls COMMIT for up to SPIN_MS before a wait parks. A consumer that has just caught up with
   * a producer of many records (RTP packets, samples) usually finds the next publish within a
   * microsecond or two; parking instead costs it a trip through the event loop and the
   * producer a notify (a task posted to this thread and a signal to its loop), several
   * microseconds each. A consumer of a 30 fps stream spins in vain before each record: 30 x
   * SPIN_MS, 0.06 ms a second.
   * Returns true when something was published meanwhile.
   */
  private spin(): boolean {
    const w = this.words;
    const until = performance.now() + SPIN_MS;
    do {
      for (let i = 0; i < 32; i++) if (commitPos(Atomics.load(w, H_COMMIT)) !== this.pos) return true;
    } while (performance.now() < until);
    return false;
  }

  /** Sets COMMIT's WAITING bit (see the wake-up argument above) and returns the COMMIT value
   *  to sleep on, or undefined when there is something to read. */
  private park(): number | undefined {
    const w = this.words;
    for (;;) {
      const seen = Atomics.load(w, H_COMMIT);
      if (commitPos(seen) !== this.pos) return undefined;
      if (seen & WAITING) return seen;
      if (Atomics.compareExchange(w, H_COMMIT, seen, seen | WAITING) === seen) return seen | WAITING;
    }
  }

  /** Forgets this slot's cursor so the next consumer attaching to it starts afresh. */
  detach(): void {
    Atomics.store(this.words, this.base + C_ATTACHED, 0);
  }
}
