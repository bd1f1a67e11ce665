/**
 * The channel's audio on the uplink, end to end with a real box (supervisor and nine workers: the
 * test-pattern channel with its sync lamp, flash each second, and the test-tone input, click each
 * second) and real receivers:
 * a) GStreamer straight from the SDP: srtpdec on the video and audio ports (RTP and SRTCP, keys
 *    from the a=crypto lines) into one rtpbin (lip sync from the box's SRs, one CNAME),
 *    rtpopusdepay + opusdec, both streams into Matroska; the click and flash within 20 ms once
 *    the first SRs came (test-rig/audio/av-sync.ts measures it).
 * a') ffmpeg from the SDP alone (`-protocol_whitelist file,udp,rtp`, SRTP from a=crypto, the FEC
 *    m-lines taken as data): the audio decoded next to the video, click and flash within 20 ms.
 * b) `orbox receive` (UplinkReceiver) re-serving the channel over RTSP, rtspsrc writing both to
 *    Matroska: audio decoded, click and flash within 20 ms.
 * c) the same through a lossy link (test-rig/net/lossy-link.ts, 20 % random loss both ways):
 *    the audio is repaired by RTX (no audio packet lost after repair) and still decodes with a
 *    click each second.
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { callLocalApi } from '../../../edge/control/local-api.js';
import { UplinkReceiver, type ReceiverChannelStats } from '../../../edge/net/uplink/index.js';
import { Supervisor } from '../../../edge/supervisor/supervisor.js';
import { LossyLink } from '../../net/lossy-link.js';
import { GstPeer, freeTcpPort } from '../../rtp/gst-peers.js';
import { sleep, videoConfig } from '../../video/helpers.js';
import { measureAvSync, streamCodec } from '../../audio/av-sync.js';

const run = promisify(execFile);
const W = 320, H = 240, FPS = 30;
const BOUND_MS = 20;
const portBase = () => 40_000 + 40 * Math.floor(Math.random() * 500);

function avUplinkConfig(tcpPort: number, receivers: unknown[], portStart: number) {
  return videoConfig(tcpPort, [{ name: 'cam', width: W, height: H, fps: FPS, audio: 'room-mic' }], {
    audio: { inputs: [{ name: 'room-mic', device: 'test-tone', rate: 48000, channels: 1 }] },
    uplink: { portStart, receivers },
  });
}

/** GStreamer receiving the uplink from its SDP alone: srtpdec per port pair into rtpbin, both streams to Matroska. */
function gstUplinkToMatroska(sdp: string, port: number, out: string): GstPeer {
  const section = (type: string) => sdp.split(/\r\n(?=m=)/).find((s) => s.startsWith(`m=${type}`))!;
  const keyOf = (s: string) => Buffer.from(/a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:(\S+)/.exec(s)![1]!, 'base64').toString('hex');
  const ssrcOf = (s: string) => /a=ssrc:(\d+) cname:/.exec(s)![1]!;
  const v = section('video'), a = section('audio');
  const sc = 'srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80';
  const srtp = (s: string) => `ssrc=(uint)${ssrcOf(s)},srtp-key=(buffer)${keyOf(s)},${sc}`;
  return new GstPeer([
    'rtpbin', 'name=b', 'latency=200',
    'udpsrc', `port=${port}`, `caps=application/x-srtp,media=(string)video,clock-rate=(int)90000,encoding-name=(string)H264,payload=(int)96,${srtp(v)}`, '!', 'srtpdec', 'name=dv', '!', 'b.recv_rtp_sink_0',
    'udpsrc', `port=${port + 1}`, `caps=application/x-srtcp,${srtp(v)}`, '!', 'dv.rtcp_sink', 'dv.rtcp_src', '!', 'b.recv_rtcp_sink_0',
    'udpsrc', `port=${port + 6}`, `caps=application/x-srtp,media=(string)audio,clock-rate=(int)48000,encoding-name=(string)OPUS,payload=(int)111,${srtp(a)}`, '!', 'srtpdec', 'name=da', '!', 'b.recv_rtp_sink_1',
    'udpsrc', `port=${port + 7}`, `caps=application/x-srtcp,${srtp(a)}`, '!', 'da.rtcp_sink', 'da.rtcp_src', '!', 'b.recv_rtcp_sink_1',
    'b.', '!', 'queue', '!', 'rtph264depay', '!', 'h264parse', '!', 'queue', '!', 'mux.video_0',
    'b.', '!', 'queue', '!', 'rtpopusdepay', '!', 'opusdec', '!', 'audioconvert', '!', 'audio/x-raw,format=S16LE,channels=1,rate=48000', '!', 'queue', '!', 'mux.audio_0',
    'matroskamux', 'name=mux', '!', 'filesink', `location=${out}`,
  ]);
}

