/**
 * The players the hospital uses, against a real box (supervisor + nine worker threads,
 * in-process, one 640x360 test-pattern channel at 30 fps encoded hq + lq):
 *  - GStreamer `rtspsrc ! rtph264depay ! avdec_h264` over UDP and over TCP (interleaved), and
 *    ffmpeg (`-rtsp_transport udp|tcp ... -f null -`, the RTSP client ffplay uses), all at once,
 *    each decoding at 30 fps +-5 % over 10 s with no decoder, depayloader or RTSP complaint;
 *  - VLC: cannot play RTSP on Debian 12 (no live555 module); the test says so and skips;
 *  - viewers' receiver reports in `orbox status --json`: a viewer behind a lossy link (10 %
 *    of RTP dropped, 15 ms each way) shows that loss and an RTT of about 30 ms; a direct
 *    viewer shows none and a few ms.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import type { BoxStatus } from '../../edge/control/status.js';
import type { ViewerReport } from '../../edge/rtp/receiver-reports.js';
import { freeTcpPort, rtspH264Viewer } from '../rtp/gst-peers.js';
import { FfmpegViewer, vlcRtspUnsupported, type Player } from '../rtp/players.js';
import { LossyRtspProxy } from '../rtp/lossy-rtsp-proxy.js';
import { sleep, streamsMounted, videoConfig } from './helpers.js';

const run = promisify(execFile);
const FPS = 30;
const PLAY_S = 10;
const orbox = fileURLToPath(new URL('../../../bin/orbox.js', import.meta.url));

async function startBox(t: { teardown(f: () => unknown): void }): Promise<{ sup: Supervisor; hq: string; lq: string; socket: string; port: number }> {
  const port = await freeTcpPort();
  const cfg = videoConfig(port, [{ name: 'endoscope', width: 640, height: 360, fps: FPS }]);
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  const hq = `rtsp://127.0.0.1:${port}/endoscope/hq`;
  const lq = `rtsp://127.0.0.1:${port}/endoscope/lq`;
  await streamsMounted(sup, [hq, lq]);
  return { sup, hq, lq, socket: cfg.api.socket, port };
}

/** What `orbox status --json` says, run as a user would. */
async function status(socket: string): Promise<BoxStatus> {
  const { stdout } = await run(process.execPath, [orbox, 'status', '--json', '--socket', socket]);
  return JSON.parse(stdout) as BoxStatus;
}

type NetStream = { url: string; viewers: ViewerReport[] };

t.test('rtspsrc and ffmpeg, each over UDP and TCP, all at once: 30 fps +-5 % decoded for 10 s, no complaint', async (t) => {
  const box = await startBox(t);
  // Join a stream that is already running, so mid-GOP: the server lets each viewer in at the
  // next keyframe, or the decoders would complain about missing reference pictures.
  await sleep(1500);
  const players: [string, Player][] = [
    ['rtspsrc udp hq', rtspH264Viewer(box.hq, 200, 'udp')],
    ['rtspsrc tcp hq', rtspH264Viewer(box.hq, 200, 'tcp')],
    ['ffmpeg udp hq', new FfmpegViewer(box.hq, 'udp')],
    ['ffmpeg tcp hq', new FfmpegViewer(box.hq, 'tcp')],
    ['rtspsrc tcp lq', rtspH264Viewer(box.lq, 200, 'tcp')],
    ['ffmpeg tcp lq', new FfmpegViewer(box.lq, 'tcp')],
  ];
  try {
    await Promise.all(players.map(([, p]) => p.waitFrames(1, 20_000)));
    // The rate is counted once every player decodes (start-up buffering is not part of it).
    await sleep(1000);
    const n0 = players.map(([, p]) => p.frameCount);
    const t0 = performance.now();
    await sleep(PLAY_S * 1000);
    const dt = (performance.now() - t0) / 1000;
    for (const [i, [name, p]] of players.entries()) {
      const fps = (p.frameCount - n0[i]) / dt;
      t.ok(Math.abs(fps - FPS) <= FPS * 0.05, `${name}: ${fps.toFixed(2)} fps decoded over ${dt.toFixed(1)} s`);
    }
  } finally {
    const results = await Promise.all(players.map(([, p]) => p.stop()));
    for (const [i, r] of results.entries()) {
      t.same(r.complaints, [], `${players[i][0]}: no decoder, depayloader or RTSP complaint (${r.frames} frames)`);
    }
  }
});

