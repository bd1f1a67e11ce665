/**
 * SMPTE ST 2022-1 row/column FEC, sending side: an Interceptor on the media stream that passes
 * every packet on unchanged and sends the XOR of each row and each column of an L x D matrix of
 * consecutive media packets as FEC packets (header: st2022-1-header.ts).
 *
 *                 column FEC (D=0, Offset=L, NA=D), to the media port + 2
 *                    |      |      |      |      |
 *         row 0:   s+0    s+1    s+2    s+3    s+4   -> row FEC (D=1, Offset=1, NA=L),
 *         row 1:   s+5    s+6    s+7    s+8    s+9      to the media port + 4
 *         ...                                          (L = 5 columns, D = rows)
 *
 * Which port is which follows GStreamer's `rtpbin`: the encoder's `fec_0` (columns) goes to
 * `send_fec_src_0_0` (media port + 2 in its examples), `fec_1` (rows) to `send_fec_src_0_1`
 * (+ 4). The decoder tells them apart by the D bit, not by the port.
 *
 * What is protected (RFC 2733 §3.2): the bytes after each media packet's 12-byte fixed header
 * (CSRC list, extension, payload, padding), their length (Length recovery) and the P, X, CC, M,
 * PT and timestamp fields; the sequence number follows from SNBase and the SSRC from the other
 * packets. For the packets our packetiser sends (no CSRC, no extension, no padding) that is the
 * payload alone, exactly what GStreamer's `rtpst2022-1-fecdec` rebuilds.
 *
 * Timing: a row FEC packet goes out right after the last packet of its row. Column packets are
 * spread over the next matrix instead of sent in a burst (a burst of FEC is lost in one burst
 * of the network): column c leaves after media packet `end + 1 + c*D`, where `end` is the
 * matrix's last packet, so one column packet every D media packets. GStreamer's decoder keeps
 * FEC for `size-time` (1 s) and does not care when it arrives; ours keeps it for a window of
 * sequence numbers. `flush()` (and `close()`, `unbindLocalStream()`) sends what is pending.
 * The RTP timestamp of a FEC packet is the media timestamp when it is sent (RFC 2733 §3.2).
 *
 * The matrix needs consecutive sequence numbers (as GStreamer's encoder does). A gap (a
 * packetiser restart) sends the pending columns, drops the partial matrix and starts a new one
 * at the new sequence number (`discontinuities`). A packet longer than `maxPacketSize`, or not
 * RTP, is passed on unprotected and also starts a new matrix (`unprotected`).
 *
 * Buffers: FEC packets come from one PacketRing per FEC stream (depth 512: a pending column
 * packet is taken at most L <= 255 packets before it is sent, so each buffer stays unchanged for
 * more than HOLD_PACKETS later packets of that stream). Accumulators are allocated once.
 * Runs on: net-send (the uplink's chain).
 */
import { RtpOptionError } from './errors.js';
import { RTP_FIXED_HEADER, readU32, writeU32 } from './header.js';
import { HOLD_PACKETS, PacketRing, type Interceptor, type PacketSink, type StreamInfo } from './interceptor.js';
import { seqAdd } from './seq.js';
import { ST2022_FEC_OVERHEAD, encodeSt2022FecHeader, newSt2022FecHeader, type St2022FecHeader } from './st2022-1-header.js';

/** Largest L or D: Offset and NA are 8-bit fields. (SMPTE 2022-1 itself asks L <= 20, D <= 20, L*D <= 100.) */
export const ST2022_MAX_DIMENSION = 255;

