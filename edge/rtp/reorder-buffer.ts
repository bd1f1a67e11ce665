/**
 * The receiving end's reorder buffer: RTP packets of one stream arrive out of order (late
 * originals, RFC 4588 retransmissions, FEC rebuilds) and leave in sequence order, each as soon
 * as every packet before it has left or been given up.
 *
 * Contract
 * - `push(pkt, len, nowMs)` copies the packet into a fixed slot (seq mod `slots`); `release(nowMs)`
 *   (also called by push) writes every packet that is next in order to the sink. A missing
 *   packet is given up `latencyMs` after the first later packet arrived (its repair deadline:
 *   the receiver's buffer), counted as lost, and the ones after it go on.
 * - Late (its turn has passed) and duplicate packets are dropped and counted, never re-emitted.
 * - A jump beyond the buffer (a sender restart, a burst longer than `slots` packets) gives up
 *   what is in between at once, in order, rather than holding the stream.
 * - Fixed memory: `slots` x `maxPacketBytes`. The sink gets the buffer's own slot memory, valid
 *   until `slots` more packets were pushed (well beyond HOLD_PACKETS).
 * - Time is injected (ms, monotonic). Bad input (shorter than an RTP header) is counted.
 * Runs on: the `orbox receive` process.
 */
import { RtpOptionError } from './errors.js';
import type { PacketSink } from './interceptor.js';
import { Unwrapper } from './seq.js';

export interface ReorderBufferOptions {
  /** How long a missing packet is waited for after a later one arrived, ms. */
  latencyMs: number;
  /** Power of two, 64..32768. Default 2048 (2.5 s of 8 Mb/s video). */
  slots?: number;
  /** Default 1500. */
  maxPacketBytes?: number;
}

export interface ReorderStats {
  emitted: number;
  /** Given up at their deadline (or skipped over by a jump): what the player sees missing. */
  lost: number;
  late: number;
  duplicates: number;
  tooLarge: number;
  malformed: number;
}

export class ReorderBuffer {
  readonly stats: ReorderStats = { emitted: 0, lost: 0, late: 0, duplicates: 0, tooLarge: 0, malformed: 0 };
  private readonly slots: number;
  private readonly mask: number;
  private readonly size: number;
  private readonly data: Uint8Array;
  private readonly lens: Int32Array;
  private readonly extOf: Float64Array;
  private readonly arrival: Float64Array;
  private readonly seq = new Unwrapper(16);
  /** Extended seq of the next packet to leave; NaN before the first packet. */
  private next = NaN;
  /** Highest extended seq stored. */
  private top = -Infinity;
  /** For the current `next` that is missing: when the first later packet arrived. */
  private waitingSince: number | null = null;

  constructor(private readonly opts: ReorderBufferOptions, private readonly sink: PacketSink) {
    const slots = opts.slots ?? 2048;
    if (!Number.isInteger(slots) || slots < 64 || slots > 32768 || (slots & (slots - 1)) !== 0) throw new RtpOptionError('slots', `${slots} must be a power of two in 64..32768`);
    if (!(opts.latencyMs >= 0)) throw new RtpOptionError('latencyMs', `${opts.latencyMs} must be >= 0`);
    this.slots = slots;
    this.mask = slots - 1;
    this.size = opts.maxPacketBytes ?? 1500;
    this.data = new Uint8Array(slots * this.size);
    this.lens = new Int32Array(slots);
    this.extOf = new Float64Array(slots).fill(-1);
    this.arrival = new Float64Array(slots);
  }

  /** Packets held (waiting for a missing one before them). */
  get held(): number {
    if (Number.isNaN(this.next)) return 0;
    let n = 0;
    for (let e = this.next; e <= this.top; e++) if (this.extOf[e & this.mask] === e) n++;
    return n;
  }

  push(pkt: Uint8Array, len: number, nowMs: number): void {
    if (len < 12 || pkt.length < len || (pkt[0]! >> 6) !== 2) { this.stats.malformed++; return; }
    if (len > this.size) { this.stats.tooLarge++; return; }
    const ext = this.seq.unwrap((pkt[2]! << 8) | pkt[3]!);
    if (Number.isNaN(this.next)) this.next = ext;
    if (ext < this.next) { this.stats.late++; return; }
    if (ext - this.next >= this.slots) this.skipTo(ext - this.slots + 1);
    const k = ext & this.mask;
    if (this.extOf[k] === ext) { this.stats.duplicates++; return; }
    this.data.set(pkt.subarray(0, len), k * this.size);
    this.lens[k] = len;
    this.extOf[k] = ext;
    this.arrival[k] = nowMs;
    if (ext > this.top) this.top = ext;
    this.release(nowMs);
  }

  /** Writes what is in order; gives up a missing packet whose deadline passed. */
  release(nowMs: number): void {
    if (Number.isNaN(this.next)) return;
    for (;;) {
      const k = this.next & this.mask;
      if (this.extOf[k] === this.next) {
        this.sink(this.data.subarray(k * this.size, k * this.size + this.lens[k]!), this.lens[k]!);
        this.stats.emitted++;
        this.next++;
        this.waitingSince = null;
        continue;
      }
      if (this.next > this.top) return; // nothing after it yet: no gap known
      this.waitingSince ??= this.firstLaterArrival();
      if (nowMs - this.waitingSince < this.opts.latencyMs) return;
      this.stats.lost++;
      this.next++;
      this.waitingSince = null;
    }
  }

  /** Arrival of the nearest stored packet after `next` (the gap's start). */
  private firstLaterArrival(): number {
    for (let e = this.next + 1; e <= this.top; e++) {
      const k = e & this.mask;
      if (this.extOf[k] === e) return this.arrival[k]!;
    }
    return Infinity;
  }

  /** Gives up everything before `ext` at once, emitting what is stored on the way. */
  private skipTo(ext: number): void {
    for (; this.next < ext; this.next++) {
      const k = this.next & this.mask;
      if (this.extOf[k] === this.next) {
        this.sink(this.data.subarray(k * this.size, k * this.size + this.lens[k]!), this.lens[k]!);
        this.stats.emitted++;
      } else {
        this.stats.lost++;
      }
    }
    this.waitingSince = null;
  }
}
