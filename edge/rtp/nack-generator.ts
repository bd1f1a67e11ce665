/**
 * The NACK generator, receiver side (RFC 4585 §6.2.1 Generic NACK): an Interceptor
 * (interceptor.ts) that watches the sequence numbers of a remote stream and asks the sender
 * for the missing ones, again and again until they arrive or are too late to matter.
 *
 * Owns: per remote stream, the highest sequence number seen (unwrapped, seq.ts) and a bounded
 * list of the missing ones, each with when to ask next and its deadline. Runs on: the
 * `orbox receive` process (and the test rig's receivers).
 *
 * Timing, and why not GStreamer's (shared reference rtp-resilience.md): RFC 4585's early
 * feedback rules held GStreamer's NACKs back until they expired, and its jitterbuffer sent
 * ~1.2 NACKs per lost packet. Here a gap is asked for **at once** (in the call that saw it),
 * or `fecWaitMs` later so that what FEC can rebuild is not asked for; then every `retryMs`
 * (about the RTT) until `latencyMs` after the gap was seen, when the packet is given up.
 * Repeating tiny NACKs is what makes a round succeed with (1-p^3)(1-p) instead of (1-p)^2.
 * NACKs go out alone (reduced-size RTCP, RFC 5506) through the sink from `bindRtcpWriter`.
 *
 * Where it sits: nearer the application than RTX decoding and FEC, so originals, RTX-restored
 * and FEC-rebuilt packets all reach the same sink, and any of them ends the asking.
 *
 * Bounds: at most `maxPending` missing packets per stream (the oldest are given up first); a
 * jump of more than `resetJump` sequence numbers either way (a restarted sender, a new random
 * start) resets the stream instead of asking for thousands of packets. Time comes from
 * `now()` (ms, monotonic); `tick(nowMs)` drives the repeats. The sink never throws.
 */
import { RtpOptionError } from './errors.js';
import { cryptoRandomU32, type RandomU32 } from './h264-packetizer.js';
import { HOLD_PACKETS, PacketRing, type Interceptor, type PacketSink, type StreamInfo } from './interceptor.js';
import { FEEDBACK_HEADER_SIZE, encodeNack } from './rtcp-feedback.js';
import { Unwrapper, seq16 } from './seq.js';

/** Sequence numbers named by one NACK packet at most: 256 FCIs, 1036 bytes, inside any MTU. */
export const MAX_SEQS_PER_NACK = 256;
const NACK_BUF = FEEDBACK_HEADER_SIZE + 4 * MAX_SEQS_PER_NACK;

export interface NackGeneratorOptions {
  /** Monotonic clock, ms. */
  now: () => number;
  /** SSRC our RTCP goes out with. Default random. */
  senderSsrc?: number;
  /** Time between repeats of one packet's NACK (ms): about the RTT. Default 20, at least 5. */
  retryMs?: number;
  /** A missing packet is asked for until this long after its gap was seen (ms): the receiver's buffer. Default 200. */
  latencyMs?: number;
  /** Wait this long after a gap before the first NACK, for FEC to rebuild (ms). Default 0: at once. */
  fecWaitMs?: number;
  /**
   * Copies of each NACK packet sent (1..4). Default 1. NACKs are tiny and the feedback path loses
   * too: with 3 copies a round fails on the NACK's way with p^3 instead of p (the reference
   * page's arithmetic: at 20 % loss both ways a round succeeds 0.79 of the time instead of 0.64).
   * The responder suppresses the copies' repeats (its minResendIntervalMs).
   */
  copies?: number;
  /** Most missing packets tracked per stream. Default 1024. */
  maxPending?: number;
  /** A jump of more than this many sequence numbers resets the stream. Default maxPending. */
  resetJump?: number;
  random?: RandomU32;
}

/** What the generator saw and did for one stream since it was bound. */
export interface NackGeneratorStats {
  stream: string;
  /** Packets received (originals, repairs and duplicates alike). */
  received: number;
  /** Packets found missing (gaps), before any repair. */
  lostBeforeRepair: number;
  /** NACK packets written. */
  nacksSent: number;
  /** Sequence numbers named in them (each repeat counted). */
  packetsAsked: number;
  /** Missing packets that arrived later (retransmitted, rebuilt or just late). */
  repaired: number;
  /** Missing packets given up at their deadline, dropped for room, or lost in a reset: the residual. */
  givenUp: number;
  /** Resets after a jump of more than resetJump. */
  resets: number;
}

