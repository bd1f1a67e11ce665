/**
 * The capture source's rate fitting (capture.ts FIT_RATE): a `gst` channel's frames reach the
 * capture appsink as they come, none held for the next (a plain videorate held each one frame
 * interval, 33 ms at 30 fps); a faster source is thinned to the channel's rate, a slower one
 * passes at its own. The source is an appsrc standing in for the description.
 */
import t from 'tap';
import { GstPipeline } from '../../gst/index.js';
import { sourceDescription } from '../capture.js';
import type { ChannelConfig } from '../../config/index.js';

const W = 320, H = 240;

function channel(srcFps: number): ChannelConfig {
  return {
    name: 'cam',
    source: { type: 'gst', width: W, height: H, fps: 30, description: `appsrc name=src is-live=true format=time caps=video/x-raw,format=NV12,width=${W},height=${H},framerate=${srcFps}/1` },
  } as ChannelConfig;
}

/** Pushes `n` frames at `srcFps` (timestamps on the pipeline clock); per frame the push -> appsink time (ms). */
async function run(srcFps: number, n: number): Promise<{ out: number; heldMs: number[] }> {
  const p = new GstPipeline(sourceDescription(channel(srcFps), 'NV12'));
  p.start();
  const frame = new Uint8Array((W * H * 3) / 2);
  const pushedAt: bigint[] = [];
  const heldMs: number[] = [];
  let out = 0;
  const sink = p.appsink('capture-sink');
  const pulling = (async () => {
    for (;;) {
      const s = await sink.pullInto(frame);
      if (!s) return;
      const at = process.hrtime.bigint();
      // The frame's own PTS says which push it was.
      const base = p.baseTimeNs()!;
      const k = pushedAt.findIndex((x) => Math.abs(Number(x) - (base + s.ptsNs!)) < 1e6);
      if (k >= 0) heldMs.push(Number(at - pushedAt[k]) / 1e6);
      out++;
    }
  })();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    pushedAt.push(t0);
    p.appsrc('src').push(frame, { ptsNs: Number(t0) - p.baseTimeNs()! });
    await new Promise((r) => setTimeout(r, 1000 / srcFps));
  }
  await new Promise((r) => setTimeout(r, 150));
  p.close();
  await pulling;
  return { out, heldMs: heldMs.sort((a, b) => a - b) };
}

t.test('a source at the channel rate: every frame at once, its own PTS', async (t) => {
  const { out, heldMs } = await run(30, 30);
  t.equal(out, 30, 'every frame out, the last one too (nothing waits for a next frame)');
  t.equal(heldMs.length, 30, 'each frame keeps the PTS it was pushed with');
  const median = heldMs[15] ?? Infinity;
  t.ok(median < 10, `median push -> appsink ${median.toFixed(2)} ms, under 10 (a held frame is 33)`);
});

t.test('a 60 fps source is thinned to 30, a 25 fps one passes at 25', async (t) => {
  const fast = await run(60, 60);
  t.ok(fast.out >= 27 && fast.out <= 33, `60 frames in a second -> ${fast.out} out`);
  const slow = await run(25, 25);
  t.equal(slow.out, 25, 'no frame duplicated, none dropped');
});
