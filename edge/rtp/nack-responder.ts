/**
 * The NACK responder, sender side (RFC 4585 §6.2.1 Generic NACK answered with RFC 4588 RTX):
 * an Interceptor (interceptor.ts) that keeps a copy of each of our outgoing packets and
 * resends the ones a receiver reports lost, as RTX packets on the stream's RTX SSRC.
 *
 * Owns: per local stream with `info.rtx`, a fixed history of the last `historyPackets` packets
 * (slot = seq mod size, so a lookup is one index), a token bucket capping the RTX bytes, and
 * per packet its resend count and last resend time. Streams without `info.rtx` pass through
 * untouched (no RTX was negotiated: nothing to answer with). Runs on: net-send (uplink).
 *
 * Why the history is 1024 packets and 1 s: at 8 Mb/s 1080p30 (~830 packets/s of ~1200 bytes)
 * 1024 packets are 1.2 s, four times the 300 ms glass-to-glass budget (shared reference
 * rtp-resilience.md), and a resend older than the receiver's buffer is useless anyway:
 * `maxAgeMs` (default 1000) refuses those. Memory is fixed: historyPackets x maxPacketBytes
 * (1.5 MB per stream by default) plus the RTX output ring.
 *
 * What a hostile or broken receiver can do to our upstream, and what stops it:
 * - NACK everything, often: the token bucket refills at `rtxShare` (default 0.5) of the
 *   stream's media rate measured over the last second (never below `minRtxBytesPerSec`) and
 *   holds at most `burstBytes`; a resend that finds it empty is dropped (rateLimited).
 *   Over any interval T the RTX bytes stay under burstBytes + max(minRate, share x rate) x T.
 * - Repeat the same NACK: a packet is resent at most once per `minResendIntervalMs` (the
 *   generator repeats NACKs on purpose, a few ms apart: those are duplicates) and at most
 *   `maxResends` times in all.
 * - Garbage RTCP: counted (malformedRtcp) and dropped; the sink never throws.
 *
 * Packet buffers: RTX packets come from a PacketRing per stream (interceptor.ts contract) and
 * are written to the `next` sink the stream was bound with, so SRTP nearer the wire protects
 * them. The history copies every outgoing packet (the producer's buffer is only ours for
 * HOLD_PACKETS packets). Time: `now()` from the options, ms, monotonic.
 */
import { RtpFormatError, RtpOptionError } from './errors.js';
import { cryptoRandomU32, type RandomU32 } from './h264-packetizer.js';
import { HOLD_PACKETS, PacketRing, type Interceptor, type PacketSink, type StreamInfo } from './interceptor.js';
import { forEachFeedback, newFeedbackCounts, newFeedbackHeader, type FeedbackHeader, type FeedbackVisitor } from './rtcp-feedback.js';
import { RTX_OVERHEAD, encodeRtx } from './rtx.js';
import { seqAdd } from './seq.js';

export interface NackResponderOptions {
  /** Monotonic clock, ms. */
  now: () => number;
  /** Packets kept per stream, a power of two in 64..32768. Default 1024 (see the module comment). */
  historyPackets?: number;
  /** A packet older than this is not resent (ms). Default 1000. */
  maxAgeMs?: number;
  /** Largest packet kept; a larger one passes but is not kept. Default 1500. */
  maxPacketBytes?: number;
  /** A packet is resent at most once per this (ms). Default 8. */
  minResendIntervalMs?: number;
  /** A packet is resent at most this many times. Default 8 (8 rounds: residual < 1e-6 at 20 % loss). */
  maxResends?: number;
  /** RTX refill rate as a share of the media rate over the last second. Default 0.5. */
  rtxShare?: number;
  /** Token bucket depth, bytes. Default 64 000 (about two 1080p frames at 8 Mb/s). */
  burstBytes?: number;
  /** Refill rate floor, bytes/s, so a stream just started or at a low rate is still repaired. Default 32 000. */
  minRtxBytesPerSec?: number;
  /** Initial RTX sequence numbers (RFC 3550 §5.1: random). Default crypto. */
  random?: RandomU32;
}

