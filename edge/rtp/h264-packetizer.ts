/**
 * H.264 RTP packetiser, non-interleaved mode (RFC 6184: §5.6 single NAL unit, §5.7.1 STAP-A,
 * §5.8 FU-A; packetization-mode=1, §6.3).
 *
 * Owns: one outgoing H.264 RTP stream (one SSRC): its sequence numbers, its timestamp mapping
 * from capture time, its cached SPS/PPS, its packet/octet counters (for RTCP SR) and a history
 * ring of packet buffers. Lifecycle: construct (validates options), then `packetize()` once per
 * access unit, in capture order. No I/O, no timers. Runs on: net-send, one instance per stream.
 *
 * Input: one access unit in Annex B form, its capture time (ns on the box clock, see
 * edge/lib/clock.ts) and the encoder's keyframe flag. Output: a reused `PacketBatch` naming the
 * packets of that access unit (buffer + length each). The packet buffers come from a ring of
 * `historyDepth` preallocated MTU-sized buffers: a packet's bytes stay valid until
 * `historyDepth` further packets have been produced (enough for an asynchronous UDP send to
 * complete, and the store an RFC 4588 RTX responder will read from). Nothing is allocated per
 * packet; per access unit only the bigint of the timestamp computation.
 *
 * Packets written:
 *
 *   single NAL unit (§5.6)     STAP-A (§5.7.1)                    FU-A (§5.8)
 *   +--------------+           +-----------+---------+-----+      +-----------+---------+---------+
 *   | RTP header   |           |RTP header |STAP-A   |NALU1|      |RTP header |FU ind.  |FU header|
 *   +--------------+           |           |NAL hdr  |size |      |           |F|NRI|28 |S|E|R|type|
 *   | NAL unit     |           +-----------+---------+-----+      +-----------+---------+---------+
 *   +--------------+           | NALU 1 ... | NALU2 size | NALU 2 |  | FU payload (NAL minus its
 *                              +------------+------------+--------+  | header byte, one fragment)
 *
 * Rules: NAL units larger than the payload room are fragmented into FU-A packets of near-equal
 * size; consecutive small NAL units are aggregated into STAP-A while they fit (F = OR of the
 * aggregated F bits, NRI = their maximum, §5.7); a lone small NAL unit goes as a single NAL
 * unit packet. The marker bit is set on the last packet of the access unit (§5.1). Access unit
 * delimiters and filler data are dropped by default (the marker bit delimits access units).
 * Before every IDR access unit that does not carry them, the latest SPS and PPS (from the
 * stream, or given out of band as in SDP sprop-parameter-sets) are inserted.
 *
 * Timestamp (§5.1, RFC 3550 §5.1): 90 kHz, ts = offset + floor(captureNs * 90000 / 1e9) mod 2^32
 * with a random offset, so the RTCP SR can map any wall-clock instant to RTP time exactly.
 */
import { randomBytes } from 'node:crypto';
import { NalSpans, splitAnnexB, asBuffer } from './annexb.js';
import { RtpOptionError } from './errors.js';
import { RTP_FIXED_HEADER, writeFixedHeader } from './header.js';
import { NAL_AUD, NAL_FILLER, NAL_FU_A, NAL_IDR, NAL_SPS, NAL_PPS, NAL_STAP_A, nalType } from './h264.js';
import { seqAdd, u32, tsAdd } from './seq.js';

/** RTP clock rate of H.264 video (RFC 6184 §8.2.1). */
export const H264_CLOCK_RATE = 90_000;
/** Default RTP packet size limit (header + payload), as GStreamer's rtph264pay `mtu`. */
export const DEFAULT_MTU = 1400;
/** Smallest MTU accepted: header + FU indicator + FU header + room for progress. */
export const MIN_MTU = RTP_FIXED_HEADER + 2 + 16;
/** Largest MTU accepted: an IPv4 UDP datagram's payload limit. */
export const MAX_MTU = 65_507;

/** Draws a uniformly random unsigned 32-bit integer. Injected so tests are deterministic. */
export type RandomU32 = () => number;

export const cryptoRandomU32: RandomU32 = () => randomBytes(4).readUInt32BE(0);

export interface H264PacketizerOptions {
  /** RTP payload type, dynamic range 96..127. Default 96. */
  payloadType?: number;
  /** Largest RTP packet (header + payload) in bytes. Default 1400. */
  mtu?: number;
  /** SSRC. Default: drawn from `random`. */
  ssrc?: number;
  /** First sequence number. Default: drawn from `random` (RFC 3550 §5.1: random). */
  initialSequence?: number;
  /** Timestamp offset added to the capture-time clock. Default: drawn from `random`. */
  timestampOffset?: number;
  /** Packet buffers kept before reuse (see module doc). Default 1024. */
  historyDepth?: number;
  /** Out-of-band SPS and PPS NAL units (with header byte, no start code), e.g. from SDP. */
  sps?: Uint8Array;
  pps?: Uint8Array;
  /** Drop access unit delimiters and filler data. Default true. */
  dropAudAndFiller?: boolean;
  /** Randomness for SSRC, sequence and timestamp offset. Default: node:crypto. */
  random?: RandomU32;
}

