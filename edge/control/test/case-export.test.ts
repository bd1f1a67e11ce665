/**
 * `orbox case export` on what a real box recorded (issue #20): a channel and a simulated
 * IntelliVue monitor, a case of a few seconds over 2 s segments. The exported file is checked
 * with tools the project did not write: ffprobe sees the video, the channel's audio and a
 * subtitle stream, its duration covers the case, the subtitles hold the monitor's heart rate,
 * ffmpeg's subtitles filter (what ffplay's -vf subtitles= uses) draws them onto the picture,
 * GStreamer plays the file to its end, and the test tone's click lands within 20 ms of the
 * test pattern's flash across the joined segments; the manifest's checksums are the files'.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { callLocalApi } from '../local-api.js';
import { sha256File, type ExportManifest } from '../case-export.js';
import { startDemoIntelliVue } from '../../../test-rig/devices/index.js';
import { startBox, testConfig } from '../../supervisor/test/harness.js';
import { measureAvSync } from '../../../test-rig/audio/av-sync.js';
import { gstPlays } from '../../../test-rig/video/helpers.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../../../bin/orbox.js', import.meta.url));

t.test('a recorded case exports to one file per channel with the vitals as subtitles, drawn by ffmpeg, checksummed', async (t) => {
  const monitor = await startDemoIntelliVue();
  t.teardown(() => monitor.close());
  const base = testConfig();
  const cfg = testConfig({
    box: { id: 'or-5', room: 'OR 5', dataDir: base.box.dataDir }, api: { socket: base.api.socket },
    channels: [{ ...base.channels[0], audio: 'mic' }],
    recording: { segmentS: 2, fsyncMs: 250, maxLossMs: 1000 },
    devices: { ports: [{ name: 'monitor', path: monitor.path, protocol: 'intellivue' }] },
  });
  const sup = await startBox(cfg);
  await new Promise((r) => setTimeout(r, 2000)); // the monitor associates, numerics start
  await callLocalApi(cfg.api.socket, 'recordingStart', { caseId: 'case-x1' });
  await new Promise((r) => setTimeout(r, 7000));
  await callLocalApi(cfg.api.socket, 'recordingStop', { caseId: '' });
  await sup.stop();
  const cfgFile = join(base.box.dataDir, 'box.json');
  writeFileSync(cfgFile, JSON.stringify({ box: cfg.box, api: cfg.api, channels: [] }));
  const out = mkdtempSync(join(tmpdir(), 'orbox-export-'));
  const cli = await run(process.execPath, [bin, 'case', 'export', 'case-x1', '--out', out, '--config', cfgFile]);
  t.match(cli.stdout, /case-x1-cam\.mkv: \d+ bytes from \d+ segments, \d+ vitals cues/);
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as ExportManifest;
  t.equal(m.files.length, 1);
  const f = m.files[0]!;
  const file = join(out, f.file);
  t.equal(await sha256File(file), f.sha256, 'the manifest\'s checksum is the file\'s');
  for (const s of f.segments) t.equal(await sha256File(s.path), s.sha256, `and the segment's: ${s.path}`);
  t.ok(f.segments.length >= 3, `${f.segments.length} segments joined`);
  const probe = JSON.parse((await run('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file])).stdout) as { streams: { codec_type: string; codec_name: string }[]; format: { duration: string } };
  t.ok(probe.streams.some((s) => s.codec_type === 'video' && s.codec_name === 'h264'), 'ffprobe: an H.264 video stream');
  t.ok(probe.streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac'), 'the channel\'s AAC audio');
  t.ok(probe.streams.some((s) => s.codec_type === 'subtitle' && s.codec_name === 'subrip'), 'and a SubRip subtitle stream');
  t.equal(probe.streams.filter((s) => s.codec_type === 'subtitle').length, 1, 'one: the export\'s cues, not also the segments\' own track');
  t.ok(Number(probe.format.duration) >= 5, `duration ${probe.format.duration} s covers the case`);
  const subs = (await run('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:s:0', '-f', 'srt', '-'])).stdout;
  t.match(subs, /HR \d+/, 'the subtitles carry the monitor\'s heart rate');
  // One frame 3 s in, with and without the subtitles filter: the numerics change pixels.
  const frame = async (vf: string[]) => (await run('ffmpeg', ['-v', 'error', '-ss', '3', '-i', file, ...vf, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { encoding: 'buffer', maxBuffer: 1 << 24 })).stdout as unknown as Buffer;
  const plain = await frame([]);
  const drawn = await frame(['-vf', `subtitles=${file}`]);
  let changed = 0;
  for (let i = 0; i < plain.length; i++) if (Math.abs(plain[i]! - drawn[i]!) > 40) changed++;
  t.ok(changed > 200, `the subtitles filter drew the vitals: ${changed} pixels changed`);

  t.ok(await gstPlays(file), 'GStreamer plays the exported file to its end');
  const av = await measureAvSync(file, base.channels[0].source.width, base.channels[0].source.height);
  const worst = Math.max(...av.offsetsMs.map(Math.abs));
  t.comment(`exported A/V: offsets ms ${av.offsetsMs.join(' ')}`);
  t.ok(av.offsetsMs.length >= 4, `${av.offsetsMs.length} flash/click pairs across the joined segments`);
  t.ok(worst <= 20, `audio in sync: worst offset ${worst} ms (bound 20)`);
});
