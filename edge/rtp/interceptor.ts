/**
 * The chain that composes the uplink's RTP/RTCP features, one feature per unit, in the model of
 * pion/interceptor: each unit wraps the packet sinks of the direction it cares about and leaves
 * the others alone. SRTP, FEC, the NACK responder with RFC 4588 RTX, reports and keyframe
 * requests are separate units; the uplink (sender) and `orbox receive` (receiver) compose them.
 *
 * Contract
 * - A chain is a list ordered **from the wire inward**: unit 0 touches the socket (SRTP), the
 *   last is nearest the application.
 *     outbound (RTP of a local stream, our RTCP): app -> unit n-1 -> ... -> unit 0 -> socket
 *     inbound  (RTP of a remote stream, peer's RTCP): socket -> unit 0 -> ... -> unit n-1 -> app
 * - A unit that emits packets of its own (RTX answers, FEC repair, NACKs) writes them to the
 *   `next` sink it was bound with, so they pass only through the units nearer the wire (SRTP
 *   protects them; FEC does not protect RTX).
 * - Packet buffers: a sink gets `(pkt, len)`. The bytes stay unchanged for at least
 *   HOLD_PACKETS later packets written by the same producer (an asynchronous UDP send needs
 *   them that long); a sink that keeps a packet longer copies it. Producers take their
 *   buffers from a PacketRing of at least that depth, so nothing allocates per packet.
 * - Time is injected: units take `now()` (ms, monotonic) in their options, and the composer
 *   calls `tick(nowMs)` on a timer (a few ms), so a test drives every timer by hand.
 * - Errors: a unit never throws out of a sink for bad input from the network (it counts and
 *   drops); it throws only for programming errors (a buffer too small, a bad option).
 * Runs on: net-send (uplink), the `orbox receive` process.
 */

/** Where a unit writes a packet: the bytes are `pkt[0, len)`. */
export type PacketSink = (pkt: Uint8Array, len: number) => void;

/** How long a sink may rely on a packet's bytes: this many later packets of the same producer. */
export const HOLD_PACKETS = 256;

/** One RTP stream as the chain sees it (RFC 3550 SSRC plus what RFC 4588 adds). */
export interface StreamInfo {
  /** For stats and logs, e.g. `or1/hq`. */
  name: string;
  kind: 'video' | 'audio';
  ssrc: number;
  payloadType: number;
  /** RTP clock rate, Hz (90000 for video). */
  clockRate: number;
  /**
   * RFC 4588 retransmission stream, when the peer accepts it (`a=fmtp:<rtxPt> apt=<pt>`).
   * `initialSequence`: where its sequence numbers start (a sender resuming above an SRTP index
   * reservation); random when absent (RFC 3550 §5.1).
   */
  rtx?: { ssrc: number; payloadType: number; initialSequence?: number };
}

/**
 * One feature of the chain. Every hook is optional: a unit overrides only what it touches,
 * and returns `next` unchanged for a stream it does not handle.
 */
export interface Interceptor {
  /** Outbound RTP of one of our streams: return the sink the units above write to. */
  bindLocalStream?(info: StreamInfo, next: PacketSink): PacketSink;
  unbindLocalStream?(info: StreamInfo): void;
  /** Inbound RTP of one of the peer's streams (the receiving end). */
  bindRemoteStream?(info: StreamInfo, next: PacketSink): PacketSink;
  unbindRemoteStream?(info: StreamInfo): void;
  /** Our outbound RTCP: a unit that sends RTCP of its own keeps `next`. */
  bindRtcpWriter?(next: PacketSink): PacketSink;
  /** The peer's inbound RTCP (compound packets, already decrypted by the units nearer the wire). */
  bindRtcpReader?(next: PacketSink): PacketSink;
  /** Timers: called by the composer every few ms with the injected clock's now (ms). */
  tick?(nowMs: number): void;
  /** Idempotent; after it, sinks this unit returned drop what they get. */
  close?(): void;
}

const drop: PacketSink = () => {};

/**
 * A list of units, bound as one. `bindLocalStream(info, socketSink)` returns what the packetiser
 * writes to; `bindRemoteStream(info, appSink)` returns what the socket's RTP handler calls;
 * likewise for RTCP. Binding order is the wire order documented above.
 */
export class InterceptorChain implements Interceptor {
  constructor(readonly units: readonly Interceptor[]) {}

  bindLocalStream(info: StreamInfo, wire: PacketSink): PacketSink {
    let s = wire;
    for (const u of this.units) if (u.bindLocalStream) s = u.bindLocalStream(info, s);
    return s;
  }

  unbindLocalStream(info: StreamInfo): void {
    for (const u of this.units) u.unbindLocalStream?.(info);
  }

  bindRemoteStream(info: StreamInfo, app: PacketSink): PacketSink {
    let s = app;
    for (let i = this.units.length - 1; i >= 0; i--) {
      const u = this.units[i]!;
      if (u.bindRemoteStream) s = u.bindRemoteStream(info, s);
    }
    return s;
  }

  unbindRemoteStream(info: StreamInfo): void {
    for (const u of this.units) u.unbindRemoteStream?.(info);
  }

  bindRtcpWriter(wire: PacketSink): PacketSink {
    let s = wire;
    for (const u of this.units) if (u.bindRtcpWriter) s = u.bindRtcpWriter(s);
    return s;
  }

  bindRtcpReader(app: PacketSink = drop): PacketSink {
    let s = app;
    for (let i = this.units.length - 1; i >= 0; i--) {
      const u = this.units[i]!;
      if (u.bindRtcpReader) s = u.bindRtcpReader(s);
    }
    return s;
  }

  tick(nowMs: number): void {
    for (const u of this.units) u.tick?.(nowMs);
  }

  close(): void {
    for (const u of this.units) u.close?.();
  }
}

/**
 * A fixed ring of packet buffers handed out round-robin: the storage behind HOLD_PACKETS. One per
 * producer (a unit that writes packets of its own). `take()` returns the next buffer; it is reused
 * `depth` takes later.
 */
export class PacketRing {
  private readonly bufs: Uint8Array[];
  private i = 0;

  /** `size`: bytes per buffer (the largest packet the producer writes). `depth` >= HOLD_PACKETS. */
  constructor(readonly size: number, readonly depth = HOLD_PACKETS * 2) {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError(`PacketRing size must be a positive integer, got ${size}`);
    if (!Number.isInteger(depth) || depth < HOLD_PACKETS) throw new RangeError(`PacketRing depth must be an integer >= ${HOLD_PACKETS}, got ${depth}`);
    const all = new Uint8Array(size * depth);
    this.bufs = Array.from({ length: depth }, (_, k) => all.subarray(k * size, (k + 1) * size));
  }

  take(): Uint8Array {
    const b = this.bufs[this.i]!;
    this.i = this.i + 1 === this.depth ? 0 : this.i + 1;
    return b;
  }
}
