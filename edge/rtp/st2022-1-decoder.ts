/**
 * SMPTE ST 2022-1 row/column FEC, receiving side: rebuilds lost media packets from the media
 * packets received and the row and column FEC packets (header: st2022-1-header.ts; what is
 * protected and how the sender lays out the matrix: st2022-1-encoder.ts).
 *
 * Owns: a window of the last `window` media sequence numbers (a copy of each packet received or
 * rebuilt) and up to `fecSlots` FEC packets that still miss two or more of their packets. Pure:
 * no I/O, no clock; the caller feeds packets, rebuilt ones go to `sink`.
 *
 * Recovery: a FEC packet whose protected packets are all present but one rebuilds that one:
 * bytes, length, P, X, CC, M, PT and timestamp are the XOR of the FEC packet's recovery fields
 * with the other packets'; the sequence number is SNBase + i * Offset; the SSRC is the other
 * packets'. Each rebuilt packet is stored and the FEC packets of its row and column are
 * checked again, until nothing more can be rebuilt (a column rebuild can complete a row, and
 * so on; an explicit work stack, no recursion). A packet is rebuilt bit-exact whatever its
 * header; GStreamer's encoder XORs payloads only, so from it packets with CSRCs, an extension
 * or padding cannot be rebuilt (the box's packetiser sends none).
 *
 * Geometry: L and D are given, or learned from the first valid FEC packet (row: NA = L; column:
 * Offset = L, NA = D), as GStreamer's decoder does; a FEC packet that disagrees is counted bad.
 * The sender needs no matrix alignment: each FEC packet says which packets it protects.
 *
 * Bounds: media older than `window` sequence numbers behind the newest is dropped (`late`); a
 * FEC packet protecting such a packet, or one more than window/4 ahead of the newest, is
 * dropped (`staleFec`). A sequence number that leaves the window never received nor rebuilt
 * counts as `unrecoverable` (the post-FEC loss); `flush()` counts the window's holes and
 * forgets everything. A jump of a window or more, or a new SSRC, restarts the decoder (`resets`;
 * the holes of the old window are counted). Memory: (window + fecSlots) * maxPacketSize bytes,
 * allocated once.
 *
 * Errors: nothing from the network throws; bad packets are counted. The options throw
 * RtpOptionError. Rebuilt packets come from a PacketRing (HOLD_PACKETS contract).
 * Runs on: the `orbox receive` process (one decoder per protected stream).
 */
import { RtpFormatError, RtpOptionError } from './errors.js';
import { NEED_MORE, RTP_FIXED_HEADER, readU32, writeU32 } from './header.js';
import { HOLD_PACKETS, PacketRing, type Interceptor, type PacketSink, type StreamInfo } from './interceptor.js';
import { seqDiff } from './seq.js';
import { ST2022_FEC_OVERHEAD, decodeSt2022Fec, newSt2022FecHeader, type FecDirection } from './st2022-1-header.js';
import { ST2022_MAX_DIMENSION } from './st2022-1-encoder.js';

export interface St2022FecDecoderOptions {
  /** Where rebuilt media packets go (in the order they are rebuilt, not sequence order). */
  sink: PacketSink;
  /** Sequence numbers kept, a power of two in 256..16384 (default 1024: a 10x10 matrix with its
   * column packets spread over the next matrix spans about 200). */
  window?: number;
  /** FEC packets kept while they miss two or more packets, 16..4096 (default 256). */
  fecSlots?: number;
  /** Largest media packet, bytes (default 1500); longer ones are counted bad and not kept. */
  maxPacketSize?: number;
  /** L, when known (else learned from the first FEC packet). */
  columns?: number;
  /** D, when known (else learned from the first column FEC packet). */
  rows?: number;
}

