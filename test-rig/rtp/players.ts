/**
 * RTSP players other than GStreamer, as the hospital runs them, for tests that count what a
 * user would see: decoded frames.
 *
 * - FfmpegViewer: `ffmpeg -rtsp_transport udp|tcp -i <url> -f null -` (the RTSP/RTP client of
 *   libavformat, the same one ffplay plays with). Decoded frames are read live from
 *   `-progress` (every 0.1 s: a rate over 10 s is then within 0.3 fps); every frame the decoder produces is counted (`-fps_mode
 *   passthrough`: none duplicated or dropped to make a constant rate). Decoder and RTP
 *   complaints are its warning/error lines.
 * - VLC: Debian 12's VLC is built with `--disable-live555` (tried: vlc-bin 3.0.24 with
 *   vlc-plugin-base; its only RTSP client left is the RealNetworks one, which SETUPs the
 *   presentation URL with no stream and gives up), so it cannot play RTSP on the machines this
 *   project runs on: `vlcRtspUnsupported()` says why, and there is no VLC runner here.
 *
 * Each peer is a child process that `stop()` ends (SIGINT, SIGKILL after a deadline) and reaps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface PlayerResult { frames: number; complaints: string[]; exitCode: number | null; stderrTail: string }

/** What the tests need of any player (GstPeer has the same shape). */
export interface Player {
  readonly frameCount: number;
  readonly running: boolean;
  waitFrames(n: number, timeoutMs: number): Promise<number>;
  ended(): Promise<number | null>;
  stop(graceMs?: number): Promise<PlayerResult>;
}

// Lines of ffmpeg's that are about its own run, not about the stream it decodes.
const FFMPEG_BENIGN = /Exiting normally|received signal|^\s*$/;

export class FfmpegViewer implements Player {
  private readonly proc: ChildProcess;
  private frames = 0;
  private out = '';
  private err = '';
  private readonly complaints: string[] = [];
  private readonly exited: Promise<number | null>;
  private waiters: { n: number; resolve: (k: number) => void }[] = [];

  constructor(url: string, transport: 'udp' | 'tcp') {
    this.proc = spawn('ffmpeg', [
      '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'warning',
      '-rtsp_transport', transport, '-i', url,
      '-map', '0:v:0', '-fps_mode', 'passthrough', '-f', 'null', '-',
      '-progress', 'pipe:1', '-stats_period', '0.1',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (this.out + d).split('\n');
      this.out = lines.pop() ?? '';
      for (const l of lines) {
        const m = /^frame=(\d+)/.exec(l);
        if (!m) continue;
        this.frames = Number(m[1]);
        this.waiters = this.waiters.filter((w) => { if (this.frames >= w.n) { w.resolve(this.frames); return false; } return true; });
      }
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (this.err + d).split('\n');
      this.err = lines.pop() ?? '';
      for (const l of lines) if (!FFMPEG_BENIGN.test(l)) this.complaints.push(l);
    });
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code)));
  }

  get frameCount(): number { return this.frames; }

  /** Whether the process is still running (it has not ended by itself or been stopped). */
  get running(): boolean { return this.proc.exitCode === null && this.proc.signalCode === null; }

  /** Resolves with the exit code once the process ends (by itself, or after stop()). */
  ended(): Promise<number | null> { return this.exited; }

  waitFrames(n: number, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.frames >= n) { resolve(this.frames); return; }
      const w = { n, resolve: (k: number) => { clearTimeout(timer); resolve(k); } };
      const timer = setTimeout(() => { this.waiters = this.waiters.filter((x) => x !== w); reject(new Error(`ffmpeg: only ${this.frames} of ${n} frames in ${timeoutMs} ms`)); }, timeoutMs);
      this.waiters.push(w);
    });
  }

  async stop(graceMs = 5000): Promise<PlayerResult> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGINT');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return { frames: this.frames, complaints: this.complaints, exitCode: code, stderrTail: this.complaints.slice(-20).join('\n') };
  }
}

/**
 * Why VLC cannot play RTSP on this machine, or null when it can: VLC 3 plays RTSP only through
 * its live555 module (plugins/demux/liblive555_plugin.so), which Debian 12 does not build.
 * Looks for the files rather than running `vlc --list` (VLC refuses to run as root).
 */
export function vlcRtspUnsupported(): string | null {
  const vlc = ['/usr/bin/vlc', '/usr/local/bin/vlc'].find((p) => existsSync(p));
  if (!vlc) return 'no VLC installed (Debian 12 packages VLC without an RTSP client: built with --disable-live555)';
  const dirs = ['/usr/lib/x86_64-linux-gnu/vlc', '/usr/lib/aarch64-linux-gnu/vlc', '/usr/lib/vlc', '/usr/local/lib/vlc'];
  const live = dirs.map((d) => `${d}/plugins/demux/liblive555_plugin.so`).find((p) => existsSync(p));
  if (!live) return `${vlc} has no RTSP client: no live555 module (Debian 12 builds VLC with --disable-live555)`;
  return null;
}
