/**
 * A/V sync of a media file, measured the way a viewer sees it: ffmpeg decodes the file's first
 * video and audio streams; the video's sync lamp (edge/video/sync-lamp.ts: a flash on the
 * first frame of each whole UTC second, with a patch giving that frame's phase after the
 * second) gives the instant of each second on the video's timeline (flash frame's PTS - phase);
 * the test tone's click (edge/audio/tone.ts: a 1 ms pulse at each whole second) gives it on the
 * audio's. offset = click - flash instant, ms; positive: the audio comes late.
 * Runs in: test-rig processes (needs ffmpeg and ffprobe).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readSyncLamp } from '../../edge/video/sync-lamp.js';
import { clickOnsets } from './opus-peer.js';

const run = promisify(execFile);

export interface AvSync {
  /** Flash instants found (video timeline, s). */
  flashes: number[];
  /** Click instants found (audio timeline, s). */
  clicks: number[];
  /** Per flash with a click within 0.5 s: click - flash, ms. */
  offsetsMs: number[];
  /** ffprobe's codec names of the first video and audio streams. */
  videoCodec: string | null;
  audioCodec: string | null;
}

async function probe(file: string, sel: string, entries: string, extra: string[] = []): Promise<string> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', sel, ...extra, '-show_entries', entries, '-of', 'csv=p=0', file], { maxBuffer: 256 << 20 });
  return stdout.trim();
}

/** Codec name of the file's first stream of a kind (`v` or `a`), null when there is none. */
export async function streamCodec(file: string, kind: 'v' | 'a'): Promise<string | null> {
  const s = await probe(file, `${kind}:0`, 'stream=codec_name').catch(() => '');
  return s.split('\n')[0] || null;
}

/** Measures the A/V offsets of `file` (a recorded segment, or an RTSP capture written to a file). */
export async function measureAvSync(file: string, width: number, height: number): Promise<AvSync> {
  const videoCodec = await streamCodec(file, 'v');
  const audioCodec = await streamCodec(file, 'a');
  // Video: the luma plane of every decoded frame and, from the same decode (showinfo, on
  // stderr), its time on the file's timeline (-copyts). A separate ffprobe listing can count a
  // frame at the start that ffmpeg's output does not have, which shifts every index by one.
  const { stdout: raw, stderr } = await run('ffmpeg', ['-v', 'info', '-nostats', '-copyts', '-i', file, '-map', '0:v:0', '-vsync', 'passthrough', '-vf', 'showinfo', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { encoding: 'buffer', maxBuffer: 1 << 30 });
  const times = [...stderr.toString().matchAll(/\] n: *\d+ pts: *-?\d+ pts_time:(-?[\d.]+)/g)].map((m) => Number(m[1]));
  const frameBytes = width * height;
  const frames = Math.min(times.length, Math.floor(raw.length / frameBytes));
  const flashes: number[] = [];
  let lastLit = false;
  for (let i = 0; i < frames; i++) {
    const lamp = readSyncLamp(raw.subarray(i * frameBytes, (i + 1) * frameBytes), width, height);
    if (lamp && !lastLit && Number.isFinite(times[i])) flashes.push(times[i] - lamp.phaseMs / 1000);
    lastLit = lamp !== null;
  }
  // Audio on the file's own timeline, sample by sample as a player renders it: each decoded
  // frame at its own timestamp. Not the decoded PCM laid end to end (sample i at i / RATE):
  // a player's timestamps need not be contiguous. rtspsrc's rtpbin, lining the audio up with
  // the video once the RTCP sender reports come, pulls the audio's timestamps ~50 ms earlier
  // over its first second (frames 20 ms long, 18 ms apart), and PCM laid end to end (ffmpeg's
  // aresample async=1 only trims overlaps above 100 ms) kept that 50 ms as "audio late".
  const clicks: number[] = [];
  if (audioCodec) {
    const { stdout: pcm } = await run('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:a:0', '-f', 's16le', '-ac', '1', '-'], { encoding: 'buffer', maxBuffer: 1 << 30 });
    const x = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length >> 1);
    const frames = (await probe(file, 'a:0', 'frame=pts_time,nb_samples')).split('\n').map((l) => l.split(',').map(Number));
    const rate = Number(await probe(file, 'a:0', 'stream=sample_rate'));
    // Sample index where each decoded frame starts, and that frame's time.
    const firstSample: number[] = [];
    let n = 0;
    for (const [, samples] of frames) { firstSample.push(n); n += samples; }
    if (n !== x.length || frames.some(([t, k]) => !Number.isFinite(t) || !Number.isFinite(k))) {
      throw new Error(`${file}: the audio frames ffprobe lists (${n} samples) do not account for the ${x.length} samples ffmpeg decodes`);
    }
    let k = 0;
    for (const i of clickOnsets(x, rate, 12000)) {
      while (k + 1 < frames.length && firstSample[k + 1] <= i) k++;
      clicks.push(frames[k][0] + (i - firstSample[k]) / rate);
    }
  }
  const offsetsMs: number[] = [];
  for (const f of flashes) {
    let best = Infinity;
    for (const c of clicks) if (Math.abs(c - f) < Math.abs(best)) best = c - f;
    if (Math.abs(best) < 0.5) offsetsMs.push(Math.round(best * 1e5) / 100);
  }
  return { flashes, clicks, offsetsMs, videoCodec, audioCodec };
}
