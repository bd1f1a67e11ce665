/**
 * The playout buffer of a talk session's incoming Opus stream: RTP packets in arrival order
 * out, one per 20 ms, at a fixed playout delay after the stream's first packet.
 *
 * Contract
 * - Owns: at most `capacity` packets (copies), keyed by extended sequence number; the playout
 *   schedule (the first packet's arrival + `delayMs` is its play instant; a packet plays at that
 *   instant + its RTP timestamp distance / 48 kHz); the counters (received, played, lost: not
 *   there at its instant, late: arrived after its instant, duplicate, overflow: dropped for
 *   capacity, resyncs, advances) and the RFC 3550 §6.4.1 interarrival jitter.
 * - The schedule follows the earliest packet: when one arrives more than ADVANCE_MS sooner than
 *   the schedule would play it minus `delayMs`, the whole schedule moves earlier by that much
 *   (measured: a first packet held up 460 ms at start-up left every later one waiting 460 ms).
 * - Fixed delay (default 60 ms): a room speaker needs steady audio more than the last 20 ms;
 *   60 ms covers the jitter of a loaded Wi-Fi or VPN hop. A packet too far ahead (more than
 *   RESYNC_MS past the schedule: the sender restarted or jumped) restarts the schedule.
 * - No timers and no I/O: `push(pkt, nowMs)` and `pop(nowMs)` take "now" (ms, monotonic), so a
 *   test asserts exact results. Sequence math goes through edge/rtp/seq.ts.
 * Runs on: duplex-voice.
 */
import { seqAdd, seqDiff, tsAdd, tsDiff } from '../../rtp/seq.js';

export interface JitterBufferOptions {
  /** Playout delay after the first packet's arrival, ms (0..500). Default 60. */
  delayMs?: number;
  /** Packets held at most (16..1000). Default 50 (1 s of 20 ms packets). */
  capacity?: number;
  /** RTP clock rate. Default 48000 (Opus, RFC 7587 §4.1). */
  clockRate?: number;
}

export interface JitterStats {
  received: number;
  played: number;
  /** Packets whose play instant passed without them (played as concealment). */
  lost: number;
  /** Packets that arrived after their play instant (dropped). */
  late: number;
  duplicate: number;
  overflow: number;
  resyncs: number;
  /** Times the schedule moved earlier (a packet came sooner than any before it). */
  advances: number;
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: number;
  /** Packets waiting now. */
  depth: number;
}

/** What `pop` gives for one 20 ms slot: a packet's payload, or `lost` (conceal it). */
export type PlayoutSlot = { kind: 'packet'; payload: Uint8Array; timestamp: number; sequence: number; atMs: number } | { kind: 'lost'; sequence: number; atMs: number };

/** A packet this much earlier than its schedule (ms) moves the schedule. */
export const ADVANCE_MS = 2;
/** A packet more than this past the schedule restarts it (ms). */
export const RESYNC_MS = 1000;

export class JitterBufferOptionError extends RangeError {
  constructor(readonly option: string, detail: string) { super(`jitter buffer option ${option}: ${detail}`); }
}

interface Held { seq: number; ts: number; payload: Uint8Array }

export class JitterBuffer {
  readonly delayMs: number;
  readonly capacity: number;
  readonly clockRate: number;
  private readonly held = new Map<number, Held>();
  /** Sequence and timestamp of the next slot to play; play instant of that slot (ms). */
  private nextSeq = -1;
  private nextTs = 0;
  private nextAtMs = 0;
  private samplesPerPacket = 960;
  private lastTransit: number | undefined;
  private jitterTicks = 0;
  private readonly st = { received: 0, played: 0, lost: 0, late: 0, duplicate: 0, overflow: 0, resyncs: 0, advances: 0 };

