/**
 * Recording: what the box's recorder (edge/video/recorder.ts: a pipeline per segment, every
 * frame through the muxer to an unbuffered file as it comes, the fsync loop, cuts at keyframes)
 * costs per channel, against a plain gst-launch writing the same access units to the same
 * container (`filesrc ! matroskademux ! h264parse ! matroskamux ! filesink`, unbuffered as the
 * recorder's; its demuxer's cost counts against the baseline), measured in the same run.
 *
 * The stream: 720p30 H.264 from x264enc (2 s GOP, 4 Mb/s of videotestsrc snow: a full bitrate), encoded once before measuring and
 * pushed into the recorder in real time (2 s segments, 250 ms fsync), so the recorder's cost is
 * this process's CPU over the run (process.cpuUsage: JS and GStreamer threads) with the pacing
 * loop included. gst-launch reads the same stream from a file as fast as it can; its CPU is the
 * child's user + system time (/usr/bin/time). Both are given in CPU ms per second of video.
 * Write amplification: bytes in the segment files / bytes of H.264 pushed (container overhead:
 * block headers, cues; the recorder's fsyncs rewrite no data).
 * The recorder runs twice on the same stream: plain, and with the vitals text track (a cue per
 * frame, record-vitals.ts; a monitor's five numerics once a second), so the track's own cost
 * is the difference: CPU and bytes per second of video.
 * Env: ORBOX_BENCH_SECONDS (default 10).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { allProfiles } from '../../gst-pipelines/index.js';
import { GstPipeline } from '../../edge/gst/index.js';
import { BoxClock } from '../../edge/lib/clock.js';
import { ChannelRecorder } from '../../edge/video/recorder.js';
import { completeSample, type VitalSample } from '../../edge/devices/index.js';

const run = promisify(execFile);
const FPS = 30;
const SECONDS = Number(process.env.ORBOX_BENCH_SECONDS ?? 10);
const FRAMES = SECONDS * FPS;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

async function main(): Promise<void> {
  const profile = allProfiles().find((p) => p.id === 'x86-x264');
  if (!profile) throw new Error('profile x86-x264 missing');
  const dir = mkdtempSync(join(tmpdir(), 'orbox-bench-rec-'));
  // The same access units also into a Matroska file, the baseline's input (a raw H.264 file
  // carries no timestamps, and matroskamux drops buffers without one).
  const input = join(dir, 'input.mkv');
  const enc = new GstPipeline(
    `videotestsrc num-buffers=${FRAMES} pattern=snow ! video/x-raw,format=I420,width=1280,height=720,framerate=${FPS}/1 ! ` +
    `x264enc tune=zerolatency speed-preset=ultrafast key-int-max=${2 * FPS} bitrate=4000 ! h264parse config-interval=-1 ! ` +
    `video/x-h264,stream-format=byte-stream,alignment=au ! tee name=t ! queue ! appsink name=s sync=false  t. ! queue ! h264parse ! matroskamux ! filesink location=${input}`,
  );
  enc.start();
  const sink = enc.appsink('s');
  const aus: { data: Buffer; pts: number; key: boolean }[] = [];
  for (let s = await sink.pull(); s; s = await sink.pull()) aus.push({ data: s.data, pts: s.ptsNs ?? 0, key: s.keyframe });
  enc.close();
  const pts0 = aus[0].pts;
  const h264Bytes = aus.reduce((n, a) => n + a.data.length, 0);

  // The box's recorder, paced in real time.
  const recordRun = async (name: string, vitals: boolean): Promise<{ cpuMs: number; bytes: number; segments: number }> => {
    const root = join(dir, name);
    const clock = new BoxClock();
    const rec = new ChannelRecorder({
      channel: 'bench', profile, clock, counts: { segmentsClosed: 0 },
      recording: { root, segmentNs: 2_000_000_000n, fsyncMs: 250 },
      requestKeyframe: () => undefined,
      ...(vitals ? { vitals: { fps: FPS } } : {}),
    });
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    rec.start(clock.monoNs());
    for (let i = 0; i < aus.length; i++) {
      if (vitals && i % FPS === 0) for (const x of numerics(clock, i)) rec.writeVitals(x);
      rec.push(aus[i].data, aus[i].pts - pts0, aus[i].key);
      const due = t0 + ((i + 1) * 1000) / FPS;
      await sleep(Math.max(0, due - performance.now()));
    }
    await rec.close(3000);
    const c = process.cpuUsage(c0);
    const files = filesUnder(root);
    return { cpuMs: (c.user + c.system) / 1000, bytes: files.reduce((n, f) => n + statSync(f).size, 0), segments: files.length };
  };
  const plainRec = await recordRun('box', false);
  const vitalsRec = await recordRun('box-vitals', true);
  const boxCpuMs = plainRec.cpuMs, boxBytes = plainRec.bytes, segments = plainRec.segments;

  // gst-launch: the same access units, the same container, one file.
  const out = join(dir, 'plain.mkv');
  const { stderr } = await run('/usr/bin/time', ['-f', 'CPU %U %S', 'gst-launch-1.0', '-q', 'filesrc', `location=${input}`, '!', 'matroskademux', '!', 'h264parse', '!',
    'matroskamux', '!', 'filesink', `location=${out}`, 'buffer-mode=2']);
  const m = /CPU ([\d.]+) ([\d.]+)/.exec(stderr);
  const plainCpuMs = m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN;
  const plainBytes = statSync(out).size;

  console.log(`# ${aus.length} frames, ${(h264Bytes / 1e6).toFixed(2)} MB of H.264, ${SECONDS} s of 720p30; recorder: ${segments} segments`);
  console.log(`BENCH recording recorder_cpu_ms_per_s=${(boxCpuMs / SECONDS).toFixed(1)} gst_launch_cpu_ms_per_s=${(plainCpuMs / SECONDS).toFixed(1)} ` +
    `recorder_write_amplification=${(boxBytes / h264Bytes).toFixed(4)} gst_launch_write_amplification=${(plainBytes / h264Bytes).toFixed(4)} ` +
    `recorder_bytes=${boxBytes} gst_launch_bytes=${plainBytes} segments=${segments} ` +
    `recorder_vitals_cpu_ms_per_s=${(vitalsRec.cpuMs / SECONDS).toFixed(1)} recorder_vitals_write_amplification=${(vitalsRec.bytes / h264Bytes).toFixed(4)} ` +
    `vitals_track_bytes_per_s=${((vitalsRec.bytes - boxBytes) / SECONDS).toFixed(0)}`);
}

/** A monitor's numerics at frame `i` (values drift so the cue text changes). */
function numerics(clock: BoxClock, i: number): VitalSample[] {
  const wall = clock.wallNs(), mono = clock.monoNs();
  const n = (label: string, unit: string, value: number) => completeSample({ kind: 'numeric', hostWallNs: wall, hostMonoNs: mono, label, unit, value }, 'monitor', 'intellivue', BigInt(i));
  const k = Math.floor(i / FPS);
  return [n('HR', 'bpm', 70 + (k % 7)), n('SpO2', '%', 97), n('PULSE', 'bpm', 70 + (k % 7)), n('EtCO2', 'mmHg', 35 + (k % 4)), n('RR', 'rpm', 14)];
}

main().catch((e: Error) => { console.error(e); process.exit(1); });