/** What the responder did for one stream since it was bound. */
export interface NackResponderStats {
  stream: string;
  /** Generic NACK packets about this stream. */
  nacksReceived: number;
  /** Sequence numbers those NACKs named (each repeat counted). */
  packetsAsked: number;
  rtxSent: number;
  /** Bytes of the RTX packets sent (RTP header included). */
  rtxBytes: number;
  /** Asked for a packet no longer (or never) in the history, or older than maxAgeMs. */
  notInHistory: number;
  /** Dropped because the token bucket was empty. */
  rateLimited: number;
  /** Asked again within minResendIntervalMs of its last resend. */
  duplicatesSuppressed: number;
  /** Asked again after maxResends resends. */
  resendLimit: number;
  /** Outgoing packets larger than maxPacketBytes (not kept). */
  tooLarge: number;
}

const BUCKET_MS = 100;
const BUCKETS = 10; // 10 x 100 ms: the media rate over the last second

class StreamHistory {
  readonly stats: NackResponderStats;
  readonly data: Uint8Array;
  readonly seqOf: Int32Array;
  readonly lenOf: Int32Array;
  readonly sentAt: Float64Array;
  readonly lastResendAt: Float64Array;
  readonly resends: Uint16Array;
  readonly ring: PacketRing;
  readonly mask: number;
  rtxSeq: number;
  tokens: number;
  refilledAt: number;
  readonly bucketBytes = new Float64Array(BUCKETS);
  firstMediaAt: number | null = null;
  readonly bucketEpoch = new Float64Array(BUCKETS).fill(-1);

  constructor(readonly info: StreamInfo & { rtx: { ssrc: number; payloadType: number } }, readonly next: PacketSink,
    slots: number, readonly slotBytes: number, rtxSeq: number, burst: number, nowMs: number) {
    this.stats = {
      stream: info.name, nacksReceived: 0, packetsAsked: 0, rtxSent: 0, rtxBytes: 0, notInHistory: 0,
      rateLimited: 0, duplicatesSuppressed: 0, resendLimit: 0, tooLarge: 0,
    };
    this.data = new Uint8Array(slots * slotBytes);
    this.seqOf = new Int32Array(slots).fill(-1);
    this.lenOf = new Int32Array(slots);
    this.sentAt = new Float64Array(slots);
    this.lastResendAt = new Float64Array(slots);
    this.resends = new Uint16Array(slots);
    this.ring = new PacketRing(slotBytes + RTX_OVERHEAD, HOLD_PACKETS * 2);
    this.mask = slots - 1;
    this.rtxSeq = rtxSeq & 0xffff;
    this.tokens = burst;
    this.refilledAt = nowMs;
  }

  /** Adds `bytes` sent at `nowMs` to the last-second media window. */
  countMedia(bytes: number, nowMs: number): void {
    if (this.firstMediaAt === null) this.firstMediaAt = nowMs;
    const epoch = Math.floor(nowMs / BUCKET_MS);
    const k = epoch % BUCKETS;
    if (this.bucketEpoch[k] !== epoch) { this.bucketEpoch[k] = epoch; this.bucketBytes[k] = 0; }
    this.bucketBytes[k] += bytes;
  }

  /**
   * Media bytes/s over the last second: the current 100 ms bucket (partly elapsed) and the nine
   * before it, over the time they span. Before a full second of media it underestimates, which
   * errs on the side of less RTX.
   */
  mediaRate(nowMs: number): number {
    const epoch = Math.floor(nowMs / BUCKET_MS);
    let sum = 0;
    for (let k = 0; k < BUCKETS; k++) if (this.bucketEpoch[k] > epoch - BUCKETS) sum += this.bucketBytes[k];
    // Over the window, or over the time since the stream began when that is shorter: a stream's
    // first second (an IDR and its losses) would otherwise be repaired at a fraction of its rate.
    const window = (BUCKETS - 1) * BUCKET_MS + Math.max(1, nowMs - epoch * BUCKET_MS);
    const spanMs = Math.max(BUCKET_MS, Math.min(window, nowMs - (this.firstMediaAt ?? nowMs)));
    return (sum * 1000) / spanMs;
  }
}