t.test('VLC', { skip: vlcRtspUnsupported() ?? false }, async (t) => {
  // Reached only where a VLC with its live555 RTSP client is installed, which no Debian 12
  // machine of this project has: there is no VLC runner to measure it with yet.
  t.fail('a VLC that can play RTSP is installed: add a VLC runner to test-rig/rtp/players.ts and measure it here');
});

t.test('viewers\' receiver reports in orbox status --json: a lossy path shows its loss and RTT, a direct viewer none', async (t) => {
  const box = await startBox(t);
  const proxy = new LossyRtspProxy({ upstreamHost: '127.0.0.1', upstreamPort: box.port, loss: 0.1, delayMs: 15, seed: 7 });
  await proxy.start();
  t.teardown(() => proxy.close());
  const path = '/endoscope/hq';
  const lossy = rtspH264Viewer(proxy.url(path), 200, 'udp');
  const direct = new FfmpegViewer(box.hq, 'udp');
  const tcp = rtspH264Viewer(box.hq, 200, 'tcp');
  try {
    await Promise.all([lossy, direct, tcp].map((p) => p.waitFrames(1, 20_000)));
    // rtspsrc reports every ~5 s (RFC 3550 minimum), ffmpeg every second: wait for two of
    // each, so the interval loss (from the cumulative counters) exists for all.
    let viewers: ViewerReport[] = [];
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      await sleep(1000);
      const net = (await status(box.socket)).video?.net as NetStream[];
      viewers = net.find((s) => s.url === box.hq)?.viewers ?? [];
      if (viewers.length >= 3 && viewers.every((v) => v.reports >= 3 && v.rttMs !== null)) break;
    }
    t.equal(viewers.length, 3, `three viewers (each its own session label) report on ${box.hq}: ${JSON.stringify(viewers)}`);
    const sessions = proxy.stats.sessions;
    t.equal(sessions, 1, 'the lossy viewer went through the proxy');
    // The lossy one is the viewer with loss; 10 % of RTP dropped by a seeded PRNG.
    const byLoss = [...viewers].sort((a, b) => b.cumulativeLost - a.cumulativeLost);
    const [worst, ...clean] = byLoss;
    const expected = worst.extendedHighestSequence; // packets the viewer expected, roughly (first seq is random)
    t.ok(worst.cumulativeLost > 20, `lossy viewer: ${worst.cumulativeLost} packets lost reported (${expected} highest seq)`);
    const loss = worst.intervalLoss ?? worst.fractionLost;
    const dropped = proxy.stats.rtpDropped / (proxy.stats.rtpDropped + proxy.stats.rtpForwarded);
    // The report lags the proxy's count by up to one report interval (~5 s of rtspsrc's).
    t.ok(worst.cumulativeLost <= proxy.stats.rtpDropped + 5 && worst.cumulativeLost >= 0.6 * proxy.stats.rtpDropped,
      `lossy viewer: ${worst.cumulativeLost} lost in its report, ${proxy.stats.rtpDropped} dropped by the proxy so far`);
    t.ok(loss >= 0.04 && loss <= 0.2, `lossy viewer: ${(loss * 100).toFixed(1)} % loss over its last report interval (the proxy dropped ${(dropped * 100).toFixed(1)} %: ${proxy.stats.rtpDropped} of ${proxy.stats.rtpDropped + proxy.stats.rtpForwarded})`);
    t.ok(worst.rttMs !== null && worst.rttMs >= 25 && worst.rttMs <= 100, `lossy viewer: RTT ${worst.rttMs} ms through 15 ms each way`);
    for (const v of clean) {
      t.ok(v.cumulativeLost <= 0, `direct viewer ${v.viewer}: ${v.cumulativeLost} lost`);
      t.ok(v.rttMs !== null && v.rttMs < 20, `direct viewer ${v.viewer}: RTT ${v.rttMs} ms`);
      t.ok(v.jitterMs >= 0 && v.jitterMs < 50, `direct viewer ${v.viewer}: jitter ${v.jitterMs} ms`);
    }
    // The human-readable status shows the same.
    const { stdout } = await run(process.execPath, [orbox, 'status', '--socket', box.socket]);
    t.match(stdout, /viewer .*: loss \d+\.\d% \(\d+ lost\), jitter [\d.]+ ms, RTT [\d.]+ ms/, 'orbox status lists the viewers');
  } finally {
    await Promise.all([lossy.stop(), direct.stop(), tcp.stop()]);
  }
});
