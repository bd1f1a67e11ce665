/**
 * The demo's camera: startDemoCamera() serves H.264 over RTSP that an independent client
 * (ffprobe) reads at the announced size, the demo configuration with it validates and has the
 * `field` rtsp channel with decode, and close() ends the camera (the port refuses afterwards).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { demoConfig } from '../../config/demo.js';
import { startDemoCamera } from '../camera.js';

const run = promisify(execFile);

t.test('demo camera: H.264 over RTSP, a decoding rtsp channel in the demo configuration', async (t) => {
  const cam = await startDemoCamera();
  if ('unavailable' in cam) throw new Error(cam.unavailable);
  t.teardown(() => cam.close());
  const { stdout } = await run('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', cam.url], { timeout: 10_000 });
  const s = (JSON.parse(stdout) as { streams: { codec_name: string; width: number; height: number }[] }).streams[0];
  t.same([s.codec_name, s.width, s.height], ['h264', cam.width, cam.height], `ffprobe reads ${cam.url}`);
  const cfg = demoConfig('var', { camera: cam });
  const field = cfg.channels.find((c) => c.name === 'field');
  t.same(field?.source, { type: 'rtsp', url: cam.url, transport: 'tcp', decode: true, width: cam.width, height: cam.height, fps: cam.fps }, 'the demo has the camera as a decoding rtsp channel');
  t.same([field?.lq.width, field?.lq.height], [cam.width / 2, cam.height / 2], 'its lq at half the camera\'s size');
  await cam.close();
  const after = await run('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', cam.url], { timeout: 5000 }).then(() => 'answered', () => 'refused');
  t.equal(after, 'refused', 'closed: the camera is gone');
});
