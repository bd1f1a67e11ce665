/**
 * audio-encode worker: Opus/AAC/MP3 encoding and the audio track recording. Consumes:
 * pcm.<input>. Produces: audio.<input>. Until the encoders land it consumes its inputs.
 */
import { runWorker, drainInputs } from '../runtime/index.js';

let loops: Promise<unknown> | undefined;

runWorker({
  start(ctx) {
    loops = drainInputs(ctx);
  },
  async stop() {
    await loops;
  },
});
