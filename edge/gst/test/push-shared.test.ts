/**
 * Patch fix 10 (appsrc.pushShared: a frame in shared memory pushed without a copy, handed
 * back through a shared word). Asserted on what the owner of the memory sees: the bytes
 * GStreamer delivers are the shared memory itself (changed after the push, the pulled sample
 * shows the change); the lent bits stay set while a buffer is inside the pipeline and are
 * cleared, and only they, once GStreamer frees it, also when the push is refused; an element
 * that writes into the frame writes into its own copy; bad arguments throw and lend nothing.
 * Unpatched, appsrc has no pushShared.
 */
import t from 'tap';
import { GstPipeline, type ShareRelease } from '../index.js';
import { sleep, within } from './helpers.js';

const W = 64;
const H = 48;
const FRAME = (W * H * 3) / 2; // I420
const CAPS = `video/x-raw,format=I420,width=${W},height=${H},framerate=25/1`;

/** A shared region: a signal word at index 1, a frame at byte 64. */
function region(): { sab: SharedArrayBuffer; words: Int32Array; frame: Uint8Array } {
  const sab = new SharedArrayBuffer(64 + FRAME);
  return { sab, words: new Int32Array(sab, 0, 16), frame: new Uint8Array(sab, 64, FRAME) };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  await within(5000, what, (async () => { while (!cond()) await sleep(5); })());
}

t.test('a lent frame is the shared memory itself, and its bits clear only when GStreamer frees it', async (t) => {
  // enable-last-sample=false: a sink keeps the last buffer it rendered, by default.
  const p = new GstPipeline(`appsrc name=src format=time caps=${CAPS} ! queue ! appsink name=sink sync=false enable-last-sample=false`);
  t.teardown(() => p.close());
  p.start();
  // An appsink keeps its preroll buffer (the first) until it stops, and the last buffer it
  // gave out until the next: copied frames go before and after the lent one.
  t.ok(p.appsrc('src').push(new Uint8Array(FRAME), { ptsNs: 0, durationNs: 40_000_000 }), 'a first frame, copied');
  t.ok(await within(5000, 'the first sample', p.appsink('sink').pull()), 'pulled');
  const { words, frame } = region();
  words[1] = 0b101;
  const release: ShareRelease = { words, index: 1, mask: 0b100 };
  frame.fill(7);
  t.ok(p.appsrc('src').pushShared(frame, { ptsNs: 40_000_000, durationNs: 40_000_000 }, release), 'push accepted');
  await sleep(100);
  t.equal(Atomics.load(words, 1), 0b101, 'held while the buffer waits in the appsink');
  frame.fill(9); // not allowed to a real owner; here it shows there is no copy
  const s = await within(5000, 'a sample', p.appsink('sink').pull());
  t.ok(s, 'pulled');
  t.equal(s!.data.length, FRAME);
  t.ok(s!.data.every((b) => b === 9), 'the sample shows the shared memory as it is now: no copy was made');
  await sleep(100);
  t.equal(Atomics.load(words, 1), 0b101, 'still held: an appsink keeps the last buffer it gave out');
  t.ok(p.appsrc('src').push(new Uint8Array(FRAME), { ptsNs: 80_000_000, durationNs: 40_000_000 }), 'the next frame, copied');
  t.ok(await within(5000, 'the next sample', p.appsink('sink').pull()), 'pulled');
  await until('the lent bit cleared', () => Atomics.load(words, 1) === 0b001);
  t.equal(Atomics.load(words, 1), 0b001, 'only the lent bit was cleared');
});

