/**
 * A pixel clock: a 64-bit timestamp written as black/white blocks into the top rows of a raw
 * 4:2:0 frame's luma plane, and read back from the decoded frame at the far end. On one host
 * there is one clock, so `now - stamp` at the reader is the latency of everything in between
 * (glass to glass). No OCR: each bit is a large flat block whose mean luma says 0 or 1.
 *
 * Layout (frame-relative, so it survives scaling to any size the stream is re-encoded at):
 * the frame's width is cut into COLS columns and the top into ROWS block rows; a block is
 * floor(width / COLS) wide and floor(height / BLOCK_ROWS_PER_HEIGHT) high (both rounded down
 * to even). 80 bits, most significant first, row by row:
 *
 *    col  0                                       39
 *        +----+----+----+-- ... --+----+----+----+
 *  row 0 | b0 | b1 | b2 |   ...   |b37 |b38 |b39 |   b0..b63:  the stamp (u64, big-endian bits)
 *        +----+----+----+-- ... --+----+----+----+   b64..b79: CRC-16/CCITT-FALSE of its 8
 *  row 1 |b40 |b41 |   ...        |b77 |b78 |b79 |             big-endian bytes
 *        +----+----+----+-- ... --+----+----+----+
 *  (1920x1080: 48x44 px blocks, 88 rows; 640x360: 16x14 px; 1280x720: 32x30 px)
 *
 * A 1 is luma 235, a 0 luma 16 (limited range). A block is read as the mean of its central
 * half (edges ring after H.264 and scaling); a mean in the middle band (AMBIGUOUS_LOW..HIGH)
 * is not guessed at. The CRC turns any damaged read into a `checksum` failure: a frame is
 * either read exact or reported unreadable, never misread (a random 80-bit pattern passes
 * CRC-16 with probability 2^-16, so a damaged read that passes needs several flipped blocks
 * that all land outside the ambiguous band, and a matching CRC).
 *
 * Only the luma plane is touched, and it comes first in both I420 and NV12 with a stride of
 * the width (GStreamer's default for widths that are multiples of 4), so the same code serves
 * both. Readers may pass just the top `stampBytes()` bytes of a frame (what an appsink's
 * pullInto copies into a short buffer).
 * Runs in: test-rig processes (benches, tests). Allocates nothing per frame.
 */

export const COLS = 40;
export const ROWS = 2;
/** Block height = frame height / this: 1080 -> 45 -> 44 px. */
export const BLOCK_ROWS_PER_HEIGHT = 24;
export const STAMP_BITS = 64;
export const CRC_BITS = 16;
export const LUMA_ONE = 235;
export const LUMA_ZERO = 16;
/** Block means in [AMBIGUOUS_LOW, AMBIGUOUS_HIGH] are neither bit: the read fails. */
export const AMBIGUOUS_LOW = 80;
export const AMBIGUOUS_HIGH = 170;
/** Smallest block that is still written (px): below this H.264 at low bitrates blurs bits together. */
export const MIN_BLOCK = 8;

export interface StampGeometry {
  readonly width: number;
  readonly height: number;
}

export class PixelClockError extends Error {
  override readonly name = 'PixelClockError';
  constructor(readonly field: string, message: string) { super(`pixel clock ${field}: ${message}`); }
}

/** Block size (px) of a frame of this size. @throws PixelClockError for a frame too small to carry the stamp. */
export function blockSize(g: StampGeometry): { bw: number; bh: number } {
  const bw = Math.floor(g.width / COLS) & ~1;
  const bh = Math.floor(g.height / BLOCK_ROWS_PER_HEIGHT) & ~1;
  if (bw < MIN_BLOCK || bh < MIN_BLOCK) throw new PixelClockError('size', `${g.width}x${g.height} gives ${bw}x${bh} px blocks, below ${MIN_BLOCK}`);
  return { bw, bh };
}

