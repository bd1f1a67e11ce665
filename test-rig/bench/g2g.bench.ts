/**
 * Glass-to-glass latency benchmark (issue #15). Prints `BENCH g2g <metric>=<value> ...` lines:
 *
 * (a) 1080p30 8 Mb/s through the box over RTSP (stamped frames into a `gst` channel over shm,
 *     `orbox run` as a child process, rtspsrc latency=0 -> avdec_h264 reading the stamps)
 *     against plain GStreamer on the same frames in the same run (x264enc zerolatency
 *     ultrafast -> RTP/UDP -> avdec_h264): p50/p95/p99 of each, and p95_box / p95_plain
 *     against the goal 1.25 (test-rig/latency/g2g.ts).
 *     The box's lq stream (640x360, 800 kb/s) is read too (`rtsp_lq` line), against the same
 *     plain figure: the low-latency stream must stay low when hq's encoder falls behind.
 * (b) Where the box's time goes: medians per hop, from glass (`hops` line).
 * (c) The uplink path at 0 % loss (`uplink` line): the box's hq pushed over SRTP to a receiver
 *     keyed from the box's SDP (srtpdec -> rtpjitterbuffer -> the same decoder), against the same
 *     plain figure; the receive buffer (200 ms, paid only when a packet is missing) apart. Goal:
 *     p95 <= the receive buffer + 1.25x the plain pipeline's.
 *
 * The machine is shared (2 vCPUs): figures are noisy; the ratio is within one run.
 * Env: G2G_BENCH_S (measured seconds, default 40), G2G_BENCH_WIDTH/HEIGHT (default 1920x1080).
 * Run: node dist/test-rig/bench/g2g.bench.js
 */
import { measureGlassToGlass, type G2gResult } from '../latency/g2g.js';

const GOAL = 1.25;
const W = Number(process.env.G2G_BENCH_WIDTH ?? 1920);
const H = Number(process.env.G2G_BENCH_HEIGHT ?? 1080);
const KBPS = Number(process.env.G2G_BENCH_KBPS ?? 8000);
const S = Number(process.env.G2G_BENCH_S ?? 40);

const fmt = (label: string, r: G2gResult['box']): string =>
  `${label}_p50_ms=${r.p50} ${label}_p95_ms=${r.p95} ${label}_p99_ms=${r.p99} ${label}_max_ms=${r.max} ${label}_frames=${r.n} ${label}_unreadable=${r.unreadable} ${label}_missing=${r.missing}`;

async function main(): Promise<void> {
  const r = await measureGlassToGlass({
    width: W, height: H, fps: 30, hqKbps: KBPS, gop: 30,
    lq: { width: 640, height: 360, kbps: 800 },
    durationS: S, warmupS: 5, hops: true, lqToo: true, uplink: true,
    note: (m) => console.log(`# ${m}`),
  });
  const ratio = r.box.p95 / r.plain.p95;
  const size = `${W}x${H}p30_${KBPS}k`;
  console.log(`BENCH g2g rtsp ${fmt('box', r.box)} ${fmt('plain', r.plain)} ratio_p95=${ratio.toFixed(2)} goal=${GOAL} goal_met=${ratio <= GOAL} stamped=${r.stamped} source_late=${r.sourceLate} stream=${size}`);
  if (r.boxLq) console.log(`BENCH g2g rtsp_lq ${fmt('box_lq', r.boxLq)} ratio_p95=${(r.boxLq.p95 / r.plain.p95).toFixed(2)} stream=640x360p30_800k (the plain pipeline is the hq one above)`);
  if (r.uplink) {
    const u = r.uplink, buf = r.uplinkBufferMs!;
    console.log(`BENCH g2g uplink ${fmt('uplink', u)} receive_buffer_ms=${buf} ratio_p95=${(u.p95 / r.plain.p95).toFixed(2)} goal=p95<=${buf}+${GOAL}x_plain=${(buf + GOAL * r.plain.p95).toFixed(1)} goal_met=${u.n > 0 && u.p95 <= buf + GOAL * r.plain.p95} stream=${size} loss=0`);
  }
  const h = r.hops!;
  console.log(
    `BENCH g2g hops_median_ms glass_to_capture_stamp=${h.glassToCaptureStamp} glass_to_capture_appsink=${h.glassToCaptureAppsink} ` +
      `capture_to_encoded_ring=${h.captureToEncodedRing} capture_to_rtp_sent=${h.captureToRtpSent} ` +
      `box_glass_to_depay=${h.boxGlassToDepay} box_glass_to_decoded=${h.boxGlassToDecoded} ` +
      `plain_glass_to_depay=${h.plainGlassToDepay} plain_glass_to_decoded=${h.plainGlassToDecoded} ` +
      `box_capture_to_rtp_p99=${r.boxStatus.rtpP99} box_encode_p99=${r.boxStatus.encodeP99}`,
  );
}

await main();