export interface St2022FecDecoderStats {
  mediaPackets: number;
  fecPackets: number;
  /** Media packets rebuilt from FEC. */
  recovered: number;
  /** Sequence numbers that left the window (or were flushed) neither received nor rebuilt. */
  unrecoverable: number;
  /** FEC packets malformed, on the wrong port (D bit), inconsistent with L and D, or too short. */
  badFec: number;
  /** FEC packets about packets outside the window. */
  staleFec: number;
  /** Media packets not RTP or longer than maxPacketSize. */
  badMedia: number;
  /** Media packets older than the window (passed on by the receiver unit, not kept). */
  late: number;
  duplicates: number;
  resets: number;
}

const NONE = -1;

function intOption(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RtpOptionError(name, `must be an integer in ${lo}..${hi}, got ${v}`);
  return v;
}

export class St2022FecDecoder {
  private readonly sink: PacketSink;
  private readonly size: number;
  private readonly mask: number;
  private readonly mps: number;
  private readonly nFec: number;
  private l: number;
  private d: number;

  // Media window, indexed by extended sequence number & mask.
  private readonly media: Uint8Array;
  private readonly mediaLen: Int32Array;
  private readonly mediaExt: Float64Array;
  /** The FEC slot of the row / column a sequence number is in (valid when that FEC covers it). */
  private readonly rowOf: Int32Array;
  private readonly colOf: Int32Array;

  // FEC slots.
  private readonly fec: Uint8Array;
  private readonly fecLen: Int32Array;
  private readonly fecBase: Float64Array;
  private readonly fecStep: Int32Array;
  private readonly fecCount: Int32Array;
  private readonly fecRow: Uint8Array;
  private readonly fecLive: Uint8Array;
  private fecNext = 0;

  private readonly work: Int32Array;
  private sp = 0;
  private readonly out: PacketRing;
  private readonly hdr = newSt2022FecHeader();

  private started = false;
  private ssrc = 0;
  private newest = 0;
  private first = 0;
  private readonly st: St2022FecDecoderStats = {
    mediaPackets: 0, fecPackets: 0, recovered: 0, unrecoverable: 0, badFec: 0, staleFec: 0,
    badMedia: 0, late: 0, duplicates: 0, resets: 0,
  };

  /** @throws RtpOptionError for an option out of range. */
  constructor(opts: St2022FecDecoderOptions) {
    this.sink = opts.sink;
    this.size = intOption('window', opts.window ?? 1024, 256, 16384);
    if ((this.size & (this.size - 1)) !== 0) throw new RtpOptionError('window', `must be a power of two, got ${this.size}`);
    this.mask = this.size - 1;
    this.nFec = intOption('fecSlots', opts.fecSlots ?? 256, 16, 4096);
    this.mps = intOption('maxPacketSize', opts.maxPacketSize ?? 1500, ST2022_FEC_OVERHEAD, 65535);
    this.l = opts.columns === undefined ? 0 : intOption('columns', opts.columns, 1, ST2022_MAX_DIMENSION);
    this.d = opts.rows === undefined ? 0 : intOption('rows', opts.rows, 1, ST2022_MAX_DIMENSION);
    this.media = new Uint8Array(this.size * this.mps);
    this.mediaLen = new Int32Array(this.size);
    this.mediaExt = new Float64Array(this.size).fill(NONE);
    this.rowOf = new Int32Array(this.size).fill(NONE);
    this.colOf = new Int32Array(this.size).fill(NONE);
    // A FEC packet is 16 bytes longer than the longest packet it protects.
    const fecSize = this.mps + ST2022_FEC_OVERHEAD - RTP_FIXED_HEADER;
    this.fec = new Uint8Array(this.nFec * fecSize);
    this.fecLen = new Int32Array(this.nFec);
    this.fecBase = new Float64Array(this.nFec);
    this.fecStep = new Int32Array(this.nFec);
    this.fecCount = new Int32Array(this.nFec);
    this.fecRow = new Uint8Array(this.nFec);
    this.fecLive = new Uint8Array(this.nFec);
    this.work = new Int32Array(2 * this.nFec + 4);
    this.out = new PacketRing(this.mps, HOLD_PACKETS * 2);
  }

