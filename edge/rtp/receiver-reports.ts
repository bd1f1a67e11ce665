/**
 * What each viewer says about one of our streams: RTCP receiver reports read on the sending
 * side (RFC 3550 §6.4.1-§6.4.2 report blocks, §6.5.1 SDES CNAME, §6.6 BYE, §6.4.1 round-trip
 * time from LSR/DLSR, §A.3 fraction lost, §A.8 jitter).
 *
 * Owns: a table of viewers of one media SSRC, keyed by the SSRC each viewer reports with.
 * `onRtcp()` applies one compound RTCP packet (a viewer's RR, or an SR with report blocks, its
 * SDES and BYE); blocks about other SSRCs are ignored. `snapshot()` returns one entry per
 * viewer and forgets viewers silent for `timeoutMs` or gone with BYE. "Now" is always an
 * argument (Unix-epoch ns on the box clock, the clock our SRs carry): a test asserts exact
 * values. No I/O. Runs on: net-send (one table per stream sender).
 *
 * Round trip (§6.4.1): the viewer echoes the middle 32 bits of our last SR's NTP time (LSR)
 * and how long it held it (DLSR, 1/65536 s); RTT = arrival - LSR - DLSR in the same unit. It
 * includes the path inside the box from the RTSP server process (well under a millisecond).
 *
 * Which viewer: RTCP identifies a reporter only by its SSRC, and ffmpeg reports with our SSRC
 * + 1 (every ffmpeg viewer of a stream the same one) and its host name as CNAME. So the RTSP
 * server process appends to each viewer's compound an APP packet (§6.7) named 'ORBX' whose data
 * is a label of that viewer's session ("udp 10.0.0.7:50000", "tcp 10.0.0.8:41234"):
 * `appendViewerLabel()` writes it, and the table keys viewers by label when one is present
 * (by reporter SSRC otherwise).
 *
 * Trust: only the RTSP server's label says who a viewer is. A viewer's own APP 'ORBX' packets
 * are removed by the server before it appends its label (`stripViewerLabels()`), and the
 * label read here is the compound's last one (the server's, appended last), so a forged label
 * never names a viewer. Label and CNAME are shown escaped (lib/bad-input.ts); an RTT over
 * RTT_MAX_MS is not an echo of our clock (a forged LSR/DLSR) and is not taken.
 *
 * Bounds: at most `maxViewers` entries (a flood of invented SSRCs evicts the longest silent);
 * CNAMEs are cut to 64 characters. A malformed packet throws RtpFormatError with its offset;
 * the packets before it in the same compound are already applied (each is applied as read).
 */
import { escapeUntrusted } from '../lib/bad-input.js';
import { RtpFormatError, RtpOptionError } from './errors.js';
import { readU32 } from './header.js';
import { RTCP_BYE, RTCP_RR, RTCP_SDES, RTCP_SR, SDES_CNAME, SR_SIZE, decodeReportBlock, newReportBlock, ntpFromUnixNs, ntpMiddle32, type NtpTime } from './rtcp.js';

/** RTCP APP (RFC 3550 §6.7). */
export const RTCP_APP = 204;
/** Name of the APP packet that labels a viewer's session (see the module comment). */
export const VIEWER_LABEL_APP = 'ORBX';
const LABEL_MAX_BYTES = 128;

/**
 * Returns `compound` followed by an APP 'ORBX' packet carrying `label` (UTF-8, cut to 128
 * bytes, NUL-padded to 32 bits). SSRC field 0: the packet speaks for a session, not a source.
 */
export function appendViewerLabel(compound: Uint8Array, label: string): Buffer {
  const text = Buffer.from(label, 'utf8').subarray(0, LABEL_MAX_BYTES);
  const size = 12 + ((text.length + 3) & ~3);
  const app = Buffer.alloc(size);
  app[0] = 0x80; // V=2, P=0, subtype 0
  app[1] = RTCP_APP;
  app.writeUInt16BE(size / 4 - 1, 2);
  app.write(VIEWER_LABEL_APP, 8, 'latin1');
  text.copy(app, 12);
  return Buffer.concat([compound, app]);
}

/**
 * `compound` without its APP 'ORBX' packets (a viewer forging the server's label); the same
 * buffer when it has none. A compound whose lengths do not add up is returned from where they
 * stop adding up cut off (the reader would refuse that part anyway).
 */
