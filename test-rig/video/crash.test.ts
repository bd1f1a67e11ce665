/**
 * kill -9 of the whole box (`orbox run` as a child process) mid-recording, ten times, on one
 * data folder, with a 2 s hq GOP and a simulated patient monitor: every segment opens in
 * ffprobe and in GStreamer with its vitals text track (the one each kill cut short too), the loss per kill is at most the fsync period + 2 frames, after
 * the kill itself and after a simulated power cut at the same instant; the next start's
 * catalog recovery leaves no segment open.
 *
 * Loss is measured against the box's own clock: a recording's file name carries the capture
 * time of its first frame (ms), and Matroska timestamps are running time since that frame,
 * so the last frame that survived was captured at name-stamp + last PTS. Lost = the kill
 * instant (wall clock, taken just before SIGKILL) - that - one frame interval. The channel is
 * a live 30 fps test pattern, so lost seconds x 30 is lost frames.
 *
 * Power cut: only what was fsynced survives. The box logs each sync of an open segment at
 * debug level (`segment synced`: path, bytes durable, wall time; pino writes synchronously, so
 * a line printed before the kill is on the pipe); the test copies the segment the kill cut
 * short truncated to the bytes of its last sync before the kill (a segment closed before the
 * kill was synced whole on close) and measures the same loss on the copy.
 *
 * What bounds the loss: the recorder writes each frame to the segment as it comes (no
 * splitmuxsink holding the open GOP, edge/video/recorder.ts), so a kill loses the frames in
 * flight (encoder, pipeline) and a power cut also the time since the last fsync.
 */
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Catalog, parseSegmentPath } from '../../edge/recording/index.js';
import { freeTcpPort } from '../rtp/gst-peers.js';
import { startDemoIntelliVue } from '../devices/index.js';
import { ffprobeCodecs, ffprobeFrames, ffprobeLastPts, gstPlays, segmentFiles, sleep, spawnBox, videoConfig } from './helpers.js';

const KILLS = 10;
const FPS = 30;
const GOP_S = 2;

interface SyncLine { path: string; bytes: number; atNs: bigint }

function startBox(cfgPath: string, syncs: SyncLine[]): { child: ChildProcess; running: Promise<void> } {
  return spawnBox(cfgPath, (l) => {
    if (!l.includes('"segment synced"')) return false;
    try {
      const j = JSON.parse(l) as { path: string; bytes: number; atNs: string };
      syncs.push({ path: j.path, bytes: j.bytes, atNs: BigInt(j.atNs) });
    } catch { /* a torn line: ignored (the test then uses an older sync, which can only cost more) */ }
    return true;
  });
}

const dist = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): string => (s[Math.min(s.length - 1, Math.floor(p * s.length))] * 1000).toFixed(0);
  return `min ${q(0)} ms, median ${q(0.5)} ms, max ${(s[s.length - 1] * 1000).toFixed(0)} ms (${xs.map((x) => (x * 1000).toFixed(0)).join(' ')})`;
};

