/**
 * A stand-in IP camera for tests: rtsp-camera.py (GStreamer's RTSP server through python3-gi,
 * Debian packages python3-gi and gir1.2-gst-rtsp-server-1.0) as a child process on 127.0.0.1.
 * start() resolves once it listens; unplug() kills it (SIGKILL: a camera losing power, no
 * TEARDOWN); stop() ends it and resolves with the access units it sent; a camera can be
 * started again on the same port (a camera that reboots).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../edge/demo/rtsp-camera.py', import.meta.url));

export interface CameraOptions {
  port: number;
  path?: string;
  user?: string;
  password?: string;
  codec?: 'h264' | 'h265' | 'mjpeg';
  width?: number;
  height?: number;
  fps?: number;
  gop?: number;
  /** videotestsrc pattern nick; default ball. */
  pattern?: string;
}

export class RtspCamera {
  private child: ChildProcess | undefined;
  private framesLine: Promise<number> | undefined;
  constructor(readonly opts: CameraOptions) {}

  get url(): string { return `rtsp://127.0.0.1:${this.opts.port}${this.opts.path ?? '/stream'}`; }

  async start(): Promise<void> {
    const o = this.opts;
    const args = [SCRIPT, '--port', String(o.port), '--path', o.path ?? '/stream', '--codec', o.codec ?? 'h264',
      '--width', String(o.width ?? 640), '--height', String(o.height ?? 360), '--fps', String(o.fps ?? 30), '--gop', String(o.gop ?? 30), '--pattern', o.pattern ?? 'ball'];
    if (o.user) args.push('--user', o.user, '--password', o.password ?? '');
    const c = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = c;
    let err = '';
    c.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
    const lines = createInterface({ input: c.stdout! });
    let frames: (n: number) => void = () => undefined;
    this.framesLine = new Promise((r) => { frames = r; });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`camera on port ${o.port} not ready in 10 s: ${err}`)), 10_000);
      lines.on('line', (l) => {
        if (l.startsWith('ready')) { clearTimeout(t); resolve(); }
        const m = /^frames (\d+)/.exec(l);
        if (m) frames(Number(m[1]));
      });
      c.on('exit', (code) => { clearTimeout(t); reject(new Error(`camera on port ${o.port} exited (${code}): ${err}`)); frames(-1); });
    });
  }

  /** Gone without a word, as a camera losing power. */
  unplug(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }

  /** Ends the camera; resolves with the access units it sent (-1 if it died first). */
  async stop(): Promise<number> {
    const c = this.child;
    if (!c) return -1;
    this.child = undefined;
    c.kill('SIGTERM');
    const n = await Promise.race([this.framesLine!, new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
    c.kill('SIGKILL');
    return n;
  }
}
