/**
 * The SRTP unit of the uplink's interceptor chain (edge/rtp/interceptor.ts): unit 0, nearest
 * the socket. Outbound RTP of every bound local stream (its RTX and FEC, written to the same
 * sink, too) and our RTCP are protected; inbound RTP and the peer's RTCP are unprotected.
 *
 *   app -> ... -> [SrtpInterceptor: protect]   -> socket        (local keying)
 *   app <- ... <- [SrtpInterceptor: unprotect] <- socket        (remote keying)
 *
 * Contract
 * - Never throws from a sink: a packet that cannot be protected (index not above the last one,
 *   too short, contexts full, too long for the ring) or unprotected (auth, replay, too old,
 *   too short, a new SSRC over the bound) is dropped and counted in `stats`.
 * - Output buffers come from two PacketRings (outbound, inbound) of `maxPacketBytes`; this unit
 *   is their producer, so a packet it writes stays valid for HOLD_PACKETS later packets it
 *   writes in that direction. Input buffers are never modified: outbound they are the
 *   packetiser's RTX history, which must stay plain.
 * - Sender state for a restart: `exportSenderState()` / the `senderState` option (see
 *   SrtpSender): the caller persists it and starts its packetiser's sequence after `lastSeq`.
 * - `close()` is idempotent; afterwards every sink drops (counted as CLOSED).
 * Runs on: net-send (uplink), the `orbox receive` process.
 */
import { HOLD_PACKETS, PacketRing, type Interceptor, type PacketSink, type StreamInfo } from '../rtp/interceptor.js';
import { DEFAULT_MAX_STREAMS, SrtpReceiver, SrtpSender, type SrtpSendState } from './context.js';
import { dropReason, SrtpDrop, SrtpOptionError, type SrtpDropReason } from './errors.js';
import type { SrtpKeying } from './suites.js';

export interface SrtpInterceptorOptions {
  /** Keying of what we send (our `a=crypto` line). */
  local: SrtpKeying;
  /** Keying of what the peer sends (its `a=crypto` line). */
  remote: SrtpKeying;
  /** Largest packet on the wire, bytes (protected size outbound, received size inbound). Default 1500. */
  maxPacketBytes?: number;
  /** Bound on remote SSRC contexts; a new SSRC beyond it is dropped. Default 16. */
  maxRemoteStreams?: number;
  /** Bound on local SSRCs (streams, RTX, FEC, the RTCP sender). Default 16. */
  maxLocalStreams?: number;
  /** Persisted sender state from before a restart. */
  senderState?: readonly SrtpSendState[];
  /** Ring depth per direction. Default 2 * HOLD_PACKETS. */
  ringDepth?: number;
}

type Counters = Record<SrtpDropReason, number>;
const zero = (): Counters => ({
  TOO_SHORT: 0, AUTH_FAILED: 0, REPLAYED: 0, TOO_OLD: 0, CONTEXTS_FULL: 0,
  INDEX_NOT_ABOVE: 0, INDEX_EXHAUSTED: 0, TOO_LONG: 0, CLOSED: 0,
});

/** Counters of one SrtpInterceptor (live object: read it, do not write it). */
export interface SrtpStats {
  rtpProtected: number;
  rtcpProtected: number;
  rtpUnprotected: number;
  rtcpUnprotected: number;
  /** Outbound packets dropped, by reason. */
  outboundDropped: Counters;
  /** Inbound packets dropped, by reason. */
  inboundDropped: Counters;
}

export class SrtpInterceptor implements Interceptor {
  readonly stats: SrtpStats = {
    rtpProtected: 0, rtcpProtected: 0, rtpUnprotected: 0, rtcpUnprotected: 0,
    outboundDropped: zero(), inboundDropped: zero(),
  };
  private readonly sender: SrtpSender;
  private readonly receiver: SrtpReceiver;
  private readonly outRing: PacketRing;
  private readonly inRing: PacketRing;
  private readonly maxBytes: number;
  private closed = false;

