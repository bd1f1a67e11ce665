/**
 * The monitor's numerics inside the recording (issue #20): `orbox run` with a 30 fps channel
 * and a simulated IntelliVue on a pseudo-terminal records 2 s segments; the monitor's cable is
 * pulled mid-recording and the box is killed with -9 a few seconds later.
 *
 * Checked with tools the project did not write, on the segments as the box left them:
 * - every segment (the one the kill cut short too) has an H.264 and a SubRip stream (ffprobe),
 *   and GStreamer plays it to its end;
 * - a cue per frame: as many subtitle packets as video frames, at the frames' PTS;
 * - each cue's heart rate is the last HR the vitals track (.ovt, written by device-data) holds
 *   at that frame's capture time (segment name stamp + PTS, the box clock both sides use);
 * - after the pull, cues say NO DATA for the monitor, and the video goes on at its rate (the
 *   silent text track never holds the muxer back);
 * - ffmpeg's subtitles filter (what ffplay's -vf subtitles= uses) draws the numbers from a
 *   recorded segment itself, with no export.
 */
import t from 'tap';
import { execFile, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseSegmentPath } from '../../edge/recording/index.js';
import { readVitalsTrack, type VitalSample } from '../../edge/devices/index.js';
import { startDemoIntelliVue } from '../devices/index.js';
import { freeTcpPort } from '../rtp/gst-peers.js';
import { ffprobeCodecs, gstPlays, segmentFiles, sleep, spawnBox, videoConfig } from './helpers.js';

const run = promisify(execFile);
const FPS = 30;

interface Cue { ptsMs: number; text: string }

/** The segment's first subtitle track as SRT cues (ffmpeg's own SubRip writer), on the
 *  segment's own timeline (`-copyts`: a segment's PTS go on from the one before). */
async function cuesOf(path: string): Promise<Cue[]> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-copyts', '-i', path, '-map', '0:s:0', '-f', 'srt', '-'], { maxBuffer: 64 << 20 });
  const out: Cue[] = [];
  for (const block of stdout.split(/\r?\n\r?\n/)) {
    const m = /(\d\d):(\d\d):(\d\d),(\d\d\d) -->[^\n]*\n([\s\S]*)/.exec(block);
    if (m) out.push({ ptsMs: ((+m[1] * 60 + +m[2]) * 60 + +m[3]) * 1000 + +m[4], text: m[5].trim() });
  }
  return out;
}

async function packetTimes(path: string, stream: 'v' | 's'): Promise<number[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', `${stream}:0`, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', path], { maxBuffer: 64 << 20 });
  return stdout.trim().split('\n').map(Number).filter(Number.isFinite).map((s) => Math.round(s * 1000));
}

function trackSamples(dataDir: string): VitalSample[] {
  const root = join(dataDir, 'vitals');
  const out: VitalSample[] = [];
  for (const day of readdirSync(root)) for (const f of readdirSync(join(root, day))) if (f.endsWith('.ovt')) out.push(...readVitalsTrack(join(root, day, f)).samples);
  return out.sort((a, b) => (a.hostWallNs < b.hostWallNs ? -1 : 1));
}