  constructor(opts: JitterBufferOptions = {}) {
    this.delayMs = opts.delayMs ?? 60;
    if (!(this.delayMs >= 0 && this.delayMs <= 500)) throw new JitterBufferOptionError('delayMs', `${this.delayMs} is not in 0..500`);
    this.capacity = opts.capacity ?? 50;
    if (!Number.isInteger(this.capacity) || this.capacity < 16 || this.capacity > 1000) throw new JitterBufferOptionError('capacity', `${this.capacity} is not an integer in 16..1000`);
    this.clockRate = opts.clockRate ?? 48_000;
    if (!Number.isInteger(this.clockRate) || this.clockRate <= 0) throw new JitterBufferOptionError('clockRate', `${this.clockRate} is not a positive integer`);
  }

  stats(): JitterStats {
    return { ...this.st, jitterMs: Math.round((this.jitterTicks / this.clockRate) * 1e4) / 10, depth: this.held.size };
  }

  /** Whether the stream has started (a first packet was taken). */
  get started(): boolean { return this.nextSeq >= 0; }

  /** One RTP packet's fields (the payload is copied). `samples`: its duration in clock ticks. */
  push(seq: number, ts: number, payload: Uint8Array, nowMs: number, samples = 960): void {
    this.st.received++;
    const transit = nowMs * (this.clockRate / 1000) - ts;
    if (this.lastTransit !== undefined) {
      const d = Math.abs(tsDiff(Math.round(transit) >>> 0, Math.round(this.lastTransit) >>> 0));
      if (d < this.clockRate) this.jitterTicks += (d - this.jitterTicks) / 16;
    }
    this.lastTransit = transit;
    if (this.nextSeq < 0) { this.restart(seq, ts, nowMs, samples); }
    const ahead = seqDiff(this.nextSeq, seq);
    if (ahead < 0) { this.st.late++; return; }
    const atMs = this.nextAtMs + (tsDiff(this.nextTs, ts) * 1000) / this.clockRate;
    if (atMs - nowMs > this.delayMs + RESYNC_MS || ahead >= 1000) {
      this.st.resyncs++;
      this.held.clear();
      this.restart(seq, ts, nowMs, samples);
    }
    else if (atMs - (nowMs + this.delayMs) > ADVANCE_MS) {
      // This packet came earlier than the schedule assumed (the first one was held up: a
      // start-up burst): play everything that much sooner, so each packet waits delayMs, not more.
      this.nextAtMs -= atMs - (nowMs + this.delayMs);
      this.st.advances++;
    }
    if (this.held.has(seq)) { this.st.duplicate++; return; }
    if (this.held.size >= this.capacity) { this.st.overflow++; return; }
    this.samplesPerPacket = samples;
    this.held.set(seq, { seq, ts, payload: payload.slice() });
  }

  /**
   * The slots whose play instant is at or before `nowMs`, in order (empty when none is due or
   * the stream has not started). A slot with no packet is `lost`.
   */
  pop(nowMs: number, out: PlayoutSlot[] = []): PlayoutSlot[] {
    out.length = 0;
    if (this.nextSeq < 0) return out;
    while (this.nextAtMs <= nowMs && out.length < this.capacity) {
      const h = this.held.get(this.nextSeq);
      const stepMs = (this.samplesPerPacket * 1000) / this.clockRate;
      if (h) {
        this.held.delete(this.nextSeq);
        out.push({ kind: 'packet', payload: h.payload, timestamp: h.ts, sequence: h.seq, atMs: this.nextAtMs });
        this.st.played++;
        this.nextTs = tsAdd(h.ts, this.samplesPerPacket);
      } else {
        out.push({ kind: 'lost', sequence: this.nextSeq, atMs: this.nextAtMs });
        this.st.lost++;
        this.nextTs = tsAdd(this.nextTs, this.samplesPerPacket);
      }
      this.nextSeq = seqAdd(this.nextSeq, 1);
      this.nextAtMs += stepMs;
    }
    return out;
  }

  /** The play instant of the next slot (ms), or undefined before the first packet. */
  get nextPlayMs(): number | undefined { return this.nextSeq < 0 ? undefined : this.nextAtMs; }

  private restart(seq: number, ts: number, nowMs: number, samples: number): void {
    this.nextSeq = seq;
    this.nextTs = ts;
    this.nextAtMs = nowMs + this.delayMs;
    this.samplesPerPacket = samples;
  }
}
