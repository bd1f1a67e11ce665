/**
 * Helpers for the video path's tests with external peers: a box configuration with video
 * channels, ffprobe frame counts, segment listings, JPEG decoding (ffprobe + jpegdec),
 * waiting for worker events of a box running in-process (edge/supervisor/test/harness.ts), and
 * `orbox run` as a child process (for kill -9) with GStreamer playing a file to its end.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { validateConfig, type BoxConfig } from '../../edge/config/index.js';
import type { Supervisor } from '../../edge/supervisor/supervisor.js';
import { testRtpPortStart } from '../rtp/gst-peers.js';

const run = promisify(execFile);

export interface ChannelSpec {
  name: string;
  source?: Record<string, unknown>;
  width?: number;
  height?: number;
  fps?: number;
  lq?: { width: number; height: number };
  /** hq keyframe interval in frames (default: the longest a recorded channel may use). */
  gop?: number;
  /** The channel's `snapshot` section (default: the configuration's default). */
  snapshot?: Record<string, unknown>;
  /** The channel's audio input (`channels[].audio`; the configuration must have it in audio.inputs). */
  audio?: string;
}

/** A box with the given channels, RTSP on 127.0.0.1:`port`, short segments, quiet logs. */
export function videoConfig(port: number, channels: ChannelSpec[], over: Record<string, unknown> = {}): BoxConfig {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-video-'));
  return validateConfig({
    box: { id: 'video-test', room: 'Test OR', dataDir: dir },
    api: { socket: join(dir, 'orbox.sock') },
    channels: channels.map((c) => {
      const w = c.width ?? 640, h = c.height ?? 360, fps = c.fps ?? 30;
      return {
        name: c.name,
        source: c.source ?? { type: 'test-pattern', pattern: 'ball', width: w, height: h, fps },
        hq: { width: w, height: h, bitrateKbps: 1500, gop: c.gop ?? Math.max(1, Math.round((fps * 2) / 3)) },
        lq: { ...(c.lq ?? { width: w / 2, height: h / 2 }), bitrateKbps: 400, gop: Math.max(1, fps / 2) },
        ...(c.snapshot ? { snapshot: c.snapshot } : {}),
        ...(c.audio ? { audio: c.audio } : {}),
      };
    }),
    rtsp: { host: '127.0.0.1', port, rtpPortStart: testRtpPortStart(), rtpPortCount: 200 },
    recording: { segmentS: 2, fsyncMs: 250 },
    log: { level: (process.env.ORBOX_TEST_LOG ?? 'warn') as 'warn' },
    ...over,
  }, 'video test configuration');
}

/** Frames ffprobe decodes in a file's first video stream; null when it cannot read it. */
export async function ffprobeFrames(path: string): Promise<number | null> {
  try {
    const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path]);
    const n = Number(stdout.trim().split('\n')[0]);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/** The codec of each stream of a file, in stream order (e.g. ['h264', 'aac', 'subrip']). */
export async function ffprobeCodecs(path: string): Promise<string[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', path]);
  return stdout.trim().split('\n').map((l) => l.trim()).filter(Boolean);
}

/** PTS (s) of the last video packet ffprobe finds in a file, null when unreadable. */
export async function ffprobeLastPts(path: string): Promise<number | null> {
  try {
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', path], { maxBuffer: 64 << 20 });
    const v = stdout.trim().split('\n').map(Number).filter(Number.isFinite);
    return v.length ? Math.max(...v) : null;
  } catch {
    return null;
  }
}

/** Every segment file under `root` (recursively), sorted by name (= capture order per recording). */
export function segmentFiles(root: string, channel?: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(mkv|ts)$/.test(n) && (!channel || n.startsWith(`${channel}-`))) out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

type Ev = { type: string; [k: string]: unknown };

/** Resolves with the first worker event matching `pred`, or rejects after `ms`. */
export function nextEvent(sup: Supervisor, pred: (e: Ev) => boolean, ms = 10_000): Promise<Ev> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { sup.off('worker-event', on); reject(new Error(`no matching event within ${ms} ms`)); }, ms);
    const on = (_w: string, e: Ev): void => { if (pred(e)) { clearTimeout(timer); sup.off('worker-event', on); resolve(e); } };
    sup.on('worker-event', on);
  });
}

/** Waits until net-send reports every listed stream mounted. */
export async function streamsMounted(sup: Supervisor, urls: string[], ms = 15_000): Promise<void> {
  await nextEvent(sup, (e) => e.type === 'net-stats' && urls.every((u) => (e.streams as { url: string; mounted: boolean }[]).some((s) => s.url === u && s.mounted)), ms);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface DecodedJpeg {
  /** ffprobe's codec name ("mjpeg" for a JPEG). */
  codec: string;
  width: number;
  height: number;
  /** Mean of the decoded luma plane (GStreamer jpegdec to I420). */
  meanLuma: number;
}

/**
 * Reads a JPEG file with two independent decoders: ffprobe for what it is and its size,
 * GStreamer's jpegdec for its pixels (the whole picture must decode to I420 of that size).
 * Rejects when either cannot read it.
 */
export async function decodeJpeg(path: string): Promise<DecodedJpeg> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', path]);
  const st = (JSON.parse(stdout) as { streams: { codec_name: string; width: number; height: number }[] }).streams[0];
  if (!st) throw new Error(`ffprobe finds no picture in ${path}`);
  const raw = `${path}.i420`;
  await run('gst-launch-1.0', ['-q', 'filesrc', `location=${path}`, '!', 'jpegdec', '!', 'video/x-raw,format=I420', '!', 'filesink', `location=${raw}`]);
  const buf = readFileSync(raw);
  rmSync(raw, { force: true });
  const lumaBytes = st.width * st.height;
  const expected = lumaBytes + 2 * Math.ceil(st.width / 2) * Math.ceil(st.height / 2);
  if (buf.length !== expected) throw new Error(`jpegdec gave ${buf.length} bytes for ${path}, expected ${expected} (I420 ${st.width}x${st.height})`);
  let sum = 0;
  for (let i = 0; i < lumaBytes; i++) sum += buf[i];
  return { codec: st.codec_name, width: st.width, height: st.height, meanLuma: sum / lumaBytes };
}

const bin = fileURLToPath(new URL('../../../bin/orbox.js', import.meta.url));

/**
 * `orbox run --config <cfgPath>` as a child; `running` resolves when it says it runs and
 * rejects if it exits first (with the tail of its output). `onLine` sees each stderr line
 * (log records) and returns true for those it consumed; the rest, debug records excepted,
 * are kept for the failure message.
 */
export function spawnBox(cfgPath: string, onLine?: (line: string) => boolean): { child: ChildProcess; running: Promise<void> } {
  const child = spawn(process.execPath, [bin, 'run', '--config', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  const running = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`box did not start: ${out.slice(-500)}`)), 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes(' running:')) { clearTimeout(timer); resolve(); } });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (!onLine?.(l) && !l.includes('"level":20')) out += l + '\n';
    });
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`box exited: ${out.slice(-500)}`)); });
  });
  running.catch(() => undefined);
  return { child, running };
}

/** GStreamer opens and plays the file to its end (decodebin picks demuxer and decoders). */
export async function gstPlays(path: string): Promise<boolean> {
  try {
    await run('gst-launch-1.0', ['-q', 'filesrc', `location=${path}`, '!', 'decodebin', '!', 'fakesink'], { timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}
