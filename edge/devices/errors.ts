/**
 * Typed errors of the device-data module. Decoders never throw on the wire's bytes as a normal
 * event ("need more bytes" is a return value); they throw DecodeError only from the structure
 * parsers for a frame that passed its checksum but whose contents do not fit, and the driver
 * counts and drops that frame.
 */
import type { Protocol } from './sample.js';

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    readonly protocol: Protocol,
    /** Byte offset in the frame (after unescaping) where the structure did not fit. */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${protocol}: ${reason} at offset ${offset}`);
  }
}

/** Thrown by constructors for a configuration that cannot work. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
  }
}

/** Bounds-checked big/little endian reader over one frame: every read checks its length first. */
export class FrameReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    readonly protocol: Protocol,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) throw new DecodeError(this.protocol, this.pos, `${what}: need ${n} bytes, have ${this.end - this.pos}`);
  }
  remaining(): number {
    return this.end - this.pos;
  }
  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }
  u16be(what = 'u16'): number {
    this.need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u32be(what = 'u32'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
  i16le(what = 'i16'): number {
    this.need(2, what);
    const v = this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8);
    this.pos += 2;
    return (v << 16) >> 16;
  }
  u16le(what = 'u16'): number {
    this.need(2, what);
    const v = this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }
  u32le(what = 'u32'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }
  skip(n: number, what = 'skip'): void {
    this.need(n, what);
    this.pos += n;
  }
  /** A sub-reader over the next n bytes; this reader moves past them. */
  sub(n: number, what: string): FrameReader {
    this.need(n, what);
    const r = new FrameReader(this.buf, this.protocol, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
}