t.test('recorded segments carry the monitor\'s numerics as a text track: a cue per frame, the values of their capture time, NO DATA after the cable is pulled, readable after kill -9', async (t) => {
  const monitor = await startDemoIntelliVue();
  t.teardown(() => monitor.close());
  const cfg = videoConfig(await freeTcpPort(), [{ name: 'endoscope', width: 320, height: 240, gop: 2 * FPS }], {
    recording: { segmentS: 2, fsyncMs: 250, maxLossMs: 1000 },
    devices: { ports: [{ name: 'monitor', path: monitor.path, protocol: 'intellivue' }] },
  });
  const cfgPath = join(cfg.box.dataDir, 'box.json');
  writeFileSync(cfgPath, JSON.stringify(cfg));
  let child: ChildProcess | undefined;
  t.teardown(() => { if (child && child.exitCode === null) child.kill('SIGKILL'); });
  const box = spawnBox(cfgPath);
  child = box.child;
  await box.running;
  await sleep(9000); // the monitor associates (~2 s), numerics at 1 Hz, a few segments
  const pulledNs = BigInt(Date.now()) * 1_000_000n;
  await monitor.pty.pull();
  await sleep(6000);
  const exited = new Promise((r) => child!.once('exit', r));
  child.kill('SIGKILL');
  await exited;

  const files = segmentFiles(join(cfg.box.dataDir, 'recordings'));
  t.ok(files.length >= 6, `${files.length} segments`);
  const hr = trackSamples(cfg.box.dataDir).filter((s) => s.kind === 'numeric' && s.label === 'HR');
  t.ok(hr.length >= 5, `${hr.length} HR samples in the vitals track`);
  let cues = 0, withHr = 0, exact = 0, late = 0, wrong = 0, noData = 0, framesAfter = 0;
  let firstNoDataNs: bigint | undefined;
  const wrongs: string[] = [];
  for (const f of files) {
    const name = parseSegmentPath(f)!;
    const v = await packetTimes(f, 'v');
    if (v.length === 0 && f === files[files.length - 1]) { t.comment(`${f}: cut before its first frame`); continue; }
    t.same(await ffprobeCodecs(f), ['h264', 'subrip'], `${f.split('/').pop()}: H.264 and SubRip`);
    t.ok(await gstPlays(f), 'GStreamer plays it to its end');
    const s = await packetTimes(f, 's');
    const vs = new Set(v);
    // Every frame but those in flight at the kill (the text follows its frame by a push).
    t.ok(s.length >= v.length - 2 && s.length <= v.length && s.every((x) => vs.has(x)), `a cue per frame at its PTS: ${s.length} cues, ${v.length} frames`);
    for (const c of await cuesOf(f)) {
      cues++;
      const wallNs = name.recordingStartNs + BigInt(c.ptsMs) * 1_000_000n;
      if (wallNs > pulledNs + 500_000_000n) framesAfter++;
      // (The monitor's association at start may show NO DATA too: counted from the pull on.)
      if (/NO DATA monitor/.test(c.text) && wallNs >= pulledNs) { noData++; firstNoDataNs ??= wallNs; }
      const m = /HR (\d+)/.exec(c.text);
      if (!m) continue;
      withHr++;
      // The last HR measured at or before the frame's capture time (1 ms: the cue's rounding).
      const i = hr.findLastIndex((x) => x.hostWallNs <= wallNs + 1_000_000n);
      if (i >= 0 && hr[i]!.value === Number(m[1])) exact++;
      // A sample that reached video-encode after the frame's cue was pushed shows on the next ones.
      else if (i >= 1 && hr[i - 1]!.value === Number(m[1]) && wallNs - hr[i]!.hostWallNs < 300_000_000n) late++;
      else { wrong++; if (wrongs.length < 5) wrongs.push(`${c.text.split('\n')[0]} at ${wallNs}, track ${i >= 0 ? hr[i]!.value : 'none'}`); }
    }
  }
  t.comment(`${cues} cues; ${withHr} with HR: ${exact} the value of their capture time, ${late} the one before (sample arrived after the frame); ${noData} NO DATA`);
  t.ok(withHr >= FPS * 4, `heart rate on ${withHr} frames`);
  t.equal(wrong, 0, `no cue shows a heart rate the track did not have then${wrongs.length ? ': ' + wrongs.join('; ') : ''}`);
  t.ok(exact >= withHr * 0.95, `${exact} of ${withHr} exactly the value measured before the frame`);
  t.ok(firstNoDataNs !== undefined && firstNoDataNs - pulledNs < 3_000_000_000n, `NO DATA from ${firstNoDataNs === undefined ? '-' : Number(firstNoDataNs - pulledNs) / 1e6} ms after the pull`);
  // 6 s after the pull minus the gap detection and the kill's frames in flight: the video went on.
  t.ok(framesAfter >= FPS * 4.5, `${framesAfter} frames recorded after the pull (the silent monitor held nothing back)`);

  // ffmpeg draws the segment's own cues: a frame 1 s into the fourth segment, with and without
  // (-copyts: the filter reads the cues at the file's own times, as ffplay plays them; seeking
  // on the output side: ffmpeg 5.1 with -copyts and an input -ss wrote no frame).
  const seg = files[3]!;
  const at = ((await packetTimes(seg, 'v'))[0]! + 1000) / 1000;
  const frame = async (vf: string[]) => (await run('ffmpeg', ['-v', 'error', '-copyts', '-i', seg, '-ss', String(at), ...vf, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { encoding: 'buffer', maxBuffer: 1 << 24 })).stdout as unknown as Buffer;
  const plain = await frame([]);
  const drawn = await frame(['-vf', `subtitles=${seg}`]);
  let changed = 0;
  for (let i = 0; i < plain.length; i++) if (Math.abs(plain[i]! - drawn[i]!) > 40) changed++;
  t.ok(changed > 200, `the subtitles filter drew the recorded numerics: ${changed} pixels changed`);
});
