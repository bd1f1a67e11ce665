/**
 * The chain unit that files SRTP index reservations (index-journal.ts) for every packet before
 * the SRTP unit nearer the wire protects it: it sits at chain position 1, just inside SRTP.
 *
 * Contract
 * - Outbound RTP of a bound stream and of its RTX stream: the packet's SRTP index (ROC << 16 | seq,
 *   followed across wraps from where the journal says this key's stream starts) is reserved,
 *   then the packet passes on unchanged. Outbound RTCP: the SRTCP index it will get (one more
 *   than the last, per sender SSRC) is reserved the same way.
 * - `startOf(ssrc)` gives the first RTP index a sender may use, `rtcpStartOf(ssrc)` the last
 *   SRTCP index that may have been used: the composer seeds the packetiser, the RTX sequence and
 *   the SRTP sender's state from them.
 * - The journal write is synchronous (fsync) once per half block; an IndexJournalError there
 *   propagates: sending without a reservation could repeat a keystream.
 * Runs on: net-send.
 */
import { seqDiff, type Interceptor, type PacketSink, type StreamInfo } from '../../rtp/index.js';
import type { IndexJournal } from './index-journal.js';

export class IndexReservation implements Interceptor {
  private readonly lastRtp = new Map<number, number>();
  private readonly lastRtcp = new Map<number, number>();

  constructor(private readonly journal: IndexJournal, readonly key: string) {}

  startOf(ssrc: number): number {
    return this.journal.start(this.key, `rtp:${ssrc >>> 0}`);
  }

  rtcpStartOf(ssrc: number): number {
    return this.journal.start(this.key, `rtcp:${ssrc >>> 0}`);
  }

  bindLocalStream(_info: StreamInfo, next: PacketSink): PacketSink {
    return (pkt, len) => {
      if (len >= 12) this.reserveRtp(pkt);
      next(pkt, len);
    };
  }

  bindRtcpWriter(next: PacketSink): PacketSink {
    return (pkt, len) => {
      if (len >= 8) {
        const ssrc = ((pkt[4]! << 24) | (pkt[5]! << 16) | (pkt[6]! << 8) | pkt[7]!) >>> 0;
        const idx = (this.lastRtcp.get(ssrc) ?? this.rtcpStartOf(ssrc)) + 1;
        this.journal.ensure(this.key, `rtcp:${ssrc}`, idx);
        this.lastRtcp.set(ssrc, idx);
      }
      next(pkt, len);
    };
  }

  /** Reserves the index of an outgoing RTP packet (RTX packets come through the same sink). */
  private reserveRtp(pkt: Uint8Array): void {
    const ssrc = ((pkt[8]! << 24) | (pkt[9]! << 16) | (pkt[10]! << 8) | pkt[11]!) >>> 0;
    const seq = (pkt[2]! << 8) | pkt[3]!;
    let last = this.lastRtp.get(ssrc);
    if (last === undefined) {
      const start = this.startOf(ssrc);
      last = start - 1;
      if (start === 0) { this.journal.ensure(this.key, `rtp:${ssrc}`, seq); this.lastRtp.set(ssrc, seq); return; }
    }
    const idx = last + seqDiff(last & 0xffff, seq);
    if (idx > last) {
      this.journal.ensure(this.key, `rtp:${ssrc}`, idx);
      this.lastRtp.set(ssrc, idx);
    }
  }
}
