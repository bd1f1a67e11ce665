/**
 * A whole box with one passthrough channel: an IP camera stand-in (GStreamer's RTSP server,
 * H.264 made once in the camera) behind the simulated ONVIF device, as an `onvif` source (its
 * RTSP URI asked of the device). Asserted: the box serves the camera's
 * own H.264 at its hq mount (SPS byte for byte as a direct client of the camera sees it) and
 * records it (frames ffprobe decodes in the segments = access units the ingest wrote, less the
 * few in flight at the stop); the camera unplugged and back is live again within 3 s of
 * listening again, with no worker restarted; the video-encode worker encodes nothing for it.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Supervisor } from '../../../edge/supervisor/supervisor.js';
import { rtspUrls } from '../../../edge/video/index.js';
import { GstPeer, freeTcpPort } from '../../rtp/gst-peers.js';
import { ffprobeFrames, nextEvent, segmentFiles, sleep, streamsMounted, videoConfig } from '../../video/helpers.js';
import { RtspCamera } from '../rtsp-camera.js';
import { OnvifSimulator } from '../simulator.js';

const PASSWORD = 's3cret-camera-pw';

function annexBClient(url: string, out: string, extra: string[] = []): GstPeer {
  return new GstPeer(['rtspsrc', `location=${url}`, 'protocols=tcp', ...extra, '!', 'rtph264depay', '!', 'h264parse', 'config-interval=-1', '!',
    'video/x-h264,stream-format=byte-stream,alignment=au', '!', 'filesink', `location=${out}`]);
}

/** The first SPS NAL of an Annex B file. */
function firstSps(path: string): Buffer | undefined {
  const b = readFileSync(path);
  for (let i = 0; i + 4 < b.length; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1 && (b[i + 3] & 0x1f) === 7) {
      let j = i + 3;
      while (j + 2 < b.length && !(b[j] === 0 && b[j + 1] === 0 && (b[j + 2] === 1 || b[j + 2] === 0))) j++;
      return b.subarray(i + 3, j);
    }
  }
  return undefined;
}

t.test('passthrough channel: served, recorded and back after a camera restart, nothing re-encoded', async (t) => {
  const port = await freeTcpPort();
  // A short camera GOP keeps the segments (cut at the camera's keyframes) near their 2 s.
  const gop = 20;
  const cam = new RtspCamera({ port: await freeTcpPort(), user: 'admin', password: PASSWORD, gop });
  await cam.start();
  const base = videoConfig(port, []);
  const cred = join(base.box.dataDir, 'field.cred');
  writeFileSync(cred, `admin:${PASSWORD}\n`, { mode: 0o600 });
  // The camera as an ONVIF device: the box asks the simulated device service for the RTSP URI.
  const dev = new OnvifSimulator({ user: 'admin', password: PASSWORD, rtspUri: cam.url });
  await dev.start();
  t.teardown(() => dev.stop());
  const cfg = videoConfig(port, [{ name: 'field', gop, source: { type: 'onvif', device: dev.deviceUrl, transport: 'tcp', credentialsFile: cred, width: 640, height: 360, fps: 30 } }],
    { box: { id: 'video-test', room: 'Test OR', dataDir: base.box.dataDir } });
  const sup = new Supervisor(cfg);
  const restarts: string[] = [];
  sup.on('restart', (w: string) => restarts.push(w));
  const logged: string[] = [];
  sup.on('worker-event', (_w: string, e: unknown) => logged.push(JSON.stringify(e)));
  t.teardown(async () => { await sup.stop(); await cam.stop(); });
  await sup.start();
  const url = rtspUrls(cfg).find((u) => u.role === 'hq')!.url;
  await streamsMounted(sup, [url]);

  const served = join(base.box.dataDir, 'served.h264');
  const direct = join(base.box.dataDir, 'direct.h264');
  const viewer = annexBClient(url, served);
  const own = annexBClient(cam.url, direct, ['user-id=admin', `user-pw=${PASSWORD}`]);
  await sleep(3000);
  await Promise.all([viewer.stop(2000), own.stop(2000)]);
  const sps = firstSps(direct);
  t.ok(sps, 'the camera\'s own SPS, from a direct client');
  t.same(firstSps(served), sps, 'the box serves the camera\'s SPS, byte for byte (not re-encoded)');

  // Unplugged, back.
  const lost = nextEvent(sup, (e) => e.type === 'source-lost' && e.channel === 'field', 5000);
  cam.unplug();
  const ev = await lost;
  t.comment(`lost: ${String(ev.reason)}`);
  await sleep(1500);
  const up = nextEvent(sup, (e) => e.type === 'source-up' && e.channel === 'field', 10_000);
  await cam.start();
  const at = performance.now();
  await up;
  const backMs = performance.now() - at;
  t.ok(backMs <= 3000, `live again ${Math.round(backMs)} ms after the camera listened again (limit 3000)`);
  await sleep(2500);
  const stats = await nextEvent(sup, (e) => e.type === 'capture-stats', 5000);
  const cs = (stats.channels as Record<string, { state: string; aus: number; clock: string }>).field;
  t.equal(cs.state, 'live');
  t.equal(cs.clock, 'arrival', 'status says where capture times come from');
  const enc = await nextEvent(sup, (e) => e.type === 'encode-stats', 5000);
  t.same(Object.keys(enc.channels as object), [], 'no encoder for the passthrough channel');
  await sup.stop();
  const segs = segmentFiles(join(base.box.dataDir, 'recordings'), 'field');
  t.ok(segs.length >= 2, `${segs.length} segments`);
  let frames = 0;
  for (const s of segs) frames += (await ffprobeFrames(s)) ?? 0;
  t.ok(frames > 0 && frames <= cs.aus + 90 && frames >= cs.aus - 10, `${frames} frames recorded; the ingest had written ${cs.aus} two seconds before the stop`);
  t.same(restarts, [], 'no worker restarted');
  t.ok(dev.seen.filter((o) => o === 'GetStreamUri').length >= 2, 'the stream URI asked at start and again after the camera was lost');
  t.notOk(logged.some((l) => l.includes(PASSWORD)), 'the camera password is in no event');
  t.comment(`measured: back ${Math.round(backMs)} ms, ${segs.length} segments, ${frames} frames`);
});
