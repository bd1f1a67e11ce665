/**
 * The demo's camera: startDemoCamera() serves H.264 over RTSP that an independent client
 * (ffprobe) reads at the announced size, the demo configuration with it validates and has the
 * `field` rtsp channel with decode, and close() ends the camera (the port refuses afterwards);
 * a box that dies without closing it (kill -9) leaves no camera behind.
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { demoConfig } from '../../config/demo.js';
import { startDemoCamera } from '../camera.js';
import { processTable } from '../../../test-rig/procfs.js';

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

t.test('demo camera: a box killed without a word (kill -9, an abort) leaves no camera running', async (t) => {
  // The box is a child process here, so it can be killed; the camera is its child.
  const box = spawn(process.execPath, ['--input-type=module', '-e',
    `const { startDemoCamera } = await import(${JSON.stringify(new URL('../camera.js', import.meta.url).href)});
     const cam = await startDemoCamera(); console.log('unavailable' in cam ? 'unavailable' : cam.url); setInterval(() => {}, 1000);`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { box.kill('SIGKILL'); });
  const [line] = (await once(createInterface({ input: box.stdout! }), 'line')) as [string];
  const port = /:(\d+)\//.exec(line)?.[1];
  if (!port) throw new Error(`the camera did not start: ${line}`);
  const cameraPid = (): number | null => processTable().find((p) => p.cmdline.includes(`rtsp-camera.py --port ${port} `))?.pid ?? null;
  const pid = cameraPid();
  t.ok(pid, `the camera runs (pid ${pid})`);
  box.kill('SIGKILL');
  const until = Date.now() + 5000;
  while (cameraPid() !== null && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  t.equal(cameraPid(), null, 'the camera exited after its box was killed');
});
