/**
 * Patch fix 7 (pull into the caller's memory) and fix 8 (capture time of a live source).
 *  - pull(cb, into) copies the sample into the caller's typed array, also one on a
 *    SharedArrayBuffer (a slot of the raw ring), gives its size, and allocates no Buffer: the
 *    process's ArrayBuffer memory does not grow over hundreds of 1080p frames, where pull()
 *    allocates a 3 MB Buffer per frame.
 *  - A sample larger than `into` reports its whole size and copies only what fits.
 *  - baseTime() + PTS of a live source is when it captured the frame on process.hrtime's clock:
 *    not after the frame reached JavaScript, and not long before.
 * Unpatched, pull ignores its second argument (every size check below fails) and baseTime
 * does not exist.
 */
import t from 'tap';
import { createRequire } from 'node:module';
import type * as Binding from 'gstreamer-superficial';
import { GstPipeline } from '../index.js';
import { within } from './helpers.js';

const W = 1920;
const H = 1080;
const FRAME = (W * H * 3) / 2;

function source(frames: number, live = false): GstPipeline {
  return new GstPipeline(
    `videotestsrc num-buffers=${frames} pattern=smpte is-live=${live} ! video/x-raw,format=NV12,width=${W},height=${H},framerate=30/1 ` +
      `! appsink name=sink sync=false max-buffers=4`,
  );
}

t.test('pullInto copies each frame into shared memory, byte-identical to pull()', async (t) => {
  const a = source(3);
  const b = source(3);
  a.start();
  b.start();
  const slot = new Uint8Array(new SharedArrayBuffer(FRAME + 64), 64, FRAME);
  for (let i = 0; i < 3; i++) {
    const viaPull = await within(10_000, 'pull', a.appsink('sink').pull());
    const viaInto = await within(10_000, 'pullInto', b.appsink('sink').pullInto(slot));
    t.ok(viaPull && viaInto, `frame ${i} pulled both ways`);
    t.equal(viaInto!.size, FRAME, 'size is the NV12 frame size');
    t.equal(viaInto!.ptsNs, viaPull!.ptsNs, 'same PTS');
    t.ok(Buffer.compare(Buffer.from(slot.buffer, slot.byteOffset, slot.byteLength), viaPull!.data) === 0, 'same bytes');
  }
  t.equal(await b.appsink('sink').pullInto(slot), null, 'null at end of stream');
  a.close();
  b.close();
});

t.test('a destination smaller than the sample gets what fits and learns the real size', async (t) => {
  const p = source(1);
  p.start();
  // smpte's first rows are bars of bright luma, never 0xee
  const small = new Uint8Array(1000).fill(0xee);
  const got = await within(10_000, 'pullInto', p.appsink('sink').pullInto(small));
  t.equal(got?.size, FRAME, 'the whole size is reported');
  t.notOk(small.some((x) => x === 0xee), 'the first 1000 bytes were copied');
  p.close();
  const gst = createRequire(import.meta.url)('gstreamer-superficial') as typeof Binding;
  const raw = new gst.Pipeline('videotestsrc num-buffers=1 ! appsink name=sink');
  const sink = raw.findChild('sink') as Binding.AppSink;
  t.throws(() => (sink.pull as (cb: () => void, into: unknown) => void)(() => {}, 'not bytes'), /typed array/, 'a destination that is not a typed array is refused by name');
  raw.dispose();
});

t.test('pullInto allocates nothing per frame; pull allocates a Buffer per frame', async (t) => {
  const frames = 240;
  const into = new Uint8Array(new SharedArrayBuffer(FRAME));
  let p = source(frames);
  p.start();
  let sink = p.appsink('sink');
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  let n = 0;
  for (; n < frames; n++) {
    if (!(await within(10_000, 'pullInto', sink.pullInto(into)))) break;
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }
  p.close();
  t.equal(n, frames, 'every frame pulled');
  // 240 allocations of 3 MB would pass this bound long before the collector runs.
  t.ok(peak - before < 4 * FRAME, `pullInto: ArrayBuffer memory grew by ${((peak - before) / 1e6).toFixed(1)} MB over ${frames} 1080p frames (less than 4 frames)`);
  // The reference: pull() hands out a fresh Buffer, backed by its own memory, every time.
  p = source(20);
  p.start();
  sink = p.appsink('sink');
  const backing = new Set<ArrayBufferLike>();
  for (let s = await sink.pull(); s; s = await sink.pull()) backing.add(s.data.buffer);
  p.close();
  t.equal(backing.size, 20, 'pull: 20 frames, 20 separately allocated buffers');
});

t.test('baseTime + PTS of a live source is its capture time on the hrtime clock', async (t) => {
  const p = source(40, true);
  t.equal(p.baseTimeNs(), null, 'no base time before the pipeline plays');
  p.start();
  const sink = p.appsink('sink');
  const into = new Uint8Array(FRAME);
  const ages: number[] = [];
  for (let i = 0; i < 40; i++) {
    const s = await within(10_000, 'live pull', sink.pullInto(into));
    const arrival = Number(process.hrtime.bigint());
    if (!s) break;
    const base = p.baseTimeNs();
    t.ok(base !== null && s.ptsNs !== null, 'base time and PTS known');
    ages.push((arrival - (base! + s.ptsNs!)) / 1e6);
  }
  p.close();
  t.equal(ages.length, 40, 'every live frame pulled');
  t.ok(ages.every((a) => a >= 0), `capture time never after arrival (min ${Math.min(...ages).toFixed(2)} ms)`);
  const sorted = [...ages].sort((a, b) => a - b);
  t.ok(sorted[20] < 100, `median capture-to-JS age ${sorted[20].toFixed(2)} ms (under 100 ms: the same clock)`);
});