t.test(`10 x kill -9 of orbox run mid-recording with a ${GOP_S} s hq GOP: every segment plays, loss <= fsync period + 2 frames after a kill and after a power cut, recovery closes the rest`, async (t) => {
  const port = await freeTcpPort();
  const rec = { segmentS: 2, fsyncMs: 250, maxLossMs: 1000 };
  // ORBOX_CRASH_AUDIO=1: the channel records the test tone too (the muxer then writes a frame
  // once the audio for its time has come, which the loss includes).
  const withAudio = process.env.ORBOX_CRASH_AUDIO === '1';
  // A patient monitor too, as in an OR: every segment carries its numerics as a text track.
  const monitor = await startDemoIntelliVue();
  t.teardown(() => monitor.close());
  const cfg = videoConfig(port, [{ name: 'endoscope', width: 320, height: 240, gop: GOP_S * FPS, ...(withAudio ? { audio: 'room-mic' } : {}) }], {
    recording: rec,
    devices: { ports: [{ name: 'monitor', path: monitor.path, protocol: 'intellivue' }] },
    ...(withAudio ? { audio: { inputs: [{ name: 'room-mic', device: 'test-tone', rate: 48000, channels: 1 }] } } : {}),
  });
  const cfgPath = join(cfg.box.dataDir, 'box.json');
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, log: { level: 'debug' } }));
  const root = join(cfg.box.dataDir, 'recordings');
  const cutDir = mkdtempSync(join(tmpdir(), 'orbox-powercut-'));
  const boundS = rec.fsyncMs / 1000 + 2 / FPS;
  let child: ChildProcess | undefined;
  t.teardown(() => { if (child && child.exitCode === null) child.kill('SIGKILL'); });

  const seen = new Set<string>();
  const lostKill: number[] = [];
  const lostPower: number[] = [];
  let played = 0;
  for (let i = 0; i < KILLS; i++) {
    const syncs: SyncLine[] = [];
    const box = startBox(cfgPath, syncs);
    child = box.child;
    await box.running;
    // Wait for this run's second segment (so one is closed), then a random moment within it
    // (a GOP is 2 s: anywhere in it, far from the keyframe too).
    const deadline = Date.now() + 15_000;
    while (segmentFiles(root).filter((f) => !seen.has(f)).length < 2 && Date.now() < deadline) await sleep(50);
    await sleep(Math.random() * 2000);
    const killNs = BigInt(Date.now()) * 1_000_000n;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;

    const files = segmentFiles(root).filter((f) => !seen.has(f));
    for (const f of files) seen.add(f);
    t.ok(files.length >= 2, `kill ${i + 1}: ${files.length} segments this run`);
    const last = files[files.length - 1];
    // The segment the kill cut short plays too, unless the kill came between its file's
    // creation and its first frame (then it is empty, and recovery discards it).
    let bad = 0;
    const lastFrames = (await ffprobeFrames(last)) ?? 0;
    for (const f of files) {
      if (f === last && lastFrames === 0 && statSync(f).size < 1024) { t.comment(`kill ${i + 1}: ${basename(f)} cut before its first frame`); continue; }
      if (!((await ffprobeFrames(f)) ?? 0) || !(await gstPlays(f)) || !(await ffprobeCodecs(f)).includes('subrip')) bad++;
      else played++;
    }
    t.equal(bad, 0, `kill ${i + 1}: all ${files.length} segments open in ffprobe and GStreamer, with their vitals track`);

    const start = parseSegmentPath(last)!.recordingStartNs;
    const prev = files[files.length - 2];
    const lostAt = (pts: number | null): number => Number(killNs - start) / 1e9 - (pts ?? 0) - 1 / FPS;
    let pts = await ffprobeLastPts(last);
    if (pts === null) pts = await ffprobeLastPts(prev);
    lostKill.push(lostAt(pts));
    t.ok(lostAt(pts) <= boundS, `kill ${i + 1}: kill -9 lost ${(lostAt(pts) * 1000).toFixed(0)} ms (${Math.max(0, Math.round(lostAt(pts) * FPS))} frames)`);

    // The power cut: the cut-short segment as far as its last sync before the kill.
    const synced = syncs.filter((s) => s.path === last && s.atNs <= killNs).reduce((m, s) => Math.max(m, s.bytes), 0);
    const prevSynced = syncs.filter((s) => s.path === prev && s.atNs <= killNs).reduce((m, s) => Math.max(m, s.bytes), 0);
    // The segment before was synced whole on close, unless the kill came while it finalised.
    const prevSize = statSync(prev).size;
    if (prevSynced < prevSize) t.comment(`kill ${i + 1}: killed while ${basename(prev)} finalised (${prevSynced} of ${prevSize} B synced)`);
    const prevCopy = join(cutDir, `${i}-prev-${basename(prev)}`);
    copyFileSync(prev, prevCopy);
    truncateSync(prevCopy, prevSynced);
    let cutPts: number | null = null;
    if (synced > 0) {
      const copy = join(cutDir, `${i}-${basename(last)}`);
      copyFileSync(last, copy);
      truncateSync(copy, synced);
      cutPts = await ffprobeLastPts(copy);
      if (cutPts !== null) t.ok(await gstPlays(copy), `kill ${i + 1}: the power-cut copy (${synced} of ${statSync(last).size} B) opens in GStreamer`);
    }
    if (cutPts === null) cutPts = await ffprobeLastPts(prevCopy);
    lostPower.push(lostAt(cutPts));
    t.ok(lostAt(cutPts) <= boundS, `kill ${i + 1}: power cut lost ${(lostAt(cutPts) * 1000).toFixed(0)} ms (${Math.max(0, Math.round(lostAt(cutPts) * FPS))} frames)`);
  }
  t.comment(`bound: fsync ${rec.fsyncMs} ms + 2 frames = ${(boundS * 1000).toFixed(0)} ms; hq GOP ${GOP_S} s; ${withAudio ? 'with' : 'no'} audio track; ${played} segments played`);
  t.comment(`lost per kill -9: ${dist(lostKill)}`);
  t.comment(`lost per power cut: ${dist(lostPower)}`);

  // What the next start does: recover the segments each kill left open.
  const catalog = new Catalog({ path: join(cfg.box.dataDir, 'catalog.db') });
  catalog.open();
  t.teardown(() => catalog.close());
  catalog.recover();
  t.same(catalog.openSegments(), [], 'no segment left open after recovery');
  const rows = catalog.segmentsInRange(0n, 1n << 62n, 'endoscope');
  t.ok(rows.length >= seen.size - 1, `catalog knows ${rows.length} of ${seen.size} segment files`);
  t.ok(rows.every((r) => r.state === 'closed' || r.state === 'recovered'), 'every catalogued segment is closed or recovered');
});
