/**
 * A whole box with a decoding camera channel (`rtsp`, `decode: true`) fed by the camera
 * stand-in: video-capture passes the camera's H.264 through and decodes it into raw.<channel>,
 * video-encode encodes its lq and stills. Asserted through what a user sees: the box's lq
 * mount plays at the lq's configured size (ffprobe, an independent client) while the hq mount
 * is the camera's own size; the channel's encode stats count stills of the configured width;
 * no worker restarted.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Supervisor } from '../../../edge/supervisor/supervisor.js';
import { rtspUrls } from '../../../edge/video/index.js';
import { freeTcpPort } from '../../rtp/gst-peers.js';
import { nextEvent, sleep, streamsMounted, videoConfig } from '../../video/helpers.js';
import { RtspCamera } from '../rtsp-camera.js';

const run = promisify(execFile);

async function probe(url: string): Promise<string> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', url], { timeout: 15_000 });
  return stdout.trim();
}

t.test('decoding camera channel in a box: lq served at its size, stills made, hq the camera\'s', async (t) => {
  const port = await freeTcpPort();
  const cam = new RtspCamera({ port: await freeTcpPort(), width: 640, height: 360, fps: 30, gop: 20 });
  await cam.start();
  const cfg = videoConfig(port, [{
    name: 'field', gop: 20, lq: { width: 320, height: 180 }, snapshot: { intervalS: 1, width: 480 },
    source: { type: 'rtsp', url: cam.url, decode: true, width: 640, height: 360, fps: 30 },
  }], { });
  const sup = new Supervisor(cfg);
  const restarts: string[] = [];
  sup.on('restart', (w: string) => restarts.push(w));
  t.teardown(async () => { await sup.stop(); await cam.stop(); });
  await sup.start();
  const urls = rtspUrls(cfg);
  const hq = urls.find((u) => u.role === 'hq')!.url, lq = urls.find((u) => u.role === 'lq')!.url;
  await streamsMounted(sup, [hq, lq]);
  t.equal(await probe(lq), 'h264,320,180', 'the lq mount plays at the lq\'s configured size');
  t.equal(await probe(hq), 'h264,640,360', 'the hq mount is the camera\'s own size');
  await sleep(1500);
  const enc = await nextEvent(sup, (e) => e.type === 'encode-stats', 5000);
  const field = (enc.channels as Record<string, { snapshot: { stills: number; width: number } | null; out: { hq: { aus: number }; lq: { aus: number } } }>).field;
  t.ok(field?.snapshot && field.snapshot.stills >= 1 && field.snapshot.width === 480, `stills of the configured width: ${JSON.stringify(field?.snapshot)}`);
  t.ok(field && field.out.lq.aus > 30 && field.out.hq.aus === 0, `lq encoded (${field?.out.lq.aus} AUs), hq not (${field?.out.hq.aus})`);
  t.same(restarts, [], 'no worker restarted');
});
