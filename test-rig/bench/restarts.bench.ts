/**
 * Memory across worker restarts (issue #17): a real box in this process (supervisor + nine
 * worker threads, one 640x360 test-pattern channel at 30 fps, recorded), video-encode restarted
 * N times (fault `exit`), then net-send N times, the process RSS read after each restart once
 * the worker works again (video-encode: its encoder started; net-send: its streams mounted).
 * Goal: RSS growth after the first restart <= 5 % over the N (the first restart's own growth,
 * allocator arenas and lazily loaded code, is the baseline).
 * N: ORBOX_RESTARTS (default 50; about 1 s per video-encode and 3 s per net-send restart here);
 * ORBOX_RESTART_WORKERS picks the workers (default video-encode,net-send).
 * Prints `BENCH restarts <worker>_rss_first_mb=… <worker>_rss_last_mb=… <worker>_growth_pct=… goal_met=…`.
 */
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import type { WorkerName } from '../../edge/lib/health.js';
import { freeTcpPort } from '../rtp/gst-peers.js';
import { nextEvent, sleep, streamsMounted, videoConfig } from '../video/helpers.js';

const N = Number(process.env.ORBOX_RESTARTS ?? 50);
const mb = (): number => Math.round(process.memoryUsage().rss / 1e5) / 10;

const port = await freeTcpPort();
const base = videoConfig(port, [{ name: 'endoscope' }], {
  debug: { faultInjection: true },
  guard: { heartbeatMs: 100, hangMs: 2000, startTimeoutMs: 10_000, stopTimeoutMs: 5_000, backoffMs: 10, backoffMaxMs: 100 },
});
const sup = new Supervisor(base);
await sup.start();
const url = `rtsp://127.0.0.1:${port}/endoscope/hq`;
await streamsMounted(sup, [url]);

async function restartOnce(w: WorkerName): Promise<void> {
  const back = w === 'video-encode'
    ? nextEvent(sup, (e) => e.type === 'encoder-started', 20_000)
    : nextEvent(sup, (e) => e.type === 'net-stats' && (e.streams as { url: string; mounted: boolean }[]).some((s) => s.url === url && s.mounted), 20_000);
  // After the old incarnation's last event: wait for one that the new incarnation sends.
  await sleep(300);
  sup.send(w, { type: 'fault', mode: 'exit' });
  await back;
  await sleep(200);
}

let ok = true;
for (const w of (process.env.ORBOX_RESTART_WORKERS ?? 'video-encode,net-send').split(',') as WorkerName[]) {
  await restartOnce(w);
  global.gc?.();
  const first = mb();
  const series: number[] = [first];
  for (let i = 1; i < N; i++) {
    await restartOnce(w);
    series.push(mb());
  }
  const last = series.at(-1)!;
  const growth = Math.round(((last - first) / first) * 1000) / 10;
  const met = growth <= 5;
  ok &&= met;
  console.log(`# ${w}: RSS after restarts 1..${N} (MB): ${series.join(' ')}`);
  console.log(`BENCH restarts ${w.replace('-', '_')}_restarts=${N} ${w.replace('-', '_')}_rss_first_mb=${first} ${w.replace('-', '_')}_rss_last_mb=${last} ${w.replace('-', '_')}_growth_pct=${growth} goal_met=${met}`);
}
await sup.stop();
console.log(`# restarts: ${ok ? 'goal met' : 'goal NOT met'} (RSS growth <= 5 % after the first restart)`);
process.exit(0);
