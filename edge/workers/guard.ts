/**
 * guard worker: liveness of the box.
 *
 * Every heartbeat period it reads the health table and decides, for each other worker:
 * dead (exited or threw: the supervisor marked it) or hung (heartbeat older than
 * guard.hangMs; starting for longer than guard.startTimeoutMs) -> ask the supervisor to
 * restart it, at once for the first three failures in a row, then with capped exponential
 * backoff and jitter (a worker that keeps crashing must not spin the CPU the others need).
 * A worker that has run for STABLE_MS forgets its failures. It writes the box's health
 * verdict (every worker ready, every heartbeat fresh) that the supervisor needs before it
 * pets the systemd watchdog and the OTA agent needs before it marks an update good.
 *
 * The guard's own liveness is watched by the supervisor directly.
 */
import { Fault, WORKER_NAMES, WorkerState, monoNs, type WorkerName } from '../lib/health.js';
import { STABLE_MS, countFailure, runWorker, type WorkerContext } from '../runtime/index.js';

let running = true;

function tick(ctx: WorkerContext): void {
  const h = ctx.health;
  const g = ctx.config.guard;
  const now = monoNs();
  let healthy = true;
  for (const w of WORKER_NAMES) {
    if (w === ctx.name) continue;
    const st = h.state(w);
    let fault = Fault.None;
    if (st === WorkerState.Dead) fault = Fault.None; // the supervisor recorded why
    else if (st === WorkerState.Ready && h.heartbeatAgeMs(w, now) > g.hangMs) fault = Fault.Hung;
    else if (st === WorkerState.Starting && h.heartbeatAgeMs(w, now) > g.startTimeoutMs) fault = Fault.StartTimeout;
    if (st === WorkerState.Ready && h.readyAtNs(w) > 0n && Number(now - h.readyAtNs(w)) / 1e6 > STABLE_MS && h.failsInRow(w) > 0) {
      h.setFailsInRow(w, 0);
    }
    if (st !== WorkerState.Ready || fault !== Fault.None) healthy = false;
    if (st === WorkerState.Dead || fault !== Fault.None) requestRestart(ctx, w, fault);
  }
  h.healthy = healthy;
}

function requestRestart(ctx: WorkerContext, w: WorkerName, fault: Fault): void {
  const h = ctx.health;
  if (fault !== Fault.None) { h.setFault(w, fault); }
  h.setState(w, WorkerState.Backoff);
  const { fails, delayMs } = countFailure(h, w, ctx.config.guard);
  ctx.log.warn({ target: w, fault: Fault[fault].toLowerCase(), fails, delayMs }, 'restart requested');
  ctx.post({ type: 'restart', worker: w, fault, delayMs });
}

let loop: Promise<void> | undefined;

runWorker({
  start(ctx) {
    loop = (async () => {
      while (running) {
        tick(ctx);
        await ctx.health.waitForChange(ctx.config.guard.heartbeatMs);
      }
    })();
  },
  async stop() {
    running = false;
    await loop;
  },
});
