/**
 * Burnt-in text for raw frames: the capture clock and the channel name on every test-pattern
 * frame, and the "NO SIGNAL" slate.
 *
 * Why in TypeScript: GStreamer's text overlays (clockoverlay, timeoverlay, textoverlay) live in
 * the pango plugin, which is not installed on the target images (nor here); rsvgoverlay and
 * cairooverlay exist but work on BGRA, so a 1080p frame would be converted twice per frame.
 * Drawing a 5x7 bitmap font straight into the luma plane of the frame already in the slot ring
 * costs a few thousand byte stores per frame and no conversion.
 *
 * Owns: the glyph table (upper-case letters, digits, a little punctuation; other characters
 * draw as a blank) and the drawing of a text box into a 4:2:0 frame (NV12 or I420): a dark box
 * (Y=16, neutral chroma) with white (Y=235) glyphs, scaled by an integer factor.
 * Runs on: video-capture. Pure; no allocation per call except the string.
 */

// 5x7 glyphs, one row per entry, bit 4 = leftmost column.
const GLYPHS: Record<string, readonly number[]> = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '0': [14, 17, 19, 21, 25, 17, 14], '1': [4, 12, 4, 4, 4, 4, 14], '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14], '4': [2, 6, 10, 18, 31, 2, 2], '5': [31, 16, 30, 1, 1, 17, 14],
  '6': [6, 8, 16, 30, 17, 17, 14], '7': [31, 1, 2, 4, 8, 8, 8], '8': [14, 17, 17, 14, 17, 17, 14],
  '9': [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 31, 17, 17, 17], B: [30, 17, 17, 30, 17, 17, 30], C: [14, 17, 16, 16, 16, 17, 14],
  D: [28, 18, 17, 17, 17, 18, 28], E: [31, 16, 16, 30, 16, 16, 31], F: [31, 16, 16, 30, 16, 16, 16],
  G: [14, 17, 16, 23, 17, 17, 15], H: [17, 17, 17, 31, 17, 17, 17], I: [14, 4, 4, 4, 4, 4, 14],
  J: [7, 2, 2, 2, 2, 18, 12], K: [17, 18, 20, 24, 20, 18, 17], L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17], N: [17, 17, 25, 21, 19, 17, 17], O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16], Q: [14, 17, 17, 17, 21, 18, 13], R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30], T: [31, 4, 4, 4, 4, 4, 4], U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4], W: [17, 17, 17, 21, 21, 21, 10], X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 10, 4, 4, 4, 4], Z: [31, 1, 2, 4, 8, 16, 31],
  ':': [0, 12, 12, 0, 12, 12, 0], '.': [0, 0, 0, 0, 0, 12, 12], '-': [0, 0, 0, 31, 0, 0, 0],
  '/': [0, 1, 2, 4, 8, 16, 0], '_': [0, 0, 0, 0, 0, 0, 31], '+': [0, 4, 4, 31, 4, 4, 0],
};

export type Yuv420Format = 'NV12' | 'I420';

/** Geometry of a 4:2:0 frame as GStreamer lays it out for even sizes (no row padding). */
export interface FrameGeometry {
  readonly width: number;
  readonly height: number;
  readonly format: Yuv420Format;
}

/** Bytes of one 4:2:0 frame. */
export function frameBytes(g: { width: number; height: number }): number {
  return g.width * g.height + 2 * Math.ceil(g.width / 2) * Math.ceil(g.height / 2);
}

/** Width in pixels of `text` drawn at `scale` (1 px spacing between glyphs, 2 px margin). */
export function textWidth(text: string, scale: number): number {
  return (text.length * 6 + 3) * scale;
}

/**
 * Draws `text` (upper-cased) at (x, y) in a dark box. Clips at the frame's edges.
 * `frame` must hold at least frameBytes(g).
 */
export function drawText(frame: Uint8Array, g: FrameGeometry, text: string, x: number, y: number, scale: number): void {
  const { width: w, height: h } = g;
  const boxW = textWidth(text, scale);
  const boxH = 11 * scale;
  const x0 = Math.max(0, x & ~1), y0 = Math.max(0, y & ~1);
  const x1 = Math.min(w, x0 + boxW), y1 = Math.min(h, y0 + boxH);
  if (x1 <= x0 || y1 <= y0) return;
  // Box: black luma, neutral chroma (so the text is white, not tinted by the picture below).
  for (let r = y0; r < y1; r++) frame.fill(16, r * w + x0, r * w + x1);
  const cw = Math.ceil(w / 2);
  const ySize = w * h;
  const cx0 = x0 >> 1, cx1 = (x1 + 1) >> 1;
  for (let r = y0 >> 1; r < (y1 + 1) >> 1; r++) {
    if (g.format === 'NV12') frame.fill(128, ySize + r * cw * 2 + cx0 * 2, ySize + r * cw * 2 + cx1 * 2);
    else {
      const ch = Math.ceil(h / 2);
      frame.fill(128, ySize + r * cw + cx0, ySize + r * cw + cx1);
      frame.fill(128, ySize + cw * ch + r * cw + cx0, ySize + cw * ch + r * cw + cx1);
    }
  }
  const up = text.toUpperCase();
  for (let i = 0; i < up.length; i++) {
    const rows = GLYPHS[up[i]] ?? GLYPHS[' '];
    const gx = x0 + (2 + i * 6) * scale;
    for (let row = 0; row < 7; row++) {
      const bits = rows[row];
      if (bits === 0) continue;
      for (let col = 0; col < 5; col++) {
        if ((bits & (16 >> col)) === 0) continue;
        const px = gx + col * scale;
        const py = y0 + (2 + row) * scale;
        for (let dy = 0; dy < scale; dy++) {
          const yy = py + dy;
          if (yy >= y1) break;
          const start = yy * w + px;
          const end = Math.min(yy * w + x1, start + scale);
          if (end > start) frame.fill(235, start, end);
        }
      }
    }
  }
}

/** A solid-colour 4:2:0 frame (Y, U, V values), e.g. the slate's background. */
export function solidFrame(g: FrameGeometry, yv: number, u: number, v: number, out = new Uint8Array(frameBytes(g))): Uint8Array {
  const ySize = g.width * g.height;
  out.fill(yv, 0, ySize);
  const c = Math.ceil(g.width / 2) * Math.ceil(g.height / 2);
  if (g.format === 'NV12') {
    for (let i = 0; i < c; i++) { out[ySize + 2 * i] = u; out[ySize + 2 * i + 1] = v; }
  } else {
    out.fill(u, ySize, ySize + c);
    out.fill(v, ySize + c, ySize + 2 * c);
  }
  return out;
}

/** `2025-01-31 23:59:59.123` (UTC) for a box time in ns: the burnt-in capture clock. */
export function clockText(wallNs: bigint): string {
  const iso = new Date(Number(wallNs / 1_000_000n)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/** Text scale for a frame height: about 1/40 of the picture per line of text. */
export function textScale(height: number): number {
  return Math.max(1, Math.round(height / 300));
}
