/**
 * RTSP ingest passthrough against a real camera stand-in (GStreamer's RTSP server, x264 in
 * the camera, SPS/PPS only in its SDP) read by the real RtspIngest into a real encoded ring.
 * Asserted: the ring holds the camera's own H.264 (its SPS byte for byte as a second, direct
 * client sees it; SPS/PPS in-band before every IDR; as many frames decoded by ffprobe as
 * access units written, and as many as the camera sent, less the few before the first IDR and
 * in flight); a camera that is unplugged and comes back is in the ring again within 3 s, with
 * the same RtspIngest (nothing restarted); a wrong password, an H.265 and an MJPEG camera are
 * each a clear error naming the camera, and the password is in no message.
 */
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type ChannelConfig } from '../../../edge/config/index.js';
import { BoxClock } from '../../../edge/lib/clock.js';
import { FLAG_SYNC, RingConsumer, RingProducer, createRing, type RingRecord } from '../../../edge/lib/ring/index.js';
import { RtspIngest } from '../../../edge/video/rtsp-ingest.js';
import { freeTcpPort } from '../../rtp/gst-peers.js';
import { RtspCamera } from '../rtsp-camera.js';
import { OnvifSimulator } from '../simulator.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'orbox-ingest-'));
const PASSWORD = 'pa55-w0rd-never-logged';
const credFile = join(dir, 'cam.cred');
writeFileSync(credFile, `admin:${PASSWORD}\n`, { mode: 0o600 });
const wrongFile = join(dir, 'wrong.cred');
writeFileSync(wrongFile, `admin:not-${PASSWORD}\n`, { mode: 0o600 });

function channel(url: string, credentialsFile?: string): ChannelConfig {
  const cfg = validateConfig({
    box: { id: 'ingest-unit', dataDir: dir }, api: { socket: '/tmp/unused.sock' },
    channels: [{
      name: 'field', source: { type: 'rtsp', url, transport: 'tcp', credentialsFile, width: 640, height: 360, fps: 30 },
      hq: { width: 640, height: 360, bitrateKbps: 1500, gop: 30 }, lq: { width: 320, height: 180, bitrateKbps: 300, gop: 15 },
      record: false, snapshot: { enabled: false },
    }],
  });
  return cfg.channels[0];
}

/** NAL units of an Annex B access unit. */
function nals(au: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = -1;
  for (let i = 0; i + 2 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) {
      if (start >= 0) out.push(au.subarray(start, i - (i > 0 && au[i - 1] === 0 ? 1 : 0)));
      start = i + 3;
      i += 2;
    }
  }
  if (start >= 0) out.push(au.subarray(start));
  return out;
}
const spsOf = (data: Uint8Array): Buffer | undefined => { const n = nals(data).find((x) => (x[0] & 0x1f) === 7); return n && Buffer.from(n); };

function drain(c: RingConsumer, into: RingRecord[]): void {
  for (let r = c.read(); r; r = c.read()) into.push({ ...r, payload: r.payload.slice() });
}

function ingest(ch: ChannelConfig): { ing: RtspIngest; reader: RingConsumer; events: string[] } {
  const sab = createRing(1 << 22, 1);
  const events: string[] = [];
  const ing = new RtspIngest({ channel: ch, ring: new RingProducer(sab), clock: new BoxClock(), onEvent: (e) => events.push(`${e.type} ${e.reason ?? ''}`) });
  return { ing, reader: new RingConsumer(sab, 0, 'oldest'), events };
}

