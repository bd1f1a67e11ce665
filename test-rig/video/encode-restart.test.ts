/**
 * video-encode restarted while GStreamer holds frames it was lent (edge/video/frame-feed.ts:
 * raw frames go to the pipeline in their ring slots, handed back when GStreamer frees them). The
 * worker is killed three ways, hang last (terminated from outside with its pipeline playing).
 * After each restart an RTSP viewer decodes the channel again at its rate, the new encoder
 * lends its frames again, and capture finds free slots: a hand-back lost in a restart would
 * leave slots held for ever and capture dropping frames, a late one could free a slot under
 * the new encoder (its frames then show a later picture; the viewer's decoder would not
 * notice, the slot ring's counters do: frames dropped by capture).
 */
import t from 'tap';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import { rtspUrls } from '../../edge/video/index.js';
import { slotRingStats } from '../../edge/lib/ring/index.js';
import { nextReady } from '../../edge/supervisor/test/harness.js';
import { freeTcpPort, rtspH264Viewer } from '../rtp/gst-peers.js';
import { nextEvent, sleep, streamsMounted, videoConfig } from './helpers.js';

const FPS = 30;

t.test('video-encode killed three ways while frames are lent: back, lending again, every slot handed back', async (t) => {
  const port = await freeTcpPort();
  const cfg = videoConfig(port, [{ name: 'cam', width: 320, height: 240, fps: FPS }], { debug: { faultInjection: true } });
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  const url = rtspUrls(cfg).find((u) => u.role === 'hq')!.url;
  await streamsMounted(sup, [url]);
  const raw = sup.rings.get('raw.cam')!.sab;
  const encodeStats = async (): Promise<{ framesIn: number; framesLent: number }> =>
    ((await nextEvent(sup, (e) => e.type === 'encode-stats', 5000)).channels as Record<string, { framesIn: number; framesLent: number }>).cam;

  for (const mode of ['exit', 'throw', 'hang'] as const) {
    const s0 = await encodeStats();
    t.ok(s0.framesLent > 0 && s0.framesLent >= s0.framesIn - 5, `before ${mode}: ${s0.framesLent} of ${s0.framesIn} frames lent`);
    const back = nextReady(sup, 'video-encode', 10_000);
    sup.send('video-encode', { type: 'fault', mode });
    await back;
    const dropped0 = slotRingStats(raw).framesDropped;
    await streamsMounted(sup, [url]);
    const viewer = rtspH264Viewer(url);
    try {
      await viewer.waitFrames(10, 15_000);
      const n0 = viewer.frameCount;
      const t0 = performance.now();
      await sleep(2000);
      const rate = (viewer.frameCount - n0) / ((performance.now() - t0) / 1000);
      t.ok(rate >= FPS * 0.9, `after ${mode}: the viewer decodes at ${rate.toFixed(1)} fps`);
    } finally {
      const r = await viewer.stop();
      t.same(r.complaints, [], `after ${mode}: no decoder or depayloader warning`);
    }
    const s1 = await encodeStats();
    t.ok(s1.framesLent > 0 && s1.framesLent >= s1.framesIn - 5, `after ${mode}: the new encoder lends again (${s1.framesLent} of ${s1.framesIn})`);
    const st = slotRingStats(raw);
    t.equal(st.framesDropped - dropped0, 0, `after ${mode}: capture always found a free slot`);
  }
});
