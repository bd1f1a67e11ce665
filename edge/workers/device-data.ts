/**
 * device-data worker: serial and LAN medical devices (protocol drivers, time-stamping, MDC
 * normalisation, gap marking, remote device commands) into the vitals ring, and the vitals
 * track recording. Produces: vitals. The drivers arrive with the device-data capability;
 * until then the worker runs its lifecycle and owns its ring.
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