export function stripViewerLabels(compound: Uint8Array): Uint8Array {
  const len = compound.length;
  let keep: [number, number][] | null = null;
  let off = 0;
  for (; off + 4 <= len;) {
    const size = 4 * (((compound[off + 2] << 8) | compound[off + 3]) + 1);
    if (off + size > len) break;
    const isLabel = compound[off + 1] === RTCP_APP && size >= 12 && Buffer.from(compound.buffer, compound.byteOffset + off + 8, 4).toString('latin1') === VIEWER_LABEL_APP;
    if (isLabel) keep ??= off > 0 ? [[0, off]] : [];
    else if (keep) keep.push([off, off + size]);
    off += size;
  }
  if (!keep) return off === len ? compound : compound.subarray(0, off);
  return Buffer.concat(keep.map(([a, b]) => compound.subarray(a, b)));
}

/** A round trip longer than this is not an echo of our sender report (ms). */
export const RTT_MAX_MS = 10_000;

/** One viewer of a stream, as its last receiver report described it. */
export interface ViewerReport {
  /** The viewer's session as the RTSP server labels it ("tcp 10.0.0.8:41234"), '' when unlabelled. */
  viewer: string;
  /** SSRC the viewer reports with (its RTCP identity; RFC 3550 §8: random per session). */
  ssrc: number;
  /** CNAME from the viewer's SDES (up to 64 characters), '' until one arrived. */
  cname: string;
  /** Share of packets lost in the interval before its last report, 0..1 (fraction lost / 256). */
  fractionLost: number;
  /** Packets lost since it started receiving; signed (duplicates can make it negative). */
  cumulativeLost: number;
  /**
   * Loss between its last two reports from the cumulative counters (change of lost over
   * change of expected), 0..1; null until two reports with packets between them. Steadier
   * than fractionLost with frequent reports (shared reference rtp-resilience.md).
   */
  intervalLoss: number | null;
  /** Extended highest sequence number received. */
  extendedHighestSequence: number;
  /** Interarrival jitter, ms (the report's RTP-clock units / clock rate). */
  jitterMs: number;
  /** Round-trip time from LSR/DLSR against our SRs, ms; null until it echoes one. */
  rttMs: number | null;
  /** Reports received from it. */
  reports: number;
  /** Time since its last report, ms. */
  lastReportAgeMs: number;
}

export interface ReceiverReportsOptions {
  /** Our stream's SSRC: only report blocks about it count. */
  mediaSsrc: number;
  /** RTP clock rate of the stream (jitter unit). Default 90 000 (video). */
  clockRate?: number;
  /** A viewer silent this long is forgotten (ms). Default 30 000 (RFC 3550 §6.3.5: five intervals of the 5 s minimum). */
  timeoutMs?: number;
  /** Most viewers kept. Default 64. */
  maxViewers?: number;
}

interface ViewerState {
  key: string;
  viewer: string;
  ssrc: number;
  cname: string;
  fractionLost: number;
  cumulativeLost: number;
  intervalLoss: number | null;
  extendedHighestSequence: number;
  jitter: number;
  rttMs: number | null;
  reports: number;
  lastNs: bigint;
}

const CNAME_MAX_CHARS = 64;

export class ReceiverReports {
  private readonly mediaSsrc: number;
  private readonly clockRate: number;
  private readonly timeoutNs: bigint;
  private readonly maxViewers: number;
  private readonly viewers = new Map<string, ViewerState>();
  private readonly block = newReportBlock();
  private readonly ntp: NtpTime = { msw: 0, lsw: 0 };

  /** @throws RtpOptionError naming the option. */
  constructor(opts: ReceiverReportsOptions) {
    if (!Number.isInteger(opts.mediaSsrc) || opts.mediaSsrc < 0 || opts.mediaSsrc > 0xffffffff) throw new RtpOptionError('mediaSsrc', `${opts.mediaSsrc} is not a 32-bit SSRC`);
    const clockRate = opts.clockRate ?? 90_000;
    if (!Number.isInteger(clockRate) || clockRate <= 0) throw new RtpOptionError('clockRate', `${clockRate} must be a positive integer (Hz)`);
    const timeoutMs = opts.timeoutMs ?? 30_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RtpOptionError('timeoutMs', `${timeoutMs} must be > 0`);
    const maxViewers = opts.maxViewers ?? 64;
    if (!Number.isInteger(maxViewers) || maxViewers < 1) throw new RtpOptionError('maxViewers', `${maxViewers} must be >= 1`);
    this.mediaSsrc = opts.mediaSsrc >>> 0;
    this.clockRate = clockRate;
    this.timeoutNs = BigInt(Math.round(timeoutMs * 1e6));
    this.maxViewers = maxViewers;
  }