export interface St2022FecEncoderOptions {
  /** L: media packets per row (GStreamer's `columns`), 1..255. */
  columns: number;
  /** D: rows per matrix, media packets per column (GStreamer's `rows`), 1..255. */
  rows: number;
  /** Send row FEC (default true). */
  rowFec?: boolean;
  /** Send column FEC (default true). */
  columnFec?: boolean;
  /** Where row FEC packets go (the media port + 4). */
  rowSink: PacketSink;
  /** Where column FEC packets go (the media port + 2). */
  columnSink: PacketSink;
  /** Payload type of the FEC packets, 0..127 (default 96, as GStreamer; the SDP names it). */
  payloadType?: number;
  /** SSRC of the FEC packets (default: the media stream's). GStreamer's decoder ignores it. */
  ssrc?: number;
  /** Largest media packet protected, bytes (default 1500). */
  maxPacketSize?: number;
  /** Spread column packets over the next matrix (default true); false sends each when complete. */
  spreadColumns?: boolean;
  /**
   * First sequence numbers of the row and column FEC streams (default 0, as GStreamer): a sender
   * resuming above an SRTP index reservation continues where the last one may have got to.
   */
  rowSequence?: number;
  columnSequence?: number;
  /** Which local stream to protect (default: the first video stream bound). */
  protects?: (info: StreamInfo) => boolean;
}

export interface St2022FecEncoderStats {
  /** Media packets passed on, and their bytes. */
  mediaPackets: number;
  mediaBytes: number;
  rowPackets: number;
  columnPackets: number;
  /** Bytes of all FEC packets sent (headers included). */
  fecBytes: number;
  /** Sequence gaps that restarted the matrix. */
  discontinuities: number;
  /** Media packets passed on without protection (not RTP, or longer than maxPacketSize). */
  unprotected: number;
}

function dimension(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > ST2022_MAX_DIMENSION) throw new RtpOptionError(name, `must be an integer in 1..${ST2022_MAX_DIMENSION}, got ${v}`);
  return v;
}

/** The XOR of one row or one column so far. */
class Line {
  readonly bytes: Uint8Array;
  /** Protected bytes written so far (the longest packet). */
  used = 0;
  count = 0;
  base = 0;
  /** P, X and CC bits of the first header byte (mask 0x3f). */
  bits = 0;
  marker = 0;
  pt = 0;
  ts = 0;
  length = 0;

  constructor(maxPayload: number) { this.bytes = new Uint8Array(maxPayload); }

  add(pkt: Uint8Array, len: number, seq: number): void {
    const n = len - RTP_FIXED_HEADER;
    if (this.count === 0) this.base = seq;
    const b = this.bytes;
    for (let i = 0; i < n; i++) b[i] ^= pkt[RTP_FIXED_HEADER + i];
    if (n > this.used) this.used = n;
    this.bits ^= pkt[0] & 0x3f;
    this.marker ^= pkt[1] >> 7;
    this.pt ^= pkt[1] & 0x7f;
    this.ts = (this.ts ^ readU32(pkt, 4)) >>> 0;
    this.length ^= n;
    this.count++;
  }

  reset(): void {
    this.bytes.fill(0, 0, this.used);
    this.used = 0;
    this.count = 0;
    this.bits = 0;
    this.marker = 0;
    this.pt = 0;
    this.ts = 0;
    this.length = 0;
  }
}

/**
 * The 2022-1 FEC encoder unit. Bind it in the chain nearer the application than SRTP (FEC
 * packets then pass only through the units nearer the wire) and farther than RTX (FEC does not
 * protect retransmissions). The FEC sinks given in the options are the FEC streams' own wire
 * path (their SRTP contexts, their sockets).
 * @throws RtpOptionError for a dimension outside 1..255, a payload type outside 0..127, a
 *   maxPacketSize below 28 bytes, or both directions off.
 */
export class St2022FecEncoder implements Interceptor {
  private readonly l: number;
  private readonly d: number;
  private readonly useRows: boolean;
  private readonly useColumns: boolean;
  private readonly pt: number;
  private readonly maxPacketSize: number;
  private readonly spread: boolean;
  private readonly protects: (info: StreamInfo) => boolean;
  private readonly rowSink: PacketSink;
  private readonly columnSink: PacketSink;
  private readonly row: Line;
  private readonly cols: Line[];
  private readonly rowRing: PacketRing;
  private readonly colRing: PacketRing;
  private readonly hdr: St2022FecHeader = newSt2022FecHeader();
  // Pending column packets, a circular queue of at most 2L.
  private readonly qBuf: Uint8Array[];
  private readonly qLen: Int32Array;
  private readonly qDue: Float64Array;
  private qHead = 0;
  private qCount = 0;

