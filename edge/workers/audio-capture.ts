/**
 * audio-capture worker: every configured audio input (test tone, ALSA by card id or by-path,
 * GStreamer source description) into its PCM ring `pcm.<input>`, in 20 ms records stamped on
 * the box clock, with gap-flagged silence while a source is away (edge/audio/capture.ts).
 *
 * Lifecycle: start() starts one AudioCapture per input (an input it cannot describe is logged
 * and skipped: the rest of the box runs); stop() closes them. A capture never throws on a
 * failing source: the gap covers it and the source is retried with backoff.
 * Events to control: `audio-source-lost`, `audio-source-up`, and every second `audio-stats`
 * (per input: state, counters, levels: RMS / peak dBFS over the last second, clipped samples,
 * silence).
 */
import { AudioCapture } from '../audio/index.js';
import { runWorker } from '../runtime/index.js';

const captures: AudioCapture[] = [];
let statsTimer: NodeJS.Timeout | undefined;

runWorker({
  start(ctx) {
    for (const input of ctx.config.audio.inputs) {
      try {
        const c = new AudioCapture({
          input, ring: ctx.producer(`pcm.${input.name}`), clock: ctx.clock, log: ctx.log,
          onEvent: (e) => ctx.emit({ ...e }),
        });
        c.start();
        captures.push(c);
      } catch (err) {
        ctx.log.error({ err, input: input.name }, 'audio input not started');
      }
    }
    statsTimer = setInterval(() => {
      ctx.emit({ type: 'audio-stats', inputs: Object.fromEntries(captures.map((c) => [c.name, c.stats()])) });
    }, 1000);
  },
  stop() {
    clearInterval(statsTimer);
    for (const c of captures) c.close();
  },
});