/** Bytes from the start of the frame that hold every stamp block (the top ROWS block rows of luma). */
export function stampBytes(g: StampGeometry): number {
  return blockSize(g).bh * ROWS * g.width;
}

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor; check value 0x29B1). */
export function crc16(data: Uint8Array, length = data.length): number {
  let crc = 0xffff;
  for (let i = 0; i < length; i++) {
    crc ^= data[i] << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

const stampScratch = new DataView(new ArrayBuffer(8));
const stampBytesView = new Uint8Array(stampScratch.buffer);

/** The CRC the stamp's blocks carry: crc16 of its 8 big-endian bytes. */
export function stampCrc(stamp: bigint): number {
  stampScratch.setBigUint64(0, stamp);
  return crc16(stampBytesView);
}

const U64 = (1n << 64n) - 1n;

/**
 * Writes `stamp` (an unsigned 64-bit value, e.g. CLOCK_MONOTONIC ns) into the frame's top rows.
 * @throws PixelClockError when the frame is too small or `luma` is shorter than the stamp area.
 */
export function writeStamp(luma: Uint8Array, g: StampGeometry, stamp: bigint): void {
  if (stamp < 0n || stamp > U64) throw new PixelClockError('stamp', `${stamp} is not an unsigned 64-bit value`);
  const { bw, bh } = blockSize(g);
  if (luma.length < bh * ROWS * g.width) throw new PixelClockError('frame', `${luma.length} bytes, the stamp needs ${bh * ROWS * g.width}`);
  const crc = stampCrc(stamp);
  for (let bit = 0; bit < COLS * ROWS; bit++) {
    const one = bit < STAMP_BITS ? (stamp >> BigInt(STAMP_BITS - 1 - bit)) & 1n : (crc >> (CRC_BITS - 1 - (bit - STAMP_BITS))) & 1;
    const v = one ? LUMA_ONE : LUMA_ZERO;
    const x0 = (bit % COLS) * bw;
    const y0 = Math.floor(bit / COLS) * bh;
    for (let y = y0; y < y0 + bh; y++) luma.fill(v, y * g.width + x0, y * g.width + x0 + bw);
  }
}

/** Why a stamp could not be read; `block` is the bit (block index) where it was found. */
export type StampFailure = { ok: false; reason: 'ambiguous'; block: number; mean: number } | { ok: false; reason: 'checksum'; read: bigint; crc: number };
export type StampRead = { ok: true; stamp: bigint } | StampFailure;

/**
 * Reads the stamp back from a (decoded, possibly rescaled) frame's luma. Returns the failure
 * rather than throwing: a damaged frame is an outcome a receiver counts.
 * @throws PixelClockError only for a frame too small or a buffer shorter than stampBytes(g).
 */
export function readStamp(luma: Uint8Array, g: StampGeometry): StampRead {
  const { bw, bh } = blockSize(g);
  if (luma.length < bh * ROWS * g.width) throw new PixelClockError('frame', `${luma.length} bytes, the stamp needs ${bh * ROWS * g.width}`);
  // The central half of each block.
  const mx = bw >> 2, my = bh >> 2;
  let stamp = 0n;
  let crc = 0;
  for (let bit = 0; bit < COLS * ROWS; bit++) {
    const x0 = (bit % COLS) * bw + mx;
    const y0 = Math.floor(bit / COLS) * bh + my;
    let sum = 0;
    let n = 0;
    for (let y = y0; y < y0 + bh - 2 * my; y++) {
      const row = y * g.width;
      for (let x = x0; x < x0 + bw - 2 * mx; x++) sum += luma[row + x];
      n += bw - 2 * mx;
    }
    const mean = sum / n;
    if (mean >= AMBIGUOUS_LOW && mean <= AMBIGUOUS_HIGH) return { ok: false, reason: 'ambiguous', block: bit, mean };
    const one = mean > AMBIGUOUS_HIGH ? 1 : 0;
    if (bit < STAMP_BITS) stamp = (stamp << 1n) | BigInt(one);
    else crc = (crc << 1) | one;
  }
  if (stampCrc(stamp) !== crc) return { ok: false, reason: 'checksum', read: stamp, crc };
  return { ok: true, stamp };
}
