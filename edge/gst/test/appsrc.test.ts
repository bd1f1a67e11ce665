/**
 * Patch fix 3 (appsrc timestamps and end-of-stream): frames pushed with PTS/duration, then
 * endOfStream(), reach an encoder and matroskamux/filesink; the file is finalised (EOS went
 * through) and ffprobe counts exactly the frames pushed, spanning their PTS. Unpatched, push
 * takes only a big-endian PTS buffer and there is no end-of-stream: the file never closes.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GstPipeline } from '../index.js';
import { ffprobeFrameCount, within } from './helpers.js';

const W = 160;
const H = 120;
const FPS = 25;
const FRAMES = 45;

t.test('appsrc push with PTS then endOfStream reaches matroskamux; ffprobe counts every frame', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-gst-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pushed.mkv');
  const p = new GstPipeline(
    `appsrc name=src format=time caps=video/x-raw,format=I420,width=${W},height=${H},framerate=${FPS}/1 ` +
      `! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! h264parse ! matroskamux ! filesink location=${file}`,
  );
  const errors: string[] = [];
  p.on('error', (e) => errors.push(e.message));
  const eos = new Promise<void>((resolve) => p.once('eos', resolve));
  p.start();
  const src = p.appsrc('src');
  const frame = Buffer.alloc((W * H * 3) / 2);
  const interval = 1e9 / FPS;
  let accepted = 0;
  for (let i = 0; i < FRAMES; i++) {
    frame.fill(i * 5, 0, W * H); // a changing luma plane
    frame.fill(128, W * H);
    if (src.push(frame, { ptsNs: Math.round(i * interval), durationNs: Math.round(interval) })) accepted++;
  }
  t.equal(accepted, FRAMES, 'every push accepted');
  t.ok(src.endOfStream(), 'end of stream accepted');
  await within(20_000, 'EOS on the bus', eos);
  const { drained } = await p.stop();
  p.close();
  t.same(errors, [], 'no pipeline errors');
  t.ok(drained, 'stop() saw the end of stream');

  t.equal(await ffprobeFrameCount(file), FRAMES, 'ffprobe -count_frames: every pushed frame is in the file');
  const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
  t.ok(Math.abs(Number(stdout) - FRAMES / FPS) < 0.1, `file duration matches the pushed PTS (${stdout.trim()} s)`);
});

t.test('push validates its timestamps and takes BigInt PTS beyond 2^53', async (t) => {
  const p = new GstPipeline('appsrc name=src format=time ! fakesink name=sink');
  p.start();
  const src = p.appsrc('src');
  t.throws(() => src.push(Buffer.alloc(4), { ptsNs: -1 }), TypeError, 'negative PTS rejected');
  t.throws(() => src.push(Buffer.alloc(4), { ptsNs: 1.5 }), TypeError, 'fractional PTS rejected');
  t.ok(src.push(Buffer.alloc(4), { ptsNs: 2n ** 60n, dtsNs: 2n ** 60n, keyframe: false }), 'BigInt PTS beyond 2^53 accepted');
  await p.stop({ eos: false });
  p.close();
  t.throws(() => src.push(Buffer.alloc(4), { ptsNs: 0 }), { name: 'GstClosedError' }, 'push after close throws GstClosedError');
});
