/**
 * Slot ring: fixed-size slots for raw video frames, handed between threads by buffer exchange.
 *
 * Owns: the layout of one raw-frame ring. A frame is copied once, into a slot, by the
 * producer (video-capture); consumers (video-encode) get a zero-copy view of the slot and
 * hand it back with release(), or lend the hold to another thread that clears it (loan()).
 * The supervisor allocates the SharedArrayBuffer, so a restarted worker finds the ring and
 * its cursor where it left them.
 *
 * Memory layout (i32 words, native-endian):
 *
 *   0               64                    64+64*slots            +32*consumers   dataOffset
 *   +---------------+---------------------+----------------------+--------------+-------------+
 *   | header 16 w   | slot meta 16 w each | consumer 8 w each    | (pad to 64)  | slots*slotBytes
 *   +---------------+---------------------+----------------------+--------------+-------------+
 *   header: MAGIC 'ORBS', VERSION, SLOTS, SLOT_BYTES, MAX_CONSUMERS, PUBLISHED (last frame
 *           seq), PARKS, DROPPED (frames the producer had no slot for), PRODUCER_EPOCH
 *   slot:   HOLDERS (bit c = consumer c holds it, bit 31 = producer writing), SEQ, LEN,
 *           KIND_FLAGS, WALL ns (2 w), MONO ns (2 w), USER0, USER1
 *   consumer: ATTACHED, NEXT (seq wanted), READ, OVERRUNS, LOST, ASKED (it has asked for a
 *           frame: past its start-up; the producer may wait for this before its source runs)
 *
 * Frames are numbered from 1; seq 0 in a slot means empty. Every frame is a sync point.
 *
 * Ordering argument: HOLDERS is the only word both sides modify, always by compare-exchange,
 * so "producer claims a free slot" and "consumer takes a hold" are linearised: either the
 * producer's claim 0 -> WRITER wins and the consumer sees WRITER and backs off, or the
 * consumer's bit is set first and the producer's claim fails and it moves to another slot.
 * The producer writes SEQ after the payload and meta and clears WRITER last; a consumer that
 * holds a slot re-reads SEQ after taking the hold, so it never keeps a slot that was reused
 * between its scan and its hold.
 *
 * Wake-ups: a consumer counts itself in PARKS (Atomics.add) before it re-reads PUBLISHED and
 * parks on that value; the producer, after its PUBLISHED store, notifies only when PARKS moved
 * since its last notify. Both sides write, then read the other's word, all sequentially
 * consistent, so at least one of them sees the other: the consumer sees the new frame and
 * does not sleep, or the producer sees the park and notifies (and a notify before the wait
 * finds PUBLISHED changed). (The record ring folds this into one word, COMMIT's WAITING bit,
 * to save an atomic operation per record; at 30 frames a second the second one costs nothing
 * worth a second scheme's complexity in frame numbers.)
 *
 * Overrun policy: the producer reuses the oldest slot nobody holds, read or not (it never
 * waits). A consumer whose wanted frame was overwritten counts an overrun, adds the frames
 * that were overwritten to LOST and resumes at the oldest frame still in the ring (every raw
 * frame is a sync point). Jumping to the newest instead would turn one late frame into
 * slots-1 lost ones, and the encoder behind this ring records: a frame still here is a frame
 * the recording can have. The producer drops a frame (DROPPED) only when every slot is held,
 * which means consumers keep more frames than the ring has slots for.
 *
 * Lifecycle: createSlotRing() in the supervisor; SlotProducer / SlotConsumer in workers.
 * Attaching clears holds left by a previous incarnation of the same side (a worker that
 * died holding a slot would otherwise leak it).
 */
import { RingLayoutError } from './layout.js';

export const SLOT_RING_MAGIC = 0x5342524f; // 'ORBS' little-endian, distinct from the record ring's 'ORBR'
export const SLOT_RING_VERSION = 3;

const H_MAGIC = 0;
const H_VERSION = 1;
const H_SLOTS = 2;
const H_SLOT_BYTES = 3;
const H_MAX_CONSUMERS = 4;
const H_PUBLISHED = 5;
const H_PARKS = 6;
const H_DROPPED = 7;
const H_PRODUCER_EPOCH = 8;
const HEADER_WORDS = 16;

const S_HOLDERS = 0;
const S_SEQ = 1;
const S_LEN = 2;
const S_KIND_FLAGS = 3;
const S_WALL = 4; // i64 at words 4..5
const S_MONO = 6; // i64 at words 6..7
const S_USER0 = 8;
const S_USER1 = 9;
const SLOT_WORDS = 16;

