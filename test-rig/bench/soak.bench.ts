/**
 * Soak (issue #17, `make bench-long`): a real box in this process (supervisor + nine workers,
 * the demo's two 640x360 30 fps test-pattern channels, recorded), 4 ffmpeg viewers playing
 * throughout (hq/lq, UDP/TCP) and a fifth joining and leaving every 10 s, for ORBOX_SOAK_S
 * seconds (default 3600 under ORBOX_BENCH_LONG=1; `make bench` skips it: it is a long run).
 * Process RSS and open file descriptors are sampled every 10 s.
 * Goals: RSS growth <= 5 % and no fd growth from the first minute (or the first tenth of a
 * shorter run) to the end; every steady viewer still decoding at the end.
 * Prints `BENCH soak duration_s=… rss_start_mb=… rss_end_mb=… rss_growth_pct=… fds_start=… fds_end=… joins=… goal_met=…`.
 */
import { readdirSync } from 'node:fs';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import { freeTcpPort } from '../rtp/gst-peers.js';
import { FfmpegViewer } from '../rtp/players.js';
import { sleep, streamsMounted, videoConfig } from '../video/helpers.js';

const long = process.env.ORBOX_BENCH_LONG === '1';
const SOAK_S = Number(process.env.ORBOX_SOAK_S ?? (long ? 3600 : 0));
if (SOAK_S <= 0) {
  console.log('# soak: skipped (a long run: make bench-long, or ORBOX_SOAK_S=<seconds>)');
  process.exit(0);
}
const mb = (): number => Math.round(process.memoryUsage().rss / 1e5) / 10;
const fds = (): number => readdirSync('/proc/self/fd').length;

const port = await freeTcpPort();
const sup = new Supervisor(videoConfig(port, [{ name: 'endoscope' }, { name: 'room' }]));
await sup.start();
const url = (ch: string, role: string): string => `rtsp://127.0.0.1:${port}/${ch}/${role}`;
await streamsMounted(sup, [url('endoscope', 'hq'), url('endoscope', 'lq'), url('room', 'hq'), url('room', 'lq')]);
const steady = [
  new FfmpegViewer(url('endoscope', 'hq'), 'udp'), new FfmpegViewer(url('endoscope', 'lq'), 'tcp'),
  new FfmpegViewer(url('room', 'hq'), 'tcp'), new FfmpegViewer(url('room', 'lq'), 'udp'),
];
const t0 = Date.now();
const warmS = Math.min(60, SOAK_S / 10);
let start: { rss: number; fds: number } | undefined;
let joins = 0;
let joiner: FfmpegViewer | undefined;
const samples: string[] = [];
while (Date.now() - t0 < SOAK_S * 1000) {
  // One viewer joins and leaves every 10 s, alternating transport and stream.
  if (joiner) { await joiner.stop(); joiner = undefined; } else { joiner = new FfmpegViewer(url(joins % 2 ? 'room' : 'endoscope', 'hq'), joins % 2 ? 'udp' : 'tcp'); joins++; }
  await sleep(10_000);
  const el = (Date.now() - t0) / 1000;
  if (!start && el >= warmS) start = { rss: mb(), fds: fds() };
  samples.push(`${Math.round(el)}s:${mb()}MB/${fds()}fd`);
}
await joiner?.stop();
const end = { rss: mb(), fds: fds() };
const frames = steady.map((v) => v.frameCount);
await Promise.all(steady.map((v) => v.stop()));
await sup.stop();
const s = start ?? end;
const growth = Math.round(((end.rss - s.rss) / s.rss) * 1000) / 10;
const met = growth <= 5 && end.fds <= s.fds && frames.every((f) => f > 0);
console.log(`# soak samples: ${samples.join(' ')}`);
console.log(`# steady viewers' frames: ${frames.join(' ')}`);
console.log(`BENCH soak duration_s=${SOAK_S} rss_start_mb=${s.rss} rss_end_mb=${end.rss} rss_growth_pct=${growth} fds_start=${s.fds} fds_end=${end.fds} joins=${joins} goal_met=${met}`);
process.exit(0);
