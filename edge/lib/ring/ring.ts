/**
 * Record ring: a single-producer, multi-consumer FIFO of framed records in a SharedArrayBuffer.
 *
 * Owns: the layout of one ring's shared memory and the rules both sides follow. The
 * supervisor allocates the SharedArrayBuffer (so a restarted worker finds its ring, its
 * cursor and the records still in it); a producer worker and up to `maxConsumers` consumer
 * workers each attach a `RingProducer` / `RingConsumer` view.
 *
 * Memory layout (all words native-endian; every offset is a named constant below):
 *
 *   0              64             128            128+32*maxConsumers        dataOffset
 *   +--------------+--------------+--------------+------- ... ------------+-----------------+
 *   | header line  | RESERVE line | consumer 0   | consumer 1 ...         | data (capacity  |
 *   | 16 x i32     | 16 x i32     | 8 x i32      |                        | bytes, 2^n)     |
 *   +--------------+--------------+--------------+------- ... ------------+-----------------+
 *
 *   header words: MAGIC 'ORBR', VERSION, CAPACITY, MAX_CONSUMERS, -, COMMIT, LAST_SYNC,
 *   HAS_SYNC, NEXT_SEQ, -, PRODUCER_EPOCH, BYTES_WRITTEN_LO/HI; word 16: RESERVE
 *   COMMIT holds a position (a multiple of 8) in its upper bits and, in bit 0, WAITING: a
 *   consumer has parked since the last publish.
 *   consumer words: ATTACHED, READ_POS, RECORDS_READ, OVERRUNS, LOST, AWAIT_SYNC, EXPECT_SEQ
 *
 *   record at an 8-aligned data position (never split across the end of the data area):
 *   0       4       6       8       12      16              24              32
 *   +-------+-------+-------+-------+-------+---------------+---------------+---------- - -
 *   | len   | kind  | flags | seq   | 0     | wall ns (i64) | mono ns (i64) | payload (len)
 *   +-------+-------+-------+-------+-------+---------------+---------------+---------- - -
 *   A record that would cross the end is preceded by a pad (kind 0xFFFF; its len field is
 *   the pad's whole size, at least 8 bytes) that fills the tail, and starts at offset 0.
 *
 * (kind and flags are written together as one u32, kind in the low half: the layout assumes a
 * little-endian CPU, which every target board and the x86 build machine are.)
 *
 * Positions are byte counts since the ring was created, kept as u32 that wrap (`>>> 0`);
 * capacity is at most 2^30, so every distance the two sides compare is below 2^31.
 *
 * Ordering argument (Atomics are sequentially consistent; plain typed-array accesses are not):
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
 * Lifecycle: `createRing()` in the supervisor; `new RingProducer(sab)` / `new
 * RingConsumer(sab, index)` in workers. A producer that attaches after a crash calls
 * `recover()` (done by its constructor) which pads over a record left half-written.
 *
 * Errors: RingLayoutError (wrong magic, version or size), RecordTooLargeError.
 */

export const RING_MAGIC = 0x5242524f; // 'ORBR' little-endian
export const RING_VERSION = 4;

// Header words (i32 index).
const H_MAGIC = 0;
const H_VERSION = 1;
const H_CAPACITY = 2;
const H_MAX_CONSUMERS = 3;
const H_COMMIT = 5;
const H_LAST_SYNC = 6;
const H_HAS_SYNC = 7;
const H_NEXT_SEQ = 8;
const H_PRODUCER_EPOCH = 10;
const H_BYTES_LO = 11;
const H_BYTES_HI = 12;
// RESERVE sits alone on the second cache line: the producer moves it once per reserved chunk
// and consumers read it for every record (the seqlock check), so it must not share a line
// with COMMIT, which the producer writes for every record.
const H_RESERVE = 16;
const HEADER_WORDS = 32;
/** COMMIT bit 0: a consumer has parked since the last publish (see the ordering argument). */
const WAITING = 1;
/** The position in a COMMIT value. */
const commitPos = (v: number): number => u32(v & ~WAITING);

// Consumer words (i32 index relative to the consumer's block).
const C_ATTACHED = 0;
const C_READ_POS = 1;
const C_RECORDS_READ = 2;
const C_OVERRUNS = 3;
const C_LOST = 4;
const C_AWAIT_SYNC = 5;
const C_EXPECT_SEQ = 6;
const CONSUMER_WORDS = 8;

// Record header: 32 bytes, read and written as u32 words (index from the record's word).
export const RECORD_HEADER_BYTES = 32;
const R_LEN = 0; // payload length; for a pad, the pad's whole size
const R_KIND_FLAGS = 1; // kind in the low half, flags in the high half
const R_SEQ = 2;
const R_WALL_LO = 4; // wall ns as i64: low word, then high word (little-endian)
const R_WALL_HI = 5;
const R_MONO_LO = 6;
const R_MONO_HI = 7;
const KIND_PAD = 0xffff;

