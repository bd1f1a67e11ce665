/**
 * Keyframe requests from the peer, sender side: RFC 4585 §6.3.1 PLI and RFC 5104 §4.3.1 FIR
 * for one of our streams become a call of `onKeyframeRequest(streamName, kind)`, rate-limited
 * per stream name. An Interceptor (interceptor.ts) that only reads RTCP.
 *
 * Owns: which of our SSRCs belong to which stream name, the last FIR request number per
 * (requester, stream) so that repetitions are ignored (RFC 5104 §4.3.1.2: the same Seq nr.
 * again is the same request), and the minimum interval between two keyframes of one stream.
 * It does not own the encoder: the callback asks video-encode for an IDR.
 *
 * Why a shared limiter: one encoder feeds every receiver of a channel's stream, so ten viewers
 * each sending a PLI after the same loss must cost one IDR, not ten. Give every receiver's
 * unit the same `KeyframeLimiter` and the limit holds per stream name across all of them.
 * Time: `now()` from the options, ms, monotonic. Runs on: net-send.
 */
import { RtpFormatError, RtpOptionError } from './errors.js';
import type { Interceptor, PacketSink, StreamInfo } from './interceptor.js';
import { forEachFeedback, newFeedbackCounts, newFeedbackHeader, type FeedbackHeader, type FeedbackVisitor } from './rtcp-feedback.js';

/** At most one keyframe per stream name per `minIntervalMs`; share one between receivers of a stream. */
export class KeyframeLimiter {
  private readonly last = new Map<string, number>();

  /** @param minIntervalMs default 500 (an IDR of a 1080p stream costs several frames of bitrate). */
  constructor(readonly minIntervalMs = 500) {
    if (!Number.isFinite(minIntervalMs) || minIntervalMs < 0) throw new RtpOptionError('minIntervalMs', `${minIntervalMs} must be >= 0 (ms)`);
  }

  /** True (and the interval restarts) when `stream` may have a keyframe at `nowMs`. */
  allow(stream: string, nowMs: number): boolean {
    const t = this.last.get(stream);
    if (t !== undefined && nowMs - t < this.minIntervalMs) return false;
    this.last.set(stream, nowMs);
    return true;
  }
}

export type KeyframeRequestKind = 'pli' | 'fir';

export interface KeyframeRequestOptions {
  now: () => number;
  /** Called at most once per limiter interval per stream name. Must not throw. */
  onKeyframeRequest: (streamName: string, kind: KeyframeRequestKind) => void;
  /** Shared limiter; default a new one with `minIntervalMs`. */
  limiter?: KeyframeLimiter;
  /** Used only when no limiter is given. Default 500. */
  minIntervalMs?: number;
}

export interface KeyframeRequestStats {
  plis: number;
  firs: number;
  /** FIR entries repeating the last request number of their requester: ignored. */
  firRepeats: number;
  /** Callbacks made. */
  requested: number;
  /** Requests inside the limiter's interval: dropped. */
  rateLimited: number;
  /** PLI/FIR about an SSRC that is not one of our bound streams. */
  unknownStream: number;
  /** RTCP packets that could not be walked. */
  malformedRtcp: number;
}

/** FIR requesters remembered at most (a flood of invented SSRCs clears the table). */
const MAX_FIR_STATES = 256;

export class KeyframeRequests implements Interceptor {
  readonly stats: KeyframeRequestStats = { plis: 0, firs: 0, firRepeats: 0, requested: 0, rateLimited: 0, unknownStream: 0, malformedRtcp: 0 };
  private readonly now: () => number;
  private readonly onRequest: (streamName: string, kind: KeyframeRequestKind) => void;
  private readonly limiter: KeyframeLimiter;
  private readonly names = new Map<number, string>();
  /** (requester SSRC, target SSRC) -> last FIR Seq nr. Key: requester * 2^32 + target (exact in a double). */
  private readonly firSeq = new Map<number, number>();
  private readonly header: FeedbackHeader = newFeedbackHeader();
  private readonly counts = newFeedbackCounts();
  private readonly visitor: FeedbackVisitor;
  private closed = false;

  /** @throws RtpOptionError naming the option. */
  constructor(opts: KeyframeRequestOptions) {
    if (typeof opts.now !== 'function') throw new RtpOptionError('now', 'a clock function (ms) is required');
    if (typeof opts.onKeyframeRequest !== 'function') throw new RtpOptionError('onKeyframeRequest', 'a callback is required');
    this.now = opts.now;
    this.onRequest = opts.onKeyframeRequest;
    this.limiter = opts.limiter ?? new KeyframeLimiter(opts.minIntervalMs ?? 500);
    this.visitor = {
      onPli: (h) => {
        this.stats.plis++;
        this.request(h.mediaSsrc, 'pli');
      },
      onFir: (h, ssrc, seqNr) => {
        this.stats.firs++;
        const key = h.senderSsrc * 0x1_0000_0000 + ssrc;
        if (this.firSeq.get(key) === seqNr) { this.stats.firRepeats++; return; }
        if (this.firSeq.size >= MAX_FIR_STATES && !this.firSeq.has(key)) this.firSeq.clear();
        this.firSeq.set(key, seqNr);
        this.request(ssrc, 'fir');
      },
    };
  }

  bindLocalStream(info: StreamInfo, next: PacketSink): PacketSink {
    this.names.set(info.ssrc >>> 0, info.name);
    return next;
  }

  unbindLocalStream(info: StreamInfo): void {
    this.names.delete(info.ssrc >>> 0);
  }

  bindRtcpReader(next: PacketSink): PacketSink {
    return (pkt, len) => {
      if (this.closed) return;
      try {
        forEachFeedback(pkt, len, this.visitor, this.header, this.counts);
      } catch (e) {
        if (!(e instanceof RtpFormatError)) throw e;
        this.stats.malformedRtcp++;
      }
      next(pkt, len);
    };
  }

  close(): void {
    this.closed = true;
  }

  private request(ssrc: number, kind: KeyframeRequestKind): void {
    const name = this.names.get(ssrc);
    if (name === undefined) { this.stats.unknownStream++; return; }
    if (!this.limiter.allow(name, this.now())) { this.stats.rateLimited++; return; }
    this.stats.requested++;
    this.onRequest(name, kind);
  }
}