export class NackResponder implements Interceptor {
  /** RTCP packets the reader could not walk (counted, dropped for this unit, still passed on). */
  malformedRtcp = 0;
  /** NACKs about SSRCs this responder does not hold. */
  unknownStreamNacks = 0;

  private readonly now: () => number;
  private readonly slots: number;
  private readonly maxAgeMs: number;
  private readonly maxPacketBytes: number;
  private minResendIntervalMs: number;
  private readonly maxResends: number;
  private readonly rtxShare: number;
  private readonly burstBytes: number;
  private readonly minRate: number;
  private readonly random: RandomU32;
  private readonly streams = new Map<number, StreamHistory>();
  private readonly header: FeedbackHeader = newFeedbackHeader();
  private readonly counts = newFeedbackCounts();
  private readonly visitor: FeedbackVisitor;
  private current: StreamHistory | undefined;
  private closed = false;

  /** @throws RtpOptionError naming the option. */
  constructor(opts: NackResponderOptions) {
    if (typeof opts.now !== 'function') throw new RtpOptionError('now', 'a clock function (ms) is required');
    this.now = opts.now;
    this.slots = opts.historyPackets ?? 1024;
    if (!Number.isInteger(this.slots) || this.slots < 64 || this.slots > 32768 || (this.slots & (this.slots - 1)) !== 0) {
      throw new RtpOptionError('historyPackets', `${this.slots} is not a power of two in 64..32768`);
    }
    this.maxAgeMs = positive('maxAgeMs', opts.maxAgeMs ?? 1000);
    this.maxPacketBytes = opts.maxPacketBytes ?? 1500;
    if (!Number.isInteger(this.maxPacketBytes) || this.maxPacketBytes < 12 || this.maxPacketBytes > 65_535) {
      throw new RtpOptionError('maxPacketBytes', `${this.maxPacketBytes} is not an integer in 12..65535`);
    }
    this.minResendIntervalMs = opts.minResendIntervalMs ?? 8;
    if (!(this.minResendIntervalMs >= 0)) throw new RtpOptionError('minResendIntervalMs', `${this.minResendIntervalMs} must be >= 0`);
    this.maxResends = opts.maxResends ?? 8;
    if (!Number.isInteger(this.maxResends) || this.maxResends < 1 || this.maxResends > 1000) {
      throw new RtpOptionError('maxResends', `${this.maxResends} is not an integer in 1..1000`);
    }
    this.rtxShare = positive('rtxShare', opts.rtxShare ?? 0.5);
    this.burstBytes = positive('burstBytes', opts.burstBytes ?? 64_000);
    this.minRate = opts.minRtxBytesPerSec ?? 32_000;
    if (!(this.minRate >= 0)) throw new RtpOptionError('minRtxBytesPerSec', `${this.minRate} must be >= 0`);
    this.random = opts.random ?? cryptoRandomU32;
    this.visitor = {
      onNackPacket: (h) => {
        this.current = this.streams.get(h.mediaSsrc);
        if (this.current) this.current.stats.nacksReceived++;
        else this.unknownStreamNacks++;
      },
      onNack: (_h, pid, blp) => {
        const s = this.current;
        if (!s) return;
        this.answer(s, pid);
        for (let i = 0; i < 16; i++) if (blp & (1 << i)) this.answer(s, seqAdd(pid, i + 1));
      },
    };
  }

  bindLocalStream(info: StreamInfo, next: PacketSink): PacketSink {
    const rtx = info.rtx;
    if (!rtx) return next;
    const s = new StreamHistory({ ...info, rtx }, next, this.slots, this.maxPacketBytes, rtx.initialSequence ?? this.random(), this.burstBytes, this.now());
    this.streams.set(info.ssrc >>> 0, s);
    return (pkt, len) => {
      if (this.closed) return;
      if (len >= 12) this.keep(s, pkt, len);
      next(pkt, len);
    };
  }