class Tracker {
  readonly stats: NackGeneratorStats;
  readonly unwrap = new Unwrapper(16);
  started = false;
  maxExt = 0;
  /** Missing packets [0, n), ascending extended seq; dead entries (arrived) are compacted by flush. */
  n = 0;
  readonly ext: Float64Array;
  readonly due: Float64Array;
  readonly deadline: Float64Array;
  readonly live: Uint8Array;
  /** Earliest `due` among the pending entries (a lower bound: entries that arrived since are not taken out). */
  nextDue = Infinity;

  constructor(readonly info: StreamInfo, cap: number) {
    this.stats = { stream: info.name, received: 0, lostBeforeRepair: 0, nacksSent: 0, packetsAsked: 0, repaired: 0, givenUp: 0, resets: 0 };
    this.ext = new Float64Array(cap);
    this.due = new Float64Array(cap);
    this.deadline = new Float64Array(cap);
    this.live = new Uint8Array(cap);
  }

  /** Index of extended seq `x` among the pending entries, or -1. */
  find(x: number): number {
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.ext[mid];
      if (v === x) return mid;
      if (v < x) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  /** Drops every pending entry, counting the live ones as given up. */
  clear(): void {
    for (let i = 0; i < this.n; i++) if (this.live[i]) this.stats.givenUp++;
    this.n = 0;
  }
}

export class NackGenerator implements Interceptor {
  private readonly now: () => number;
  private readonly senderSsrc: number;
  private readonly retryMs: number;
  private readonly copies: number;
  private readonly latencyMs: number;
  private readonly fecWaitMs: number;
  private readonly maxPending: number;
  private readonly resetJump: number;
  private readonly streams = new Map<number, Tracker>();
  private readonly ring = new PacketRing(NACK_BUF, HOLD_PACKETS * 2);
  private readonly seqs = new Uint16Array(MAX_SEQS_PER_NACK);
  private rtcpOut: PacketSink | null = null;
  private closed = false;

  /** @throws RtpOptionError naming the option. */
  constructor(opts: NackGeneratorOptions) {
    if (typeof opts.now !== 'function') throw new RtpOptionError('now', 'a clock function (ms) is required');
    this.now = opts.now;
    this.senderSsrc = (opts.senderSsrc ?? (opts.random ?? cryptoRandomU32)()) >>> 0;
    this.retryMs = opts.retryMs ?? 20;
    this.copies = opts.copies ?? 1;
    if (!Number.isInteger(this.copies) || this.copies < 1 || this.copies > 4) throw new RtpOptionError('copies', `${this.copies} must be an integer in 1..4`);
    if (!(this.retryMs >= 5) || !Number.isFinite(this.retryMs)) throw new RtpOptionError('retryMs', `${this.retryMs} must be >= 5 (ms)`);
    this.latencyMs = opts.latencyMs ?? 200;
    if (!(this.latencyMs > 0) || !Number.isFinite(this.latencyMs)) throw new RtpOptionError('latencyMs', `${this.latencyMs} must be > 0 (ms)`);
    this.fecWaitMs = opts.fecWaitMs ?? 0;
    if (!(this.fecWaitMs >= 0) || this.fecWaitMs >= this.latencyMs) throw new RtpOptionError('fecWaitMs', `${this.fecWaitMs} must be in [0, latencyMs)`);
    this.maxPending = opts.maxPending ?? 1024;
    if (!Number.isInteger(this.maxPending) || this.maxPending < 16 || this.maxPending > 32768) throw new RtpOptionError('maxPending', `${this.maxPending} is not an integer in 16..32768`);
    this.resetJump = opts.resetJump ?? this.maxPending;
    if (!Number.isInteger(this.resetJump) || this.resetJump < 1 || this.resetJump > 32767) throw new RtpOptionError('resetJump', `${this.resetJump} is not an integer in 1..32767`);
  }

  /** The SSRC our NACKs carry as packet sender. */
  get ssrc(): number { return this.senderSsrc; }

  bindRtcpWriter(next: PacketSink): PacketSink {
    this.rtcpOut = next;
    return next;
  }

  bindRemoteStream(info: StreamInfo, next: PacketSink): PacketSink {
    const tr = new Tracker(info, this.maxPending);
    this.streams.set(info.ssrc >>> 0, tr);
    return (pkt, len) => {
      if (this.closed) return;
      if (len >= 12 && pkt.length >= 12) {
        this.arrived(tr, (pkt[2] << 8) | pkt[3]);
        // NACKs (the first after the FEC wait, and the repeats) go out on the packet that finds
        // them due, not only on the next tick: a loaded machine runs timers tens of ms late,
        // which cost ARQ rounds inside the receive buffer; packets keep coming every ms or so.
        if (tr.n > 0 && this.now() >= tr.nextDue) this.flush(tr, this.now());
      }
      next(pkt, len);
    };
  }

  unbindRemoteStream(info: StreamInfo): void {
    this.streams.delete(info.ssrc >>> 0);
  }

