/**
 * A net-send restart is a short stall, never an end of stream (#17): a real box (one channel,
 * RTSP on loopback) is watched by three real players at once, ffmpeg over UDP, ffmpeg over TCP
 * (RTP interleaved) and GStreamer's rtspsrc, while net-send is killed three ways by the debug
 * fault injection (`orbox debug fault net-send exit|throw|hang`, here its local-API call) and
 * the guard restarts it. The RTSP server child is the supervisor's (RtspServerHost), so the
 * viewers' sessions stay; the restarted net-send continues each stream's SSRC, sequence and
 * timestamps. Measured per player: decoded frames over time, sampled every 20 ms (ffmpeg
 * reports its count every 0.1 s), and the longest gap between two increases; none may exit.
 * Then the box stops: the streams really end, and the players must see it (RTCP BYE) and exit
 * by themselves instead of waiting on silence. No zombie child is left at any point.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { callLocalApi } from '../../edge/control/local-api.js';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import { freeTcpPort, rtspH264Viewer } from '../rtp/gst-peers.js';
import { FfmpegViewer, type Player } from '../rtp/players.js';
import { sleep, streamsMounted, videoConfig } from './helpers.js';

const FAULTS = ['exit', 'throw', 'hang'] as const;

/** Children of this process in state Z (exited, never reaped). */
function zombies(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).trim();
  return out ? out.split('\n').filter((l) => /^\s*\d+\s+Z/.test(l)) : [];
}

t.test('net-send killed by exit, throw and hang while ffmpeg (UDP, TCP) and rtspsrc play: none exits, every stall < 1 s', async (t) => {
  const cfg = videoConfig(await freeTcpPort(), [{ name: 'endoscope', width: 640, height: 360, fps: 30 }], { debug: { faultInjection: true } });
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  const url = `rtsp://127.0.0.1:${cfg.rtsp.port}/endoscope/hq`;
  await streamsMounted(sup, [url]);

  const players: [string, Player][] = [
    ['ffmpeg udp', new FfmpegViewer(url, 'udp')],
    ['ffmpeg tcp', new FfmpegViewer(url, 'tcp')],
    ['rtspsrc', rtspH264Viewer(url, 200, 'udp')],
  ];
  t.teardown(() => Promise.all(players.map(([, p]) => p.stop(2000))));
  await Promise.all(players.map(([, p]) => p.waitFrames(30, 20_000)));

  // Sample every player's decoded-frame count; a gap is the time between two increases.
  const seen = players.map(([, p]) => ({ frames: p.frameCount, at: performance.now(), longest: 0, longestAt: '', perPhase: new Map<string, number>() }));
  let phase = 'before the faults';
  const sampler = setInterval(() => {
    const now = performance.now();
    players.forEach(([, p], i) => {
      const s = seen[i]!;
      if (p.frameCount > s.frames) {
        const gap = now - s.at;
        if (gap > s.longest) { s.longest = gap; s.longestAt = phase; }
        s.perPhase.set(phase, Math.max(s.perPhase.get(phase) ?? 0, Math.round(gap)));
        s.frames = p.frameCount;
        s.at = now;
      }
    });
  }, 20);
  t.teardown(() => clearInterval(sampler));

  await sleep(2000);
  for (const mode of FAULTS) {
    phase = `net-send ${mode}`;
    const restarted = new Promise<void>((r) => {
      const on = (name: string): void => { if (name === 'net-send') { sup.off('worker-ready', on); r(); } };
      sup.on('worker-ready', on);
    });
    const t0 = performance.now();
    let restartAt = 0;
    sup.once('restart', () => { restartAt = performance.now() - t0; });
    await callLocalApi(cfg.api.socket, 'fault', { worker: 'net-send', mode }, 10_000);
    await restarted;
    t.comment(`${mode}: restart ordered ${Math.round(restartAt)} ms, net-send ready ${Math.round(performance.now() - t0)} ms after the fault was sent`);
    const before = players.map(([, p]) => p.frameCount);
    await sleep(4000);
    players.forEach(([name, p], i) => t.ok(p.frameCount > before[i]! + 60, `${mode}: ${name} decoded ${p.frameCount - before[i]!} frames in the 4 s after net-send came back`));
    t.same(zombies(), [], `${mode}: no zombie child`);
  }
  clearInterval(sampler);
  phase = 'after';
  players.forEach(([name, p], i) => {
    const s = seen[i]!;
    t.ok(p.running, `${name} is still playing (${p.frameCount} frames)`);
    t.ok(s.longest < 1000, `${name}: longest gap between decoded frames ${Math.round(s.longest)} ms (${s.longestAt}) < 1 s; per phase ${JSON.stringify(Object.fromEntries(s.perPhase))}`);
  });

  // A real end: the box stops, its streams end, and the players are told so.
  const stopped = Date.now();
  await sup.stop();
  const ends = await Promise.all(players.map(([, p]) => Promise.race([p.ended().then((code) => ({ code, ms: Date.now() - stopped })), sleep(10_000).then(() => null)])));
  players.forEach(([name], i) => {
    const e = ends[i];
    t.ok(e !== null, e ? `${name} ended by itself ${e.ms} ms after the box stopped (exit ${e.code})` : `${name} still waiting 10 s after the box stopped`);
  });
  t.same(zombies().filter((z) => !/ffmpeg|gst-launch/.test(z)), [], 'no zombie child after the box stopped');
});
