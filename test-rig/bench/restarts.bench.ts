/**
 * Memory across worker restarts (issue #17): a real box (supervisor + nine worker threads, one
 * 640x360 test-pattern channel at 30 fps, recorded), video-encode restarted N times (fault
 * `exit`), then net-send N times, the process RSS read after each restart once the worker works
 * again (video-encode: its encoder started; net-send: its streams mounted).
 * Goal: RSS growth after the first restart <= 5 % over the N (the first restart's own growth,
 * lazily loaded code and the like, is the baseline), with the box's own allocator setting.
 *
 * The box runs with MALLOC_ARENA_MAX=2 (provision/systemd/orbox.service, `make run`): glibc
 * gives a thread that finds the arenas busy a new one, up to 8 per core, and every restarted
 * worker brings new threads (its own, GStreamer's streaming threads), so without the cap RSS
 * climbs by arenas for the first ~20 restarts (measured: +18.8 % over 30 restarts against
 * +3.8 % with the cap). Each setting is measured in a child process of its own in the same
 * run (the environment variable is read by glibc at process start), the unset one as the
 * baseline; the process CPU time of each is printed next to it, since the cap can cost
 * contention.
 * N: ORBOX_RESTARTS (default 50; about 1 s per video-encode and 3 s per net-send restart here);
 * ORBOX_RESTART_WORKERS picks the workers (default video-encode,net-send).
 * Prints `BENCH restarts <worker>_<setting>_rss_first_mb=… _rss_last_mb=… _growth_pct=… … goal_met=…`.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import type { WorkerName } from '../../edge/lib/health.js';
import { freeTcpPort } from '../rtp/gst-peers.js';
import { nextEvent, sleep, streamsMounted, videoConfig } from '../video/helpers.js';

const N = Number(process.env.ORBOX_RESTARTS ?? 50);
const WORKERS = (process.env.ORBOX_RESTART_WORKERS ?? 'video-encode,net-send').split(',') as WorkerName[];
const mb = (): number => Math.round(process.memoryUsage().rss / 1e5) / 10;

interface Result { worker: WorkerName; series: number[]; cpuS: number }

async function measure(): Promise<Result[]> {
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

  const out: Result[] = [];
  for (const w of WORKERS) {
    await restartOnce(w);
    (globalThis as { gc?: () => void }).gc?.();
    const cpu0 = process.cpuUsage();
    const series: number[] = [mb()];
    for (let i = 1; i < N; i++) {
      await restartOnce(w);
      series.push(mb());
    }
    const cpu = process.cpuUsage(cpu0);
    out.push({ worker: w, series, cpuS: Math.round((cpu.user + cpu.system) / 1e5) / 10 });
  }
  await sup.stop();
  return out;
}

if (process.env.ORBOX_RESTARTS_CHILD === '1') {
  process.stdout.write(`RESULT ${JSON.stringify(await measure())}\n`);
  process.exit(0);
}

const settings: { name: string; arenaMax: string | undefined }[] = [
  { name: 'glibc_default', arenaMax: undefined },
  { name: 'arena_max_2', arenaMax: '2' },
];
let ok = true;
const growthOf = (s: number[]): number => Math.round(((s.at(-1)! - s[0]) / s[0]) * 1000) / 10;
const results = new Map<string, Result[]>();
for (const s of settings) {
  const env: NodeJS.ProcessEnv = { ...process.env, ORBOX_RESTARTS_CHILD: '1' };
  delete env.MALLOC_ARENA_MAX;
  if (s.arenaMax) env.MALLOC_ARENA_MAX = s.arenaMax;
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`restarts bench (${s.name}): the child exited ${r.status ?? r.signal} without a result`);
  results.set(s.name, JSON.parse(line.slice(7)) as Result[]);
}
for (const w of WORKERS) {
  const key = w.replace('-', '_');
  const fields: string[] = [`${key}_restarts=${N}`];
  for (const s of settings) {
    const r = results.get(s.name)!.find((x) => x.worker === w)!;
    console.log(`# ${w}, ${s.name}: RSS after restarts 1..${N} (MB): ${r.series.join(' ')}; process CPU ${r.cpuS} s`);
    fields.push(`${key}_${s.name}_rss_first_mb=${r.series[0]}`, `${key}_${s.name}_rss_last_mb=${r.series.at(-1)}`, `${key}_${s.name}_growth_pct=${growthOf(r.series)}`, `${key}_${s.name}_cpu_s=${r.cpuS}`);
  }
  const box = results.get('arena_max_2')!.find((x) => x.worker === w)!;
  const met = growthOf(box.series) <= 5;
  ok &&= met;
  console.log(`BENCH restarts ${fields.join(' ')} goal_met=${met}`);
}
console.log(`# restarts: ${ok ? 'goal met' : 'goal NOT met'} (RSS growth <= 5 % after the first restart, MALLOC_ARENA_MAX=2 as the box runs)`);
