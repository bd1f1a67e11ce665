/**
 * The patient monitors' numerics as a text track of a channel's recording (issue #20): every
 * segment holds, next to its video (and audio), a Matroska S_TEXT/UTF8 track whose cue at each
 * frame is what the monitors showed when that frame was captured (VitalsDisplay's text:
 * numerics, NIBP, alarms, "NO DATA" while a port is away), so any player draws the numbers
 * over the picture (tested with ffmpeg's subtitles filter, what ffplay's -vf subtitles= uses, and
 * GStreamer), with no export step.
 *
 * Why a cue per frame, pushed right after the frame: matroskamux (GStreamer 1.22, collect
 * pads) writes nothing until every pad has data, a text pad too (measured: an appsrc that sent
 * one text buffer at 1 s held the whole file back until it came). A track fed only when a
 * monitor speaks would hold the video back for as long as the monitor is silent or unplugged,
 * and a kill would lose all of it. Fed with each frame, the text pad never waits: the loss per
 * kill stays the fsync period + frames in flight. Cost (the recording bench, five numerics):
 * about 80 bytes per frame, 2.4 kB/s at 30 fps (0.24 % of an 8 Mbit/s hq stream), and no CPU
 * the bench can tell from its noise.
 * Each cue lasts 3/4 of a frame period, so a frame that comes early (a camera's jitter) never
 * shows two cues at once; it starts at its frame's PTS, so the frame shows it.
 *
 * Contract
 * - Owns: the display state of one recorded channel and the samples not yet due.
 * - Time: samples are applied when a frame captured at or after their capture time is pushed
 *   (same box clock), so a value appears on the first frame captured after it was measured,
 *   even when the sample reaches video-encode after that frame's encode.
 * - write(sample) any time (out of order tolerated: queued by capture time); cueFor(wallNs)
 *   per frame, non-decreasing wallNs. No I/O; the recorder pushes the bytes.
 * Runs on: video-encode.
 */
import { VitalsDisplay, type VitalSample } from '../devices/index.js';

/** Shown when no monitor has said anything yet (a track must have a cue for every frame). */
export const NO_VITALS_TEXT = 'VITALS: NO DATA';
/** Samples held for frames not yet pushed (a few seconds of a busy monitor's numerics). */
const MAX_PENDING = 512;

export class RecordingVitalsText {
  private readonly display = new VitalsDisplay();
  private pending: VitalSample[] = [];
  private lastText = '';
  private lastBytes = new TextEncoder().encode(NO_VITALS_TEXT);
  private readonly enc = new TextEncoder();

  write(s: VitalSample): void {
    if (s.kind === 'wave') return;
    const p = this.pending;
    if (p.length >= MAX_PENDING) p.shift();
    let i = p.length;
    while (i > 0 && p[i - 1]!.hostWallNs > s.hostWallNs) i--;
    p.splice(i, 0, s);
  }

  /** The cue of the frame captured at box wall time `wallNs` (UTF-8; the same bytes while the text holds). */
  cueFor(wallNs: bigint): Uint8Array {
    const p = this.pending;
    let n = 0;
    while (n < p.length && p[n]!.hostWallNs <= wallNs) this.display.apply(p[n++]!);
    if (n) this.pending = p.slice(n);
    const text = this.display.text(wallNs) || NO_VITALS_TEXT;
    if (text !== this.lastText) {
      this.lastText = text;
      this.lastBytes = this.enc.encode(text);
    }
    return this.lastBytes;
  }
}

/** A cue's duration for a channel at `fps`: 3/4 of the frame period (see above). */
export function cueDurationNs(fps: number): number {
  return Math.round((0.75 * 1e9) / fps);
}