/** The packets of one access unit; the object is reused by the next `packetize()` call. */
export interface PacketBatch {
  /** Number of packets. */
  count: number;
  /** packets[i] holds packet i in bytes [0, lengths[i]). Entries past `count` are stale. */
  packets: Buffer[];
  lengths: Int32Array;
  /** RTP timestamp of the access unit. */
  timestamp: number;
  /** Sequence number of packets[0]. */
  firstSequence: number;
  /** True when cached SPS/PPS were inserted before this access unit. */
  parameterSetsInserted: boolean;
}

/** What RTCP sender reports need from a sending stream. */
export interface RtpSenderState {
  readonly ssrc: number;
  readonly clockRate: number;
  /** Packets sent so far, modulo 2^32. */
  readonly packetCount: number;
  /** Payload octets sent so far (RTP headers excluded), modulo 2^32. */
  readonly octetCount: number;
  /** RTP timestamp corresponding to a box-clock instant in ns. */
  timestampAt(ns: bigint): number;
}

export class H264Packetizer implements RtpSenderState {
  readonly payloadType: number;
  readonly mtu: number;
  readonly ssrc: number;
  readonly timestampOffset: number;
  readonly clockRate = H264_CLOCK_RATE;
  readonly historyDepth: number;
  private readonly dropAud: boolean;

  private seq: number;
  private packets = 0;
  private octets = 0;
  /** Access units that needed SPS/PPS before an IDR while none was known. */
  missingParameterSets = 0;

  private sps: Buffer | null = null;
  private pps: Buffer | null = null;

  private history: Buffer[];
  private slot = 0;
  private readonly spans = new NalSpans(32);
  // The NAL units to send for the current AU: references into the input or the SPS/PPS cache.
  private itemBufs: Buffer[] = [];
  private itemOffs = new Int32Array(32);
  private itemLens = new Int32Array(32);
  private itemCount = 0;
  // Pending STAP-A candidates: indices into the items.
  private pendStart = 0;
  private pendCount = 0;
  private pendBytes = 0;

  readonly batch: PacketBatch = {
    count: 0, packets: [], lengths: new Int32Array(64), timestamp: 0, firstSequence: 0, parameterSetsInserted: false,
  };

  /** @throws RtpOptionError naming the option out of range. */
  constructor(opts: H264PacketizerOptions = {}) {
    const random = opts.random ?? cryptoRandomU32;
    this.payloadType = opts.payloadType ?? 96;
    if (!Number.isInteger(this.payloadType) || this.payloadType < 0 || this.payloadType > 127) {
      throw new RtpOptionError('payloadType', `${this.payloadType} is not in 0..127`);
    }
    this.mtu = opts.mtu ?? DEFAULT_MTU;
    if (!Number.isInteger(this.mtu) || this.mtu < MIN_MTU || this.mtu > MAX_MTU) {
      throw new RtpOptionError('mtu', `${this.mtu} is not in ${MIN_MTU}..${MAX_MTU}`);
    }
    this.historyDepth = opts.historyDepth ?? 1024;
    if (!Number.isInteger(this.historyDepth) || this.historyDepth < 16) {
      throw new RtpOptionError('historyDepth', `${this.historyDepth} is below 16`);
    }
    this.ssrc = u32(opts.ssrc ?? random());
    this.seq = opts.initialSequence ?? random() & 0xffff;
    if (!Number.isInteger(this.seq) || this.seq < 0 || this.seq > 0xffff) {
      throw new RtpOptionError('initialSequence', `${this.seq} is not in 0..65535`);
    }
    this.timestampOffset = u32(opts.timestampOffset ?? random());
    this.dropAud = opts.dropAudAndFiller ?? true;
    if (opts.sps) this.setParameterSet(opts.sps, 0, opts.sps.length, 'sps');
    if (opts.pps) this.setParameterSet(opts.pps, 0, opts.pps.length, 'pps');
    this.history = [];
    this.growHistory(this.historyDepth);
  }

  /** Packet buffers in the history ring (grows past `historyDepth` for very large AUs). */
  get historySize(): number { return this.history.length; }