  /** Counters since construction (a copy). */
  get stats(): St2022FecDecoderStats { return { ...this.st }; }

  /** L and D as given or learned (0 while unknown). */
  get geometry(): { columns: number; rows: number } { return { columns: this.l, rows: this.d }; }

  /** A media packet as received (`pkt[0, len)`; copied, the caller keeps its buffer). */
  pushMedia(pkt: Uint8Array, len: number): void {
    this.st.mediaPackets++;
    if (len > pkt.length) len = pkt.length;
    if (len < RTP_FIXED_HEADER || len > this.mps || pkt[0] >> 6 !== 2) { this.st.badMedia++; return; }
    const ssrc = readU32(pkt, 8);
    const seq = (pkt[2] << 8) | pkt[3];
    if (this.started && ssrc !== this.ssrc) this.reset();
    let ext: number;
    if (!this.started) {
      this.started = true;
      this.ssrc = ssrc;
      this.newest = seq;
      this.first = seq;
      ext = seq;
    } else {
      ext = this.newest + seqDiff(this.newest & 0xffff, seq);
      if (ext <= this.newest - this.size) { this.st.late++; return; }
      if (ext - this.newest >= this.size) {
        this.reset();
        this.pushMedia(pkt, len);
        this.st.mediaPackets--;
        return;
      }
      if (ext > this.newest) this.advance(ext);
    }
    const slot = ext & this.mask;
    if (this.mediaExt[slot] === ext) { this.st.duplicates++; return; }
    this.media.set(pkt.subarray(0, len), slot * this.mps);
    this.mediaLen[slot] = len;
    this.mediaExt[slot] = ext;
    this.checkAround(ext);
  }

  /**
   * A FEC packet from the row (media port + 4) or column (media port + 2) stream. A packet
   * whose D bit says the other direction is counted bad.
   */
  pushFec(pkt: Uint8Array, len: number, kind: FecDirection): void {
    this.st.fecPackets++;
    if (len > pkt.length) len = pkt.length;
    const h = this.hdr;
    let r: number;
    try {
      r = decodeSt2022Fec(pkt, len, h);
    } catch (e) {
      if (e instanceof RtpFormatError) { this.st.badFec++; return; }
      throw e;
    }
    const payload = len - ST2022_FEC_OVERHEAD;
    // A matrix wider than half the window could never be held whole.
    if (r === NEED_MORE || h.direction !== kind || payload > this.mps - RTP_FIXED_HEADER
      || (h.na - 1) * h.offset >= this.size >> 1 || !this.geometryOk(h.direction, h.offset, h.na)) {
      this.st.badFec++;
      return;
    }
    if (!this.started) { this.st.staleFec++; return; }
    const base = this.newest + seqDiff(this.newest & 0xffff, h.snBase);
    const last = base + (h.na - 1) * h.offset;
    if (base <= this.newest - this.size || last > this.newest + (this.size >> 2)) { this.st.staleFec++; return; }
    // Keep a copy in a free slot (or, all taken, the next in turn), then see what it rebuilds.
    const f = this.freeSlot();
    const fecSize = this.mps + ST2022_FEC_OVERHEAD - RTP_FIXED_HEADER;
    this.fec.set(pkt.subarray(0, len), f * fecSize);
    this.fecLen[f] = len;
    this.fecBase[f] = base;
    this.fecStep[f] = h.offset;
    this.fecCount[f] = h.na;
    this.fecRow[f] = kind === 'row' ? 1 : 0;
    this.fecLive[f] = 1;
    const map = kind === 'row' ? this.rowOf : this.colOf;
    for (let i = 0; i < h.na; i++) map[(base + i * h.offset) & this.mask] = f;
    this.sp = 0;
    this.work[this.sp++] = f;
    this.drain();
  }

