/**
 * Patch fix 5 (properties in their own type): enums by nick, name or number, flags by "a+b",
 * integers exact beyond 2^24 (32-bit float path) and 2^53 (64-bit as BigInt), doubles exact,
 * bad values rejected; and x264enc's bitrate changed while playing takes effect. Unpatched,
 * every number became a 32-bit float: enum/flags could not be set (tune stayed 0).
 */
import t from 'tap';
import { GstPipeline } from '../index.js';
import { within } from './helpers.js';

t.test('x264enc tune and speed-preset set by property and read back; numbers exact', async (t) => {
  const p = new GstPipeline(
    'videotestsrc ! x264enc name=enc ! fakesink queue name=q ! identity name=id ! fakesink audiotestsrc name=tone ! fakesink',
  );
  p.set('enc', 'tune', 'zerolatency');
  t.equal(p.get('enc', 'tune'), 'zerolatency', 'tune=zerolatency (flags, by nick)');
  p.set('enc', 'tune', 'zerolatency+fastdecode');
  t.equal(p.get('enc', 'tune'), 'fastdecode+zerolatency', 'flags combination');
  p.set('enc', 'speed-preset', 'ultrafast');
  t.equal(p.get('enc', 'speed-preset'), 'ultrafast', 'speed-preset by nick');
  p.set('enc', 'speed-preset', 5);
  t.equal(p.get('enc', 'speed-preset'), 'fast', 'speed-preset by number');
  t.throws(() => p.set('enc', 'speed-preset', 'warp'), RangeError, 'unknown nick rejected');
  t.equal(p.get('enc', 'speed-preset'), 'fast', '... and the value left unchanged');
  p.set('enc', 'key-int-max', 60);
  t.equal(p.get('enc', 'key-int-max'), 60, 'int');
  t.throws(() => p.set('enc', 'bitrate', 2048001), RangeError, 'out of the property range rejected');
  t.throws(() => p.set('enc', 'bitrate', 'fast'), TypeError, 'wrong type rejected');

  p.set('q', 'max-size-bytes', 16_777_217);
  t.equal(p.get('q', 'max-size-bytes'), 16_777_217, 'uint above 2^24 exact');
  p.set('q', 'max-size-time', 2n ** 53n + 1n);
  t.equal(p.get('q', 'max-size-time'), 2n ** 53n + 1n, 'uint64 beyond 2^53 exact (BigInt)');
  p.set('q', 'max-size-time', 3_000_000_000);
  t.equal(p.get('q', 'max-size-time'), 3_000_000_000, 'uint64 within 2^53 reads as a number');
  p.set('id', 'ts-offset', -(2n ** 60n) + 1n);
  t.equal(p.get('id', 'ts-offset'), -(2n ** 60n) + 1n, 'int64 exact');
  p.set('id', 'ts-offset', '-1234567890123');
  t.equal(p.get('id', 'ts-offset'), -1234567890123, 'int64 from a decimal string');
  p.set('tone', 'freq', 440.1);
  t.equal(p.get('tone', 'freq'), 440.1, 'double exact (no float rounding)');
  t.throws(() => p.set('enc', 'no-such-property', 1), { name: 'GstError' }, 'unknown property is an error');
  t.throws(() => p.set('nope', 'bitrate', 1), { name: 'GstError' }, 'unknown element is an error');
  p.close();
});

t.test('x264enc bitrate changed while playing takes effect', async (t) => {
  // Snow does not compress: the encoder spends what the rate control gives it. appsink with
  // max-buffers=2 holds the encoder back, so the frames after the change are encoded after it.
  const p = new GstPipeline(
    'videotestsrc pattern=snow ! video/x-raw,width=320,height=240,framerate=30/1 ' +
      '! x264enc name=enc bitrate=2000 tune=zerolatency speed-preset=ultrafast key-int-max=30 ' +
      '! appsink name=sink sync=false max-buffers=2',
  );
  p.on('error', (e) => t.fail(e.message));
  p.start();
  const sink = p.appsink('sink');
  const bytes = async (frames: number): Promise<number> => {
    let n = 0;
    for (let i = 0; i < frames; i++) n += (await sink.pull())?.data.length ?? 0;
    return n;
  };
  await within(20_000, 'frames at 2000 kbit/s', bytes(30));
  const high = await within(20_000, 'frames at 2000 kbit/s', bytes(60));
  p.set('enc', 'bitrate', 200);
  t.equal(p.get('enc', 'bitrate'), 200, 'bitrate reads back while playing');
  await within(20_000, 'settle', bytes(30));
  const low = await within(20_000, 'frames at 200 kbit/s', bytes(60));
  const kbps = (b: number): number => Math.round((b * 8) / 2 / 1000);
  t.ok(kbps(high) > 1000 && kbps(high) < 3000, `before: ${kbps(high)} kbit/s for a 2000 kbit/s target`);
  t.ok(kbps(low) < 400, `after: ${kbps(low)} kbit/s for a 200 kbit/s target`);
  await p.stop({ eos: false });
  p.close();
});
