/**
 * Passthrough channels: how many rtsp cameras' H.264 one box process relays into its encoded
 * rings (RtspIngest: rtspsrc -> depay -> h264parse -> appsink -> ring, plus one reader per
 * ring), against one encoded channel's cost (x264enc ultrafast/zerolatency at the same size,
 * test pattern in, appsink out) measured in the same run. CPU is this process's own
 * (process.cpuUsage: all its threads, GStreamer's included), in % of one core.
 *
 * The cameras: one stand-in (rtsp-camera.py, gst-rtsp-server, shared media) encoding 1080p30
 * once and serving every channel, in its own process (its CPU is not the box's).
 * Not measured here yet: recording and RTSP serving of each passthrough channel (the issue's
 * "relay + record + serve"), latency added vs the camera's direct RTSP.
 * Env: ORBOX_BENCH_PASSTHROUGH_N (default "4,16"), ORBOX_BENCH_SECONDS (default 8),
 * ORBOX_BENCH_PASSTHROUGH_SIZE (default 1920x1080).
 */
import { BoxClock } from '../../edge/lib/clock.js';
import { GstPipeline } from '../../edge/gst/index.js';
import { RingConsumer, RingProducer, createRing } from '../../edge/lib/ring/index.js';
import { validateConfig } from '../../edge/config/index.js';
import { RtspIngest } from '../../edge/video/rtsp-ingest.js';
import { freeTcpPort } from '../rtp/gst-peers.js';
import { RtspCamera } from '../onvif/rtsp-camera.js';

const [W, H] = (process.env.ORBOX_BENCH_PASSTHROUGH_SIZE ?? '1920x1080').split('x').map(Number);
const FPS = 30;
const SECONDS = Number(process.env.ORBOX_BENCH_SECONDS ?? 8);
const COUNTS = (process.env.ORBOX_BENCH_PASSTHROUGH_N ?? '4,16').split(',').map(Number);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function cpuOver(ms: number): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(ms);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) / 1000) / (performance.now() - t0) * 100;
}

async function passthrough(url: string, n: number): Promise<{ cpu: number; aus: number; fps: number }> {
  // One configuration per channel: a box configuration holds at most 16 channels today (the
  // schema's limit), and this measures past it.
  const channels = Array.from({ length: n }, (_, i) => validateConfig({
    box: { id: 'bench', dataDir: '/tmp/orbox-bench-pt' }, api: { socket: '/tmp/orbox-bench-pt.sock' },
    channels: [{
      name: `cam${i}`, source: { type: 'rtsp', url, transport: 'tcp', width: W, height: H, fps: FPS },
      hq: { width: W, height: H, bitrateKbps: 4000, gop: 15 }, lq: { width: 320, height: 180, bitrateKbps: 300, gop: 15 }, record: false, snapshot: { enabled: false },
    }],
  }).channels[0]);
  const clock = new BoxClock();
  const parts = channels.map((ch) => {
    const sab = createRing(1 << 23, 1);
    const ing = new RtspIngest({ channel: ch, ring: new RingProducer(sab), clock });
    return { ing, reader: new RingConsumer(sab, 0, 'live') };
  });
  let aus = 0;
  let reading = true;
  const readers = parts.map(async ({ reader }) => {
    const buf = new Uint8Array(1 << 22);
    while (reading) { while (reader.readInto(buf) >= 0) aus++; await reader.wait(100); }
  });
  for (const p of parts) p.ing.start();
  for (let i = 0; i < 100 && parts.some((p) => p.ing.state !== 'live'); i++) await sleep(100);
  const live = parts.filter((p) => p.ing.state === 'live').length;
  await sleep(1000);
  const a0 = aus;
  const cpu = await cpuOver(SECONDS * 1000);
  const fps = (aus - a0) / SECONDS / n;
  reading = false;
  for (const p of parts) { p.reader.wake(); p.ing.close(); }
  await Promise.all(readers);
  if (live < n) console.log(`# only ${live} of ${n} passthrough channels went live`);
  return { cpu, aus: aus - a0, fps };
}

async function encodedChannel(): Promise<number> {
  const p = new GstPipeline(`videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=${W},height=${H},framerate=${FPS}/1 ! ` +
    'x264enc tune=zerolatency speed-preset=ultrafast bitrate=4000 key-int-max=15 ! appsink name=out sync=false max-buffers=30 drop=true', { label: 'bench encode' });
  p.on('error', (e) => console.log(`# encode error: ${e.message}`));
  p.start();
  let going = true;
  const sink = p.appsink('out');
  const loop = (async () => { while (going && await sink.pull()); })();
  await sleep(1000);
  const cpu = await cpuOver(SECONDS * 1000);
  going = false;
  p.close();
  await loop;
  return cpu;
}

const cam = new RtspCamera({ port: await freeTcpPort(), width: W, height: H, fps: FPS, gop: 15 });
await cam.start();
try {
  const enc = await encodedChannel();
  console.log(`BENCH passthrough encoded_channel_cpu_pct=${enc.toFixed(1)} size=${W}x${H}@${FPS}`);
  for (const n of COUNTS) {
    const r = await passthrough(cam.url, n);
    const per = r.cpu / n;
    console.log(`BENCH passthrough channels=${n} cpu_pct=${r.cpu.toFixed(1)} per_channel_cpu_pct=${per.toFixed(2)} fps_per_channel=${r.fps.toFixed(1)} ` +
      `encoded_over_passthrough=${(enc / per).toFixed(1)} channels_at_60pct_of_2_cores=${Math.floor(120 / per)} goal_met=${n >= 32 ? r.cpu < 120 && r.fps >= FPS * 0.95 : 'n/a'}`);
  }
} finally {
  await cam.stop();
}
