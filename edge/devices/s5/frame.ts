/**
 * GE Datex-Ohmeda S/5 Computer Interface (DRI) framing: the link layer.
 *
 * Implements the frame of the S/5 Computer Interface specification as summarised in
 * reference/device-protocols.md:
 *
 *   +------+---------------------------------------------+------+
 *   | 0x7E | stuffed( record bytes | checksum u8 )       | 0x7E |
 *   +------+---------------------------------------------+------+
 *   stuffing: 0x7E -> 7D 5E, 0x7D -> 7D 5D
 *
 * checksum = 8-bit sum of the record bytes. Open transmitters disagree on whether the sum runs
 * over the unstuffed or the stuffed bytes; we send the unstuffed sum (stuffing the checksum
 * too) and accept either on receive (stats count which one matched).
 */
import type { FrameSink, Framer } from '../driver.js';

export const FLAG = 0x7e;
export const CTRL = 0x7d;
/**
 * Largest record held: the interface's biggest records (a wave record of 8 waves at the
 * 600 samples/s total, sent several times a second) stay well under 2 KB; 4 KB is the bound.
 */
export const MAX_RECORD = 4096;

export function checksum8(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += bytes[i]!;
  return s & 0xff;
}

/** Frames one record: flag, stuffed record + unstuffed-sum checksum, flag. */
export function encodeS5Frame(record: Uint8Array, variant: 'unstuffed' | 'stuffed' = 'unstuffed'): Uint8Array {
  let extra = 0;
  for (let i = 0; i < record.length; i++) if (record[i] === FLAG || record[i] === CTRL) extra++;
  let cs = checksum8(record);
  if (variant === 'stuffed') {
    // The other transmitters' variant: the sum of the bytes as they go on the wire.
    cs = 0;
    for (let i = 0; i < record.length; i++) {
      const b = record[i]!;
      cs += b === FLAG ? CTRL + 0x5e : b === CTRL ? CTRL + 0x5d : b;
    }
    cs &= 0xff;
  }
  if (cs === FLAG || cs === CTRL) extra++;
  const out = new Uint8Array(record.length + 1 + extra + 2);
  let o = 0;
  out[o++] = FLAG;
  const put = (b: number) => {
    if (b === FLAG) { out[o++] = CTRL; out[o++] = 0x5e; }
    else if (b === CTRL) { out[o++] = CTRL; out[o++] = 0x5d; }
    else out[o++] = b;
  };
  for (let i = 0; i < record.length; i++) put(record[i]!);
  put(cs);
  out[o++] = FLAG;
  return out;
}

/**
 * Push framer for S/5 frames. The record (checksum stripped) goes to the sink as a view valid
 * only during the call. Every flag both ends a frame and may start the next, so noise between
 * frames costs one rejected runt, never the next good frame.
 */
export class S5Framer implements Framer {
  private readonly buf = new Uint8Array(MAX_RECORD + 1);
  private len = 0;
  private esc = false;
  private overflow = false;
  private sumPlain = 0;
  private sumWire = 0;
  private lastWire = 0;
  readonly stats = { frames: 0, checksumUnstuffed: 0, checksumStuffed: 0, badChecksum: 0, runts: 0, overflows: 0, badEscapes: 0 };

  push(chunk: Uint8Array, onFrame: FrameSink): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === FLAG) {
        if (this.esc) this.stats.badEscapes++;
        else if (this.overflow) this.stats.overflows++;
        else if (this.len > 0) this.finish(onFrame);
        this.begin();
        continue;
      }
      if (this.overflow) continue;
      let v: number;
      let wire: number;
      if (this.esc) {
        this.esc = false;
        if (b !== 0x5e && b !== 0x5d) {
          // Only 7E and 7D are ever escaped: anything else is a broken frame; drop it.
          this.stats.badEscapes++;
          this.overflow = true; // reuse the "discard until next flag" state
          continue;
        }
        v = b ^ 0x20;
        wire = CTRL + b;
      } else if (b === CTRL) {
        this.esc = true;
        continue;
      } else {
        v = b;
        wire = b;
      }
      if (this.len >= this.buf.length) {
        this.overflow = true;
        continue;
      }
      this.buf[this.len++] = v;
      this.sumPlain += v;
      this.sumWire += wire;
      this.lastWire = wire;
    }
  }

  private begin(): void {
    this.len = 0;
    this.esc = false;
    this.overflow = false;
    this.sumPlain = 0;
    this.sumWire = 0;
    this.lastWire = 0;
  }

  private finish(onFrame: FrameSink): void {
    const n = this.len;
    if (n < 2) {
      this.stats.runts++;
      return;
    }
    const cs = this.buf[n - 1]!;
    if (((this.sumPlain - cs) & 0xff) === cs) this.stats.checksumUnstuffed++;
    else if (((this.sumWire - this.lastWire) & 0xff) === cs) this.stats.checksumStuffed++;
    else {
      this.stats.badChecksum++;
      return;
    }
    this.stats.frames++;
    onFrame(this.buf.subarray(0, n - 1));
  }

  reset(): void {
    this.begin();
  }

  buffered(): number {
    return this.len;
  }
}
