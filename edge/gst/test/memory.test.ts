/**
 * Patch fix 6 (no memory growth): 1000 create/play/pull/stop/close cycles of a pipeline with a
 * tee, queues, an appsink and bus polling leave RSS bounded, and pipelines left to the garbage
 * collector are released too. Unpatched, the GstPipeline was never unreferenced (~12 KB per
 * cycle, linear), and every appsink lookup leaked ~20 KB of V8 heap (templates).
 *
 * A leak grows RSS in every stretch of cycles; malloc does not: after 300 warm-up cycles (V8's
 * young generation and malloc arenas grow to their working size) RSS still moves in steps
 * of up to ~5 MB now and then (an arena of a GStreamer thread growing or given back), once
 * or twice in 500 cycles or not at all; on a loaded machine in half the stretches of a run
 * (1152, 0, 1408, 640, 1152, 2432, 128, 0, 0, -2436 KB in a CI run). A bound on the whole
 * run's growth therefore failed about one run in four with or without a leak nearby, and one on
 * the median of the stretches now and then too. The test reads RSS every 100 cycles and bounds
 * the third smallest of ten stretches at 600 KB (6 KB per cycle): steps land in some stretches,
 * a leak in all of them. The unpatched leak is ~1.2 MB per stretch.
 */
import t from 'tap';
import v8 from 'node:v8';
import vm from 'node:vm';
import { GstPipeline } from '../index.js';
import { within } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const DESC =
  'videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! tee name=t ! queue ! appsink name=sink t. ! queue ! fakesink';

async function cycle(close: boolean): Promise<GstPipeline> {
  const p = new GstPipeline(DESC);
  p.on('error', () => {});
  p.start();
  await p.appsink('sink').pull();
  await p.stop({ eos: false });
  if (close) p.close();
  return p;
}

t.test('RSS does not grow with create/play/stop/close cycles', async (t) => {
  await within(60_000, 'warm-up', (async () => { for (let i = 0; i < 300; i++) await cycle(true); })());
  gc();
  const rss = [process.memoryUsage().rss];
  await within(120_000, '1000 cycles', (async () => {
    for (let i = 0; i < 1000; i++) {
      await cycle(true);
      if (i % 100 === 99) { gc(); rss.push(process.memoryUsage().rss); }
    }
  })());
  const kb = rss.slice(1).map((r, i) => Math.round((r - rss[i]) / 1024));
  const third = [...kb].sort((a, b) => a - b)[2];
  t.ok(third < 600, `RSS growth per 100 cycles: ${kb.join(', ')} KB; third smallest ${third} KB (bound 600 KB)`);
});

t.test('pipelines left to the garbage collector are released', async (t) => {
  let finalized = 0;
  const registry = new FinalizationRegistry(() => finalized++);
  await within(60_000, '200 cycles', (async () => {
    for (let i = 0; i < 200; i++) registry.register(await cycle(false), i);
  })());
  for (let i = 0; i < 5 && finalized < 200; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(finalized >= 190, `${finalized} of 200 unclosed pipelines collected`);
});

t.test('close() is idempotent and ends pending pulls; stop() before start() is a no-op', async (t) => {
  const p = new GstPipeline('videotestsrc is-live=true ! video/x-raw,framerate=1/1 ! appsink name=sink');
  t.same(await p.stop(), { drained: false }, 'stop in created');
  p.start();
  const sink = p.appsink('sink');
  await sink.pull(); // the first frame comes at once, the next in 1 s
  const pending = sink.pull();
  p.close();
  p.close();
  t.equal(p.state, 'closed');
  t.equal(await within(5_000, 'pending pull', pending), null, 'pending pull resolved null by close');
  t.equal(await sink.pull(), null, 'pull after close is null');
  t.throws(() => p.start(), { name: 'GstClosedError' });
  t.same(await p.stop(), { drained: false }, 'stop after close');
});