t.test('passthrough: the ring holds the camera\'s own H.264, frame for frame', async (t) => {
  const cam = new RtspCamera({ port: await freeTcpPort(), user: 'admin', password: PASSWORD });
  await cam.start();
  t.teardown(() => cam.stop());
  const { ing, reader } = ingest(channel(cam.url, credFile));
  t.teardown(() => ing.close());
  ing.start();
  const recs: RingRecord[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < 3500) { await sleep(100); drain(reader, recs); }
  // The camera's SPS as an independent client (gst-launch, stock elements) receives it.
  const direct = join(dir, 'direct.h264');
  // It runs until the timeout ends it (SIGINT): what it wrote by then is the sample.
  // (asynchronously: a synchronous child would stop this thread, and the ingest with it.)
  try { await promisify(execFile)('gst-launch-1.0', ['-q', 'rtspsrc', `location=${cam.url}`, 'user-id=admin', `user-pw=${PASSWORD}`, 'protocols=tcp', '!', 'rtph264depay', '!',
    'h264parse', 'config-interval=-1', '!', 'video/x-h264,stream-format=byte-stream,alignment=au', '!', 'filesink', `location=${direct}`], { timeout: 3000, killSignal: 'SIGINT' }); } catch { /* ended by the timeout */ }
  const sent = await cam.stop();
  await sleep(300);
  drain(reader, recs);
  ing.close();
  const st = ing.stats();
  t.equal(st.clock, 'arrival', 'status says where the capture times come from');
  t.ok(recs.length >= 80, `${recs.length} access units in 3.5 s at 30 fps`);
  t.ok(recs[0].flags & FLAG_SYNC, 'the ring starts at an IDR');
  const idrs = recs.filter((r) => r.flags & FLAG_SYNC);
  t.ok(idrs.length >= 3, `${idrs.length} IDRs (GOP 30)`);
  t.ok(idrs.every((r) => spsOf(r.payload)), 'SPS in-band before every IDR (the camera sends it only in its SDP)');
  const directSps = spsOf(readFileSync(direct));
  t.ok(directSps, 'the direct client saw an SPS');
  t.same(spsOf(idrs[0].payload), directSps, 'SPS identical to the camera\'s');
  for (let i = 1; i < recs.length; i++) if (recs[i].monoNs <= recs[i - 1].monoNs) { t.fail(`capture times not increasing at ${i}`); break; }
  const lastAge = Number(process.hrtime.bigint() - recs[recs.length - 1].monoNs) / 1e6;
  t.ok(lastAge > 0 && lastAge < 5000, 'capture times on the box\'s monotonic clock');
  const file = join(dir, 'ingest.h264');
  writeFileSync(file, Buffer.concat(recs.map((r) => r.payload)));
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', file]).toString());
  const s = probe.streams[0];
  t.equal(s.codec_name, 'h264');
  t.equal(`${s.width}x${s.height}`, '640x360');
  t.equal(Number(s.nb_read_frames), recs.length, `ffprobe decodes ${s.nb_read_frames} frames, the ${recs.length} access units written`);
  const missing = sent - recs.length - st.skippedBeforeIdr;
  t.ok(sent > 0 && missing >= 0 && missing <= 10, `camera sent ${sent}, ring ${recs.length} + ${st.skippedBeforeIdr} before the first IDR (${missing} in flight at the stop)`);
  t.comment(`measured: ${recs.length} AUs, ${idrs.length} IDRs, camera sent ${sent}, ${st.bytes} bytes`);
});

t.test('camera unplugged and back: in the ring again within 3 s, same ingest', async (t) => {
  const port = await freeTcpPort();
  const cam = new RtspCamera({ port, user: 'admin', password: PASSWORD });
  await cam.start();
  t.teardown(() => cam.stop());
  const { ing, reader, events } = ingest(channel(cam.url, credFile));
  t.teardown(() => ing.close());
  ing.start();
  const recs: RingRecord[] = [];
  for (let i = 0; i < 40 && ing.state !== 'live'; i++) await sleep(50);
  await sleep(1000);
  drain(reader, recs);
  t.equal(ing.state, 'live');
  cam.unplug();
  for (let i = 0; i < 60 && ing.state !== 'no-signal'; i++) await sleep(50);
  t.equal(ing.state, 'no-signal', 'the channel is marked no signal');
  await sleep(1500); // gone a while: several retries fail
  drain(reader, recs);
  const before = recs.length;
  await cam.start();
  const back = performance.now();
  let backMs = -1;
  while (performance.now() - back < 6000) {
    drain(reader, recs);
    if (recs.length > before) { backMs = performance.now() - back; break; }
    await sleep(20);
  }
  t.ok(backMs >= 0 && backMs <= 3000, `back in the ring ${Math.round(backMs)} ms after the camera listened again (limit 3000)`);
  t.ok(recs[before].flags & FLAG_SYNC, 'resumes at an IDR');
  t.ok(events.some((e) => e.startsWith('source-lost')) && events.filter((e) => e.startsWith('source-up')).length >= 2, `events: ${events.length}`);
  t.ok(ing.stats().sourceStarts >= 2, `${ing.stats().sourceStarts} connections, one RtspIngest`);
  t.comment(`measured: back after ${Math.round(backMs)} ms, ${ing.stats().losses} losses`);
});

