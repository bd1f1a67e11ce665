/**
 * Glass to glass, end to end (g2g.ts), short: 5 s of stamped 640x360p30 frames through the box
 * (`orbox run` child, a `gst` channel over shm, RTSP, rtspsrc latency=0) and through plain
 * GStreamer in the same run. Asserts the probe works (nearly every frame stamped in the window
 * is read back on both paths, none misread: an unreadable frame is counted, not guessed) and
 * that the box's p95 stays under a bound generous enough for a loaded CI machine: 4x the plain
 * pipeline's p95 of the same run, and never under 25 ms. (A source pipeline that held one
 * frame, as a plain videorate did, put the box's p95 at 44-46 ms against the plain's 7-13.)
 * The figures themselves are the bench's: test-rig/bench/g2g.bench.ts.
 */
import t from 'tap';
import { measureGlassToGlass } from '../g2g.js';

t.test('g2g: stamps read back on both paths; the box p95 within 4x the plain pipeline', async (t) => {
  const r = await measureGlassToGlass({
    width: 640, height: 360, fps: 30, hqKbps: 1500, gop: 30,
    lq: { width: 320, height: 180, kbps: 300 },
    durationS: 5, warmupS: 2, record: true, hops: true,
  });
  t.comment(`box ${JSON.stringify(r.box)}`);
  t.comment(`plain ${JSON.stringify(r.plain)}`);
  t.comment(`hops ${JSON.stringify(r.hops)}`);
  t.ok(r.stamped >= 140, `${r.stamped} frames stamped in 5 s`);
  for (const [name, s] of [['box', r.box], ['plain', r.plain]] as const) {
    t.ok(s.n >= r.stamped * 0.9, `${name}: ${s.n} of ${r.stamped} stamps read back`);
    t.ok(s.unreadable <= r.stamped * 0.02, `${name}: ${s.unreadable} frames unreadable (damaged reads are reported, not misread)`);
    t.ok(s.p50 > 0 && s.p50 <= s.p95 && s.p95 <= s.max, `${name}: latencies are positive and ordered (p50 ${s.p50}, p95 ${s.p95}, max ${s.max} ms)`);
  }
  const bound = Math.max(4 * r.plain.p95, 25);
  t.ok(r.box.p95 <= bound, `box p95 ${r.box.p95} ms <= ${bound.toFixed(1)} ms (4x plain p95 ${r.plain.p95} ms, at least 25)`);
  const h = r.hops!;
  t.ok(h.glassToCaptureAppsink < 1000 / 30, `the capture source holds no frame: glass -> capture appsink ${h.glassToCaptureAppsink} ms`);
  t.ok(h.boxGlassToDepay <= h.boxGlassToDecoded && h.plainGlassToDepay <= h.plainGlassToDecoded, 'depayloaded before decoded, on both paths');
});
