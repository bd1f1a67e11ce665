/**
 * A stalled hq encoder must not hold up the channel's other branches: the lq stream (the
 * low-latency one) keeps every frame at its latency while hq falls behind. The channel's real
 * x86-x264 pipeline (buildChannelPipeline, appsrc input) runs in-process with an
 * `identity sleep-time` in front of the hq encoder making it a 5 fps encoder; 60 frames are
 * pushed at 30 fps. When the hq queue blocked the tee (non-leaky), lq ran at hq's pace and
 * its frames waited up to the appsrc's second of queue.
 */
import t from 'tap';
import { GstPipeline } from '../../edge/gst/index.js';
import { buildChannelPipeline, validateProfile } from '../index.js';
import { x86X264 } from '../profiles/x86-x264.js';

const W = 640, H = 360, FPS = 30, FRAME_NS = Math.round(1e9 / FPS);

t.test('a stalled hq encoder does not delay lq', async (t) => {
  const profile = validateProfile(structuredClone(x86X264));
  profile.roles.hq.width = W;
  profile.roles.hq.height = H;
  profile.roles.lq.width = 320;
  profile.roles.lq.height = 180;
  const built = buildChannelPipeline(profile, { channel: 'c', input: { kind: 'appsrc', width: W, height: H, fps: FPS }, roles: ['hq', 'lq'] });
  // 200 ms per hq frame: a 5 fps encoder.
  const desc = built.description.replace(/(x264enc name=c-hq-enc)/, 'identity sleep-time=200000 ! $1');
  t.not(desc, built.description, 'the stall is in the hq branch');
  const p = new GstPipeline(desc);
  p.start();
  const pushedAt: bigint[] = [];
  const lqLatencyMs: number[] = [];
  let hqAus = 0;
  const drain = async (role: 'hq' | 'lq'): Promise<void> => {
    const sink = p.appsink(built.names.sinks[role]!);
    const buf = new Uint8Array(1 << 20);
    let off: number | undefined;
    for (;;) {
      const s = await sink.pullInto(buf);
      const at = process.hrtime.bigint();
      if (!s) return;
      if (role === 'hq') { hqAus++; continue; }
      off ??= s.ptsNs!; // the first AU is frame 0 (x264enc adds a constant to every PTS)
      const k = Math.round((s.ptsNs! - off) / FRAME_NS);
      if (pushedAt[k] !== undefined) lqLatencyMs.push(Number(at - pushedAt[k]) / 1e6);
    }
  };
  const loops = [drain('hq'), drain('lq')];
  const frame = new Uint8Array((W * H * 3) / 2).fill(90);
  for (let k = 0; k < 60; k++) {
    pushedAt.push(process.hrtime.bigint());
    frame.fill(k * 4, 0, W * 8); // something changes every frame
    p.appsrc('c-src').push(frame, { ptsNs: k * FRAME_NS, durationNs: FRAME_NS });
    await new Promise((r) => setTimeout(r, 1000 / FPS));
  }
  await new Promise((r) => setTimeout(r, 300));
  p.close();
  await Promise.all(loops);
  lqLatencyMs.sort((a, b) => a - b);
  const median = lqLatencyMs[lqLatencyMs.length >> 1] ?? Infinity;
  t.ok(hqAus < 25, `hq is the slow one: ${hqAus} access units`);
  t.ok(lqLatencyMs.length >= 54, `lq keeps (nearly) every frame: ${lqLatencyMs.length} of 60`);
  t.ok(median < 100, `lq median push -> access unit ${median.toFixed(1)} ms, under 100 ms`);
});