  /** Viewers currently known (expired ones included until the next snapshot). */
  get size(): number { return this.viewers.size; }

  /**
   * Applies one compound RTCP packet `buf[0..len)` that arrived at `arrivalNs` (Unix-epoch ns,
   * box clock). @returns the report blocks about our SSRC that were applied.
   * @throws RtpFormatError (offset of the bad packet) for a wrong version, a length past the
   *   end, or counts that do not fit their packet. RTCP comes in whole datagrams: a short one
   *   is malformed, not "need more".
   */
  onRtcp(buf: Uint8Array, len: number, arrivalNs: bigint): number {
    if (len > buf.length) len = buf.length;
    const label = findViewerLabel(buf, len);
    let off = 0;
    let applied = 0;
    while (off < len) {
      if (len - off < 4) throw new RtpFormatError('rtcp', off, 'truncated packet header');
      const b0 = buf[off];
      if (b0 >> 6 !== 2) throw new RtpFormatError('rtcp', off, `version ${b0 >> 6}, expected 2`);
      const count = b0 & 0x1f;
      const pt = buf[off + 1];
      const size = 4 * (((buf[off + 2] << 8) | buf[off + 3]) + 1);
      if (off + size > len) throw new RtpFormatError('rtcp', off, `length ${size} runs past the datagram end (${len - off} left)`);
      const end = off + size;
      if (pt === RTCP_SR || pt === RTCP_RR) {
        if (size < 8) throw new RtpFormatError('rtcp', off, `${size}-byte report has no sender SSRC`);
        const first = off + (pt === RTCP_SR ? SR_SIZE : 8);
        if (first + 24 * count > end) throw new RtpFormatError('rtcp', off, `${count} report blocks do not fit ${size} bytes`);
        const reporter = readU32(buf, off + 4);
        for (let i = 0; i < count; i++) {
          const b = decodeReportBlock(buf, first + 24 * i, this.block);
          if (b.ssrc !== this.mediaSsrc) continue;
          this.apply(reporter, label, arrivalNs);
          applied++;
        }
      } else if (pt === RTCP_SDES) {
        this.readSdes(buf, off + 4, end, count, label);
      } else if (pt === RTCP_BYE) {
        if (off + 4 + 4 * count > end) throw new RtpFormatError('rtcp', off, `BYE with ${count} SSRCs does not fit ${size} bytes`);
        for (let i = 0; i < count; i++) this.viewers.delete(keyOf(readU32(buf, off + 4 + 4 * i), label));
      }
      off = end;
    }
    return applied;
  }

  /** Every viewer heard from within `timeoutMs` of `nowNs`; silent ones are forgotten. */
  snapshot(nowNs: bigint): ViewerReport[] {
    const out: ViewerReport[] = [];
    for (const [key, v] of this.viewers) {
      if (nowNs - v.lastNs > this.timeoutNs) { this.viewers.delete(key); continue; }
      out.push({
        viewer: v.viewer, ssrc: v.ssrc, cname: v.cname, fractionLost: v.fractionLost, cumulativeLost: v.cumulativeLost,
        intervalLoss: v.intervalLoss, extendedHighestSequence: v.extendedHighestSequence,
        jitterMs: round3((v.jitter * 1000) / this.clockRate), rttMs: v.rttMs, reports: v.reports,
        lastReportAgeMs: Math.max(0, Math.round(Number(nowNs - v.lastNs) / 1e6)),
      });
    }
    return out;
  }