  private freeSlot(): number {
    let f = this.fecNext;
    for (let i = 0; i < this.nFec && this.fecLive[f] !== 0; i++) f = f + 1 === this.nFec ? 0 : f + 1;
    this.fecNext = f + 1 === this.nFec ? 0 : f + 1;
    return f;
  }

  /** Counts the holes of the window as unrecoverable and forgets everything (end of stream). */
  flush(): void {
    if (this.started) {
      const lo = Math.max(this.first, this.newest - this.size + 1);
      for (let e = lo; e <= this.newest; e++) if (this.mediaExt[e & this.mask] !== e) this.st.unrecoverable++;
    }
    this.started = false;
    this.mediaExt.fill(NONE);
    this.fecLive.fill(0);
  }

  private reset(): void {
    this.st.resets++;
    this.flush();
  }

  private geometryOk(dir: FecDirection, offset: number, na: number): boolean {
    if (dir === 'row') {
      if (this.l === 0) this.l = na;
      return na === this.l;
    }
    if (this.l === 0) this.l = offset;
    if (this.d === 0 && offset === this.l) this.d = na;
    return offset === this.l && na === this.d;
  }

  /** Moves the newest sequence number to `to` (< newest + window): what leaves is counted. */
  private advance(to: number): void {
    for (let e = this.newest + 1; e <= to; e++) {
      const slot = e & this.mask;
      const old = e - this.size;
      if (old >= this.first && this.mediaExt[slot] !== old) this.st.unrecoverable++;
      this.mediaExt[slot] = NONE;
    }
    this.newest = to;
  }

  /** After `ext` arrived or was rebuilt: its row and column FEC may now rebuild one more. */
  private checkAround(ext: number): void {
    this.sp = 0;
    this.pushCovering(ext);
    this.drain();
  }

  private pushCovering(ext: number): void {
    const slot = ext & this.mask;
    const r = this.rowOf[slot]!;
    if (r !== NONE && this.covers(r, ext) && this.sp < this.work.length) this.work[this.sp++] = r;
    const c = this.colOf[slot]!;
    if (c !== NONE && this.covers(c, ext) && this.sp < this.work.length) this.work[this.sp++] = c;
  }

  private covers(f: number, ext: number): boolean {
    if (this.fecLive[f] === 0) return false;
    const k = ext - this.fecBase[f]!;
    const step = this.fecStep[f]!;
    return k >= 0 && k % step === 0 && k / step < this.fecCount[f]!;
  }

  private drain(): void {
    while (this.sp > 0) {
      const f = this.work[--this.sp]!;
      if (this.fecLive[f] === 0) continue;
      const base = this.fecBase[f]!;
      const step = this.fecStep[f]!;
      const n = this.fecCount[f]!;
      if (base <= this.newest - this.size) { this.fecLive[f] = 0; continue; }
      let missing = 0;
      let hole = 0;
      for (let i = 0; i < n && missing < 2; i++) {
        const e = base + i * step;
        if (this.mediaExt[e & this.mask] !== e) { missing++; hole = e; }
      }
      if (missing >= 2) continue;
      this.fecLive[f] = 0;
      if (missing === 1 && this.rebuild(f, hole)) this.pushCovering(hole);
    }
  }