/** rtspsrc writing both decoded streams, as they leave its rtpbin, into Matroska (as av-record.test.ts). */
function rtspToMatroska(url: string, out: string): GstPeer {
  return new GstPeer([
    'rtspsrc', `location=${url}`, 'protocols=udp', 'latency=300', 'name=s',
    's.', '!', 'queue', '!', 'rtph264depay', '!', 'h264parse', '!', 'queue', '!', 'mux.video_0',
    's.', '!', 'queue', '!', 'rtpopusdepay', '!', 'opusdec', '!', 'audioconvert', '!', 'audio/x-raw,format=S16LE,channels=1,rate=48000', '!', 'queue', '!', 'mux.audio_0',
    'matroskamux', 'name=mux', '!', 'filesink', `location=${out}`,
  ]);
}

/** Measures a capture: audio present, and the worst offset after the first two seconds (players line up once they have an SR of each). */
async function checkCapture(t: Test, who: string, file: string, boundMs: number | null): Promise<void> {
  t.equal(await streamCodec(file, 'a'), 'pcm_s16le', `${who}: the capture holds decoded audio`);
  const s = await measureAvSync(file, W, H);
  t.comment(`${who}: flashes ${s.flashes.length}, clicks ${s.clicks.length}, offsets ms ${s.offsetsMs.join(' ')}`);
  t.ok(s.clicks.length >= 4, `${who}: ${s.clicks.length} clicks decoded`);
  if (boundMs === null) return;
  const settled = s.offsetsMs.slice(2);
  t.ok(settled.length >= 4, `${who}: ${settled.length} flash/click pairs after the first SRs`);
  const worst = settled.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  t.ok(worst <= boundMs, `${who}: worst A/V offset ${worst} ms (bound ${boundMs})`);
}

async function mounted(receiver: UplinkReceiver, ms: number): Promise<ReceiverChannelStats> {
  const deadline = Date.now() + ms;
  while (!receiver.stats()[0]!.mounted && Date.now() < deadline) await sleep(100);
  return receiver.stats()[0]!;
}

