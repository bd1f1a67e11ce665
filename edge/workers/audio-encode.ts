/**
 * audio-encode worker: every audio input's PCM ring `pcm.<input>` through Opus (20 ms frames,
 * 64 kbit/s, low delay) into `audio.<input>`, each Opus packet stamped with the capture time of
 * its first sample (edge/audio/encode.ts). AAC / MP3 for the recordings come later.
 *
 * Lifecycle: start() starts one AudioEncoder per input; each builds its pipeline on its first
 * PCM record. An encoder that fails ends the worker (exit code 1): the supervisor restarts it
 * with fresh pipelines. Events to control: `audio-encode-stats` every 2 s.
 */
import { AudioEncoder } from '../audio/index.js';
import { runWorker } from '../runtime/index.js';

const encoders: AudioEncoder[] = [];
let statsTimer: NodeJS.Timeout | undefined;

runWorker({
  start(ctx) {
    for (const input of ctx.config.audio.inputs) {
      const e = new AudioEncoder({
        input, pcm: ctx.consumer(`pcm.${input.name}`), out: ctx.producer(`audio.${input.name}`), clock: ctx.clock, log: ctx.log,
        onError: () => { process.exitCode = 1; setImmediate(() => process.exit(1)); },
      });
      e.start();
      encoders.push(e);
    }
    statsTimer = setInterval(() => {
      ctx.emit({ type: 'audio-encode-stats', inputs: Object.fromEntries(encoders.map((e) => [e.name, e.stats()])) });
    }, 2000);
  },
  async stop() {
    clearInterval(statsTimer);
    await Promise.all(encoders.map((e) => e.close()));
  },
});