  /** Rebuilds sequence number `hole` from FEC slot `f` and its other packets; false if inconsistent. */
  private rebuild(f: number, hole: number): boolean {
    const fecSize = this.mps + ST2022_FEC_OVERHEAD - RTP_FIXED_HEADER;
    const fo = f * fecSize;
    const fb = this.fec;
    const base = this.fecBase[f]!;
    const step = this.fecStep[f]!;
    const n = this.fecCount[f]!;
    // Header recovery fields, straight from the stored FEC packet (layout: st2022-1-header.ts).
    let bits = fb[fo] & 0x3f;
    let marker = fb[fo + 1] & 0x80;
    let pt = fb[fo + 16] & 0x7f;
    let ts = readU32(fb, fo + 20);
    let length = (fb[fo + 14] << 8) | fb[fo + 15];
    let ssrc = this.ssrc;
    for (let i = 0; i < n; i++) {
      const e = base + i * step;
      if (e === hole) continue;
      const mo = (e & this.mask) * this.mps;
      length ^= this.mediaLen[e & this.mask]! - RTP_FIXED_HEADER;
      ssrc = readU32(this.media, mo + 8);
    }
    const avail = this.fecLen[f]! - ST2022_FEC_OVERHEAD;
    if (length > avail || RTP_FIXED_HEADER + length > this.mps) { this.st.badFec++; return false; }
    if (hole > this.newest) this.advance(hole);
    const slot = hole & this.mask;
    const so = slot * this.mps;
    const m = this.media;
    m.set(fb.subarray(fo + ST2022_FEC_OVERHEAD, fo + ST2022_FEC_OVERHEAD + length), so + RTP_FIXED_HEADER);
    for (let i = 0; i < n; i++) {
      const e = base + i * step;
      if (e === hole) continue;
      const s = e & this.mask;
      const mo = s * this.mps;
      const plen = Math.min(this.mediaLen[s]! - RTP_FIXED_HEADER, length);
      for (let k = 0; k < plen; k++) m[so + RTP_FIXED_HEADER + k] ^= m[mo + RTP_FIXED_HEADER + k];
      bits ^= m[mo] & 0x3f;
      marker ^= m[mo + 1] & 0x80;
      pt ^= m[mo + 1] & 0x7f;
      ts = (ts ^ readU32(m, mo + 4)) >>> 0;
    }
    m[so] = 0x80 | bits;
    m[so + 1] = marker | pt;
    m[so + 2] = (hole >>> 8) & 0xff;
    m[so + 3] = hole & 0xff;
    writeU32(m, so + 4, ts);
    writeU32(m, so + 8, ssrc);
    const total = RTP_FIXED_HEADER + length;
    this.mediaLen[slot] = total;
    this.mediaExt[slot] = hole;
    this.st.recovered++;
    const o = this.out.take();
    o.set(m.subarray(so, so + total));
    this.sink(o, total);
    return true;
  }
}

export interface St2022FecReceiverOptions extends Omit<St2022FecDecoderOptions, 'sink'> {
  /** Which remote stream the FEC protects (default: the first video stream bound). */
  protects?: (info: StreamInfo) => boolean;
}

/**
 * The decoder as a chain unit on the receiving end: media packets pass on unchanged and are
 * kept; rebuilt packets go on to the same `next` (late, so a jitter buffer after this unit
 * puts them in place). The FEC streams arrive on their own sockets: the composer calls
 * `pushFec` with what they read.
 */
export class St2022FecReceiver implements Interceptor {
  readonly decoder: St2022FecDecoder;
  private next: PacketSink | null = null;
  private bound: StreamInfo | null = null;
  private closed = false;
  private readonly protects: (info: StreamInfo) => boolean;

  constructor(opts: St2022FecReceiverOptions = {}) {
    this.protects = opts.protects ?? ((i) => i.kind === 'video');
    this.decoder = new St2022FecDecoder({ ...opts, sink: (p, n) => { if (!this.closed) this.next?.(p, n); } });
  }

  bindRemoteStream(info: StreamInfo, next: PacketSink): PacketSink {
    if (this.bound || !this.protects(info)) return next;
    this.bound = info;
    this.next = next;
    return (pkt, len) => {
      if (this.closed) return;
      next(pkt, len);
      this.decoder.pushMedia(pkt, len);
    };
  }

  unbindRemoteStream(info: StreamInfo): void {
    if (this.bound !== info) return;
    this.decoder.flush();
    this.bound = null;
    this.next = null;
  }

  /** A packet read from the row or column FEC socket. */
  pushFec(pkt: Uint8Array, len: number, kind: FecDirection): void {
    if (!this.closed) this.decoder.pushFec(pkt, len, kind);
  }

  get stats(): St2022FecDecoderStats { return this.decoder.stats; }

  close(): void { this.closed = true; }
}
