/**
 * kill -9 of the whole box (`orbox run` as a child process) mid-recording, ten times, on one
 * data folder: every segment closed before the kill plays, at most the last second before
 * each kill is lost, and the next start's catalog recovery leaves no segment open.
 *
 * Loss is measured against the box's own clock: a recording's file name carries the capture
 * time of its first frame (ms), and Matroska timestamps are running time since that frame,
 * so the last frame that survived was captured at name-stamp + last PTS. Lost = the kill
 * instant (wall clock, taken just before SIGKILL) - that - one frame interval. The channel is
 * a live 30 fps test pattern, so lost seconds x 30 is lost frames.
 *
 * What bounds the loss: splitmuxsink gathers a whole GOP before it writes it (it needs the
 * GOP to decide the cut), so a crash loses the GOP in progress plus the encoder's latency
 * (the file sink is unbuffered, see gst-pipelines/build.ts). With a 1 s hq GOP that measured
 * up to 1.003 s; this test records with a 0.5 s hq GOP, which a box must use where "at most
 * the last second" is required.
 */
import t from 'tap';
import { maxRecordedGop } from '../../edge/config/index.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Catalog, parseSegmentPath } from '../../edge/recording/index.js';
import { freeTcpPort } from '../rtp/gst-peers.js';
import { ffprobeFrames, ffprobeLastPts, segmentFiles, sleep, videoConfig } from './helpers.js';

const KILLS = 10;
const FPS = 30;
const bin = fileURLToPath(new URL('../../../bin/orbox.js', import.meta.url));

function startBox(cfgPath: string): { child: ChildProcess; running: Promise<void> } {
  const child = spawn(process.execPath, [bin, 'run', '--config', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const running = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`box did not start: ${out.slice(-500)}`)), 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes(' running:')) { clearTimeout(timer); resolve(); } });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`box exited: ${out.slice(-500)}`)); });
  });
  running.catch(() => undefined);
  return { child, running };
}

t.test('10 x kill -9 of orbox run mid-recording: closed segments play, at most 1 s lost per kill, recovery closes the rest', async (t) => {
  const port = await freeTcpPort();
  // The longest hq GOP the configuration allows a recorded channel (recording.maxLossMs): the
  // worst case the loss bound has to hold for.
  const rec = { segmentS: 1, fsyncMs: 250, maxLossMs: 1000 };
  const cfg = videoConfig(port, [{ name: 'endoscope', width: 320, height: 240, gop: maxRecordedGop(30, rec) }], { recording: rec });
  const cfgPath = join(cfg.box.dataDir, 'box.json');
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, log: { level: 'error' } }));
  const root = join(cfg.box.dataDir, 'recordings');
  let child: ChildProcess | undefined;
  t.teardown(() => { if (child && child.exitCode === null) child.kill('SIGKILL'); });

  const seen = new Set<string>();
  const lostS: number[] = [];
  let closedTotal = 0;
  for (let i = 0; i < KILLS; i++) {
    const box = startBox(cfgPath);
    child = box.child;
    await box.running;
    // Wait for this run's second segment (so one is closed), then a random moment within it.
    const deadline = Date.now() + 15_000;
    while (segmentFiles(root).filter((f) => !seen.has(f)).length < 2 && Date.now() < deadline) await sleep(50);
    await sleep(Math.random() * 1000);
    const killNs = BigInt(Date.now()) * 1_000_000n;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;

    const files = segmentFiles(root).filter((f) => !seen.has(f));
    for (const f of files) seen.add(f);
    t.ok(files.length >= 2, `kill ${i + 1}: ${files.length} segments this run`);
    const closed = files.slice(0, -1);
    let bad = 0;
    for (const f of closed) if (!((await ffprobeFrames(f)) ?? 0)) bad++;
    closedTotal += closed.length;
    t.equal(bad, 0, `kill ${i + 1}: all ${closed.length} segments closed before the kill play`);
    const last = files[files.length - 1];
    const start = parseSegmentPath(last)!.recordingStartNs;
    // The cut-short segment is read as far as it goes; if nothing of it is readable, the
    // previous (closed) one holds the last frame.
    let lastPts = await ffprobeLastPts(last);
    if (lastPts === null && closed.length) lastPts = await ffprobeLastPts(closed[closed.length - 1]);
    const lost = Number(killNs - start) / 1e9 - (lastPts ?? 0) - 1 / FPS;
    lostS.push(lost);
    t.ok(lost <= 1.0, `kill ${i + 1}: ${lost.toFixed(3)} s (${Math.max(0, Math.round(lost * FPS))} frames) lost before the kill`);
  }
  t.comment(`lost per kill (s): ${lostS.map((x) => x.toFixed(3)).join(' ')}; max ${Math.max(...lostS).toFixed(3)} s = ${Math.round(Math.max(...lostS) * FPS)} frames; ${closedTotal} closed segments all played`);

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