t.test('an element that writes into a lent frame writes into its own copy', async (t) => {
  // videobalance adjusts the picture in place (the buffer it was given, made writable).
  const p = new GstPipeline(`appsrc name=src format=time caps=${CAPS} ! videobalance brightness=0.5 ! appsink name=sink sync=false enable-last-sample=false`);
  t.teardown(() => p.close());
  p.start();
  const { words, frame } = region();
  words[1] = 1;
  frame.fill(16, 0, W * H);
  frame.fill(128, W * H);
  t.ok(p.appsrc('src').pushShared(frame, { ptsNs: 0, durationNs: 40_000_000 }, { words, index: 1, mask: 1 }), 'push accepted');
  const s = await within(5000, 'a sample', p.appsink('sink').pull());
  const luma = s!.data.subarray(0, W * H);
  t.ok(luma.every((b) => b > 100), `the pulled frame is brightened (luma ${luma[0]})`);
  t.ok(frame.subarray(0, W * H).every((b) => b === 16), 'the shared frame is untouched');
  await until('the lent bit cleared', () => Atomics.load(words, 1) === 0);
});

t.test('a refused push hands the frame back at once; bad arguments throw and lend nothing', async (t) => {
  const p = new GstPipeline(`appsrc name=src format=time caps=${CAPS} ! fakesink enable-last-sample=false`);
  t.teardown(() => p.close());
  const src = p.appsrc('src');
  const { words, frame } = region();
  p.start();
  t.ok(src.endOfStream(), 'end of stream');
  words[1] = 0b11;
  const release = { words, index: 1, mask: 0b10 };
  t.notOk(src.pushShared(frame, { ptsNs: 0 }, release), 'refused after end of stream');
  t.equal(Atomics.load(words, 1), 0b01, 'its bit is cleared by the refusal itself');

  words[1] = 0b11;
  const plain = new Uint8Array(FRAME);
  t.throws(() => src.pushShared(plain, { ptsNs: 0 }, release), TypeError, 'memory that is not shared is refused');
  t.throws(() => src.pushShared(frame, { ptsNs: 0 }, { words: new Int32Array(4), index: 1, mask: 2 }), TypeError, 'a signal word not in shared memory is refused');
  t.throws(() => src.pushShared(frame, { ptsNs: 0 }, { words, index: 16, mask: 2 }), RangeError, 'an index past the words is refused');
  t.throws(() => src.pushShared(frame, { ptsNs: 0 }, { words, index: 1, mask: 0 }), TypeError, 'an empty mask is refused');
  t.throws(() => src.pushShared(frame, { ptsNs: -1 }, release), TypeError, 'a bad timestamp is refused');
  t.equal(Atomics.load(words, 1), 0b11, 'nothing was lent or released by the refusals');
  await p.stop({ eos: false });
  p.close();
  t.throws(() => src.pushShared(frame, { ptsNs: 0 }, release), { name: 'GstClosedError' }, 'after close: GstClosedError');
});

t.test('a hundred frames lent from four slots through x264enc all come back, and every one is encoded', async (t) => {
  const p = new GstPipeline(
    `appsrc name=src format=time caps=${CAPS} ! queue ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! appsink name=sink sync=false enable-last-sample=false`,
  );
  t.teardown(() => p.close());
  p.start();
  const sab = new SharedArrayBuffer(64 + 4 * FRAME);
  const words = new Int32Array(sab, 0, 16);
  const slots = [0, 1, 2, 3].map((i) => new Uint8Array(sab, 64 + i * FRAME, FRAME));
  const src = p.appsrc('src');
  const sink = p.appsink('sink');
  let aus = 0;
  const pulling = (async () => { for (let s = await sink.pull(); s; s = await sink.pull()) aus++; })();
  const eos = new Promise<void>((r) => p.once('eos', r));
  let refused = 0;
  for (let i = 0; i < 100; i++) {
    const slot = i % 4;
    await until(`slot ${slot} free for frame ${i}`, () => Atomics.load(words, slot) === 0);
    slots[slot].fill(i, 0, W * H);
    slots[slot].fill(128, W * H);
    Atomics.store(words, slot, 1);
    if (!src.pushShared(slots[slot], { ptsNs: i * 40_000_000, durationNs: 40_000_000 }, { words, index: slot, mask: 1 })) refused++;
  }
  t.equal(refused, 0, 'every push accepted');
  src.endOfStream();
  await within(20_000, 'EOS', eos);
  await p.stop();
  await pulling;
  t.equal(aus, 100, 'one access unit per frame');
  t.same([...words.subarray(0, 4)], [0, 0, 0, 0], 'every slot handed back');
});
