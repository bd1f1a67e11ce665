/**
 * control worker: the box's command plane. Owns the local API socket (status, debug
 * commands), the events of all workers (its inbox), and reads the vitals ring. The fleet
 * link, case state and the recording catalog join it with their capabilities.
 */
import { LocalApi } from '../control/local-api.js';
import { collectStatus } from '../control/status.js';
import { Recordings } from '../control/recordings.js';
import { WORKER_NAMES, type WorkerName } from '../lib/health.js';
import { drainInputs, runWorker, type WorkerContext } from './runtime.js';

let api: LocalApi | undefined;
let loops: Promise<unknown> | undefined;
let recordings: Recordings | undefined;
const startedMs = Date.now() - Math.round(performance.now());

function methods(ctx: WorkerContext) {
  return {
    status: () => ({ ...collectStatus({ id: ctx.config.box.id, room: ctx.config.box.room, startedMs }, ctx.health, ctx.boot.observe ?? []), video: recordings?.status() }),
    ping: () => ({ pong: true, worker: ctx.name }),
    fault: (p: Record<string, unknown>) => {
      if (!ctx.config.debug.faultInjection) throw new Error('fault injection is off (debug.faultInjection in the configuration)');
      const worker = String(p.worker) as WorkerName;
      const mode = String(p.mode);
      if (!WORKER_NAMES.includes(worker)) throw new Error(`unknown worker "${worker}"; workers: ${WORKER_NAMES.join(', ')}`);
      if (!['exit', 'throw', 'hang'].includes(mode)) throw new Error(`unknown fault "${mode}"; faults: exit, throw, hang`);
      ctx.send(worker, { type: 'fault', mode: mode as 'exit' | 'throw' | 'hang' });
      return { sent: true };
    },
  };
}

runWorker({
  async start(ctx) {
    recordings = new Recordings({ dataDir: ctx.config.box.dataDir, log: ctx.log });
    recordings.start();
    api = new LocalApi(ctx.config.api.socket, methods(ctx));
    await api.listen();
    loops = drainInputs(ctx);
  },
  async stop(deadlineMs) {
    await recordings?.stop(Math.max(0, deadlineMs - 300));
    await api?.close();
    await loops;
  },
  onMessage(msg) {
    if (msg.type === 'event') recordings?.onEvent(msg.event);
  },
});
