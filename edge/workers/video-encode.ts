/**
 * video-encode worker: per channel, raw frames through the board's H.264 encoder into the
 * hq and lq encoded rings, and the channel's recording. Consumes: raw.<channel>. Produces:
 * video.<channel>.hq|lq. Until the encoders land it consumes its inputs (so their cursors
 * and counters are live) and produces nothing.
 */
import { runWorker, drainInputs } from './runtime.js';

let loops: Promise<unknown> | undefined;

runWorker({
  start(ctx) {
    loops = drainInputs(ctx);
  },
  async stop() {
    await loops;
  },
});