const C_ATTACHED = 0;
const C_NEXT = 1;
const C_READ = 2;
const C_OVERRUNS = 3;
const C_LOST = 4;
const C_ASKED = 5;
const CONSUMER_WORDS = 8;

const WRITER = 1 << 31;
const MAX_CONSUMERS = 30;

function layout(slots: number, maxConsumers: number): { metaWords: number; dataOffset: number } {
  const metaWords = HEADER_WORDS + slots * SLOT_WORDS + maxConsumers * CONSUMER_WORDS;
  return { metaWords, dataOffset: Math.ceil((metaWords * 4) / 64) * 64 };
}

/** Allocates a slot ring of `slots` frames of at most `slotBytes` each. */
export function createSlotRing(slots: number, slotBytes: number, maxConsumers = 2): SharedArrayBuffer {
  if (!Number.isInteger(slots) || slots < 2 || slots > 64) throw new RingLayoutError(`slots must be 2..64, got ${slots}`);
  if (!Number.isInteger(slotBytes) || slotBytes < 1) throw new RingLayoutError(`slotBytes must be a positive integer, got ${slotBytes}`);
  if (!Number.isInteger(maxConsumers) || maxConsumers < 1 || maxConsumers > MAX_CONSUMERS) {
    throw new RingLayoutError(`maxConsumers must be 1..${MAX_CONSUMERS}, got ${maxConsumers}`);
  }
  const stride = Math.ceil(slotBytes / 64) * 64;
  const { dataOffset } = layout(slots, maxConsumers);
  const sab = new SharedArrayBuffer(dataOffset + slots * stride);
  const h = new Int32Array(sab, 0, HEADER_WORDS);
  h[H_SLOTS] = slots;
  h[H_SLOT_BYTES] = stride;
  h[H_MAX_CONSUMERS] = maxConsumers;
  h[H_VERSION] = SLOT_RING_VERSION;
  Atomics.store(h, H_MAGIC, SLOT_RING_MAGIC);
  return sab;
}

export function isSlotRing(sab: SharedArrayBuffer): boolean {
  return sab.byteLength >= 64 && Atomics.load(new Int32Array(sab, 0, 1), 0) === SLOT_RING_MAGIC;
}

export interface FrameMeta {
  kind: number;
  flags: number;
  wallNs: bigint;
  monoNs: bigint;
  /** Two words the producer may use for per-frame facts (e.g. width/height of a slate). */
  user0: number;
  user1: number;
}

class SlotView {
  readonly sab: SharedArrayBuffer;
  readonly slots: number;
  readonly slotBytes: number;
  readonly maxConsumers: number;
  protected readonly w: Int32Array;
  protected readonly i64: BigInt64Array;
  protected readonly data: Uint8Array;

  constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer) || !isSlotRing(sab)) throw new RingLayoutError('not a slot ring: bad magic word');
    const h = new Int32Array(sab, 0, HEADER_WORDS);
    if (h[H_VERSION] !== SLOT_RING_VERSION) throw new RingLayoutError(`slot ring version ${h[H_VERSION]}, this code reads ${SLOT_RING_VERSION}`);
    this.sab = sab;
    this.slots = h[H_SLOTS];
    this.slotBytes = h[H_SLOT_BYTES];
    this.maxConsumers = h[H_MAX_CONSUMERS];
    const { metaWords, dataOffset } = layout(this.slots, this.maxConsumers);
    if (sab.byteLength !== dataOffset + this.slots * this.slotBytes) throw new RingLayoutError('slot ring size does not match its header');
    this.w = new Int32Array(sab, 0, metaWords);
    this.i64 = new BigInt64Array(sab, 0, Math.floor(metaWords / 2));
    this.data = new Uint8Array(sab, dataOffset, this.slots * this.slotBytes);
  }

  protected sw(slot: number, word: number): number {
    return HEADER_WORDS + slot * SLOT_WORDS + word;
  }

  protected cw(consumer: number, word: number): number {
    return HEADER_WORDS + this.slots * SLOT_WORDS + consumer * CONSUMER_WORDS + word;
  }

  protected view(slot: number, len: number): Uint8Array {
    const start = slot * this.slotBytes;
    return this.data.subarray(start, start + len);
  }
}

