/**
 * The uplink's repair under loss (issue #15): 1080p30 at 8 Mb/s through the box's sending side
 * (real units: SRTP, RTX, SMPTE 2022-1 FEC), a seeded lossy link losing media and feedback
 * alike, RTT 20 ms, into the receiving end with a 200 ms buffer (test-rig/uplink/loss-run.ts).
 * One BENCH line per point:
 *   BENCH uplink loss model=<random|gilbert5> p=<loss> fec=<LxD[+rows]|none> residual=<rate>
 *     impaired_per_min=<n> overhead=<bytes sent / media> overhead_goal=<1.1/(1-p)> latency_p95_ms=<n> ...
 * Goals: 0 impaired frames in 10 minutes at 20 % random; <= 1 per minute at 25 % and in bursts;
 * overhead <= 1.1/(1-p). The 30 % and 40 % points have no goal: they show how hq degrades. `make bench` runs 60 s per point; `make bench-long` (ORBOX_BENCH_LONG=1)
 * runs the 10-minute points.
 * Each point is run a second time by stock GStreamer on both ends (test-rig/uplink/gst-baseline.py:
 * rtprtxsend + rtpst2022-1-fecenc into rtpbin; rtpbin with rtprtxreceive, rtpst2022-1-fecdec and
 * the RTCP and jitterbuffer tuning of the shared reference) through the same link with the same
 * seed and the same FEC shape, in the same run:
 *   BENCH uplink baseline model=... p=... fec=... residual=... impaired_per_min=... overhead=...
 *     box_residual=... residual_ratio=<box / baseline> impaired_ratio=... overhead_ratio=...
 * Ratios use max(x, 1 / judged packets) so a point where one side lost nothing stays finite.
 * The stream: x264 ultrafast on `snow` (every frame near the bitrate: ~29 packets per frame).
 * Run: node dist/test-rig/bench/uplink.bench.js
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { baselineRun, encodeTestStream, lossRun } from '../uplink/loss-run.js';

const LONG = process.env.ORBOX_BENCH_LONG === '1';
const SECONDS = Number(process.env.UPLINK_BENCH_S ?? (LONG ? 600 : 60));

async function main(): Promise<void> {
  const dir = join('var', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'snow-1080p30-8000k.h264');
  if (!existsSync(file)) {
    console.log('# encoding the 1080p30 8 Mb/s test stream (once, kept under var/bench)');
    await encodeTestStream(file, { width: 1920, height: 1080, fps: 30, kbps: 8000, seconds: 10, gop: 30 });
  }
  const points: { model: string; p: number; burst: number | null; fec: { columns: number; rows: number; rowFec: boolean } | null }[] = [
    { model: 'random', p: 0.1, burst: null, fec: { columns: 5, rows: 5, rowFec: false } },
    { model: 'random', p: 0.2, burst: null, fec: { columns: 5, rows: 5, rowFec: false } },
    { model: 'random', p: 0.2, burst: null, fec: null },
    { model: 'random', p: 0.25, burst: null, fec: { columns: 5, rows: 5, rowFec: false } },
    { model: 'gilbert5', p: 0.2, burst: 5, fec: { columns: 5, rows: 5, rowFec: false } },
    // Past the goals: how hq degrades when pinned (in auto the receiver is on lq by then).
    { model: 'random', p: 0.3, burst: null, fec: { columns: 5, rows: 5, rowFec: false } },
    { model: 'random', p: 0.4, burst: null, fec: { columns: 5, rows: 5, rowFec: false } },
  ];
  let base = 42_000;
  for (const pt of points) {
    const r = await lossRun({
      h264File: file, fps: 30, seconds: SECONDS, loss: pt.p, burst: pt.burst, delayMs: 10, latencyMs: 200, fec: pt.fec, rtx: true, seed: 1,
      ports: { sender: base, link: base + 10, receiver: base + 20 },
    });
    const goal = 1.1 / (1 - pt.p);
    const impairedGoal = pt.p > 0.25 ? Infinity : pt.model === 'random' && pt.p <= 0.2 ? 0 : 1;
    const fec = pt.fec ? `${pt.fec.columns}x${pt.fec.rows}${pt.fec.rowFec ? '+rows' : ''}` : 'none';
    console.log(
      `BENCH uplink loss model=${pt.model} p=${pt.p} fec=${fec} seconds=${SECONDS} media_packets=${r.mediaPackets} lost_before_repair=${r.lostBeforeRepair} ` +
        `residual=${r.residualRate.toExponential(2)} residual_packets=${r.residualLost} impaired_frames=${r.impairedFrames} impaired_per_min=${r.impairedPerMinute.toFixed(2)} ` +
        `overhead=${r.overhead.toFixed(3)} overhead_goal=${goal.toFixed(3)} latency_p50_ms=${r.latencyMs.p50.toFixed(1)} latency_p95_ms=${r.latencyMs.p95.toFixed(1)} ` +
        `rtx_repairs=${r.rtxRepairs} fec_repairs=${r.fecRepairs} nacks=${r.nacksSent} rate_limited=${r.rtxRateLimited} ` +
        `goal_met=${r.overhead <= goal && r.impairedPerMinute <= impairedGoal}`,
    );
    let b;
    try {
      b = await baselineRun({
        h264File: file, fps: 30, seconds: SECONDS, loss: pt.p, burst: pt.burst, delayMs: 10, latencyMs: 200, fec: pt.fec, rtx: true, seed: 1,
        ports: { sender: base, link: base + 10, receiver: base + 20 },
      });
    } catch (e) {
      // Seen in the shared reference: rtpbin with RTX + 2022-1 segfaults about one run in ten.
      console.log(`BENCH uplink baseline model=${pt.model} p=${pt.p} fec=${fec} failed=${JSON.stringify((e as Error).message)}`);
      base += 40;
      continue;
    }
    base += 40;
    const floor = 1 / Math.max(1, b.mediaPackets);
    const ratio = (x: number, y: number) => (Math.max(x, floor) / Math.max(y, floor)).toFixed(3);
    console.log(
      `BENCH uplink baseline model=${pt.model} p=${pt.p} fec=${fec} seconds=${SECONDS} media_packets=${b.mediaPackets} lost_before_repair=${b.lostBeforeRepair} ` +
        `residual=${b.residualRate.toExponential(2)} residual_packets=${b.residualLost} impaired_frames=${b.impairedFrames} impaired_per_min=${b.impairedPerMinute.toFixed(2)} ` +
        `overhead=${b.overhead.toFixed(3)} latency_p50_ms=${b.latencyMs.p50.toFixed(1)} latency_p95_ms=${b.latencyMs.p95.toFixed(1)} ` +
        `gst_rtx_packets=${b.gst.rtx_packets} gst_jb_lost=${b.gst.num_lost} ` +
        `box_residual=${r.residualRate.toExponential(2)} residual_ratio=${ratio(r.residualRate, b.residualRate)} ` +
        `impaired_ratio=${ratio(r.impairedFrames / Math.max(1, r.frames), b.impairedFrames / Math.max(1, b.frames))} overhead_ratio=${(r.overhead / b.overhead).toFixed(3)} ` +
        `latency_p95_ratio=${(r.latencyMs.p95 / Math.max(1, b.latencyMs.p95)).toFixed(3)}`,
    );
  }
}

main().then(() => process.exit(0), (e: Error) => { console.error(e); process.exit(1); });
