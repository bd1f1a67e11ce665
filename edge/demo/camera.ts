/**
 * The demo's IP camera: the camera stand-in the test rig also uses (edge/demo/rtsp-camera.py,
 * GStreamer's RTSP server through python3-gi, x264 in the camera) as a child process on
 * 127.0.0.1, at a port the system picked free. `make run`'s box reads it as an `rtsp` channel
 * with `decode` (passthrough hq, lq and stills from a decode).
 *
 * Lifecycle: startDemoCamera() resolves once the camera listens, or with undefined (and the
 * reason) when it cannot run here (python3-gi or the RTSP server typelib missing): the demo
 * goes on without a camera. close() ends it (SIGTERM, then SIGKILL after 2 s); the CLI
 * calls it when the box stops.
 * Runs on: the CLI's process (orbox run without --config).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../edge/demo/rtsp-camera.py', import.meta.url));

/** gop: the camera's keyframe interval (20: within a recorded channel's loss bound at 30 fps). */
export interface DemoCamera { url: string; width: number; height: number; fps: number; gop: number; close(): Promise<void> }

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startDemoCamera(opts: { width?: number; height?: number; fps?: number } = {}): Promise<DemoCamera | { unavailable: string }> {
  const width = opts.width ?? 640, height = opts.height ?? 360, fps = opts.fps ?? 30;
  const port = await freePort();
  const c = spawn('/usr/bin/python3', [SCRIPT, '--port', String(port), '--path', '/field', '--width', String(width), '--height', String(height), '--fps', String(fps), '--gop', '20', '--pattern', 'ball'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  c.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-500); });
  c.on('error', (e) => { err = e.message; });
  const ready = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 10_000);
    createInterface({ input: c.stdout! }).on('line', (l) => { if (l.startsWith('ready')) { clearTimeout(t); resolve(true); } });
    c.on('exit', () => { clearTimeout(t); resolve(false); });
  });
  if (!ready) {
    c.kill('SIGKILL');
    return { unavailable: `demo camera (${SCRIPT}) did not start: ${err.trim() || 'no answer in 10 s'}` };
  }
  return {
    url: `rtsp://127.0.0.1:${port}/field`, width, height, fps, gop: 20,
    close: async () => {
      if (c.exitCode !== null) return;
      c.kill('SIGTERM');
      await Promise.race([once(c, 'exit'), new Promise((r) => setTimeout(r, 2000))]);
      c.kill('SIGKILL');
    },
  };
}
