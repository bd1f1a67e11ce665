/**
 * Patch fix 6 (no memory growth): 500 create/play/pull/stop/close cycles of a pipeline with a
 * tee, queues, an appsink and bus polling leave RSS bounded, and pipelines left to the garbage
 * collector are released too. Unpatched, the GstPipeline was never unreferenced (~12 KB per
 * cycle, linear), and every appsink lookup leaked ~20 KB of V8 heap (templates).
 *
 * The bound is deliberately generous: after 300 warm-up cycles (V8's young generation and
 * malloc arenas grow to their working size), 500 more cycles may add at most 4 MB of RSS
 * (8 KB per cycle; measured here: 0.1-3 MB). The unpatched leak alone adds ~6 MB.
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

t.test('RSS bounded over 500 create/play/stop/close cycles', async (t) => {
  await within(60_000, 'warm-up', (async () => { for (let i = 0; i < 300; i++) await cycle(true); })());
  gc();
  const rss0 = process.memoryUsage().rss;
  await within(90_000, '500 cycles', (async () => {
    for (let i = 0; i < 500; i++) {
      await cycle(true);
      if (i % 100 === 99) gc();
    }
  })());
  gc();
  const growth = process.memoryUsage().rss - rss0;
  t.ok(growth < 4 * 1024 * 1024, `RSS growth over 500 cycles: ${(growth / 1024).toFixed(0)} KB (bound 4096 KB)`);
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
