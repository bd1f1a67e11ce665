/**
 * The bulk delay of the room's echo path: how long after a far-end (expert) sample is played
 * its echo shows in the room microphone (output buffering + air + input buffering), so that the
 * echo canceller is given the far signal aligned to within a few ms of its echo.
 *
 * Why: webrtcdsp (webrtc-audio-processing 0.3 in Debian 12) cancels well only when the
 * reference it is given precedes the echo by less than ~20 ms (measured here: 22-26 dB ERLE at
 * a 20 ms echo delay, 3-10 dB at 60-120 ms, with or without its delay-agnostic mode); it is
 * told the play time of each reference buffer, but a file or ALSA output's buffering and the
 * room are not in that. Aligning the reference by this estimate first gave 27-30 dB at 60 and
 * 120 ms.
 *
 * How: both signals are reduced to 4 kHz (mean of 12 samples at 48 kHz: a low-pass that keeps
 * speech energy) in ring buffers of WINDOW_S; every `estimate()` computes the normalised cross
 * correlation over lags 0..maxDelayMs and takes the peak. An estimate is adopted when its peak
 * correlation is at least MIN_PEAK and the same lag (within 2 ms) won twice running, so double
 * talk or silence cannot move a settled estimate by chance.
 * Pure: no timers; the caller feeds 48 kHz mono S16 blocks, far as played, mic as captured,
 * with their start on one timeline (48 kHz samples since the session's origin). Runs on: duplex-voice.
 */

export interface DelayEstimatorOptions {
  /** Largest delay looked for, ms (10..500). Default 250. */
  maxDelayMs?: number;
}

/** Decimated rate, Hz. */
const RATE = 4000;
const DECIM = 12;
/** Seconds of signal the correlation looks at. */
export const WINDOW_S = 1.5;
/** Normalised correlation a peak needs to count. */
export const MIN_PEAK = 0.35;

class Decimated {
  readonly buf: Float32Array;
  count = 0;
  private acc = 0;
  private n = 0;
  constructor(size: number) { this.buf = new Float32Array(size); }
  /** `at`: where the block starts on the shared timeline, 48 kHz samples; a hole is filled with zeros. */
  add(x: Int16Array, at?: number): void {
    if (at !== undefined) {
      const want = Math.floor(at / DECIM);
      // A hole of more than a ms (the far end was silent, a gap): zeros up to the block.
      if (want > this.count + 4) {
        const fill = Math.min(want - this.count, this.buf.length);
        for (let k = 0; k < fill; k++) this.buf[(this.count + k) % this.buf.length] = 0;
        this.count = want; this.acc = 0; this.n = 0;
      }
    }
    for (let i = 0; i < x.length; i++) {
      this.acc += x[i];
      if (++this.n === DECIM) {
        this.buf[this.count % this.buf.length] = this.acc / DECIM;
        this.count++;
        this.acc = 0; this.n = 0;
      }
    }
  }
  at(k: number): number { return this.buf[k % this.buf.length]; }
}

export class EchoDelayEstimator {
  readonly maxLag: number;
  private readonly far: Decimated;
  private readonly mic: Decimated;
  private readonly win = Math.round(WINDOW_S * RATE);
  private candidate = -1;
  /** The adopted delay, ms, or undefined until one is found. */
  delayMs: number | undefined;
  /** Peak correlation of the last estimate (0..1). */
  lastPeak = 0;

  constructor(opts: DelayEstimatorOptions = {}) {
    const max = opts.maxDelayMs ?? 250;
    if (!(max >= 10 && max <= 500)) throw new RangeError(`echo delay estimator maxDelayMs ${max} is not in 10..500`);
    this.maxLag = Math.round((max * RATE) / 1000);
    const size = this.win + this.maxLag + RATE;
    this.far = new Decimated(size);
    this.mic = new Decimated(size);
  }

  /** Far-end samples as they are played (48 kHz mono). */
  addFar(x: Int16Array, at?: number): void { this.far.add(x, at); }
  /** Microphone samples as they are captured (48 kHz mono); `at` on the same timeline as the far ones. */
  addMic(x: Int16Array, at?: number): void { this.mic.add(x, at); }

  /** Runs one correlation; returns the adopted delay (ms) or undefined. up to (maxLag + 1) x 6000 multiply-adds (6 M at 250 ms). */
  estimate(): number | undefined {
    const end = Math.min(this.mic.count, this.far.count + this.maxLag);
    const start = end - this.win;
    if (start - this.maxLag < Math.max(0, this.far.count - this.far.buf.length) || start < 0) return this.delayMs;
    let micE = 0;
    for (let k = start; k < end; k++) micE += this.mic.at(k) ** 2;
    if (micE === 0) return this.delayMs;
    let best = -1, bestC = 0;
    for (let lag = 0; lag <= this.maxLag; lag++) {
      let c = 0, farE = 0;
      for (let k = start; k < end; k++) {
        const j = k - lag;
        if (j < 0 || j >= this.far.count) continue;
        const f = this.far.at(j);
        c += this.mic.at(k) * f;
        farE += f * f;
      }
      if (farE === 0) continue;
      const n = c / Math.sqrt(micE * farE);
      if (n > bestC) { bestC = n; best = lag; }
    }
    this.lastPeak = Math.round(bestC * 100) / 100;
    if (best < 0 || bestC < MIN_PEAK) { this.candidate = -1; return this.delayMs; }
    const ms = (best * 1000) / RATE;
    if (this.candidate >= 0 && Math.abs(this.candidate - ms) <= 2) this.delayMs = ms;
    this.candidate = ms;
    return this.delayMs;
  }
}
