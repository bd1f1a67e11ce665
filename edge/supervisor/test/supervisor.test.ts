import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WORKER_NAMES, WorkerState, type WorkerName } from '../../lib/health.js';
import { ringStats } from '../../lib/ring/index.js';
import { restartDelay } from '../../runtime/index.js';
import { nextReady, pong, startBox, testConfig, waitFor } from './harness.js';
import { Supervisor } from '../supervisor.js';

const run = promisify(execFile);
const cli = new URL('../../../../bin/orbox.js', import.meta.url).pathname;

t.test('all nine workers start, report ready and answer through their inbox rings', async (t) => {
  const sup = await startBox();
  t.teardown(() => sup.stop());
  for (const w of WORKER_NAMES) t.equal(sup.health.state(w), WorkerState.Ready, `${w} ready`);
  const answers = await Promise.all(WORKER_NAMES.map((w) => { const p = pong(sup, `hello-${w}`); sup.send(w, { type: 'ping', id: `hello-${w}` }); return p; }));
  t.same(answers.map(([n]) => n), [...WORKER_NAMES], 'every worker answered its own ping');
  const inbox = ringStats(sup.rings.get('inbox.net-send')!.sab);
  t.equal(inbox.consumers[0].recordsRead, 1, 'the ping travelled through the inbox ring');
  // The guard writes its verdict on its next tick.
  for (const end = Date.now() + 2000; !sup.health.healthy && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
  t.ok(sup.health.healthy, 'the guard says the box is healthy');
});

t.test('the ring wiring follows the design table', async (t) => {
  const sup = await startBox();
  t.teardown(() => sup.stop());
  const wiring = Object.fromEntries([...sup.rings.values()].map(({ spec }) => [spec.name, `${spec.producer} -> ${spec.consumers.join(',')}`]));
  t.match(wiring, {
    'raw.cam': 'video-capture -> video-encode',
    'video.cam.hq': 'video-encode -> net-send',
    'video.cam.lq': 'video-encode -> net-send',
    'pcm.mic': 'audio-capture -> audio-encode,duplex-voice',
    'audio.mic': 'audio-encode -> net-send',
    vitals: 'device-data -> net-send,control',
    'inbox.guard': 'supervisor -> guard',
  });
  // Every consumer attached its cursor when it started.
  for (const { spec, sab } of sup.rings.values()) {
    if (spec.type === 'record') t.equal(ringStats(sab).consumers.length, spec.consumers.length, `${spec.name}: all consumers attached`);
  }
});

t.test('what is sent to a worker before it first attaches its inbox reaches it', async (t) => {
  const sup = new Supervisor(testConfig());
  t.teardown(() => sup.stop());
  // start() allocates the rings and spawns the threads before its first await: these land in
  // every inbox before any worker has run a line (a recorder's early segment-opened to control
  // is the case that lost a vitals track from a case).
  const starting = sup.start();
  const pongs = WORKER_NAMES.map((w) => pong(sup, `early-${w}`, 15_000));
  for (const w of WORKER_NAMES) sup.send(w, { type: 'ping', id: `early-${w}` });
  await starting;
  const got = await Promise.all(pongs);
  t.same(got.map(([n]) => n), [...WORKER_NAMES], 'every worker answered the message sent before it started');
});

t.test('each of the nine workers killed three ways is back within 1 s and gets what was sent meanwhile', async (t) => {
  const sup = await startBox();
  t.teardown(() => sup.stop());
  const worst: Record<string, number> = {};
  for (const w of WORKER_NAMES) {
    for (const mode of ['exit', 'throw', 'hang'] as const) {
      const before = sup.health.snapshot(w).restarts;
      const back = nextReady(sup, w, 5000);
      const t0 = performance.now();
      const marks: string[] = [];
      const mark = (what: string) => (n: WorkerName) => { if (n === w) marks.push(`${what} ${(performance.now() - t0).toFixed(0)}`); };
      const onExit = mark('exit'), onRestart = mark('restart');
      sup.on('worker-exit', onExit); sup.on('restart', onRestart);
      sup.send(w, { type: 'fault', mode });
      if (mode !== 'hang') await waitFor(sup, 'worker-exit', (n: WorkerName) => n === w, 3000);
      // Sent while the worker is dead (or hung): they wait in its inbox ring.
      const ids = [1, 2, 3].map((i) => `${w}-${mode}-${i}`);
      const pongs = ids.map((id) => pong(sup, id, 6000));
      for (const id of ids) sup.send(w, { type: 'ping', id });
      const [, incarnation] = await back;
      const ms = performance.now() - t0;
      sup.off('worker-exit', onExit); sup.off('restart', onRestart);
      t.comment(`${w} ${mode}: ${marks.join(', ')}, ready ${ms.toFixed(0)}`);
      worst[mode] = Math.max(worst[mode] ?? 0, ms);
      t.ok(ms < 1000, `${w} ${mode}: back in ${ms.toFixed(0)} ms`);
      const got = await Promise.all(pongs);
      t.ok(got.every(([, e]) => e.incarnation === incarnation), `${w} ${mode}: the 3 records sent meanwhile reached the new incarnation`);
      t.equal(sup.health.snapshot(w).restarts, before + 1, `${w} ${mode}: one restart counted`);
    }
  }
  t.comment(`slowest recovery: ${Object.entries(worst).map(([m, v]) => `${m} ${v.toFixed(0)} ms`).join(', ')}`);
});

t.test('a worker that keeps failing is restarted with backoff, and status shows it', async (t) => {
  const cfg = testConfig({ guard: { backoffMs: 300, backoffMaxMs: 2000 } });
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  const delays: number[] = [];
  sup.on('restart', (n: WorkerName, _f: number, delayMs: number) => { if (n === 'audio-encode') delays.push(delayMs); });
  for (let i = 0; i < 5; i++) {
    const back = nextReady(sup, 'audio-encode', 8000);
    sup.send('audio-encode', { type: 'fault', mode: 'exit' });
    await back;
  }
  t.same(delays.slice(0, 3), [0, 0, 0], 'the first three restarts are immediate');
  t.ok(delays[3] >= 150 && delays[3] <= 300, `4th restart waits ${delays[3]} ms (300 ms with jitter)`);
  t.ok(delays[4] >= 300 && delays[4] <= 600, `5th restart waits ${delays[4]} ms (600 ms with jitter)`);
  const { stdout } = await run(process.execPath, [cli, 'status', '--json', '--socket', cfg.api.socket]);
  const s = JSON.parse(stdout);
  const ae = s.workers.find((w: { name: string }) => w.name === 'audio-encode');
  t.match(ae, { stateName: 'ready', restarts: 5, lastFault: 'exited', failsInRow: 5 });
  const human = (await run(process.execPath, [cli, 'status', '--socket', cfg.api.socket])).stdout;
  t.match(human, /audio-encode\s+ready\s+5\s+\d+ ms\s+exited/);
  t.match(human, /pcm\.mic\s+512 KiB/);
});

t.test('restart backoff policy: immediate three times, then doubling with jitter, capped', async (t) => {
  t.same([1, 2, 3].map((n) => restartDelay(n, 250, 30_000, () => 0)), [0, 0, 0]);
  t.same([4, 5, 6, 7].map((n) => restartDelay(n, 250, 30_000, () => 0)), [250, 500, 1000, 2000]);
  t.equal(restartDelay(30, 250, 30_000, () => 0), 30_000);
  t.equal(restartDelay(4, 250, 30_000, () => 1), 125, 'jitter takes off up to half');
});

t.test('a box that cannot make its CPU wake-up latency request runs without it and says why', async (t) => {
  const cfg = testConfig({ cpu: { wakeLatencyUs: 0 } });
  const device = `${cfg.box.dataDir}/no-such-pm-qos-device`;
  const sup = new Supervisor(cfg, { cpuLatencyDevice: device });
  t.teardown(() => sup.stop());
  await sup.start();
  const status = JSON.parse((await run(process.execPath, [cli, 'status', '--json', '--socket', cfg.api.socket])).stdout);
  t.same(status.cpu, { requestedUs: 0, held: false, error: `cannot open ${device}: ENOENT` }, 'status --json: not held, and why');
  t.equal(status.box.healthy, true, 'every worker runs all the same');
  const human = (await run(process.execPath, [cli, 'status', '--socket', cfg.api.socket])).stdout;
  t.match(human, `cpu wake-up latency: NOT HELD (cannot open ${device}: ENOENT)`);
});

t.test('fault injection is refused unless the configuration enables it', async (t) => {
  const cfg = testConfig({ debug: { faultInjection: false } });
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  await t.rejects(run(process.execPath, [cli, 'debug', 'fault', 'net-send', 'exit', '--socket', cfg.api.socket]), /fault injection is off/);
  sup.send('net-send', { type: 'fault', mode: 'exit' });
  const [, e] = await (async () => { const p = pong(sup, 'after'); sup.send('net-send', { type: 'ping', id: 'after' }); return p; })();
  t.equal(e.incarnation, 1, 'net-send ignored the fault and is still its first incarnation');
});
