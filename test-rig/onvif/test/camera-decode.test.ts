/**
 * A camera channel with `decode: true`: a real simulated camera (GStreamer's RTSP server, x264
 * in the camera, a white test picture) read by the real RtspIngest, whose decoded frames
 * (avdec_h264) go through a real slot ring into the real ChannelEncoder (x86-x264 profile) in
 * its decoded-camera form. Asserted: the hq ring still holds the camera's own H.264 (its size);
 * the lq stream decodes (ffprobe) at its configured size, not the camera's; a still is a valid
 * JPEG at the still's size showing the camera's picture (white: mean luma > 200, where a slate
 * or a black frame would be far below); lq access units and stills carry capture times of the
 * camera's access units (the same PTS mapping); while the camera is unplugged the raw ring
 * (what the lq and stills are made from) carries the no-signal slate, and the camera's frames
 * again once it is back.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allProfiles } from '../../../gst-pipelines/index.js';
import { validateConfig } from '../../../edge/config/index.js';
import { BoxClock } from '../../../edge/lib/clock.js';
import { RingConsumer, RingProducer, SlotConsumer, SlotProducer, createRing, createSlotRing, type RingRecord } from '../../../edge/lib/ring/index.js';
import { RECORD_KIND_H264_AU, RECORD_KIND_JPEG_STILL } from '../../../edge/lib/record-kinds.js';
import { ChannelEncoder, readJpegInfo, snapshotRingBytes } from '../../../edge/video/index.js';
import { RtspIngest } from '../../../edge/video/rtsp-ingest.js';
import { decodeJpeg } from '../../video/helpers.js';
import { freeTcpPort } from '../../rtp/gst-peers.js';
import { RtspCamera } from '../rtsp-camera.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'orbox-camdecode-'));
const drain = (c: RingConsumer, into: RingRecord[]): void => { for (let r = c.read(); r; r = c.read()) into.push({ ...r, payload: Uint8Array.from(r.payload) }); };

t.test('decode: a camera channel gets an lq stream at its own size and stills of the camera\'s picture', async (t) => {
  const profile = allProfiles().find((p) => p.id === 'x86-x264');
  if (!profile) throw new Error('profile x86-x264 missing');
  const cam = new RtspCamera({ port: await freeTcpPort(), width: 640, height: 360, fps: 30, gop: 30, pattern: 'white' });
  await cam.start();
  t.teardown(() => cam.stop());
  const cfg = validateConfig({
    box: { id: 'decode-unit', dataDir: dir }, api: { socket: '/tmp/unused.sock' },
    channels: [{
      name: 'field', source: { type: 'rtsp', url: cam.url, decode: true, width: 640, height: 360, fps: 30 },
      hq: { width: 640, height: 360, bitrateKbps: 1500, gop: 30 }, lq: { width: 320, height: 180, bitrateKbps: 300, gop: 15 },
      record: false, snapshot: { intervalS: 1 },
    }],
  });
  const ch = cfg.channels[0];
  const clock = new BoxClock();
  const rings = { hq: createRing(1 << 22, 1), lq: createRing(1 << 20, 1), snap: createRing(snapshotRingBytes(ch), 1) };
  const raw = createSlotRing(6, 640 * 360 * 3 / 2, 1);
  const readers = { hq: new RingConsumer(rings.hq, 0, 'oldest'), lq: new RingConsumer(rings.lq, 0, 'oldest'), snap: new RingConsumer(rings.snap, 0, 'oldest') };
  const enc = new ChannelEncoder({
    channel: ch, profile, clock, decodedCamera: true,
    input: new SlotConsumer(raw, 0),
    out: { lq: new RingProducer(rings.lq) },
    snapshot: new RingProducer(rings.snap),
    onError: (e) => t.fail(`encoder error: ${e.message}`),
  });
  t.throws(() => new ChannelEncoder({ channel: ch, profile, clock, decodedCamera: true, input: new SlotConsumer(raw, 0), out: { hq: new RingProducer(rings.hq), lq: new RingProducer(rings.lq) } }),
    /hq is the camera's own/, 'a decoded camera channel writes no hq of its own');
  t.teardown(() => enc.close(1000));
  enc.start();
  const producer = new SlotProducer(raw);
  while (!producer.consumersReady()) await sleep(5);
  const ing = new RtspIngest({ channel: ch, ring: new RingProducer(rings.hq), raw: producer, format: 'NV12', clock });
  t.teardown(() => ing.close());
  ing.start();
  const recs = { hq: [] as RingRecord[], lq: [] as RingRecord[], snap: [] as RingRecord[] };
  const t0 = performance.now();
  while (performance.now() - t0 < 4000) {
    await sleep(100);
    drain(readers.hq, recs.hq); drain(readers.lq, recs.lq); drain(readers.snap, recs.snap);
  }
  const ist = ing.stats();
  ing.close();
  await enc.close(2000);
  drain(readers.hq, recs.hq); drain(readers.lq, recs.lq); drain(readers.snap, recs.snap);
  const est = enc.stats();

  t.ok(recs.hq.length >= 60, `hq: ${recs.hq.length} of the camera's own access units (passthrough unaffected by the decode)`);
  t.ok(ist.decodedFrames >= 60, `${ist.decodedFrames} frames decoded into the raw ring (${ist.decodeDropped} without a free slot)`);
  t.ok(recs.lq.length >= 45 && recs.lq.every((r) => r.kind === RECORD_KIND_H264_AU), `lq: ${recs.lq.length} access units`);
  t.equal(est.out.hq.aus, 0, 'no hq encoded here');

  const file = join(dir, 'lq.h264');
  writeFileSync(file, Buffer.concat(recs.lq.map((r) => r.payload)));
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', file]).toString());
  const s = probe.streams[0];
  t.same([s.codec_name, `${s.width}x${s.height}`], ['h264', '320x180'], 'the lq stream decodes at its configured size, not the camera\'s 640x360');
  t.ok(Number(s.nb_read_frames) >= recs.lq.length - 2, `ffprobe decodes ${s.nb_read_frames} of ${recs.lq.length} lq access units`);

  // Until the first decoded frame the raw ring carries the slate (the camera is "away" while
  // its session opens: on a loaded machine, half a second of it), and lq encodes that too. The
  // slate is stamped when it is made, the camera's frames when they were captured (earlier, by
  // the way through the network and the decoder): the first frames after the slate are moved
  // just past its last frame, as the raw ring's times must increase. From then on every lq
  // access unit carries the time of the camera's access unit it was decoded from.
  const hqTimes = new Set(recs.hq.map((r) => r.monoNs));
  const firstCamera = recs.hq[0]?.monoNs ?? 0n; // the ingest's times strictly increase
  const lqAfter = recs.lq.filter((r) => r.monoNs >= firstCamera);
  const SETTLE = 8;
  const settled = lqAfter.slice(SETTLE);
  const onCamera = (rs: RingRecord[]): number => rs.filter((r) => hqTimes.has(r.monoNs)).length;
  t.ok(settled.length >= 45 && onCamera(settled) === settled.length,
    `${onCamera(settled)} of the ${settled.length} lq access units after the camera's first ${SETTLE} carry the capture time of one of its access units ` +
    `(${onCamera(lqAfter.slice(0, SETTLE))} of those ${SETTLE}; ${recs.lq.length - lqAfter.length} lq access units before them, of the slate's ${ist.slateFrames} frames)`);

  const stills = recs.snap.filter((r) => r.kind === RECORD_KIND_JPEG_STILL);
  t.ok(stills.length >= 2, `${stills.length} stills in 4 s at one per second`);
  const last = stills[stills.length - 1];
  t.ok(last && hqTimes.has(last.monoNs), 'the still carries the capture time of a camera access unit');
  const jpg = join(dir, 'still.jpg');
  writeFileSync(jpg, last.payload);
  const d = await decodeJpeg(jpg);
  t.same([d.codec, d.width, d.height], ['mjpeg', 640, 360], 'a valid 640x360 JPEG (the still\'s default size: the source\'s)');
  t.same(readJpegInfo(last.payload), { width: 640, height: 360, precision: 8, components: 3 }, 'its frame header says the same');
  t.ok(d.meanLuma > 200, `it shows the camera's white picture (mean luma ${d.meanLuma.toFixed(1)})`);
  t.comment(`measured: hq ${recs.hq.length} AUs, decoded ${ist.decodedFrames} (dropped ${ist.decodeDropped}), lq ${recs.lq.length} AUs, ${stills.length} stills, still luma ${d.meanLuma.toFixed(1)}`);
});

t.test('decode: the raw ring has the no-signal slate while the camera is away, the camera\'s frames again when it is back', async (t) => {
  const cam = new RtspCamera({ port: await freeTcpPort(), width: 320, height: 180, fps: 30, gop: 15, pattern: 'white' });
  await cam.start();
  t.teardown(() => cam.stop());
  const ch = validateConfig({
    box: { id: 'decode-unit', dataDir: dir }, api: { socket: '/tmp/unused.sock' },
    channels: [{
      name: 'field', source: { type: 'rtsp', url: cam.url, decode: true, width: 320, height: 180, fps: 30 },
      hq: { width: 320, height: 180, bitrateKbps: 800, gop: 15 }, lq: { width: 160, height: 90, bitrateKbps: 200, gop: 15 }, record: false,
    }],
  }).channels[0];
  const raw = createSlotRing(6, 320 * 180 * 3 / 2, 1);
  const input = new SlotConsumer(raw, 0);
  const ing = new RtspIngest({ channel: ch, ring: new RingProducer(createRing(1 << 21, 1)), raw: new SlotProducer(raw), format: 'NV12', clock: new BoxClock() });
  t.teardown(() => ing.close());
  // What the raw ring shows, 100 ms at a time: 'S' slate, 'C' camera (its white picture), '-' nothing.
  const seen: string[] = [];
  const watch = async (ms: number): Promise<void> => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      let slate = 0, camera = 0;
      for (let f = input.acquire(); f; f = input.acquire()) {
        if (f.flags & 1) slate++; else if (f.bytes[320 * 90 + 160] > 200) camera++;
        input.release(f);
      }
      seen.push(camera ? 'C' : slate ? 'S' : '-');
      await sleep(100);
    }
  };
  ing.start();
  await watch(2500);
  const upAt = seen.indexOf('C');
  t.ok(upAt >= 0 && seen.slice(upAt + 2).every((x) => x === 'C'), `the camera's frames once it is up: ${seen.join('')}`);
  cam.unplug();
  const lostAt = seen.length;
  await watch(2500);
  const away = seen.slice(lostAt);
  t.ok(away.filter((x) => x === 'S').length >= 8, `the slate while the camera is away (its connection drops: at once): ${away.join('')}`);
  t.equal(ing.state, 'no-signal');
  await cam.start();
  const backAt = seen.length;
  await watch(3500);
  const back = seen.slice(backAt);
  const firstC = back.indexOf('C');
  t.ok(firstC >= 0 && firstC <= 30, `the camera's frames again ${firstC * 100} ms after it is back: ${back.join('')}`);
  t.ok(back.slice(firstC + 2).every((x) => x === 'C'), 'and no slate after that');
  const st = ing.stats();
  t.ok(st.slateFrames >= 30 && st.decodedFrames > 60, `${st.slateFrames} slate frames, ${st.decodedFrames} decoded frames`);
  t.comment(`measured: up at ${upAt * 100} ms, back ${firstC * 100} ms after the camera restarted; ${st.slateFrames} slate, ${st.decodedFrames} decoded`);
});