/** Below this, TypedArray.set is cheaper than the native call (measured per copy: set() ahead at 4 KB, 212 against 297 ns; fill() ahead at 16 KB, 703 against 914 ns). */
const NATIVE_COPY_MIN = 16 * 1024;

/**
 * Copies `src` to the start of `dst`, a view of shared memory, at memcpy speed. V8 copies
 * into a SharedArrayBuffer word by word with relaxed atomics (TypedArray.set, and
 * Buffer.copy, which is set() in Node 20): 0.6-0.75 of memcpy on a 1080p frame here.
 * Buffer.fill with a source as long as the target is one native memcpy. Frames the binding
 * pulls are already copied natively; this is for frames built in JS (the slate).
 * Throws RangeError when `src` does not fit.
 */
export function copyIntoShared(dst: Uint8Array, src: Uint8Array): void {
  if (src.length > dst.length) throw new RangeError(`copyIntoShared: ${src.length} bytes do not fit in ${dst.length}`);
  if (src.length < NATIVE_COPY_MIN) { dst.set(src); return; }
  // fill() repeats a short source to the target's end: the target is cut to the source.
  Buffer.from(dst.buffer, dst.byteOffset, src.length).fill(src);
}

/** A slot the producer is filling. */
export interface SlotClaim {
  readonly slot: number;
  /** The whole slot; write the frame at its start. */
  readonly bytes: Uint8Array;
}

/** The producer side (video-capture). Never blocks. */
export class SlotProducer extends SlotView {
  private cursor = 0;
  private seq: number;
  /** PARKS when this producer last notified (never equal at first: a consumer may be parked). */
  private notifiedParks = 2 ** 40;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    // A producer that died mid-write left its WRITER bit; nothing else sets it.
    for (let s = 0; s < this.slots; s++) Atomics.and(this.w, this.sw(s, S_HOLDERS), ~WRITER);
    this.seq = Atomics.load(this.w, H_PUBLISHED) >>> 0;
    Atomics.add(this.w, H_PRODUCER_EPOCH, 1);
  }

  /**
   * Claims the oldest slot nobody holds, or returns undefined (and counts a dropped frame)
   * when every slot is held.
   */
  claim(): SlotClaim | undefined {
    let best = -1;
    let bestSeq = Infinity;
    for (let i = 0; i < this.slots; i++) {
      const s = (this.cursor + i) % this.slots;
      if (Atomics.load(this.w, this.sw(s, S_HOLDERS)) !== 0) continue;
      const seq = Atomics.load(this.w, this.sw(s, S_SEQ)) >>> 0;
      if (seq < bestSeq) { best = s; bestSeq = seq; }
    }
    // The scan is a hint; the compare-exchange decides. Try the oldest free first, then any.
    for (let i = -1; i < this.slots; i++) {
      const s = i < 0 ? best : (this.cursor + i) % this.slots;
      if (s < 0) continue;
      if (Atomics.compareExchange(this.w, this.sw(s, S_HOLDERS), 0, WRITER) === 0) {
        Atomics.store(this.w, this.sw(s, S_SEQ), 0);
        this.cursor = (s + 1) % this.slots;
        return { slot: s, bytes: this.view(s, this.slotBytes) };
      }
    }
    Atomics.add(this.w, H_DROPPED, 1);
    return undefined;
  }

  /** Publishes a claimed slot holding `len` bytes. Returns the frame's seq. */
  publish(claim: SlotClaim, len: number, meta: FrameMeta): number {
    const s = claim.slot;
    if (len < 0 || len > this.slotBytes) throw new RangeError(`frame of ${len} bytes does not fit a ${this.slotBytes}-byte slot`);
    const w = this.w;
    w[this.sw(s, S_LEN)] = len;
    w[this.sw(s, S_KIND_FLAGS)] = ((meta.kind & 0xffff) << 16) | (meta.flags & 0xffff);
    this.i64[this.sw(s, S_WALL) >> 1] = meta.wallNs;
    this.i64[this.sw(s, S_MONO) >> 1] = meta.monoNs;
    w[this.sw(s, S_USER0)] = meta.user0;
    w[this.sw(s, S_USER1)] = meta.user1;
    this.seq = (this.seq + 1) >>> 0;
    Atomics.store(w, this.sw(s, S_SEQ), this.seq | 0);
    Atomics.and(w, this.sw(s, S_HOLDERS), ~WRITER);
    Atomics.store(w, H_PUBLISHED, this.seq | 0);
    const parks = Atomics.load(w, H_PARKS);
    if (parks !== this.notifiedParks) {
      this.notifiedParks = parks;
      Atomics.notify(w, H_PUBLISHED);
    }
    return this.seq;
  }

  /**
   * Whether every consumer the ring was made for has asked for a frame: it is past its
   * start-up (workers attach their rings before they start) and will take frames as they
   * come. Stays true across a consumer's restart.
   */
  consumersReady(): boolean {
    for (let c = 0; c < this.maxConsumers; c++) {
      if (Atomics.load(this.w, this.cw(c, C_ASKED)) !== 1) return false;
    }
    return true;
  }

  /** Gives a claimed slot back unpublished (the frame was abandoned). */
  abandon(claim: SlotClaim): void {
    Atomics.and(this.w, this.sw(claim.slot, S_HOLDERS), ~WRITER);
  }
}

