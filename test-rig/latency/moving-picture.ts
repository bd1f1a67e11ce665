/**
 * The picture under the pixel clock: raw 4:2:0 frames (I420 or NV12) of a textured image that
 * pans down a few rows per frame, so an encoder has real work (motion, texture, a rate
 * controller that has to spend its bits) rather than a flat frame it codes as skips.
 *
 * The texture is seeded (the same frames every run), made once: luma of random 8x8 tiles with
 * fine noise on top, chroma of coarser tiles. Frame k is a window of it shifted by k * PAN_ROWS
 * rows, copied into the caller's buffer (one memcpy per plane row band, nothing allocated).
 * Runs in: test-rig processes.
 */
import { PixelClockError } from './pixel-clock.js';

export type Yuv420 = 'I420' | 'NV12';

/** Rows the picture moves per frame (even: chroma moves by half of it). */
export const PAN_ROWS = 4;
/** Frames until the pan repeats. */
export const PAN_PERIOD = 64;

/** Bytes of one frame. */
export function frameSize(width: number, height: number): number {
  return width * height + 2 * (width >> 1) * (height >> 1);
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export class MovingPicture {
  readonly frameBytes: number;
  private readonly luma: Uint8Array;
  private readonly chroma: Uint8Array; // I420: U rows then V rows; NV12: interleaved UV rows
  private readonly extraRows = PAN_ROWS * PAN_PERIOD;

  /** @throws PixelClockError for an odd size. */
  constructor(readonly width: number, readonly height: number, readonly format: Yuv420 = 'I420', seed = 1) {
    if (width % 4 || height % 2) throw new PixelClockError('size', `${width}x${height}: width must be a multiple of 4, height even`);
    this.frameBytes = frameSize(width, height);
    const rnd = prng(seed);
    const rows = height + this.extraRows;
    this.luma = new Uint8Array(width * rows);
    const tile = 8;
    const tilesX = width / tile;
    const tileRow = new Uint8Array(tilesX);
    for (let y = 0; y < rows; y++) {
      if (y % tile === 0) for (let i = 0; i < tilesX; i++) tileRow[i] = 40 + Math.floor(rnd() * 170);
      for (let x = 0; x < width; x++) this.luma[y * width + x] = tileRow[(x / tile) | 0] + Math.floor(rnd() * 12);
    }
    const cw = width >> 1;
    const crows = rows >> 1;
    // Both chroma planes as one band of rows `width` bytes wide: I420 reads it as U|V halves
    // per row pair, NV12 as interleaved pairs; either way it is just textured chroma.
    this.chroma = new Uint8Array(cw * 2 * crows);
    for (let y = 0; y < crows; y++) {
      const v = 96 + Math.floor(rnd() * 64);
      for (let x = 0; x < cw * 2; x++) this.chroma[y * cw * 2 + x] = v + ((x >> 4) & 7);
    }
  }

  /** Writes frame `k` into `out` (at least frameBytes long). */
  render(k: number, out: Uint8Array): void {
    const w = this.width, h = this.height;
    const shift = (k % PAN_PERIOD) * PAN_ROWS;
    out.set(this.luma.subarray(shift * w, (shift + h) * w), 0);
    const cw = w >> 1, ch = h >> 1;
    const cshift = shift >> 1;
    const band = this.chroma.subarray(cshift * cw * 2, (cshift + ch) * cw * 2);
    if (this.format === 'NV12') {
      out.set(band, w * h);
    } else {
      // I420: the band's first half of rows as U, the second as V (each cw x ch).
      out.set(band.subarray(0, cw * ch), w * h);
      out.set(band.subarray(cw * ch, 2 * cw * ch), w * h + cw * ch);
    }
  }
}
