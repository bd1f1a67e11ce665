/**
 * video-capture worker: every configured channel's source (test pattern, V4L2 device,
 * GStreamer source description) into its raw slot ring `raw.<channel>`, stamped on the box
 * clock, with a "no signal" slate while a source is lost (edge/video/capture.ts); an rtsp
 * camera's H.264 passed through into `video.<channel>.hq` (edge/video/rtsp-ingest.ts), and with
 * `decode` also decoded into `raw.<channel>` for its lq and stills.
 *
 * Lifecycle: start() probes the raw pixel format of this board's pipeline profile (cached in
 * the data folder) and starts one ChannelCapture per channel as soon as the channel's raw
 * ring's consumer (video-encode) has asked for a frame, so the box's first frames are not
 * captured into a ring nobody reads yet and overwritten there (at most CONSUMER_WAIT_MS: a
 * channel whose encoder never comes still shows its source in status); stop() closes them.
 * A capture never throws on a failing source: the slate covers it and the source is retried
 * with backoff. Events to control: `source-lost`, `source-up`.
 */
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync } from 'node:fs';
import { probeProfile } from '../../gst-pipelines/index.js';
import { ChannelCapture } from '../video/capture.js';
import { RtspIngest } from '../video/rtsp-ingest.js';
import type { Yuv420Format } from '../video/overlay.js';
import { runWorker, type WorkerContext } from '../runtime/index.js';

const captures: (ChannelCapture | RtspIngest)[] = [];
/** The H.264 decoder of decoding camera channels: software here; a board profile does not
 *  name its hardware decoder yet (mppvideodec, v4l2h264dec would go there). */
const DECODER = 'avdec_h264';

/** Whether GStreamer has the element (gst-inspect-1.0 --exists, as the profile probe asks). */
async function elementExists(factory: string): Promise<boolean> {
  try {
    await promisify(execFile)('gst-inspect-1.0', ['--exists', factory], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}
const CONSUMER_WAIT_MS = 10_000;
let statsTimer: NodeJS.Timeout | undefined;

/** Probes the raw format and starts the captures; runs right after the worker is ready. */
async function setup(ctx: WorkerContext): Promise<void> {
    let format: Yuv420Format = 'NV12';
    try {
      mkdirSync(ctx.config.box.dataDir, { recursive: true });
      const rep = await probeProfile({ cacheFile: join(ctx.config.box.dataDir, 'gst-profile.json') });
      if (rep.picked.rawFormat === 'NV12' || rep.picked.rawFormat === 'I420') format = rep.picked.rawFormat;
    } catch (err) {
      ctx.log.warn({ err }, 'no pipeline profile; capturing NV12');
    }
    await Promise.all(ctx.config.channels.map(async (ch) => {
      if (ch.source.type === 'rtsp' || ch.source.type === 'onvif') {
        // A camera's own H.264, straight into the channel's hq ring (no raw ring, no encoder).
        // With `decode`, its decoded frames also go to raw.<channel> (lq and stills in video-encode).
        // A decoder this system lacks must not cost the passthrough (the element would fail the
        // whole pipeline): the channel then runs without its decode, and says why.
        let decode = ch.source.decode;
        if (decode && !(await elementExists(DECODER))) {
          ctx.log.error({ channel: ch.name, decoder: DECODER }, `channel ${ch.name}: decode configured but this system has no ${DECODER} element; the camera is passed through without lq and stills`);
          decode = false;
        }
        const raw = decode ? ctx.slotProducer(`raw.${ch.name}`) : undefined;
        const channel = decode === ch.source.decode ? ch : { ...ch, source: { ...ch.source, decode } };
        const ing = new RtspIngest({ channel, ring: ctx.producer(`video.${ch.name}.hq`), raw, format, decoder: DECODER, clock: ctx.clock, log: ctx.log, onEvent: (e) => ctx.emit({ ...e }) });
        ing.start();
        captures.push(ing);
        return;
      }
      const ring = ctx.slotProducer(`raw.${ch.name}`);
      const deadline = performance.now() + CONSUMER_WAIT_MS;
      while (!ring.consumersReady() && ctx.running && performance.now() < deadline) await sleep(10);
      if (!ctx.running) return;
      if (!ring.consumersReady()) ctx.log.warn({ channel: ch.name, waitedMs: CONSUMER_WAIT_MS }, 'no encoder reading the raw ring; capturing anyway');
      const c = new ChannelCapture({
        channel: ch, format, ring, clock: ctx.clock, log: ctx.log,
        onEvent: (e) => ctx.emit({ ...e }),
      });
      c.start();
      captures.push(c);
    }));
    statsTimer = setInterval(() => {
      ctx.emit({ type: 'capture-stats', channels: Object.fromEntries(captures.map((c) => [c.name, c.stats()])) });
    }, 2000);
}

let setupDone: Promise<void> | undefined;

runWorker({
  start(ctx) {
    setupDone = setup(ctx).catch((err) => ctx.log.error({ err }, 'video capture setup failed'));
  },
  async stop() {
    await setupDone;
    clearInterval(statsTimer);
    for (const c of captures) c.close();
  },
});
