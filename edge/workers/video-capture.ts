/**
 * video-capture worker: video sources (V4L2 with hot-plug and signal lock, RTSP/ONVIF
 * cameras, test patterns) into one raw slot ring per channel, stamped on the box clock, with
 * a "no signal" slate when a source is lost. Produces: raw.<channel>. Sources arrive with
 * the video path; until then the worker runs its lifecycle and owns its rings.
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
