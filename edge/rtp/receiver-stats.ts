/**
 * Receiver-side statistics of one RTP source and the receiver report that carries them
 * (RFC 3550 §6.4.2 RR, §A.3 expected and lost packets, §A.8 interarrival jitter, §6.4.1 LSR and
 * DLSR from the last SR received, §6.5.1 SDES CNAME in every compound packet).
 *
 * Owns, per source: the extended highest sequence number, the base sequence, packets received,
 * the counters of the previous report (for fraction lost), the jitter estimate and the last SR
 * (its NTP middle 32 bits and when it arrived). "Now" is always an argument: a test injects the
 * instants and asserts the exact report. What counts as received is the caller's choice: the
 * receiving end (`orbox receive`) feeds packets **before** repair, so the sender's reading of
 * fraction lost is the raw channel loss its stream choice needs (repair is reported apart).
 *
 *   RR (PT=201), §6.4.2:  V=2 P RC | PT=201 | length | SSRC of packet sender | report blocks
 *   report block:  SSRC_n | fraction lost (8) | cumulative lost (24, signed) | ext. highest seq |
 *                  interarrival jitter | LSR | DLSR (1/65536 s)
 *
 * Runs on: the `orbox receive` process, test-rig receivers. Errors: BufferTooSmallError.
 */
import { BufferTooSmallError, RtpOptionError } from './errors.js';
import { writeU32 } from './header.js';
import { RTCP_RR, encodeSdesCname, ntpMiddle32, sdesCnameSize, type NtpTime } from './rtcp.js';
import { Unwrapper, tsDiff, u32 } from './seq.js';

/** Size of an RR with one report block. */
export const RR_ONE_BLOCK_SIZE = 8 + 24;

export class ReceiverStats {
  /** SSRC of the source reported on. */
  readonly ssrc: number;
  private readonly clockRate: number;
  private readonly seq = new Unwrapper(16);
  private base = 0;
  private highest = -1;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private jitter = 0;
  private lastTransit: number | null = null;
  private lastSrMiddle = 0;
  private lastSrArrivalNs: bigint | null = null;

  constructor(ssrc: number, clockRate = 90_000) {
    if (!Number.isInteger(clockRate) || clockRate <= 0) throw new RtpOptionError('clockRate', `${clockRate} must be a positive integer (Hz)`);
    this.ssrc = ssrc >>> 0;
    this.clockRate = clockRate;
  }

  /** Packets received (duplicates included, §A.3). */
  get packetsReceived(): number { return this.received; }
  /** Extended highest sequence number, -1 before the first packet. */
  get extendedHighest(): number { return this.highest; }
  /** Packets expected minus received since the first packet (signed, §A.3). */
  get cumulativeLost(): number { return this.highest < 0 ? 0 : this.highest - this.base + 1 - this.received; }
  /** Interarrival jitter in RTP units (§A.8). */
  get jitterUnits(): number { return this.jitter; }

  /**
   * One RTP packet of the source: its sequence number, RTP timestamp and arrival (Unix ns).
   * A late or duplicate packet counts as received and moves nothing back.
   */
  onPacket(seq: number, rtpTimestamp: number, arrivalNs: bigint): void {
    const ext = this.seq.unwrap(seq & 0xffff);
    if (this.highest < 0) { this.base = ext; this.highest = ext; }
    else if (ext > this.highest) this.highest = ext;
    this.received++;
    // §A.8: transit = arrival (RTP units) - timestamp; J += (|D| - J) / 16.
    const arrival = Number((arrivalNs * BigInt(this.clockRate)) / 1_000_000_000n) >>> 0;
    const transit = tsDiff(rtpTimestamp >>> 0, arrival);
    if (this.lastTransit !== null) {
      const d = Math.abs(transit - this.lastTransit);
      this.jitter += (d - this.jitter) / 16;
    }
    this.lastTransit = transit;
  }

  /** A sender report from the source arrived (its NTP time) at `arrivalNs`. */
  onSenderReport(ntp: NtpTime, arrivalNs: bigint): void {
    this.lastSrMiddle = ntpMiddle32(ntp);
    this.lastSrArrivalNs = arrivalNs;
  }

  /**
   * Writes the compound RR + SDES(CNAME) from `reporterSsrc` about this source at `nowNs`, and
   * starts the next interval (fraction lost is since the previous call).
   * @returns bytes written. @throws BufferTooSmallError.
   */
  encodeReport(reporterSsrc: number, cname: string, nowNs: bigint, buf: Uint8Array, off = 0): number {
    const need = RR_ONE_BLOCK_SIZE + sdesCnameSize(cname);
    if (off + need > buf.length) throw new BufferTooSmallError('rtcp-rr', need, buf.length - off);
    const expected = this.highest < 0 ? 0 : this.highest - this.base + 1;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction = expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval << 8) / expectedInterval));
    // Cumulative lost is a signed 24-bit field: clamp (§A.3).
    const lost = Math.max(-0x800000, Math.min(0x7fffff, this.cumulativeLost));
    buf[off] = 0x81; // V=2, P=0, RC=1
    buf[off + 1] = RTCP_RR;
    buf[off + 2] = 0;
    buf[off + 3] = RR_ONE_BLOCK_SIZE / 4 - 1;
    writeU32(buf, off + 4, reporterSsrc);
    writeU32(buf, off + 8, this.ssrc);
    buf[off + 12] = fraction;
    buf[off + 13] = (lost >> 16) & 0xff;
    buf[off + 14] = (lost >> 8) & 0xff;
    buf[off + 15] = lost & 0xff;
    writeU32(buf, off + 16, u32(Math.max(0, this.highest)));
    writeU32(buf, off + 20, Math.floor(this.jitter) >>> 0);
    let lsr = 0, dlsr = 0;
    if (this.lastSrArrivalNs !== null) {
      lsr = this.lastSrMiddle;
      const since = nowNs - this.lastSrArrivalNs;
      dlsr = since <= 0n ? 0 : Number((since * 65536n) / 1_000_000_000n) >>> 0;
    }
    writeU32(buf, off + 24, lsr);
    writeU32(buf, off + 28, dlsr);
    return RR_ONE_BLOCK_SIZE + encodeSdesCname(reporterSsrc, cname, buf, off + RR_ONE_BLOCK_SIZE);
  }
}
