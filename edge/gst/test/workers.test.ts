/**
 * Patch fix 1 (worker_threads): the binding loads in several worker threads at once, each
 * runs its own pipeline concurrently with one on the main thread, and workers that exit —
 * cleanly, or terminated with a pipeline playing and a pull pending — are replaced by new ones
 * in the same process. Unpatched, the second worker aborts the process.
 */
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { GstPipeline } from '../index.js';
import { within } from './helpers.js';

const WORKER = new URL('./fixtures/gst-worker.js', import.meta.url);

interface Report { id: number; frames?: number; increasing?: boolean; error?: string }

function runWorker(id: number, exit: 'clean' | 'terminated'): Promise<{ report: Report; code: number }> {
  return new Promise((resolve, reject) => {
    // execArgv: [] keeps tap's loader hooks (seconds per worker) out of the workers.
    const w = new Worker(WORKER, { workerData: { id, frames: 20, exit }, execArgv: [] });
    let report: Report | undefined;
    w.on('message', (m: Report) => {
      report = m;
      if (exit === 'terminated') void w.terminate();
    });
    w.on('error', reject);
    w.on('exit', (code) => (report ? resolve({ report, code }) : reject(new Error(`worker ${id} exited (${code}) without a report`))));
  });
}

t.test('several worker threads each run a pipeline at once; exiting workers are replaced', async (t) => {
  // The main thread plays a pipeline through all rounds.
  const main = new GstPipeline('videotestsrc is-live=true ! video/x-raw,width=32,height=24,framerate=30/1 ! appsink name=sink max-buffers=2 drop=true');
  main.on('error', (e) => t.fail(e.message));
  main.start();
  const mainSink = main.appsink('sink');

  for (let round = 0; round < 3; round++) {
    const jobs = [0, 1, 2, 3].map((i) => runWorker(round * 10 + i, i % 2 ? 'terminated' : 'clean'));
    const t0 = Date.now();
    const results = await within(30_000, `round ${round}`, Promise.all(jobs));
    t.comment(`round ${round}: ${Date.now() - t0} ms`);
    for (const { report, code } of results) {
      t.equal(report.error, undefined, `worker ${report.id}: no pipeline error`);
      t.equal(report.frames, 20, `worker ${report.id}: pulled 20 frames`);
      t.ok(report.increasing, `worker ${report.id}: PTS increasing`);
      t.equal(code, report.id % 2 ? 1 : 0, `worker ${report.id}: exit code (terminated = 1)`);
    }
    t.ok(await within(5_000, 'main thread pull', mainSink.pull()), `round ${round}: main thread still pulls`);
  }
  await main.stop({ eos: false });
  main.close();
});
