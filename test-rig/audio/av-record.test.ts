/**
 * The channel's audio in its recording and on its RTSP mounts, with a real box (supervisor and
 * nine worker threads) and external peers (ffprobe, ffmpeg, GStreamer rtspsrc):
 * a) a test-pattern channel with the test-tone input records segments that hold an AAC-LC
 *    track next to the H.264; decoded by ffmpeg, each second's click and flash (the video's
 *    sync lamp, corrected by its phase patch) are within 20 ms of each other;
 * b) ffprobe sees an Opus audio stream next to the H.264 on both mounts (hq, lq), and a
 *    GStreamer viewer (rtspsrc, lip-sync from the RTCP sender reports, both streams written to
 *    Matroska as they come out of rtpbin) and ffmpeg (its RTSP demuxer's SR sync, timestamps
 *    kept) have the click and flash within 20 ms too, each
 *    decoded sample placed at its own timestamp (av-sync.ts: rtpbin moves the audio's
 *    timestamps ~50 ms within its first second, which PCM laid end to end would keep).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import { rtspUrls } from '../../edge/video/index.js';
import { GstPeer, freeTcpPort } from '../rtp/gst-peers.js';
import { nextEvent, segmentFiles, sleep, streamsMounted, videoConfig } from '../video/helpers.js';
import { measureAvSync, streamCodec } from './av-sync.js';

const run = promisify(execFile);
const W = 320, H = 240, FPS = 30;
const BOUND_MS = 20;

function avConfig(port: number, device = 'test-tone') {
  return videoConfig(port, [{ name: 'cam', width: W, height: H, fps: FPS, audio: 'room-mic' }], {
    audio: { inputs: [{ name: 'room-mic', device, rate: 48000, channels: 1 }] },
  });
}

t.test('recorded segments hold AAC-LC next to H.264; click and flash within 20 ms in each', async (t) => {
  const port = await freeTcpPort();
  const cfg = avConfig(port);
  const sup = new Supervisor(cfg);
  let stopped = false;
  t.teardown(async () => { if (!stopped) await sup.stop(); });
  let recAudio: unknown = null;
  sup.on('worker-event', (_w: string, e: { type: string; channels?: Record<string, { recordingAudio: unknown }> }) => { if (e.type === 'encode-stats') recAudio = e.channels?.cam?.recordingAudio; });
  await sup.start();
  // Six closed segments, counted rather than slept for: a loaded machine closes fewer per second,
  // and a segment's flash on its first frame has its click before the segment's audio starts.
  let closed = 0;
  await nextEvent(sup, (e) => e.type === 'segment-closed' && ++closed >= 6, 40_000);
  t.comment(`recording audio: ${JSON.stringify(recAudio)}`);
  await sup.stop();
  stopped = true;
  const files = segmentFiles(join(cfg.box.dataDir, 'recordings'), 'cam');
  t.ok(files.length >= 6, `${files.length} segments`);
  let pairs = 0;
  const all: number[] = [];
  for (const f of files) {
    const s = await measureAvSync(f, W, H);
    t.equal(s.videoCodec, 'h264', `${f.split('/').pop()}: video h264`);
    t.equal(s.audioCodec, 'aac', 'audio aac');
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=profile,sample_rate,channels', '-of', 'csv=p=0', f]);
    t.match(stdout.trim(), /^LC,48000,1/, 'AAC-LC, 48 kHz, mono');
    t.comment(`${f.split('/').pop()}: flashes ${s.flashes.length}, clicks ${s.clicks.length}, offsets ms ${s.offsetsMs.join(' ')}`);
    pairs += s.offsetsMs.length;
    all.push(...s.offsetsMs);
  }
  t.ok(pairs >= 6, `${pairs} flash/click pairs measured`);
  const worst = all.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  t.ok(worst <= BOUND_MS, `worst A/V offset in the recording ${worst} ms (bound ${BOUND_MS})`);
});

/** rtspsrc (UDP, rtpbin's RTCP lip sync) writing both decoded streams, as they leave rtpbin, into Matroska. */
function rtspToMatroska(url: string, out: string): GstPeer {
  return new GstPeer([
    'rtspsrc', `location=${url}`, 'protocols=udp', 'latency=300', 'name=s',
    's.', '!', 'queue', '!', 'rtph264depay', '!', 'h264parse', '!', 'queue', '!', 'mux.video_0',
    's.', '!', 'queue', '!', 'rtpopusdepay', '!', 'opusdec', '!', 'audioconvert', '!', 'audio/x-raw,format=S16LE,channels=1,rate=48000', '!', 'queue', '!', 'mux.audio_0',
    'matroskamux', 'name=mux', '!', 'filesink', `location=${out}`,
  ]);
}