  /** @throws SrtpOptionError for a bad key, salt, bound or persisted state. */
  constructor(opts: SrtpInterceptorOptions) {
    this.maxBytes = opts.maxPacketBytes ?? 1500;
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 64) throw new SrtpOptionError('maxPacketBytes', `must be an integer >= 64, got ${opts.maxPacketBytes}`);
    this.sender = new SrtpSender(opts.local, { maxStreams: opts.maxLocalStreams ?? DEFAULT_MAX_STREAMS });
    this.receiver = new SrtpReceiver(opts.remote, { maxStreams: opts.maxRemoteStreams ?? DEFAULT_MAX_STREAMS });
    if (opts.senderState) this.sender.importState(opts.senderState);
    const depth = opts.ringDepth ?? HOLD_PACKETS * 2;
    this.outRing = new PacketRing(this.maxBytes, depth);
    this.inRing = new PacketRing(this.maxBytes, depth);
  }

  /** Per-SSRC sender state to persist (call it periodically and at shutdown). */
  exportSenderState(): SrtpSendState[] {
    return this.sender.exportState();
  }

  bindLocalStream(_info: StreamInfo, next: PacketSink): PacketSink {
    const overhead = this.sender.suite.rtpOverhead;
    return (pkt, len) => {
      if (this.closed) return this.dropOut(SrtpDrop.CLOSED);
      if (len + overhead > this.maxBytes) return this.dropOut(SrtpDrop.TOO_LONG);
      const out = this.outRing.take();
      const n = this.sender.protectRtp(pkt, len, out);
      if (n < 0) return this.dropOut(n);
      this.stats.rtpProtected++;
      next(out, n);
    };
  }

  bindRtcpWriter(next: PacketSink): PacketSink {
    const overhead = this.sender.suite.rtcpOverhead;
    return (pkt, len) => {
      if (this.closed) return this.dropOut(SrtpDrop.CLOSED);
      if (len + overhead > this.maxBytes) return this.dropOut(SrtpDrop.TOO_LONG);
      const out = this.outRing.take();
      const n = this.sender.protectRtcp(pkt, len, out);
      if (n < 0) return this.dropOut(n);
      this.stats.rtcpProtected++;
      next(out, n);
    };
  }

  /** Any SSRC arriving here is unprotected (a new one starts a context, up to the bound). */
  bindRemoteStream(_info: StreamInfo, next: PacketSink): PacketSink {
    return (pkt, len) => {
      if (this.closed) return this.dropIn(SrtpDrop.CLOSED);
      if (len > this.maxBytes || len > pkt.length) return this.dropIn(len > this.maxBytes ? SrtpDrop.TOO_LONG : SrtpDrop.TOO_SHORT);
      const out = this.inRing.take();
      const n = this.receiver.unprotectRtp(pkt, len, out);
      if (n < 0) return this.dropIn(n);
      this.stats.rtpUnprotected++;
      next(out, n);
    };
  }

  bindRtcpReader(next: PacketSink): PacketSink {
    return (pkt, len) => {
      if (this.closed) return this.dropIn(SrtpDrop.CLOSED);
      if (len > this.maxBytes || len > pkt.length) return this.dropIn(len > this.maxBytes ? SrtpDrop.TOO_LONG : SrtpDrop.TOO_SHORT);
      const out = this.inRing.take();
      const n = this.receiver.unprotectRtcp(pkt, len, out);
      if (n < 0) return this.dropIn(n);
      this.stats.rtcpUnprotected++;
      next(out, n);
    };
  }

  close(): void {
    this.closed = true;
  }

  private dropOut(code: number): void {
    this.stats.outboundDropped[dropReason(code)]++;
  }

  private dropIn(code: number): void {
    this.stats.inboundDropped[dropReason(code)]++;
  }
}
