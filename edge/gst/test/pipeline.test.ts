/**
 * The edge/gst wrapper: parse errors, lifecycle states, typed bus events (error, eos,
 * element messages with their structure name and fields), stop with a deadline, forceKeyUnit.
 */
import t from 'tap';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GstPipeline, GstParseError, GstStateError, type ElementMessage, type GstError } from '../index.js';
import { ffprobeFrameCount, within } from './helpers.js';

t.test('constructor parses; bad descriptions throw GstParseError', async (t) => {
  t.throws(() => new GstPipeline('videotestsrc ! no-such-element'), GstParseError);
  t.throws(() => new GstPipeline('videotestsrc no-such-property=1 ! fakesink'), GstParseError, 'recoverable parse errors throw too');
  t.throws(() => new GstPipeline('  '), GstParseError);
  const p = new GstPipeline('videotestsrc ! fakesink');
  t.equal(p.state, 'created');
  p.start();
  t.equal(p.state, 'playing');
  t.throws(() => p.start(), GstStateError, 'start while playing');
  t.same(await p.stop({ deadlineMs: 200 }), { drained: true }, 'EOS drains a plain pipeline');
  t.equal(p.state, 'stopped');
  p.start();
  t.equal(p.state, 'playing', 'restart after stop');
  await p.stop({ eos: false });
  p.close();
});

t.test('error and eos bus messages become events', async (t) => {
  const bad = new GstPipeline('filesrc name=file location=/nonexistent/orbox.raw ! fakesink');
  const err = await within(10_000, 'error event', new Promise<GstError>((resolve) => {
    bad.on('error', resolve);
    bad.start();
  }));
  t.match(err.message, /not found|No such file/i, `error event: ${err.message}`);
  t.equal(err.element, 'file', 'error carries its element');
  bad.close();

  const ok = new GstPipeline('videotestsrc num-buffers=3 ! fakesink');
  await within(10_000, 'eos event', new Promise<void>((resolve) => {
    ok.on('eos', resolve);
    ok.start();
  }));
  t.pass('eos event');
  ok.close();
});

t.test('element messages (splitmuxsink fragment-opened/closed) arrive with their structure name and fields; stop finalises', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-gst-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const p = new GstPipeline(
    'videotestsrc num-buffers=90 ! video/x-raw,width=160,height=120,framerate=30/1 ' +
      '! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ' +
      `! splitmuxsink name=rec muxer=matroskamux max-size-time=1000000000 location=${dir}/seg%05d.mkv`,
  );
  const events: ElementMessage[] = [];
  p.on('element', (m) => events.push(m));
  p.on('error', (e) => t.fail(e.message));
  const eos = new Promise<void>((r) => p.once('eos', r));
  p.start();
  await within(20_000, 'eos', eos);
  await p.stop();
  p.close();
  const opened = events.filter((e) => e.name === 'splitmuxsink-fragment-opened');
  const closed = events.filter((e) => e.name === 'splitmuxsink-fragment-closed');
  t.equal(opened.length, 3, '3 fragments of 1 s opened');
  t.equal(closed.length, 3, 'and closed');
  const first = closed[0]!;
  t.equal(first.source, 'rec');
  t.match(first.fields['location'], /seg00000\.mkv$/);
  const rt = Number(first.fields['running-time']);
  t.ok(Math.abs(rt - 1e9) < 50e6, `first fragment closes at ~1 s running time (${rt})`);
  t.same(readdirSync(dir).sort(), ['seg00000.mkv', 'seg00001.mkv', 'seg00002.mkv']);
  let frames = 0;
  for (const f of readdirSync(dir)) frames += await ffprobeFrameCount(join(dir, f));
  t.equal(frames, 90, 'every frame is in a segment');
});

t.test('stop() with a deadline forces a pipeline that never drains', async (t) => {
  // valve drop=true swallows the EOS: the sink never sees it.
  const p = new GstPipeline('videotestsrc is-live=true ! valve drop=true ! fakesink async=false');
  p.on('error', (e) => t.fail(e.message));
  p.start();
  const started = Date.now();
  const r = await p.stop({ deadlineMs: 300 });
  t.same(r, { drained: false }, 'not drained');
  t.ok(Date.now() - started >= 290, 'waited for the deadline');
  t.equal(p.state, 'stopped');
  p.close();
});

t.test('forceKeyUnit makes the encoder emit a keyframe', async (t) => {
  const p = new GstPipeline(
    'videotestsrc pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 ' +
      '! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=1000 option-string=scenecut=0 ! appsink name=sink sync=false max-buffers=1',
  );
  p.start();
  const sink = p.appsink('sink');
  const keys: number[] = [];
  for (let i = 0; i < 40; i++) {
    const s = await within(10_000, 'pull', sink.pull());
    if (s?.keyframe) keys.push(i);
    if (i === 20) p.forceKeyUnit('sink');
  }
  p.close();
  t.equal(keys[0], 0, 'first frame is a keyframe');
  t.ok(keys.length === 2 && keys[1] > 20, `one more keyframe after the request (at ${keys.join(', ')})`);
});
