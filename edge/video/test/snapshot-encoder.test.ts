/**
 * The snapshot branch of a channel's encoder, with real parts and no box around it: frames
 * published into a real slot ring, the board profile's pipeline (x86-x264 here) built and run
 * by ChannelEncoder, the hq/lq/snap record rings read back.
 *
 * Every frame has its own grey level, so what a still shows says which frame it is (frames are
 * lent to GStreamer in their slots: a slot reused too early would show a later frame). Asserted:
 * stills come once per interval at the configured width (thumbnails at 320 px); each still and
 * thumbnail is stamped with the capture time of a frame that was pushed, the very time the
 * hq and lq access units of that frame carry; and the picture decoded from it is that frame.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allProfiles } from '../../../gst-pipelines/index.js';
import { validateConfig } from '../../config/index.js';
import { BoxClock } from '../../lib/clock.js';
import { RingConsumer, RingProducer, SlotConsumer, SlotProducer, createRing, createSlotRing, type RingRecord } from '../../lib/ring/index.js';
import { RECORD_KIND_H264_AU, RECORD_KIND_JPEG_STILL, RECORD_KIND_JPEG_THUMBNAIL } from '../../lib/record-kinds.js';
import { ChannelEncoder, readJpegInfo, snapshotRingBytes } from '../index.js';
import { decodeJpeg } from '../../../test-rig/video/helpers.js';

const W = 640, H = 360, FPS = 30;
const FRAMES = 105; // 3.5 s: stills at about 0, 1, 2 and 3 s
const level = (i: number): number => 16 + 2 * i; // distinct grey per frame, 16..224

t.test('stills and thumbnails carry the capture time of the frame they show, the same as its hq/lq access units', async (t) => {
  const profile = allProfiles().find((p) => p.id === 'x86-x264');
  if (!profile) throw new Error('profile x86-x264 missing');
  const cfg = validateConfig({
    box: { id: 'snap-unit', dataDir: mkdtempSync(join(tmpdir(), 'orbox-snapenc-')) }, api: { socket: '/tmp/unused.sock' },
    channels: [{
      name: 'scope', source: { type: 'test-pattern', width: W, height: H, fps: FPS },
      hq: { width: W, height: H, bitrateKbps: 1000, gop: 30 }, lq: { width: 320, height: 180, bitrateKbps: 300, gop: 15 },
      record: false,
      snapshot: { intervalS: 1, width: 480 },
    }],
  });
  const ch = cfg.channels[0];
  const frameBytes = W * H * 3 / 2; // NV12, the profile's raw format
  const raw = createSlotRing(6, frameBytes, 1);
  const rings = { hq: createRing(1 << 21, 1), lq: createRing(1 << 20, 1), snap: createRing(snapshotRingBytes(ch), 1) };
  const readers = { hq: new RingConsumer(rings.hq, 0, 'oldest'), lq: new RingConsumer(rings.lq, 0, 'oldest'), snap: new RingConsumer(rings.snap, 0, 'oldest') };
  const clock = new BoxClock();
  const input = new SlotConsumer(raw, 0);
  const enc = new ChannelEncoder({
    channel: ch, profile, clock,
    input,
    out: { hq: new RingProducer(rings.hq), lq: new RingProducer(rings.lq) },
    snapshot: new RingProducer(rings.snap),
    onError: (e) => t.fail(`encoder error: ${e.message}`),
  });
  t.teardown(() => enc.close(1000));
  enc.start();

  // Frames in real time, each captured "now" minus a small random delay, as a capture would.
  const producer = new SlotProducer(raw);
  // As video-capture does: frames start once the encoder has asked for one (after parsing its pipeline).
  while (!producer.consumersReady()) await new Promise((r) => setTimeout(r, 5));
  const frameOfMono = new Map<bigint, number>();
  const t0 = performance.now();
  for (let i = 0; i < FRAMES; i++) {
    const wait = t0 + (i * 1000) / FPS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    let claim = producer.claim();
    for (let k = 0; !claim && k < 100; k++) { await new Promise((r) => setTimeout(r, 5)); claim = producer.claim(); }
    if (!claim) throw new Error(`slot ring full at frame ${i}`);
    claim.bytes.fill(level(i), 0, W * H);
    claim.bytes.fill(128, W * H, frameBytes);
    const mono = process.hrtime.bigint() - BigInt(Math.floor(Math.random() * 3_000_000));
    frameOfMono.set(mono, i);
    producer.publish(claim, frameBytes, { kind: 1, flags: 0, wallNs: clock.toWall(mono), monoNs: mono, user0: 0, user1: 0 });
  }
  await new Promise((r) => setTimeout(r, 500));
  const stats = enc.stats();
  await enc.close(3000);
  // Frames go to GStreamer in their slots; a slot whose frame was lent comes back when
  // GStreamer frees it. A lost hand-back would leave it held, and the producer without slots.
  t.ok(stats.framesLent > stats.framesIn / 2, `${stats.framesLent} of ${stats.framesIn} frames lent to the pipeline, not copied`);
  t.equal(input.holding(), 0, 'every slot handed back once the encoder closed');

  const drain = (c: RingConsumer): RingRecord[] => { const out: RingRecord[] = []; for (let r = c.read(); r; r = c.read()) out.push({ ...r, payload: Uint8Array.from(r.payload) }); return out; };
  const hq = drain(readers.hq);
  const lq = drain(readers.lq);
  const snap = drain(readers.snap);
  t.ok(hq.length >= FRAMES - 3 && hq.every((r) => r.kind === RECORD_KIND_H264_AU), `hq: ${hq.length} access units of ${FRAMES} frames`);
  const auTime = (rs: RingRecord[]) => new Map(rs.map((r) => [r.monoNs, r.wallNs]));
  const hqTimes = auTime(hq);
  const lqTimes = auTime(lq);
  const stills = snap.filter((r) => r.kind === RECORD_KIND_JPEG_STILL);
  const thumbs = snap.filter((r) => r.kind === RECORD_KIND_JPEG_THUMBNAIL);
  t.ok(stills.length >= 3 && stills.length <= 4, `${stills.length} stills from 3.5 s at one per second`);
  t.equal(thumbs.length, stills.length, 'one thumbnail per still');
  t.equal(stats.snapshot?.stills, stills.length, 'encode stats count the stills written');
  t.equal(stats.snapshot?.intervalS, 1);

  const dir = mkdtempSync(join(tmpdir(), 'orbox-snapjpg-'));
  let lqMatched = 0;
  for (const [n, r] of [...stills, ...thumbs].entries()) {
    const what = `${r.kind === RECORD_KIND_JPEG_STILL ? 'still' : 'thumbnail'} ${n}`;
    const i = frameOfMono.get(r.monoNs);
    if (i === undefined) { t.fail(`${what}: its capture time ${r.monoNs} is no pushed frame's`); continue; }
    t.equal(r.wallNs, clock.toWall(r.monoNs), `${what}: wall time on the box clock`);
    t.equal(hqTimes.get(r.monoNs), r.wallNs, `${what} (frame ${i}): the hq access unit of the frame carries the same capture time`);
    // lq's queue leaks under load by design, so its access unit of this frame may be missing.
    const lqWall = lqTimes.get(r.monoNs);
    if (lqWall !== undefined) lqMatched++;
    t.ok(lqWall === undefined || lqWall === r.wallNs, `${what} (frame ${i}): the lq access unit, where there is one, carries the same time`);
    const file = join(dir, `${n}.jpg`);
    writeFileSync(file, r.payload);
    const d = await decodeJpeg(file);
    const want = r.kind === RECORD_KIND_JPEG_STILL ? [480, 270] : [320, 180];
    t.same([d.codec, d.width, d.height], ['mjpeg', ...want], `${what}: a ${want.join('x')} JPEG`);
    t.same(readJpegInfo(r.payload), { width: want[0], height: want[1], precision: 8, components: 3 }, `${what}: its frame header says the same`);
    t.ok(Math.abs(d.meanLuma - level(i)) < 1, `${what}: shows frame ${i} (grey ${level(i)}, decoded ${d.meanLuma.toFixed(2)})`);
  }
  t.ok(lqMatched > 0, `lq access units found for ${lqMatched} of ${stills.length + thumbs.length} stills and thumbnails`);
  const gaps = stills.slice(1).map((r, k) => Number(r.monoNs - stills[k].monoNs) / 1e6);
  // videorate takes the frame nearest each second; the branch's leaky queue may have let the
  // nearest one go while jpegenc was busy: within three frames (100 ms) of one second.
  t.ok(gaps.every((g) => Math.abs(g - 1000) <= 100), `stills one interval apart, within three frames: ${gaps.map((g) => g.toFixed(1)).join(', ')} ms`);
});
