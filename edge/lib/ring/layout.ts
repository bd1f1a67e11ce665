/**
 * Record ring layout: the shared memory of a single-producer, multi-consumer FIFO of framed
 * records, and the view both sides attach through.
 *
 * Owns: the magic and version word, every named offset, the record framing, the checks a
 * view makes before it trusts a SharedArrayBuffer, and createRing() (the supervisor allocates
 * the SharedArrayBuffer, so a restarted worker finds its ring, its cursor and the records
 * still in it). The rules each side follows over this memory are written where their
 * Atomics are: the producer's in producer.ts, the consumer's (and the wake-up argument, and
 * the overrun policy) in consumer.ts; the status snapshot in stats.ts.
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
 * Hot paths: producer.ts and consumer.ts copy these constants into module-local consts
 * (`const { H_COMMIT, ... } = layout`) rather than importing them by name: Node 20's V8
 * loads an imported binding through its module cell at every use (an earlier attempt at
 * this split measured append() 32 -> 35 ns and readBatch() 20 -> 26 ns a record).
 *
 * Errors: RingLayoutError (wrong magic, version or size, or a bad createRing() argument).
 */

export const RING_MAGIC = 0x5242524f; // 'ORBR' little-endian
export const RING_VERSION = 4;

// Header words (i32 index).
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_CAPACITY = 2;
export const H_MAX_CONSUMERS = 3;
export const H_COMMIT = 5;
export const H_LAST_SYNC = 6;
export const H_HAS_SYNC = 7;
export const H_NEXT_SEQ = 8;
export const H_PRODUCER_EPOCH = 10;
export const H_BYTES_LO = 11;
export const H_BYTES_HI = 12;
// RESERVE sits alone on the second cache line: the producer moves it once per reserved chunk
// and consumers read it for every record (the seqlock check), so it must not share a line
// with COMMIT, which the producer writes for every record.
export const H_RESERVE = 16;
export const HEADER_WORDS = 32;
/** COMMIT bit 0: a consumer has parked since the last publish (the wake-up argument, consumer.ts). */
export const WAITING = 1;

// Consumer words (i32 index relative to the consumer's block).
export const C_ATTACHED = 0;
export const C_READ_POS = 1;
export const C_RECORDS_READ = 2;
export const C_OVERRUNS = 3;
export const C_LOST = 4;
export const C_AWAIT_SYNC = 5;
export const C_EXPECT_SEQ = 6;
export const CONSUMER_WORDS = 8;

// Record header: 32 bytes, read and written as u32 words (index from the record's word).
export const RECORD_HEADER_BYTES = 32;
export const R_LEN = 0; // payload length; for a pad, the pad's whole size
export const R_KIND_FLAGS = 1; // kind in the low half, flags in the high half
export const R_SEQ = 2;
export const R_SPARE = 3; // always 0
export const R_WALL_LO = 4; // wall ns as i64: low word, then high word (little-endian)
export const R_WALL_HI = 5;
export const R_MONO_LO = 6;
export const R_MONO_HI = 7;
export const KIND_PAD = 0xffff;

/** Record flag: a point a consumer can resume from after an overrun (a keyframe, a standalone record). */
export const FLAG_SYNC = 1;

export const MAX_CONSUMERS = 16;
const MAX_CAPACITY = 1 << 30;
const MIN_CAPACITY = 256;

export class RingLayoutError extends Error {
  override name = 'RingLayoutError';
}

export const align8 = (n: number): number => (n + 7) & ~7;
export const u32 = (n: number): number => n >>> 0;
/** The position in a COMMIT value. */
export const commitPos = (v: number): number => u32(v & ~WAITING);
/** Bytes a record with `len` payload bytes takes in the data area (header, payload, alignment). */
export const recordBytes = (len: number): number => align8(RECORD_HEADER_BYTES + len);
/** The signed 64-bit value of two 32-bit halves (how record timestamps are read). */
export const join64 = (lo: number, hi: number): bigint => BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(u32(lo)));

function dataOffset(maxConsumers: number): number {
  return align8((HEADER_WORDS + maxConsumers * CONSUMER_WORDS) * 4);
}

/** Bytes of SharedArrayBuffer a ring of this capacity needs. */
export function ringBytes(capacity: number, maxConsumers: number): number {
  return dataOffset(maxConsumers) + capacity;
}

/**
 * Allocates a ring (in the supervisor). `capacity` (data bytes) is rounded up to a power of
 * two; the largest payload is capacity - 32 bytes.
 * @throws RingLayoutError when capacity is outside 256..2^30 or maxConsumers outside 1..16.
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
 * A shared view of one ring's memory; the base of the producer, the consumer and the stats
 * reader. Not exported from the ring's index: its views are the sides' own business.
 * @throws RingLayoutError when `sab` is not a ring of this version made by createRing().
 */
export class RingView {
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
