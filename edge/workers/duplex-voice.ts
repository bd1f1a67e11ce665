/**
 * duplex-voice worker: two-way voice with a remote expert (receive, decode, echo-cancel,
 * play; capture-side send). Consumes: pcm.<input>. Until voice lands it consumes its inputs.
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