  /** Applies `this.block` (about our SSRC) from `reporter`. */
  private apply(reporter: number, label: string, arrivalNs: bigint): void {
    const b = this.block;
    const key = keyOf(reporter, label);
    let v = this.viewers.get(key);
    if (!v) {
      v = { key, viewer: label, ssrc: reporter, cname: '', fractionLost: 0, cumulativeLost: 0, intervalLoss: null, extendedHighestSequence: 0, jitter: 0, rttMs: null, reports: 0, lastNs: arrivalNs };
      this.admit(v);
    } else {
      v.ssrc = reporter;
      // Cumulative counters over the interval since the previous report (RFC 3550 §6.4.1, A.3).
      const expected = b.extendedHighestSequence - v.extendedHighestSequence;
      const lost = b.cumulativeLost - v.cumulativeLost;
      v.intervalLoss = expected > 0 ? Math.min(1, Math.max(0, lost / expected)) : null;
    }
    v.fractionLost = b.fractionLost / 256;
    v.cumulativeLost = b.cumulativeLost;
    v.extendedHighestSequence = b.extendedHighestSequence;
    v.jitter = b.jitter;
    if (b.lastSr !== 0) {
      // All in 1/65536 s, modulo 2^32 (the middle 32 bits of NTP time wrap every 18 h).
      const arrival = ntpMiddle32(ntpFromUnixNs(arrivalNs, this.ntp));
      const rtt = (arrival - b.lastSr - b.delaySinceLastSr) >>> 0;
      // "Negative" (above 2^31) means the echo is not of our clock, or clocks disagree: keep the last value.
      if (rtt < 0x8000_0000 && (rtt * 1000) / 65536 <= RTT_MAX_MS) v.rttMs = round3((rtt * 1000) / 65536);
    }
    v.reports++;
    v.lastNs = arrivalNs;
  }

  private admit(v: ViewerState): void {
    if (this.viewers.size >= this.maxViewers) {
      let oldest: ViewerState | undefined;
      for (const x of this.viewers.values()) if (!oldest || x.lastNs < oldest.lastNs) oldest = x;
      if (oldest) this.viewers.delete(oldest.key);
    }
    this.viewers.set(v.key, v);
  }

  /** SDES chunks (§6.5): SSRC, then items (type, length, text) up to a null item, padded to 32 bits. */
  private readSdes(buf: Uint8Array, off: number, end: number, chunks: number, label: string): void {
    for (let c = 0; c < chunks; c++) {
      if (off + 4 > end) throw new RtpFormatError('rtcp-sdes', off, `chunk ${c + 1} of ${chunks} is missing`);
      const ssrc = readU32(buf, off);
      off += 4;
      for (;;) {
        if (off >= end) throw new RtpFormatError('rtcp-sdes', off, 'chunk without its null item');
        const type = buf[off];
        if (type === 0) { off = (off + 4) & ~3; break; } // null item, then padding to the next 32-bit boundary
        if (off + 2 > end || off + 2 + buf[off + 1] > end) throw new RtpFormatError('rtcp-sdes', off, 'item runs past the packet');
        const n = buf[off + 1];
        if (type === SDES_CNAME) {
          const v = this.viewers.get(keyOf(ssrc, label));
          if (v) v.cname = escapeUntrusted(Buffer.from(buf.buffer, buf.byteOffset + off + 2, n).toString('utf8'), CNAME_MAX_CHARS);
        }
        off += 2 + n;
      }
    }
  }
}

const keyOf = (ssrc: number, label: string): string => (label ? `label ${label}` : `ssrc ${ssrc}`);

/** The label of an APP 'ORBX' packet in the compound, or ''. Headers are checked by the caller's walk. */
function findViewerLabel(buf: Uint8Array, len: number): string {
  // The last one: the server appends its label after whatever the viewer sent.
  let label = '';
  for (let off = 0; off + 4 <= len;) {
    const size = 4 * (((buf[off + 2] << 8) | buf[off + 3]) + 1);
    if (off + size > len) return '';
    if (buf[off + 1] === RTCP_APP && size >= 12 && Buffer.from(buf.buffer, buf.byteOffset + off + 8, 4).toString('latin1') === VIEWER_LABEL_APP) {
      const text = Buffer.from(buf.buffer, buf.byteOffset + off + 12, size - 12);
      const nul = text.indexOf(0);
      label = escapeUntrusted(text.subarray(0, nul < 0 ? text.length : nul).toString('utf8'), LABEL_MAX_BYTES);
    }
    off += size;
  }
  return label;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