t.test('wrong password: a clear error naming the camera, without the password', async (t) => {
  const cam = new RtspCamera({ port: await freeTcpPort(), user: 'admin', password: PASSWORD });
  await cam.start();
  t.teardown(() => cam.stop());
  const { ing, events } = ingest(channel(cam.url, wrongFile));
  t.teardown(() => ing.close());
  ing.start();
  for (let i = 0; i < 60 && !ing.stats().lastLoss; i++) await sleep(50);
  const why = ing.stats().lastLoss ?? '';
  t.match(why, `channel field: camera 127.0.0.1:${cam.opts.port}/stream refused the credentials in ${wrongFile} (RTSP 401)`);
  t.notOk([why, ...events].some((m) => m.includes(PASSWORD)), 'no password in any message');
  t.equal(ing.state, 'no-signal');
});

// The MJPEG camera's jpegenc is fed 4:2:0, the only layout RFC 2435 (rtpjpegpay) carries.
for (const codec of ['h265', 'mjpeg'] as const) {
  t.test(`${codec} camera: refused with the codec named`, async (t) => {
    const cam = new RtspCamera({ port: await freeTcpPort(), codec });
    await cam.start();
    t.teardown(() => cam.stop());
    const { ing, reader } = ingest(channel(cam.url));
    t.teardown(() => ing.close());
    ing.start();
    for (let i = 0; i < 100 && !ing.stats().lastLoss; i++) await sleep(50);
    t.match(ing.stats().lastLoss ?? '', `channel field: camera 127.0.0.1:${cam.opts.port}/stream sends ${codec === 'h265' ? 'H265' : 'MJPEG'}; a passthrough channel takes H.264 only`);
    t.equal(reader.read(), undefined, 'nothing in the ring');
    t.comment(`reason: ${ing.stats().lastLoss}`);
  });
}

t.test('onvif source: the stream URI resolved from the device, again after a failure; a wrong password names the device', async (t) => {
  const cam = new RtspCamera({ port: await freeTcpPort(), user: 'admin', password: PASSWORD });
  await cam.start();
  t.teardown(() => cam.stop());
  const dev = new OnvifSimulator({ user: 'admin', password: PASSWORD, rtspUri: cam.url });
  await dev.start();
  t.teardown(() => dev.stop());
  const onvifChannel = (file: string): ChannelConfig => {
    const c = channel(cam.url, file);
    return { ...c, source: { type: 'onvif', device: dev.deviceUrl, transport: 'tcp', decode: false, credentialsFile: file, width: 640, height: 360, fps: 30 } };
  };
  const { ing, reader } = ingest(onvifChannel(credFile));
  t.teardown(() => ing.close());
  ing.start();
  for (let i = 0; i < 60 && ing.state !== 'live'; i++) await sleep(50);
  t.equal(ing.state, 'live', 'live from the URI the device gave');
  t.ok(reader.read(), 'access units in the ring');
  const asked = dev.seen.filter((o) => o === 'GetStreamUri').length;
  cam.unplug();
  await sleep(1200);
  await cam.start();
  for (let i = 0; i < 60 && ing.state !== 'live'; i++) await sleep(50);
  t.equal(ing.state, 'live', 'back after the camera restarted');
  t.ok(dev.seen.filter((o) => o === 'GetStreamUri').length > asked, 'the URI was asked again after the failure');
  ing.close();

  const bad = ingest(onvifChannel(wrongFile));
  t.teardown(() => bad.ing.close());
  bad.ing.start();
  for (let i = 0; i < 40 && !bad.ing.stats().lastLoss; i++) await sleep(50);
  t.equal(bad.ing.stats().lastLoss, `channel field: ONVIF device 127.0.0.1:${dev.httpPort}: GetCapabilities refused the credentials (SOAP fault NotAuthorized)`);
  t.notOk((bad.ing.stats().lastLoss ?? '').includes(PASSWORD));
});

