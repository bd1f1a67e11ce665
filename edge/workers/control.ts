/**
 * control worker: the box's command plane. Owns the local API socket (status, debug
 * commands), the events of all workers (its inbox), the fleet link when one is configured
 * (birth/death, telemetry by exception, commands with acknowledgements; the box runs fully
 * without it), and the command router that carries commands to the workers. Reads the
 * vitals ring.
 */
import { mkdirSync } from 'node:fs';
import { LocalApi } from '../control/local-api.js';
import { collectStatus } from '../control/status.js';
import { CommandRouter } from '../control/commands.js';
import { sampleTelemetry } from '../control/telemetry.js';
import type { FleetLink } from '../fleet/index.js';
import { Recordings } from '../control/recordings.js';
import { WORKER_NAMES, type WorkerName } from '../lib/health.js';
import { drainInputs, runWorker, type WorkerContext } from './runtime.js';

let api: LocalApi | undefined;
let fleet: FleetLink | undefined;
let router: CommandRouter | undefined;
let telemetryTimer: NodeJS.Timeout | undefined;
let loops: Promise<unknown> | undefined;
let recordings: Recordings | undefined;
const startedMs = Date.now() - Math.round(performance.now());
/** Device port -> connected, from device-data's events. */
const devices = new Map<string, boolean>();

function methods(ctx: WorkerContext) {
  return {
    status: () => ({
      ...collectStatus({ id: ctx.config.box.id, room: ctx.config.box.room, startedMs }, ctx.health, ctx.boot.observe ?? []),
      video: recordings?.status(),
      fleet: fleet ? { state: fleet.state } : undefined,
      devices: Object.fromEntries(devices),
    }),
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

async function startFleet(ctx: WorkerContext): Promise<void> {
  const cfg = ctx.config.fleet;
  if (!cfg) return;
  mkdirSync(cfg.queueDir, { recursive: true });
  const { FleetLink, standardMetrics } = await import('../fleet/index.js'); // only boxes on a fleet pay for MQTT
  const rings = ctx.boot.observe ?? [];
  fleet = new FleetLink(cfg, {
    onCommand: async (cmd) => router!.run(cmd.commandId, cmd.body),
  }, {
    clock: ctx.clock,
    log: ctx.log,
    metrics: standardMetrics({
      workers: [...WORKER_NAMES],
      rings: rings.map((r) => r.spec.name),
      channels: ctx.config.channels.map((c) => c.name),
      devices: ctx.config.devices.ports.map((p) => p.name),
    }),
  });
  fleet.on('commandRejected', (r) => ctx.log.warn({ reason: r }, 'fleet command rejected'));
  await fleet.start();
  telemetryTimer = setInterval(() => {
    const current = recordings?.currentCase;
    fleet!.setMetrics({
      ...sampleTelemetry(ctx.health, rings, devices, ctx.config.box.dataDir),
      'recording/state': current ? 'recording' : 'idle',
      'recording/case_id': current?.uid ?? '',
    });
    fleet!.publishTelemetry();
  }, 1000);
}

runWorker({
  async start(ctx) {
    router = new CommandRouter(ctx);
    recordings = new Recordings({ dataDir: ctx.config.box.dataDir, log: ctx.log });
    recordings.start();
    const rec = recordings;
    router.handle('recordingStart', async (body) => {
      const unknown = body.channels.filter((c) => !ctx.config.channels.some((x) => x.name === c));
      if (unknown.length) return { state: 'invalid', message: `unknown channels: ${unknown.join(', ')}` };
      try {
        const c = rec.startCase(body.caseId, ctx.clock.wallNs());
        return { state: 'finished', message: `case "${c.uid}" recording`, details: { caseId: c.uid } };
      } catch (err) {
        return { state: 'invalid', message: (err as Error).message };
      }
    });
    router.handle('recordingStop', async (body) => {
      try {
        const c = rec.endCase(body.caseId, ctx.clock.wallNs());
        return { state: 'finished', message: `case "${c.uid}" ended`, details: { caseId: c.uid } };
      } catch (err) {
        return { state: 'invalid', message: (err as Error).message };
      }
    });
    api = new LocalApi(ctx.config.api.socket, methods(ctx));
    await api.listen();
    await startFleet(ctx);
    loops = drainInputs(ctx);
  },
  async stop(deadlineMs) {
    clearInterval(telemetryTimer);
    await recordings?.stop(Math.max(0, deadlineMs - 300));
    await fleet?.close();
    await api?.close();
    await loops;
  },
  onMessage(msg) {
    if (msg.type !== 'event') return;
    recordings?.onEvent(msg.event);
    const e = msg.event as { type: string; event?: { type?: string; port?: string; state?: string } };
    if (router?.onEvent(e as never)) return;
    if (e.type === 'device' && e.event?.type === 'state' && e.event.port) devices.set(e.event.port, e.event.state === 'connected');
  },
});