t.test('RTSP: both mounts announce Opus next to H.264; through rtspsrc and ffmpeg, click and flash within 20 ms', async (t) => {
  const port = await freeTcpPort();
  const cfg = avConfig(port);
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  const urls = rtspUrls(cfg).map((u) => u.url);
  await streamsMounted(sup, urls);
  for (const url of urls) {
    const { stdout } = await run('ffprobe', ['-v', 'error', '-rtsp_transport', 'udp', '-show_entries', 'stream=codec_type,codec_name,sample_rate', '-of', 'csv=p=0', url], { timeout: 20_000 });
    const streams = stdout.trim().split('\n').sort();
    t.same(streams, ['h264,video', 'opus,audio,48000'], `${url}: ffprobe sees ${streams.join(' + ')}`);
  }
  const hq = urls.find((u) => u.endsWith('/hq'))!;
  const file = join(cfg.box.dataDir, 'rtsp-capture.mkv');
  const viewer = rtspToMatroska(hq, file);
  await viewer.ready();
  // A second viewer at the same time: ffmpeg (its RTSP demuxer syncs on the first SR of each
  // stream), the video copied and the audio decoded, its timestamps kept (-copyts).
  const ffFile = join(cfg.box.dataDir, 'rtsp-ffmpeg.mkv');
  const ff = run('ffmpeg', ['-y', '-v', 'error', '-rtsp_transport', 'udp', '-i', hq, '-t', '9', '-map', '0:v:0', '-map', '0:a:0', '-c:v', 'copy', '-c:a', 'pcm_s16le', '-copyts', ffFile], { timeout: 30_000 });
  await sleep(9000);
  const r = await viewer.stop(5000);
  await ff;
  t.equal(r.exitCode, 0, `the viewer ended cleanly ${r.exitCode === 0 ? '' : r.stderrTail}`);
  t.equal(await streamCodec(file, 'a'), 'pcm_s16le', 'the capture holds the decoded audio');
  for (const [who, f] of [['rtspsrc', file], ['ffmpeg', ffFile]] as const) {
    const s = await measureAvSync(f, W, H);
    t.comment(`through RTSP (${who}): flashes ${s.flashes.map((x) => x.toFixed(3)).join(' ')}; clicks ${s.clicks.map((x) => x.toFixed(3)).join(' ')}; offsets ms ${s.offsetsMs.join(' ')}`);
    // Players line the streams up once they have an SR of each: the mount sends them every
    // 500 ms +-25 % (stream-sender.ts), not at a viewer's PLAY, and rtpbin eases the audio over
    // to the new offset (~2 ms per 20 ms frame). The first two seconds are not held to the bound.
    const settled = s.offsetsMs.slice(2);
    t.ok(settled.length >= 4, `${who}: ${settled.length} flash/click pairs after the first SRs`);
    const worst = settled.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    t.ok(worst <= BOUND_MS, `${who}: worst A/V offset through RTSP ${worst} ms (bound ${BOUND_MS})`);
  }
  const stats = await nextEvent(sup, (e) => e.type === 'net-stats');
  const a = (stats.streams as { url: string; audio: { packets: number; srs: number } | null }[]).find((x) => x.url === hq)!.audio!;
  t.ok(a.packets > 300 && a.srs >= 2, `the hq mount sent ${a.packets} Opus packets and ${a.srs} audio SRs`);
});

