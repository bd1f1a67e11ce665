/**
 * Patch fix 4 (no libuv threadpool starvation): 8 live channels x 3 appsinks, all pulled
 * without pause, and 8 bus polls, spread over two worker threads, while the main thread's fs
 * calls (which need the threadpool, 4 threads by default, shared by every thread of the
 * process) keep completing. Unpatched, each pending pull and each bus poll holds a threadpool
 * thread inside a blocking GStreamer call, so four of them starve fs forever.
 */
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { within, sleep } from './helpers.js';

const WORKER = new URL('./fixtures/channels-worker.js', import.meta.url);

t.test('8 channels x 3 appsinks + bus polls across workers; fs.readFile still completes', async (t) => {
  t.equal(process.env.UV_THREADPOOL_SIZE ?? '4', '4', 'default threadpool size (4)');
  const workers = [0, 1].map(() => new Worker(WORKER, { workerData: { channels: 4 }, execArgv: [] }));
  const messages = workers.map((w) => {
    const queue: Array<Record<string, unknown>> = [];
    w.on('message', (m: Record<string, unknown>) => {
      if (m.error) t.fail(`pipeline error: ${String(m.error)}`);
      queue.push(m);
    });
    return queue;
  });
  const next = (i: number, key: string): Promise<Record<string, unknown>> =>
    (async () => {
      for (;;) {
        const k = messages[i].findIndex((m) => key in m);
        if (k >= 0) return messages[i].splice(k, 1)[0];
        await sleep(10);
      }
    })();

  await within(30_000, 'every appsink delivered', Promise.all([next(0, 'ready'), next(1, 'ready')]));

  // While all 24 appsinks have pulls pending and 8 buses are polled:
  const self = fileURLToPath(import.meta.url);
  const started = Date.now();
  for (let i = 0; i < 40; i++) {
    await within(5_000, `fs call ${i}`, Promise.all([readFile(self), stat(self)]));
  }
  t.pass(`80 fs calls completed in ${Date.now() - started} ms with every pull pending`);
  await sleep(500);

  for (const w of workers) w.postMessage('counts');
  const counts = (await within(10_000, 'counts', Promise.all([next(0, 'counts'), next(1, 'counts')])))
    .flatMap((m) => m.counts as number[]);
  t.equal(counts.length, 24, '24 appsinks');
  t.ok(counts.every((c) => c >= 10), `every appsink kept delivering (min ${Math.min(...counts)} samples)`);

  await within(10_000, 'workers exit', Promise.all(workers.map((w) => {
    const exited = new Promise((r) => w.once('exit', r));
    w.postMessage('close');
    return exited;
  })));
});
