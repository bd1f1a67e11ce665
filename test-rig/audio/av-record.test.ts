/**
 * The channel's audio in its recording and on its RTSP mounts, with a real box (supervisor and
 * nine worker threads) and external peers (ffprobe, ffmpeg, GStreamer rtspsrc):
 * a) a test-pattern channel with the test-tone input records segments that hold an AAC-LC
 *    track next to the H.264; decoded by ffmpeg, each second's click and flash (the video's
 *    sync lamp, corrected by its phase patch) are within 20 ms of each other;
 * b) ffprobe sees an Opus audio stream next to the H.264 on both mounts (hq, lq), and a
 *    GStreamer viewer (rtspsrc, lip-sync from the RTCP sender reports, both streams written to
 *    Matroska as they come out of rtpbin) has the click and flash within 20 ms too.
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
  await nextEvent(sup, (e) => e.type === 'segment-closed', 20_000);
  await sleep(6500);
  t.comment(`recording audio: ${JSON.stringify(recAudio)}`);
  await sup.stop();
  stopped = true;
  const files = segmentFiles(join(cfg.box.dataDir, 'recordings'), 'cam');
  t.ok(files.length >= 3, `${files.length} segments`);
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

t.test('RTSP: both mounts announce Opus next to H.264; through rtspsrc, click and flash within 20 ms', async (t) => {
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
  await sleep(9000);
  const r = await viewer.stop(5000);
  t.equal(r.exitCode, 0, `the viewer ended cleanly ${r.exitCode === 0 ? '' : r.stderrTail}`);
  t.equal(await streamCodec(file, 'a'), 'pcm_s16le', 'the capture holds the decoded audio');
  const s = await measureAvSync(file, W, H);
  t.comment(`through RTSP: flashes ${s.flashes.map((x) => x.toFixed(3)).join(' ')}; clicks ${s.clicks.map((x) => x.toFixed(3)).join(' ')}; offsets ms ${s.offsetsMs.join(' ')}`);
  // rtpbin lines the streams up once it has an SR of each (the first within ~1.5 s of mounting).
  const settled = s.offsetsMs.slice(2);
  t.ok(settled.length >= 4, `${settled.length} flash/click pairs after the first SRs`);
  const worst = settled.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  t.ok(worst <= BOUND_MS, `worst A/V offset through RTSP ${worst} ms (bound ${BOUND_MS})`);
  const stats = await nextEvent(sup, (e) => e.type === 'net-stats');
  const a = (stats.streams as { url: string; audio: { packets: number; srs: number } | null }[]).find((x) => x.url === hq)!.audio!;
  t.ok(a.packets > 300 && a.srs >= 2, `the hq mount sent ${a.packets} Opus packets and ${a.srs} audio SRs`);
});