t.test('uplink audio: GStreamer from the SDP and orbox receive decode the Opus next to the video, click and flash within 20 ms; under 20 % loss the audio is repaired', async (t) => {
  const gstPort = portBase(), rxPort = portBase() + 20_000 > 64_000 ? portBase() - 20_000 : portBase() + 20_000;
  const b = portBase();
  const link = { box: b, lossy: b + 10 };
  const lossyRx = rxPort + 10, ffPort = gstPort + 10;
  const cfg = avUplinkConfig(await freeTcpPort(), [
    // FEC off: a plain rtpbin has no 2022-1 decoder in front of it, and the clean loopback needs none.
    { name: 'gst', host: '127.0.0.1', port: gstPort, channels: ['cam'], stream: 'hq', fec: { enabled: false } },
    { name: 'expert', host: '127.0.0.1', port: rxPort, channels: ['cam'], stream: 'hq' },
    { name: 'lossy', host: '127.0.0.1', port: link.lossy, channels: ['cam'], stream: 'hq' },
    { name: 'ff', host: '127.0.0.1', port: ffPort, channels: ['cam'], stream: 'hq' },
  ], portBase() - 10_000);
  const lossy = new LossyLink({
    ports: [0, 1, 2, 6, 7].map((off) => ({ listen: link.lossy + off, to: { host: '127.0.0.1', port: lossyRx + off } })),
    forward: { loss: 0.2, delayMs: 5 }, reverse: { loss: 0.2, delayMs: 5 }, seed: 11,
  });
  await lossy.start();
  t.teardown(() => lossy.close());
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  const sdpOf = async (receiver: string) => ((await callLocalApi(cfg.api.socket, 'uplinkSdp', { receiver, current: true }, 15_000)) as { sdp: string }).sdp;
  const gstSdp = await sdpOf('gst');
  t.match(gstSdp, /m=audio \d+ RTP\/SAVPF 111 112\r\n/, 'the SDP has the channel\'s audio');

  const gstFile = join(cfg.box.dataDir, 'uplink-gst.mkv');
  const gst = gstUplinkToMatroska(gstSdp, gstPort, gstFile);
  await gst.ready();
  const rx = new UplinkReceiver({ sdp: await sdpOf('expert'), rtspPort: await freeTcpPort(), rtspRtpPortStart: 24_000 + 2 * Math.floor(Math.random() * 1000), latencyMs: 200 });
  t.teardown(() => rx.close());
  await rx.start();
  const lossyReceiver = new UplinkReceiver({ sdp: await sdpOf('lossy'), port: lossyRx, rtspPort: await freeTcpPort(), rtspRtpPortStart: 26_000 + 2 * Math.floor(Math.random() * 1000), latencyMs: 200 });
  t.teardown(() => lossyReceiver.close());
  await lossyReceiver.start();

  const st0 = await mounted(rx, 20_000);
  const st1 = await mounted(lossyReceiver, 20_000);
  t.ok(st0.mounted && st1.mounted, `orbox receive re-serves ${st0.url} and, behind the lossy link, ${st1.url}`);
  const rxFile = join(cfg.box.dataDir, 'uplink-receive.mkv');
  const lossyFile = join(cfg.box.dataDir, 'uplink-lossy.mkv');
  const viewer = rtspToMatroska(st0.url, rxFile);
  const lossyViewer = rtspToMatroska(st1.url, lossyFile);
  await Promise.all([viewer.ready(), lossyViewer.ready()]);
  const ffSdp = join(cfg.box.dataDir, 'ff.sdp');
  writeFileSync(ffSdp, await sdpOf('ff'));
  const ffFile = join(cfg.box.dataDir, 'uplink-ffmpeg.mkv');
  const ff = run('ffmpeg', ['-y', '-v', 'error', '-protocol_whitelist', 'file,udp,rtp', '-i', ffSdp, '-t', '9', '-map', '0:v:0', '-map', '0:a:0', '-c:v', 'copy', '-c:a', 'pcm_s16le', '-copyts', ffFile], { timeout: 30_000 });
  // From here on the players watch: the first second's losses (NACKs sent before the box's first
  // SR told the receiver where its RTCP port is, through the link's own ports) are not theirs.
  const hurt0 = lossyReceiver.stats()[0]!.audio!;
  await sleep(9000);
  const results = await Promise.all([gst.stop(5000), viewer.stop(5000), lossyViewer.stop(5000)]);
  const ffr = await ff;
  t.notMatch(ffr.stderr, /srtp|auth|HMAC/i, 'no SRTP complaint from ffmpeg');
  results.forEach((r, i) => t.equal(r.exitCode, 0, `${['GStreamer', 'rtspsrc', 'rtspsrc (lossy)'][i]} ended cleanly ${r.exitCode === 0 ? '' : r.stderrTail}`));

  await checkCapture(t, 'GStreamer rtpbin from the SDP', gstFile, BOUND_MS);
  await checkCapture(t, 'orbox receive -> rtspsrc', rxFile, BOUND_MS);
  await checkCapture(t, 'ffmpeg from the SDP', ffFile, BOUND_MS);
  // Under loss the video may stall on a frame now and then; what is held here is the audio.
  await checkCapture(t, 'orbox receive at 20 % loss -> rtspsrc', lossyFile, null);

  const clean = rx.stats()[0]!.audio!, hurt = lossyReceiver.stats()[0]!.audio!;
  t.comment(`audio at orbox receive: clean ${JSON.stringify(clean)}; lossy ${JSON.stringify(hurt)}`);
  t.ok(clean.originals > 400 && clean.srtpDropped === 0 && clean.residualLost === 0, `clean: ${clean.originals} Opus packets, every one authenticated, none lost`);
  t.ok(hurt.lossBeforeRepair > 0.1, `lossy: ${(hurt.lossBeforeRepair * 100).toFixed(1)} % of the audio lost on the way`);
  t.ok(hurt.rtxRepairs > 50, `lossy: ${hurt.rtxRepairs} audio packets repaired by RTX`);
  const watched = hurt.originals + hurt.rtxRepairs - hurt0.originals - hurt0.rtxRepairs, lostWatched = hurt.residualLost - hurt0.residualLost;
  t.comment(`lossy, before the players started: ${JSON.stringify(hurt0)}`);
  t.ok(lostWatched <= Math.ceil(watched * 0.005), `lossy: while the players watched, ${lostWatched} of ${watched + lostWatched} audio packets lost after repair (all run: ${hurt.residualLost}, ${(hurt.residualLoss * 100).toFixed(2)} %)`);

  type Pair = { receiver: string; audio: { packets: number; srs: number; rtxPackets: number; nacks: number } | null };
  const st = (await callLocalApi(cfg.api.socket, 'status', {}, 15_000)) as { video: { uplink: Pair[] } };
  const pa = st.video.uplink.find((x) => x.receiver === 'lossy')?.audio;
  t.ok(pa && pa.packets > 300 && pa.srs >= 3 && pa.rtxPackets > 0 && pa.nacks > 0, `the box's status shows the lossy pair's audio: ${JSON.stringify(pa)}`);
});
