/**
 * Levels of one audio input for status: RMS and peak in dBFS over the last second, the count
 * of clipped samples in it, and a silence flag, computed in JS on the PCM records as they are
 * captured (one pass over each record's samples, no allocation per record).
 *
 * Conventions: dBFS relative to a full-scale square wave (RMS and peak of +-32768 are 0 dBFS),
 * so a sine of peak -6 dBFS has RMS -9 dBFS (a sine's RMS is its peak / sqrt 2). A clipped
 * sample is one at either rail (32767 or -32768). Levels below FLOOR_DBFS read FLOOR_DBFS (JSON
 * has no -Infinity). Silent: RMS below `silenceDbfs` (default -60) over the whole window.
 * Gap records (the source was away) are counted in `gapMs` and not in the levels.
 * Runs on: audio-capture, once per record.
 */

/** The lowest level reported, dBFS. */
export const FLOOR_DBFS = -120;

export interface AudioLevels {
  /** RMS over the window, dBFS (all channels together). */
  rmsDbfs: number;
  peakDbfs: number;
  /** Samples at either rail in the window. */
  clipped: number;
  silent: boolean;
  /** Milliseconds of the window that were gap silence. */
  gapMs: number;
  /** Milliseconds of audio the window holds (up to its length). */
  windowMs: number;
}

const dbfs = (x: number): number => (x > 0 ? Math.max(FLOOR_DBFS, Math.round(200 * Math.log10(x / 32768)) / 10) : FLOOR_DBFS);

export class LevelMeter {
  private readonly sumSq: Float64Array;
  private readonly peak: Int32Array;
  private readonly clips: Int32Array;
  private readonly count: Int32Array;
  private readonly gap: Uint8Array;
  private next = 0;
  private filled = 0;

  /**
   * @param recordMs length of one record, ms (10 or 20)
   * @param windowMs the window, ms (default 1000)
   * @throws RangeError for a window that is not a whole number of records
   */
  constructor(private readonly recordMs: number, windowMs = 1000, private readonly silenceDbfs = -60) {
    const n = windowMs / recordMs;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`level window ${windowMs} ms is not a whole number of ${recordMs} ms records`);
    this.sumSq = new Float64Array(n);
    this.peak = new Int32Array(n);
    this.clips = new Int32Array(n);
    this.count = new Int32Array(n);
    this.gap = new Uint8Array(n);
  }

  /** Adds one record's interleaved samples (a gap record only counts as gap time). */
  add(samples: Int16Array, gap = false): void {
    const i = this.next;
    this.next = (i + 1) % this.sumSq.length;
    if (this.filled < this.sumSq.length) this.filled++;
    this.gap[i] = gap ? 1 : 0;
    if (gap) { this.sumSq[i] = 0; this.peak[i] = 0; this.clips[i] = 0; this.count[i] = 0; return; }
    let ss = 0, pk = 0, cl = 0;
    for (let k = 0; k < samples.length; k++) {
      const s = samples[k];
      ss += s * s;
      const a = s < 0 ? -s : s;
      if (a > pk) pk = a;
      if (s >= 32767 || s <= -32768) cl++;
    }
    this.sumSq[i] = ss; this.peak[i] = pk; this.clips[i] = cl; this.count[i] = samples.length;
  }

  levels(): AudioLevels {
    let ss = 0, pk = 0, cl = 0, n = 0, gaps = 0;
    for (let i = 0; i < this.sumSq.length; i++) {
      ss += this.sumSq[i]; n += this.count[i]; cl += this.clips[i]; gaps += this.gap[i];
      if (this.peak[i] > pk) pk = this.peak[i];
    }
    const rms = dbfs(n ? Math.sqrt(ss / n) : 0);
    return { rmsDbfs: rms, peakDbfs: dbfs(pk), clipped: cl, silent: rms < this.silenceDbfs, gapMs: gaps * this.recordMs, windowMs: this.filled * this.recordMs };
  }
}