  tick(nowMs: number): void {
    if (this.closed) return;
    for (const tr of this.streams.values()) this.flush(tr, nowMs);
  }

  statsOf(name: string): NackGeneratorStats | undefined {
    for (const tr of this.streams.values()) if (tr.info.name === name) return { ...tr.stats };
    return undefined;
  }

  stats(): NackGeneratorStats[] {
    return [...this.streams.values()].map((tr) => ({ ...tr.stats }));
  }

  /** Missing packets currently asked for (or waiting for FEC) on the stream `name`. */
  pendingOf(name: string): number {
    for (const tr of this.streams.values()) {
      if (tr.info.name !== name) continue;
      let k = 0;
      for (let i = 0; i < tr.n; i++) k += tr.live[i];
      return k;
    }
    return 0;
  }

  close(): void {
    this.closed = true;
    this.streams.clear();
  }

  private arrived(tr: Tracker, seq: number): void {
    tr.stats.received++;
    const now = this.now();
    if (!tr.started) {
      tr.started = true;
      tr.maxExt = tr.unwrap.unwrap(seq);
      return;
    }
    const ext = tr.unwrap.unwrap(seq);
    const d = ext - tr.maxExt;
    if (d > this.resetJump || d < -this.resetJump) {
      tr.stats.resets++;
      tr.clear();
      tr.unwrap.reset();
      tr.maxExt = tr.unwrap.unwrap(seq);
      return;
    }
    if (d <= 0) {
      const i = tr.find(ext);
      if (i >= 0 && tr.live[i]) { tr.live[i] = 0; tr.stats.repaired++; }
      return;
    }
    tr.maxExt = ext;
    if (d === 1) return;
    // A gap of d - 1 packets: make room (arrived and expired entries first, then the oldest), list them.
    const gap = d - 1;
    tr.stats.lostBeforeRepair += gap;
    let add = gap;
    if (add > this.maxPending) { tr.stats.givenUp += add - this.maxPending; add = this.maxPending; }
    if (tr.n + add > this.maxPending) this.compact(tr, now);
    if (tr.n + add > this.maxPending) {
      const drop = tr.n + add - this.maxPending;
      for (let i = 0; i < drop; i++) if (tr.live[i]) tr.stats.givenUp++;
      tr.ext.copyWithin(0, drop, tr.n); tr.due.copyWithin(0, drop, tr.n);
      tr.deadline.copyWithin(0, drop, tr.n); tr.live.copyWithin(0, drop, tr.n);
      tr.n -= drop;
    }
    const due = now + this.fecWaitMs;
    const deadline = now + this.latencyMs;
    for (let x = ext - add; x < ext; x++) {
      const i = tr.n++;
      tr.ext[i] = x; tr.due[i] = due; tr.deadline[i] = deadline; tr.live[i] = 1;
    }
    if (due < tr.nextDue) tr.nextDue = due;
    if (this.fecWaitMs === 0) this.flush(tr, now);
  }

  /** Drops arrived entries and gives up those past their deadline. */
  private compact(tr: Tracker, now: number): void {
    let w = 0;
    for (let i = 0; i < tr.n; i++) {
      if (!tr.live[i]) continue;
      if (now >= tr.deadline[i]) { tr.stats.givenUp++; continue; }
      if (w !== i) { tr.ext[w] = tr.ext[i]; tr.due[w] = tr.due[i]; tr.deadline[w] = tr.deadline[i]; tr.live[w] = 1; }
      w++;
    }
    tr.n = w;
  }

  /** Compacts, then NACKs every entry that is due, in packets of at most MAX_SEQS_PER_NACK. */
  private flush(tr: Tracker, now: number): void {
    this.compact(tr, now);
    let k = 0;
    let next = Infinity;
    for (let i = 0; i < tr.n; i++) {
      if (tr.due[i] > now) { if (tr.due[i] < next) next = tr.due[i]; continue; }
      this.seqs[k++] = seq16(tr.ext[i]);
      tr.due[i] = now + this.retryMs;
      if (tr.due[i] < next) next = tr.due[i];
      if (k === MAX_SEQS_PER_NACK) { this.send(tr, k); k = 0; }
    }
    tr.nextDue = next;
    if (k > 0) this.send(tr, k);
  }

  private send(tr: Tracker, k: number): void {
    tr.stats.packetsAsked += k;
    if (!this.rtcpOut) return;
    const buf = this.ring.take();
    const n = encodeNack(this.senderSsrc, tr.info.ssrc, this.seqs, k, buf, 0);
    tr.stats.nacksSent++;
    for (let c = 0; c < this.copies; c++) this.rtcpOut(buf, n);
  }
}