/** A frame a consumer holds; its bytes are valid until release(). */
export interface HeldFrame extends FrameMeta {
  readonly slot: number;
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** One consumer's side (video-encode). Cursor and counters live in shared memory. */
export class SlotConsumer extends SlotView {
  readonly index: number;
  private readonly bit: number;
  private asked = false;

  constructor(sab: SharedArrayBuffer, index: number) {
    super(sab);
    if (!Number.isInteger(index) || index < 0 || index >= this.maxConsumers) {
      throw new RingLayoutError(`consumer index ${index} outside 0..${this.maxConsumers - 1}`);
    }
    this.index = index;
    this.bit = 1 << index;
    // Holds taken by this slot's previous incarnation died with it.
    for (let s = 0; s < this.slots; s++) Atomics.and(this.w, this.sw(s, S_HOLDERS), ~this.bit);
    if (Atomics.compareExchange(this.w, this.cw(index, C_ATTACHED), 0, 1) === 0) {
      Atomics.store(this.w, this.cw(index, C_NEXT), (Atomics.load(this.w, H_PUBLISHED) + 1) | 0);
    }
  }

  /**
   * Takes a hold on the next frame, or returns undefined when none is published yet. The
   * frame must be given back with release().
   */
  acquire(): HeldFrame | undefined {
    const w = this.w;
    if (!this.asked) { this.asked = true; Atomics.store(w, this.cw(this.index, C_ASKED), 1); }
    for (let attempt = 0; attempt < 4; attempt++) {
      const published = Atomics.load(w, H_PUBLISHED) >>> 0;
      let want = Atomics.load(w, this.cw(this.index, C_NEXT)) >>> 0;
      if (((published - want) | 0) < 0) return undefined; // nothing new yet
      let slot = this.find(want);
      if (slot < 0) {
        // Overwritten before we got to it: resume at the oldest frame after it still here.
        const oldest = this.oldestAfter(want, published);
        if (!oldest) continue; // every later frame is being rewritten right now
        Atomics.add(w, this.cw(this.index, C_OVERRUNS), 1);
        Atomics.add(w, this.cw(this.index, C_LOST), (oldest.seq - want) >>> 0);
        want = oldest.seq;
        Atomics.store(w, this.cw(this.index, C_NEXT), want | 0);
        slot = oldest.slot;
      }
      if (!this.hold(slot)) continue;
      if ((Atomics.load(w, this.sw(slot, S_SEQ)) >>> 0) !== want) {
        Atomics.and(w, this.sw(slot, S_HOLDERS), ~this.bit);
        continue;
      }
      Atomics.store(w, this.cw(this.index, C_NEXT), (want + 1) | 0);
      Atomics.add(w, this.cw(this.index, C_READ), 1);
      const kf = w[this.sw(slot, S_KIND_FLAGS)];
      return {
        slot, seq: want,
        bytes: this.view(slot, w[this.sw(slot, S_LEN)]),
        kind: (kf >>> 16) & 0xffff, flags: kf & 0xffff,
        wallNs: this.i64[this.sw(slot, S_WALL) >> 1],
        monoNs: this.i64[this.sw(slot, S_MONO) >> 1],
        user0: w[this.sw(slot, S_USER0)], user1: w[this.sw(slot, S_USER1)],
      };
    }
    return undefined;
  }

  private find(seq: number): number {
    for (let s = 0; s < this.slots; s++) {
      if ((Atomics.load(this.w, this.sw(s, S_SEQ)) >>> 0) === seq) return s;
    }
    return -1;
  }

