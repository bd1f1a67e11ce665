/**
 * Philips IntelliVue Data Export: the big-endian writer the messages are built with (Data Export
 * Interface Programming Guide: everything on the wire is big-endian). u16 lengths that precede
 * what they count are reserved with lengthMark() and filled in once the body is written.
 *
 * One writer per message: write, then finish() copies the bytes out. Values are masked to the
 * field width rather than checked; nothing throws.
 */
/** Growable big-endian writer for building messages (not a hot path: a few messages a second). */
export class BeWriter {
  private buf = new Uint8Array(256);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.buf[this.len++] = (v >>> 24) & 0xff;
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  bytes(b: ArrayLike<number>): this {
    this.room(b.length);
    for (let i = 0; i < b.length; i++) this.buf[this.len++] = b[i]! & 0xff;
    return this;
  }
  /** Reserves a u16 length and returns a function that fills it with the bytes written since. */
  lengthMark(): () => void {
    const at = this.len;
    this.u16(0);
    return () => {
      const n = this.len - at - 2;
      this.buf[at] = n >>> 8;
      this.buf[at + 1] = n & 0xff;
    };
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
