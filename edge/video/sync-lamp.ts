/**
 * The A/V sync lamp of test-pattern frames: the video half of the flash + click that
 * `test-tone` (edge/audio/tone.ts) puts at each whole UTC second, so lip sync can be measured
 * end to end (recording, RTSP) by decoding both and comparing.
 *
 *   bottom-right corner of every test-pattern frame (side = height / 6, even):
 *
 *          +----------+----------+
 *          |  flash   |  phase   |   flash: luma 235 on the flash frame, 16 on every other
 *          |          |          |   phase: luma 16 + 4 * phase_ms on the flash frame, else 16
 *          +----------+----------+ <- frame's bottom-right corner
 *
 * The flash frame of second S is the first frame captured at or after S (its capture time t
 * has t mod 1 s < one frame interval). A frame is a sample of time, so its capture time lies
 * up to one frame interval (33 ms at 30 fps) after the click: more than the 20 ms the sync
 * check allows. The phase patch says by how much (phase = t - S, 0.25 ms per luma step, up to
 * 54.75 ms: exact for sources of 19 fps and more), so a reader finds the instant S on the
 * video's own timeline as (flash frame's time - phase) and compares that with the click's.
 * Both patches have neutral chroma (grey) and are flat, so H.264 keeps their mean luma to a
 * level or two. The lamp is dark on every other frame, so nothing in the pattern (a moving
 * ball) can look like a flash.
 * Pure; runs on: video-capture (capture.ts draws it), and in test-rig readers (readSyncLamp).
 */
import type { FrameGeometry } from './overlay.js';

export const LAMP_ON = 235;
export const LAMP_OFF = 16;
/** Luma steps per millisecond of phase. */
export const PHASE_STEPS_PER_MS = 4;
/** Largest phase the patch can carry, ms. */
export const PHASE_MAX_MS = (LAMP_ON - LAMP_OFF) / PHASE_STEPS_PER_MS;

/** Where the two patches are: the side of each square and the flash square's top-left corner. */
export function lampGeometry(width: number, height: number): { side: number; x: number; y: number } {
  const side = Math.max(2, Math.floor(height / 6) & ~1);
  return { side, x: Math.max(0, (width - 2 * side) & ~1), y: Math.max(0, height - side) };
}

/**
 * Whether the frame captured at `wallNs` (box clock) is the flash frame of its second, for a
 * source of `intervalNs` between frames, and its phase after the whole second (ns).
 */
export function flashPhase(wallNs: bigint, intervalNs: number): { flash: boolean; phaseNs: number } {
  const phaseNs = Number(wallNs % 1_000_000_000n);
  return { flash: phaseNs < intervalNs, phaseNs };
}

/** Draws the lamp for a frame captured at `wallNs` into `frame` (4:2:0, `g`). */
export function drawSyncLamp(frame: Uint8Array, g: FrameGeometry, wallNs: bigint, intervalNs: number): void {
  const { flash, phaseNs } = flashPhase(wallNs, intervalNs);
  const { side, x, y } = lampGeometry(g.width, g.height);
  const phaseLuma = Math.min(LAMP_ON, LAMP_OFF + Math.round((phaseNs / 1e6) * PHASE_STEPS_PER_MS));
  fillRect(frame, g, x, y, side, side, flash ? LAMP_ON : LAMP_OFF);
  fillRect(frame, g, x + side, y, side, side, flash ? phaseLuma : LAMP_OFF);
}

/** What a reader sees in a decoded frame's luma plane (stride = width): null when dark. */
export function readSyncLamp(luma: Uint8Array, width: number, height: number): { phaseMs: number } | null {
  const { side, x, y } = lampGeometry(width, height);
  // The central half of each square: edges ring after H.264 and scaling.
  const mean = (x0: number): number => {
    let sum = 0, n = 0;
    for (let r = y + (side >> 2); r < y + side - (side >> 2); r++) {
      for (let c = x0 + (side >> 2); c < x0 + side - (side >> 2); c++) { sum += luma[r * width + c]; n++; }
    }
    return n ? sum / n : 0;
  };
  if (mean(x) < (LAMP_ON + LAMP_OFF) / 2) return null;
  return { phaseMs: Math.max(0, (mean(x + side) - LAMP_OFF) / PHASE_STEPS_PER_MS) };
}

function fillRect(frame: Uint8Array, g: FrameGeometry, x0: number, y0: number, w: number, h: number, luma: number): void {
  const W = g.width, H = g.height;
  const x1 = Math.min(W, x0 + w), y1 = Math.min(H, y0 + h);
  for (let r = y0; r < y1; r++) frame.fill(luma, r * W + x0, r * W + x1);
  const cw = W >> 1, chh = H >> 1, ySize = W * H;
  for (let r = y0 >> 1; r < y1 >> 1; r++) {
    if (g.format === 'NV12') frame.fill(128, ySize + r * cw * 2 + (x0 & ~1), ySize + r * cw * 2 + (x1 & ~1));
    else {
      frame.fill(128, ySize + r * cw + (x0 >> 1), ySize + r * cw + (x1 >> 1));
      frame.fill(128, ySize + cw * chh + r * cw + (x0 >> 1), ySize + cw * chh + r * cw + (x1 >> 1));
    }
  }
}
