/**
 * The uplink's repair against loss, the short version of test-rig/bench/uplink.bench.ts: the
 * box's sending side with its real units, a seeded lossy link losing the media and the feedback
 * alike (RTT 20 ms), and the receiving end with a 200 ms buffer (loss-run.ts). The bounds are
 * well above the goals (a noisy CI machine must not fail them); the bench reports the figures.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baselineRun, encodeTestStream, lossRun } from '../loss-run.js';

const file = join(mkdtempSync(join(tmpdir(), 'orbox-loss-test-')), 's360.h264');
const ports = () => { const b = 41_000 + 40 * Math.floor(Math.random() * 500); return { sender: b, link: b + 10, receiver: b + 20 }; };

t.before(() => encodeTestStream(file, { width: 640, height: 360, fps: 30, kbps: 2000, seconds: 10, gop: 30 }));

for (const [name, loss, burst, maxResidual] of [['20 % random', 0.2, null, 1e-2], ['20 % in Gilbert bursts of 5', 0.2, 5, 3e-2]] as const) {
  t.test(`${name} both ways, RTT 20 ms, 200 ms buffer: repaired to a residual under ${maxResidual}, within the overhead bound`, async (t) => {
    const r = await lossRun({ h264File: file, fps: 30, seconds: 15, loss, burst, delayMs: 10, latencyMs: 200, fec: { columns: 5, rows: 5, rowFec: false }, rtx: true, seed: 11, ports: ports() });
    t.comment(JSON.stringify(r));
    t.ok(r.mediaPackets > 3000, `${r.mediaPackets} media packets sent`);
    t.ok(r.lostBeforeRepair > r.mediaPackets * loss * 0.6, `${r.lostBeforeRepair} lost on the way (before repair)`);
    t.ok(r.rtxRepairs > 0 && r.fecRepairs > 0, `repaired by RTX (${r.rtxRepairs}) and FEC (${r.fecRepairs})`);
    t.ok(r.residualRate <= maxResidual, `residual loss ${r.residualRate.toExponential(2)} (${r.residualLost} packets) <= ${maxResidual}`);
    t.ok(r.overhead <= r.lossFloor * 1.1 * 1.2, `bytes sent / media ${r.overhead.toFixed(3)} <= 1.2 x the goal ${(r.lossFloor * 1.1).toFixed(3)}`);
    t.ok(r.latencyMs.p95 <= 200 + 100, `send -> in order at the receiver p95 ${r.latencyMs.p95.toFixed(0)} ms`);
  });
}

t.test('the stock-GStreamer baseline (gst-baseline.py) runs through the same link and is judged alike: it repairs, and what it loses is counted', async (t) => {
  const r = await baselineRun({ h264File: file, fps: 30, seconds: 8, loss: 0.1, burst: null, delayMs: 10, latencyMs: 200, fec: { columns: 5, rows: 5, rowFec: false }, rtx: true, seed: 11, ports: ports() });
  t.comment(JSON.stringify(r));
  t.ok(r.mediaPackets > 1500 && r.frames > 200, `${r.mediaPackets} media packets, ${r.frames} frames judged`);
  t.ok(r.lostBeforeRepair > r.mediaPackets * 0.1 * 0.6, `${r.lostBeforeRepair} lost on the way`);
  t.ok((r.gst.rtx_packets ?? 0) > 0, `rtprtxsend answered ${r.gst.rtx_packets} NACKs`);
  t.ok(r.residualLost < r.lostBeforeRepair / 3, `GStreamer repaired most: ${r.residualLost} of ${r.lostBeforeRepair} left`);
  t.ok(r.overhead > 1.2 && r.overhead < 1.6, `bytes sent / media ${r.overhead.toFixed(3)} (FEC 1/5 + RTX + RTCP)`);
});
