/**
 * Patch fix 2 (buffer timing on pull): appsink pulls carry PTS, DTS, duration and the keyframe
 * flag. x264enc with key-int-max=10 and scene-cut detection off must give keyframes exactly on
 * every 10th frame, PTS strictly increasing (zerolatency: no B-frames) and a 1/30 s duration.
 * Unpatched, pull gives (buf, caps) only.
 */
import t from 'tap';
import { createRequire } from 'node:module';
import type * as Binding from 'gstreamer-superficial';
import { GstPipeline, type GstSample } from '../index.js';
import { within } from './helpers.js';

const FRAMES = 60;
const GOP = 10;

t.test('pulled H.264 buffers carry increasing PTS, DTS, duration and keyframe flags matching key-int-max', async (t) => {
  const p = new GstPipeline(
    `videotestsrc num-buffers=${FRAMES} pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ` +
      `! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=${GOP} option-string=scenecut=0 ` +
      `! video/x-h264,stream-format=byte-stream ! appsink name=sink sync=false`,
  );
  p.on('error', (e) => t.fail(e.message));
  p.start();
  const samples: GstSample[] = [];
  await within(20_000, 'pull all frames', (async () => {
    for await (const s of p.appsink('sink')) samples.push(s);
  })());
  p.close();

  t.equal(samples.length, FRAMES, 'every encoded frame pulled, then null at end of stream');
  const keyIdx = samples.flatMap((s, i) => (s.keyframe ? [i] : []));
  t.same(keyIdx, [0, 10, 20, 30, 40, 50], 'keyframes exactly every key-int-max frames');
  t.equal(samples[0].caps.name, 'video/x-h264', 'caps come along');
  let increasing = true;
  let dtsOk = true;
  for (let i = 1; i < samples.length; i++) {
    if ((samples[i].ptsNs ?? -1) <= (samples[i - 1].ptsNs ?? -1)) increasing = false;
    if ((samples[i].dtsNs ?? -1) < (samples[i - 1].dtsNs ?? -1)) dtsOk = false;
  }
  t.ok(increasing, 'PTS strictly increasing');
  t.ok(dtsOk, 'DTS set and non-decreasing');
  const span = (samples[FRAMES - 1].ptsNs ?? 0) - (samples[0].ptsNs ?? 0);
  t.ok(Math.abs(span - ((FRAMES - 1) * 1e9) / 30) < 2, `PTS span is ${FRAMES - 1} frame intervals (${span} ns)`);
  t.ok(samples.every((s) => s.durationNs !== null && Math.abs(s.durationNs - 1e9 / 30) <= 1), 'duration 1/30 s');
});

t.test('raw pulls: meta as the third callback argument, two-argument callbacks still work', async (t) => {
  const gst = createRequire(import.meta.url)('gstreamer-superficial') as typeof Binding;
  const p = new gst.Pipeline('videotestsrc num-buffers=3 ! video/x-raw,format=NV12,width=64,height=48,framerate=25/1 ! appsink name=sink sync=false');
  const sink = p.findChild('sink') as Binding.AppSink;
  p.play();
  const got = await within(10_000, 'raw pulls', new Promise<Array<[Buffer | null, Binding.BufferMeta | null]>>((resolve) => {
    const out: Array<[Buffer | null, Binding.BufferMeta | null]> = [];
    const onData = (buf: Buffer | null, _caps: Binding.Caps, meta: Binding.BufferMeta | null): void => {
      out.push([buf, meta]);
      if (buf) sink.pull(onData);
      else resolve(out);
    };
    sink.pull(onData);
  }));
  // the pre-patch two-argument form
  const legacy = await new Promise<Buffer | null>((resolve) => sink.pull((buf) => resolve(buf)));
  p.dispose();
  t.equal(got.length, 4, 'three buffers then null');
  t.same(got.slice(0, 3).map(([b, m]) => [b?.length, m?.pts, m?.duration, m?.keyframe]), [
    [4608, 0, 40_000_000, true],
    [4608, 40_000_000, 40_000_000, true],
    [4608, 80_000_000, 40_000_000, true],
  ], 'NV12 64x48 = 4608 bytes, PTS 0/40/80 ms, raw frames are not delta units');
  t.equal(got[3][1], null, 'no meta at end of stream');
  t.equal(legacy, null, 'two-argument pull after end of stream gets null');
});

t.test('caps: one frozen object per caps, a new one when the stream renegotiates', async (t) => {
  const p = new GstPipeline('appsrc name=src format=time caps=video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1 ! appsink name=sink sync=false');
  p.on('error', (e) => t.fail(e.message));
  p.start();
  const src = p.appsrc('src');
  const sink = p.appsink('sink');
  const frame = new Uint8Array(16);
  const pushPull = async (i: number) => {
    t.ok(src.push(frame, { ptsNs: i * 33_333_333 }), `frame ${i} pushed`);
    return within(5000, `pull ${i}`, sink.pull());
  };
  const a = await pushPull(0);
  const b = await pushPull(1);
  p.set('src', 'caps', 'video/x-raw,format=GRAY8,width=8,height=2,framerate=30/1');
  const c = await pushPull(2);
  const d = await pushPull(3);
  p.close();
  t.same([a!.caps.width, b!.caps.width, c!.caps.width, d!.caps.width], [4, 4, 8, 8], 'each sample carries the caps it was made with');
  t.equal(a!.caps, b!.caps, 'equal caps: the same object');
  t.not(b!.caps, c!.caps, 'changed caps: a new object');
  t.equal(c!.caps, d!.caps);
  t.ok(Object.isFrozen(a!.caps), 'shared, so frozen');
});
