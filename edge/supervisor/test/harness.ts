/** Starting a real box (supervisor + nine worker threads) in a test, with a small config. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { validateConfig, type BoxConfig } from '../../config/index.js';
import type { WorkerName } from '../../lib/health.js';
import { Supervisor } from '../supervisor.js';

export function testConfig(over: Record<string, unknown> = {}): BoxConfig {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-sup-'));
  return validateConfig({
    box: { id: 'test-box', room: 'Test OR', dataDir: dir },
    api: { socket: join(dir, 'orbox.sock') },
    channels: [{
      name: 'cam', source: { type: 'test-pattern', width: 320, height: 240, fps: 30 },
      hq: { width: 320, height: 240, bitrateKbps: 500, gop: 20 }, lq: { width: 160, height: 120, bitrateKbps: 200, gop: 15 },
    }],
    audio: { inputs: [{ name: 'mic', device: 'test-tone' }] },
    log: { level: 'fatal' },
    debug: { faultInjection: true },
    ...over,
  }, 'test configuration');
}

export async function startBox(cfg = testConfig()): Promise<Supervisor> {
  const sup = new Supervisor(cfg);
  await sup.start();
  await sup.settled();
  return sup;
}

/** Resolves with the args of the first `event` matching `pred`, or rejects after `ms`. */
export function waitFor<T extends unknown[]>(sup: Supervisor, event: string, pred: (...a: T) => boolean, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { sup.off(event, on); reject(new Error(`no ${event} within ${ms} ms`)); }, ms);
    const on = (...a: T) => { if (pred(...a)) { clearTimeout(timer); sup.off(event, on); resolve(a); } };
    sup.on(event, on);
  });
}

export const nextReady = (sup: Supervisor, w: WorkerName, ms?: number) =>
  waitFor<[WorkerName, number]>(sup, 'worker-ready', (n) => n === w, ms);

export const pong = (sup: Supervisor, id: string, ms?: number) =>
  waitFor<[WorkerName, { type: string; id: string; incarnation: number }]>(sup, 'worker-event', (_n, e) => e.type === 'pong' && e.id === id, ms);

export { once };