t.test('hostile RTSP servers: silent, garbage, endless: each bounded in time and memory, retried', async (t) => {
  const { createServer } = await import('node:net');
  type Sock = import('node:net').Socket;
  const kinds: Record<string, { serve: (s: Sock) => void; maxStallMs: number }> = {
    silent: { serve: () => undefined, maxStallMs: 500 },
    garbage: { serve: (s) => { s.end('RTSP/1.0 200 OK\r\nCSeq: x\r\nContent-Length: -5\r\n\r\n\x00\xff\xfegarbage'); }, maxStallMs: 500 },
    // Known limit: closing an rtspsrc that is reading an endless reply is a synchronous native
    // call that returns only once GStreamer's RTSP reader gives up (about 6 s measured): the
    // video-capture thread stops that long. Bounded here; a fix needs an asynchronous state
    // change in the binding.
    endless: {
      serve: (s) => {
        const chunk = Buffer.alloc(64 * 1024, 'X');
        const pump = (): void => { while (!s.destroyed && s.write(chunk)) { /* until the socket pushes back */ } };
        s.on('drain', pump);
        pump();
      },
      maxStallMs: 10_000,
    },
  };
  for (const [kind, k] of Object.entries(kinds)) {
    const sockets = new Set<Sock>();
    const srv = createServer((s) => { sockets.add(s); s.on('error', () => undefined); k.serve(s); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as import('node:net').AddressInfo).port;
    const { ing, reader } = ingest(channel(`rtsp://127.0.0.1:${port}/stream`));
    const rss0 = process.memoryUsage().rss;
    let last = performance.now();
    let maxStall = 0;
    const tick = setInterval(() => { const n = performance.now(); maxStall = Math.max(maxStall, n - last - 50); last = n; }, 50);
    const t0 = performance.now();
    let firstLossMs = -1;
    ing.start();
    while (performance.now() - t0 < 12_000 && ing.stats().sourceStarts < 2) {
      if (firstLossMs < 0 && ing.stats().losses > 0) firstLossMs = performance.now() - t0;
      await sleep(50);
    }
    if (firstLossMs < 0 && ing.stats().losses > 0) firstLossMs = performance.now() - t0;
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    const st = ing.stats();
    ing.close();
    clearInterval(tick);
    for (const s of sockets) s.destroy();
    srv.close();
    t.ok(firstLossMs >= 0 && firstLossMs <= 3500 + k.maxStallMs, `${kind}: lost after ${Math.round(firstLossMs)} ms: ${st.lastLoss}`);
    t.ok(st.sourceStarts >= 2, `${kind}: retried (${st.sourceStarts} connections)`);
    t.match(st.lastLoss ?? '', `camera 127.0.0.1:${port}/stream`, `${kind}: the reason names the camera`);
    t.ok(grown < 64, `${kind}: memory grew ${grown.toFixed(1)} MiB (limit 64)`);
    t.ok(maxStall <= k.maxStallMs, `${kind}: this thread's event loop stopped at most ${Math.round(maxStall)} ms (limit ${k.maxStallMs})`);
    t.equal(reader.read(), undefined, `${kind}: nothing in the ring`);
  }
});
