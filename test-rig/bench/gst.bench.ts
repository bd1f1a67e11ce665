/**
 * GStreamer layer benchmark (edge/gst over the patched gstreamer-superficial).
 *
 * Measures, with WORKERS worker threads each running its own pipeline at once (as the
 * video-capture and video-encode workers do):
 *   - pull: 1080p NV12 frames pulled from an appsink into JS Buffers (one copy each);
 *   - push: 1080p NV12 frames pushed from JS into an appsrc with PTS (one copy each).
 * Baseline, in the same run: gst-launch-1.0 processes (same count) running the same
 * pipelines in C with a fakesink instead of JS — what GStreamer alone does on this machine.
 * The unpatched binding has no multi-worker figure at all (a second worker aborts the
 * process), so gst-launch is the stand-in for "the same work without the binding".
 *
 * Prints `BENCH gst <metric>=<value>` lines. Run: node dist/test-rig/bench/gst.bench.js
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GstPipeline } from '../../edge/gst/index.js';

const WORKERS = 2;
const FRAMES = 900;
const W = 1920;
const H = 1080;
const FRAME_BYTES = (W * H * 3) / 2;
const RAW = `video/x-raw,format=NV12,width=${W},height=${H},framerate=30/1`;

interface Job { kind: 'pull' | 'push'; frames: number }
interface Result { frames: number; ms: number }

async function pullJob(frames: number): Promise<Result> {
  const p = new GstPipeline(`videotestsrc pattern=black num-buffers=${frames} ! ${RAW} ! appsink name=sink sync=false max-buffers=4`);
  p.on('error', (e) => { throw e; });
  const t0 = performance.now();
  p.start();
  let n = 0;
  let bytes = 0;
  for await (const s of p.appsink('sink')) { n++; bytes += s.data.length; }
  const ms = performance.now() - t0;
  p.close();
  if (bytes !== n * FRAME_BYTES) throw new Error('short frames');
  return { frames: n, ms };
}

async function pushJob(frames: number): Promise<Result> {
  const p = new GstPipeline(
    `appsrc name=src format=time block=true max-bytes=${FRAME_BYTES * 4} caps=${RAW} ! fakesink name=sink sync=false`,
  );
  p.on('error', (e) => { throw e; });
  const frame = Buffer.alloc(FRAME_BYTES);
  const eos = new Promise<void>((r) => p.once('eos', r));
  const t0 = performance.now();
  p.start();
  const src = p.appsrc('src');
  let n = 0;
  for (let i = 0; i < frames; i++) {
    if (src.push(frame, { ptsNs: Math.round((i * 1e9) / 30), durationNs: Math.round(1e9 / 30) })) n++;
    // let bus messages and other work through now and then (block=true pushes block here)
    if (i % 30 === 29) await new Promise((r) => setImmediate(r));
  }
  src.endOfStream();
  await eos;
  const ms = performance.now() - t0;
  p.close();
  return { frames: n, ms };
}

function inWorkers(kind: Job['kind']): Promise<{ fps: number }> {
  const self = fileURLToPath(import.meta.url);
  const t0 = performance.now();
  return Promise.all(
    Array.from({ length: WORKERS }, () => new Promise<Result>((resolve, reject) => {
      const w = new Worker(self, { workerData: { kind, frames: FRAMES } satisfies Job });
      w.once('message', resolve);
      w.once('error', reject);
    })),
  ).then((rs) => {
    const total = rs.reduce((a, r) => a + r.frames, 0);
    if (total !== WORKERS * FRAMES) throw new Error(`${kind}: ${total} of ${WORKERS * FRAMES} frames`);
    return { fps: total / ((performance.now() - t0) / 1000) };
  });
}

function gstLaunch(pipeline: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('gst-launch-1.0', ['-q', ...pipeline.split(' ')], { stdio: ['ignore', 'ignore', 'inherit'] });
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`gst-launch-1.0 exit ${code}`))));
  });
}

async function baseline(pipeline: string): Promise<{ fps: number }> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: WORKERS }, () => gstLaunch(pipeline)));
  return { fps: (WORKERS * FRAMES) / ((performance.now() - t0) / 1000) };
}

const f1 = (x: number): string => x.toFixed(1);

if (!isMainThread) {
  const job = workerData as Job;
  const r = job.kind === 'pull' ? await pullJob(job.frames) : await pushJob(job.frames);
  parentPort!.postMessage(r);
} else {
  console.log(`# ${WORKERS} workers x ${FRAMES} frames of 1080p NV12 (${(FRAME_BYTES / 1e6).toFixed(2)} MB) each`);
  // warm-up (plugin loading, page faults)
  await pullJob(10);

  const pull = await inWorkers('pull');
  const pullBase = await baseline(`videotestsrc pattern=black num-buffers=${FRAMES} ! ${RAW} ! fakesink sync=false`);
  console.log(`BENCH gst pull_fps=${f1(pull.fps)} pull_baseline_gst_launch_fps=${f1(pullBase.fps)} pull_ratio=${(pull.fps / pullBase.fps).toFixed(2)} workers=${WORKERS}`);

  const push = await inWorkers('push');
  // The C stand-in for "frames handed to GStreamer": fakesrc filling a buffer of the same size each time.
  const pushBase = await baseline(
    `fakesrc num-buffers=${FRAMES} sizetype=fixed sizemax=${FRAME_BYTES} filltype=zero ! fakesink sync=false`,
  );
  console.log(`BENCH gst push_fps=${f1(push.fps)} push_baseline_gst_launch_fps=${f1(pushBase.fps)} push_ratio=${(push.fps / pushBase.fps).toFixed(2)} workers=${WORKERS}`);
  console.log(`BENCH gst pull_MBps=${f1((pull.fps * FRAME_BYTES) / 1e6)} push_MBps=${f1((push.fps * FRAME_BYTES) / 1e6)}`);
}