/** Record flag: a point a consumer can resume from after an overrun (a keyframe, a standalone record). */
export const FLAG_SYNC = 1;

export const MAX_CONSUMERS = 16;
/** Bytes the producer reserves beyond a record (at most capacity/16). */
export const RESERVE_AHEAD = 16 * 1024;
/** How long wait() polls before it parks (see RingConsumer.spin). */
const SPIN_MS = 0.002;
const MAX_CAPACITY = 1 << 30;
const MIN_CAPACITY = 256;

export class RingLayoutError extends Error {
  override name = 'RingLayoutError';
}

export class RecordTooLargeError extends Error {
  override name = 'RecordTooLargeError';
  constructor(readonly payloadBytes: number, readonly maxPayloadBytes: number) {
    super(`record of ${payloadBytes} bytes does not fit a ring whose largest record is ${maxPayloadBytes} bytes`);
  }
}

const align8 = (n: number): number => (n + 7) & ~7;
const u32 = (n: number): number => n >>> 0;
/** The signed 64-bit value of two 32-bit halves (how record timestamps are read). */
const join64 = (lo: number, hi: number): bigint => BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(u32(lo)));

function dataOffset(maxConsumers: number): number {
  return align8((HEADER_WORDS + maxConsumers * CONSUMER_WORDS) * 4);
}

/** Bytes of SharedArrayBuffer a ring of this capacity needs. */
export function ringBytes(capacity: number, maxConsumers: number): number {
  return dataOffset(maxConsumers) + capacity;
}

/**
 * Allocates a ring. `capacity` (data bytes) is rounded up to a power of two; the largest
 * payload is capacity - 32 bytes.
 */
export function createRing(capacity: number, maxConsumers = 4): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY) {
    throw new RingLayoutError(`ring capacity must be an integer from ${MIN_CAPACITY} to ${MAX_CAPACITY} bytes, got ${capacity}`);
  }
  if (!Number.isInteger(maxConsumers) || maxConsumers < 1 || maxConsumers > MAX_CONSUMERS) {
    throw new RingLayoutError(`maxConsumers must be 1..${MAX_CONSUMERS}, got ${maxConsumers}`);
  }
  let cap = MIN_CAPACITY;
  while (cap < capacity) cap *= 2;
  const sab = new SharedArrayBuffer(ringBytes(cap, maxConsumers));
  const h = new Int32Array(sab, 0, HEADER_WORDS);
  h[H_CAPACITY] = cap;
  h[H_MAX_CONSUMERS] = maxConsumers;
  h[H_VERSION] = RING_VERSION;
  Atomics.store(h, H_MAGIC, RING_MAGIC);
  return sab;
}

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

/** A shared view of one ring's memory; the base of the producer and consumer sides. */
class RingView {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  readonly maxConsumers: number;
  protected readonly mask: number;
  protected readonly words: Int32Array;
  protected readonly bytes: Uint8Array;
  protected readonly u32v: Uint32Array;
  protected readonly i64: BigInt64Array;

  constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_WORDS * 4) {
      throw new RingLayoutError('not a ring: expected a SharedArrayBuffer made by createRing()');
    }
    const h = new Int32Array(sab, 0, HEADER_WORDS);
    if (Atomics.load(h, H_MAGIC) !== RING_MAGIC) throw new RingLayoutError('not a ring: bad magic word');
    if (h[H_VERSION] !== RING_VERSION) throw new RingLayoutError(`ring version ${h[H_VERSION]}, this code reads ${RING_VERSION}`);
    this.sab = sab;
    this.capacity = h[H_CAPACITY];
    this.maxConsumers = h[H_MAX_CONSUMERS];
    this.mask = this.capacity - 1;
    const off = dataOffset(this.maxConsumers);
    if (sab.byteLength !== off + this.capacity) throw new RingLayoutError('ring size does not match its header');
    this.words = new Int32Array(sab, 0, off / 4);
    this.bytes = new Uint8Array(sab, off, this.capacity);
    this.u32v = new Uint32Array(sab, off, this.capacity / 4);
    this.i64 = new BigInt64Array(sab, off, this.capacity / 8);
  }

  /** Largest payload a single record can carry. */
  get maxPayload(): number {
    return this.capacity - RECORD_HEADER_BYTES;
  }

  protected cword(consumer: number, w: number): number {
    return HEADER_WORDS + consumer * CONSUMER_WORDS + w;
  }
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
    const total = align8(RECORD_HEADER_BYTES + len);
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
    u32v[h + 3] = 0;
    this.i64[(h + R_WALL_LO) >> 1] = wallNs;
    this.i64[(h + R_MONO_LO) >> 1] = monoNs;
    if (flags & FLAG_SYNC) this.pendingSync = this.pos;
    this.pos = u32(this.pos + align8(RECORD_HEADER_BYTES + len));
    this.seq = u32(seq + 1);
    return seq;
  }
}

