/**
 * Source loss: a channel whose source is another process (a gst-launch-1.0 camera stand-in
 * writing raw frames into shared memory, read by the box through a `gst` source description
 * with shmsrc) is killed mid-stream and restarted. An RTSP viewer keeps decoding at the
 * channel's rate through the outage (the slate), and the source's own frames are back in the
 * ring within 3 s of the source returning, without any worker restarting.
 */
import t from 'tap';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import { rtspUrls } from '../../edge/video/index.js';
import { GstPeer, freeTcpPort, rtspH264Viewer } from '../rtp/gst-peers.js';
import { nextEvent, sleep, streamsMounted, videoConfig } from './helpers.js';

const W = 320, H = 240, FPS = 30;

function camera(socket: string): GstPeer {
  return new GstPeer([
    'videotestsrc', 'is-live=true', 'pattern=smpte', '!', `video/x-raw,format=NV12,width=${W},height=${H},framerate=${FPS}/1`, '!',
    'shmsink', `socket-path=${socket}`, 'wait-for-connection=false', 'sync=false', 'shm-size=20000000',
  ]);
}

t.test('source loss: the viewer keeps receiving the slate; the source is back within 3 s of returning', async (t) => {
  const port = await freeTcpPort();
  const base = videoConfig(port, []);
  const socket = join(base.box.dataDir, 'camera.shm');
  const cfg = videoConfig(port, [{
    name: 'cam', width: W, height: H,
    source: { type: 'gst', description: `shmsrc socket-path=${socket} is-live=true do-timestamp=true ! capsfilter caps=video/x-raw,format=NV12,width=${W},height=${H},framerate=${FPS}/1`, width: W, height: H, fps: FPS },
  }]);
  let cam = camera(socket);
  await cam.ready();
  await sleep(300);
  const sup = new Supervisor(cfg);
  const restarts: string[] = [];
  sup.on('restart', (w: string) => restarts.push(w));
  t.teardown(async () => { await sup.stop(); await cam.stop(1000); });
  await sup.start();
  const url = rtspUrls(cfg).find((u) => u.role === 'lq')!.url;
  await streamsMounted(sup, [url]);
  const viewer = rtspH264Viewer(url);
  t.teardown(() => viewer.stop());
  await viewer.waitFrames(30, 15_000);

  // The source dies (kill -9: no EOS, the socket just closes).
  const lost = nextEvent(sup, (e) => e.type === 'source-lost', 5000);
  const killedAt = performance.now();
  await cam.stop(0);
  const ev = await lost;
  t.comment(`source lost after ${Math.round(performance.now() - killedAt)} ms: ${String(ev.reason)}`);
  const n0 = viewer.frameCount;
  const o0 = performance.now();
  await sleep(3000);
  const outageRate = (viewer.frameCount - n0) / ((performance.now() - o0) / 1000);
  t.ok(outageRate >= FPS * 0.9, `viewer keeps decoding during the outage: ${outageRate.toFixed(1)} fps (slate)`);

  // The source returns.
  const up = nextEvent(sup, (e) => e.type === 'source-up', 10_000);
  // A killed shmsink leaves its socket file behind, and a new one cannot bind over it: the
  // stand-in camera's "driver" clears it, as a device node reappears on replug.
  rmSync(socket, { force: true });
  cam = camera(socket);
  await cam.ready();
  const returnedAt = performance.now();
  await up;
  const backMs = performance.now() - returnedAt;
  t.ok(backMs <= 3000, `source frames back ${Math.round(backMs)} ms after the source returned`);
  const stats = await nextEvent(sup, (e) => e.type === 'capture-stats', 5000);
  const cs = (stats.channels as Record<string, { state: string; slateFrames: number; sourceFrames: number; losses: number }>).cam;
  t.equal(cs.state, 'live', 'capture is live again');
  t.ok(cs.slateFrames >= FPS * 2, `${cs.slateFrames} slate frames sent while the source was away`);
  const n1 = viewer.frameCount;
  await sleep(2000);
  t.ok((viewer.frameCount - n1) / 2 >= FPS * 0.9, 'viewer still decoding after the source returned');
  const r = await viewer.stop();
  t.same(r.complaints, [], 'the viewer saw no decoder or depayloader warning across the switch');
  t.same(restarts, [], 'no worker restarted');
});
