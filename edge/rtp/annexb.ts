/**
 * H.264 Annex B byte-stream NAL unit splitter (ITU-T H.264 Annex B, B.1-B.2).
 *
 * Owns: finding the NAL units of one buffer (typically one access unit) delimited by start
 * codes. It records spans (offset, length) into a caller's `NalSpans`, so splitting allocates
 * nothing once the spans have grown to the largest access unit seen.
 *
 *   byte stream:  [00] 00 00 01 | NAL unit | [00...] 00 00 01 | NAL unit | [00...]
 *                 zero_byte + start code     trailing_zero_8bits, then next start code
 *
 * The 4-byte form's leading zero_byte and any trailing_zero_8bits are not part of a NAL unit
 * (H.264 7.4.1: the last byte of a NAL unit is never 0x00), so both are trimmed.
 * Errors: RtpFormatError('annexb') when the buffer holds bytes before its first start code
 * other than zeros, or no start code at all. Runs on: net-send, test-rig.
 */
import { RtpFormatError } from './errors.js';

const START_CODE = Buffer.from([0, 0, 1]);

/** Reusable output of `splitAnnexB`: NAL unit i is `buf[offsets[i] .. offsets[i] + lengths[i])`. */
export class NalSpans {
  count = 0;
  offsets: Int32Array;
  lengths: Int32Array;
  constructor(capacity = 16) {
    this.offsets = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
  }
  push(off: number, len: number): void {
    if (this.count === this.offsets.length) {
      // Growth is amortised: once the largest AU has been seen, no more allocation.
      const o = new Int32Array(this.count * 2);
      const l = new Int32Array(this.count * 2);
      o.set(this.offsets);
      l.set(this.lengths);
      this.offsets = o;
      this.lengths = l;
    }
    this.offsets[this.count] = off;
    this.lengths[this.count] = len;
    this.count++;
  }
}

/** A Buffer view of `u` without copying (Buffer.indexOf is native and fast). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * Splits `data[0..len)` into NAL units, replacing the contents of `out`.
 * @returns the number of NAL units found (also `out.count`). Empty NAL units are skipped.
 * @throws RtpFormatError when the data does not start with a start code (after zero bytes).
 */
export function splitAnnexB(data: Uint8Array, out: NalSpans, len = data.length): number {
  const buf = asBuffer(data);
  out.count = 0;
  let pos = buf.indexOf(START_CODE, 0);
  if (pos < 0 || pos >= len) {
    if (len === 0) return 0;
    throw new RtpFormatError('annexb', 0, 'no start code');
  }
  for (let i = 0; i < pos; i++) {
    if (buf[i] !== 0) throw new RtpFormatError('annexb', i, 'bytes before the first start code');
  }
  for (;;) {
    const start = pos + 3;
    let next = start < len ? buf.indexOf(START_CODE, start) : -1;
    if (next >= len) next = -1;
    let end = next < 0 ? len : next;
    while (end > start && buf[end - 1] === 0) end--;
    if (end > start) out.push(start, end - start);
    if (next < 0) break;
    pos = next;
  }
  return out.count;
}
