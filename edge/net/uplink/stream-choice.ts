/**
 * Which stream of a channel an uplink receiver gets, hq or lq, decided from its feedback.
 *
 * Inputs, each with the injected time of its arrival:
 *  - the receiver's RTCP report block for our stream (RFC 3550 §6.4.2): cumulative lost and the
 *    extended highest sequence number. The loss that counts is the raw channel loss before
 *    repair, over the last `windowMs` (longer when that holds fewer than `minPackets`), from the change of those cumulative counters (the 8-bit
 *    fraction-lost field is too noisy at frequent reports: see the reference page on loss);
 *  - the round-trip time (LSR/DLSR) and jitter of that block;
 *  - repair trouble: retransmissions the responder could not make (rate-limited, no longer in
 *    its history) and repair gone missing at the receiver (it asked again after its deadline).
 *
 * Rule, with hysteresis so a steady link never flaps:
 *  - to lq at once when the windowed loss >= `toLqLoss`, or the RTT leaves too few repair rounds
 *    in the receiver's buffer (rtt > latencyMs / `minRepairRounds`), or repair trouble was seen
 *    in the window;
 *  - back to hq only when loss <= `toHqLoss`, RTT fits and no repair trouble have held for
 *    `holdMs` without a break.
 * The sender acts on `want` (asks the target stream's encoder for a keyframe and switches when it
 * arrives); `reason` says why, in words `orbox status` shows.
 *
 * Pure: no timers, no I/O; "now" is an argument. Runs on: net-send.
 */
import { tsDiff } from '../../rtp/index.js';

export type StreamRole = 'hq' | 'lq';

export interface ChoiceOptions {
  /** `auto`, or a pinned role (never changes). */
  mode: 'auto' | StreamRole;
  /** The receiver's buffer, ms (its repair budget). */
  latencyMs: number;
  windowMs?: number;
  toLqLoss?: number;
  toHqLoss?: number;
  holdMs?: number;
  /** Repair rounds (RTT each) the buffer must fit; fewer sends lq. */
  minRepairRounds?: number;
  /** Fewest packets expected in the window before loss is judged. */
  minPackets?: number;
}

export interface ChoiceState {
  want: StreamRole;
  reason: string;
  /** Windowed raw loss (0..1), null until enough packets were reported. */
  loss: number | null;
  rttMs: number | null;
  jitterMs: number | null;
  /** When `want` last changed (ms, the injected clock), null if never. */
  changedAtMs: number | null;
  switches: number;
}

interface Sample { t: number; lost: number; highest: number }

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** Longest window the loss is judged over when packets are few (ms). */
const MAX_WINDOW_MS = 5000;

export class StreamChoice {
  private readonly o: Required<ChoiceOptions>;
  private readonly samples: Sample[] = [];
  private troubleAt = -Infinity;
  private troubleWhat = '';
  /** Since when the conditions for hq have held without a break (null: they do not hold). */
  private goodSince: number | null = null;
  private readonly st: ChoiceState;

  constructor(opts: ChoiceOptions) {
    this.o = { windowMs: 500, toLqLoss: 0.2, toHqLoss: 0.1, holdMs: 5000, minRepairRounds: 3, minPackets: 30, ...opts };
    if (!(this.o.toHqLoss < this.o.toLqLoss)) throw new RangeError(`toHqLoss (${this.o.toHqLoss}) must be below toLqLoss (${this.o.toLqLoss}), or the choice flaps`);
    const pinned = this.o.mode !== 'auto';
    this.st = { want: pinned ? (this.o.mode as StreamRole) : 'hq', reason: pinned ? `pinned to ${this.o.mode} by configuration` : 'hq: no feedback yet', loss: null, rttMs: null, jitterMs: null, changedAtMs: null, switches: 0 };
  }

  get state(): Readonly<ChoiceState> {
    return this.st;
  }

  /**
   * A report block for our stream. `cumulativeLost` is the 24-bit signed field already sign
   * extended; `extendedHighest` the 32-bit extended highest sequence number.
   */
  report(nowMs: number, cumulativeLost: number, extendedHighest: number, rttMs: number | null, jitterMs: number | null): void {
    this.st.rttMs = rttMs;
    this.st.jitterMs = jitterMs;
    const last = this.samples[this.samples.length - 1];
    // A receiver that restarted (or a new stream) reports from scratch: start the window over.
    if (last && (tsDiff(last.highest, extendedHighest) < 0 || cumulativeLost < last.lost - 0x7fff)) this.samples.length = 0;
    this.samples.push({ t: nowMs, lost: cumulativeLost, highest: extendedHighest });
    // Kept for up to MAX_WINDOW_MS: a stream of few packets (a still scene on lq) needs a
    // longer window to hold minPackets.
    while (this.samples.length > 2 && this.samples[1]!.t <= nowMs - MAX_WINDOW_MS) this.samples.shift();
    this.st.loss = this.windowLoss();
    this.decide(nowMs);
  }

  /** Repair that could not be made or came too late (counted by the responder or receiver). */
  repairTrouble(nowMs: number, what: string): void {
    this.troubleAt = nowMs;
    this.troubleWhat = what;
    this.decide(nowMs);
  }

  /**
   * Loss over the last `windowMs`, or over as much longer (up to MAX_WINDOW_MS) as it takes to
   * hold `minPackets`; null when even that has too few.
   */
  private windowLoss(): number | null {
    const n = this.samples.length;
    const b = this.samples[n - 1];
    if (!b || n < 2) return null;
    let i = n - 2;
    while (i > 0 && (b.t - this.samples[i]!.t < this.o.windowMs || tsDiff(this.samples[i]!.highest, b.highest) < this.o.minPackets)) i--;
    const a = this.samples[i]!;
    const expected = tsDiff(a.highest, b.highest);
    if (expected < this.o.minPackets) return null;
    return Math.min(1, Math.max(0, (b.lost - a.lost) / expected));
  }

  private decide(now: number): void {
    if (this.o.mode !== 'auto') return;
    const loss = this.st.loss;
    const rtt = this.st.rttMs;
    const rttLimit = this.o.latencyMs / this.o.minRepairRounds;
    const trouble = now - this.troubleAt < this.o.windowMs;
    let bad: string | null = null;
    if (loss !== null && loss >= this.o.toLqLoss) bad = `loss ${pct(loss)} over ${this.o.windowMs} ms >= ${pct(this.o.toLqLoss)}`;
    else if (rtt !== null && rtt > rttLimit) bad = `RTT ${rtt.toFixed(0)} ms leaves under ${this.o.minRepairRounds} repair rounds in the ${this.o.latencyMs} ms buffer`;
    else if (trouble) bad = `repair not keeping up (${this.troubleWhat})`;
    if (bad) {
      this.goodSince = null;
      if (this.st.want !== 'lq') this.set(now, 'lq', `lq: ${bad}`);
      return;
    }
    const good = loss !== null && loss <= this.o.toHqLoss;
    if (!good) { this.goodSince = null; return; }
    this.goodSince ??= now;
    if (this.st.want === 'lq' && now - this.goodSince >= this.o.holdMs) {
      this.set(now, 'hq', `hq: loss ${pct(loss)} <= ${pct(this.o.toHqLoss)}, RTT and repair fine for ${(this.o.holdMs / 1000).toFixed(0)} s`);
    } else if (this.st.want === 'hq' && this.st.changedAtMs === null) {
      this.st.reason = `hq: loss ${pct(loss)}`;
    }
  }

  private set(now: number, want: StreamRole, reason: string): void {
    this.st.want = want;
    this.st.reason = reason;
    this.st.changedAtMs = now;
    this.st.switches++;
  }
}