/** Result of a non-blocking read attempt; negative values are not lengths. */
export const READ_EMPTY = -1;

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
    const w = this.words;
    const u32v = this.u32v;
    for (;;) {
      const r = this.pos;
      if (r === this.commitSeen) {
        this.commitSeen = commitPos(Atomics.load(w, H_COMMIT));
        if (r === this.commitSeen) return READ_EMPTY;
      }
      const off = r & this.mask;
      const h = off >> 2;
      // Header words may be torn if the producer is overwriting them; everything below is
      // bounded by what was committed, and the seqlock check after the copy decides.
      const len = u32v[h + R_LEN];
      const kf = u32v[h + R_KIND_FLAGS];
      const kind = kf & 0xffff;
      const avail = u32(this.commitSeen - r);
      if (kind === KIND_PAD) {
        if (len < 8 || len > avail || (len & 7) !== 0 || off + len > this.capacity || u32(Atomics.load(w, H_RESERVE) - r) > this.capacity) {
          this.overrun(); continue;
        }
        this.advance(u32(r + len));
        continue;
      }
      const total = align8(RECORD_HEADER_BYTES + len);
      if (len > this.maxPayload || total > avail || off + total > this.capacity) { this.overrun(); continue; }
      const flags = kf >>> 16;
      const seq = u32v[h + R_SEQ];
      const m = this.meta;
      m.wallLo = u32v[h + R_WALL_LO]; m.wallHi = u32v[h + R_WALL_HI] | 0;
      m.monoLo = u32v[h + R_MONO_LO]; m.monoHi = u32v[h + R_MONO_HI] | 0;
      if (this.awaitSync && (flags & FLAG_SYNC) === 0) {
        // Skipped records are counted as lost through the sequence gap at the next read.
        if (u32(Atomics.load(w, H_RESERVE) - r) > this.capacity) { this.overrun(); continue; }
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
      if (u32(Atomics.load(w, H_RESERVE) - r) > this.capacity) { this.overrun(); continue; }
      this.lastCopy = copy;
      m.kind = kind; m.flags = flags; m.seq = seq;
      const b = this.base;
      const gap = u32(seq - this.expectSeq);
      if (gap > 0 && gap < 0x80000000) w[b + C_LOST] = (w[b + C_LOST] + gap) | 0;
      this.expectSeq = u32(seq + 1);
      w[b + C_EXPECT_SEQ] = this.expectSeq | 0;
      if (this.awaitSync) { this.awaitSync = false; w[b + C_AWAIT_SYNC] = 0; }
      w[b + C_RECORDS_READ] = (w[b + C_RECORDS_READ] + 1) | 0;
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
    const w = this.words;
    const u32v = this.u32v;
    for (;;) {
      let r = this.pos;
      if (r === this.commitSeen) {
        this.commitSeen = commitPos(Atomics.load(w, H_COMMIT));
        if (r === this.commitSeen) return 0;
      }
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
          if (len < 8 || len > avail || (len & 7) !== 0 || off + len > this.capacity) { corrupt = true; break; }
          p = u32(p + len);
          r = p;
          startOff = p & this.mask;
          continue;
        }
        const total = align8(RECORD_HEADER_BYTES + len);
        if (len > this.maxPayload || total > avail || off + total > this.capacity) { corrupt = true; break; }
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
      if (corrupt || u32(Atomics.load(w, H_RESERVE) - this.pos) > this.capacity) { this.overrun(); continue; }
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
        const total = align8(RECORD_HEADER_BYTES + len);
        if (this.awaitSync && (flags & FLAG_SYNC) === 0) { o += total; continue; }
        this.awaitSync = false;
        const gap = u32(seq - this.expectSeq);
        if (gap > 0 && gap < 0x80000000) lost += gap;
        this.expectSeq = u32(seq + 1);
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
      const b = this.base;
      if (lost) w[b + C_LOST] = (w[b + C_LOST] + lost) | 0;
      w[b + C_EXPECT_SEQ] = this.expectSeq | 0;
      w[b + C_AWAIT_SYNC] = this.awaitSync ? 1 : 0;
      w[b + C_RECORDS_READ] = (w[b + C_RECORDS_READ] + kept) | 0;
      this.advance(p);
      if (kept > 0) { batch.count = kept; return kept; }
    }
  }

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

  /** Sets COMMIT's WAITING bit (see the ordering argument) and returns the COMMIT value to
   *  sleep on, or undefined when there is something to read. */
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

/** A snapshot of a ring's counters, readable from any thread (values may be a moment stale). */
export function ringStats(sab: SharedArrayBuffer): RingStats {
  const v = new (class extends RingView {
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
  })(sab);
  return v.stats();
}
