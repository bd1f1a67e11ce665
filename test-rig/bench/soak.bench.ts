/**
 * Soak (issue #17, `make bench-long`): the demo as `make run` starts it (`orbox run` with
 * MALLOC_ARENA_MAX=2: two test-pattern channels at 1080p30 and 720p30 with the test tone,
 * recorded, the simulated monitor, the demo camera's decoded channel when it can start, the
 * web console, the endoscope's uplink), 4 ffmpeg viewers playing throughout (hq/lq, UDP/TCP)
 * and a fifth joining and leaving every 10 s, for ORBOX_SOAK_S seconds (default 3600 under
 * ORBOX_BENCH_LONG=1; `make bench` skips it: it is a long run). Runtime and data folders are
 * temporary; the ports are the demo's own (8554, 8443): no other demo may run meanwhile.
 *
 * Measured: the box's memory and descriptors, i.e. the `orbox run` process (supervisor and
 * nine worker threads) plus its RTSP server child, where the viewers' sessions live (the
 * monitor and camera simulators and the viewers stand for other machines and are left out).
 * Sampled every 20 s, each time 10 s after the joining viewer left, so every sample sees the
 * same set of viewers. Start: the samples of the five minutes after a one-minute warm-up
 * (a quarter of the samples in a shorter run); end: the last five minutes (quarter). RSS compared
 * by median (one sample can fall on a segment's finalisation), descriptors by minimum (a
 * segment file being cut is open twice for a moment).
 * Goals: RSS growth <= 5 %, no descriptor growth, every steady viewer still decoding at the end.
 * Prints `BENCH soak duration_s=… rss_start_mb=… rss_end_mb=… rss_growth_pct=… fds_start=… fds_end=… joins=… goal_met=…`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryAndFds, processTable } from '../procfs.js';
import { FfmpegViewer } from '../rtp/players.js';
import { sleep } from '../video/helpers.js';

const long = process.env.ORBOX_BENCH_LONG === '1';
const SOAK_S = Number(process.env.ORBOX_SOAK_S ?? (long ? 3600 : 0));
if (SOAK_S <= 0) {
  console.log('# soak: skipped (a long run: make bench-long, or ORBOX_SOAK_S=<seconds>)');
  process.exit(0);
}
const orbox = fileURLToPath(new URL('../../../bin/orbox.js', import.meta.url));

const base = mkdtempSync(join(tmpdir(), 'orbox-soak-'));
const env = { ...process.env, MALLOC_ARENA_MAX: '2', ORBOX_RUNTIME_DIR: join(base, 'run'), ORBOX_DATA_DIR: join(base, 'data') };
const box = spawn(process.execPath, [orbox, 'run'], { cwd: base, env, stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
box.stderr!.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
const url = (ch: string, role: string): string => `rtsp://127.0.0.1:8554/${ch}/${role}`;

let failure: string | undefined;
try {
  // The demo is up when an hq stream plays.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (box.exitCode !== null) throw new Error(`the demo exited (${box.exitCode}): ${stderr.slice(-1500)}`);
    const probe = new FfmpegViewer(url('endoscope', 'hq'), 'tcp');
    const ok = await probe.waitFrames(5, 5000).then(() => true, () => false);
    await probe.stop();
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`no stream from the demo in 60 s: ${stderr.slice(-1500)}`);
  }
  // The box's RTSP server child (edge/net/rtsp/server-child).
  const server = processTable().find((p) => p.ppid === box.pid && p.cmdline.includes('server-child'))?.pid;
  if (!server) throw new Error('the demo has no RTSP server child');
  const boxUsage = (): { rss: number; fds: number } => {
    const a = memoryAndFds(box.pid!), b = memoryAndFds(server);
    if (!a || !b) throw new Error(`the box lost a process (supervisor ${a ? 'up' : 'gone'}, RTSP server ${b ? 'up' : 'gone'}): ${stderr.slice(-1500)}`);
    return { rss: a.rssMb + b.rssMb, fds: a.fds + b.fds };
  };
  const steady = [
    new FfmpegViewer(url('endoscope', 'hq'), 'udp'), new FfmpegViewer(url('endoscope', 'lq'), 'tcp'),
    new FfmpegViewer(url('room', 'hq'), 'tcp'), new FfmpegViewer(url('room', 'lq'), 'udp'),
  ];
  await Promise.all(steady.map((v) => v.waitFrames(30, 20_000)));
  const t0 = Date.now();
  const samples: { at: number; rss: number; fds: number }[] = [];
  let joins = 0;
  while (Date.now() - t0 < SOAK_S * 1000) {
    // One viewer joins and leaves every 10 s, alternating transport and stream.
    const joiner = new FfmpegViewer(url(joins % 2 ? 'room' : 'endoscope', joins % 2 ? 'lq' : 'hq'), joins % 2 ? 'udp' : 'tcp');
    joins++;
    await sleep(10_000);
    await joiner.stop();
    await sleep(10_000);
    samples.push({ at: (Date.now() - t0) / 1000, ...boxUsage() });
  }
  const framesBefore = steady.map((v) => v.frameCount);
  await sleep(2000);
  const frames = steady.map((v, i) => v.frameCount - framesBefore[i]);
  await Promise.all(steady.map((v) => v.stop()));

  const after = samples.filter((s) => s.at >= Math.min(60, SOAK_S / 10));
  const k = Math.max(1, Math.min(15, Math.floor(after.length / 4))); // 15 samples: five minutes
  const first = after.slice(0, k);
  const last = after.slice(-k);
  const median = (xs: number[]): number => { const v = [...xs].sort((a, b) => a - b); return v.length ? (v[(v.length - 1) >> 1] + v[v.length >> 1]) / 2 : NaN; };
  const start = { rss: median(first.map((s) => s.rss)), fds: Math.min(...first.map((s) => s.fds)) };
  const end = { rss: median(last.map((s) => s.rss)), fds: Math.min(...last.map((s) => s.fds)) };
  const growth = Math.round(((end.rss - start.rss) / start.rss) * 1000) / 10;
  const met = first.length > 0 && last.length > 0 && growth <= 5 && end.fds <= start.fds && frames.every((f) => f > 0);
  console.log(`# soak samples (s:MB/fds): ${samples.map((s) => `${Math.round(s.at)}:${s.rss.toFixed(1)}/${s.fds}`).join(' ')}`);
  console.log(`# steady viewers' frames in the last 2 s: ${frames.join(' ')}; windows: ${first.length} and ${last.length} samples`);
  console.log(`BENCH soak duration_s=${SOAK_S} rss_start_mb=${start.rss.toFixed(1)} rss_end_mb=${end.rss.toFixed(1)} rss_growth_pct=${growth} fds_start=${start.fds} fds_end=${end.fds} joins=${joins} goal_met=${met}`);
} catch (e) {
  failure = (e as Error).message;
} finally {
  box.kill('SIGTERM');
  await new Promise((r) => { if (box.exitCode !== null) r(null); else box.once('exit', r); });
  rmSync(base, { recursive: true, force: true });
}
if (failure) {
  console.log(`BENCH soak duration_s=${SOAK_S} failed=${JSON.stringify(failure)}`);
  process.exit(1);
}
process.exit(0);
