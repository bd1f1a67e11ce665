/**
 * The `test-tone` demo input: a pattern that is a pure function of the box's wall clock, so
 * the instant of every click is known to the sample, and A/V sync can be measured against a
 * video test source that marks the same instants.
 *
 *   one second of the pattern, starting at every whole second of wall time (UTC):
 *
 *   0    1 ms                  100 ms                                  600 ms           1000 ms
 *   |####|.....................|~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~|................|
 *   click: +0.9 FS (-0.9 dBFS)  silence      1 kHz sine, peak -12 dBFS       silence
 *
 * The click is a 1 ms rectangular pulse (broadband: it survives Opus and is found to the
 * sample by an onset detector); the burst is the tone a frequency check finds. Sample k of the
 * pattern at rate R is the instant k / R s after the epoch, so the click of second S is
 * sample S * R, and a record that starts on a sample carries that sample's wall time exactly.
 * Pure; runs on: audio-capture.
 */

export const TONE_FREQ_HZ = 1000;
/** Click length and level. */
export const TONE_CLICK_MS = 1;
export const TONE_CLICK_AMPLITUDE = 0.9;
/** The burst: from, to (ms into each second) and peak amplitude (-12 dBFS). */
export const TONE_BURST_FROM_MS = 100;
export const TONE_BURST_TO_MS = 600;
export const TONE_BURST_AMPLITUDE = 0.25;

/**
 * Fills `out` (interleaved, `channels` per frame, every channel the same) with the pattern
 * from sample `first` (samples since the epoch at `rate`; an exact integer below 2^53).
 */
export function fillTestTone(out: Int16Array, first: number, rate: number, channels: number): void {
  const frames = out.length / channels;
  const click = (rate * TONE_CLICK_MS) / 1000;
  const from = (rate * TONE_BURST_FROM_MS) / 1000;
  const to = (rate * TONE_BURST_TO_MS) / 1000;
  const clickLevel = Math.round(TONE_CLICK_AMPLITUDE * 32767);
  const w = (2 * Math.PI * TONE_FREQ_HZ) / rate;
  let p = first % rate; // position in its second
  for (let i = 0; i < frames; i++) {
    let v = 0;
    if (p < click) v = clickLevel;
    else if (p >= from && p < to) v = Math.round(TONE_BURST_AMPLITUDE * 32767 * Math.sin(w * (p - from)));
    for (let c = 0; c < channels; c++) out[i * channels + c] = v;
    if (++p === rate) p = 0;
  }
}