  /** The oldest published frame newer than `seq` (at most `published`). A hint: the caller
   *  holds the slot and re-reads its seq. */
  private oldestAfter(seq: number, published: number): { slot: number; seq: number } | undefined {
    let best: { slot: number; seq: number } | undefined;
    for (let s = 0; s < this.slots; s++) {
      const at = Atomics.load(this.w, this.sw(s, S_SEQ)) >>> 0;
      if (at === 0 || ((at - seq) | 0) <= 0 || ((published - at) | 0) < 0) continue;
      if (!best || ((at - best.seq) | 0) < 0) best = { slot: s, seq: at };
    }
    return best;
  }

  private hold(slot: number): boolean {
    const i = this.sw(slot, S_HOLDERS);
    for (;;) {
      const cur = Atomics.load(this.w, i);
      if (cur & WRITER) return false;
      if (Atomics.compareExchange(this.w, i, cur, cur | this.bit) === cur) return true;
    }
  }

  /** Hands a frame's slot back to the producer. */
  release(frame: HeldFrame): void {
    Atomics.and(this.w, this.sw(frame.slot, S_HOLDERS), ~this.bit);
  }

  /**
   * The word and bit whose clearing is release(frame), for a holder in another thread (a
   * GstBuffer lent to GStreamer: edge/gst pushShared). Whoever gets it must clear it exactly
   * once, and before this consumer's next incarnation attaches: attaching clears the
   * previous incarnation's holds, and a late clear could then drop a hold taken since.
   */
  loan(frame: HeldFrame): { readonly words: Int32Array; readonly index: number; readonly mask: number } {
    return { words: this.w, index: this.sw(frame.slot, S_HOLDERS), mask: this.bit };
  }

  /** How many slots this consumer holds now (acquired or lent, not yet given back). */
  holding(): number {
    let n = 0;
    for (let s = 0; s < this.slots; s++) if (Atomics.load(this.w, this.sw(s, S_HOLDERS)) & this.bit) n++;
    return n;
  }

  /**
   * Resolves when a new frame may be published, wake() was called, or `timeoutMs` (if given)
   * passed; never blocks the loop. Per-frame loops wait without a timeout (see RingConsumer.wait).
   */
  async wait(timeoutMs?: number): Promise<void> {
    const w = this.w;
    Atomics.add(w, H_PARKS, 1);
    const published = Atomics.load(w, H_PUBLISHED);
    const want = Atomics.load(w, this.cw(this.index, C_NEXT));
    if (((published - want) | 0) >= 0) return;
    const res = Atomics.waitAsync(w, H_PUBLISHED, published, timeoutMs ?? Infinity);
    if (res.async) await res.value;
  }

  /** Ends every pending wait() on this ring now (see RingConsumer.wake). */
  wake(): void {
    Atomics.notify(this.w, H_PUBLISHED);
  }
}

export interface SlotRingStats {
  slots: number;
  slotBytes: number;
  framesPublished: number;
  framesDropped: number;
  producerEpoch: number;
  fill: number;
  consumers: { index: number; framesRead: number; overruns: number; lost: number; backlogFrames: number }[];
}

export function slotRingStats(sab: SharedArrayBuffer): SlotRingStats {
  const v = new (class extends SlotView {
    stats(): SlotRingStats {
      const w = this.w;
      const published = Atomics.load(w, H_PUBLISHED) >>> 0;
      const consumers: SlotRingStats['consumers'] = [];
      let maxBacklog = 0;
      for (let c = 0; c < this.maxConsumers; c++) {
        if (Atomics.load(w, this.cw(c, C_ATTACHED)) !== 1) continue;
        const backlog = Math.max(0, Math.min(this.slots, (published - (Atomics.load(w, this.cw(c, C_NEXT)) >>> 0) + 1) | 0));
        maxBacklog = Math.max(maxBacklog, backlog);
        consumers.push({
          index: c,
          framesRead: Atomics.load(w, this.cw(c, C_READ)) >>> 0,
          overruns: Atomics.load(w, this.cw(c, C_OVERRUNS)) >>> 0,
          lost: Atomics.load(w, this.cw(c, C_LOST)) >>> 0,
          backlogFrames: backlog,
        });
      }
      return {
        slots: this.slots, slotBytes: this.slotBytes,
        framesPublished: published,
        framesDropped: Atomics.load(w, H_DROPPED) >>> 0,
        producerEpoch: Atomics.load(w, H_PRODUCER_EPOCH),
        fill: maxBacklog / this.slots,
        consumers,
      };
    }
  })(sab);
  return v.stats();
}