  private bound: StreamInfo | null = null;
  private fecSsrc = 0;
  private closed = false;
  private started = false;
  private expectedSeq = 0;
  private lastTs = 0;
  /** Position in the matrix: column (0..L-1) and row (0..D-1) of the next packet. */
  private col = 0;
  private rowIdx = 0;
  /** Media packets protected since the start (the clock the column schedule runs on). */
  private counter = 0;
  private rowSeq = 0;
  private colSeq = 0;
  private readonly st: St2022FecEncoderStats = {
    mediaPackets: 0, mediaBytes: 0, rowPackets: 0, columnPackets: 0, fecBytes: 0, discontinuities: 0, unprotected: 0,
  };

  constructor(private readonly opts: St2022FecEncoderOptions) {
    this.l = dimension('columns', opts.columns);
    this.d = dimension('rows', opts.rows);
    this.useRows = opts.rowFec ?? true;
    this.useColumns = opts.columnFec ?? true;
    if (!this.useRows && !this.useColumns) throw new RtpOptionError('rowFec/columnFec', 'at least one direction must be on');
    this.pt = opts.payloadType ?? 96;
    if (!Number.isInteger(this.pt) || this.pt < 0 || this.pt > 127) throw new RtpOptionError('payloadType', `must be an integer in 0..127, got ${this.pt}`);
    this.maxPacketSize = opts.maxPacketSize ?? 1500;
    if (!Number.isInteger(this.maxPacketSize) || this.maxPacketSize < ST2022_FEC_OVERHEAD || this.maxPacketSize > 65535) {
      throw new RtpOptionError('maxPacketSize', `must be an integer in ${ST2022_FEC_OVERHEAD}..65535, got ${this.maxPacketSize}`);
    }
    for (const [k, v] of [['rowSequence', opts.rowSequence], ['columnSequence', opts.columnSequence]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffff)) throw new RtpOptionError(k, `must be an integer in 0..65535, got ${v}`);
    }
    this.rowSeq = opts.rowSequence ?? 0;
    this.colSeq = opts.columnSequence ?? 0;
    this.spread = opts.spreadColumns ?? true;
    this.protects = opts.protects ?? ((i) => i.kind === 'video');
    this.rowSink = opts.rowSink;
    this.columnSink = opts.columnSink;
    const maxPayload = this.maxPacketSize - RTP_FIXED_HEADER;
    this.row = new Line(maxPayload);
    this.cols = this.useColumns ? Array.from({ length: this.l }, () => new Line(maxPayload)) : [];
    // A FEC packet is 16 bytes longer than the longest packet it protects.
    const fecSize = maxPayload + ST2022_FEC_OVERHEAD;
    this.rowRing = new PacketRing(fecSize, HOLD_PACKETS * 2);
    this.colRing = new PacketRing(fecSize, HOLD_PACKETS * 2);
    this.qBuf = new Array<Uint8Array>(2 * this.l);
    this.qLen = new Int32Array(2 * this.l);
    this.qDue = new Float64Array(2 * this.l);
  }

  /** Counters since construction (a copy). */
  get stats(): St2022FecEncoderStats { return { ...this.st }; }

  bindLocalStream(info: StreamInfo, next: PacketSink): PacketSink {
    if (this.bound || !this.protects(info)) return next;
    this.bound = info;
    this.fecSsrc = (this.opts.ssrc ?? info.ssrc) >>> 0;
    this.restart();
    return (pkt, len) => {
      if (this.closed) return;
      next(pkt, len);
      this.protect(pkt, len);
    };
  }

  unbindLocalStream(info: StreamInfo): void {
    if (this.bound !== info) return;
    this.flush();
    this.bound = null;
  }

  /** Sends the pending column packets now (end of stream); the partial matrix is kept. */
  flush(): void {
    while (this.qCount > 0) this.sendHeadColumn();
  }

  /** Idempotent: sends the pending column packets, then drops everything. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }

  private protect(pkt: Uint8Array, len: number): void {
    this.st.mediaPackets++;
    this.st.mediaBytes += len;
    if (len > pkt.length || len < RTP_FIXED_HEADER || len > this.maxPacketSize || pkt[0] >> 6 !== 2) {
      this.st.unprotected++;
      this.restart();
      return;
    }
    const seq = (pkt[2] << 8) | pkt[3];
    if (this.started && seq !== this.expectedSeq) {
      this.st.discontinuities++;
      this.restart();
    }
    this.started = true;
    this.expectedSeq = seqAdd(seq, 1);
    this.lastTs = readU32(pkt, 4);
    if (this.useRows) this.row.add(pkt, len, seq);
    if (this.useColumns) this.cols[this.col]!.add(pkt, len, seq);
    if (this.useColumns && this.rowIdx === this.d - 1) {
      // This packet completes column `col`.
      const c = this.col;
      const due = this.spread ? this.counter + (this.l - 1 - c) + 1 + c * this.d : this.counter;
      this.queueColumn(this.cols[c]!, due);
      this.cols[c]!.reset();
    }
    if (++this.col === this.l) {
      this.col = 0;
      if (this.useRows) {
        const buf = this.rowRing.take();
        const n = this.build(this.row, 'row', buf, this.rowSeq);
        this.rowSeq = seqAdd(this.rowSeq, 1);
        this.row.reset();
        this.st.rowPackets++;
        this.st.fecBytes += n;
        this.rowSink(buf, n);
      }
      if (++this.rowIdx === this.d) this.rowIdx = 0;
    }
    while (this.qCount > 0 && this.qDue[this.qHead]! <= this.counter) this.sendHeadColumn();
    this.counter++;
  }

  /** Writes the FEC packet of `line` into `buf`; returns its length. */
  private build(line: Line, direction: 'row' | 'column', buf: Uint8Array, seq: number): number {
    const h = this.hdr;
    h.paddingRecovery = (line.bits & 0x20) !== 0;
    h.extensionRecovery = (line.bits & 0x10) !== 0;
    h.csrcCountRecovery = line.bits & 0x0f;
    h.markerRecovery = line.marker !== 0;
    h.payloadType = this.pt;
    h.sequenceNumber = seq;
    h.timestamp = this.lastTs;
    h.ssrc = this.fecSsrc;
    h.snBase = line.base;
    h.lengthRecovery = line.length;
    h.extended = true;
    h.ptRecovery = line.pt;
    h.mask = 0;
    h.tsRecovery = line.ts;
    h.n = false;
    h.direction = direction;
    h.type = 0;
    h.index = 0;
    h.offset = direction === 'row' ? 1 : this.l;
    h.na = direction === 'row' ? this.l : this.d;
    h.snBaseExt = 0;
    encodeSt2022FecHeader(h, buf, 0);
    buf.set(line.bytes.subarray(0, line.used), ST2022_FEC_OVERHEAD);
    return ST2022_FEC_OVERHEAD + line.used;
  }

  private queueColumn(line: Line, due: number): void {
    const buf = this.colRing.take();
    const n = this.build(line, 'column', buf, this.colSeq);
    this.colSeq = seqAdd(this.colSeq, 1);
    // Never more than 2L pending (the last of a matrix leaves before the next matrix ends).
    if (this.qCount === this.qBuf.length) this.sendHeadColumn();
    const k = (this.qHead + this.qCount) % this.qBuf.length;
    this.qBuf[k] = buf;
    this.qLen[k] = n;
    this.qDue[k] = due;
    this.qCount++;
  }

  private sendHeadColumn(): void {
    const buf = this.qBuf[this.qHead]!;
    const n = this.qLen[this.qHead]!;
    this.qHead = (this.qHead + 1) % this.qBuf.length;
    this.qCount--;
    writeU32(buf, 4, this.lastTs);
    this.st.columnPackets++;
    this.st.fecBytes += n;
    this.columnSink(buf, n);
  }

  /** Sends the pending columns and starts a new matrix at the next packet. */
  private restart(): void {
    this.flush();
    this.row.reset();
    for (const c of this.cols) c.reset();
    this.col = 0;
    this.rowIdx = 0;
    this.started = false;
  }
}
