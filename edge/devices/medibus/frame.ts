/**
 * Draeger MEDIBUS / MEDIBUS.X link layer: demultiplexing of real-time curve bytes from the ASCII
 * traffic, ASCII message framing and checksum, real-time frame assembly.
 *
 * From the MEDIBUS / MEDIBUS.X protocol definitions, as summarised in
 * reference/device-protocols.md:
 *   - every byte with bit 7 set belongs to the real-time channel and may appear anywhere, even
 *     in the middle of an ASCII message: demultiplex first;
 *   - command  ESC(0x1B) cmd args CS CR, response SOH(0x01) cmd data CS CR; CS = 8-bit sum of every
 *     byte from ESC/SOH to the last data byte, as two upper-case hex digits; NAK(0x15) answers a
 *     bad checksum;
 *   - real-time: a sync byte 0xD0 | mask (bit i: the i-th configured curve follows), then per
 *     curve one 12-bit sample in two 6-bit halves, each half in a byte 0x80 | half (low half
 *     first; our reading of the curve byte layout, to be checked against the vendor document).
 */
import type { DriverStats, Framer } from '../driver.js';

export const ESC = 0x1b;
export const SOH = 0x01;
export const CR = 0x0d;
export const NAK = 0x15;
/** Longest ASCII message held: a measured-data response of every code page 1 item (~110 x 6). */
export const MAX_MESSAGE = 1024;
export const MAX_CURVES = 4;

export interface AsciiMessage {
  /** ESC: the device sends a command; SOH: a response. */
  start: typeof ESC | typeof SOH;
  cmd: number;
  /** Data bytes between cmd and checksum (view, valid during the call). */
  data: Uint8Array;
}

export interface RealtimeFrame {
  mask: number;
  /** 12-bit samples, one per set bit of mask, in bit order (reused array, valid during the call). */
  values: number[];
  count: number;
}

export interface MedibusSink {
  message(m: AsciiMessage): void;
  realtime(f: RealtimeFrame): void;
  /** A lone NAK: the device did not accept our last message. */
  nak(): void;
  /** A message failed its checksum (the driver answers NAK). */
  badChecksum(): void;
}

const HEX = '0123456789ABCDEF';