  private growHistory(size: number): void {
    // One contiguous allocation for the new buffers, sliced into MTU-sized packet buffers.
    // Buffers already handed out stay untouched (and alive) until their sends complete.
    const add = size - this.history.length;
    const arena = Buffer.alloc(this.mtu * add);
    const fresh: Buffer[] = [];
    for (let i = 0; i < add; i++) fresh.push(arena.subarray(i * this.mtu, (i + 1) * this.mtu));
    // Insert at the write position so the oldest packets are the last to be overwritten.
    this.history.splice(this.slot, 0, ...fresh);
  }

  get packetCount(): number { return this.packets; }
  get octetCount(): number { return this.octets; }
  /** The sequence number the next packet will carry. */
  get nextSequence(): number { return this.seq; }
  /** Latest SPS (NAL unit with header), or null. */
  get currentSps(): Buffer | null { return this.sps; }
  /** Latest PPS (NAL unit with header), or null. */
  get currentPps(): Buffer | null { return this.pps; }

  /** RTP timestamp of a box-clock instant (ns): offset + ns * 90 kHz, modulo 2^32. */
  timestampAt(ns: bigint): number {
    const ticks = Number(BigInt.asUintN(32, (ns * 9n) / 100_000n));
    return tsAdd(this.timestampOffset, ticks);
  }

  /** Sets the out-of-band SPS or PPS (NAL unit with its header byte). Copies. */
  setParameterSets(sps: Uint8Array | null, pps: Uint8Array | null): void {
    if (sps) this.setParameterSet(sps, 0, sps.length, 'sps');
    if (pps) this.setParameterSet(pps, 0, pps.length, 'pps');
  }

  /**
   * Packetises one access unit.
   * @param au Annex B bytes of exactly one access unit (start codes included).
   * @param captureNs capture time on the box clock, ns.
   * @param keyframe the encoder's keyframe flag; an IDR NAL unit in the AU counts as one too.
   * @returns the reused batch (valid until the next call; buffers per the module doc).
   * @throws RtpFormatError when `au` is not Annex B.
   */
  packetize(au: Uint8Array, captureNs: bigint, keyframe: boolean): PacketBatch {
    const buf = asBuffer(au);
    const spans = this.spans;
    splitAnnexB(buf, spans);
    const b = this.batch;
    b.count = 0;
    b.timestamp = this.timestampAt(captureNs);
    b.firstSequence = this.seq;
    b.parameterSetsInserted = false;

    // Pass 1: learn parameter sets, see what the AU holds.
    let hasSps = false;
    let hasPps = false;
    let idr = keyframe;
    for (let i = 0; i < spans.count; i++) {
      const t = nalType(buf[spans.offsets[i]]);
      if (t === NAL_SPS) { hasSps = true; this.setParameterSet(buf, spans.offsets[i], spans.lengths[i], 'sps'); }
      else if (t === NAL_PPS) { hasPps = true; this.setParameterSet(buf, spans.offsets[i], spans.lengths[i], 'pps'); }
      else if (t === NAL_IDR) idr = true;
    }

    // Pass 2: the list of NAL units to send, with SPS/PPS inserted after any AUD.
    this.itemCount = 0;
    const insert = idr && (!hasSps || !hasPps);
    let inserted = !insert;
    for (let i = 0; i < spans.count; i++) {
      const off = spans.offsets[i];
      const t = nalType(buf[off]);
      if (!inserted && t !== NAL_AUD) {
        inserted = true;
        if ((!hasSps && !this.sps) || (!hasPps && !this.pps)) this.missingParameterSets++;
        if (!hasSps && this.sps) { this.pushItem(this.sps, 0, this.sps.length); b.parameterSetsInserted = true; }
        if (!hasPps && this.pps) { this.pushItem(this.pps, 0, this.pps.length); b.parameterSetsInserted = true; }
      }
      if (this.dropAud && (t === NAL_AUD || t === NAL_FILLER)) continue;
      this.pushItem(buf, off, spans.lengths[i]);
    }

    // Pass 3: packets. The AU's packets must not reuse each other's buffers: grow the history
    // (rare, amortised) when an AU could need more than half of it.
    const room = this.mtu - RTP_FIXED_HEADER;
    let bound = 0;
    for (let i = 0; i < this.itemCount; i++) bound += 1 + Math.ceil(this.itemLens[i] / (room - 2));
    if (bound > this.history.length >> 1) this.growHistory(2 * bound);
    this.pendCount = 0;
    this.pendBytes = 1; // STAP-A NAL header byte
    const n = this.itemCount;
    for (let i = 0; i < n; i++) {
      const len = this.itemLens[i];
      const last = i === n - 1;
      if (len > room) {
        this.flushPending(false);
        this.writeFuA(i, room, last);
      } else {
        if (this.pendCount > 0 && this.pendBytes + 2 + len > room) this.flushPending(false);
        if (this.pendCount === 0) { this.pendStart = i; this.pendBytes = 1; }
        this.pendCount++;
        this.pendBytes += 2 + len;
      }
    }
    this.flushPending(true);
    return b;
  }