  unbindLocalStream(info: StreamInfo): void {
    this.streams.delete(info.ssrc >>> 0);
  }

  bindRtcpReader(next: PacketSink): PacketSink {
    return (pkt, len) => {
      if (this.closed) return;
      this.current = undefined;
      try {
        forEachFeedback(pkt, len, this.visitor, this.header, this.counts);
      } catch (e) {
        if (!(e instanceof RtpFormatError)) throw e;
        this.malformedRtcp++;
      }
      next(pkt, len);
    };
  }

  /** Stats of the stream bound with `name`, or undefined. A copy. */
  statsOf(name: string): NackResponderStats | undefined {
    for (const s of this.streams.values()) if (s.info.name === name) return { ...s.stats };
    return undefined;
  }

  /**
   * Raises or lowers the resend spacing at run time, e.g. to the receiver's RTT (a repeat NACK
   * sooner than an RTT after a resend crossed it on the way). @throws RtpOptionError below 0.
   */
  setMinResendInterval(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RtpOptionError('minResendIntervalMs', `${ms} must be >= 0`);
    this.minResendIntervalMs = ms;
  }

  /** Stats of every bound stream (copies). */
  stats(): NackResponderStats[] {
    return [...this.streams.values()].map((s) => ({ ...s.stats }));
  }

  close(): void {
    this.closed = true;
    this.streams.clear();
  }

  private keep(s: StreamHistory, pkt: Uint8Array, len: number): void {
    const now = this.now();
    s.countMedia(len, now);
    if (len > s.slotBytes) { s.stats.tooLarge++; return; }
    const seq = (pkt[2] << 8) | pkt[3];
    const k = seq & s.mask;
    s.data.set(pkt.subarray(0, len), k * s.slotBytes);
    s.seqOf[k] = seq;
    s.lenOf[k] = len;
    s.sentAt[k] = now;
    s.resends[k] = 0;
    s.lastResendAt[k] = -Infinity;
  }

  private answer(s: StreamHistory, seq: number): void {
    s.stats.packetsAsked++;
    const k = seq & s.mask;
    const now = this.now();
    if (s.seqOf[k] !== seq || now - s.sentAt[k] > this.maxAgeMs) { s.stats.notInHistory++; return; }
    if (now - s.lastResendAt[k] < this.minResendIntervalMs) { s.stats.duplicatesSuppressed++; return; }
    if (s.resends[k] >= this.maxResends) { s.stats.resendLimit++; return; }
    const len = s.lenOf[k];
    const size = len + RTX_OVERHEAD; // no padding is kept with RTX, so this is an upper bound
    this.refill(s, now);
    if (s.tokens < size) { s.stats.rateLimited++; return; }
    const out = s.ring.take();
    let n: number;
    try {
      n = encodeRtx(s.data.subarray(k * s.slotBytes, k * s.slotBytes + len), len, s.info.rtx.ssrc, s.info.rtx.payloadType, s.rtxSeq, out, 0);
    } catch (e) {
      // A packet we sent that is not RTP (bad padding count): nothing to resend.
      if (!(e instanceof RtpFormatError)) throw e;
      s.stats.notInHistory++;
      return;
    }
    s.rtxSeq = seqAdd(s.rtxSeq, 1);
    s.tokens -= n;
    s.resends[k]++;
    s.lastResendAt[k] = now;
    s.stats.rtxSent++;
    s.stats.rtxBytes += n;
    s.next(out, n);
  }

  private refill(s: StreamHistory, now: number): void {
    const dt = now - s.refilledAt;
    if (dt <= 0) return;
    const rate = Math.max(this.minRate, this.rtxShare * s.mediaRate(now));
    s.tokens = Math.min(this.burstBytes, s.tokens + (rate * dt) / 1000);
    s.refilledAt = now;
  }
}

function positive(option: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RtpOptionError(option, `${v} must be > 0`);
  return v;
}
