/**
 * net-send worker: everything that leaves over the network (RTP/RTCP, RTSP serving, the
 * resilient uplink). Consumes: video.*, audio.*, vitals. Until the RTP stack lands it
 * consumes its inputs so their cursors and counters are live.
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