export function checksumHex(sum: number): [number, number] {
  return [HEX.charCodeAt((sum >> 4) & 0xf), HEX.charCodeAt(sum & 0xf)];
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Builds `start cmd data CS CR`. */
export function encodeMessage(start: number, cmd: number, data: ArrayLike<number> = []): Uint8Array {
  const out = new Uint8Array(data.length + 5);
  out[0] = start;
  out[1] = cmd;
  let sum = start + cmd;
  for (let i = 0; i < data.length; i++) {
    out[2 + i] = data[i]! & 0x7f;
    sum += data[i]! & 0x7f;
  }
  const [h, l] = checksumHex(sum & 0xff);
  out[data.length + 2] = h;
  out[data.length + 3] = l;
  out[data.length + 4] = CR;
  return out;
}

export function asciiBytes(s: string): number[] {
  const out = new Array<number>(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0x7f;
  return out;
}

/** Encodes one real-time frame: sync 0xD0|mask then per curve low half, high half. */
export function encodeRealtime(mask: number, values: readonly number[]): Uint8Array {
  const out = new Uint8Array(1 + 2 * values.length);
  out[0] = 0xd0 | (mask & 0x0f);
  values.forEach((v, i) => {
    out[1 + 2 * i] = 0x80 | (v & 0x3f);
    out[2 + 2 * i] = 0x80 | ((v >> 6) & 0x3f);
  });
  return out;
}

function popcount4(m: number): number {
  return (m & 1) + ((m >> 1) & 1) + ((m >> 2) & 1) + ((m >> 3) & 1);
}

/**
 * Push demultiplexer + framer. Fixed buffers: MAX_MESSAGE bytes for ASCII, 2 * MAX_CURVES for
 * the real-time frame; no allocation per byte.
 */
export class MedibusFramer implements Framer {
  private readonly msg = new Uint8Array(MAX_MESSAGE);
  private len = 0;
  private inMsg = false;
  private overflow = false;
  private rtMask = -1;
  private rtNeed = 0;
  private rtHave = 0;
  private readonly rtBytes = new Uint8Array(2 * MAX_CURVES);
  private readonly rtFrame: RealtimeFrame = { mask: 0, values: [0, 0, 0, 0], count: 0 };
  readonly stats: DriverStats = {
    messages: 0,
    badChecksum: 0,
    aborted: 0,
    overflows: 0,
    noiseBytes: 0,
    naks: 0,
    rtFrames: 0,
    rtStray: 0,
    rtTruncated: 0,
    rtReserved: 0,
  };

  /** Framer interface: messages only (the sink form below also gets real-time frames). */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    this.feed(chunk, {
      message: (m) => onFrame(this.msg.subarray(0, m.data.length + 2)),
      realtime: () => {},
      nak: () => {},
      badChecksum: () => {},
    });
  }

  feed(chunk: Uint8Array, sink: MedibusSink): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b & 0x80) {
        this.realtimeByte(b, sink);
        continue;
      }
      if (b === ESC || b === SOH) {
        if (this.inMsg && this.len > 0) this.stats.aborted!++;
        this.inMsg = true;
        this.overflow = false;
        this.len = 0;
        this.msg[this.len++] = b;
        continue;
      }
      if (!this.inMsg) {
        if (b === NAK) {
          this.stats.naks!++;
          sink.nak();
        } else this.stats.noiseBytes!++;
        continue;
      }
      if (b === CR) {
        this.inMsg = false;
        if (this.overflow) {
          this.stats.overflows!++;
          continue;
        }
        this.finish(sink);
        continue;
      }
      if (this.len < MAX_MESSAGE) this.msg[this.len++] = b;
      else this.overflow = true;
    }
  }

  private finish(sink: MedibusSink): void {
    const n = this.len;
    this.len = 0;
    if (n < 4) {
      this.stats.badChecksum!++;
      sink.badChecksum();
      return;
    }
    let sum = 0;
    for (let i = 0; i < n - 2; i++) sum += this.msg[i]!;
    const hi = hexVal(this.msg[n - 2]!);
    const lo = hexVal(this.msg[n - 1]!);
    if (hi < 0 || lo < 0 || ((hi << 4) | lo) !== (sum & 0xff)) {
      this.stats.badChecksum!++;
      sink.badChecksum();
      return;
    }
    this.stats.messages!++;
    sink.message({ start: this.msg[0] as typeof ESC | typeof SOH, cmd: this.msg[1]!, data: this.msg.subarray(2, n - 2) });
  }

  private realtimeByte(b: number, sink: MedibusSink): void {
    if ((b & 0xf0) === 0xd0) {
      if (this.rtMask >= 0 && this.rtHave < this.rtNeed) this.stats.rtTruncated!++;
      this.rtMask = b & 0x0f;
      this.rtNeed = 2 * popcount4(this.rtMask);
      this.rtHave = 0;
      if (this.rtNeed === 0) this.emitRt(sink);
      return;
    }
    if ((b & 0xc0) !== 0x80) {
      // 0xC0..0xCF, 0xE0..0xFF: not a curve data byte in this layout.
      this.stats.rtReserved!++;
      this.rtMask = -1;
      return;
    }
    if (this.rtMask < 0 || this.rtHave >= this.rtNeed) {
      this.stats.rtStray!++;
      return;
    }
    this.rtBytes[this.rtHave++] = b & 0x3f;
    if (this.rtHave === this.rtNeed) this.emitRt(sink);
  }

  private emitRt(sink: MedibusSink): void {
    const f = this.rtFrame;
    f.mask = this.rtMask;
    f.count = this.rtNeed / 2;
    for (let i = 0; i < f.count; i++) f.values[i] = this.rtBytes[2 * i]! | (this.rtBytes[2 * i + 1]! << 6);
    this.stats.rtFrames!++;
    this.rtMask = -1;
    sink.realtime(f);
  }

  reset(): void {
    this.len = 0;
    this.inMsg = false;
    this.overflow = false;
    this.rtMask = -1;
  }

  buffered(): number {
    return this.len + this.rtHave;
  }
}
