/**
 * Philips IntelliVue Data Export, serial (MIB RS-232) framing: the transport layer.
 *
 * Implements the frame of the Data Export Interface Programming Guide (RS-232 "Protocol
 * Specification"), as summarised in reference/device-protocols.md:
 *
 *   +------+----------+------+-----------+--------------+---------------+------+
 *   | BOF  | protocol | msg  |  length   |  user data   |  FCS-16       | EOF  |
 *   | 0xC0 |   0x11   | 0x01 | u16 BE    |  length bytes|  LSB first    | 0xC1 |
 *   +------+----------+------+-----------+--------------+---------------+------+
 *
 * Between BOF and EOF the bytes C0, C1 and 7D are sent as 7D, byte ^ 0x20 (header, data and
 * FCS alike); `7D C1` aborts the frame. FCS is the PPP FCS-16 (CRC-16/X-25, RFC 1662) over
 * header + data before escaping: init 0xFFFF, reflected polynomial 0x8408, one's complement
 * sent LSB first; a receiver running it over header + data + FCS gets the good value 0xF0B8.
 */
import type { FrameSink, Framer } from '../driver.js';

export const BOF = 0xc0;
export const EOF = 0xc1;
export const ESC = 0x7d;
export const TRANSPORT_PROTOCOL_ID = 0x11;
export const TRANSPORT_MSG_TYPE = 0x01;
const FCS_GOOD = 0xf0b8;
const FCS_INIT = 0xffff;
/**
 * Largest unescaped frame held: header 4 + user data + FCS 2. We announce a receive MTU of
 * MAX_USER_DATA in the association request, so a bigger frame is a broken one.
 */
export const MAX_USER_DATA = 8000;
export const MAX_FRAME = 4 + MAX_USER_DATA + 2;

const FCS_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let b = 0; b < 256; b++) {
    let v = b;
    for (let i = 0; i < 8; i++) v = v & 1 ? (v >>> 1) ^ 0x8408 : v >>> 1;
    t[b] = v;
  }
  return t;
})();

/** Runs the FCS-16 over bytes [start, end), from `fcs` (0xFFFF to begin). Not complemented. */
export function fcs16(bytes: Uint8Array, start = 0, end = bytes.length, fcs = FCS_INIT): number {
  for (let i = start; i < end; i++) fcs = (fcs >>> 8) ^ FCS_TABLE[(fcs ^ bytes[i]!) & 0xff]!;
  return fcs;
}

/** The FCS to send for header + data: one's complement of the running value. */
export function frameCheck(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return ~fcs16(bytes, start, end) & 0xffff;
}

function needsEscape(b: number): boolean {
  return b === BOF || b === EOF || b === ESC;
}

/** Builds a complete escaped frame around `userData` (one allocation for the result). */
export function encodeFrame(userData: Uint8Array): Uint8Array {
  if (userData.length > 0xffff) throw new RangeError(`user data ${userData.length} bytes exceeds the u16 length field`);
  const raw = new Uint8Array(4 + userData.length + 2);
  raw[0] = TRANSPORT_PROTOCOL_ID;
  raw[1] = TRANSPORT_MSG_TYPE;
  raw[2] = userData.length >>> 8;
  raw[3] = userData.length & 0xff;
  raw.set(userData, 4);
  const fcs = frameCheck(raw, 0, 4 + userData.length);
  raw[4 + userData.length] = fcs & 0xff;
  raw[5 + userData.length] = fcs >>> 8;
  let extra = 0;
  for (let i = 0; i < raw.length; i++) if (needsEscape(raw[i]!)) extra++;
  const out = new Uint8Array(raw.length + extra + 2);
  let o = 0;
  out[o++] = BOF;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (needsEscape(b)) {
      out[o++] = ESC;
      out[o++] = b ^ 0x20;
    } else out[o++] = b;
  }
  out[o++] = EOF;
  return out;
}

const enum St {
  Hunt,
  In,
  Esc,
}

/**
 * Push framer: feed reads of any size; each good frame's USER DATA (header and FCS stripped)
 * goes to the sink as a view into the framer's own buffer, valid only during the call.
 * Memory: one fixed buffer of MAX_FRAME bytes; no allocation per byte or per frame.
 */
export class IntelliVueFramer implements Framer {
  private readonly buf = new Uint8Array(MAX_FRAME);
  private len = 0;
  private st = St.Hunt;
  readonly stats = { frames: 0, badFcs: 0, badHeader: 0, aborts: 0, overflows: 0, noiseBytes: 0 };

  push(chunk: Uint8Array, onFrame: FrameSink): void {
    const buf = this.buf;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      switch (this.st) {
        case St.Hunt:
          if (b === BOF) {
            this.st = St.In;
            this.len = 0;
          } else this.stats.noiseBytes++;
          break;
        case St.In:
          if (b === BOF) {
            // A new start inside a frame: the previous frame was cut; start over here.
            if (this.len > 0) this.stats.aborts++;
            this.len = 0;
          } else if (b === EOF) {
            this.st = St.Hunt;
            this.finish(onFrame);
          } else if (b === ESC) {
            this.st = St.Esc;
          } else if (this.len < MAX_FRAME) {
            buf[this.len++] = b;
          } else {
            this.stats.overflows++;
            this.st = St.Hunt;
          }
          break;
        case St.Esc:
          if (b === EOF) {
            // 7D C1: the sender aborted this frame.
            this.stats.aborts++;
            this.st = St.Hunt;
          } else if (b === BOF) {
            this.stats.aborts++;
            this.st = St.In;
            this.len = 0;
          } else if (this.len < MAX_FRAME) {
            buf[this.len++] = b ^ 0x20;
            this.st = St.In;
          } else {
            this.stats.overflows++;
            this.st = St.Hunt;
          }
          break;
      }
    }
  }

  private finish(onFrame: FrameSink): void {
    const n = this.len;
    this.len = 0;
    if (n < 6) {
      this.stats.badHeader++;
      return;
    }
    if (fcs16(this.buf, 0, n) !== FCS_GOOD) {
      this.stats.badFcs++;
      return;
    }
    const declared = (this.buf[2]! << 8) | this.buf[3]!;
    if (this.buf[0] !== TRANSPORT_PROTOCOL_ID || this.buf[1] !== TRANSPORT_MSG_TYPE || declared !== n - 6) {
      this.stats.badHeader++;
      return;
    }
    this.stats.frames++;
    onFrame(this.buf.subarray(4, n - 2));
  }

  reset(): void {
    this.len = 0;
    this.st = St.Hunt;
  }

  buffered(): number {
    return this.len;
  }
}