t.test('an audio source that errors: video keeps recording, the gap is marked, the audio comes back by itself', async (t) => {
  const port = await freeTcpPort();
  // A stand-in for an unplugged ALSA device (this VM has none): one second of sine, then an
  // error; the capture fills silence, flags it as a gap and restarts the source, which errs
  // again a second later.
  const cfg = avConfig(port, 'gst:audiotestsrc is-live=true samplesperbuffer=480 wave=sine freq=440 volume=0.5 ! identity error-after=100');
  const sup = new Supervisor(cfg);
  const events: { type: string; [k: string]: unknown }[] = [];
  sup.on('worker-event', (_w: string, e: { type: string }) => { if (/audio-source|recording-audio-gap/.test(e.type)) events.push(e); });
  const restarts: string[] = [];
  sup.on('restart', (w: string) => restarts.push(w));
  let stopped = false;
  t.teardown(async () => { if (!stopped) await sup.stop(); });
  await sup.start();
  await nextEvent(sup, (e) => e.type === 'segment-closed', 20_000);
  await sleep(6000);
  await sup.stop();
  stopped = true;
  const lost = events.filter((e) => e.type === 'audio-source-lost').length;
  const up = events.filter((e) => e.type === 'audio-source-up').length;
  const gaps = events.filter((e) => e.type === 'recording-audio-gap');
  t.ok(lost >= 2 && up >= 2, `the source was lost ${lost} times and came back ${up} times by itself`);
  t.ok(gaps.length >= 2, `${gaps.length} gaps marked in the recording`);
  // A gap lasts the capture's retry delay (its backoff doubles: 250, 500, 1000, 2000 ms ...)
  // plus the restarted source's start; it ends by itself.
  const retryMs = events.filter((e) => e.type === 'audio-source-lost').map((e) => e.retryMs as number);
  const bound = Math.max(...retryMs) + 1500;
  t.comment(`retry delays ${retryMs.join(' ')} ms`);
  for (const g of gaps.slice(0, 3)) {
    const ms = Number(BigInt(g.endNs as string) - BigInt(g.startNs as string)) / 1e6;
    t.ok(ms > 0 && ms < bound, `gap of ${ms.toFixed(0)} ms, ended by itself within the longest retry delay + 1.5 s (${bound} ms) (${g.filled ? 'filled by the recorder' : 'silence from the capture'})`);
  }
  t.same(restarts, [], `no worker restarted (${restarts.join(', ') || 'none'})`);
  const files = segmentFiles(join(cfg.box.dataDir, 'recordings'), 'cam');
  t.ok(files.length >= 3, `${files.length} segments`);
  let frames = 0, duration = 0;
  for (const f of files) {
    const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,nb_read_frames', '-of', 'csv=p=0', f]);
    const v = stdout.trim().split('\n').find((l) => l.startsWith('video'));
    frames += Number(v?.split(',')[1] ?? 0);
    const { stdout: d } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', f]);
    duration += Number(d.trim());
    t.equal(await streamCodec(f, 'a'), 'aac', `${f.split('/').pop()} holds its audio track`);
  }
  const fps = frames / duration;
  t.ok(fps > FPS * 0.9, `video kept recording through the outages: ${frames} frames in ${duration.toFixed(1)} s (${fps.toFixed(1)} fps)`);
  // The sine is back after the outages: segments after the first outage hold it again.
  const loudOf = async (f: string): Promise<number> => {
    const { stdout: pcm } = await run('ffmpeg', ['-v', 'error', '-i', f, '-map', '0:a:0', '-f', 's16le', '-ac', '1', '-'], { encoding: 'buffer', maxBuffer: 64 << 20 });
    const x = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length >> 1);
    return x.reduce((n, v) => n + (Math.abs(v) > 4000 ? 1 : 0), 0) / Math.max(1, x.length);
  };
  const later = await Promise.all(files.slice(1).map(loudOf));
  t.comment(`share of samples above -18 dBFS per segment after the first: ${later.map((l) => `${(l * 100).toFixed(0)} %`).join(', ')}`);
  t.ok(later.filter((l) => l > 0.05).length >= 2, 'the source\'s sine is back in later segments');
});
