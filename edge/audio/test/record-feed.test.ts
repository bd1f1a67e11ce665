/**
 * The recording's audio feed (record-feed.ts) into a real GStreamer appsrc (-> appsink, where
 * the pushed buffers are read back with their timestamps; the AAC encoder and muxer after it
 * are covered by test-rig/audio/av-record.test.ts):
 * - a recorder pipeline that starts at its first frame (fromPts) gets no audio from before it;
 * - when no PCM comes, silence is filled from that first frame on, 20 ms buffers back to back,
 *   and reported as a filled gap once PCM comes again.
 */
import t from 'tap';
import { GstPipeline, type GstSample } from '../../gst/index.js';
import { BoxClock } from '../../lib/clock.js';
import { RecordingAudioFeed } from '../record-feed.js';

const RATE = 48000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pipeline(): { p: GstPipeline; got: GstSample[]; done: Promise<void> } {
  const p = new GstPipeline(`appsrc name=a is-live=true format=time do-timestamp=false caps="audio/x-raw,format=S16LE,layout=interleaved,rate=${RATE},channels=1" ! appsink name=s sync=false`, { label: 'record-feed test' });
  p.start();
  const got: GstSample[] = [];
  const done = (async () => { for await (const s of p.appsink('s')) got.push(s); })();
  return { p, got, done };
}

/** 20 ms of mono PCM. */
const pcm = (v: number): Uint8Array => new Uint8Array(new Int16Array(RATE / 50).fill(v).buffer);

t.test('records from before the recording\'s first frame are dropped; the first pushed starts there', async (t) => {
  const clock = new BoxClock();
  const { p, got, done } = pipeline();
  t.teardown(() => p.close());
  const feed = new RecordingAudioFeed({ channel: 'cam', rate: RATE, channels: 1, clock });
  const base = clock.monoNs();
  const fromPts = 300_000_000;
  feed.start(p.appsrc('a'), base, fromPts);
  // Captured at running time pts + the encoder's delay (the feed stamps back by that delay).
  const at = (pts: number): bigint => base + BigInt(pts + feed.delayNs);
  feed.write(pcm(1000), 0, clock.toWall(at(100_000_000)), at(100_000_000));
  feed.write(pcm(1000), 0, clock.toWall(at(fromPts)), at(fromPts));
  feed.write(pcm(1000), 0, clock.toWall(at(fromPts + 20_000_000)), at(fromPts + 20_000_000));
  await sleep(100);
  feed.close();
  p.appsrc('a').endOfStream();
  await Promise.race([done, sleep(2000)]);
  t.equal(feed.stats().dropped, 1, 'the record before the first frame is dropped');
  t.same(got.map((s) => s.ptsNs), [fromPts, fromPts + 20_000_000], 'the pushed buffers start at the first frame');
});

t.test('no PCM: silence from the first frame on, back to back; a filled gap reported when PCM comes', async (t) => {
  const clock = new BoxClock();
  const { p, got, done } = pipeline();
  t.teardown(() => p.close());
  const gaps: { start: bigint; end: bigint; filled: boolean }[] = [];
  const feed = new RecordingAudioFeed({ channel: 'cam', rate: RATE, channels: 1, clock, fillAfterMs: 100, onGap: (start, end, filled) => gaps.push({ start, end, filled }) });
  const base = clock.monoNs();
  const fromPts = 50_000_000;
  feed.start(p.appsrc('a'), base, fromPts);
  await sleep(600);
  const filled = got.length;
  const now = clock.monoNs();
  feed.write(pcm(1000), 0, clock.toWall(now), now);
  await sleep(100);
  feed.close();
  p.appsrc('a').endOfStream();
  await Promise.race([done, sleep(2000)]);
  t.ok(filled >= 10, `${filled} silence buffers while nothing came (${feed.stats().filledMs} ms)`);
  t.equal(got[0]?.ptsNs, fromPts, 'the silence starts at the first frame');
  const steps = got.slice(1, filled).map((s, i) => (s.ptsNs ?? 0) - (got[i].ptsNs ?? 0));
  t.ok(steps.every((d) => d === 20_000_000), 'the silence is 20 ms buffers back to back');
  t.equal(gaps.length, 1, 'one gap reported once PCM came');
  t.equal(gaps[0]?.filled, true, 'as filled by the recorder');
  t.equal(gaps[0]?.start, clock.toWall(base + BigInt(fromPts + feed.delayNs)), 'from the first frame\'s capture time');
});
