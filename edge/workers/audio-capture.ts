/**
 * audio-capture worker: ALSA inputs into PCM rings on the box clock. Produces: pcm.<input>.
 * Capture arrives with the audio path; until then the worker runs its lifecycle.
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