  private pushItem(buf: Buffer, off: number, len: number): void {
    const k = this.itemCount;
    if (k === this.itemOffs.length) {
      const o = new Int32Array(k * 2); o.set(this.itemOffs); this.itemOffs = o;
      const l = new Int32Array(k * 2); l.set(this.itemLens); this.itemLens = l;
    }
    this.itemBufs[k] = buf;
    this.itemOffs[k] = off;
    this.itemLens[k] = len;
    this.itemCount = k + 1;
  }

  private setParameterSet(src: Uint8Array, off: number, len: number, which: 'sps' | 'pps'): void {
    const cur = which === 'sps' ? this.sps : this.pps;
    if (cur && cur.length === len && asBuffer(src).compare(cur, 0, len, off, off + len) === 0) return;
    const copy = Buffer.allocUnsafe(len);
    copy.set(src.subarray(off, off + len));
    if (which === 'sps') this.sps = copy; else this.pps = copy;
  }

  /** Takes the next history buffer and records it in the batch. */
  private nextPacket(len: number): Buffer {
    const p = this.history[this.slot];
    this.slot = this.slot + 1 === this.history.length ? 0 : this.slot + 1;
    const b = this.batch;
    if (b.count === b.lengths.length) {
      const l = new Int32Array(b.count * 2); l.set(b.lengths); b.lengths = l;
    }
    b.packets[b.count] = p;
    b.lengths[b.count] = len;
    b.count++;
    this.packets = u32(this.packets + 1);
    this.octets = u32(this.octets + len - RTP_FIXED_HEADER);
    return p;
  }

  /** Sends the pending small NAL units: one as a single NAL unit packet, more as STAP-A. */
  private flushPending(endOfAu: boolean): void {
    const count = this.pendCount;
    if (count === 0) return;
    this.pendCount = 0;
    const ts = this.batch.timestamp;
    const s = this.pendStart;
    if (count === 1) {
      const len = this.itemLens[s];
      const p = this.nextPacket(RTP_FIXED_HEADER + len);
      writeFixedHeader(p, endOfAu, this.payloadType, this.seq, ts, this.ssrc);
      this.itemBufs[s].copy(p, RTP_FIXED_HEADER, this.itemOffs[s], this.itemOffs[s] + len);
    } else {
      const p = this.nextPacket(RTP_FIXED_HEADER + this.pendBytes);
      writeFixedHeader(p, endOfAu, this.payloadType, this.seq, ts, this.ssrc);
      let f = 0;
      let nri = 0;
      let o = RTP_FIXED_HEADER + 1;
      for (let i = s; i < s + count; i++) {
        const src = this.itemBufs[i];
        const off = this.itemOffs[i];
        const len = this.itemLens[i];
        const h = src[off];
        f |= h & 0x80;
        if ((h & 0x60) > nri) nri = h & 0x60;
        p[o] = len >>> 8;
        p[o + 1] = len & 0xff;
        src.copy(p, o + 2, off, off + len);
        o += 2 + len;
      }
      p[RTP_FIXED_HEADER] = f | nri | NAL_STAP_A;
    }
    this.seq = seqAdd(this.seq, 1);
  }

  /** Fragments item i into FU-A packets of near-equal size. */
  private writeFuA(i: number, room: number, lastOfAu: boolean): void {
    const src = this.itemBufs[i];
    const off = this.itemOffs[i];
    const len = this.itemLens[i];
    const h = src[off];
    const indicator = (h & 0xe0) | NAL_FU_A;
    const type = h & 0x1f;
    const body = len - 1; // the NAL header byte travels in the FU indicator/header
    const maxFrag = room - 2;
    const frags = Math.ceil(body / maxFrag);
    const base = Math.floor(body / frags);
    const extra = body - base * frags; // the first `extra` fragments carry one byte more
    let pos = off + 1;
    const ts = this.batch.timestamp;
    for (let k = 0; k < frags; k++) {
      const n = base + (k < extra ? 1 : 0);
      const end = k === frags - 1;
      const p = this.nextPacket(RTP_FIXED_HEADER + 2 + n);
      writeFixedHeader(p, end && lastOfAu, this.payloadType, this.seq, ts, this.ssrc);
      p[RTP_FIXED_HEADER] = indicator;
      p[RTP_FIXED_HEADER + 1] = (k === 0 ? 0x80 : 0) | (end ? 0x40 : 0) | type;
      src.copy(p, RTP_FIXED_HEADER + 2, pos, pos + n);
      pos += n;
      this.seq = seqAdd(this.seq, 1);
    }
  }
}
